"""Entry point (`streamlit run app.py`): multipage navigation and the Home page — which datasets,
embeddings and studies exist in artifacts/, their key scores, and what to run when something is missing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import data as ad
from ui import widgets as aw

st.set_page_config(page_title="Music embedding workbench", page_icon="🎧", layout="wide")


def home() -> None:
    """The overview page: datasets, embeddings, key scores, what to run when something is missing."""
    st.title(":material/headphones: Music embedding workbench")
    st.caption("Listen to what each embedding recommends, compare models blind, keep notes. "
               f"Artifacts folder: `{ad.artifacts_root()}`")

    cols = st.columns(len(PAGES) - 1)
    for col, page in zip(cols, PAGES[1:]):
        with col:
            st.page_link(page)

    root = ad.artifacts_root()
    datasets = ad.list_datasets(root)
    if not datasets:
        aw.show_missing("demo")
        return

    overview = []
    for name in datasets:
        ds_dir = root / name
        tracks = ad.cached_tracks(ds_dir)
        models = ad.list_embeddings(ds_dir)
        overview.append({
            "dataset": name,
            "tracks": len(tracks),
            "genres": int(tracks["genre"].replace("", pd.NA).nunique()),
            "embeddings": ", ".join(models) or "—",
            "metrics.json": (ds_dir / "metrics.json").is_file(),
            "queries.csv": (ds_dir / "queries.csv").is_file(),
            "recon study": (ds_dir / "recon" / "index.json").is_file(),
        })
    st.subheader("Datasets")
    st.dataframe(pd.DataFrame(overview), hide_index=True, width="stretch")

    for name in datasets:
        ds_dir = root / name
        with st.expander(f"**{name}**", expanded=len(datasets) == 1):
            models = ad.list_embeddings(ds_dir)
            if not models:
                aw.show_missing("embeddings", name)
            else:
                rows = []
                for m in models:
                    side = ad.read_sidecar(ds_dir, m)
                    rows.append({"embedding": m, "dim": str(side.get("dim", "")), "pooling": side.get("pooling", ""),
                                 "checkpoint": side.get("checkpoint", ""), "date": side.get("date", "")})
                st.markdown("**Embeddings**")
                st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
            metrics = ad.cached_json(ds_dir / "metrics.json")
            table = ad.metrics_table(metrics)
            if len(table):
                split = metrics.get("split", "?") if isinstance(metrics, dict) else "?"
                st.markdown(f"**Key scores** (metrics.json; queries: split `{split}`, mean [95% bootstrap CI])")
                st.dataframe(table, hide_index=True, width="stretch")
            elif models:
                aw.show_missing("evaluate", name)
            if not (ds_dir / "recon" / "index.json").is_file():
                st.caption(f"No latent-size study yet: `{ad.command_for('recon', name)}`")
            report = ds_dir / "report.md"
            if report.is_file():
                st.markdown(f"Evaluation report: `{report}`")


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
    st.Page("pages/8_Search_by_excerpt.py", title="Search by excerpt", icon=":material/manage_search:",
            url_path="Search_by_excerpt"),
]
st.navigation(PAGES).run()
