"""Retrieval pipeline: NT-Xent against a hand-computed value, Recall@K / MRR against hand-made rankings,
pair dataset and augmentations on real demo mels, padding-invariant embedders, the CLIs end to end."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.retrieval.losses import nt_xent
from core.retrieval.metrics import (
    chance_mrr,
    ranks_from_scores,
    ranks_of_truth,
    recall_at_k,
    reciprocal_rank,
    score_ranks,
)


def test_nt_xent_matches_hand_computation():
    # two pairs in 2-D: a=(1,0) b=(0,1) are partners of a'=(1,0) b'=(0,1) -> cosines 1 (pos) and 0 (negs)
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # scale must not matter
    t = 0.5
    # each anchor: positive cos 1, two negatives cos 0 (the other pair's two vectors)
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * math.exp(0.0)))
    assert float(nt_xent(z1, z2, t)) == pytest.approx(expected, rel=1e-6)
    # an anchor whose positive is orthogonal and a negative identical: loss must be larger
    z2_bad = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert float(nt_xent(z1, z2_bad, t)) > expected + 1.0


def test_nt_xent_groups_drop_same_track_negatives():
    z1 = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    z2 = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    # all four identical: without groups every anchor sees 1 positive and 2 identical negatives
    assert float(nt_xent(z1, z2, 1.0)) == pytest.approx(math.log(3), rel=1e-6)
    # same group: the "negatives" are dropped, leaving only the positive -> loss 0
    assert float(nt_xent(z1, z2, 1.0, groups=torch.tensor([7, 7]))) == pytest.approx(0.0, abs=1e-6)


def test_recall_and_mrr_on_hand_made_rankings():
    ranked = np.array([[3, 1, 2, 0], [0, 1, 2, 3], [2, 3, 0, 1]])
    truth = np.array([1, 0, 1])
    ranks = ranks_of_truth(ranked, truth)
    assert ranks.tolist() == [2, 1, 4]
    assert recall_at_k(ranks, 1).tolist() == [0, 1, 0]
    assert recall_at_k(ranks, 2).tolist() == [1, 1, 0]
    assert reciprocal_rank(ranks).tolist() == pytest.approx([0.5, 1.0, 0.25])
    s = score_ranks(ranks, ks=(1, 2), n_boot=200)
    assert s.recall[1].mean == pytest.approx(1 / 3) and s.recall[2].mean == pytest.approx(2 / 3)
    assert s.mrr.mean == pytest.approx((0.5 + 1 + 0.25) / 3)
    assert s.recall[1].lo <= s.recall[1].mean <= s.recall[1].hi
    # absent item -> rank 0 -> miss and reciprocal rank 0
    assert ranks_of_truth(np.array([[5, 6]]), np.array([1])).tolist() == [0]
    assert reciprocal_rank(np.array([0])).tolist() == [0.0]
    # from scores (ties count against the truth)
    sc = np.array([[0.1, 0.9, 0.5], [0.7, 0.7, 0.1]])
    assert ranks_from_scores(sc, np.array([2, 0])).tolist() == [2, 2]
    assert chance_mrr(2) == pytest.approx(0.75)


def test_pairs_are_two_different_augmented_crops(demo_dir):
    from core.audio.cache import FeatureCache
    from core.retrieval.pairs import PairConfig, PairDataset, TrackMels, collate_pairs
    from core.retrieval.training import channel_stats

    fc = FeatureCache.open(demo_dir)
    src = TrackMels(fc)
    rows = fc.split_rows("train")
    mean, std = channel_stats(src, list(rows))
    ds = PairDataset(src, rows, PairConfig(min_len=50, max_len=120, pairs_per_epoch=8), mean, std)
    batch = collate_pairs([ds[i] for i in range(8)])
    assert batch["x"].shape[0] == 8 and batch["x"].shape[1] == fc.config.n_mels
    lengths = batch["mask"].sum(1)
    assert lengths.min() >= 50 and lengths.max() <= 120
    assert not torch.equal(batch["x"][0, :, :50], batch["x2"][0, :, :50])
    assert all(int(r) in set(rows.tolist()) for r in batch["rows"])
    # padding is zero and masked out
    i = int(lengths.argmin())
    assert float(batch["x"][i, :, int(lengths[i]):].abs().sum()) == 0.0
    # validation pairs are identical on every pass
    val = PairDataset(src, fc.split_rows("val"), PairConfig(min_len=50, max_len=120), mean, std, deterministic=True)
    assert torch.equal(val[3][0], val[3][0])


def test_embedder_ignores_padding_and_is_normalised():
    from core.retrieval.models import FrameEmbedder, MelEmbedder

    torch.manual_seed(0)
    frames = FrameEmbedder(in_dim=12, channels=16, dim=8)
    with torch.no_grad():  # away from its identity start, so attention and residual take part
        for p in frames.parameters():
            p.normal_(0.0, 0.5)
    for m, c in ((MelEmbedder(n_mels=16, channels=16, dim=8), 16), (frames, 12)):
        m.eval()
        x = torch.randn(2, c, 40)
        mask = torch.ones(2, 40, dtype=torch.bool)
        mask[1, 23:] = False
        z = m.embed(x, mask)
        assert torch.allclose(z.norm(dim=1), torch.ones(2), atol=1e-5)
        assert torch.allclose(z[1], m.embed(x[1:2, :, :23])[0], atol=1e-5)


def test_audio_augment_hits_the_requested_snr():
    from core.retrieval.augment import AugmentConfig, audio_augment

    rng = np.random.default_rng(0)
    y = (0.3 * np.sin(np.arange(22050) / 5)).astype(np.float32)
    cfg = AugmentConfig(gain_db=0.0, snr_db=(20.0, 20.0), noise_prob=1.0)
    out = audio_augment(y, rng, cfg)
    snr = 10 * np.log10(np.mean(y ** 2) / np.mean((out - y) ** 2))
    assert snr == pytest.approx(20.0, abs=0.5)


@pytest.fixture(scope="module")
def trained_demo(demo_dir, tmp_path_factory) -> Path:
    """A copy of the demo dataset with a tiny retrieval_mels embedder trained by the CLI."""
    from train import retrieval

    ds = tmp_path_factory.mktemp("ret") / "demo"
    shutil.copytree(demo_dir, ds)
    rc = retrieval.main(["--data", str(ds), "--epochs", "2", "--max-steps", "2", "--pairs", "32", "--batch-size",
                         "8", "--channels", "16", "--dim", "16", "--indexes", "exact,hnsw,ivf_flat,ivf_pq",
                         "--no-tensorboard", "--quiet"])
    assert rc == 0
    return ds


def test_train_cli_writes_embedding_checkpoint_indexes_and_row(trained_demo):
    from core.audio.cache import FeatureCache
    from core.recommend.embeddings import load_embedding
    from core.retrieval.embedder import Embedder

    emb, meta = load_embedding(trained_demo, "retrieval_mels")
    fc = FeatureCache.open(trained_demo)
    assert emb.shape == (len(fc.tracks), 16) and meta["family"] == "contrastive"
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    e = Embedder.from_checkpoint(meta["checkpoint"])
    seg = fc.segments_of(0)[0]
    v = e.embed_mel(np.asarray(fc.mels[seg], np.float32))
    assert v.shape == (16,) and np.isfinite(v).all()
    for kind in ("exact", "hnsw", "ivf_flat", "ivf_pq"):
        assert (trained_demo / "retrieval" / "index" / f"retrieval_mels.{kind}").is_file()
    assert "retrieval_mels" in (trained_demo / "experiments.csv").read_text()


def test_eval_cli_writes_metrics_schema(trained_demo):
    from train import retrieval_eval

    rc = retrieval_eval.main(["--data", str(trained_demo), "--splits", "test", "--names", "retrieval_mels,baseline",
                              "--excerpt", "3", "--boot", "50"])
    assert rc == 0
    m = json.loads((trained_demo / "retrieval" / "metrics.json").read_text())
    for name in ("retrieval_mels", "baseline"):
        e = m["exact"][name]
        assert {"R@1", "R@10", "R@100", "MRR", "n_queries"} <= set(e)
        assert all(0 <= e[k] <= 1 for k in ("R@1", "R@10", "R@100", "MRR"))
        assert e["R@1"] <= e["R@10"] <= e["R@100"] == 1.0  # 28 tracks: the truth is always in the top 100
    assert set(m["indexes"]["retrieval_mels"]) == {"hnsw", "ivf_flat", "ivf_pq"}
    assert (trained_demo / "retrieval" / "report.md").read_text().startswith("# Excerpt -> track retrieval")


def test_eval_embeds_excerpts_with_an_autoencoder(trained_demo, tmp_path):
    """An autoencoder embedding is evaluated under the same protocol: its corpus re-embedded from the
    checkpoint and each excerpt cut into the model's windows and pooled the way its sidecar says."""
    from core.recommend.embeddings import list_embeddings
    from train import autoencoders, retrieval_eval

    ds = tmp_path / "demo"
    shutil.copytree(trained_demo, ds)
    assert autoencoders.main(["--data", str(ds), "--models", "dense", "--epochs", "1", "--max-steps", "2",
                              "--pooling", "meanstd", "--quiet"]) == 0
    ae = next(n for n in list_embeddings(ds) if n.startswith("dense"))
    assert retrieval_eval.main(["--data", str(ds), "--splits", "test", "--names", ae, "--excerpt", "3",
                                "--boot", "20"]) == 0
    m = json.loads((ds / "retrieval" / "metrics.json").read_text())
    assert m["skipped"] == {} and m["exact"][ae]["family"] == "autoencoder"
    assert 0 <= m["exact"][ae]["R@1"] <= m["exact"][ae]["R@10"] <= 1


