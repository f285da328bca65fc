"""The general text-search model: multi-positive InfoNCE (shared clip and shared text) against a hand-computed
batch, texts from mood/genre tags, the emotion4q labels CSV, the calibration on a synthetic case whose answer
is known, zero-shot P@K, and `train.text_model` / `train.text_query` end to end on the demo corpus as real
subprocesses (and on ../shared/data where present)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.text.calibrate import calibrate, judge, reference_bank
from core.text.clap import info_nce
from core.text.sources import aspect_text, emotion4q_labels, tag_texts
from core.text.zeroshot import label_queries, precision_at_k

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


def _soft_ce(row: list[float], target: list[float]) -> float:
    lse = math.log(sum(math.exp(v) for v in row))
    return -sum(t * (v - lse) for v, t in zip(row, target))


# ------------------------------------------------------------------ loss
def test_multi_positive_info_nce_counts_a_shared_text_as_a_match():
    audio = torch.eye(3)
    text = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.6, 0.8]])
    logits = [[2.0, 1.2, 0.0], [0.0, 1.6, 1.2], [0.0, 0.0, 1.6]]  # audio_i . text_j / 0.5
    cols = [[logits[r][c] for r in range(3)] for c in range(3)]
    # three distinct clips, but pairs 1 and 2 carry the same text ("a rock song" for two rock clips)
    targets = [[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]]
    want = 0.5 * (sum(_soft_ce(logits[i], targets[i]) for i in range(3)) / 3
                  + sum(_soft_ce(cols[i], targets[i]) for i in range(3)) / 3)
    got = float(info_nce(audio, text, 0.5, torch.tensor([0, 1, 2]), torch.tensor([5, 6, 6])))
    assert got == pytest.approx(want, rel=1e-6)
    plain = float(info_nce(audio, text, 0.5, torch.tensor([0, 1, 2])))
    assert got != pytest.approx(plain)
    # clip and text positives combine: clip 0 has two texts, one of them shared with clip 1
    targets = [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.5, 0.5]]
    want = 0.5 * (sum(_soft_ce(logits[i], targets[i]) for i in range(3)) / 3
                  + sum(_soft_ce(cols[i], targets[i]) for i in range(3)) / 3)
    got = float(info_nce(audio, text, 0.5, torch.tensor([0, 0, 1]), torch.tensor([1, 2, 2])))
    assert got == pytest.approx(want, rel=1e-6)


def test_balanced_sampler_gives_every_dataset_the_same_weight():
    from core.text.general import balanced_sampler

    datasets = np.array(["big"] * 900 + ["small"] * 100)
    drawn = datasets[list(balanced_sampler(datasets, torch.Generator().manual_seed(0)))]
    assert len(drawn) == 1000
    assert 0.45 < (drawn == "small").mean() < 0.55  # 10 % of the pairs, half of the draws


def test_clip_sampler_draws_every_clip_once_per_epoch_with_varying_texts():
    from core.text.general import ClipSampler

    clips = np.array([0] * 10 + [1] + [2] * 3 + [3] * 2)  # a clip with 10 tag texts, one with a single caption
    sampler = ClipSampler(clips, torch.Generator().manual_seed(0))
    epochs = [list(sampler) for _ in range(40)]
    assert len(sampler) == 4 and all(sorted(clips[e]) == [0, 1, 2, 3] for e in epochs)
    assert len({e[list(clips[e]).index(0)] for e in epochs}) >= 8  # clip 0 shows many of its ten texts
    assert len({tuple(clips[e]) for e in epochs}) > 1  # clip order changes between epochs
    again = ClipSampler(clips, torch.Generator().manual_seed(0))
    assert [list(again) for _ in range(40)] == epochs  # the generator makes it repeatable


def test_val_batches_give_every_dataset_one_batch():
    from core.text.general import per_dataset_batches

    batches = per_dataset_batches(np.array(["a", "a", "b", "a", "c", "c"]))
    assert batches == [[0, 1, 3], [2], [4, 5]]


def test_verdict_check_line_counts_known_answer_cases():
    from core.text.general_report import cases_line

    cases = [{"dataset": "x", "present": True, "rank": r} for r in (0.9, 0.7, 0.3)] + \
            [{"dataset": "x", "present": False, "rank": r} for r in (0.2, 0.6)]
    line = cases_line(cases, threshold=0.5)
    assert "**2 of 3**" in line and "**1 of 2**" in line
    assert cases_line([]) == "No labelled val split to check the verdict on."


# ------------------------------------------------------------------ texts
def test_texts_from_mood_and_genre_tags():
    tags = "mood:Cheerful|mood:Fun|mood:Happy|mood:Joyous|genre:Pop/Rock|quadrant:Q1"
    moods = tag_texts("t1", "Q1", tags, "moods")
    assert len(moods) == 2  # four moods, at most three per text: two texts, every mood used once
    words = " ".join(moods)
    assert all(w in words for w in ("cheerful", "fun", "happy", "joyous")) and "Q1" not in words
    assert tag_texts("t1", "Q1", tags, "genre") == ["a pop/rock song", "pop/rock music"]
    both = tag_texts("t1", "Q1", tags, "mood_genre")
    assert both and all("pop/rock" in t for t in both)
    assert tag_texts("t1", "Q1", tags, "moods") == moods  # fixed per track: reruns give the same texts
    assert tag_texts("g", "blues", "", "genre") == ["a blues song", "blues music"]  # a plain genre label
    assert tag_texts("g", "Q2", "", "genre") == [] and tag_texts("g", "", "", "moods") == []
    assert aspect_text("['guitar song', 'slow tempo']") == "guitar song, slow tempo"
    assert aspect_text("pop|upbeat") == "pop, upbeat"


def test_emotion4q_labels_csv_keeps_quadrant_moods_and_genres(tmp_path):
    meta = tmp_path / "metadata.csv"
    pd.DataFrame({"path": ["audio/Q3/a.ogg"], "track_id": ["a"], "artist": ["X"], "title": ["T"],
                  "quadrant": ["Q3"], "genres": ["Blues|Jazz"], "moods": ["Sad|Gloomy"]}).to_csv(meta, index=False)
    lab = emotion4q_labels(meta)
    rec = lab.iloc[0]
    assert rec["path"] == "Q3/a.ogg" and rec["genre"] == "Q3" and rec["artist"] == "X"
    assert rec["tags"].split("|") == ["mood:Sad", "mood:Gloomy", "genre:Blues", "genre:Jazz", "quadrant:Q3"]


# ------------------------------------------------------------------ calibration
def test_calibration_on_a_synthetic_case_with_a_known_answer():
    rng = np.random.default_rng(0)
    dim = 32
    tracks = np.eye(dim)[:6]  # six tracks, each along its own axis
    # 60 reference descriptions, each fitting one track a little (0.4 along its axis) plus noise off every track
    bank = np.zeros((60, dim))
    bank[np.arange(60), np.arange(60) % 6] = 0.4
    bank[:, 16:] = rng.normal(size=(60, 16)) * 0.3
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    bank_scores = bank @ tracks.T
    match = tracks[2]  # a query that describes track 2 exactly
    cal = calibrate(match @ tracks.T, bank_scores)
    assert cal[2] == 1.0 and cal[[0, 1, 3, 4, 5]].max() == 0.0  # cosine 0 ties the bank's zeros: no credit
    v = judge(match @ tracks.T, bank_scores, k=3)
    assert v.good_match and v.rank >= 0.9 and "Good match" in v.message()  # only the best-fitting description ties
    nothing = np.zeros(dim)
    nothing[10] = 1.0  # a query along an axis no track and no description has
    v = judge(nothing @ tracks.T, bank_scores, k=3)
    assert not v.good_match and v.rank == 0.0 and "No good match" in v.message()
    # a description that fits its track like the bank does sits in the middle of the bank: judged by the median
    typical = judge(bank_scores[7], np.delete(bank_scores, 7, 0), k=3)
    assert 0.0 < typical.rank < 1.0
    assert len(reference_bank()) == len(set(reference_bank())) >= 100


def test_precision_at_k_and_label_queries_against_hand_counts():
    labels = np.array(["a", "a", "b", "b", "b", "a"])
    scores = np.array([[0.9, 0.1, 0.8, 0.2, 0.3, 0.7],   # "a": top 3 = rows 0, 2, 5 -> 2 of 3 are a
                       [0.0, 0.1, 0.9, 0.8, 0.7, 0.6]])  # "b": top 3 = rows 2, 3, 4 -> 3 of 3
    assert precision_at_k(scores[0], labels == "a", 3) == pytest.approx(2 / 3)
    res = label_queries(scores, labels, {"a": "qa", "b": "qb"}, ks=(3, 50), n_boot=200)
    assert res["queries"]["a"]["P@3"]["mean"] == pytest.approx(2 / 3)
    assert res["queries"]["b"]["P@3"]["mean"] == 1.0 and res["queries"]["b"]["chance"] == 0.5
    assert res["mean"]["P@3"]["mean"] == pytest.approx(5 / 6)
    lo, hi = res["mean"]["P@3"]["lo"], res["mean"]["P@3"]["hi"]
    assert lo <= 5 / 6 <= hi and lo < hi
    assert "P@50" not in res["queries"]["a"]  # K over half the pool is not scored


# ------------------------------------------------------------------ CLIs end to end
@pytest.fixture(scope="module")
def demo_model(demo_dir, tmp_path_factory) -> tuple[Path, Path]:
    """A general model trained by the CLI on the demo corpus (baseline embedding), and that dataset."""
    from core.audio.cache import FeatureCache
    from core.recommend.embeddings import write_baseline

    root = tmp_path_factory.mktemp("general")
    ds = root / "demo"
    shutil.copytree(demo_dir, ds)
    write_baseline(FeatureCache.open(ds), ds)
    out = root / "model"
    proc = subprocess.run([PY, "-m", "train.text_model", "--data", str(ds), "--audio-encoder", "baseline",
                           "--out", str(out), "--n-boot", "50", "--epochs", "30", "--quiet"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, ds


def test_text_model_cli_writes_model_report_and_zero_shot_figures(demo_model):
    out, _ = demo_model
    info = json.loads((out / "model.json").read_text())
    assert info["audio_encoder"] == "baseline" and (out / "checkpoints" / "projection" / "best.pt").is_file()
    assert {k.split("/")[1] for k in info["pairs"]} >= {"template", "genre"}
    assert info["pairs"]["demo/template"].get("train", 0) > 0
    test = info["evaluation"]["demo"]["test"]
    assert test["kind"] == "label" and test["n_pool"] >= 4
    assert all(0 < q["chance"] < 1 for q in test["queries"].values())
    verdicts = info["evaluation"]["demo"]["verdicts"]
    assert len(verdicts) == 8 and all(0.0 <= v["rank"] <= 1.0 for v in verdicts)
    report = (out / "report.md").read_text()
    assert "Zero-shot protocol" in report and "chance %" in report and "Good match or not" in report


def test_verdict_cases_query_each_label_with_and_without_its_tracks(demo_model):
    from core.audio.cache import FeatureCache
    from core.text.query import load_text_model
    from core.text.zeroshot import verdict_cases

    out, ds = demo_model
    labels = FeatureCache.open(ds).tracks["genre"].astype(str)
    cases = verdict_cases(load_text_model(out), ds, "all")
    assert {c["label"] for c in cases} == set(labels) and len(cases) == 2 * labels.nunique()
    for c in cases:
        expected = len(labels) if c["present"] else int((labels != c["label"]).sum())
        assert c["n_pool"] == expected and 0.0 <= c["rank"] <= 1.0 and c["query"] == f"{c['label']} music"
    assert verdict_cases(load_text_model(out), ds, "val") == []  # too few val tracks to fill a top 5 twice


def test_text_query_cli_ranks_tracks_and_says_when_nothing_fits(demo_model):
    out, ds = demo_model
    run = [PY, "-m", "train.text_query", "--model", str(out), "--data", str(ds), "--k", "5", "--json"]
    proc = subprocess.run([*run, "--query", "calm tender music"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)
    hits = res["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert all(a["cosine"] >= b["cosine"] for a, b in zip(hits, hits[1:]))
    assert all(0.0 <= h["calibrated"] <= 1.0 for h in hits)
    assert res["verdict"]["bank_size"] == len(reference_bank())



def test_text_query_refuses_bad_input_with_one_line(demo_model, capsys):
    from train.text_query import main

    out, ds = demo_model
    assert main(["--model", str(out), "--data", str(ds), "--query", "  "]) == 2
    err = capsys.readouterr().err
    assert "empty" in err and len(err.strip().splitlines()) == 1
    assert main(["--model", str(ds / "nope"), "--data", str(ds), "--query", "x"]) == 2
    err = capsys.readouterr().err
    assert "train.text_model" in err and len(err.strip().splitlines()) == 1
    assert main(["--model", str(out), "--data", str(ds / "nope"), "--query", "x"]) == 2
    assert "not a prepared dataset" in capsys.readouterr().err


def test_text_model_cli_refuses_bad_input_with_one_line(tmp_path, demo_dir, capsys):
    from train.text_model import main

    assert main(["--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "m")]) == 2
    assert "not a prepared dataset" in capsys.readouterr().err
    assert main(["--data", str(demo_dir), "--sources", "moods,lyrics", "--out", str(tmp_path / "m")]) == 2
    assert "unknown text source(s) lyrics" in capsys.readouterr().err
    proc = subprocess.run([PY, "-m", "train.text_model", "--data", str(demo_dir), "--audio-encoder", "nope",
                           "--out", str(tmp_path / "m"), "--quiet"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "no precomputed embedding 'nope'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ the page with a model trained elsewhere
def test_page_searches_another_dataset_with_the_general_model(demo_model, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui.data import ENV_VAR

    out, ds = demo_model
    root = tmp_path / "artifacts"
    shutil.copytree(out, root / "text_models" / "general")
    mine = root / "mine"  # a dataset with no captions and no text-search run of its own
    mine.mkdir(parents=True)
    shutil.copy(ds / "catalog.csv", mine / "catalog.csv")
    shutil.copytree(ds / "cache", mine / "cache")
    shutil.copytree(ds / "embeddings", mine / "embeddings")
    monkeypatch.setenv(ENV_VAR, str(root))
    at = AppTest.from_file(str(REPO / "pages" / "6_Text_search.py"), default_timeout=180).run()
    assert not at.exception
    assert at.selectbox(key="ts_run").value == "general: general"
    at.text_input(key="ts_text").input("calm tender music").run()
    assert not at.exception
    assert any("Top 5" in s.value for s in at.subheader)
    ranked = [m.value for m in at.markdown if m.value.startswith("**1.")]
    assert ranked and "reference descriptions" in ranked[0] and "cos " in ranked[0]
    verdicts = [e.value for e in (*at.success, *at.warning)]
    assert any("good match" in v.lower() for v in verdicts)
    assert len(at.get("audio")) >= 5


def test_emotion4q_prepares_as_an_artist_disjoint_folder_dataset_with_mood_texts(shared_data, tmp_path):
    from core.audio.catalogs import build_catalog
    from core.text.sources import dataset_texts, write_emotion4q_labels

    root = shared_data / "emotion4q"
    if not (root / "metadata.csv").is_file():
        pytest.skip("../shared/data/emotion4q is not present")
    labels = write_emotion4q_labels(root / "metadata.csv", tmp_path / "labels.csv")
    cat = build_catalog("folder", root / "audio", labels_csv=labels)
    ok = cat[cat["status"] == "ok"]
    assert len(ok) == 451 and ok["genre"].value_counts().to_dict() == {"Q4": 126, "Q1": 116, "Q2": 112, "Q3": 97}
    known = ok[ok["artist"].fillna("").str.strip() != ""]  # a track without an artist is a unit of its own
    by_artist = known.groupby("artist")["split"].nunique()
    assert len(by_artist) > 300 and (by_artist == 1).all()  # every artist in one split: never trained on
    texts = dataset_texts(ok, ("moods", "genre", "mood_genre", "template"))
    assert set(texts["source"]) == {"moods", "genre", "mood_genre"}  # no templates from quadrant codes
    assert texts["track_id"].nunique() == 451 and not texts["caption"].str.contains(r"\bQ[1-4]\b").any()
