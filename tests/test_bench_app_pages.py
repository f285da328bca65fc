"""The app step of benchmarks/bench_full.py, as it runs there: `python -m benchmarks.bench_app --artifacts ROOT`
(a real subprocess) starts `streamlit run app.py` on existing artifacts and times four pages in headless Chromium
and query changes on Listen & compare; here on a small synthetic catalog whose audio is the demo corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.bench_app import APP_PAGES, query_picks
from tests.helpers.app import make_synthetic_artifacts
from tests.test_browser_e2e import CHROMIUM

REPO = Path(__file__).resolve().parents[1]


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.bench_app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing")
def test_app_pages_are_timed_in_a_real_browser(tmp_path):
    ds = make_synthetic_artifacts(tmp_path / "artifacts", n_tracks=60, dim=16)
    picks = query_picks(ds, 3)
    assert len(picks) == 3 and len({t for _, t in picks}) == 3
    out = tmp_path / "app.json"
    run = _bench("--artifacts", str(tmp_path / "artifacts"), "--repeats", "2", "--json", str(out))
    assert run.returncode == 0, run.stdout[-1500:] + run.stderr[-1500:]
    res = json.loads(out.read_text())
    assert res["dataset"] == ds.name and res["server_start_s"] > 0
    assert list(res["first_render_s"]) == [name for name, _, _ in APP_PAGES]
    assert all(0 < s < 120 for s in res["first_render_s"].values()), res
    # two new queries (the first pick may be the query already shown): each timed until its lists were drawn
    assert len(res["query_change_s"]) == 2 and all(0 < s < 60 for s in res["query_change_s"]), res
    assert min(res["query_change_s"]) <= res["query_change_median_s"] <= max(res["query_change_s"])
    assert "first render Listen & compare" in run.stdout


def test_no_dataset_under_artifacts_exits_2_with_one_line(tmp_path):
    run = _bench("--artifacts", str(tmp_path))
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0 and "no prepared dataset" in run.stderr
