"""The Reconstructions page's MUSHRA listening test: one screen per clip rating the hidden reference, the 3.5-kHz
low anchor, the Griffin-Lim oracle and every latent size 0-100, the post-screened results with 95 % CIs beside the
metric-vs-size curve, their downloads, and one sentence the 'chosen size' text can cite."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import soundfile as sf
import streamlit as st

from core.listening import mushra as mu
from ui import data as ad
from ui import widgets as aw
from ui.audio import wav_bytes


def store() -> mu.MushraStore:
    return mu.MushraStore.open(ad.notes_db_path())


def study_name(ds: str) -> str:
    """Ratings are kept per dataset's study."""
    return f"{ds}/recon"


@st.cache_data(max_entries=64, show_spinner=False)
def _anchor_cached(path: str, file_stamp: tuple) -> bytes:
    """WAV bytes of the low anchor of a clip (its own sample rate)."""
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    return wav_bytes(mu.low_anchor(audio.mean(axis=1), sr), sr)


def condition_audio(clip, condition: str) -> bytes | Path | None:
    """What a condition plays: the original, its low-passed anchor, the oracle or a size's reconstruction."""
    if condition == mu.REFERENCE:
        return clip.original
    if condition == mu.ANCHOR:
        return _anchor_cached(str(clip.original), ad.stamp(clip.original)) if clip.original else None
    if condition == mu.ORACLE:
        return clip.oracle
    return clip.recon.get(int(condition[1:]))


def play_bytes_or_path(source: bytes | Path | None) -> None:
    if source is None:
        st.caption("not in this study")
    elif isinstance(source, bytes):
        st.audio(source, format="audio/wav")
    else:
        aw.play(source)


def listener() -> str | None:
    """The rater's name (shared with the listening pages), asked once."""
    name = st.session_state.get("listener_name", "")
    if name:
        return name
    with st.form("mushra_listener"):
        given = st.text_input("Your name (for the listening test)", key="mushra_name")
        if st.form_submit_button("Start the test") and given.strip():
            st.session_state["listener_name"] = given.strip()[:80]
            st.rerun()
    return None


def trial_screen(ds: str, study, clip, who: str, n: int, total: int) -> None:
    """One clip: the open reference, then every condition as 'Sample k' with a 0-100 slider, in one form."""
    names = mu.conditions(study.sizes)
    order = mu.trial_order(study_name(ds), who, clip.label, names)
    st.progress((n - 1) / total, text=f"Trial {n} of {total}: {aw.esc(clip.label)}")
    st.markdown("**Reference** (the original; rate how close each sample sounds to it)")
    aw.play(clip.original)
    with st.form(f"mushra|{ds}|{clip.label}"):
        cols = st.columns(min(4, len(order)))
        for i, cond in enumerate(order):
            with cols[i % len(cols)]:
                st.markdown(f"**Sample {i + 1}**")
                play_bytes_or_path(condition_audio(clip, cond))
                st.slider(f"Sample {i + 1} (0 bad - 100 excellent)", 0, 100, 50,
                          key=f"mushra_score|{clip.label}|{cond}")
        if st.form_submit_button("Save and next", type="primary", icon=":material/arrow_forward:"):
            scores = {c: int(st.session_state[f"mushra_score|{clip.label}|{c}"]) for c in order}
            store().rate(study_name(ds), who, clip.label, scores)
            st.rerun()


def mushra_tab(ds: str, ds_dir: Path, study) -> None:
    """The whole test: instructions, the listener's next trial or their end, then the results."""
    st.markdown("MUSHRA (ITU-R BS.1534-3): for each clip, rate every sample 0-100 against the reference. One "
                "sample is the reference itself (hidden), one is the reference low-passed at 3.5 kHz (the low "
                "anchor); the others are the Griffin-Lim oracle and the reconstruction at each latent size.")
    clips = [c for c in study.clips if c.original is not None]
    if not clips:
        st.info("The study lists no clips with an original to rate.")
        return
    who = listener()
    if who is not None:
        done = store().rated_clips(study_name(ds), who)
        order = mu.clip_order(study_name(ds), who, [c.label for c in clips])
        todo = [lab for lab in order if lab not in done]
        if todo:
            clip = next(c for c in clips if c.label == todo[0])
            trial_screen(ds, study, clip, who, len(order) - len(todo) + 1, len(order))
        else:
            st.success(f"Done: you rated all {len(order)} clips. Thank you!")
    results_section(ds, study, expanded=who is None or not todo)


