"""Reconstructions: clips at each latent size (original, oracle, reconstruction) with spectrograms,
the metric-vs-size plot, interpolations and generated audio; encode an uploaded file."""

from __future__ import annotations

import math

import pandas as pd
import plotly.express as px
import streamlit as st

from ui import audio as aa
from ui import data as ad
from ui import mushra as um
from ui import recon as ri
from ui import upload as au
from ui import widgets as aw

st.set_page_config(page_title="Reconstructions", page_icon="🔊", layout="wide")
st.title(":material/graphic_eq: Reconstructions")

root = ad.artifacts_root()
names = [n for n in ad.list_datasets(root) if (root / n / "recon" / "index.json").is_file()]
picked = aw.pick_dataset_with(names, "latent-size study (recon/index.json)", ad.COMMANDS["recon"], "recon_dataset",
                              run_flag="--latent")
if picked is None:
    st.stop()
ds, ds_dir = picked
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
    sel = study.selection
    where = ("chosen on validation segments, figures on test segments" if sel is not None and not sel.fallback
             else "chosen on the test segments its figures are measured on")
    st.markdown(f"Sizes studied: {', '.join(map(study.size_label, study.sizes))} — **chosen size: {study.chosen}** "
                f"({where}). {study.rule}")
    if sel is None:
        st.warning("This study chose its size on the same test segments its figures are measured on; run "
                   "`train.latent_sizes` again to choose on validation segments.")
    elif sel.fallback:
        st.warning(f"Selected on {aw.esc(sel.selected_on)}: {aw.esc(sel.text)}.")
    if study.rule_met is False:
        st.warning("No size kept rhythm, harmony and spectrum within the stated margins of the oracle; the chosen "
                   "size comes from the fallback rule.")
    if study.loss:
        st.caption(f"Training loss: {study.loss}.")
um.listening_note(ds, study)  # the MUSHRA result beside the metric rule, once there is one

tab_clips, tab_metrics, tab_gen, tab_upload, tab_mushra = st.tabs(
    ["Clips by latent size", "Metric vs size", "Interpolation & generation", "Upload", "Listening test (MUSHRA)"])
with tab_mushra:
    um.mushra_tab(ds, ds_dir, study)

with tab_clips:
    if not study.clips:
        st.info("The study lists no clips.")
    else:
        labels = [c.label for c in study.clips]
        ci = st.selectbox("Clip", range(len(labels)), format_func=lambda i: labels[i], key="recon_clip")
        clip = study.clips[ci]
        sizes = sorted(clip.recon) or study.sizes
        default = study.chosen if study.chosen in sizes else sizes[-1]
        size = st.select_slider("Latent size", options=sizes, value=default, key="recon_size",
                                format_func=study.size_label) if len(sizes) > 1 else sizes[0]
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
                aw.play(audio)
                spectrogram(png, audio, f"{ci}|{tag}")
        rows = {k: v for k, v in (("oracle", clip.metrics.get("oracle")), (f"z = {size}", clip.metrics.get(str(size))))
                if v}
        if rows:
            st.dataframe(pd.DataFrame(rows).T, width="stretch")

def metric_figure(table: pd.DataFrame, metric: str):
    """Metric vs latent size on a log-2 x axis; the oracle as a dashed line, the chosen size as a marker
    trace (never an annotation at x = size, which a log axis reads as 10^size)."""
    info = study.metric_info.get(metric, {})
    label = f"{metric} {info.get('unit', '')}".strip()
    table = table.assign(ci95=pd.to_numeric(pd.Series([study.ci95.get(str(int(z)), {}).get(metric)
                                                      for z in table["size"]], dtype=float)))
    kinds = study.sizes_table.set_index("size")["kind"] if len(study.sizes_table) else None
    if kinds is not None:
        table = table.assign(kind=[kinds.get(int(z), "") for z in table["size"]])
    fig = px.line(table, x="size", y=metric, markers=True, log_x=True, error_y="ci95",
                  color="kind" if kinds is not None else None,
                  title=f"{metric} vs latent size (mean over test segments, 95 % CI)", labels={metric: label})
    if metric in study.oracle:
        o_ci = study.ci95.get("oracle", {}).get(metric)
        fig.add_hline(y=study.oracle[metric], line_dash="dash", annotation_text="oracle (Griffin-Lim only)"
                      + (f" ± {o_ci:.3g}" if o_ci is not None else ""))
    sizes = [float(v) for v in table["size"] if v > 0]
    if study.chosen is not None and study.chosen in set(table["size"]):
        y = float(table.loc[table["size"] == study.chosen, metric].iloc[0])
        fig.add_scatter(x=[study.chosen], y=[y], mode="markers+text", text=[f"chosen z={study.chosen}"],
                        textposition="top center", marker={"size": 14, "symbol": "star"}, name="chosen size")
    if sizes:
        lo, hi = math.log10(min(sizes)), math.log10(max(sizes))
        pad = max(0.1, 0.08 * (hi - lo))
        fig.update_xaxes(range=[lo - pad, hi + pad], tickvals=sorted(set(sizes)),
                         ticktext=[str(int(v)) for v in sorted(set(sizes))], title="latent size z (log scale)")
    return fig


