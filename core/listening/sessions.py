"""Listening sessions: a plan (dataset, models, K, mode, queries), listeners who join it, and their judgements.

A session is stored in the notes database (tables `sessions`, `session_listeners`, `session_judgements`,
`session_done`). Each listener gets the plan's queries in their own random order and, in blind mode, their own
A/B sides, both drawn once from (plan seed, listener name) when they join and stored, so a reload or a later
visit resumes exactly where they stopped.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from core.listening.notes import VERDICTS, VOTE_CHOICES, NotesStore, now_iso

MODES = ("open", "blind")
SOURCES = ("chosen", "handpicked", "stratified")
JUDGEMENT_COLUMNS = ["session", "mode", "listener", "query_track_id", "model", "rank", "rec_track_id",
                     "verdict", "model_a", "model_b", "winner", "ts"]


class SessionError(ValueError):
    """A session plan or a session operation that cannot be carried out (the message says why)."""


@dataclass(frozen=True)
class SessionPlan:
    """What a session asks of every listener: the same queries, models, K and mode."""

    name: str
    dataset: str
    models: tuple[str, ...]
    k: int
    mode: str
    queries: tuple[str, ...]
    seed: int = 0
    source: str = "chosen"
    excerpt_s: float = 10.0
    start: str = "representative"
    loudness_match: bool = True

    def validate(self) -> None:
        """Raise SessionError naming the first thing wrong with the plan."""
        if not self.name.strip():
            raise SessionError("a session needs a name")
        if self.mode not in MODES:
            raise SessionError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.source not in SOURCES:
            raise SessionError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if len(set(self.models)) != len(self.models) or not self.models:
            raise SessionError("a session needs at least one model, each named once")
        if self.mode == "blind" and len(self.models) < 2:
            raise SessionError("a blind session compares two or more models")
        if not 1 <= self.k <= 50:
            raise SessionError(f"K must be between 1 and 50, got {self.k}")
        if not self.queries or len(set(self.queries)) != len(self.queries):
            raise SessionError("a session needs at least one query, each listed once")
        if not 1.0 <= self.excerpt_s <= 60.0:
            raise SessionError(f"the excerpt length must be 1-60 s, got {self.excerpt_s:g}")

    def pair_for(self, query_track_id: str) -> tuple[str, str]:
        """The two models a blind query compares: the model pairs in turn over the plan's query list."""
        pairs = list(combinations(self.models, 2))
        return pairs[self.queries.index(query_track_id) % len(pairs)]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SessionPlan:
        d = json.loads(text)
        d["models"], d["queries"] = tuple(d["models"]), tuple(d["queries"])
        return cls(**d)


@dataclass(frozen=True)
class Assignment:
    """One listener's view of a session: their query order and, blind, which model is list A / B per query."""

    session: str
    listener: str
    order: tuple[str, ...]
    sides: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """How far a listener is: `done` of `total` queries; `current` is the next query (None when finished)."""

    done: int
    total: int
    current: str | None

    @property
    def position(self) -> int:
        """1-based number of the query on screen ("7 of 20"); total + 1 when finished."""
        return self.done + 1

    @property
    def finished(self) -> bool:
        return self.current is None


def assign(plan: SessionPlan, listener: str) -> Assignment:
    """The listener's own query order and A/B sides, drawn from (plan seed, listener name)."""
    rng = np.random.default_rng([int(plan.seed), zlib.crc32(listener.strip().encode("utf-8"))])
    order = tuple(str(q) for q in rng.permutation(np.array(plan.queries, dtype=object)))
    sides: dict[str, tuple[str, str]] = {}
    if plan.mode == "blind":
        for q in plan.queries:
            a, b = plan.pair_for(q)
            sides[q] = (b, a) if rng.random() < 0.5 else (a, b)
    return Assignment(plan.name, listener.strip(), order, sides)


