"""The Sessions page's parts: planning a session, joining it, one query per screen, the listener's summary and
the results of all listeners with their downloads."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from ui import data as ad
from ui import widgets as aw
from ui.playback import play_fair

LABELS = {"relevant": "relevant", "not relevant": "not_relevant", "unsure": "unsure"}


def store():
    """The notes database as a session store."""
    from core.listening.sessions import SessionStore

    return SessionStore.open(ad.notes_db_path())


def plan_queries(source: str, tracks: pd.DataFrame, ds_dir: Path, n: int, seed: int, chosen: list[int]) -> list[str]:
    """Query ids of a new plan from the organiser's choice, the handpicked queries or a stratified draw."""
    from core.listening.sessions import stratified_queries

    if source == "chosen":
        return [str(tracks.iloc[r]["track_id"]) for r in chosen]
    if source == "handpicked":
        rows = ad.handpicked_rows(tracks, ad.cached_queries(ds_dir))
        return [str(tracks.iloc[r]["track_id"]) for r in rows[:n]]
    return stratified_queries(tracks, n, seed)


def create_form(ds: str, ds_dir: Path, tracks: pd.DataFrame, models_all: list[str]) -> str | None:
    """The 'plan a new session' form; returns the new session's name once stored."""
    from core.listening.sessions import SessionError, SessionPlan

    with st.form("session_create"):
        name = st.text_input("Session name", placeholder="e.g. lab-2026-12-08")
        models = st.multiselect("Models", models_all, default=models_all[:3])
        c1, c2, c3 = st.columns(3)
        k = c1.number_input("K (tracks per list)", 1, 20, 5)
        mode = c2.radio("Mode", ["open", "blind"], horizontal=True,
                        help="open: a verdict on every recommended track; blind: vote A/B between two models' lists")
        excerpt = c3.number_input("Excerpt length (s)", 3.0, 30.0, 10.0, step=1.0)
        source = st.radio("Queries", ["stratified", "handpicked", "chosen"], horizontal=True,
                          help="stratified: drawn with the seed, balanced over genres and artists")
        c4, c5 = st.columns(2)
        n = c4.number_input("Number of queries", 1, 200, min(10, len(tracks)))
        seed = c5.number_input("Seed", 0, 10**6, 0)
        chosen = st.multiselect("Chosen queries (with 'chosen')", list(range(len(tracks))),
                                format_func=lambda r: aw.track_label(tracks, r))
        loud = st.toggle("Loudness-matched playback (-23 LUFS)", value=True)
        if not st.form_submit_button("Create session", type="primary"):
            return None
    queries = plan_queries(source, tracks, ds_dir, int(n), int(seed), chosen)
    plan = SessionPlan(name=name.strip(), dataset=ds, models=tuple(models), k=int(k), mode=mode,
                       queries=tuple(queries), seed=int(seed), source=source, excerpt_s=float(excerpt),
                       loudness_match=loud)
    try:
        store().create(plan)
    except SessionError as exc:
        st.error(f"Not created: {exc}")
        return None
    st.success(f"Session **{aw.esc(plan.name)}** created with {len(queries)} queries.")
    return plan.name


def join_form(name: str) -> str | None:
    """The listener's name (from the URL or this browser session), else a join form; None until given."""
    listener = st.query_params.get("listener") or st.session_state.get("listener_name", "")
    if listener:
        return str(listener)[:80]
    with st.form("session_join"):
        given = st.text_input("Your name", key="session_listener_input",
                              help="Use the same name to resume later; each listener gets their own order.")
        if st.form_submit_button("Join session", type="primary") and given.strip():
            st.session_state["listener_name"] = given.strip()[:80]
            st.query_params["listener"] = given.strip()[:80]
            st.rerun()
    return None


def leave() -> None:
    """Button callback: forget the listener of this browser tab (their progress stays stored)."""
    st.session_state.pop("listener_name", None)
    st.query_params.pop("listener", None)


def track_card(track: pd.Series, ds_dir: Path, plan, matched: bool, heading: str, meta: bool = True) -> None:
    """A track's title (and artist · genre when `meta`) with its fair excerpt player."""
    line = aw.meta_line(track["artist"], track["genre"]) if meta else ""
    st.markdown(f"**{heading}{aw.esc(track['title'])}**" + (f"  \n{line}" if line else ""))
    play_fair(track["path"], ds_dir, plan.excerpt_s, plan.start, matched, label=str(track["title"]))


def rec_rows(ds_dir: Path, model: str, row: int, k: int) -> list[int]:
    """Top-K catalog rows of a query under one model."""
    rows, _ = ad.cached_top_k(ds_dir, model, row, k)
    return [int(r) for r in rows]