with tab_metrics:
    table = study.metrics
    if len(table) == 0:
        st.info("The study has no metric table.")
    else:
        metric_cols = [c for c in table.columns if c not in ("size", "kind")]
        metric = st.selectbox("Metric", metric_cols, key="recon_metric")
        st.plotly_chart(metric_figure(table, metric), key="recon_metric_plot")
        um.metric_tab_scores(ds, study)
        if study.metric_info.get(metric, {}).get("desc"):
            st.caption(study.metric_info[metric]["desc"])
        st.dataframe(table, hide_index=True)
        st.caption("Every figure here is measured on the test segments.")
        if study.selection is not None and len(study.selection.table):
            with st.expander("Validation table (what the size rule read)"):
                st.caption(aw.esc(study.selection.text))
                st.dataframe(study.selection.table, hide_index=True)
        if len(study.sizes_table):
            st.markdown("**Latent sizes** (floats per segment and the bit rate they imply, to read beside audio "
                        "codecs)")
            st.dataframe(study.sizes_table, hide_index=True)

with tab_gen:
    if not study.extras:
        st.info("The study has no interpolation or generated audio.")
    for section, items in study.extras.items():
        st.subheader(section)
        cols = st.columns(min(4, max(1, len(items))))
        for i, (label, wav, png) in enumerate(items):
            with cols[i % len(cols)]:
                st.caption(label)
                aw.play(wav)
                if png is not None:
                    st.image(str(png), width="stretch")


def mel_image(mel, key: str) -> None:
    """A log-mel (dB) array as an image: seconds, 80 dB below the peak, a colour bar."""
    from ui.spectrogram import spectrogram_figure

    st.plotly_chart(spectrogram_figure(mel, aa.audio_config(ds_dir)), key=key)


def encode_with_progress(name: str, data: bytes, size: int):
    """The upload's encoding; the first time, inside an st.status box with the steps as a progress bar."""
    stamp_ = ad.stamp(ds_dir / "recon" / "index.json")
    if au.is_cached_encode(ds_dir, size, name, data, stamp_):
        return au.cached_encode_upload(ds_dir, size, name, data, stamp_)
    with st.status(f"Encoding {aw.esc(name)} with the z = {size} model ...", expanded=True) as box:
        bar = st.progress(0.1, text="loading the model and decoding the file")
        try:
            result = au.cached_encode_upload(ds_dir, size, name, data, stamp_)
        except Exception:
            box.update(label="Encoding failed", state="error")
            raise
        bar.progress(1.0, text="encoded, reconstructed (Griffin-Lim) and compared")
        box.update(label=f"Encoded {aw.esc(name)}", state="complete", expanded=False)
    au.mark_encoded(ds_dir, size, name, data, stamp_)
    return result


def show_upload_result(result, name: str, data: bytes, size: int) -> None:
    """Original / oracle / reconstruction players with spectrograms, metrics with units, nearest tracks."""
    padded = " — padded, shorter than one segment" if result.padded else ""
    panes = [("Your file (first segment)", result.original_wav, result.mel),
             ("Oracle (true mel → Griffin-Lim)", result.oracle_wav, result.mel),
             (f"Reconstruction (z = {size}){padded}", result.recon_wav, result.recon_mel)]
    for col, (title, wav, mel) in zip(st.columns(3), panes):
        with col:
            st.markdown(f"**{title}**")
            if wav is not None:
                st.audio(wav, format="audio/wav")
            if mel is not None:
                mel_image(mel, f"upload|{title}")
    if result.metrics:
        st.markdown("**Metrics** (reconstruction vs the oracle on the same audio; lower is better)")
        st.dataframe(au.metrics_frame(result, study.metric_info), hide_index=True)
    tracks = ad.cached_tracks(ds_dir)
    pos = {t: i for i, t in enumerate(tracks["track_id"])}
    st.markdown("**Nearest dataset tracks** (cosine distance in the latent space)")
    for nb in result.neighbours.to_dict("records"):
        st.markdown(f"{nb.get('rank', '')}. `{str(nb.get('track_id')).replace('`', '')}` · "
                    f"{aw.esc(nb.get('genre', ''))} · distance {float(nb.get('distance', float('nan'))):.3f}")
        if str(nb.get("track_id")) in pos:
            t = tracks.iloc[pos[str(nb.get("track_id"))]]
            aw.play(t["path"], ds_dir, t["title"])


with tab_upload:
    st.markdown(f"Encode your own audio (at most {au.max_upload_mib()} MiB; {', '.join(au.UPLOAD_TYPES)}): "
                "its first segment is encoded with the chosen latent size's model, reconstructed, and its "
                "nearest dataset tracks are listed. The file is deleted as soon as it is decoded.")
    sizes = study.sizes or [0]
    usize = st.selectbox("Latent size", sizes, index=sizes.index(study.chosen) if study.chosen in sizes else 0,
                         key="upload_size")
    up = st.file_uploader("Audio file", key="upload_file", max_upload_size=au.max_upload_mib())
    if up is not None:
        data = up.getvalue()
        check = au.cached_check_upload(up.name, data, ds_dir)
        if not check.ok:
            st.error(aw.esc(check.message))
        else:
            st.success(aw.esc(check.message))
            try:
                show_upload_result(encode_with_progress(up.name, data, int(usize)), up.name, data, int(usize))
            except Exception as exc:  # the user gets the reason, not a traceback
                st.error(f"Could not encode the file: {aw.esc(exc)}")
