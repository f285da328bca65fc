"""Search by excerpt: cut an excerpt of a catalog track (or upload a file) -> the index's top-K with players,
the rank of the true track and the search latency."""

from __future__ import annotations

import streamlit as st

from ui import data as ad
from ui import retrieval as ar
from ui import widgets as aw
from ui.audio import resolve_audio, wav_bytes
from ui.upload import UPLOAD_TYPES, cached_check_upload, max_upload_mib, upload_file

st.set_page_config(page_title="Search by excerpt", page_icon="🔎", layout="wide")
st.title(":material/manage_search: Search by excerpt")
st.caption("Find this track: a few seconds of audio, embedded by the contrastively trained embedder, "
           "searched in the dataset's ANN index.")

root = ad.artifacts_root()
picked = aw.pick_dataset_with(ar.retrieval_datasets(root), "trained retrieval embedder (embeddings/retrieval_*.npy)",
                              ar.COMMAND, "sbe_dataset")
if picked is None:
    st.stop()
ds, ds_dir = picked
embedding = st.sidebar.selectbox("Embedding", ar.retrieval_embeddings(ds_dir), key="sbe_embedding")
kinds = ar.index_kinds(ds_dir, embedding)
if not kinds:
    st.warning(f"No index for {embedding}. Create it with:\n\n```\n{ar.COMMAND.format(ds=ds)}\n```")
    st.stop()
kind = st.sidebar.selectbox("Index", kinds, index=kinds.index("hnsw") if "hnsw" in kinds else 0, key="sbe_index")
k = st.sidebar.slider("K", 1, 20, 5, key="sbe_k")

try:
    encoder = ar.cached_encoder(ds_dir, embedding)
    index = ar.cached_index(ds_dir, embedding, kind)
except Exception as exc:  # a broken artifact must not take the page down
    st.error(f"Cannot load {embedding} / {kind}: {exc}. Re-run `{ar.COMMAND.format(ds=ds)}`.")
    st.stop()

tracks = ad.cached_tracks(ds_dir)
sr = ar.sample_rate(ds_dir)
mode = st.radio("Query", ["Excerpt of a catalog track", "Upload a file"], horizontal=True, key="sbe_mode")
audio, true_row = None, None
if mode == "Excerpt of a catalog track":
    true_row = aw.pick_query(tracks, ds_dir, "sbe")
    t = tracks.iloc[true_row]
    dur = float(t["duration_s"]) if t["duration_s"] == t["duration_s"] else 10.0
    c1, c2, c3 = st.columns(3)
    length = c1.slider("Excerpt length (s)", 1.0, max(1.0, min(15.0, dur)), min(5.0, dur), 0.5, key="sbe_len")
    # the Start slider's range does not depend on the length, so changing the length keeps the chosen start
    start = c2.slider("Start (s)", 0.0, max(0.0, dur - 1.0), 0.0, 0.5, key="sbe_start")
    if start > dur - length:
        start = max(0.0, dur - length)
        c2.caption(f"Starts at {start:g} s so the excerpt fits in the track.")
    snr = c3.select_slider("Added noise (SNR dB)", ["none", 30, 20, 10, 5], "none", key="sbe_snr")
    path = resolve_audio(ds_dir, t["path"])
    if path is None:
        st.error(f"Audio file of {aw.esc(t['track_id'])} not found ({aw.esc(t['path'])}).")
        st.stop()
    try:
        audio = ar.excerpt(path, start, length, sr)
    except Exception as exc:
        st.error(f"Cannot decode {aw.esc(path.name)}: {aw.esc(exc)}")
        st.stop()
    if snr != "none":
        audio = ar.add_noise(audio, float(snr))
else:
    up = st.file_uploader("Audio file", type=UPLOAD_TYPES, key="sbe_upload", max_upload_size=max_upload_mib())
    if up is None:
        st.info("Upload a few seconds of music.")
        st.stop()
    data = up.getvalue()
    check = cached_check_upload(up.name, data, ds_dir)  # the same checks as Reconstructions
    if not check.ok:
        st.error(aw.esc(check.message))
        st.stop()
    with upload_file(up.name, data) as upload_path:
        audio = ar.excerpt(upload_path, 0.0, 30.0, sr)

st.markdown("**Query audio**")
st.audio(wav_bytes(audio, sr), format="audio/wav")
try:
    res = ar.search_excerpt(encoder, index, audio, k, true_row)
except Exception as exc:
    st.error(f"Search failed: {exc}")
    st.stop()
m1, m2, m3 = st.columns(3)
m1.metric("Rank of the true track", "—" if res.true_rank is None else f"{res.true_rank} / {len(tracks)}")
m2.metric("Embedding time", f"{res.embed_ms:.1f} ms")
m3.metric(f"Search time ({kind})", f"{res.search_ms:.2f} ms")
st.subheader(f"Top {k}")
for rank, (row, score) in enumerate(zip(res.rows, res.scores), 1):
    t = tracks.iloc[int(row)]
    hit = " :material/check_circle: true track" if true_row is not None and int(row) == true_row else ""
    with st.container(border=True):
        st.markdown(f"**{rank}. {aw.esc(t['title'])}**{hit}  \n"
                    f"{aw.meta_line(t['artist'], t['genre'], f'score {score:.3f}', t['track_id'])}")
        aw.play(t["path"], ds_dir, t["title"])
