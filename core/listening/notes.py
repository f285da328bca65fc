"""SQLite store for listener notes, relevance verdicts and blind votes (artifacts/notes.sqlite).

Every write is one short `BEGIN IMMEDIATE` transaction on a fresh connection in WAL mode,
so several browser sessions (threads or processes) can write at once without losing rows.
A write waits at most `timeout_s` (one bounded wait, SQLite's busy timeout) for another writer's
lock, then raises `NotesBusy` with a message a page can show.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

VERDICTS = ("relevant", "not_relevant", "unsure")
VOTE_CHOICES = ("A", "B", "same")
TABLES = ("notes", "verdicts", "votes")


class NotesBusy(RuntimeError):
    """Another process held the notes database's write lock for longer than the store waits."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    listener TEXT NOT NULL,
    dataset TEXT NOT NULL,
    query_track_id TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    listener TEXT NOT NULL,
    dataset TEXT NOT NULL,
    query_track_id TEXT NOT NULL,
    model TEXT NOT NULL,
    rec_track_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    score REAL,
    k INTEGER,
    verdict TEXT NOT NULL CHECK (verdict IN ('relevant', 'not_relevant', 'unsure')),
    UNIQUE (listener, dataset, query_track_id, model, rec_track_id)
);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    listener TEXT NOT NULL,
    dataset TEXT NOT NULL,
    query_track_id TEXT NOT NULL,
    k INTEGER NOT NULL,
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'same')),
    winner TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_query ON notes (dataset, query_track_id);
CREATE INDEX IF NOT EXISTS votes_models ON votes (dataset, model_a, model_b);
"""

# Listening sessions (schema version 2): added beside the version-1 tables, whose rows stay as they are.
_SESSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    name TEXT PRIMARY KEY,
    ts TEXT NOT NULL,
    dataset TEXT NOT NULL,
    plan TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS session_listeners (
    session TEXT NOT NULL REFERENCES sessions (name),
    listener TEXT NOT NULL,
    ts TEXT NOT NULL,
    assignment TEXT NOT NULL,
    PRIMARY KEY (session, listener)
);
CREATE TABLE IF NOT EXISTS session_judgements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    session TEXT NOT NULL REFERENCES sessions (name),
    listener TEXT NOT NULL,
    query_track_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('verdict', 'vote')),
    model TEXT NOT NULL,
    rank INTEGER NOT NULL,
    rec_track_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    model_a TEXT NOT NULL DEFAULT '',
    model_b TEXT NOT NULL DEFAULT '',
    winner TEXT NOT NULL DEFAULT '',
    UNIQUE (session, listener, query_track_id, kind, model, rec_track_id)
);
CREATE TABLE IF NOT EXISTS session_done (
    session TEXT NOT NULL REFERENCES sessions (name),
    listener TEXT NOT NULL,
    query_track_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    PRIMARY KEY (session, listener, query_track_id)
);
"""
# MUSHRA ratings (schema version 3).
_MUSHRA_SCHEMA = """
CREATE TABLE IF NOT EXISTS mushra_ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    study TEXT NOT NULL,
    listener TEXT NOT NULL,
    clip TEXT NOT NULL,
    condition TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    UNIQUE (study, listener, clip, condition)
);
"""
MIGRATIONS = ((2, _SESSIONS_SCHEMA), (3, _MUSHRA_SCHEMA))
SCHEMA_VERSION = MIGRATIONS[-1][0]


