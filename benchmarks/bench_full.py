"""The whole chain a student runs, at full size, each step a separate command as the README tells a user
(prints and writes a report; not a timed test):

    python benchmarks/bench_full.py --tracks 8000 --work /tmp/full [--root COLLECTION] [--steps ...]

Without `--root` it first builds an fma_small-shaped collection of `--tracks` tracks with
benchmarks/make_fma_like.py (real music from ../shared/data; not counted as a step). Then, each as its own
process: prepare (`--dataset fma`) -> embed EfficientAT -> embed FCN -> autoencoders on mels and on
EfficientAT frames (one model each, epoch-bounded) -> evaluate (every track a query, bootstrap CIs) -> maps
-> genre tagger -> retrieval embedder + indexes -> retrieval evaluation -> the search service under load
(benchmarks/bench_service.py) -> the app (`streamlit run app.py` on these artifacts) in headless Chromium: first
render of Home, Listen & compare, Latent map and Notes & hit counts, and the query change on Listen & compare
(benchmarks/bench_app.py --artifacts; `--no-app` skips it). References measured in the same run: pure decoding
of the same files with as many processes as prepare uses (the floor for prepare), and the naive librosa feature
pipeline of the course notebook on a sample. Writes `<work>/report.json` and `<work>/report.md`: wall, CPU (the
command and its workers) and peak RSS of every step, per-track CPU, and a linear extrapolation to 8,000 tracks
(marked as such; training steps are bounded by epochs, not by the track count). `--device cuda` adds the two
embedding steps again on the GPU (train.embed --device cuda). `benchmarks/bench_app.py --browser` times the
Listen page on a synthetic 8,000-track catalog.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.cli_timing import cli, timed  # noqa: E402

FMA_SMALL = 8000
SHARED = REPO.parent / "shared" / "data"
STEPS = ("prepare", "decode_reference", "librosa_reference", "embed_efficientat", "embed_fcn", "ae_mels",
         "ae_frames", "evaluate", "maps", "tagger", "retrieval", "retrieval_eval", "service", "app")
TRAINING = {"ae_mels", "ae_frames", "tagger", "retrieval"}  # epoch-bounded training steps
SCALES = {"ae_mels": "epochs x windows; its final pass over every track: N",
          "ae_frames": "epochs x windows; its final pass over every track: N",
          "tagger": "epochs x N (an epoch is every training window)", "retrieval": "epochs x pairs (not N)"}


def step_commands(ds: Path, weights: Path, args: argparse.Namespace) -> dict[str, list[str]]:
    """The command of every step, as a user types it (plus --quiet: progress bars go to the log anyway)."""
    root, w = str(args.root), str(weights)
    me = [sys.executable, str(Path(__file__).resolve())]
    ep = ["--epochs", str(args.epochs)]
    workers = [] if args.workers is None else ["--workers", str(args.workers)]
    return {
        "prepare": cli("train.prepare", "--dataset", "fma", "--root", root, "--out", ds, "--quiet"),
        "decode_reference": [*me, "--child", "decode", "--root", root, "--work", str(args.work)],
        "librosa_reference": [*me, "--child", "librosa", "--root", root, "--work", str(args.work),
                              "--sample", str(args.librosa_sample)],
        "embed_efficientat": cli("train.embed", "--data", ds, "--encoders", "efficientat_mn04", "--weights-dir", w,
                                 *workers, "--quiet"),
        "embed_fcn": cli("train.embed", "--data", ds, "--encoders", "fcn_msd", "--weights-dir", w,
                         *workers, "--quiet"),
        "ae_mels": cli("train.autoencoders", "--data", ds, "--models", "conv1d", *ep, "--quiet"),
        "ae_frames": cli("train.autoencoders", "--data", ds, "--input", "frames:efficientat_mn04",
                         "--models", "dense", *ep, "--quiet"),
        "evaluate": cli("train.evaluate", "--data", ds, "--split", "all"),
        "maps": cli("train.maps", "--data", ds, "--quiet"),
        "tagger": cli("train.tagger", "--data", ds, *ep, "--quiet"),
        "retrieval": cli("train.retrieval", "--data", ds, *ep, "--quiet"),
        "retrieval_eval": cli("train.retrieval_eval", "--data", ds, "--weights-dir", w),
        "service": cli("benchmarks.bench_service", "--data", ds, "--levels", "1,8", "--requests",
                       args.service_requests, "--max-seconds", args.service_seconds,
                       "--out", args.work / "service.json"),
        "app": cli("benchmarks.bench_app", "--artifacts", args.work, "--repeats", args.app_repeats,
                   "--json", args.work / "app.json"),
    }


def decode_one(path: str) -> float:
    """Decode one file at the cache's rate (what prepare must do at least); seconds of audio, 0 if it fails."""
    from core.audio.config import DEFAULT_AUDIO
    from core.audio.decode import load_audio

    try:
        return len(load_audio(path, DEFAULT_AUDIO)) / DEFAULT_AUDIO.sample_rate
    except Exception:  # a bad file: prepare skips it too
        return 0.0


