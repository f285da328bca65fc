"""Listen-page speed on a large catalog: 8,000 tracks, 128-d embeddings (synthetic artifacts whose
audio paths reuse the real demo files).

Measures with streamlit's AppTest (script time of one rerun, as the server runs it):
  * first render: a new session with empty caches (catalog, matrices, audio read from disk);
  * query change: picking another query in a warm session (median of several);
and, as a naive reference in the same run, the same reruns with every cache cleared first
(what the page would cost without st.cache_*). With --browser (needs /usr/bin/chromium) it also
times the real app in headless Chromium: page load until the last list item is drawn, and a
search-driven query change until the new query's heading shows.

    python -m benchmarks.bench_app [--tracks 8000] [--dim 128] [--repeats 5] [--browser]
    python -m benchmarks.bench_app --artifacts ARTIFACTS [--repeats 3] [--json app.json]

`--artifacts` times the real app on artifacts a run already made (benchmarks/bench_full.py's app step): the first
render of Home, Listen & compare, Latent map and Notes & hit counts, each opened in a new browser session, and the
query change on Listen & compare (a search for a track id until that query's lists are drawn).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


PAGE = REPO / "pages" / "1_Listen_and_compare.py"


def _clear_caches() -> None:
    """Empty every st.cache_data / st.cache_resource (a cold server)."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def _session():
    """A new AppTest session of the Listen page with a listener name."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.session_state["listener_name"] = "bench"
    return at


def _timed_run(at) -> float:
    """Seconds of one rerun; fails loudly on an exception in the page."""
    t = time.perf_counter()
    at.run()
    dt = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(at.exception)
    return dt


def measure_apptest(repeats: int, naive: bool) -> dict[str, float]:
    """First-render and query-change seconds of the Listen page (naive: caches cleared before each run)."""
    _clear_caches()
    at = _session()
    first = _timed_run(at)
    changes = []
    for _ in range(repeats):
        if naive:
            _clear_caches()
        at.button(key="listen_random").click()  # a new random query
        changes.append(_timed_run(at))
    return {"first_render_s": first, "query_change_s": statistics.median(changes)}


# Checked on every animation frame (not Playwright's backed-off expect polling, which would round
# timings up): the query heading (if given) is drawn, all 10 list items have their verdict radios and no
# element of the previous run is still shown as stale.
_DRAWN = """(heading) => {
    const ok = !heading || [...document.querySelectorAll('h3')].some(h => h.textContent.trim() === heading);
    const radios = [...document.querySelectorAll('label')].filter(l => l.textContent.trim() === 'unsure');
    const stale = document.querySelectorAll('[data-stale="true"]').length;
    return ok && radios.length === 10 && stale === 0;
}"""


def _browser_first_render(browser, url: str) -> tuple[object, float]:
    """Open the Listen page in a new browser context; seconds from 'Start listening' to all list items."""
    page = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/Listen_and_compare")
    page.get_by_label("Listener name").fill("bench")
    t = time.perf_counter()
    page.get_by_role("button", name="Start listening").click()
    page.wait_for_function(_DRAWN, arg="", polling="raf")
    return page, time.perf_counter() - t


def measure_browser(root: Path, repeats: int) -> dict[str, float]:
    """Real-browser timings of the Listen page: first render on a just-started server and in a new
    session of a warm server; query change by search (median)."""
    from playwright.sync_api import expect, sync_playwright

    from tests.helpers.processes import stop_process
    from tests.test_browser_e2e import CHROMIUM, CHROMIUM_ARGS, start_app

    proc, url = start_app(root, root / "bench_streamlit.log")
    out: dict[str, float] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            _, out["browser_first_render_cold_server_s"] = _browser_first_render(browser, url)
            page, out["browser_first_render_s"] = _browser_first_render(browser, url)
            search = page.get_by_label("Search title / artist / genre")
            times = []
            for i in range(repeats):
                title = f"Track {2000 + 531 * i}"
                search.fill(title.lower())
                t = time.perf_counter()
                search.press("Enter")
                page.wait_for_function(_DRAWN, arg=f"Query: {title}", polling="raf")
                times.append(time.perf_counter() - t)
                expect(page.get_by_role("heading", name=f"Query: {title}", exact=True)).to_be_visible()
            out["browser_query_change_s"] = statistics.median(times)
            browser.close()
    finally:
        stop_process(proc)
    return out


# The app's script run for the page has finished and drawn the page title (a new page is 'notRunning' before its
# first run too, hence the title), with nothing of an earlier run left stale.
_PAGE_DONE = """(title) => {
    const app = document.querySelector('[data-testid=stApp]');
    const h1 = [...document.querySelectorAll('h1')].some(h => h.textContent.includes(title));
    return h1 && app?.getAttribute('data-test-script-state') === 'notRunning'
        && document.querySelectorAll('[data-stale="true"]').length === 0;
}"""
# The Listen page's lists are drawn for a query other than `old`: a 'Query: ...' heading that is not `old`,
# `n` verdict radios (K x models), the script run finished and nothing stale.
_IDLE = """() => document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state') === 'notRunning'
    && document.querySelectorAll('[data-stale="true"]').length === 0"""
_LISTS_DRAWN = """(old) => {
    const hs = [...document.querySelectorAll('h3')].map(h => h.textContent.trim()).filter(t => t.startsWith('Query: '));
    const radios = [...document.querySelectorAll('label')].filter(l => l.textContent.trim() === 'unsure');
    const app = document.querySelector('[data-testid=stApp]');
    return hs.length === 1 && hs[0] !== old && radios.length > 0
        && app?.getAttribute('data-test-script-state') === 'notRunning'
        && document.querySelectorAll('[data-stale="true"]').length === 0;
}"""
APP_PAGES = (("Home", "", "Music embedding workbench"), ("Listen & compare", "Listen_and_compare", "Listen & compare"),
             ("Latent map", "Latent_map", "Latent map"), ("Notes & hit counts", "Notes_and_hit_counts",
                                                            "Notes & hit counts"))


def _listen_query(page) -> str:
    """The Listen page's current query heading, read once the app is idle (a search typed during a rerun can
    be dropped, and a heading read mid-redraw can be stale)."""
    page.wait_for_function(_IDLE, polling="raf")
    return page.evaluate("""() => [...document.querySelectorAll('h3')].map(h => h.textContent.trim())
        .find(t => t.startsWith('Query: ')) || ''""")


def _open_page(browser, url: str, path: str, title: str) -> tuple[object, float]:
    """A new session opening one page: seconds from navigation until its first script run has drawn it; on
    Listen & compare, until the lists of the first query are drawn after 'Start listening'."""
    page = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
    page.set_default_timeout(120_000)
    t = time.perf_counter()
    page.goto(f"{url}/{path}")
    if path == "Listen_and_compare":
        page.get_by_label("Listener name").fill("bench")
        page.get_by_role("button", name="Start listening").click()
        page.wait_for_function("() => [...document.querySelectorAll('label')]"
                               ".some(l => l.textContent.trim() === 'unsure')", polling="raf")
    page.wait_for_function(_PAGE_DONE, arg=title, polling="raf")
    return page, time.perf_counter() - t


def measure_app_pages(root: Path, ds_dir: Path, repeats: int = 3, log: Path | None = None) -> dict:
    """The real app (`streamlit run app.py` on the artifacts under `root`) in headless Chromium: per page of
    APP_PAGES the seconds from opening it in a new session until its first run is drawn (the server started
    just before: its caches are cold for the first page only), and on Listen & compare the seconds from a
    search for a track id (Enter) until that query's lists are drawn, for `repeats` tracks of `ds_dir`."""
    from playwright.sync_api import sync_playwright

    from tests.helpers.processes import stop_process
    from tests.test_browser_e2e import CHROMIUM, CHROMIUM_ARGS, start_app

    t0 = time.perf_counter()
    proc, url = start_app(root, log or root / "bench_streamlit.log")
    out: dict = {"server_start_s": round(time.perf_counter() - t0, 2), "first_render_s": {}}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            for name, path, title in APP_PAGES:
                page, sec = _open_page(browser, url, path, title)
                out["first_render_s"][name] = round(sec, 3)
                if path == "Listen_and_compare":
                    out["query_change_s"] = _query_changes(page, query_picks(ds_dir, repeats + 1), repeats)
            browser.close()
    finally:
        stop_process(proc)
    out["query_change_median_s"] = statistics.median(out["query_change_s"]) if out.get("query_change_s") else None
    return out


