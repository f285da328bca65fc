"""Text search: describe the music in words and hear the tracks whose projected audio is closest; for a
chosen track, the captions closest to it; the model and its test figures."""

from __future__ import annotations

import streamlit as st

from ui import data as ad
from ui import text as ut
from ui import text_general
from ui import widgets as aw

st.set_page_config(page_title="Text search", page_icon="🔎", layout="wide")
st.title(":material/manage_search: Text search")
st.caption("A frozen text encoder embeds your words; a projection trained on (clip, caption) pairs put every "
           "track's audio embedding into the same space; the closest tracks are listed by cosine.")

root = ad.artifacts_root()
picked = aw.pick_dataset_with(ut.text_datasets(root), "text-search model (clap/metrics.json with a trained "
                              "projection, or the embedding of a general model)", ut.TRAIN_COMMAND, "ts_dataset")
if picked is None:
    st.stop()
ds, ds_dir = picked
runs = ut.search_runs(ds_dir)
general = [ut.GENERAL_PREFIX + g for g in ut.general_for(root, ds)]
run = st.sidebar.selectbox("Model", [*runs, *general], key="ts_run",
                           help="general: trained on the captions and tags of other datasets, usable on any "
                           "dataset with the same audio embedding")
k = st.sidebar.slider("K (tracks)", 1, 20, 5, key="ts_k")
if run.startswith(ut.GENERAL_PREFIX):
    text_general.render(root, run.removeprefix(ut.GENERAL_PREFIX), ds, ds_dir, ad.cached_tracks(ds_dir), k)
    st.stop()
try:
    index = ut.cached_index(ds_dir, run)
    tracks = ad.cached_tracks(ds_dir)
    encoder = ut.cached_text_encoder(index.entry["text_encoder"])
except Exception as exc:  # a broken artifact or encoder must not take the page down
    st.error(f"Cannot load text-search model {run!r}: {exc}")
    st.stop()

if len(index.audio) != len(tracks):  # the dataset was prepared again after this model was trained
    st.error(f"Model {run!r} has {len(index.audio)} tracks but the dataset now has {len(tracks)}; retrain it with "
             f"`{ut.TRAIN_COMMAND.format(ds=ds)} --audio-encoder {index.entry['audio_encoder']}`.")
    st.stop()
entry = index.entry
with st.expander(f"Model: `{run}` — audio `{entry['audio_encoder']}` → {entry['head']} → text "
                 f"`{entry['text_encoder']}`", expanded=False):
    st.markdown(f"Trained {entry['fit']['epochs']} epochs (best {entry['fit']['best_epoch']}), temperature "
                f"{entry['temperature']:.3f}. Scores in %, mean [95 % bootstrap CI]; chance = random ranking.")
    figures = ut.run_figures(entry)
    st.dataframe(figures, hide_index=True, width="stretch")
    if len(figures) and (figures["candidates"].astype(int) <= 10).any():  # R@10 of 10 or fewer candidates is 100 %
        st.warning("Some rows rank 10 or fewer candidates, where R@10 is 100 % by construction (chance is "
                   "100 % too): read R@1, mAP@10 and the median rank there instead.", icon=":material/warning:")
    if entry.get("captions", {}).get("template_captions"):
        st.caption("This dataset's captions are template captions made from its mood/style labels.")

query = st.text_input("Describe the music", key="ts_text", max_chars=encoder.max_chars,
                      placeholder="slow acoustic guitar with soft female vocals")
encoded = ut.encode_query(encoder, query)
if encoded.vector is None:
    st.info(encoded.message)
else:
    if encoded.truncated:
        st.warning(encoded.message)
    rows, scores = index.search(encoded.vector, k)
    calibrated, verdict = index.judge(encoded.vector, rows)
    st.subheader(f"Top {len(rows)} for “{aw.esc(query.strip()[:80])}”")
    text_general.show_verdict(verdict)
    for rank, (r, s, c) in enumerate(zip(rows, scores, calibrated), start=1):
        rec = tracks.iloc[int(r)]
        caps = index.captions_of(int(r))
        with st.container(border=True):
            line = aw.meta_line(f"cos {s:.3f}", text_general.fits_line(c), rec["genre"], rec["split"])
            st.markdown(f"**{rank}. {aw.esc(rec['title'])}**  \n{line}"
                        f"  \n*{aw.esc((caps[0] if caps else rec['tags'].replace('|', ', ') or '—')[:300])}*")
            aw.play(rec["path"], ds_dir, rec["title"])

st.divider()
st.subheader("Nearest captions of a track")
row = aw.pick_query(tracks, ds_dir, "ts_track")
chosen = tracks.iloc[row]
c1, c2 = st.columns([2, 3])
with c1:
    st.markdown(f"**{aw.esc(chosen['title'])}**  \n{aw.meta_line(chosen['genre'], chosen['split'])}")
    aw.play(chosen["path"], ds_dir, chosen["title"])
with c2:
    st.dataframe(index.nearest_captions(row, 5), hide_index=True, width="stretch")