def child_decode(root: Path, work: Path) -> None:
    """Pure decoding of every MP3 with as many processes as prepare's default (all cores)."""
    paths = sorted(str(p) for p in root.glob("fma_small/*/*.mp3"))
    with mp.get_context("spawn").Pool(os.cpu_count() or 1) as pool:
        seconds = sum(pool.imap_unordered(decode_one, paths, chunksize=8))
    (work / "decode.json").write_text(json.dumps({"files": len(paths), "audio_s": seconds}))


def child_librosa(root: Path, work: Path, sample: int) -> None:
    """The naive librosa pipeline (benchmarks/bench_prepare.py's reference) on `sample` files."""
    from benchmarks.bench_prepare import child_reference

    paths = sorted(str(p) for p in root.glob("fma_small/*/*.mp3") if p.stat().st_size > 100_000)[:sample]
    (work / "librosa.json").write_text(json.dumps(child_reference(paths)))


def run_steps(args: argparse.Namespace, ds: Path, weights: Path) -> dict[str, dict]:
    """Run the chosen steps in order; a failing step is recorded with its exit code and the rest go on."""
    cmds = step_commands(ds, weights, args)
    if args.device == "cuda":
        for name in ("embed_efficientat", "embed_fcn"):
            cmds[f"{name}_cuda"] = [*cmds[name], "--device", "cuda"]
    results = {}
    for name in [s for s in cmds if s.split("_cuda")[0] in args.steps]:
        print(f"== {name}: {' '.join(map(str, cmds[name]))}", flush=True)
        # $WORKBENCH_WEIGHTS too: the retrieval evaluation's excerpt encoders and the service read it
        res = timed(cmds[name], args.work / "logs" / f"{name}.log", {"WORKBENCH_WEIGHTS": str(weights)}, check=False)
        res["command"] = " ".join(map(str, cmds[name])).replace(sys.executable, "python")
        results[name] = res
        print(f"   wall {res['wall_s']:.1f} s, CPU {res['cpu_s']:.1f} s, peak RSS {res['peak_rss_mib']:.0f} MiB, "
              f"exit {res['rc']}", flush=True)
    return results


def extrapolate(results: dict[str, dict], n_ok: int, librosa: dict | None) -> None:
    """Per-track CPU and the linear 8,000-track extrapolation of each step (in place)."""
    for name, r in results.items():
        r["cpu_s_per_track"] = r["cpu_s"] / max(1, n_ok)
        if name == "librosa_reference" and librosa:
            r["cpu_s_per_track"] = librosa["cpu_s_per_clip"]
        r["cpu_min_at_8000_linear"] = r["cpu_s_per_track"] * FMA_SMALL / 60
        r["scales_with"] = SCALES.get(name.split("_cuda")[0], "page timings below" if name == "app" else
                                      "N (linear assumed)")


def markdown(report: dict) -> str:
    """The report as Markdown."""
    m = report["meta"]
    lines = [f"# Full-chain benchmark, {m['date']}", "",
             f"{m['tracks']} tracks ({m['ok_tracks']} prepared ok), {m['cpus']} CPUs, load average "
             f"{m['load_start']:.1f} at the start and {m['load_end']:.1f} at the end; python {m['python']}.",
             f"Command: `{m['command']}`", "",
             "| step | wall s | CPU s | peak RSS MiB | CPU s / track | CPU min at 8,000, upper bound | scales with |",
             "|---|---|---|---|---|---|---|"]
    for name, r in report["steps"].items():
        flag = "" if r["rc"] == 0 else f" (exit {r['rc']})"
        lines.append(f"| {name}{flag} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mib']:.0f} | "
                     f"{r['cpu_s_per_track']:.3f} | {r['cpu_min_at_8000_linear']:.1f} | {r['scales_with']} |")
    lines += ["", "CPU counts the command and its worker processes; wall time on a shared machine is inflated by "
              "the load. The 8,000-track column is a linear extrapolation of CPU per track with the fixed start-up "
              "cost counted per track, so an upper bound, not a measurement; `--combine` with a run of another size "
              "separates the fixed from the per-track cost."]
    return "\n".join(lines + app_markdown(report.get("app"))) + "\n"


