"""Listen & compare: a query track beside each model's top-K, with verdicts and a note."""

from __future__ import annotations

import streamlit as st

from ui import data as ad
from ui import widgets as aw

st.set_page_config(page_title="Listen & compare", page_icon="🎵", layout="wide")
st.title(":material/queue_music: Listen & compare")

LABELS = {"relevant": "relevant", "not relevant": "not_relevant", "unsure": "unsure"}
CODES = {v: k for k, v in LABELS.items()}

ds, ds_dir, listener = aw.listening_session("listen_dataset")

tracks = ad.cached_tracks(ds_dir)
models_all = ad.list_embeddings(ds_dir)
k = st.sidebar.slider("K (recommendations per model)", 1, 20, 5, key="listen_k")
best = ad.best_embedding(ad.cached_json(ds_dir / "metrics.json"))
default = models_all[: min(3, len(models_all))]
if best in models_all and best not in default:  # the Home page's best model is always among the defaults
    default = [*default[:2], best]
models = st.sidebar.multiselect("Models to compare", models_all, default=default, key="listen_models",
                                format_func=lambda m: ad.model_label(ds_dir, m))
if best:
    st.sidebar.caption(f"Best by the Home page's headline score: **{aw.esc(best)}**")
if not models:
    st.info("Choose at least one model in the sidebar.")
    st.stop()

row = aw.pick_query(tracks, ds_dir, "listen")
query = tracks.iloc[row]
qid = str(query["track_id"])
store = aw.notes_store()


def save_verdict(key: str, model: str, rec_id: str, rank: int, score: float) -> None:
    """Widget callback: store the listener's verdict on one recommendation."""
    label = st.session_state.get(key)
    if label is None:
        return
    if aw.store_write(store.set_verdict, listener, ds, qid, model, rec_id, rank, LABELS[label], score=score, k=k):
        st.toast(f"Saved: {label}")


def recommendation(model: str, rank: int, r: int, s: float, saved: dict) -> None:
    """One recommended track: title, artist · genre · score, tags, same-genre/artist badges, player, verdict."""
    rec = tracks.iloc[int(r)]
    rid = str(rec["track_id"])
    marks = []
    if rec["genre"] and rec["genre"] == query["genre"]:
        marks.append(":green-badge[same genre]")
    if rec["artist"] and rec["artist"] == query["artist"]:
        marks.append(":blue-badge[same artist]")
    tags = aw.tags_text(rec["tags"])
    with st.container(border=True):
        st.markdown(f"**{rank}. {aw.esc(rec['title'])}**  \n{aw.meta_line(rec['artist'], rec['genre'], f'cos {s:.3f}')}"
                    + (f"  \n*tags:* {tags}" if tags else "") + f"  \n{' · '.join(marks) or '&nbsp;'}")
        aw.play(rec["path"], ds_dir, rec["title"])
        key = f"verdict|{ds}|{qid}|{model}|{rid}"
        prior = saved.get((model, rid))
        st.radio("Verdict", list(LABELS), key=key, horizontal=True, label_visibility="collapsed",
                 index=list(LABELS).index(CODES[prior]) if prior in CODES else None,
                 on_change=save_verdict, args=(key, model, rid, rank, float(s)))


with st.container(border=True):
    c1, c2 = st.columns([2, 3])
    with c1:
        st.markdown(f"### Query: {aw.esc(query['title'])}")
        aw.play(query["path"], ds_dir, query["title"])
    with c2:
        st.markdown(f"**Artist:** {aw.esc(query['artist']) or '—'}  \n**Genre:** {aw.esc(query['genre']) or '—'}  \n"
                    f"**Tags:** {aw.tags_text(query['tags']) or '—'}  \n"
                    f"**Split:** {aw.esc(query['split'])} · **id:** `{qid.replace('`', '')}`")

saved = store.verdict_map(listener, ds, qid)
st.caption("cos: cosine similarity to the query in that model's space. Each model has its own scale (one "
           "model's 0.6 can be close, another's 0.95 far): compare the order within a list, not values across lists.")
PER_ROW = 3  # more lists side by side squeeze headings, players and cards at 1440 px
slots = [col for start in range(0, len(models), PER_ROW) for col in st.columns(PER_ROW)][:len(models)]
for col, model in zip(slots, models):
    with col:
        try:
            rows, scores = ad.cached_top_k(ds_dir, model, row, k)
        except Exception as exc:  # a broken artifact must not take the page down
            st.error(f"Cannot read embedding '{aw.esc(model)}': {aw.esc(exc)}")
            continue
        st.subheader(model)  # a file stem of embeddings/, not user text
        st.caption(ad.family_of(ds_dir, model))
        for rank, (r, s) in enumerate(zip(rows, scores), start=1):
            recommendation(model, rank, int(r), float(s), saved)

with st.form(f"note|{ds}|{qid}", clear_on_submit=False):
    note = st.text_area("Your note on this query", value=store.last_note(listener, ds, qid),
                        key=f"note_text|{ds}|{qid}", placeholder="What did the lists get right or wrong?")
    if st.form_submit_button("Save note"):
        if not note.strip():
            st.warning("The note is empty; nothing saved.")
        elif aw.store_write(store.add_note, listener, ds, qid, note):
            st.success("Note saved.")