def query_picks(ds_dir: Path, n: int) -> list[tuple[str, str]]:
    """`n` (track id, title) of prepared tracks whose title no other track has: searching the id (unique in the
    search text) selects that track alone, and its heading differs from every other query's."""
    import pandas as pd

    cat = pd.read_csv(ds_dir / "catalog.csv", dtype=str, keep_default_na=False)
    cat = cat[(cat["status"] == "ok") & ~cat["title"].duplicated(keep=False)]
    return list(zip(cat["track_id"], cat["title"], strict=True))[:n]


def _query_changes(page, picks: list[tuple[str, str]], repeats: int) -> list[float]:
    """Seconds from searching a track's id (Enter) until that query's lists are drawn, for the first `repeats`
    of `picks` that are not the query shown."""
    search = page.get_by_label("Search title / artist / genre")
    times: list[float] = []
    for track_id, title in picks:
        old = _listen_query(page)
        if old.strip() == f"Query: {title.strip()}" or len(times) == repeats:
            continue
        search.fill(track_id)
        t = time.perf_counter()
        search.press("Enter")
        page.wait_for_function(_LISTS_DRAWN, arg=old, polling="raf")
        times.append(round(time.perf_counter() - t, 3))
    return times


def app_pages_main(root: Path, repeats: int, json_out: Path | None) -> int:
    """`--artifacts ROOT`: measure_app_pages on its first dataset, print the figures (and write them)."""
    import json

    names = sorted(p.name for p in root.iterdir() if (p / "catalog.csv").is_file()) if root.is_dir() else []
    if not names:
        print(f"error: no prepared dataset (catalog.csv) under {root}", file=sys.stderr)
        return 2
    res = measure_app_pages(root, root / names[0], repeats, root / "bench_app_streamlit.log")
    res["dataset"] = names[0]
    for name, sec in res["first_render_s"].items():
        print(f"first render {name:24s} {sec:7.2f} s")
    print(f"query change (median of {len(res['query_change_s'])})   {res['query_change_median_s'] or 0:7.2f} s")
    if json_out:
        json_out.write_text(json.dumps(res, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Build the artifacts, run the measurements, print a table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tracks", type=int, default=8000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--browser", action="store_true", help="also time the real app in headless chromium")
    ap.add_argument("--artifacts", type=Path, default=None,
                    help="instead: time the real app in headless chromium on these existing artifacts (first render "
                    "of Home, Listen & compare, Latent map, Notes & hit counts; query change on Listen)")
    ap.add_argument("--json", type=Path, default=None, help="with --artifacts: also write the figures here")
    args = ap.parse_args(argv)
    if args.artifacts is not None:
        return app_pages_main(args.artifacts, args.repeats, args.json)
    from tests.helpers.app import make_synthetic_artifacts  # imports streamlit's caches (warnings outside a server)
    from ui.data import ENV_VAR
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        make_synthetic_artifacts(root, n_tracks=args.tracks, dim=args.dim)
        print(f"artifacts: {args.tracks} tracks x {args.dim}-d, 2 embeddings "
              f"(built in {time.perf_counter() - t:.1f} s)")
        os.environ[ENV_VAR] = str(root)
        _session().run()  # warm the interpreter (imports), not the caches
        cached = measure_apptest(args.repeats, naive=False)
        naive = measure_apptest(args.repeats, naive=True)
        print(f"{'Listen page (AppTest, K=5, 2 models)':40s} {'cached':>9s} {'naive':>9s} {'naive/cached':>13s}")
        for key, label in (("first_render_s", "first render"), ("query_change_s", "query change (median)")):
            print(f"{label:40s} {cached[key]:8.3f}s {naive[key]:8.3f}s {naive[key] / cached[key]:12.1f}x")
        if args.browser:
            b = measure_browser(root, args.repeats)
            print("Listen page in headless chromium (real server, K=5, 2 models)")
            print(f"{'first render, just-started server':40s} {b['browser_first_render_cold_server_s']:8.3f}s")
            print(f"{'first render, new session':40s} {b['browser_first_render_s']:8.3f}s")
            print(f"{'query change by search (median)':40s} {b['browser_query_change_s']:8.3f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
