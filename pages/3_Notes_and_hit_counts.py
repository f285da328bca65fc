"""Notes & hit counts: every stored note, verdict and blind vote; per-model hit counts,
listener relevance rates and blind-vote wins; CSV downloads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.listening.export import to_csv_bytes
from core.listening.stats import blind_vote_summary, relevance_rates
from ui import data as ad
from ui import widgets as aw

st.set_page_config(page_title="Notes & hit counts", page_icon="📝", layout="wide")
st.title(":material/edit_note: Notes & hit counts")

store = aw.notes_store()
annotations = store.annotations()
votes = store.read("votes")

st.subheader("Notes and verdicts")
if len(annotations) == 0:
    st.info("No notes or verdicts stored yet: mark recommendations on the Listen & compare page.")
f1, f2, f3, f4 = st.columns(4)
ds_f = f1.multiselect("Dataset", sorted(annotations["dataset"].unique()), key="notes_ds")
who_f = f2.multiselect("Listener", sorted(annotations["listener"].unique()), key="notes_who")
kind_f = f3.multiselect("Kind", ["note", "verdict"], key="notes_kind")
text_f = f4.text_input("Text contains", key="notes_text")
view = annotations
if ds_f:
    view = view[view["dataset"].isin(ds_f)]
if who_f:
    view = view[view["listener"].isin(who_f)]
if kind_f:
    view = view[view["kind"].isin(kind_f)]
if text_f.strip():
    view = view[view["text"].str.contains(text_f, case=False, regex=False)]
st.dataframe(view, hide_index=True, width="stretch")
st.download_button("Notes CSV", data=to_csv_bytes(view), file_name="notes.csv", mime="text/csv",
                   icon=":material/download:", key="dl_notes", on_click="ignore")

st.subheader("Blind votes")
if len(votes):
    st.dataframe(votes, hide_index=True, width="stretch")
    st.download_button("Votes CSV", data=to_csv_bytes(votes), file_name="votes.csv", mime="text/csv",
                       icon=":material/download:", key="dl_votes", on_click="ignore")
else:
    st.info("No blind votes yet: try the Blind mode page.")

st.subheader("Hit counts per model")
picked = aw.pick_dataset("notes_dataset")
if picked is None:
    st.stop()
ds, ds_dir = picked
tracks = ad.cached_tracks(ds_dir)
models = ad.list_embeddings(ds_dir)
k = st.sidebar.slider("K", 1, 50, 10, key="notes_k")
splits = [s for s in ("test", "val", "train") if (tracks["split"] == s).any()] + ["all"]
split = st.sidebar.selectbox("Whole-split queries", splits, key="notes_split")
split_rows = np.arange(len(tracks)) if split == "all" else np.flatnonzero(tracks["split"].to_numpy() == split)
hand_rows = ad.handpicked_rows(tracks, ad.cached_queries(ds_dir))
if len(hand_rows) == 0:
    st.caption(f"No handpicked queries (queries.csv): `{ad.command_for('evaluate', ds)}`")

rel = relevance_rates(store.read("verdicts", ds)).set_index("model")
ds_votes = votes[votes["dataset"] == ds] if len(votes) else votes
wins = pd.Series(dtype=int)
if len(ds_votes):
    wins = ds_votes["winner"].value_counts()
rows = []
for m in models:
    row: dict = {"model": m}
    for label, qrows in (("handpicked", hand_rows), (split, split_rows)):
        if len(qrows):
            try:
                h = ad.cached_hits(ds_dir, m, qrows, k)
            except Exception as exc:  # e.g. an embedding that no longer matches the catalog
                st.warning(f"Hit counts of '{m}' failed: {exc}")
                h = {f"genre_p@{k}": np.nan, f"artist_hr@{k}": np.nan}
            row[f"genre_p@{k} ({label})"] = h[f"genre_p@{k}"]
            row[f"artist_hr@{k} ({label})"] = h[f"artist_hr@{k}"]
    row["queries (split)"] = len(split_rows)
    row["relevant"] = int(rel.loc[m, "relevant"]) if m in rel.index else 0
    row["not relevant"] = int(rel.loc[m, "not_relevant"]) if m in rel.index else 0
    row["relevance rate"] = float(rel.loc[m, "relevance_rate"]) if m in rel.index else np.nan
    row["blind wins"] = int(wins.get(m, 0))
    rows.append(row)
hits = pd.DataFrame(rows)
st.caption("genre_p@K: share of the top K with the query's genre; artist_hr@K: share of queries with a "
           "same-artist track in the top K (NaN when the dataset has no artist labels). Relevance rate = "
           "relevant / (relevant + not relevant), unsure left out.")
st.dataframe(hits, hide_index=True, width="stretch")
st.download_button("Hit counts CSV", data=to_csv_bytes(hits), file_name=f"hit_counts_{ds}.csv",
                   mime="text/csv", icon=":material/download:", key="dl_hits", on_click="ignore")

st.subheader("Blind-vote wins (two-sided binomial sign test, ties left out)")
summary = blind_vote_summary(ds_votes)
if len(summary):
    st.dataframe(summary, hide_index=True, width="stretch")
else:
    st.caption("No blind votes for this dataset yet.")