def now_iso() -> str:
    """UTC timestamp in ISO format with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_now = now_iso


@dataclass(frozen=True)
class NotesStore:
    """Handle on one notes database file; cheap to create, holds no open connection."""

    path: Path
    timeout_s: float = 5.0

    @classmethod
    def open(cls, path: str | Path) -> NotesStore:
        """Create the database (WAL mode, tables) if needed and return a store for it."""
        store = cls(Path(path))
        store.path.parent.mkdir(parents=True, exist_ok=True)
        with store._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
            store._migrate(con)
        return store

    def _migrate(self, con: sqlite3.Connection) -> None:
        """Bring an older database up to SCHEMA_VERSION: only adds tables, never rewrites existing rows."""
        version = int(con.execute("PRAGMA user_version").fetchone()[0])
        for target, script in MIGRATIONS:
            if version < target:
                con.executescript(script)
                con.execute(f"PRAGMA user_version={target}")

    def schema_version(self) -> int:
        """The database's schema version (PRAGMA user_version)."""
        con = self._connect()
        try:
            return int(con.execute("PRAGMA user_version").fetchone()[0])
        finally:
            con.close()

    def _connect(self) -> sqlite3.Connection:
        """A new autocommit connection with a busy timeout (one per operation)."""
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
        con.execute("PRAGMA synchronous=NORMAL")
        return con

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT); NotesBusy after one bounded wait for the lock."""
        con = self._connect()
        try:
            try:
                con.execute("BEGIN IMMEDIATE")  # SQLite itself waits up to busy_timeout for the lock
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                raise NotesBusy(f"the notes database {self.path} is busy: another session held its write lock "
                                f"for more than {self.timeout_s:g} s; nothing was saved, try again") from None
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()

    def journal_mode(self) -> str:
        """The database's journal mode (expected: 'wal')."""
        con = self._connect()
        try:
            return str(con.execute("PRAGMA journal_mode").fetchone()[0])
        finally:
            con.close()

    def add_note(self, listener: str, dataset: str, query_track_id: str, text: str) -> int:
        """Store a free-text note about a query; returns the new row id."""
        if not listener.strip():
            raise ValueError("listener name is required")
        with self._write() as con:
            cur = con.execute(
                "INSERT INTO notes (ts, listener, dataset, query_track_id, text) VALUES (?,?,?,?,?)",
                (_now(), listener.strip(), dataset, str(query_track_id), text),
            )
            return int(cur.lastrowid or 0)

    def set_verdict(
        self,
        listener: str,
        dataset: str,
        query_track_id: str,
        model: str,
        rec_track_id: str,
        rank: int,
        verdict: str,
        score: float | None = None,
        k: int | None = None,
    ) -> None:
        """Store (or replace) one listener's verdict on one recommended track."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        if not listener.strip():
            raise ValueError("listener name is required")
        with self._write() as con:
            con.execute(
                """INSERT INTO verdicts
                   (ts, listener, dataset, query_track_id, model, rec_track_id, rank, score, k, verdict)
                   VALUES (?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT (listener, dataset, query_track_id, model, rec_track_id)
                   DO UPDATE SET ts=excluded.ts, verdict=excluded.verdict, rank=excluded.rank,
                                 score=excluded.score, k=excluded.k""",
                (_now(), listener.strip(), dataset, str(query_track_id), model,
                 str(rec_track_id), int(rank), None if score is None else float(score),
                 None if k is None else int(k), verdict),
            )

    def add_vote(
        self,
        listener: str,
        dataset: str,
        query_track_id: str,
        k: int,
        model_a: str,
        model_b: str,
        choice: str,
    ) -> int:
        """Store a blind vote with the hidden A/B assignment; returns the new row id."""
        if choice not in VOTE_CHOICES:
            raise ValueError(f"choice must be one of {VOTE_CHOICES}, got {choice!r}")
        if not listener.strip():
            raise ValueError("listener name is required")
        winner = {"A": model_a, "B": model_b, "same": "same"}[choice]
        with self._write() as con:
            cur = con.execute(
                """INSERT INTO votes (ts, listener, dataset, query_track_id, k, model_a, model_b,
                   choice, winner) VALUES (?,?,?,?,?,?,?,?,?)""",
                (_now(), listener.strip(), dataset, str(query_track_id), int(k), model_a,
                 model_b, choice, winner),
            )
            return int(cur.lastrowid or 0)

    def _frame(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        """Run a read query and return its rows as a DataFrame."""
        con = self._connect()
        try:
            return pd.read_sql_query(sql, con, params=params)
        finally:
            con.close()

    def read(self, table: str, dataset: str | None = None) -> pd.DataFrame:
        """All rows of one table ("notes", "verdicts" or "votes"), optionally of one dataset, oldest first."""
        if table not in TABLES:
            raise ValueError(f"table must be one of {TABLES}, got {table!r}")
        if dataset is None:
            return self._frame(f"SELECT * FROM {table} ORDER BY id")
        return self._frame(f"SELECT * FROM {table} WHERE dataset=? ORDER BY id", (dataset,))

    def verdict_map(self, listener: str, dataset: str, query_track_id: str) -> dict[tuple[str, str], str]:
        """{(model, rec_track_id): verdict} of one listener for one query (to pre-fill widgets)."""
        df = self._frame(
            "SELECT model, rec_track_id, verdict FROM verdicts WHERE listener=? AND dataset=? "
            "AND query_track_id=?",
            (listener.strip(), dataset, str(query_track_id)),
        )
        return {(m, r): v for m, r, v in df.itertuples(index=False)}

    def last_note(self, listener: str, dataset: str, query_track_id: str) -> str:
        """The latest note text of one listener for one query, or ''."""
        df = self._frame(
            "SELECT text FROM notes WHERE listener=? AND dataset=? AND query_track_id=? "
            "ORDER BY id DESC LIMIT 1",
            (listener.strip(), dataset, str(query_track_id)),
        )
        return str(df.iloc[0, 0]) if len(df) else ""

    def annotations(self) -> pd.DataFrame:
        """Notes and verdicts in one long table (kind = note | verdict), oldest first."""
        notes = self.read("notes")
        verdicts = self.read("verdicts")
        cols = ["ts", "kind", "listener", "dataset", "query_track_id", "text", "model",
                "rec_track_id", "rank", "verdict", "score"]
        notes = notes.assign(kind="note", model="", rec_track_id="", rank=pd.NA, score=pd.NA,
                             verdict="")
        verdicts = verdicts.assign(kind="verdict", text="")
        parts = [df[cols] for df in (notes, verdicts) if len(df)]
        if not parts:
            return pd.DataFrame(columns=cols)
        return pd.concat(parts, ignore_index=True).sort_values("ts", kind="stable").reset_index(drop=True)
