"""Small Streamlit helpers shared by the pages: dataset and query pickers, listener name, players,
missing-artifact messages and labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from ui.audio import cached_audio, resolve_audio
from ui.data import (
    COMMANDS,
    artifacts_root,
    cached_queries,
    cached_tracks,
    handpicked_rows,
    list_datasets,
    list_embeddings,
    missing_text,
    model_label,
    notes_db_path,
    search_tracks,
)
from ui.playback import one_player_at_a_time, play_fair

LISTEN_EXCERPT_S = 30.0  # what the listening pages play of a track when loudness matching is on
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")


def esc(text: object) -> str:
    """A user- or dataset-provided string made inert for st.markdown (links, emphasis, colour and
    icon directives, LaTeX, HTML): every Markdown punctuation character is backslash-escaped and
    line breaks become spaces."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def notes_store():
    """The notes store of the current artifacts root (created on first use)."""
    from core.listening.notes import NotesStore

    return NotesStore.open(notes_db_path())


def store_write(write: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Run one notes-store write; a busy database (NotesBusy) becomes an error on the page, not a traceback."""
    from core.listening.notes import NotesBusy

    try:
        write(*args, **kwargs)
    except NotesBusy as exc:
        st.error(f"Not saved: {exc}", icon=":material/error:")
        return False
    return True


def show_missing(kind: str, ds: str = "<dataset>") -> None:
    """Render a clear 'missing artifact' message with the command that creates it."""
    st.warning(missing_text(kind, ds), icon=":material/warning:")


RUN_HINT = "workbench run --root <your music folder> --out {out}"  # builds every artifact a collection supports


def missing_for(ds: str, what: str, command: str, root: Path, run_flag: str = "") -> None:
    """The message of a dataset that lacks a page's artifacts: what is missing, the command that builds it, and
    the `workbench run` that builds everything (with `run_flag` when the step is off by default)."""
    run = RUN_HINT.format(out=root / ds) + (f" {run_flag}" if run_flag else "")
    st.warning(f"**{ds}** has no {what} yet. Build it with:\n\n```\n{command.format(ds=ds)}\n```\n\nor build "
               f"everything this collection supports with:\n\n```\n{run}\n```", icon=":material/warning:")


def pick_dataset_with(names: list[str], what: str, command: str, key: str,
                      run_flag: str = "") -> tuple[str, Path] | None:
    """Sidebar picker among every prepared dataset; (name, folder) when the chosen one holds the system's
    artifacts (`names`), else None after a message naming what is missing (`what`) and the command that makes it
    (`command`, formatted with `ds`). A dataset without the artifacts is never silently swapped for another."""
    one_player_at_a_time()
    root = artifacts_root()
    every = list_datasets(root)
    if not every:
        ds_hint = "demo"
        st.warning(f"No {what} in any dataset. Create one with:\n\n```\n{command.format(ds=ds_hint)}\n```",
                   icon=":material/warning:")
        return None
    default = st.session_state.get("dataset")
    first = default if default in every else (names[0] if names else every[0])
    ds = st.sidebar.selectbox("Dataset", every, index=every.index(first), key=key)
    st.session_state["dataset"] = ds
    if ds not in names:
        missing_for(ds, what, command, root, run_flag)
        return None
    return ds, root / ds


def pick_dataset(key: str, need: str = "embeddings") -> tuple[str, Path] | None:
    """Sidebar dataset picker; shows the missing message and returns None when the chosen dataset lacks what
    the page needs."""
    one_player_at_a_time()
    root = artifacts_root()
    names = list_datasets(root)
    if not names:
        show_missing("demo")
        return None
    default = st.session_state.get("dataset")
    index = names.index(default) if default in names else 0
    name = st.sidebar.selectbox("Dataset", names, index=index, key=key)
    st.session_state["dataset"] = name
    if need == "embeddings" and not list_embeddings(root / name):
        missing_for(name, "embeddings (embeddings/*.npy)", COMMANDS["embeddings"], root)
        return None
    return name, root / name


def listener_name() -> str | None:
    """The listener's name, asked once per browser session (None until given)."""
    name = st.session_state.get("listener_name", "")
    if name:
        st.sidebar.caption(f"Listener: **{esc(name)}**")
        return name
    with st.form("listener_form"):
        st.markdown("**Who is listening?** Your name is stored with your notes and votes.")
        given = st.text_input("Listener name", key="listener_input")
        if st.form_submit_button("Start listening") and given.strip():
            st.session_state["listener_name"] = given.strip()[:80]
            st.rerun()
    return None


def listening_session(key: str) -> tuple[str, Path, str]:
    """Dataset and listener name for a listening page; stops the page until both are chosen."""
    picked = pick_dataset(key)
    if picked is None:
        st.stop()
    listener = listener_name()
    if listener is None:
        st.stop()
    st.sidebar.toggle("Loudness-matched playback", key="loudness_match",
                      help="Play every track's first 30 s at -23 LUFS (ITU-R BS.1770), so level does not decide.")
    return picked[0], picked[1], listener


def play(source: str | Path, ds_dir: Path | None = None, label: str = "") -> None:
    """An audio player for a catalog path (resolved against `ds_dir`) or a file path; a short message
    instead if the file is gone or cannot be played."""
    if ds_dir is not None and st.session_state.get("loudness_match"):
        play_fair(str(source), ds_dir, LISTEN_EXCERPT_S, 0.0, True, label)
        return
    resolved = resolve_audio(ds_dir, str(source)) if ds_dir is not None else Path(source)
    if resolved is None or not resolved.is_file():
        st.caption(f"audio file not found{': ' + esc(label) if label else ''}")
        return
    try:
        data, mime = cached_audio(resolved)
    except Exception as exc:
        st.caption(f"cannot play this file ({esc(exc)})")
        return
    st.audio(data, format=mime)


def dataset_models(key: str) -> tuple[str, Path, pd.DataFrame, list[str]]:
    """Dataset picker with its tracks and embeddings (the shared preamble of the analysis pages);
    stops the page with the missing-artifact message when there is none."""
    picked = pick_dataset(key)
    if picked is None:
        st.stop()
    ds, ds_dir = picked
    return ds, ds_dir, cached_tracks(ds_dir), list_embeddings(ds_dir)


def pick_model(label: str, models: list[str], ds_dir: Path, key: str, index: int = 0) -> str:
    """Sidebar picker of one embedding, each labelled with its family."""
    return st.sidebar.selectbox(label, models, index=index, key=key, format_func=lambda m: model_label(ds_dir, m))


def track_label(tracks: pd.DataFrame, row: int) -> str:
    """'title — artist (genre)' of a track row for pickers."""
    t = tracks.iloc[int(row)]
    artist = f" — {t['artist']}" if t["artist"] else ""
    genre = f" ({t['genre']})" if t["genre"] else ""
    return f"{t['title']}{artist}{genre}"


def random_query(state_key: str, n: int, search_key: str) -> None:
    """Button callback: jump to a random track and clear the search box."""
    st.session_state[state_key] = int(np.random.default_rng().integers(n))
    st.session_state[search_key] = ""


def pick_query(tracks: pd.DataFrame, ds_dir: Path, prefix: str) -> int:
    """Query picker: search by title/artist/genre, handpicked queries, or a random track; returns a row."""
    key, search_key = f"{prefix}_query", f"{prefix}_search"
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")  # the button's label fits at 1024 px too
    text = c1.text_input("Search title / artist / genre", key=search_key,
                         placeholder="e.g. calm acoustic")
    c2.button("Random query", icon=":material/casino:", key=f"{prefix}_random", on_click=random_query,
              args=(key, len(tracks), search_key), width="stretch")
    if text.strip():
        options = search_tracks(tracks, text).tolist()
        if not options:
            st.info(f"No track matches '{text}'.")
    else:
        options = handpicked_rows(tracks, cached_queries(ds_dir)).tolist() or list(range(min(200, len(tracks))))
    current = st.session_state.get(key)
    if current is not None and (not isinstance(current, int) or not 0 <= current < len(tracks)):
        current = None
        st.session_state.pop(key, None)
    last_key = f"{prefix}_last_search"
    if text.strip() and options and st.session_state.get(last_key) != text and current not in options:
        current = options[0]  # a new search selects its first match
        st.session_state[key] = current
    st.session_state[last_key] = text
    if current is not None and current not in options:
        options = [current, *options]
    if not options:
        options = [0] if current is None else [current]
    row = st.selectbox("Query", options, key=key, format_func=lambda r: track_label(tracks, r))
    return int(row)


def meta_line(*parts: object) -> str:
    """Non-empty parts (a track's artist, genre, score ...) escaped and joined with ' · '; '' if all are empty."""
    return " · ".join(esc(p) for p in parts if p is not None and str(p).strip() != "")


def tags_text(tags: object) -> str:
    """A catalog's 'a|b|c' tags as 'a, b, c' (escaped), '' when there are none."""
    return esc(", ".join(t for t in str(tags or "").split("|") if t.strip()))