def stratified_queries(tracks: pd.DataFrame, n: int, seed: int = 0) -> list[str]:
    """`n` track ids drawn with a seed, balanced over genres (round robin over genres in random order) and
    spread over artists (no artist twice while another artist of that genre is left)."""
    if n < 1:
        raise SessionError(f"the number of queries must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    shuffled = tracks.iloc[rng.permutation(len(tracks))]
    genres = shuffled["genre"].fillna("").astype(str)
    pools = {g: list(shuffled[genres == g].itertuples(index=False)) for g in pd.unique(genres)}
    used_artists: set[str] = set()
    chosen: list[str] = []
    while len(chosen) < min(n, len(tracks)):
        for g in list(pools):
            pool = pools[g]
            if not pool or len(chosen) >= n:
                continue
            fresh = [t for t in pool if not str(t.artist) or str(t.artist) not in used_artists]
            pick = (fresh or pool)[0]
            pool.remove(pick)
            used_artists.add(str(pick.artist))
            chosen.append(str(pick.track_id))
    return chosen


class SessionStore(NotesStore):
    """The notes database seen as a store of sessions, listener assignments and judgements."""

    def create(self, plan: SessionPlan) -> None:
        """Store a new session; SessionError if the plan is invalid or the name is taken."""
        plan.validate()
        with self._write() as con:
            if con.execute("SELECT 1 FROM sessions WHERE name=?", (plan.name,)).fetchone():
                raise SessionError(f"a session named {plan.name!r} already exists; choose another name")
            con.execute("INSERT INTO sessions (name, ts, dataset, plan) VALUES (?,?,?,?)",
                        (plan.name, now_iso(), plan.dataset, plan.to_json()))

    def plan(self, name: str) -> SessionPlan:
        """The stored plan of a session; SessionError if there is none."""
        df = self._frame("SELECT plan FROM sessions WHERE name=?", (name,))
        if not len(df):
            raise SessionError(f"no session named {name!r}")
        return SessionPlan.from_json(str(df.iloc[0, 0]))

    def sessions(self, dataset: str | None = None) -> pd.DataFrame:
        """name, dataset, created (ts) and listeners of every session, newest first."""
        sql = ("SELECT s.name, s.dataset, s.ts AS created, COUNT(l.listener) AS listeners FROM sessions s "
               "LEFT JOIN session_listeners l ON l.session = s.name {where} GROUP BY s.name ORDER BY s.ts DESC")
        if dataset is None:
            return self._frame(sql.format(where=""))
        return self._frame(sql.format(where="WHERE s.dataset=?"), (dataset,))

    def join(self, name: str, listener: str) -> Assignment:
        """The listener's assignment, drawn and stored on their first join, read back afterwards."""
        if not listener.strip():
            raise SessionError("listener name is required")
        plan = self.plan(name)
        fresh = assign(plan, listener)
        with self._write() as con:
            con.execute("INSERT OR IGNORE INTO session_listeners (session, listener, ts, assignment) "
                        "VALUES (?,?,?,?)", (name, fresh.listener, now_iso(),
                                             json.dumps({"order": fresh.order, "sides": fresh.sides})))
        row = self._frame("SELECT assignment FROM session_listeners WHERE session=? AND listener=?",
                          (name, fresh.listener))
        stored = json.loads(str(row.iloc[0, 0]))
        return Assignment(name, fresh.listener, tuple(stored["order"]),
                          {q: (s[0], s[1]) for q, s in stored["sides"].items()})

    def listeners(self, name: str) -> list[str]:
        """Listeners who joined a session, in joining order."""
        return self._frame("SELECT listener FROM session_listeners WHERE session=? ORDER BY ts",
                           (name,))["listener"].tolist()

    def record_verdict(self, name: str, listener: str, query: str, model: str, rank: int, rec: str,
                       verdict: str) -> None:
        """Store (or replace) one verdict on one recommended track of a session query."""
        if verdict not in VERDICTS:
            raise SessionError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        self._judge(name, listener, query, "verdict", model, int(rank), str(rec), verdict, ("", "", ""))

    def record_vote(self, name: str, listener: str, query: str, model_a: str, model_b: str, choice: str) -> None:
        """Store (or replace) one blind vote (A, B or same) with the hidden sides."""
        if choice not in VOTE_CHOICES:
            raise SessionError(f"choice must be one of {VOTE_CHOICES}, got {choice!r}")
        winner = {"A": model_a, "B": model_b, "same": "same"}[choice]
        self._judge(name, listener, query, "vote", "", 0, "", choice, (model_a, model_b, winner))

    def _judge(self, name: str, listener: str, query: str, kind: str, model: str, rank: int, rec: str,
               verdict: str, ab: tuple[str, str, str]) -> None:
        """Upsert one row of session_judgements."""
        with self._write() as con:
            con.execute(
                """INSERT INTO session_judgements (ts, session, listener, query_track_id, kind, model, rank,
                   rec_track_id, verdict, model_a, model_b, winner) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT (session, listener, query_track_id, kind, model, rec_track_id)
                   DO UPDATE SET ts=excluded.ts, verdict=excluded.verdict, rank=excluded.rank,
                   model_a=excluded.model_a, model_b=excluded.model_b, winner=excluded.winner""",
                (now_iso(), name, listener.strip(), str(query), kind, model, rank, rec, verdict, *ab))

    def mark_done(self, name: str, listener: str, query: str) -> None:
        """Record that the listener finished a query (moves them to the next one)."""
        with self._write() as con:
            con.execute("INSERT OR IGNORE INTO session_done (session, listener, query_track_id, ts) "
                        "VALUES (?,?,?,?)", (name, listener.strip(), str(query), now_iso()))

    def progress(self, assignment: Assignment) -> Progress:
        """Done / total of a listener and the first query of their order they have not finished."""
        done = set(self._frame("SELECT query_track_id FROM session_done WHERE session=? AND listener=?",
                               (assignment.session, assignment.listener))["query_track_id"])
        current = next((q for q in assignment.order if q not in done), None)
        return Progress(sum(q in done for q in assignment.order), len(assignment.order), current)

    def saved(self, name: str, listener: str, query: str) -> dict[tuple[str, str], str]:
        """{(model, rec_track_id): verdict} and {("vote", ""): choice} of a listener on one query."""
        df = self._frame("SELECT kind, model, rec_track_id, verdict FROM session_judgements WHERE session=? "
                         "AND listener=? AND query_track_id=?", (name, listener.strip(), str(query)))
        return {("vote" if k == "vote" else m, r): v for k, m, r, v in df.itertuples(index=False)}

    def judgements(self, name: str) -> pd.DataFrame:
        """The tidy table of a session: one row per judgement (JUDGEMENT_COLUMNS), oldest first."""
        plan = self.plan(name)
        df = self._frame("SELECT * FROM session_judgements WHERE session=? ORDER BY id", (name,))
        df["mode"] = plan.mode
        return df.reindex(columns=JUDGEMENT_COLUMNS)
