"""Take a PNG of every app page into docs/screenshots/ with Playwright + /usr/bin/chromium.

    python scripts/screenshots.py                       # demo artifacts built from the embedded corpus
    python scripts/screenshots.py --artifacts artifacts # your own artifacts folder

The app is started on a free loopback port; on the Listen page a verdict and a note are stored
and on the Blind page a vote is cast so the Notes page has content (in the chosen artifacts'
notes.sqlite; the default temp folder is thrown away afterwards).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.app import make_demo_artifacts  # noqa: E402
from tests.helpers.processes import stop_process  # noqa: E402
from tests.test_browser_e2e import CHROMIUM, CHROMIUM_ARGS, start_app  # noqa: E402

PAGES = [("0_home", "", "Music embedding workbench"),
         ("1_listen_and_compare", "Listen_and_compare", "Listen & compare"),
         ("2_blind_mode", "Blind_mode", "Blind mode"),
         ("3_notes_and_hit_counts", "Notes_and_hit_counts", "Notes & hit counts"),
         ("4_latent_map", "Latent_map", "Latent map"),
         ("5_reconstructions", "Reconstructions", "Reconstructions")]


def shoot(url: str, out_dir: Path, width: int = 1500, height: int = 1500) -> list[Path]:
    """Visit every page in headless chromium, interact a little, save one PNG per page."""
    from playwright.sync_api import expect, sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(90_000)
        for name, path, title in PAGES:
            page.goto(f"{url}/{path}")
            expect(page.get_by_role("heading", name=title).first).to_be_visible()
            if path in ("Listen_and_compare", "Blind_mode"):  # each page.goto is a new session
                page.get_by_label("Listener name").fill("Screenshot")
                page.get_by_role("button", name="Start listening").click()
            if path == "Listen_and_compare":
                expect(page.get_by_text("unsure", exact=True).first).to_be_visible()
                page.get_by_text("relevant", exact=True).first.click()
                page.get_by_text("not relevant", exact=True).nth(1).click()
                page.get_by_label("Your note on this query").fill("Warm acoustic guitar; list 1 fits the mood best.")
                page.get_by_role("button", name="Save note").click()
                expect(page.get_by_text("Note saved.")).to_be_visible()
            if path == "Blind_mode":
                expect(page.get_by_role("heading", name="List B")).to_be_visible()
                page.get_by_text("A", exact=True).last.click()
                page.get_by_role("button", name="Vote").click()
                expect(page.get_by_text("Vote stored")).to_be_visible()
            if path == "Latent_map":
                page.wait_for_selector(".js-plotly-plot", timeout=120_000)
                page.get_by_label("Or choose a track").click()  # pick a track: it plays with its neighbours
                page.get_by_role("option").nth(2).click()
                expect(page.get_by_text("Nearest").first).to_be_visible()
            if path == "Reconstructions":
                page.wait_for_selector("audio")
            page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
            time.sleep(1.5)  # let players and plots finish drawing
            page.evaluate("""() => { for (const el of document.querySelectorAll('*')) {
                if (el.scrollTop > 0) el.scrollTop = 0; } }""")
            time.sleep(0.3)
            target = out_dir / f"{name}.png"
            page.screenshot(path=str(target))
            saved.append(target)
            print("saved", target)
        browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    """Build (or take) artifacts, start the app, take the screenshots."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, default=None, help="artifacts folder (default: temp demo artifacts)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = ap.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = args.artifacts.resolve() if args.artifacts else Path(tmp)
        if args.artifacts is None:
            make_demo_artifacts(root)
        proc, url = start_app(root, Path(tmp) / "streamlit.log")
        try:
            shoot(url, args.out)
        finally:
            stop_process(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
