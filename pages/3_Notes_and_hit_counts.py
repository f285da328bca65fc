"""Notes & hit counts: every stored note, verdict and blind vote; per-model hit counts,
listener relevance rates and blind-vote wins; CSV downloads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.listening.export import round_floats, to_csv_bytes
from core.listening.stats import blind_vote_summary, relevance_rates
from ui import data as ad
from ui import widgets as aw

st.set_page_config(page_title="Notes & hit counts", page_icon="📝", layout="wide")
st.title(":material/edit_note: Notes & hit counts")

# What a reader looks for comes first, so it is in view without scrolling the table sideways at 1440 px.
NOTE_COLUMNS = ["text", "listener", "query_track_id", "dataset", "ts"]
VERDICT_COLUMNS = ["listener", "query_track_id", "model", "rank", "rec_track_id", "verdict", "score", "dataset", "ts"]
LISTENER_COLUMNS = ["model", "relevant", "not relevant", "relevance rate", "blind wins"]


def filtered_annotations(annotations: pd.DataFrame) -> pd.DataFrame:
    """The notes-and-verdicts table narrowed by the filter widgets."""
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
    return view


def annotations_section(store) -> None:
    """Notes and verdicts as two tables that fit the page, one CSV of both."""
    st.subheader("Notes and verdicts")
    annotations = store.annotations()
    if len(annotations) == 0:
        st.info("No notes or verdicts stored yet: mark recommendations on the Listen & compare page.")
    view = filtered_annotations(annotations)
    notes, verdicts = view[view["kind"] == "note"], view[view["kind"] == "verdict"]
    st.markdown(f"**Notes** ({len(notes)})")  # full width, one table above the other: no column is cut off
    st.dataframe(notes[NOTE_COLUMNS], hide_index=True, width="stretch",
                 column_config={"text": st.column_config.TextColumn("note", width="large")})
    st.markdown(f"**Verdicts** ({len(verdicts)})")
    st.dataframe(round_floats(verdicts[VERDICT_COLUMNS], 3), hide_index=True, width="stretch")
    st.download_button("Notes CSV", data=to_csv_bytes(view), file_name="notes.csv", mime="text/csv",
                       icon=":material/download:", key="dl_notes", on_click="ignore")


def votes_section(votes: pd.DataFrame) -> None:
    """Every blind vote with its CSV."""
    st.subheader("Blind votes")
    if len(votes):
        st.dataframe(votes, hide_index=True, width="stretch")
        st.download_button("Votes CSV", data=to_csv_bytes(votes), file_name="votes.csv", mime="text/csv",
                           icon=":material/download:", key="dl_votes", on_click="ignore")
    else:
        st.info("No blind votes yet: try the Blind mode page.")


def model_hits(ds_dir, m: str, query_sets: list[tuple[str, np.ndarray]], k: int) -> dict:
    """Genre (all candidates and same-artist excluded) and artist figures of one model on each query set."""
    row: dict = {"model": m, "family": ad.family_of(ds_dir, m)}
    for label, qrows in query_sets:
        if not len(qrows):
            continue
        try:
            h = ad.cached_hits(ds_dir, m, qrows, k)
        except Exception as exc:  # e.g. an embedding that no longer matches the catalog
            st.warning(f"Hit counts of '{aw.esc(m)}' failed: {aw.esc(exc)}")
            h = {}
        if f"genre_p@{k} excl. artist" in h or not h:
            row[f"genre_p@{k} excl. artist ({label})"] = h.get(f"genre_p@{k} excl. artist", np.nan)
        row[f"genre_p@{k} ({label})"] = h.get(f"genre_p@{k}", np.nan)
        hr = h.get(f"artist_hr@{k}", np.nan)
        row[f"artist_hr@{k} ({label})"] = "n/a" if not np.isfinite(hr) else hr
    return row


def listener_figures(m: str, rel: pd.DataFrame, wins: pd.Series) -> dict:
    """Verdict counts, relevance rate ('n/a' without verdicts) and blind wins of one model."""
    rate = float(rel.loc[m, "relevance_rate"]) if m in rel.index else np.nan
    return {"relevant": int(rel.loc[m, "relevant"]) if m in rel.index else 0,
            "not relevant": int(rel.loc[m, "not_relevant"]) if m in rel.index else 0,
            "relevance rate": rate if np.isfinite(rate) else "n/a", "blind wins": int(wins.get(m, 0))}


def hits_section(store, votes: pd.DataFrame) -> pd.DataFrame:
    """Per-model hit counts and listener figures of the picked dataset (two tables, one CSV)."""
    st.subheader("Hit counts per model")
    ds, ds_dir, tracks, models = aw.dataset_models("notes_dataset")
    k = st.sidebar.slider("K", 1, 50, 10, key="notes_k")
    splits = [s for s in ("test", "val", "train") if (tracks["split"] == s).any()] + ["all"]
    split = st.sidebar.selectbox("Whole-split queries", splits, key="notes_split")
    split_rows = np.arange(len(tracks)) if split == "all" else np.flatnonzero(tracks["split"].to_numpy() == split)
    hand_rows = ad.handpicked_rows(tracks, ad.cached_queries(ds_dir))
    if len(hand_rows) == 0:
        st.caption(f"No handpicked queries (queries.csv): `{ad.command_for('evaluate', ds)}`")
    rel = relevance_rates(store.read("verdicts", ds)).set_index("model")
    ds_votes = votes[votes["dataset"] == ds] if len(votes) else votes
    wins = ds_votes["winner"].value_counts() if len(ds_votes) else pd.Series(dtype=int)
    rows = [{**model_hits(ds_dir, m, [("handpicked", hand_rows), (split, split_rows)], k),
             "queries (split)": len(split_rows), **listener_figures(m, rel, wins)} for m in models]
    hits = round_floats(pd.DataFrame(rows), 3)
    show_hits(hits, ad.has_artists(tracks), k)
    st.download_button("Hit counts CSV", data=to_csv_bytes(hits), file_name=f"hit_counts_{ds}.csv",
                       mime="text/csv", icon=":material/download:", key="dl_hits", on_click="ignore")
    return ds_votes


def as_text_where_mixed(df: pd.DataFrame) -> pd.DataFrame:
    """Columns mixing numbers and 'n/a' shown as text (one type per column for the table widget)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(str)
    return out


