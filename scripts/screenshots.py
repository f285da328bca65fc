"""Take a PNG of every app page (Home and pages 1-9) into docs/screenshots/ with Playwright + /usr/bin/chromium.

    python scripts/screenshots.py                       # the real demo artifacts (first run builds them: 4-10 min)
    python scripts/screenshots.py --artifacts artifacts # your own artifacts folder, used as it is

By default `python -m train.demo` builds the demo artifacts into artifacts/screenshots/demo (git-ignored;
`--demo-dir` moves it) unless a complete build is already there, so a second run starts at once. The app
then serves a temp artifacts root that links to that dataset, so the notes and votes the script stores
(a verdict and a note on the Listen page, a vote on the Blind page, for the Notes page) are thrown away
afterwards; with `--artifacts` they land in that folder's notes.sqlite. Before the app starts, a small blind
session (`python -m train.session create ... --name demo-session`) is planned in the notes database the app
reads, unless one of that name is already there.

Each page gets a little interaction so its shot has content: a verdict and a note (Listen), a vote (Blind),
a track picked (Latent map), the largest latent size (Reconstructions), a text query (Text search), a test
track's window probabilities (Genre tagger), a noisy excerpt of a track searched (Search by excerpt), the demo
session joined as a listener with its first query voted (Sessions: "Query 2 of 6" with its players). A page
shorter than the viewport is cut below its content; `--only NAME ...` re-shoots a few pages.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.processes import stop_process  # noqa: E402
from tests.test_browser_e2e import CHROMIUM, CHROMIUM_ARGS, start_app  # noqa: E402

DEMO_DIR = REPO / "artifacts" / "screenshots" / "demo"
PAGES = [("0_home", "", "Music embedding workbench"),
         ("1_listen_and_compare", "Listen_and_compare", "Listen & compare"),
         ("2_blind_mode", "Blind_mode", "Blind mode"),
         ("3_notes_and_hit_counts", "Notes_and_hit_counts", "Notes & hit counts"),
         ("4_latent_map", "Latent_map", "Latent map"),
         ("5_reconstructions", "Reconstructions", "Reconstructions"),
         ("6_text_search", "Text_search", "Text search"),
         ("7_genre_tagger", "Genre_tagger", "Genre tagger"),
         ("8_search_by_excerpt", "Search_by_excerpt", "Search by excerpt"),
         ("9_sessions", "Sessions", "Listening sessions")]
TEXT_QUERY = "calm acoustic guitar"
EXCERPT_SEARCH = "energetic"
SESSION = "demo-session"
SESSION_QUERIES = 6


def demo_complete(ds_dir: Path) -> bool:
    """Whether `ds_dir` holds what every page needs: embeddings, maps, reconstructions and the three systems."""
    need = [ds_dir / "catalog.csv", ds_dir / "recon" / "index.json", ds_dir / "clap" / "metrics.json",
            ds_dir / "tagger" / "metrics.json"]
    return (all(p.exists() for p in need) and any((ds_dir / "maps").glob("*.npz"))
            and any((ds_dir / "embeddings").glob("retrieval_*.npy")))


def build_demo(ds_dir: Path) -> None:
    """`python -m train.demo --out ds_dir` unless a complete build is already there (its steps resume)."""
    if demo_complete(ds_dir):
        print(f"reusing the demo artifacts in {ds_dir}")
        return
    print(f"building the demo artifacts in {ds_dir} (python -m train.demo, a few minutes) ...", flush=True)
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "train.demo", "--out", str(ds_dir), "--quiet"], cwd=REPO, check=True)
    print(f"demo artifacts built in {time.time() - t0:.0f} s")
    if not demo_complete(ds_dir):
        raise SystemExit(f"python -m train.demo finished but {ds_dir} still lacks some artifacts")


def plan_session(root: Path, ds: str) -> None:
    """Plan the small blind session SESSION on dataset `ds` in `root`/notes.sqlite (the database the app reads)
    with `python -m train.session create`, unless a session of that name is already stored there."""
    from core.listening.sessions import SessionStore

    db = root / "notes.sqlite"
    if db.exists() and SESSION in SessionStore.open(db).sessions()["name"].tolist():
        print(f"reusing the session {SESSION!r} in {db}")
        return
    subprocess.run([sys.executable, "-m", "train.session", "create", "--db", str(db), "--data", str(root / ds),
                    "--name", SESSION, "--mode", "blind", "--stratified", str(SESSION_QUERIES), "--k", "3",
                    "--seed", "0"], cwd=REPO, check=True)


def _idle(page) -> None:
    """Wait until the app has finished its current run."""
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)


def _settle(page) -> None:
    """Wait until the app is idle, spinners are gone and no new run starts for a moment (players and plots
    finish drawing meanwhile)."""
    for _ in range(10):
        _idle(page)
        page.wait_for_selector('[data-testid="stSpinner"]', state="detached", timeout=120_000)
        time.sleep(1.5)
        if page.locator('[data-testid="stStatusWidget"]').count() == 0:
            return


def _pick_option(page, label: str, n: int) -> None:
    """Open the select box `label` and pick its `n`-th option; a rerun can close the list at once, so retry."""
    for _ in range(5):
        _idle(page)
        page.get_by_role("combobox", name=label).click()
        try:
            page.get_by_role("option").nth(n).click(timeout=5_000)
            return
        except Exception:  # noqa: BLE001 - the list closed before the click; open it again
            page.keyboard.press("Escape")
    raise RuntimeError(f"could not pick option {n} of {label!r}")


def _start_listening(page) -> None:
    page.get_by_label("Listener name").fill("Screenshot")  # each page.goto is a new session
    page.get_by_role("button", name="Start listening").click()


def _listen(page, expect) -> None:
    _start_listening(page)
    expect(page.get_by_text("unsure", exact=True).first).to_be_visible()
    page.get_by_text("relevant", exact=True).first.click()
    page.get_by_text("not relevant", exact=True).nth(1).click()
    page.get_by_label("Your note on this query").fill("Warm acoustic guitar; list 1 fits the mood best.")
    page.get_by_role("button", name="Save note").click()
    expect(page.get_by_text("Note saved.")).to_be_visible()


def _blind(page, expect) -> None:
    _start_listening(page)
    expect(page.get_by_role("heading", name="List B")).to_be_visible()
    page.get_by_text("A", exact=True).last.click()
    page.get_by_role("button", name="Vote").click()
    expect(page.get_by_text("Vote stored")).to_be_visible()


def _latent_map(page, expect) -> None:
    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
    _pick_option(page, "Or choose a track", 2)  # pick a track: it plays with its neighbours
    expect(page.get_by_text("Nearest").first).to_be_visible()


def _reconstructions(page, expect) -> None:
    page.wait_for_selector("audio")
    _idle(page)
    size = page.get_by_role("slider", name="Latent size")  # the largest size: the closest reconstruction
    size.focus()
    size.press("End")
    _idle(page)
    expect(page.get_by_text("Reconstruction, z = ").first).not_to_have_text("Reconstruction, z = 8")
    page.wait_for_selector("audio")


def _text_search(page, expect) -> None:
    box = page.get_by_label("Describe the music")
    box.fill(TEXT_QUERY)
    box.press("Enter")
    expect(page.get_by_role("heading", name="Top 5 for").first).to_be_visible()
    page.wait_for_selector("audio")


def _genre_tagger(page, expect) -> None:
    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
    _idle(page)
    # a held-out track: its prediction is an honest one
    page.get_by_test_id("stRadioGroup").get_by_text("test", exact=True).click()
    _idle(page)
    expect(page.get_by_text("(test)").first).to_be_visible()
    expect(page.get_by_text("Predicted (mean of windows)")).to_be_visible()


def _search_by_excerpt(page, expect) -> None:
    expect(page.get_by_text("Rank of the true track")).to_be_visible()
    _idle(page)
    box = page.get_by_label("Search title / artist / genre")
    box.fill(EXCERPT_SEARCH)  # a new search selects its first match
    box.press("Enter")
    _idle(page)
    expect(page.get_by_role("combobox", name="Query").last).to_have_value(re.compile(EXCERPT_SEARCH))
    noise = page.get_by_role("slider", name="Added noise (SNR dB)")
    for _ in range(2):  # none -> 30 -> 20 dB
        noise.focus()
        noise.press("ArrowRight")
        _idle(page)
    expect(noise).to_have_attribute("aria-valuetext", "20")
    expect(page.get_by_role("heading", name="Top 5")).to_be_visible()


def _sessions(page, expect) -> None:
    page.goto(f"{page.url.split('?')[0]}?session={SESSION}")  # other sessions may be listed first (--artifacts)
    expect(page.get_by_role("button", name="Join session")).to_be_visible()
    _idle(page)
    page.get_by_role("textbox", name="Your name").fill("Screenshot")
    page.get_by_role("button", name="Join session").click()
    at = page.get_by_text(re.compile(rf"^Query \d+ of {SESSION_QUERIES}$"))  # 1 unless resumed (--artifacts)
    expect(at).to_be_visible()
    expect(page.get_by_text("List B", exact=True)).to_be_visible()
    before = at.inner_text()
    _idle(page)  # vote on this query: the next screen shows some progress
    page.get_by_test_id("stRadio").get_by_text("A", exact=True).click()
    page.get_by_role("button", name="Save and next").click()
    expect(at).not_to_have_text(before)
    if page.get_by_text("List B", exact=True).count():  # else the listener's summary: all queries judged
        page.wait_for_selector("audio")


ACTIONS = {"Listen_and_compare": _listen, "Blind_mode": _blind, "Latent_map": _latent_map,
           "Reconstructions": _reconstructions, "Text_search": _text_search, "Genre_tagger": _genre_tagger,
           "Search_by_excerpt": _search_by_excerpt, "Sessions": _sessions}


def shoot(url: str, out_dir: Path, width: int = 1500, height: int = 1500, only: set[str] | None = None) -> list[Path]:
    """Visit every page in headless chromium, interact a little, save one PNG per page."""
    from playwright.sync_api import expect, sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=90_000)  # a busy machine takes a while for the first run of a page
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(90_000)
        if only:  # the sidebar lists the pages with their titles once the Home script has run
            page.goto(url)
            expect(page.get_by_role("heading", name=PAGES[0][2]).first).to_be_visible()
        for name, path, title in PAGES:
            if only and name not in only:
                continue
            t0 = time.time()
            page.goto(f"{url}/{path}")
            expect(page.get_by_role("heading", name=title).first).to_be_visible()
            if path in ACTIONS:
                ACTIONS[path](page, expect)
            _settle(page)
            page.evaluate("""() => { for (const el of document.querySelectorAll('*')) {
                if (el.scrollTop > 0) el.scrollTop = 0; } }""")
            time.sleep(0.3)
            target = out_dir / f"{name}.png"
            # a short page is cut below its last visible element (not less than 900 px), a long one at the viewport
            bottom = page.evaluate("""() => { const els = document.querySelectorAll(
                '[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]');
                return Math.max(0, ...[...els].filter(e => e.checkVisibility())  // not inside a closed expander
                    .map(e => e.getBoundingClientRect().bottom)); }""")
            clip_h = int(min(height, max(900, bottom + 48)))
            page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": width, "height": clip_h})
            saved.append(target)
            print(f"saved {target} ({target.stat().st_size // 1024} KiB, {time.time() - t0:.0f} s)")
        browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    """Build (or reuse, or take) artifacts, start the app, take the screenshots."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, default=None,
                    help="artifacts folder to serve as it is (default: the demo artifacts of --demo-dir)")
    ap.add_argument("--demo-dir", type=Path, default=DEMO_DIR,
                    help="where `python -m train.demo` builds (or has built) the demo dataset")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    ap.add_argument("--width", type=int, default=1500, help="viewport width in CSS pixels")
    ap.add_argument("--height", type=int, default=1500, help="viewport height in CSS pixels")
    ap.add_argument("--only", nargs="*", default=None, help="shoot only these names (e.g. 6_text_search)")
    args = ap.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        if args.artifacts is not None:
            root = args.artifacts.resolve()
        else:
            ds_dir = args.demo_dir.resolve()
            build_demo(ds_dir)
            root = Path(tmp) / "artifacts"  # fresh notes.sqlite; the dataset itself is only linked
            root.mkdir()
            (root / ds_dir.name).symlink_to(ds_dir, target_is_directory=True)
        if not args.only or "9_sessions" in args.only:
            names = sorted(p.name for p in root.iterdir() if (p / "catalog.csv").is_file())  # as the app lists them
            if names:
                plan_session(root, names[0])
        proc, url = start_app(root, Path(tmp) / "streamlit.log")
        try:
            shoot(url, args.out, args.width, args.height, set(args.only) if args.only else None)
        finally:
            stop_process(proc)
    print(f"done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