def app_markdown(app: dict | None) -> list[str]:
    """The app step's browser timings as Markdown lines (none when the step did not run)."""
    if not app:
        return []
    lines = ["", f"The app in headless Chromium (`streamlit run app.py` on dataset `{app['dataset']}`; server "
             f"healthy after {app['server_start_s']:.1f} s; each page opened in a new session, the first one on a "
             "just-started server):", "", "| page | first render s |", "|---|---|"]
    lines += [f"| {name} | {sec:.2f} |" for name, sec in app["first_render_s"].items()]
    changes = app.get("query_change_s") or []
    if changes:
        lines += ["", f"Query change on Listen & compare (a search for a track id until its lists are drawn): median "
                  f"{app['query_change_median_s']:.2f} s of {len(changes)} ({', '.join(f'{c:.2f}' for c in changes)})."]
    return lines


TWO_PROCESSES = {"prepare", "decode_reference", "embed_efficientat", "embed_fcn"}  # use both cores


def fit(small: dict, large: dict, target: int = FMA_SMALL) -> dict[str, dict]:
    """Per step, from two runs of different sizes: CPU = fixed + per-track x N (least squares through two points),
    the CPU and the idle 2-core wall time at `target` tracks, and the peak RSS of both runs. Small runs are
    dominated by fixed costs, so the per-track figure is only as good as the difference between the two sizes."""
    n_s, n_l = small["meta"]["ok_tracks"], large["meta"]["ok_tracks"]
    out = {}
    for name, rl in large["steps"].items():
        rs = small["steps"].get(name)
        if rs is None or n_l <= n_s:
            continue
        per = max(0.0, (rl["cpu_s"] - rs["cpu_s"]) / (n_l - n_s))
        fixed = max(0.0, rl["cpu_s"] - per * n_l)
        cpu_t = fixed + per * target
        training = name in TRAINING
        out[name] = {"fixed_cpu_s": round(fixed, 2), "cpu_s_per_track": round(per, 4),
                     "cpu_min_at_target": round(cpu_t / 60, 1),
                     "wall_min_at_target_idle_2_cores": round((fixed + per * target / (
                         2 if name in TWO_PROCESSES else 1)) / 60, 1),
                     "peak_rss_mib_small": rs["peak_rss_mib"], "peak_rss_mib_large": rl["peak_rss_mib"],
                     "note": "training: per-epoch work grows with N; epochs as in the runs" if training else ""}
    return out


def fit_markdown(rows: dict[str, dict], small: dict, large: dict, target: int = FMA_SMALL) -> str:
    """The fit as a Markdown table."""
    n_s, n_l = small["meta"]["ok_tracks"], large["meta"]["ok_tracks"]
    lines = [f"Fit of two runs ({n_s} and {n_l} tracks prepared ok; {small['meta']['date']} and "
             f"{large['meta']['date']}), extrapolated to {target:,} tracks:", "",
             f"| step | fixed CPU s | CPU s / track | CPU min at {target:,} | wall min at {target:,}, 2 idle cores | "
             f"peak RSS MiB ({n_s} / {n_l} tracks) |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['fixed_cpu_s']:.1f} | {r['cpu_s_per_track']:.3f} | {r['cpu_min_at_target']:.1f} | "
                     f"{r['wall_min_at_target_idle_2_cores']:.1f} | {r['peak_rss_mib_small']:.0f} / "
                     f"{r['peak_rss_mib_large']:.0f} |")
    return "\n".join(lines) + "\n"


