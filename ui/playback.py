"""Fair playback for the pages: one player sounding at a time, and loudness-matched, same-length excerpts."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.audio import audio_config, resolve_audio, wav_bytes
from ui.data import stamp

# Pauses every other <audio>/<video> of the page (and of same-origin iframes) when one starts playing. The
# listener is installed once per browser tab, in the capture phase, so players added by later reruns are covered.
ONE_PLAYER_JS = """
<script>
(function () {
  const w = window.parent && window.parent.document ? window.parent : window;
  if (w.__workbenchOnePlayer) { return; }
  w.__workbenchOnePlayer = true;
  const docs = () => {
    const out = [w.document];
    w.document.querySelectorAll("iframe").forEach((f) => {
      try { if (f.contentDocument) { out.push(f.contentDocument); } } catch (e) { /* cross-origin */ }
    });
    return out;
  };
  const onPlay = (event) => {
    docs().forEach((d) => d.querySelectorAll("audio, video").forEach((m) => {
      if (m !== event.target && !m.paused) { m.pause(); }
    }));
  };
  const hook = (d) => {
    if (!d.__workbenchHooked) { d.__workbenchHooked = true; d.addEventListener("play", onPlay, true); }
  };
  hook(w.document);
  w.setInterval(() => docs().forEach(hook), 1000);
})();
</script>
"""


def one_player_at_a_time() -> None:
    """Install the page script that lets only one player sound at a time (idempotent per tab); placed in the
    sidebar, where its empty element takes no room among the page's content. Every page that picks a dataset
    (ui.widgets) calls it."""
    st.sidebar.html(ONE_PLAYER_JS, unsafe_allow_javascript=True)


@st.cache_resource(max_entries=512, show_spinner=False)
def _fair_cached(path: str, file_stamp: tuple, ds_dir: str, length_s: float, start: str, matched: bool) -> bytes:
    """WAV bytes of a track's excerpt (gain cached per track in the dataset's listening/gains.json)."""
    from core.listening.loudness import fair_excerpt

    audio, sr, _ = fair_excerpt(Path(path), Path(ds_dir), length_s, start, matched,
                                cfg=audio_config(Path(ds_dir)))
    return wav_bytes(audio, sr)


def play_fair(source: str, ds_dir: Path, length_s: float, start: str = "representative", matched: bool = True,
              label: str = "") -> None:
    """A player of a catalog track's excerpt: `length_s` seconds from `start` ('representative' = its loudest
    part, or seconds), loudness-matched to -23 LUFS when `matched`; a short message if it cannot be played."""
    from core.audio.decode import AudioError

    resolved = resolve_audio(ds_dir, str(source))
    if resolved is None:
        st.caption(f"audio file not found{': ' + label if label else ''}")
        return
    try:
        data = _fair_cached(str(resolved), stamp(resolved), str(ds_dir), float(length_s), str(start), bool(matched))
    except (AudioError, OSError, ValueError) as exc:
        st.caption(f"cannot play this file ({exc})")
        return
    st.audio(data, format="audio/wav")