def show_hits(hits: pd.DataFrame, artists: bool, k: int) -> None:
    """The retrieval figures and the listener figures as two tables that fit the page."""
    hits = as_text_where_mixed(hits)
    artist_note = ("genre_p@K excl. artist: the same with the query artist's other tracks removed from the "
                   "candidates (the headline where a catalog has artists). " if artists else
                   "artist_hr@K is n/a: this catalog has no artist labels. ")
    st.caption(f"genre_p@{k}: share of the top {k} with the query's genre. " + artist_note +
               f"artist_hr@{k}: share of queries with a same-artist track in the top {k}.")
    retrieval = [c for c in hits.columns if c not in LISTENER_COLUMNS[1:]]
    st.dataframe(hits[retrieval], hide_index=True, width="stretch")
    st.markdown("**Listeners**: relevance rate = relevant / (relevant + not relevant), unsure left out "
                "(n/a: no verdicts yet); blind wins = votes won on the Blind mode page.")
    st.dataframe(hits[LISTENER_COLUMNS], hide_index=True, width="stretch")


store = aw.notes_store()
votes = store.read("votes")
annotations_section(store)
votes_section(votes)
ds_votes = hits_section(store, votes)
st.subheader("Blind-vote wins (two-sided binomial sign test, ties left out)")
summary = blind_vote_summary(ds_votes)
if len(summary):
    st.dataframe(round_floats(summary, 4), hide_index=True, width="stretch")
else:
    st.caption("No blind votes for this dataset yet.")
