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
               f"{aw.esc(', '.join(models_all)) or 'none'} found.")
    aw.show_missing("embeddings", ds)
    st.stop()
k = st.sidebar.slider("K", 1, 20, 5, key="blind_k")
m1 = aw.pick_model("Model 1", models_all, ds_dir, "blind_m1")
others = [m for m in models_all if m != m1]
m2 = aw.pick_model("Model 2", others, ds_dir, "blind_m2")

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
    st.markdown(f"### Query: {aw.esc(query['title'])}  \n{aw.meta_line(query['artist'], query['genre'])}")
    aw.play(query["path"], ds_dir, query["title"])

cols = st.columns(2)
for col, side in zip(cols, ("A", "B")):
    with col:
        st.subheader(f"List {side}" + (f" — {assign[side]}" if voted else ""))  # model names are file stems
        if voted:
            st.caption(ad.family_of(ds_dir, assign[side]))
        rows, scores = ad.cached_top_k(ds_dir, assign[side], row, k)
        for rank, (r, s) in enumerate(zip(rows, scores), start=1):
            rec = tracks.iloc[int(r)]
            with st.container(border=True):
                meta = aw.meta_line(rec["artist"], f"cos {s:.3f}" if voted else "")
                st.markdown(f"**{rank}. {aw.esc(rec['title'])}**" + (f"  \n{meta}" if meta else ""))
                aw.play(rec["path"], ds_dir, rec["title"])

if voted is None:
    with st.form(f"vote|{ds}|{qid}|{k}"):
        choice = st.radio("Which list fits the query better?", ["A", "B", "same"], horizontal=True,
                          index=None, key="blind_choice")
        if st.form_submit_button("Vote"):
            if choice is None:
                st.warning("Pick A, B or same first.")
            else:
                if aw.store_write(aw.notes_store().add_vote, listener, ds, qid, k, assign["A"], assign["B"], choice):
                    st.session_state["blind_voted"] = choice
                    st.rerun()
else:
    label = {side: aw.esc(ad.model_label(ds_dir, assign[side])) for side in ("A", "B")}
    winner = {"A": label["A"], "B": label["B"], "same": "neither (same)"}[voted]
    st.success(f"Vote stored: **{voted}**. List A was **{label['A']}**, list B was **{label['B']}** "
               f"— you preferred {winner}.")
    st.button("Next random query", icon=":material/casino:", on_click=aw.random_query,
              args=("blind_query", len(tracks), "blind_search"))