def results(ds: str, study) -> tuple[pd.DataFrame, mu.MushraResults] | None:
    ratings = store().ratings(study_name(ds))
    if not len(ratings):
        return None
    return ratings, mu.mushra_results(ratings, mu.conditions(study.sizes))


def scores_figure(res: mu.MushraResults, sizes: list[int]):
    """Mean MUSHRA score with 95 % CI per latent size, with the reference, oracle and anchor as lines."""
    s = res.scores.set_index("condition")
    zs = [z for z in sorted(sizes) if mu.size_condition(z) in s.index]
    rows = s.loc[[mu.size_condition(z) for z in zs]]
    fig = go.Figure(go.Scatter(x=zs, y=rows["mean"], mode="lines+markers", name="reconstruction",
                               error_y={"type": "data", "symmetric": False, "array": rows["ci_high"] - rows["mean"],
                                        "arrayminus": rows["mean"] - rows["ci_low"]}))
    for cond, dash in ((mu.REFERENCE, "dot"), (mu.ORACLE, "dash"), (mu.ANCHOR, "dashdot")):
        if cond in s.index and pd.notna(s.loc[cond, "mean"]):
            fig.add_hline(y=float(s.loc[cond, "mean"]), line_dash=dash, annotation_text=cond)
    fig.update_xaxes(type="log", tickvals=zs, ticktext=[str(z) for z in zs], title="latent size z (log scale)")
    fig.update_layout(title="MUSHRA score vs latent size (mean, 95 % CI)", yaxis={"range": [0, 100],
                      "title": "score"}, height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def results_section(ds: str, study, expanded: bool) -> None:
    """Screening and scores tables, the score-vs-size figure and the CSV / Markdown downloads."""
    from core.listening.export import round_floats, to_csv_bytes

    got = results(ds, study)
    with st.expander("Listening-test results (all listeners)", expanded=expanded):
        if got is None:
            st.info("No ratings yet.")
            return
        ratings, res = got
        st.markdown("**Post-screening** (a listener is left out who rated the hidden reference below 90 in more "
                    "than 15 % of their trials)")
        st.dataframe(round_floats(res.screening, 3), hide_index=True)
        st.markdown("**Scores** (kept listeners; mean and 95 % t-interval over ratings)")
        st.dataframe(round_floats(res.scores, 1), hide_index=True)
        st.plotly_chart(scores_figure(res, study.sizes), key="mushra_scores")
        c1, c2 = st.columns(2)
        c1.download_button("Download ratings (CSV)", to_csv_bytes(ratings), f"mushra_{ds}.csv", "text/csv",
                           icon=":material/download:")
        c2.download_button("Download summary (Markdown)", mu.mushra_markdown(study_name(ds), res).encode(),
                           f"mushra_{ds}.md", "text/markdown", icon=":material/download:")


def listening_sentence(ds: str, study) -> str:
    """What the listening test says about the sizes ('' until someone kept by the screening has rated)."""
    got = results(ds, study)
    if got is None:
        return ""
    res = got[1]
    kept = int(res.screening["kept"].sum())
    s = res.scores.set_index("condition")
    parts = [f"{s.loc[mu.size_condition(z), 'mean']:.0f} [{s.loc[mu.size_condition(z), 'ci_low']:.0f}, "
             f"{s.loc[mu.size_condition(z), 'ci_high']:.0f}] at z = {z}" for z in sorted(study.sizes)
             if mu.size_condition(z) in s.index and s.loc[mu.size_condition(z), "n"] > 0]
    if not kept or not parts:
        return ""
    return (f"Listening test (MUSHRA, {kept} listener(s) kept, mean [95 % CI] of 100): " + "; ".join(parts)
            + f"; oracle {s.loc[mu.ORACLE, 'mean']:.0f}, hidden reference {s.loc[mu.REFERENCE, 'mean']:.0f}, "
            f"3.5-kHz anchor {s.loc[mu.ANCHOR, 'mean']:.0f}.")


def listening_note(ds: str, study) -> None:
    """The listening result under the chosen-size text, where there is one. Always one element (an empty slot
    until then), so the page's tabs keep their place, and the tab a listener is on, when the first rating lands."""
    slot = st.empty()
    text = listening_sentence(ds, study)
    if text:
        slot.markdown(text)


def metric_tab_scores(ds: str, study) -> None:
    """The MUSHRA curve beside the metric-vs-size curve, where there are ratings."""
    got = results(ds, study)
    if got is not None:
        st.plotly_chart(scores_figure(got[1], study.sizes), key="mushra_scores_metrics")
