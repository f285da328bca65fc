"""Genre tagger: per-window genre probabilities over time for a dataset track or an uploaded file, the
track-level prediction beside the true label, the model's report and confusion matrix, and a lyrics box."""

from __future__ import annotations

import streamlit as st

from ui import data as ad
from ui import tagger as tg
from ui import upload as au
from ui import widgets as aw

st.set_page_config(page_title="Genre tagger", page_icon="🏷️", layout="wide")
st.title(":material/label: Genre tagger")
st.caption("A small spectrogram CNN over 4-s windows (2-s hop) trained with an asymmetric focal loss; a track's "
           "prediction is the mean of its window probabilities.")

root = ad.artifacts_root()
names = [n for n in ad.list_datasets(root) if tg.has_tagger(root / n)]
run = None
picked = aw.pick_dataset_with(names, "trained tagger (tagger/metrics.json)", tg.TAGGER_COMMAND, "tagger_dataset")
if picked is not None:
    ds = picked[0]
    run = tg.cached_tagger_run(root / ds)
    if run is None:
        st.error(f"{root / ds / 'tagger'} could not be read; re-run `{tg.TAGGER_COMMAND.format(ds=ds)}`.")
    else:  # the classes are whatever the catalog's label column holds (moods on the demo corpus)
        st.markdown(f"Classes of this model ({len(run.classes)}, from the catalog's "
                    f"`{aw.esc(run.metrics.get('target', 'genre'))}` column): "
                    f"**{aw.esc(', '.join(run.classes))}**")

tab_track, tab_upload, tab_report, tab_lyrics = st.tabs(["Track", "Upload", "Model report", "Lyrics"])


def show_prediction(probs, starts, title: str, truth: str | None) -> None:
    """The window plot and the track-level prediction beside the true label."""
    import pandas as pd

    classes = run.classes
    frame = probs if isinstance(probs, pd.DataFrame) else pd.DataFrame(probs, columns=[f"p_{c}" for c in classes])
    st.plotly_chart(tg.window_figure(frame, starts, classes, title, run.metrics["window"]["window_s"]),
                    key=f"win|{title}")
    mean = frame[[f"p_{c}" for c in classes]].mean(axis=0).to_numpy()
    top = int(mean.argmax())
    c1, c2, c3 = st.columns(3)
    # the probability is part of the value, not a metric delta (a delta draws an up/down arrow)
    c1.metric("Predicted (mean of windows)", f"{classes[top]} (p = {mean[top]:.2f})")
    c2.metric("True label", truth or "—")
    if truth:
        c3.metric("Correct?", "yes" if classes[top] in truth.split("|") else "no")
    st.caption(f"{len(frame)} windows of {run.metrics['window']['window_s']:.1f} s every "
               f"{run.metrics['window']['hop_s']:.1f} s")


with tab_track:
    if run is not None:
        tracks = ad.cached_tracks(root / ds)
        rows = [int(r) for r in run.tracks["row"] if r < len(tracks)]
        split = st.radio("Tracks", ["all", "train", "val", "test"], horizontal=True, key="tagger_split")
        if split != "all":
            rows = [r for r in rows if run.tracks.loc[r, "split"] == split]
        if not rows:
            st.info(f"No {split} tracks.")
        else:
            row = st.selectbox("Track", rows, key="tagger_track", format_func=lambda r: aw.track_label(tracks, r))
            t = run.tracks.loc[row]
            aw.play(tracks.iloc[row].get("path", ""), root / ds, str(t["track_id"]))
            win = run.windows[run.windows["row"] == row]
            show_prediction(win[[f"p_{c}" for c in run.classes]], win["start_s"], f"{t['track_id']} ({t['split']})",
                            str(t["true"]) or None)

with tab_upload:
    if run is not None:
        st.markdown(f"Tag your own audio (at most {au.max_upload_mib()} MiB; {', '.join(au.UPLOAD_TYPES)}) "
                    f"with the model trained on **{aw.esc(ds)}**.")
        up = st.file_uploader("Audio file", key="tagger_upload", max_upload_size=au.max_upload_mib())
        if up is not None:
            data = up.getvalue()
            check = au.cached_check_upload(up.name, data, root / ds)  # the same checks as Reconstructions
            (st.success if check.ok else st.error)(aw.esc(check.message))
            if check.ok:
                st.audio(data)  # hear what is being tagged
                try:
                    with st.spinner("Tagging the upload ..."), au.upload_file(up.name, data) as path:
                        pred = tg.predict_upload(run, path)
                    show_prediction(pred.window_probs, pred.starts_s, up.name, None)
                    if pred.padded:
                        st.caption("The file is shorter than one window; it was padded.")
                except Exception as exc:  # a bad upload never crashes the page
                    st.error(f"'{aw.esc(up.name)}' could not be tagged: {aw.esc(exc)}")

with tab_report:
    if run is not None:
        m = run.metrics
        st.markdown(f"Run **{m['run']}**: target `{m['target']}`, loss `{m['loss']}`, {len(run.classes)} classes; "
                    f"labelled tracks train {m['split_sizes']['train']} / val {m['split_sizes']['val']} / test "
                    f"{m['split_sizes']['test']}. Mean [95% bootstrap CI over tracks].")
        for set_name, ev in m.get("evaluations", {}).items():
            st.markdown(f"**{set_name}** ({ev['n_tracks']} tracks)")
            if ev["n_tracks"]:
                st.dataframe(tg.methods_frame(ev, m["multi_label"]), hide_index=True, width="stretch")
        if m.get("cross_validation"):
            cv = m["cross_validation"]
            st.markdown(f"**Grouped-by-artist cross-validation** ({cv['n_folds']} folds, {cv['n_tracks']} tracks)")
            st.caption(cv["note"])
            st.dataframe(tg.methods_frame(cv, m["multi_label"]), hide_index=True, width="stretch")
        c1, c2 = st.columns(2)
        with c1:
            st.markdown(f"**Confusion matrix** ({m['eval_split']} split)")
            if run.confusion_png is not None:
                st.image(str(run.confusion_png))
            if run.confusion is not None:
                st.dataframe(run.confusion, width="stretch")
        with c2:
            st.markdown("**Classification report**")
            st.code(run.class_report or "(none)", language=None)

with tab_lyrics:
    lm = tg.lyrics_metrics(root)
    if lm is None:
        st.warning("No lyrics model (lyrics/lyrics_model.json) in the artifacts folder. Create one with:\n\n"
                   f"```\n{tg.LYRICS_COMMAND}\n```", icon=":material/warning:")
    else:
        e = lm["eval"]
        st.caption(f"{e['model']}: macro-F1 {e['macro_f1']:.3f} vs majority {e['majority_macro_f1']:.3f} on "
                   f"{e['n']} songs ({e['set']}).")
        text = st.text_area("Lyrics", key="tagger_lyrics", height=160, placeholder="Paste lyrics here")
        if st.button("Predict genre", key="tagger_lyrics_go"):
            if not text.strip():
                st.info("Type or paste some lyrics first.")
            else:
                try:
                    with st.spinner("Encoding the lyrics ..."):
                        table = tg.predict_lyrics(root, text)
                    best = table.loc[0]
                    st.success(f"Predicted genre: **{aw.esc(best['genre'])}** (p = {best['probability']:.2f})")
                    st.dataframe(table, hide_index=True)
                except Exception as exc:
                    st.error(f"The lyrics model could not be applied: {exc}")
