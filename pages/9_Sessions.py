"""Sessions: plan a listening session, join it as a listener, judge one query per screen, resume later, and
read the results of all listeners."""

from __future__ import annotations

import streamlit as st

from ui import data as ad
from ui import sessions as us
from ui import widgets as aw

st.set_page_config(page_title="Sessions", page_icon="🎧", layout="wide")
st.title(":material/groups: Listening sessions")
st.caption("A session fixes the queries, models, K and mode; every listener gets the queries in their own "
           "random order (and, blind, their own A/B sides), one query per screen, and can stop and resume "
           "with the same name. Playback is fair: one player at a time, same-length excerpts, matched loudness.")

picked = aw.pick_dataset("session_dataset")
if picked is None:
    st.stop()
ds, ds_dir = picked
tracks = ad.cached_tracks(ds_dir)
models_all = ad.list_embeddings(ds_dir)
store = us.store()
sessions = store.sessions(ds)["name"].tolist()

with st.expander("Plan a new session", expanded=not sessions, icon=":material/add:"):
    created = us.create_form(ds, ds_dir, tracks, models_all)
    if created:
        st.query_params["session"] = created
        sessions = [created, *sessions]
if not sessions:
    st.info("No session for this dataset yet: plan one above, or from a terminal with "
            f"`python -m train.session create --data {ad.artifacts_root() / ds}`.")
    st.stop()

wanted = st.query_params.get("session")
name = st.sidebar.selectbox("Session", sessions, index=sessions.index(wanted) if wanted in sessions else 0,
                            key="session_name")
st.query_params["session"] = name
plan = store.plan(name)
st.markdown(f"**{aw.esc(plan.name)}**: {len(plan.queries)} queries, models {aw.esc(', '.join(plan.models))}, "
            f"K = {plan.k}, {plan.mode} mode, excerpts of {plan.excerpt_s:g} s")
matched = st.sidebar.toggle("Loudness-matched playback", value=plan.loudness_match, key=f"session_loud|{name}",
                            help="Every excerpt is played at -23 LUFS (ITU-R BS.1770), so level does not decide.")

who = us.join_form(name)
finished = who is None
if who is not None:
    assignment = store.join(name, who)
    st.sidebar.caption(f"Listener: **{aw.esc(who)}**")
    st.sidebar.button("Switch listener", icon=":material/logout:", on_click=us.leave)
    progress = store.progress(assignment)
    finished = progress.finished
    if finished:
        us.listener_summary(plan, who)
    else:
        us.query_screen(plan, assignment, progress, tracks, ds_dir, matched)
us.results_section(plan, expanded=finished)
