"""The search service with FastAPI's TestClient: every endpoint on a real demo dataset with a trained
retrieval embedder, and every 4xx case (unknown id, wrong vector length, non-finite numbers, bad, empty,
oversized or too short uploads, k out of range, bad batches, malformed JSON)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from core.retrieval.api import create_app
from core.retrieval.service import SearchService, ServiceConfig


@pytest.fixture(scope="module")
def ds(demo_dir, tmp_path_factory) -> Path:
    """Demo dataset copy with a tiny trained retrieval_mels embedder and its HNSW index."""
    from train import retrieval

    out = tmp_path_factory.mktemp("svc") / "demo"
    shutil.copytree(demo_dir, out)
    assert retrieval.main(["--data", str(out), "--epochs", "1", "--max-steps", "2", "--pairs", "16", "--batch-size",
                           "8", "--channels", "16", "--dim", "16", "--indexes", "hnsw", "--no-tensorboard",
                           "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def client(ds) -> TestClient:
    return TestClient(create_app(SearchService(ds, index_kind="hnsw", cfg=ServiceConfig(max_k=20, max_batch=4,
                                                                                        max_upload_bytes=400_000))))


def _wav(seconds: float, ds: Path) -> bytes:
    """A real excerpt of the first demo track as WAV bytes."""
    from core.audio.cache import FeatureCache
    from core.audio.decode import load_audio

    fc = FeatureCache.open(ds)
    y = load_audio(fc.tracks.iloc[0]["path"], fc.config, max_seconds=seconds)
    buf = io.BytesIO()
    sf.write(buf, y, fc.config.sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _err(r, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


def test_health_and_docs(client):
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["embedding"] == "retrieval_mels" and h["index"] == "hnsw"
    assert h["n_tracks"] == 28 and h["dim"] == 16 and h["index_source"].endswith("retrieval_mels.hnsw")
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/search", "/search/audio"} <= set(paths)


def test_search_by_id_vector_and_batch(client, ds):
    from core.recommend.embeddings import load_embedding

    emb, _ = load_embedding(ds, "retrieval_mels")
    ids = SearchService(ds).ids
    r = client.post("/search", json={"track_id": ids[3], "k": 5}).json()
    assert len(r["results"]) == 5 and ids[3] not in [x["track_id"] for x in r["results"]]
    scores = [x["score"] for x in r["results"]]
    assert scores == sorted(scores, reverse=True)
    r = client.post("/search", json={"vector": emb[7].tolist(), "k": 3}).json()
    assert r["results"][0]["track_id"] == ids[7] and r["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    b = client.post("/search", json={"queries": [{"track_id": ids[0]}, {"vector": emb[2].tolist()}], "k": 2}).json()
    assert len(b["batch"]) == 2 and all(len(x["results"]) == 2 for x in b["batch"])
    assert b["batch"][1]["results"][0]["track_id"] == ids[2]


def test_search_by_audio(client, ds):
    r = client.post("/search/audio", files={"file": ("clip.wav", _wav(4.0, ds), "audio/wav")}, data={"k": "4"})
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) == 4


def test_every_bad_json_request(client, ds):
    tid = SearchService(ds).ids[0]
    _err(client.post("/search", json={"track_id": "no-such-track"}), 404, "unknown_track_id")
    _err(client.post("/search", json={"vector": [0.1] * 15}), 422, "wrong_vector_length")
    nan_body = "{\"vector\": [NaN" + ", 0.5" * 15 + "]}"
    _err(client.post("/search", content=nan_body, headers={"content-type": "application/json"}), 422, "non_finite")
    inf_body = "{\"vector\": [Infinity" + ", 0.5" * 15 + "]}"
    _err(client.post("/search", content=inf_body, headers={"content-type": "application/json"}), 422, "non_finite")
    _err(client.post("/search", json={"vector": [1e39] + [0.5] * 15}), 422, "non_finite")  # overflows float32
    _err(client.post("/search", json={"vector": [0.0] * 16}), 422, "non_finite")
    for k in (0, 21, -1):
        _err(client.post("/search", json={"track_id": tid, "k": k}), 422, "k_out_of_range")
    _err(client.post("/search", json={"track_id": tid, "k": "ten"}), 422, "invalid_request")
    _err(client.post("/search", json={}), 422, "bad_query")
    _err(client.post("/search", json={"track_id": tid, "vector": [0.1] * 16}), 422, "bad_query")
    _err(client.post("/search", json={"queries": []}), 422, "bad_batch")
    _err(client.post("/search", json={"queries": [{"track_id": tid}] * 5}), 422, "batch_too_large")
    _err(client.post("/search", json={"queries": [{"track_id": tid}, {"track_id": "nope"}]}), 404, "unknown_track_id")
    _err(client.post("/search", json={"vector": ["a"] * 16}), 422, "invalid_request")
    _err(client.post("/search", content="{bad json", headers={"content-type": "application/json"}), 422,
         "invalid_request")


def test_every_bad_upload(client, ds):
    _err(client.post("/search/audio", files={"file": ("x.wav", b"", "audio/wav")}), 400, "empty_upload")
    _err(client.post("/search/audio", files={"file": ("x.wav", b"RIFF not really a wav", "audio/wav")}), 415,
         "undecodable_audio")
    big = np.zeros(500_000, np.uint8).tobytes()
    _err(client.post("/search/audio", files={"file": ("x.wav", big, "audio/wav")}), 413, "upload_too_large")
    _err(client.post("/search/audio", files={"file": ("x.wav", _wav(0.5, ds), "audio/wav")}), 422, "audio_too_short")
    _err(client.post("/search/audio", files={"file": ("x.wav", _wav(2.0, ds), "audio/wav")}, data={"k": "500"}),
         422, "k_out_of_range")
    _err(client.post("/search/audio", data={"k": "3"}), 422, "invalid_request")  # no file


def test_service_refuses_a_dataset_without_a_retrieval_embedding(demo_dir, tmp_path):
    out = tmp_path / "demo"
    shutil.copytree(demo_dir, out, ignore=shutil.ignore_patterns("embeddings"))
    with pytest.raises(FileNotFoundError, match="train.retrieval"):
        SearchService(out)
