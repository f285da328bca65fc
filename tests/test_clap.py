"""Text search: InfoNCE against a hand-computed 3x3 case, the temperature clamp, recall@K/mAP/ranks against a
hand-made similarity matrix, the resumable text precompute, captions (template, AudioCaps, bad CSVs), and the
CLI's bad-input exits. Real-data runs (MusicCaps mini) are in tests/test_clap_real.py."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.text.captions import CaptionError, load_captions, template_captions
from core.text.clap import AudioProjection, AudioTextDataset, info_nce
from core.text.retrieval import ap_at_k, batch_plan, best_ranks, chance_recall, in_batch_ranks, score_directions
from core.text.table import PairTable, precompute_texts

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ loss
def test_info_nce_matches_a_hand_computed_3x3_example():
    audio = torch.eye(3)
    text = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.6, 0.8]])
    # sim[i, j] = audio_i . text_j = text[j, i]:  [[1, .6, 0], [0, .8, .6], [0, 0, .8]]; temperature 0.5 doubles it
    logits = [[2.0, 1.2, 0.0], [0.0, 1.6, 1.2], [0.0, 0.0, 1.6]]

    def ce(row: list[float], i: int) -> float:
        return -row[i] + math.log(sum(math.exp(v) for v in row))

    a2t = sum(ce(logits[i], i) for i in range(3)) / 3
    cols = [[logits[r][c] for r in range(3)] for c in range(3)]
    t2a = sum(ce(cols[i], i) for i in range(3)) / 3
    expected = 0.5 * (a2t + t2a)
    got = info_nce(audio * 3.0, text, 0.5)  # scale does not matter: both sides are L2-normalised
    assert float(got) == pytest.approx(expected, rel=1e-6)
    # distinct clip ids give the same loss; a shared clip spreads the target over both positives
    assert float(info_nce(audio, text, 0.5, torch.tensor([7, 8, 9]))) == pytest.approx(expected, rel=1e-6)
    shared = float(info_nce(audio, text, 0.5, torch.tensor([0, 0, 1])))

    def soft_ce(row: list[float], target: list[float]) -> float:
        lse = math.log(sum(math.exp(v) for v in row))
        return -sum(t * (v - lse) for v, t in zip(row, target))

    targets = [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
    want = 0.5 * (sum(soft_ce(logits[i], targets[i]) for i in range(3)) / 3
                  + sum(soft_ce(cols[i], targets[i]) for i in range(3)) / 3)
    assert shared == pytest.approx(want, rel=1e-6) and shared != pytest.approx(expected)


def test_temperature_stays_in_its_clamp_and_is_logged():
    torch.manual_seed(0)
    model = AudioProjection(6, 4, init_temperature=0.07, min_temperature=0.05, max_temperature=0.2)
    with torch.no_grad():
        model.log_temperature.fill_(math.log(50.0))
    assert float(model.temperature.detach()) == pytest.approx(0.2)
    opt = torch.optim.SGD(model.parameters(), lr=500.0)  # absurd steps push the parameter far out
    batch = {"x": torch.randn(8, 6), "text": torch.randn(8, 4), "clip": torch.arange(8)}
    for _ in range(20):
        loss, logs = model.loss(batch)
        assert 0.05 - 1e-6 <= logs["temperature"] <= 0.2 + 1e-6
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.clamp_temperature()
    assert math.log(0.05) - 1e-6 <= float(model.log_temperature.detach()) <= math.log(0.2) + 1e-6
    fixed = AudioProjection(6, 4, learn_temperature=False)
    assert not fixed.log_temperature.requires_grad
    with pytest.raises(ValueError):
        AudioProjection(6, 4, init_temperature=2.0, max_temperature=1.0)


def test_projection_outputs_unit_vectors_and_rebuilds_from_config():
    from core.text.clap import projection_from_config

    model = AudioProjection(5, 3, head="mlp", hidden=8)
    model.set_standardisation(np.random.default_rng(0).normal(3.0, 2.0, (20, 5)))
    out = model.project(np.random.default_rng(1).normal(size=(7, 5)).astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    twin = projection_from_config(model.config())
    twin.load_state_dict(model.state_dict())
    np.testing.assert_allclose(twin.project(np.ones((2, 5), np.float32)), model.project(np.ones((2, 5), np.float32)))


# ------------------------------------------------------------------ retrieval metrics
def test_ranks_recall_and_map_on_a_hand_made_matrix():
    # 3 clips x 4 captions; captions 0,1 belong to clip 0, caption 2 to clip 1, caption 3 to clip 2
    sim = np.array([[0.1, 0.9, 0.3, 0.2],
                    [0.8, 0.2, 0.4, 0.5],
                    [0.5, 0.1, 0.6, 0.4]])
    pos = np.array([[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], bool)
    # audio->text: clip 0's best caption (0.9) is first; clip 1's (0.4) is 3rd behind .8,.5; clip 2's (.4) 3rd
    assert best_ranks(sim, pos).tolist() == [1, 3, 3]
    # text->audio: caption 0 -> clip 0 scores .1 (3rd), caption 1 -> .9 (1st), captions 2 and 3 -> .4 (2nd)
    assert best_ranks(sim.T, pos.T).tolist() == [3, 1, 2, 2]
    # AP@10, clip 0: order 1(hit), 2, 3, 0(hit) -> (1/1 + 2/4) / 2
    ap = ap_at_k(sim, pos, 10)
    assert ap[0] == pytest.approx(0.75) and ap[1] == pytest.approx(1 / 3)
    assert ap_at_k(sim, pos, 2)[1] == 0.0
    s = score_directions(sim, pos, n_boot=50)
    assert s["audio_to_text"].recall[1].mean == pytest.approx(1 / 3)
    assert s["text_to_audio"].recall[1].mean == pytest.approx(1 / 4)
    assert s["text_to_audio"].recall[3].mean == 1.0
    assert s["text_to_audio"].median_rank == 2.0


def test_ties_count_against_the_query_and_chance_is_k_over_n():
    flat = np.zeros((4, 4))
    assert best_ranks(flat, np.eye(4, dtype=bool)).tolist() == [4, 4, 4, 4]
    assert chance_recall(10, 1, 3)[0] == pytest.approx(0.3)
    assert chance_recall(14, 1, 10)[0] == pytest.approx(10 / 14)
    assert chance_recall(5, 2, 2)[0] == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert chance_recall(4, 1, 10)[0] == 1.0


def test_in_batch_uses_the_diagonal_and_drops_an_incomplete_batch():
    plan = batch_plan(70, 32, seed=0)
    assert [len(b) for b in plan] == [32, 32] and len(np.unique(np.concatenate(plan))) == 64
    assert [len(b) for b in batch_plan(20, 32)] == [20]
    rng = np.random.default_rng(0)
    vec = rng.normal(size=(64, 16))
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    out = in_batch_ranks(vec, vec, np.arange(64), 32)  # identical sides: every right text is rank 1
    assert (out["text_to_audio"][0] == 1).all() and (out["audio_to_text"][2] == 32).all()


# ------------------------------------------------------------------ precompute
def test_killed_precompute_resumes_and_reuses_its_checkpoints(tmp_path):
    texts = [f"caption number {i}" for i in range(10)]

    def vec(t: str) -> np.ndarray:
        return np.full(4, float(t.split()[-1]), np.float32)

    calls: list[int] = []

    def dies_in_third_chunk(batch: list[str]) -> np.ndarray:
        calls.append(len(batch))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return np.stack([vec(t) for t in batch])

    with pytest.raises(KeyboardInterrupt):
        precompute_texts(texts, dies_in_third_chunk, tmp_path, chunk=3, progress=False)
    assert len(list(tmp_path.glob("chunk-*.npz"))) == 2
    seen: list[str] = []

    def counting(batch: list[str]) -> np.ndarray:
        seen.extend(batch)
        return np.stack([vec(t) for t in batch])

    vecs, stats = precompute_texts(texts, counting, tmp_path, chunk=3, progress=False)
    assert stats.reused == 6 and stats.computed == 4 and seen == texts[6:]
    np.testing.assert_array_equal(vecs[:, 0], np.arange(10))
    again, stats2 = precompute_texts(texts + texts[:2], counting, tmp_path, chunk=3, progress=False)
    assert stats2.computed == 0 and len(again) == 12


def test_pair_table_round_trips_without_pickle(tmp_path):
    t = PairTable(np.array(["a#0", "a#1", "b#0"]), np.array(["a", "a", "b"]), np.array([0, 0, 1]),
                  np.array(["x", "y", "z"]), np.array(["train", "train", "val"]), np.ones((3, 5), np.float32),
                  np.eye(3, 4, dtype=np.float32), "baseline", "minilm", {"n_clips": 2})
    path = t.save(tmp_path / "pairs.npz")
    with np.load(path, allow_pickle=False) as z:
        assert {"uniq_id", "caption", "split", "audio_embedding", "text_embedding"} <= set(z.files)
    back = PairTable.load(path)
    assert back.caption.tolist() == ["x", "y", "z"] and back.info == {"n_clips": 2}
    assert len(back.subset("train")) == 2 and back.clips().tolist() == [0, 1]
    item = AudioTextDataset(back)[2]
    assert item["clip"].item() == 1 and item["x"].shape == (5,)


# ------------------------------------------------------------------ captions
def _tracks(ids, genres=None, tags=None, split="train", root: Path | None = None):
    n = len(ids)
    paths = [str((root or Path("/x/audio")) / f"{i}.ogg") for i in ids]
    return pd.DataFrame({"track_id": ids, "path": paths, "genre": genres or [""] * n, "tags": tags or [""] * n,
                         "split": [split] * n})


def test_template_captions_come_from_mood_and_style():
    tr = _tracks(["calm_acoustic_1", "x"], ["calm", "rock"], ["calm|acoustic", "rock"], root=Path("/x/calm"))
    caps = template_captions(tr)
    assert set(caps["track_id"]) == {"calm_acoustic_1", "x"}
    assert "a calm acoustic track" in caps["caption"].tolist() and "a rock song" in caps["caption"].tolist()
    cs = load_captions(tr)
    assert cs.template and cs.table["row"].tolist() == [0, 0, 0, 1, 1, 1]


def test_captions_csv_missing_columns_duplicates_and_missing_audio(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"track_id": ["a"], "text": ["hello"]}).to_csv(bad, index=False)
    with pytest.raises(CaptionError, match="lacks required column.*caption"):
        load_captions(_tracks(["a"]), bad)
    good = tmp_path / "good.csv"
    pd.DataFrame({"uniq_id": ["u1", "u1", "u2", "u3"], "track_id": ["a", "a", "b", "gone"],
                  "caption": ["first", "dup", "second", "no audio"]}).to_csv(good, index=False)
    cs = load_captions(_tracks(["a", "b", "c"]), good)
    assert cs.duplicates == ["u1"] and cs.table["caption"].tolist() == ["first", "second"]
    assert cs.skipped == ["u3: no audio in the feature cache"] and cs.uncaptioned == ["c"]


def test_musiccaps_captions_csv_without_caption_column(tmp_path):
    root = tmp_path / "mc"
    (root / "audio").mkdir(parents=True)
    pd.DataFrame({"ytid": ["a"], "aspect_list": ["['x']"]}).to_csv(root / "captions.csv", index=False)
    with pytest.raises(CaptionError, match="caption"):
        load_captions(_tracks(["a"], root=root / "audio"))


def test_audiocaps_catalog_and_captions(shared_data, tmp_path):
    from core.audio.catalogs import build_catalog

    cat = build_catalog("audiocaps", shared_data / "audiocaps_mini")
    assert len(cat) == 14 and (cat["status"] == "ok").all() and set(cat["split"]) == {"test"}
    tracks = cat.assign(row=range(len(cat)))
    cs = load_captions(tracks)
    assert cs.source == "audiocaps" and cs.table["row"].nunique() == 14
    assert (cs.table.groupby("row").size() >= 5).all() and not cs.skipped


# ------------------------------------------------------------------ CLI
def test_help_is_instant_and_lists_the_flags():
    out = subprocess.run([sys.executable, "-m", "train.clap", "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0
    for flag in ("--data", "--audio-encoder", "--text-encoder", "--eval-data", "--compare-mlp"):
        assert flag in out.stdout