def open_screen(plan, who: str, qid: str, row: int, tracks: pd.DataFrame, ds_dir: Path, matched: bool) -> bool:
    """Verdicts on every model's list of one query inside one form; True once saved."""
    cols = st.columns(len(plan.models))
    keys = {}
    for col, model in zip(cols, plan.models):
        with col, st.container(border=True):
            st.markdown(f"**{aw.esc(model)}**  \n{aw.esc(ad.family_of(ds_dir, model))}")
            for rank, r in enumerate(rec_rows(ds_dir, model, row, plan.k), start=1):
                rec = tracks.iloc[r]
                track_card(rec, ds_dir, plan, matched, f"{rank}. ")
                key = f"sv|{plan.name}|{qid}|{model}|{rank}"
                st.radio("Verdict", list(LABELS), key=key, index=None, horizontal=True,
                         label_visibility="collapsed")
                keys[key] = (model, rank, str(rec["track_id"]))
    if not st.form_submit_button("Save and next", type="primary", icon=":material/arrow_forward:"):
        return False
    missing = [k for k in keys if st.session_state.get(k) is None]
    if missing:
        st.warning(f"{len(missing)} of {len(keys)} tracks have no verdict yet; give one to each to go on.")
        return False
    s = store()
    for key, (model, rank, rid) in keys.items():
        s.record_verdict(plan.name, who, qid, model, rank, rid, LABELS[st.session_state[key]])
    return True


def blind_screen(plan, who: str, qid: str, row: int, sides: tuple[str, str], tracks: pd.DataFrame,
                 ds_dir: Path, matched: bool) -> bool:
    """Lists A and B of one query and the vote inside one form; True once saved."""
    for col, side, model in zip(st.columns(2), ("A", "B"), sides):
        with col, st.container(border=True):
            st.markdown(f"**List {side}**")
            for rank, r in enumerate(rec_rows(ds_dir, model, row, plan.k), start=1):
                track_card(tracks.iloc[r], ds_dir, plan, matched, f"{rank}. ", meta=False)
    choice = st.radio("Which list fits the query better?", ["A", "B", "same"], index=None, horizontal=True,
                      key=f"svote|{plan.name}|{qid}")
    if not st.form_submit_button("Save and next", type="primary", icon=":material/arrow_forward:"):
        return False
    if choice is None:
        st.warning("Pick A, B or same first.")
        return False
    store().record_vote(plan.name, who, qid, sides[0], sides[1], choice)
    return True


def query_screen(plan, assignment, progress, tracks: pd.DataFrame, ds_dir: Path, matched: bool) -> None:
    """One query per screen: progress, the query, the lists, the judgement form; moves on when saved."""
    qid = progress.current
    pos = {t: i for i, t in enumerate(tracks["track_id"])}
    if qid not in pos:
        st.warning(f"Query {aw.esc(qid)} is no longer in the catalog; skipped.")
        store().mark_done(plan.name, assignment.listener, qid)
        st.rerun()
    st.progress(progress.done / progress.total, text=f"Query {progress.position} of {progress.total}")
    row = pos[qid]
    with st.container(border=True):
        track_card(tracks.iloc[row], ds_dir, plan, matched, "Query: ", meta=plan.mode == "open")
    with st.form(f"session_q|{plan.name}|{qid}", border=False):
        if plan.mode == "blind":
            saved = blind_screen(plan, assignment.listener, qid, row, assignment.sides[qid], tracks, ds_dir,
                                 matched)
        else:
            saved = open_screen(plan, assignment.listener, qid, row, tracks, ds_dir, matched)
    if saved:
        store().mark_done(plan.name, assignment.listener, qid)
        st.rerun()


def results_section(plan, expanded: bool) -> None:
    """Results of all listeners (relevance, preferences, agreement) and the CSV / Markdown downloads."""
    from core.listening.export import round_floats, to_csv_bytes
    from core.listening.results import session_results, summary_markdown

    table = store().judgements(plan.name)
    with st.expander(f"Results of all listeners ({table['listener'].nunique()} listener(s), "
                     f"{len(table)} judgements)", expanded=expanded):
        if not len(table):
            st.info("No judgements yet.")
            return
        res = session_results(table)
        if len(res.relevance):
            st.markdown("**Relevance per model** (relevant share; 95 % bootstrap CI over queries; "
                        "listener_min/max: spread of the listeners' own shares)")
            st.dataframe(round_floats(res.relevance, 3), hide_index=True)
        if len(res.preference):
            st.markdown("**Blind preferences** (p: two-sided binomial sign test, ties left out)")
            st.dataframe(round_floats(res.preference, 4), hide_index=True)
            st.markdown("Per listener")
            st.dataframe(round_floats(res.preference_by_listener, 4), hide_index=True)
        st.markdown("**Agreement between listeners** (Fleiss' kappa: items every listener judged; "
                    "Krippendorff's alpha: all items, missing allowed)")
        st.dataframe(round_floats(res.agreement, 3), hide_index=True)
        c1, c2 = st.columns(2)
        c1.download_button("Download judgements (CSV)", to_csv_bytes(table), f"{plan.name}.csv", "text/csv",
                           icon=":material/download:")
        c2.download_button("Download summary (Markdown)", summary_markdown(plan, res).encode("utf-8"),
                           f"{plan.name}.md", "text/markdown", icon=":material/download:")


def listener_summary(plan, who: str) -> None:
    """The end screen of one listener: what they judged."""
    table = store().judgements(plan.name)
    mine = table[table["listener"] == who]
    st.success(f"Done: you judged all {len(plan.queries)} queries of **{aw.esc(plan.name)}**. Thank you!")
    if plan.mode == "blind":
        counts = mine["winner"].value_counts().rename_axis("preferred").reset_index(name="votes")
    else:
        counts = mine.pivot_table(index="model", columns="verdict", values="rank", aggfunc="count",
                                  fill_value=0).reset_index()
    st.markdown("**Your judgements**")
    st.dataframe(counts, hide_index=True)
    st.caption("Results of all listeners are below; they update as others finish.")
