"""Listening tests end to end in a real browser.

A session: `python -m train.session create` plans a blind session of 10 queries x 3 models, two listeners join
on the Sessions page and vote, one reloads midway and resumes, both end on the summary and the CSV is downloaded;
Fleiss' kappa and the sign tests are checked against values computed by hand from the votes cast; at most one
<audio> element plays at any moment. MUSHRA: two raters rate both clips of a latent-size study on
Reconstructions, one of them rating the hidden reference low; the post-screening leaves them out."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections import Counter
from math import comb
from pathlib import Path

import pytest

from core.listening.results import session_results
from core.listening.sessions import SessionStore
from tests.helpers.processes import stop_process
from tests.helpers.sessions import make_session_dataset
from tests.test_browser_e2e import CHROMIUM, CHROMIUM_ARGS, start_app

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing")
PLAYING = "Array.from(document.querySelectorAll('audio')).filter(a => !a.paused).length"


def sign_p(wins: int, n: int) -> float:
    """Two-sided exact binomial p at 1/2, by hand: 2 * P(X >= max(wins, n - wins)), at most 1."""
    k = max(wins, n - wins)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k, n + 1)) / 2 ** n) if n else 1.0


def settle(page) -> None:
    """Wait until the app's script run has finished (no 'running' indicator)."""
    page.wait_for_function("document.querySelector('[data-testid=stApp]')"
                           "?.getAttribute('data-test-script-state') === 'notRunning'")


def vote_all(page, store, listener: str, prefer_second: set[int], stop_after: int | None = None) -> None:
    """Judge the listener's queries in their order: the plan pair's first model wins, except at the plan
    positions in `prefer_second`; the sides shown come from the listener's stored assignment."""
    from playwright.sync_api import expect

    plan = store.plan("lab")
    assignment = store.join("lab", listener)
    done = store.progress(assignment).done  # a resumed listener goes on where they stopped
    for n, qid in enumerate(assignment.order[done:stop_after], start=done + 1):
        expect(page.get_by_text(f"Query {n} of 10")).to_be_visible()
        pair = plan.pair_for(qid)
        winner = pair[1] if plan.queries.index(qid) in prefer_second else pair[0]
        side = "A" if assignment.sides[qid][0] == winner else "B"
        settle(page)
        group = page.get_by_role("radiogroup", name="Which list fits the query better?")
        group.get_by_text(side, exact=True).click()
        expect(group.get_by_role("radio", name=side, exact=True)).to_be_checked()
        page.get_by_role("button", name="Save and next").click()


