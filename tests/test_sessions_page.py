"""The Sessions page under AppTest on real demo audio: plan a session in the page, join, one query per screen
with "n of N", a missing verdict refused, resume in a new browser session, the summary and the results."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.listening.sessions import SessionPlan, SessionStore
from tests.helpers.sessions import SESSION_MODELS, make_session_dataset
from ui.data import ENV_VAR

REPO = Path(__file__).resolve().parents[1]
PAGE = str(REPO / "pages" / "9_Sessions.py")


@pytest.fixture
def art(tmp_path, monkeypatch) -> Path:
    make_session_dataset(tmp_path, n_tracks=8)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    return tmp_path


def page(listener: str | None = None, session: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if listener:
        at.query_params["listener"] = listener
    if session:
        at.query_params["session"] = session
    return at.run()


def all_text(at: AppTest) -> str:
    kinds = ("markdown", "caption", "success", "info", "warning", "error")
    return "\n".join(str(e.value) for k in kinds for e in getattr(at, k))


def test_plan_in_page_then_join_and_vote(art):
    at = page()
    assert "No session for this dataset yet" in all_text(at)
    at.text_input[0].input("class-a")
    mode = next(r for r in at.radio if r.label == "Mode")
    mode.set_value("blind")
    at.number_input[2].set_value(3)  # number of queries
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, at.exception
    plan = SessionStore.open(art / "notes.sqlite").plan("class-a")
    assert (plan.mode, len(plan.queries), plan.models) == ("blind", 3, SESSION_MODELS)
    at.text_input(key="session_listener_input").input("ann")
    next(b for b in at.button if b.label == "Join session").click().run()
    assert "Query 1 of 3" in at.get("progress")[0].proto.text
    save = next(b for b in at.button if b.label == "Save and next")
    save.click().run()
    assert "Pick A, B or same first." in all_text(at)
    vote = next(r for r in at.radio if r.label.startswith("Which list"))
    vote.set_value("A")
    next(b for b in at.button if b.label == "Save and next").click().run()
    assert "Query 2 of 3" in at.get("progress")[0].proto.text
    assert len(SessionStore.open(art / "notes.sqlite").judgements("class-a")) == 1


def test_open_session_resumes_and_ends_on_summary(art):
    store = SessionStore.open(art / "notes.sqlite")
    ids = pd.read_csv(art / "demo" / "catalog.csv", dtype=str)["track_id"].tolist()[:2]
    store.create(SessionPlan("lab", "demo", SESSION_MODELS[:2], 1, "open", tuple(ids), excerpt_s=4.0))
    at = page("bob", "lab")
    assert "Query 1 of 2" in at.get("progress")[0].proto.text
    radios = [r for r in at.radio if r.key and r.key.startswith("sv|")]
    assert len(radios) == 2
    radios[0].set_value("relevant")
    next(b for b in at.button if b.label == "Save and next").click().run()
    assert "1 of 2 tracks have no verdict yet" in all_text(at)
    at = page("bob", "lab")  # a reload: nothing saved yet for this query, still query 1
    for r in [r for r in at.radio if r.key and r.key.startswith("sv|")]:
        r.set_value("not relevant")
    next(b for b in at.button if b.label == "Save and next").click().run()
    at = page("bob", "lab")  # a reload resumes at query 2
    assert "Query 2 of 2" in at.get("progress")[0].proto.text
    for r in [r for r in at.radio if r.key and r.key.startswith("sv|")]:
        r.set_value("relevant")
    next(b for b in at.button if b.label == "Save and next").click().run()
    assert not at.exception
    text = all_text(at)
    assert "Done: you judged all 2 queries" in text and "Relevance per model" in text
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download judgements (CSV)", "Download summary (Markdown)"]
    assert len(store.judgements("lab")) == 4


def test_listen_page_plays_loudness_matched_excerpts_when_asked(art):
    import json

    from core.listening.loudness import gains_path

    at = AppTest.from_file(str(REPO / "pages" / "1_Listen_and_compare.py"), default_timeout=120)
    at.session_state["listener_name"] = "ann"
    at.run()
    assert not at.exception and at.toggle(key="loudness_match").value is False
    assert not gains_path(art / "demo").exists()  # off by default outside sessions
    at.toggle(key="loudness_match").set_value(True).run()
    assert not at.exception
    gains = json.loads(gains_path(art / "demo").read_text())
    # every player of the page (query + 5 per model) went through the matched 30-s excerpt
    assert len(gains) >= 1 + 5 and all(k.endswith("|30|0.0|-23") for k in gains)
    assert len(at.get("audio")) >= 1 + 5 * 3
