"""The notes store: WAL mode, verdict upsert, restart survival, concurrent writers lose nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.listening.notes import NotesStore

REPO = Path(__file__).resolve().parents[1]


def test_store_is_wal_and_survives_reopen(tmp_path):
    db = tmp_path / "notes.sqlite"
    store = NotesStore.open(db)
    assert store.journal_mode() == "wal"
    store.add_note("ann", "demo", "t1", "warm strings, nice pick")
    store.set_verdict("ann", "demo", "t1", "baseline", "t2", 1, "relevant", score=0.9, k=5)
    store.add_vote("ann", "demo", "t1", 5, "conv", "baseline", "A")
    reopened = NotesStore.open(db)  # an app restart
    assert reopened.read("notes")["text"].tolist() == ["warm strings, nice pick"]
    assert reopened.read("verdicts")["verdict"].tolist() == ["relevant"]
    vote = reopened.read("votes").iloc[0]
    assert (vote["model_a"], vote["model_b"], vote["choice"], vote["winner"]) == ("conv", "baseline", "A", "conv")


def test_verdict_is_replaced_not_duplicated(tmp_path):
    store = NotesStore.open(tmp_path / "n.sqlite")
    store.set_verdict("ann", "demo", "q", "m", "r", 1, "relevant")
    store.set_verdict("ann", "demo", "q", "m", "r", 1, "unsure")
    store.set_verdict("bob", "demo", "q", "m", "r", 1, "not_relevant")
    v = store.read("verdicts")
    assert len(v) == 2
    assert store.verdict_map("ann", "demo", "q") == {("m", "r"): "unsure"}
    ann = store.annotations()
    assert set(ann["kind"]) == {"verdict"}


def test_bad_inputs_are_rejected(tmp_path):
    store = NotesStore.open(tmp_path / "n.sqlite")
    with pytest.raises(ValueError):
        store.set_verdict("ann", "demo", "q", "m", "r", 1, "great")
    with pytest.raises(ValueError):
        store.add_vote("ann", "demo", "q", 5, "a", "b", "C")
    with pytest.raises(ValueError):
        store.add_note("  ", "demo", "q", "x")
    assert len(store.read("notes")) == 0


def _writer(db: str, who: str, n: int) -> None:
    """One 'browser session' writing n notes, n verdicts and n votes."""
    store = NotesStore.open(db)
    for i in range(n):
        store.add_note(who, "demo", f"q{i}", f"{who} note {i}")
        store.set_verdict(who, "demo", f"q{i}", "baseline", f"r{i}", 1, "relevant")
        store.add_vote(who, "demo", f"q{i}", 5, "a", "b", "same")


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    db = str(tmp_path / "notes.sqlite")
    NotesStore.open(db)
    n = 60
    code = "import sys; from tests.test_notes import _writer; _writer(sys.argv[1], sys.argv[2], int(sys.argv[3]))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", code, db, who, str(n)], cwd=REPO, env=env)
             for who in ("ann", "bob")]
    for p in procs:
        assert p.wait(120) == 0
    store = NotesStore(tmp_path / "notes.sqlite")
    for table in (store.read("notes"), store.read("verdicts"), store.read("votes")):
        assert len(table) == 2 * n
        assert table.groupby("listener").size().to_dict() == {"ann": n, "bob": n}


def test_two_threads_writing_at_once_lose_nothing(tmp_path):
    db = tmp_path / "notes.sqlite"
    NotesStore.open(db)
    threads = [threading.Thread(target=_writer, args=(str(db), who, 40)) for who in ("ann", "bob", "cy")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 120
    assert con.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0] == 120
    con.close()


def test_a_held_write_lock_gives_one_bounded_wait_then_a_clear_error(tmp_path):
    """Another process holding the lock: the write waits about timeout_s once (not 50 times), then NotesBusy."""
    import time

    from core.listening.notes import NotesBusy

    db = tmp_path / "n.sqlite"
    NotesStore.open(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a writer that never commits
    try:
        store = NotesStore(db, timeout_s=0.5)
        t0 = time.perf_counter()
        with pytest.raises(NotesBusy, match=r"busy.*more than 0.5 s; nothing was saved"):
            store.add_note("ann", "demo", "q", "x")
        assert time.perf_counter() - t0 < 3.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(NotesStore(db).read("notes")) == 0
    with pytest.raises(ValueError, match="table must be one of"):
        NotesStore(db).read("sqlite_master")