def combine(paths: list[Path], work: Path) -> int:
    """`--combine SMALL LARGE`: write fit.json and fit.md from two reports."""
    small, large = sorted((json.loads(p.read_text()) for p in paths), key=lambda r: r["meta"]["ok_tracks"])
    rows = fit(small, large)
    (work / "fit.json").write_text(json.dumps(rows, indent=1))
    md = fit_markdown(rows, small, large)
    (work / "fit.md").write_text(md)
    print(md)
    return 0


def count_ok(ds: Path) -> int:
    """Tracks prepared ok (0 before prepare ran)."""
    import pandas as pd

    cat = ds / "catalog.csv"
    return int((pd.read_csv(cat)["status"] == "ok").sum()) if cat.is_file() else 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="folder for the collection, dataset, logs, report")
    ap.add_argument("--tracks", type=int, default=FMA_SMALL, help="collection size when it is generated")
    ap.add_argument("--root", type=Path, default=None, help="an existing FMA-layout collection (skip generating)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", default=",".join(STEPS), help=f"comma list of {', '.join(STEPS)}")
    ap.add_argument("--epochs", type=int, default=5, help="epoch bound of every training step")
    ap.add_argument("--workers", type=int, default=None,
                    help="train.embed --workers (default: none passed, the command's own default)")
    ap.add_argument("--librosa-sample", type=int, default=10, help="files for the naive librosa reference")
    ap.add_argument("--service-requests", type=int, default=200, help="requests per concurrency level (1 and 8)")
    ap.add_argument("--service-seconds", type=float, default=15.0, help="time bound per concurrency level")
    ap.add_argument("--app-repeats", type=int, default=3, help="query changes timed on Listen & compare")
    ap.add_argument("--no-app", action="store_true", help="skip the app step (no Chromium needed)")
    ap.add_argument("--weights-dir", type=Path, default=Path(os.environ.get("WORKBENCH_WEIGHTS", SHARED / "weights")))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--combine", type=Path, nargs=2, default=None, metavar="REPORT",
                    help="fit two report.json files of different sizes and extrapolate (writes <work>/fit.*)")
    ap.add_argument("--child", choices=["decode", "librosa"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--sample", type=int, default=10, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.steps = [s.strip() for s in args.steps.split(",") if s.strip() and not (args.no_app and s.strip() == "app")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.combine:
        return combine(args.combine, args.work)
    if args.child:
        if args.child == "decode":
            child_decode(args.root, args.work)
        else:
            child_librosa(args.root, args.work, args.sample)
        return 0
    unknown = set(args.steps) - set(STEPS)
    if unknown or not args.weights_dir.is_dir():
        print(f"error: unknown steps {sorted(unknown)} or no weights folder {args.weights_dir}", file=sys.stderr)
        return 2
    load_start, t0 = os.getloadavg()[0], time.time()
    generated = None
    if args.root is None:
        args.root = args.work / "fma_like"
        if not (args.root / "fma_metadata" / "tracks.csv").is_file():
            generated = timed([sys.executable, str(REPO / "benchmarks" / "make_fma_like.py"), "--out",
                               str(args.root), "--tracks", str(args.tracks), "--seed", str(args.seed), "--workers",
                               str(os.cpu_count() or 1), "--quiet"], args.work / "logs" / "generate.log")
    ds = args.work / "dataset"
    results = run_steps(args, ds, args.weights_dir)
    librosa = json.loads((args.work / "librosa.json").read_text()) if (args.work / "librosa.json").is_file() else None
    n_ok = count_ok(ds)
    extrapolate(results, n_ok, librosa)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t0)), "tracks": len(list(
        args.root.glob("fma_small/*/*.mp3"))), "ok_tracks": n_ok, "cpus": os.cpu_count(), "python":
        platform.python_version(), "load_start": load_start, "load_end": os.getloadavg()[0],
        "command": "python benchmarks/bench_full.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "generate": generated, "total_wall_s": round(time.time() - t0, 1)}
    report = {"meta": meta, "steps": results, "librosa_reference": librosa,
              "service": _read_json(args.work / "service.json"), "decode": _read_json(args.work / "decode.json"),
              "app": _read_json(args.work / "app.json") if "app" in results else None}
    (args.work / "report.json").write_text(json.dumps(report, indent=1))
    (args.work / "report.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if all(r["rc"] == 0 for r in results.values()) else 1


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


if __name__ == "__main__":
    sys.exit(main())
