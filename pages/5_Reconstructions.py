"""Reconstructions: clips at each latent size (original, oracle, reconstruction) with spectrograms,
the metric-vs-size plot, interpolations and generated audio; encode an uploaded file."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from ui import audio as aa
from ui import data as ad
from ui import recon as ri
from ui import upload as au
from ui import widgets as aw

st.set_page_config(page_title="Reconstructions", page_icon="🔊", layout="wide")
st.title(":material/graphic_eq: Reconstructions")

root = ad.artifacts_root()
names = [n for n in ad.list_datasets(root) if (root / n / "recon" / "index.json").is_file()]
if not names:
    aw.show_missing("recon", (ad.list_datasets(root) or ["<dataset>"])[0])
    st.stop()
default = st.session_state.get("dataset")
ds = st.sidebar.selectbox("Dataset", names, index=names.index(default) if default in names else 0,
                          key="recon_dataset")
ds_dir = root / ds
study = ri.load_recon_study(ds_dir)
if study is None:
    st.error(f"{ds_dir / 'recon' / 'index.json'} could not be read.")
    aw.show_missing("recon", ds)
    st.stop()


def spectrogram(png, audio, key: str) -> None:
    """The study's spectrogram PNG, or a log-mel image computed from the clip."""
    if png is not None:
        st.image(str(png), width="stretch")
        return
    mel = aa.cached_log_mel(audio) if audio is not None else None
    if mel is None:
        st.caption("no spectrogram")
        return
    fig = px.imshow(mel, origin="lower", aspect="auto", color_continuous_scale="magma", zmin=-80,
                    labels={"x": "frame", "y": "mel bin", "color": "dB"}, height=220)
    fig.update_layout(margin={"l": 0, "r": 0, "t": 10, "b": 0}, coloraxis_showscale=False)
    st.plotly_chart(fig, key=f"spec|{key}")


if study.chosen is not None:
    st.markdown(f"Sizes studied: {', '.join(map(str, study.sizes))} — **chosen size: {study.chosen}**. {study.rule}")

tab_clips, tab_metrics, tab_gen, tab_upload = st.tabs(
    ["Clips by latent size", "Metric vs size", "Interpolation & generation", "Upload"])

with tab_clips:
    if not study.clips:
        st.info("The study lists no clips.")
    else:
        labels = [c.label for c in study.clips]
        ci = st.selectbox("Clip", range(len(labels)), format_func=lambda i: labels[i], key="recon_clip")
        clip = study.clips[ci]
        sizes = sorted(clip.recon) or study.sizes
        default = study.chosen if study.chosen in sizes else sizes[-1]
        size = st.select_slider("Latent size", options=sizes, value=default, key="recon_size") \
            if len(sizes) > 1 else sizes[0]
        cols = st.columns(3)
        panes = [("Original", clip.original, clip.png.get("original"), "original"),
                 ("Oracle (true mel → Griffin-Lim)", clip.oracle, clip.png.get("oracle"), "oracle"),
                 (f"Reconstruction, z = {size}", clip.recon.get(size), clip.png.get(str(size)), str(size))]
        for col, (title, audio, png, tag) in zip(cols, panes):
            with col:
                st.markdown(f"**{title}**")
                if audio is None:
                    st.caption("not in this study")
                    continue
                aw.play_file(audio)
                spectrogram(png, audio, f"{ci}|{tag}")
        rows = {k: v for k, v in (("oracle", clip.metrics.get("oracle")), (f"z = {size}", clip.metrics.get(str(size))))
                if v}
        if rows:
            st.dataframe(pd.DataFrame(rows).T, width="stretch")

with tab_metrics:
    table = study.metrics
    if len(table) == 0:
        st.info("The study has no metric table.")
    else:
        metric_cols = [c for c in table.columns if c != "size"]
        metric = st.selectbox("Metric", metric_cols, key="recon_metric")
        info = study.metric_info.get(metric, {})
        fig = px.line(table, x="size", y=metric, markers=True, log_x=True,
                      title=f"{metric} vs latent size (mean over validation clips)",
                      labels={metric: f"{metric} {info.get('unit', '')}".strip()})
        if metric in study.oracle:
            fig.add_hline(y=study.oracle[metric], line_dash="dash", annotation_text="oracle (Griffin-Lim only)")
        if study.chosen is not None:
            fig.add_vline(x=study.chosen, line_dash="dot", annotation_text=f"chosen z={study.chosen}")
        st.plotly_chart(fig, key="recon_metric_plot")
        if info.get("desc"):
            st.caption(info["desc"])
        st.dataframe(table, hide_index=True)

with tab_gen:
    if not study.extras:
        st.info("The study has no interpolation or generated audio.")
    for section, items in study.extras.items():
        st.subheader(section)
        cols = st.columns(min(4, max(1, len(items))))
        for i, (label, wav, png) in enumerate(items):
            with cols[i % len(cols)]:
                st.caption(label)
                aw.play_file(wav)
                if png is not None:
                    st.image(str(png), width="stretch")

with tab_upload:
    st.markdown(f"Encode your own audio (at most {au.MAX_UPLOAD_BYTES // 2**20} MB; {', '.join(au.UPLOAD_TYPES)}): "
                "its first 5 s are encoded with the chosen latent size's model, reconstructed, and its nearest "
                "dataset tracks are listed.")
    sizes = study.sizes or [0]
    usize = st.selectbox("Latent size", sizes, index=sizes.index(study.chosen) if study.chosen in sizes else 0,
                         key="upload_size")
    up = st.file_uploader("Audio file", key="upload_file")
    if up is not None:
        check = au.cached_check_upload(up.name, up.getvalue())
        if not check.ok:
            st.error(check.message)
        else:
            st.success(check.message)
            result = None
            try:
                with st.spinner("Encoding ..."):
                    result = au.cached_encode_upload(ds_dir, usize, check.path)
            except Exception as exc:  # the user gets the reason, not a traceback
                st.error(f"Could not encode the file: {exc}")
            if result is not None:
                c1, c2 = st.columns(2)
                with c1:
                    st.markdown("**Your file**")
                    aw.play_file(check.path)
                with c2:
                    st.markdown(f"**Reconstruction (z = {usize})**" + (" — padded, shorter than 5 s"
                                                                       if result.padded else ""))
                    if result.recon_wav is not None:
                        st.audio(result.recon_wav, format="audio/wav")
                if result.metrics:
                    st.caption(", ".join(f"{k} {v:.3g}" for k, v in result.metrics.items()))
                tracks = ad.cached_tracks(ds_dir)
                pos = {t: i for i, t in enumerate(tracks["track_id"])}
                st.markdown("**Nearest dataset tracks** (cosine distance in the latent space)")
                for nb in result.neighbours.to_dict("records"):
                    st.markdown(f"{nb.get('rank', '')}. `{nb.get('track_id')}` · {nb.get('genre', '')} · "
                                f"distance {float(nb.get('distance', float('nan'))):.3f}")
                    if str(nb.get("track_id")) in pos:
                        t = tracks.iloc[pos[str(nb.get("track_id"))]]
                        aw.play(ds_dir, t["path"], t["title"])