def test_cli_errors_and_help(tmp_path, capsys):
    from train import retrieval, retrieval_eval, serve

    for mod in (retrieval, retrieval_eval, serve):
        with pytest.raises(SystemExit) as e:
            mod.main(["--help"])
        assert e.value.code == 0
    assert retrieval.main(["--data", str(tmp_path)]) == 2
    assert "no feature cache" in capsys.readouterr().err
    assert retrieval.main(["--data", str(tmp_path), "--input", "words"]) == 2
    for bad in (["--views", "1"], ["--views", "-2"], ["--view-seconds", "5,2"]):
        assert retrieval.main(["--data", str(tmp_path), "--input", "frames:x", *bad]) == 2
        assert "--views 0 or at least 2" in capsys.readouterr().err
    assert retrieval_eval.main(["--data", str(tmp_path)]) == 2
    assert serve.main(["--data", str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())


def test_track_mels_read_on_demand_keep_a_bounded_cache_and_stream_the_stats(demo_dir):
    """Whole-track mels come from the cache's memory map when asked for, at most `keep` stay in RAM, and the
    per-channel statistics summed track by track equal those of all frames at once."""
    from core.audio.cache import FeatureCache
    from core.retrieval.pairs import TrackMels
    from core.retrieval.training import channel_stats

    fc = FeatureCache.open(demo_dir)
    mels = TrackMels(fc, keep=3)
    seg = fc.segments[fc.segments["row"] == 5].sort_values("start_frame")
    direct = np.concatenate([np.asarray(fc.mels[int(s), :, :int(n)], np.float32)
                             for s, n in zip(seg["segment"], seg["n_frames"])], axis=1)
    np.testing.assert_array_equal(mels.of_row(5), direct)
    for r in range(len(fc.tracks)):
        mels.of_row(r)
    assert mels.n_cached == 3 and mels.rows == sorted(fc.segments["row"].unique().tolist())
    np.testing.assert_array_equal(mels.of_row(5), direct)  # read again after it was dropped
    rows = list(range(10))
    cat = np.concatenate([mels.of_row(r) for r in rows], axis=1).astype(np.float64)
    mean, std = channel_stats(mels, rows)
    np.testing.assert_allclose(mean, cat.mean(1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(std, cat.std(1), rtol=1e-4, atol=1e-3)


def test_frames_input_trains_on_a_frame_store(demo_dir, tmp_path, capsys):
    """--input frames:<encoder> reads a frames-contract store (here frames derived from the real demo mels:
    band energies every 4 cache frames, standing in for an encoder's output)."""
    from core.audio.cache import FeatureCache
    from core.encoders.frames import FrameInfo, write_frames
    from core.recommend.embeddings import load_embedding
    from core.retrieval.pairs import TrackMels
    from train import retrieval

    ds = tmp_path / "demo"
    shutil.copytree(demo_dir, ds)
    fc = FeatureCache.open(ds)
    mels = TrackMels(fc)
    hop = 4 * fc.config.hop_length / fc.config.sample_rate
    per_row = {r: mels.of_row(r)[:, : mels.of_row(r).shape[1] // 4 * 4].reshape(32, 4, -1, 4).mean((1, 3)).T
               for r in range(len(fc.tracks))}
    write_frames(ds, "melbands", per_row, fc.tracks["track_id"].tolist(),
                 FrameInfo(encoder="melbands", dim=32, sample_rate=fc.config.sample_rate, hop_s=hop))
    flags = ["--data", str(ds), "--input", "frames:melbands", "--epochs", "1", "--max-steps", "2", "--pairs", "16",
             "--batch-size", "8", "--channels", "16", "--dim", "16", "--indexes", "exact", "--no-tensorboard",
             "--quiet"]
    assert retrieval.main(flags) == 2  # excerpt views need a registered encoder's audio API
    assert "--views 0" in capsys.readouterr().err
    assert retrieval.main(flags + ["--views", "0"]) == 0
    emb, meta = load_embedding(ds, "retrieval_frames_melbands")
    assert emb.shape == (len(fc.tracks), 16) and meta["input"] == "frames:melbands"
    assert retrieval.main(["--data", str(ds), "--input", "frames:nope", "--quiet"]) == 2


def test_a_copied_dataset_finds_its_embedders_checkpoint(tmp_path):
    """The sidecar's checkpoint path is relative to where training ran; the copy's own checkpoint wins."""
    from core.retrieval.encoders import checkpoint_in

    meta = {"checkpoint": "artifacts/elsewhere/checkpoints/retrieval_mels/best.pt"}
    assert checkpoint_in(tmp_path, "retrieval_mels", meta) == Path(meta["checkpoint"])
    inside = tmp_path / "checkpoints" / "retrieval_mels" / "best.pt"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"x")
    assert checkpoint_in(tmp_path, "retrieval_mels", meta) == inside
