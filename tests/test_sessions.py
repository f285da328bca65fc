"""Listening sessions: plans, per-listener order and A/B sides, progress and resume, the schema migration,
the stratified draw, results combining listeners (checked against hand-computed values), loudness matching
on real audio, and the `train.session` CLI as a subprocess."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.listening.loudness import TARGET_LUFS, fair_excerpt, gains_path, integrated_loudness
from core.listening.notes import SCHEMA_VERSION, NotesStore
from core.listening.results import (
    fleiss_kappa,
    krippendorff_nominal,
    relevance_with_ci,
    session_results,
    summary_markdown,
)
from core.listening.sessions import SessionError, SessionPlan, SessionStore, stratified_queries
from core.listening.stats import binomial_two_sided_p
from tests.helpers.sessions import make_session_dataset

REPO = Path(__file__).resolve().parents[1]
QUERIES = tuple(f"q{i}" for i in range(10))


def plan(mode: str = "open", **kw) -> SessionPlan:
    base = {"name": "lab", "dataset": "demo", "models": ("baseline", "conv", "mlp"), "k": 3, "mode": mode,
            "queries": QUERIES, "seed": 7}
    return SessionPlan(**{**base, **kw})


def test_join_gives_each_listener_own_order_and_sides_and_resumes(tmp_path):
    store = SessionStore.open(tmp_path / "notes.sqlite")
    store.create(plan("blind"))
    with pytest.raises(SessionError, match="already exists"):
        store.create(plan("blind"))
    ann, bob = store.join("lab", "ann"), store.join("lab", "bob")
    assert sorted(ann.order) == sorted(QUERIES) == sorted(bob.order)
    assert ann.order != bob.order
    # pairs cycle over the plan's queries; sides differ between listeners on some query
    assert {tuple(sorted(ann.sides[q])) for q in QUERIES} == {("baseline", "conv"), ("baseline", "mlp"),
                                                               ("conv", "mlp")}
    assert any(ann.sides[q] != bob.sides[q] for q in QUERIES)
    store.mark_done("lab", "ann", ann.order[0])
    store.mark_done("lab", "ann", ann.order[1])
    again = SessionStore.open(tmp_path / "notes.sqlite")  # a reload / restart
    assert again.join("lab", "ann") == ann
    prog = again.progress(ann)
    assert (prog.done, prog.total, prog.position, prog.current) == (2, 10, 3, ann.order[2])
    for q in ann.order[2:]:
        again.mark_done("lab", "ann", q)
    assert again.progress(ann).finished
    assert again.listeners("lab") == ["ann", "bob"]


def test_invalid_plans_are_refused():
    with pytest.raises(SessionError, match="blind"):
        plan("blind", models=("baseline",)).validate()
    with pytest.raises(SessionError, match="query"):
        plan(queries=()).validate()
    with pytest.raises(SessionError, match="mode"):
        plan("loud").validate()


def test_migration_keeps_existing_rows(tmp_path):
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)  # a version-1 database as the app wrote it before sessions existed
    con.executescript("CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, listener TEXT "
                      "NOT NULL, dataset TEXT NOT NULL, query_track_id TEXT NOT NULL, text TEXT NOT NULL);"
                      "INSERT INTO notes (ts, listener, dataset, query_track_id, text) "
                      "VALUES ('2026-01-01', 'ann', 'demo', 't1', 'kept');")
    con.close()
    store = SessionStore.open(db)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.read("notes")["text"].tolist() == ["kept"]
    store.create(plan())
    assert NotesStore.open(db).read("notes")["text"].tolist() == ["kept"]


def test_stratified_draw_balances_genres_and_artists():
    tracks = pd.DataFrame({"track_id": [f"t{i}" for i in range(40)],
                           "genre": [f"g{i % 4}" for i in range(40)], "artist": [f"a{i % 8}" for i in range(40)]})
    ids = stratified_queries(tracks, 8, seed=3)
    picked = tracks.set_index("track_id").loc[ids]
    assert picked["genre"].value_counts().tolist() == [2, 2, 2, 2]
    assert picked["artist"].nunique() == 8
    assert stratified_queries(tracks, 8, seed=3) == ids
    assert stratified_queries(tracks, 8, seed=4) != ids


def test_fleiss_and_krippendorff_match_hand_computed_values():
    # 4 items x 2 raters: (r,r) (r,n) (n,n) (r,r): p_rel = 5/8, Pe = 34/64, Pbar = 3/4 -> kappa = 7/15
    assert fleiss_kappa(np.array([[2, 0, 0], [1, 1, 0], [0, 2, 0], [2, 0, 0]])) == pytest.approx(7 / 15)
    ratings = pd.DataFrame([["r", "r", "n", "r"], ["r", "n", "n", "r"]])
    assert krippendorff_nominal(ratings) == pytest.approx(1 - (2 / 8) / (30 / 56))  # 16/30
    # a third rater judges only items 1 and 2: Do = 2/10, De = 48/90 -> alpha = 0.625
    ratings.loc[2] = ["r", "n", None, None]
    assert krippendorff_nominal(ratings) == pytest.approx(0.625)
    assert binomial_two_sided_p(8, 10) == pytest.approx(112 / 1024)


def judge_session(store: SessionStore, mode: str) -> None:
    """Two listeners judge a 10-query session with fixed answers the tests can count by hand."""
    store.create(plan(mode))
    for who in ("ann", "bob"):
        a = store.join("lab", who)
        for i, q in enumerate(QUERIES):
            if mode == "blind":
                first, second = a.sides[q]
                # both prefer the plan pair's first model in 8 of 10 queries, 'same' never
                pref_first = i < 8
                winner = plan("blind").pair_for(q)[0 if pref_first else 1]
                store.record_vote("lab", who, q, first, second, "A" if winner == first else "B")
            else:
                for model in ("baseline", "conv"):
                    verdict = "relevant" if (model == "conv" or (who == "ann" and i < 5)) else "not_relevant"
                    store.record_verdict("lab", who, q, model, 1, f"r{i}", verdict)
            store.mark_done("lab", who, q)


def test_session_results_combine_listeners(tmp_path):
    store = SessionStore.open(tmp_path / "n.sqlite")
    judge_session(store, "open")
    table = store.judgements("lab")
    assert len(table) == 40 and set(table["listener"]) == {"ann", "bob"}
    res = session_results(table, n_boot=500)
    rel = res.relevance.set_index("model")
    assert rel.loc["conv", "relevance_rate"] == 1.0 and rel.loc["conv", "ci_low"] == 1.0
    assert rel.loc["baseline", "relevance_rate"] == pytest.approx(5 / 20)
    assert (rel.loc["baseline", "listener_min"], rel.loc["baseline", "listener_max"]) == (0.0, 0.5)
    assert rel.loc["baseline", "ci_low"] < 0.25 < rel.loc["baseline", "ci_high"]
    agree = res.agreement.set_index("judgement").loc["verdicts"]
    # 20 items: 15 agree (10 conv rel/rel, 5 baseline not/not), 5 disagree; p_rel = 25/40, p_not = 15/40
    p_e = (25 / 40) ** 2 + (15 / 40) ** 2
    assert agree["fleiss_kappa"] == pytest.approx((15 / 20 - p_e) / (1 - p_e))
    assert agree["items_all_listeners"] == 20
    md = summary_markdown(store.plan("lab"), res)
    assert "| conv |" in md and "Fleiss" in md


def test_blind_session_binomial_overall_and_per_listener(tmp_path):
    store = SessionStore.open(tmp_path / "n.sqlite")
    judge_session(store, "blind")
    res = session_results(store.judgements("lab"), n_boot=100)
    pref = res.preference.set_index(["model_1", "model_2"])
    # pairs cycle over q0..q9 (i % 3); the pair's first model wins q0..q7, the second q8, q9 - per listener:
    # baseline-conv 3:1, baseline-mlp 3:0, conv-mlp 2:1; two listeners double it. Hand-computed sign tests:
    expect = {("baseline", "conv"): (6, 2, 2 * (28 + 8 + 1) / 256), ("baseline", "mlp"): (6, 0, 2 / 64),
              ("conv", "mlp"): (4, 2, 2 * (15 + 6 + 1) / 64)}
    for pair, (w1, w2, p) in expect.items():
        assert (pref.loc[pair, "wins_1"], pref.loc[pair, "wins_2"]) == (w1, w2)
        assert pref.loc[pair, "p_value"] == pytest.approx(p)
    by = res.preference_by_listener
    assert set(by["listener"]) == {"ann", "bob"}
    for r in by.itertuples():
        assert r.p_value == pytest.approx(binomial_two_sided_p(r.wins_1, r.wins_1 + r.wins_2))
    assert res.agreement.set_index("judgement").loc["blind preference", "fleiss_kappa"] == pytest.approx(1.0)


def test_relevance_ci_is_empty_safe():
    assert relevance_with_ci(pd.DataFrame(columns=["model", "verdict", "query_track_id", "listener"])).empty


@pytest.fixture(scope="module")
def demo_tracks() -> list[Path]:
    from tests.helpers.app import demo_audio_files

    return demo_audio_files()[::5][:4]


def test_loudness_matched_excerpts_hit_target_and_are_cached(tmp_path, demo_tracks):
    lengths, raw = set(), []
    for f in demo_tracks:
        y, sr, ex = fair_excerpt(f, tmp_path, 6.0)
        lengths.add(round(len(y) / sr, 2))
        assert abs(integrated_loudness(y, sr) - TARGET_LUFS) <= 0.5, f.name
        raw.append(integrated_loudness(fair_excerpt(f, tmp_path, 6.0, matched=False)[0], sr))
    assert lengths == {6.0}
    assert max(raw) - min(raw) > 1.0  # the tracks really differ in loudness before matching
    cached = gains_path(tmp_path).read_text()
    assert cached.count("|6|") == len(demo_tracks)
    fair_excerpt(demo_tracks[0], tmp_path, 6.0)
    assert gains_path(tmp_path).read_text() == cached  # measured once per track


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train.session", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_cli_create_list_export(tmp_path):
    ds = make_session_dataset(tmp_path / "art")
    db = tmp_path / "art" / "notes.sqlite"
    r = run_cli("create", "--data", str(ds), "--db", str(db), "--name", "class", "--models", "baseline,conv_ae_z16",
                "--mode", "blind", "--stratified", "6", "--seed", "1")
    assert r.returncode == 0, r.stderr
    store = SessionStore.open(db)
    assert len(store.plan("class").queries) == 6
    a = store.join("class", "ann")
    store.record_vote("class", "ann", a.order[0], *a.sides[a.order[0]], "A")
    r = run_cli("export", "--db", str(db), "--name", "class", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "class.csv").read_text())))
    assert len(rows) == 1 and rows[0]["verdict"] == "A" and rows[0]["winner"] == a.sides[a.order[0]][0]
    assert "Blind preferences" in (tmp_path / "out" / "class.md").read_text()
    bad = run_cli("create", "--data", str(ds), "--db", str(db), "--name", "class", "--models", "nope",
                  "--chosen", a.order[0])
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "nope" in bad.stderr
