"""Blind mode: two models' lists as "A" and "B" in random order; vote, then see who was who."""

from __future__ import annotations

import random

import streamlit as st

from ui import data as ad
from ui import widgets as aw

st.set_page_config(page_title="Blind mode", page_icon="🙈", layout="wide")
st.title(":material/visibility_off: Blind mode")
st.caption("Two recommendation lists for the same query, model names hidden. Listen, vote for the "
           "list that fits the query better (or 'same'); the names are revealed after your vote.")

ds, ds_dir, listener = aw.listening_session("blind_dataset")

tracks = ad.cached_tracks(ds_dir)
models_all = ad.list_embeddings(ds_dir)
if len(models_all) < 2:
    st.warning("Blind mode needs two embeddings of this dataset; only "
               f"{', '.join(models_all) or 'none'} found.")
    aw.show_missing("embeddings", ds)
    st.stop()
k = st.sidebar.slider("K", 1, 20, 5, key="blind_k")
m1 = st.sidebar.selectbox("Model 1", models_all, index=0, key="blind_m1")
others = [m for m in models_all if m != m1]
m2 = st.sidebar.selectbox("Model 2", others, index=0, key="blind_m2")

row = aw.pick_query(tracks, ds_dir, "blind")
query = tracks.iloc[row]
qid = str(query["track_id"])

# The hidden assignment is drawn once per (dataset, query, model pair, K) and kept in the session.
trial = (ds, qid, tuple(sorted((m1, m2))), k)
if st.session_state.get("blind_trial") != trial:
    pair = [m1, m2]
    random.shuffle(pair)
    st.session_state["blind_trial"] = trial
    st.session_state["blind_assign"] = {"A": pair[0], "B": pair[1]}
    st.session_state["blind_voted"] = None
assign = st.session_state["blind_assign"]
voted = st.session_state.get("blind_voted")

with st.container(border=True):
    st.markdown(f"### Query: {query['title']}  \n{aw.meta_line(query['artist'], query['genre'])}")
    aw.play(ds_dir, query["path"], query["title"])

cols = st.columns(2)
for col, side in zip(cols, ("A", "B")):
    with col:
        title = f"List {side}" + (f" — {assign[side]}" if voted else "")
        st.subheader(title)
        rows, scores = ad.cached_top_k(ds_dir, assign[side], row, k)
        for rank, (r, s) in enumerate(zip(rows, scores), start=1):
            rec = tracks.iloc[int(r)]
            with st.container(border=True):
                extra = f"cos {s:.3f}" if voted else ""
                st.markdown(f"**{rank}. {rec['title']}**  \n{aw.meta_line(rec['artist'], extra)}")
                aw.play(ds_dir, rec["path"], rec["title"])

if voted is None:
    with st.form(f"vote|{ds}|{qid}|{k}"):
        choice = st.radio("Which list fits the query better?", ["A", "B", "same"], horizontal=True,
                          index=None, key="blind_choice")
        if st.form_submit_button("Vote"):
            if choice is None:
                st.warning("Pick A, B or same first.")
            else:
                aw.notes_store().add_vote(listener, ds, qid, k, assign["A"], assign["B"], choice)
                st.session_state["blind_voted"] = choice
                st.rerun()
else:
    winner = {"A": assign["A"], "B": assign["B"], "same": "neither (same)"}[voted]
    st.success(f"Vote stored: **{voted}**. List A was **{assign['A']}**, list B was **{assign['B']}** "
               f"— you preferred {winner}.")
    st.button("Next random query", icon=":material/casino:", on_click=aw.random_query,
              args=("blind_query", len(tracks), "blind_search"))
