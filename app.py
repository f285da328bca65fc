"""Entry point (`streamlit run app.py`): multipage navigation and the Home page — which datasets,
embeddings and studies exist in artifacts/, their key scores, and what to run when something is missing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import data as ad
from ui import widgets as aw
from ui.home import KEY_SCORE_GLOSSARY, best_text

st.set_page_config(page_title="Music embedding workbench", page_icon="🎧", layout="wide")


def dataset_overview(root, datasets: list[str]) -> pd.DataFrame:
    """One row per dataset: tracks, genres, embeddings and which artifacts exist."""
    rows = []
    for name in datasets:
        ds_dir = root / name
        tracks = ad.cached_tracks(ds_dir)
        rows.append({
            "dataset": name, "tracks": len(tracks), "genres": int(tracks["genre"].replace("", pd.NA).nunique()),
            "artists": ad.has_artists(tracks), "embeddings": ", ".join(ad.list_embeddings(ds_dir)) or "—",
            "metrics.json": (ds_dir / "metrics.json").is_file(), "queries.csv": (ds_dir / "queries.csv").is_file(),
            "recon study": (ds_dir / "recon" / "index.json").is_file(),
        })
    return pd.DataFrame(rows)


def embeddings_table(ds_dir, models: list[str]) -> pd.DataFrame:
    """Each embedding's family, size, pooling, checkpoint and date (from its sidecar)."""
    rows = []
    for m in models:
        side = ad.read_sidecar(ds_dir, m)
        rows.append({"embedding": m, "family": ad.family_of(ds_dir, m), "dim": str(side.get("dim", "")),
                     "pooling": side.get("pooling", ""), "checkpoint": side.get("checkpoint", ""),
                     "date": side.get("date", "")})
    return pd.DataFrame(rows)


def key_scores(name: str, ds_dir, models: list[str]) -> None:
    """metrics.json's scores: same-artist candidates excluded first (the headline) where the catalog has
    artists, then all candidates; the missing-artifact message when there is no evaluation."""
    metrics = ad.cached_json(ds_dir / "metrics.json")
    settings = ad.metric_settings(metrics)
    if not settings:
        if models:
            aw.show_missing("evaluate", name)
        return
    split = metrics.get("split", "?")
    best = ad.best_embedding(metrics)
    for setting in settings:
        table = ad.metrics_table(metrics, setting)
        if len(table):
            st.markdown(f"**Key scores, {ad.SETTING_TITLES[setting]}** (metrics.json; queries: split "
                        f"`{split}`, mean [95% bootstrap CI], chance row last)")
            st.dataframe(table, hide_index=True, width="stretch")
    st.caption(KEY_SCORE_GLOSSARY)
    if best:
        st.caption(best_text(metrics, settings[0], best))


def dataset_details(root, name: str, expanded: bool) -> None:
    """One dataset's embeddings, key scores and what to run next."""
    ds_dir = root / name
    with st.expander(f"**{aw.esc(name)}**", expanded=expanded):
        models = ad.list_embeddings(ds_dir)
        if not models:
            aw.show_missing("embeddings", name)
        else:
            st.markdown("**Embeddings**")
            st.dataframe(embeddings_table(ds_dir, models), hide_index=True, width="stretch")
        key_scores(name, ds_dir, models)
        if not (ds_dir / "recon" / "index.json").is_file():
            st.caption(f"No latent-size study yet: `{ad.command_for('recon', name)}`")
        report = ds_dir / "report.md"
        if report.is_file():
            st.markdown(f"Evaluation report: `{report}`")


LINKS_PER_ROW = 3


def home() -> None:
    """The overview page: datasets, embeddings, key scores, what to run when something is missing."""
    st.title(":material/headphones: Music embedding workbench")
    st.caption("Listen to what each embedding recommends, compare models blind, keep notes. "
               f"Artifacts folder: `{ad.artifacts_root()}`")
    links = PAGES[1:]
    for start in range(0, len(links), LINKS_PER_ROW):  # rows of a few links: each label fits whole
        for col, page in zip(st.columns(LINKS_PER_ROW), links[start:start + LINKS_PER_ROW]):
            with col:
                st.page_link(page)
    root = ad.artifacts_root()
    datasets = ad.list_datasets(root)
    if not datasets:
        aw.show_missing("demo")
        return
    st.subheader("Datasets")
    st.dataframe(dataset_overview(root, datasets), hide_index=True, width="stretch")
    for name in datasets:
        dataset_details(root, name, expanded=len(datasets) == 1)


PAGES = [
    st.Page(home, title="Home", icon=":material/headphones:", default=True),
    st.Page("pages/1_Listen_and_compare.py", title="Listen & compare", icon=":material/queue_music:",
            url_path="Listen_and_compare"),
    st.Page("pages/2_Blind_mode.py", title="Blind mode", icon=":material/visibility_off:", url_path="Blind_mode"),
    st.Page("pages/3_Notes_and_hit_counts.py", title="Notes & hit counts", icon=":material/edit_note:",
            url_path="Notes_and_hit_counts"),
    st.Page("pages/4_Latent_map.py", title="Latent map", icon=":material/scatter_plot:", url_path="Latent_map"),
    st.Page("pages/5_Reconstructions.py", title="Reconstructions", icon=":material/graphic_eq:",
            url_path="Reconstructions"),
    st.Page("pages/6_Text_search.py", title="Text search", icon=":material/manage_search:", url_path="Text_search"),
    st.Page("pages/7_Genre_tagger.py", title="Genre tagger", icon=":material/label:", url_path="Genre_tagger"),
    st.Page("pages/8_Search_by_excerpt.py", title="Search by excerpt", icon=":material/manage_search:",
            url_path="Search_by_excerpt"),
    st.Page("pages/9_Sessions.py", title="Sessions", icon=":material/groups:", url_path="Sessions"),
]
st.navigation(PAGES).run()
