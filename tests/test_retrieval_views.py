"""Frames embedders trained on excerpt views: the identity start, the view bank (real EfficientAT weights from
../shared/data/weights on the demo corpus: shapes, resume, rebuild on new settings, a bad file recorded) and the
train -> evaluate path where a frames embedder embeds corrupted audio excerpts itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ENCODER = "efficientat_mn04"


def test_frame_embedder_starts_as_the_mean_of_its_frames():
    from core.retrieval.models import FrameEmbedder

    torch.manual_seed(0)
    x = torch.randn(3, 10, 7)
    z = FrameEmbedder(in_dim=10, channels=8).embed(x)
    assert z.shape == (3, 10)
    assert torch.allclose(z, F.normalize(x.mean(-1), dim=1), atol=1e-6)
    z8 = FrameEmbedder(in_dim=10, channels=8, dim=4).embed(x)  # an orthogonal start when the size changes
    assert z8.shape == (3, 4) and torch.allclose(z8.norm(dim=1), torch.ones(3), atol=1e-5)


def test_view_bank_builds_resumes_and_rebuilds(demo_dir, tmp_path, weights_dir):
    from core.audio.cache import FeatureCache
    from core.encoders.registry import load_encoder
    from core.retrieval.views import ViewConfig, bank_dir, build_view_bank

    ds = tmp_path / "demo"
    shutil.copytree(demo_dir, ds)
    fc = FeatureCache.open(ds)
    fc.tracks.loc[3, "path"] = str(tmp_path / "gone.wav")  # a track that cannot be decoded any more
    torch.set_num_threads(1)
    enc = load_encoder(ENCODER, weights_dir)
    cfg = ViewConfig(n_views=3, min_s=2.0, max_s=4.0)
    bank = build_view_bank(ds, fc, enc, [0, 1, 3], cfg, progress=False)
    assert set(bank.failed) == {str(fc.tracks.loc[3, "track_id"])}
    assert sorted(bank.views) == [0, 1] and 3 not in bank.whole and len(bank.whole) == len(fc.tracks) - 1
    for v in bank.views_of(0):
        assert v.shape[0] == enc.dim and 2 <= v.shape[1] <= int(np.ceil(4.0 / enc.hop_s)) + 1
    whole = bank.of_row(0)
    assert whole.shape[0] == enc.dim and whole.shape[1] > bank.views_of(0)[0].shape[1]
    assert not np.allclose(bank.views_of(0)[0], bank.views_of(0)[1][:, : bank.views_of(0)[0].shape[1]])
    part = bank_dir(ds, ENCODER) / "0.npz"
    stamp = part.stat().st_mtime_ns
    again = build_view_bank(ds, fc, enc, [0, 1, 3], cfg, progress=False)  # resumes: nothing recomputed
    assert part.stat().st_mtime_ns == stamp
    assert all(np.array_equal(a, b) for a, b in zip(bank.views_of(1), again.views_of(1)))
    build_view_bank(ds, fc, enc, [0], ViewConfig(n_views=2, min_s=2.0, max_s=4.0), progress=False)
    assert part.stat().st_mtime_ns != stamp  # new settings: rebuilt
    man = json.loads((bank_dir(ds, ENCODER) / "manifest.json").read_text())
    assert man["settings"]["views"]["n_views"] == 2 and man["settings"]["view_rows"] == [0]


def test_frames_embedder_trains_on_views_and_embeds_audio_excerpts(demo_dir, tmp_path, weights_dir, monkeypatch):
    from core.audio.cache import FeatureCache
    from core.recommend.embeddings import load_embedding
    from core.retrieval.embedder import Embedder
    from train import retrieval, retrieval_eval

    ds = tmp_path / "demo"
    shutil.copytree(demo_dir, ds)
    assert retrieval.main(["--data", str(ds), "--input", f"frames:{ENCODER}", "--weights-dir", str(weights_dir),
                           "--views", "3", "--epochs", "2", "--max-steps", "3", "--pairs", "24", "--batch-size",
                           "8", "--indexes", "exact,hnsw", "--threads", "1", "--no-tensorboard", "--quiet"]) == 0
    name = f"retrieval_frames_{ENCODER}"
    emb, meta = load_embedding(ds, name)
    fc = FeatureCache.open(ds)
    assert emb.shape == (len(fc.tracks), 512) and meta["views"]["n_views"] == 3
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    e = Embedder.from_checkpoint(ds / "checkpoints" / name / "best.pt")
    e.weights_dir = str(weights_dir)
    from core.audio.decode import load_audio

    y = load_audio(fc.tracks.loc[0, "path"], fc.config)
    v = e.embed_audio(y)  # the whole track through the encoder and the embedder: its stored corpus row
    assert float(v @ emb[0]) > 0.999
    monkeypatch.setenv("WORKBENCH_WEIGHTS", str(weights_dir))
    assert retrieval_eval.main(["--data", str(ds), "--splits", "test", "--boot", "50", "--names", name]) == 0
    m = json.loads((ds / "retrieval" / "metrics.json").read_text())
    assert name in m["exact"] and name not in m["skipped"] and 0 <= m["exact"][name]["R@1"] <= 1
    assert m["exact"][name]["n_queries"] == len(fc.split_rows("test"))
    expected = fc.tracks["track_id"].to_numpy()[np.argsort(-(emb @ e.embed_audio(y[: 8 * fc.config.sample_rate])))]
    _search_service_takes_an_upload(ds, name, y[: 8 * fc.config.sample_rate], fc, list(expected[:3]))


def _search_service_takes_an_upload(ds: Path, name: str, excerpt: np.ndarray, fc, expected: list[str]) -> None:
    """POST /search/audio on a frames embedder: decode -> encoder frames -> embedder -> HNSW gives the ranking
    of the embedder itself (the demo's variants of one recording can outrank the excerpt's own track)."""
    import io

    import soundfile as sf
    from fastapi.testclient import TestClient

    from core.retrieval.api import create_app
    from core.retrieval.service import SearchService

    buf = io.BytesIO()
    sf.write(buf, excerpt, fc.config.sample_rate, format="WAV", subtype="PCM_16")
    client = TestClient(create_app(SearchService(ds, embedding=name, index_kind="hnsw")))
    r = client.post("/search/audio", files={"file": ("clip.wav", buf.getvalue(), "audio/wav")}, data={"k": "3"})
    assert r.status_code == 200, r.text
    assert [x["track_id"] for x in r.json()["results"]] == expected