def check_one_player(page) -> None:
    """Start the first two players one after the other: the first must pause, only one sounds."""
    page.wait_for_function("document.querySelectorAll('audio').length >= 3")
    page.evaluate("document.querySelectorAll('audio')[0].play()")
    page.wait_for_function(f"{PLAYING} === 1")
    page.evaluate("document.querySelectorAll('audio')[2].play()")
    page.wait_for_function("!document.querySelectorAll('audio')[2].paused")
    page.wait_for_timeout(300)
    assert page.evaluate(PLAYING) == 1
    assert page.evaluate("document.querySelectorAll('audio')[0].paused")
    assert page.evaluate("document.querySelectorAll('audio')[2].duration") == pytest.approx(4.0, abs=0.05)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A small dataset of real demo tracks with a latent-size study, a planned blind session, the app serving it."""
    from tests.helpers.app import demo_audio_files, make_recon

    root = tmp_path_factory.mktemp("sessions_e2e")
    ds = make_session_dataset(root, n_tracks=14)
    make_recon(ds, demo_audio_files()[:2])
    r = subprocess.run([sys.executable, "-m", "train.session", "create", "--data", str(ds), "--db",
                        str(root / "notes.sqlite"), "--name", "lab", "--mode", "blind", "--stratified", "10", "--k",
                        "1", "--excerpt", "4"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    proc, url = start_app(root, root / "streamlit.log")
    try:
        yield url, root
    finally:
        stop_process(proc)


def browser_page(p, downloads: bool = False):
    browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
    context = browser.new_context(accept_downloads=downloads, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return browser, page


def test_two_listeners_session(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    url, root = served
    store = SessionStore.open(root / "notes.sqlite")
    with sync_playwright() as p:
        browser, page = browser_page(p, downloads=True)
        try:
            page.goto(f"{url}/Sessions?session=lab")
            page.get_by_role("textbox", name="Your name").fill("ann")
            page.get_by_role("button", name="Join session").click()
            settle(page)
            check_one_player(page)
            vote_all(page, store, "ann", set(), stop_after=4)
            expect(page.get_by_text("Query 5 of 10")).to_be_visible()
            page.reload()  # resume: the URL keeps session and listener
            vote_all(page, store, "ann", set())
            expect(page.get_by_text("Done: you judged all 10 queries")).to_be_visible()
            page.goto(f"{url}/Sessions?session=lab&listener=bob")
            vote_all(page, store, "bob", {8, 9})
            expect(page.get_by_text("Done: you judged all 10 queries")).to_be_visible()
            with page.expect_download() as dl:
                page.get_by_role("button", name="Download judgements (CSV)").click()
            dl.value.save_as(str(tmp_path / "lab.csv"))
            page.screenshot(path=str(tmp_path / "session.png"), full_page=True)
        finally:
            browser.close()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "lab.csv").read_text(encoding="utf-8"))))
    assert Counter(r["listener"] for r in rows) == {"ann": 10, "bob": 10}
    plan = store.plan("lab")
    res = session_results(store.judgements("lab"))
    # Fleiss' kappa by hand: 2 raters, 10 items; they agree on 8 (P_i = 1) and differ on 2 (P_i = 0)
    winners = Counter(r["winner"] for r in rows)
    p_e = sum((c / 20) ** 2 for c in winners.values())
    kappa = (8 / 10 - p_e) / (1 - p_e)
    assert res.agreement.set_index("judgement").loc["blind preference", "fleiss_kappa"] == pytest.approx(kappa)
    for pr in res.preference.itertuples():
        idx = [i for i, q in enumerate(plan.queries) if tuple(sorted(plan.pair_for(q))) == (pr.model_1, pr.model_2)]
        first_wins = 2 * len(idx) - sum(i in (8, 9) for i in idx)
        w1 = first_wins if plan.pair_for(plan.queries[idx[0]])[0] == pr.model_1 else 2 * len(idx) - first_wins
        assert (pr.wins_1, pr.wins_1 + pr.wins_2) == (w1, 2 * len(idx))
        assert pr.p_value == pytest.approx(sign_p(w1, 2 * len(idx)))


def rate_clips(page, root, who: str, reference_score: str) -> None:
    """Rate every clip on screen: the hidden reference moved to 100 ('End') or left at 50, the rest left at 50."""
    from playwright.sync_api import expect

    from core.listening import mushra as mu
    from ui.recon import load_recon_study

    study = load_recon_study(root / "demo")
    names = mu.conditions(study.sizes)
    order = mu.clip_order("demo/recon", who, [c.label for c in study.clips])
    for n, label in enumerate(order, start=1):
        expect(page.get_by_text(f"Trial {n} of 2")).to_be_visible()
        settle(page)
        sample = mu.trial_order("demo/recon", who, label, names).index(mu.REFERENCE) + 1
        if reference_score == "End":
            page.get_by_role("slider", name=f"Sample {sample} (0 bad - 100 excellent)").press("End")
        page.get_by_role("button", name="Save and next").click()


def test_mushra_with_post_screening(served):
    from playwright.sync_api import expect, sync_playwright

    from core.listening import mushra as mu

    expect.set_options(timeout=30_000)
    url, root = served
    with sync_playwright() as p:
        browser, page = browser_page(p)
        try:
            for who, ref in (("cy", "End"), ("dee", "stay")):
                page.goto(f"{url}/Reconstructions")
                page.get_by_role("tab", name="Listening test (MUSHRA)").click()
                page.get_by_role("textbox", name="Your name (for the listening test)").fill(who)
                page.get_by_role("button", name="Start the test").click()
                page.get_by_role("tab", name="Listening test (MUSHRA)").click()
                rate_clips(page, root, who, ref)
                expect(page.get_by_text("Done: you rated all 2 clips")).to_be_visible()
                page.goto("about:blank")  # the next page load is a new app session: the next rater
            page.goto(f"{url}/Reconstructions")
            expect(page.get_by_text("Listening test (MUSHRA, 1 listener(s) kept")).to_be_visible()
        finally:
            browser.close()
    ratings = mu.MushraStore.open(root / "notes.sqlite").ratings("demo/recon")
    res = mu.mushra_results(ratings)
    assert dict(zip(res.screening["listener"], res.screening["kept"])) == {"cy": True, "dee": False}
    ref = ratings[(ratings["listener"] == "cy") & (ratings["condition"] == "reference")]["score"]
    assert ref.tolist() == [100, 100]
