"""The Text search page's view of a general text-search model (trained on other datasets' captions and tags):
the query's top tracks with cosine and calibrated score, and a plain "no good match" when nothing fits."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from ui import text as ut
from ui import widgets as aw


def model_summary(model) -> None:
    """An expander: what the model was trained on and its zero-shot report."""
    info = model.info
    trained = ", ".join(Path(d).name for d in info.get("datasets", []))
    with st.expander(f"Model: general `{model.path.name}` — audio `{info['audio_encoder']}` → linear → text "
                     f"`{info['text_encoder']}`, trained on {trained}", expanded=False):
        report = model.path / "report.md"
        st.markdown(report.read_text() if report.is_file() else "No report.md beside this model.")


def show_verdict(v) -> None:
    """The good-match verdict of a query above its results: a success box, or a warning that nothing fits."""
    if v.good_match:
        st.success(v.message(), icon=":material/check_circle:")
    else:
        st.warning(v.message(), icon=":material/search_off:")


def fits_line(calibrated: float) -> str:
    """A hit's calibrated score in words."""
    return f"fits better than {calibrated * 100:.0f} % of reference descriptions"


def show_hits(result, tracks: pd.DataFrame, ds_dir: Path) -> None:
    """The verdict, then one bordered row per hit with its player, cosine and calibrated score."""
    show_verdict(result.verdict)
    for hit in result.hits.itertuples():
        rec = tracks.iloc[int(hit.row)]
        with st.container(border=True):
            line = aw.meta_line(f"cos {hit.cosine:.3f}", fits_line(hit.calibrated), rec["genre"], rec["split"])
            tags = str(rec["tags"]).replace("|", ", ")[:200]
            st.markdown(f"**{hit.rank}. {aw.esc(rec['title'])}**  \n{line}" + (f"  \n*{aw.esc(tags)}*" if tags
                                                                                else ""))
            aw.play(rec["path"], ds_dir, rec["title"])


def render(root: Path, name: str, ds: str, ds_dir: Path, tracks: pd.DataFrame, k: int) -> None:
    """The whole general-model view of the page."""
    try:
        model = ut.cached_text_model(root, name)
        model.project(ds_dir)  # the dataset's embedding, checked against its cache
    except Exception as exc:  # a broken model or a stale embedding must not take the page down
        st.error(f"Cannot search {ds} with the general model {name!r}: {exc}")
        return
    model_summary(model)
    query = st.text_input("Describe the music", key="ts_text", placeholder="sad piano with soft vocals")
    encoded = ut.encode_query(model.encoder, query)
    if encoded.vector is None:
        st.info(encoded.message)
        return
    if encoded.truncated:
        st.warning(encoded.message)
    result = model.query(ds_dir, query.strip(), k, vector=encoded.vector)
    st.subheader(f"Top {len(result.hits)} for “{aw.esc(query.strip()[:80])}”")
    show_hits(result, tracks, ds_dir)
