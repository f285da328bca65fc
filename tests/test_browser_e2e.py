"""Real-browser end-to-end test: start `streamlit run app.py` on a free loopback port and drive it
with Playwright + Debian's chromium: pick a query, see both lists, mark a verdict, write a note,
download the notes CSV and check its rows; a screenshot is saved in the test's temp dir."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.app import make_demo_artifacts
from tests.helpers.processes import free_port, stop_process
from ui.data import ENV_VAR

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing "
                                "(apt-get install -y chromium; .ci/run installs it)")


def start_app(artifacts: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Start the app in a subprocess on a free port; return it and its base URL once healthy."""
    port = free_port()
    env = {**os.environ, ENV_VAR: str(artifacts), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1"],
        # the file watcher, toolbar and upload limit come from .streamlit/config.toml, as for a user
        cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop_process(proc)
    raise RuntimeError(f"streamlit did not become healthy:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def running_app(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The app serving demo artifacts made from real audio; yields (base URL, artifacts root)."""
    root = tmp_path_factory.mktemp("e2e_artifacts")
    make_demo_artifacts(root, with_recon=False)
    proc, url = start_app(root, root / "streamlit.log")
    try:
        yield url, root
    finally:
        stop_process(proc)


def test_listen_mark_note_and_download(running_app, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, root = running_app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1500, "height": 1100})
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            page.goto(f"{url}/Listen_and_compare")
            page.get_by_label("Listener name").fill("Playwright")
            page.get_by_role("button", name="Start listening").click()
            # choose a query by searching its title
            search = page.get_by_label("Search title / artist / genre")
            search.fill("tender electronic 1")
            search.press("Enter")
            expect(page.get_by_role("heading", name="Query: Tender Electronic 1")).to_be_visible()
            # both lists are there
            for model in ("baseline", "conv_ae_z16"):
                expect(page.get_by_role("heading", name=model, exact=True)).to_be_visible()
            expect(page.locator("audio").first).to_be_attached()
            # wait until the rerun for the new query has finished drawing (no stale list left to click)
            page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)
            expect(page.locator('[data-stale="true"]')).to_have_count(0)
            # mark the first recommendation of the baseline's list as relevant (in its own column)
            heading = page.get_by_role("heading", name="baseline", exact=True)
            other = page.get_by_role("heading", name="conv_ae_z16", exact=True)
            column = page.locator('[data-testid="stColumn"]').filter(has=heading).filter(has_not=other).first
            column.get_by_text("relevant", exact=True).first.click()
            expect(page.get_by_text("Saved: relevant")).to_be_visible()
            # write a note
            page.get_by_label("Your note on this query").fill("=1+1 bright synths, good match")
            page.get_by_role("button", name="Save note").click()
            expect(page.get_by_text("Note saved.")).to_be_visible()
            page.screenshot(path=str(tmp_path / "listen.png"), full_page=True)
            # the notes page lists them and exports a CSV
            page.goto(f"{url}/Notes_and_hit_counts")
            with page.expect_download() as dl_info:
                page.get_by_role("button", name="Notes CSV").click()
            target = tmp_path / "notes.csv"
            dl_info.value.save_as(str(target))
            page.screenshot(path=str(tmp_path / "notes.png"), full_page=True)
        finally:
            context.close()
            browser.close()
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert {r["kind"] for r in rows} == {"note", "verdict"}
    note = next(r for r in rows if r["kind"] == "note")
    assert note["text"] == "'=1+1 bright synths, good match"  # formula neutralised
    assert note["listener"] == "Playwright" and note["query_track_id"] == "tender_electronic_1"
    verdict = next(r for r in rows if r["kind"] == "verdict")
    assert verdict["verdict"] == "relevant" and verdict["model"] == "baseline" and verdict["rank"] == "1"
    assert (tmp_path / "listen.png").stat().st_size > 10_000


def test_served_as_configured(running_app):
    """.streamlit/config.toml as a user runs the app: no file watcher flood, no Deploy button."""
    from playwright.sync_api import sync_playwright

    url, root = running_app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        try:
            page.goto(url)
            page.get_by_role("heading", name="Datasets").wait_for(timeout=30_000)
            assert page.get_by_role("button", name="Deploy").count() == 0
        finally:
            browser.close()
    log = (root / "streamlit.log").read_text(errors="replace")
    assert "Inotify" not in log and "external IP" not in log
