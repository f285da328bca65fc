"""Plan and export listening sessions from the command line.

    python -m train.session create --data artifacts/demo --name lab1 --models baseline,conv_ae_z16 \\
        --mode blind --stratified 10 --seed 0
    python -m train.session list
    python -m train.session export --name lab1 --out exports/

Listeners join a session on the app's Sessions page; `export` writes the tidy CSV (one row per judgement) and
the Markdown summary (relevance with bootstrap CIs, blind preferences with sign tests, agreement).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_DB = Path("artifacts/notes.sqlite")


def choose_queries(args: argparse.Namespace, tracks) -> tuple[list[str], str]:
    """The plan's query ids and their source, from --chosen, --handpicked or --stratified."""
    from core.listening.sessions import SessionError, stratified_queries

    if args.chosen:
        ids = [q.strip() for q in args.chosen.split(",") if q.strip()]
        unknown = [q for q in ids if q not in set(tracks["track_id"])]
        if unknown:
            raise SessionError(f"unknown query track id(s): {', '.join(unknown[:5])}")
        return ids, "chosen"
    if args.handpicked:
        qpath = args.data / "queries.csv"
        if not qpath.is_file():
            raise SessionError(f"{qpath} does not exist; run `python -m train.evaluate --data {args.data}` first")
        import pandas as pd

        queries = pd.read_csv(qpath, dtype=str, keep_default_na=False)
        col = next((c for c in ("query_track_id", "track_id") if c in queries.columns), None)
        if col is None:
            raise SessionError(f"{qpath} has no query_track_id column")
        ids = [q for q in pd.unique(queries[col]) if q in set(tracks["track_id"])]
        return ids[: args.n] if args.n else ids, "handpicked"
    return stratified_queries(tracks, args.stratified or 10, args.seed), "stratified"


def create(args: argparse.Namespace) -> int:
    """Store a new session plan."""
    from core.audio.cache import load_catalog
    from core.listening.sessions import SessionPlan, SessionStore
    from core.recommend.embeddings import list_embeddings

    if not (args.data / "catalog.csv").is_file():
        return fail(f"{args.data} is not a prepared dataset (no catalog.csv)")
    have = list_embeddings(args.data)
    models = [m.strip() for m in args.models.split(",") if m.strip()] or have[:3]
    unknown = [m for m in models if m not in have]
    if unknown:
        return fail(f"unknown embedding(s) {', '.join(unknown)}; {args.data} has {', '.join(have) or 'none'}")
    tracks = load_catalog(args.data)
    tracks = tracks[tracks["status"].astype(str) == "ok"] if "status" in tracks.columns else tracks
    tracks = tracks.assign(track_id=tracks["track_id"].astype(str))
    queries, source = choose_queries(args, tracks)
    plan = SessionPlan(name=args.name, dataset=args.data.name, models=tuple(models), k=args.k, mode=args.mode,
                       queries=tuple(queries), seed=args.seed, source=source, excerpt_s=args.excerpt,
                       start=args.start, loudness_match=not args.no_loudness_match)
    SessionStore.open(args.db).create(plan)
    print(f"created session {plan.name!r}: {len(queries)} queries ({source}), models {', '.join(models)}, "
          f"K={plan.k}, mode {plan.mode}; listeners join it on the app's Sessions page")
    return 0


def export(args: argparse.Namespace) -> int:
    """Write <name>.csv and <name>.md of a session to --out."""
    from core.listening.export import to_csv_bytes
    from core.listening.results import session_results, summary_markdown
    from core.listening.sessions import SessionStore

    store = SessionStore.open(args.db)
    plan = store.plan(args.name)
    table = store.judgements(args.name)
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = args.out / f"{plan.name}.csv", args.out / f"{plan.name}.md"
    csv_path.write_bytes(to_csv_bytes(table))
    md_path.write_text(summary_markdown(plan, session_results(table)))
    print(f"wrote {csv_path} ({len(table)} judgements) and {md_path}")
    return 0


def list_sessions(args: argparse.Namespace) -> int:
    """Print the sessions of the database."""
    from core.listening.sessions import SessionStore

    table = SessionStore.open(args.db).sessions()
    print(table.to_string(index=False) if len(table) else "no sessions yet")
    return 0


def fail(message: str) -> int:
    """One clear line on stderr, exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m train.session", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, default=DEFAULT_DB, help="the notes database (default: %(default)s)")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="plan a new session")
    c.add_argument("--db", type=Path, default=argparse.SUPPRESS, help="the notes database")
    c.add_argument("--data", type=Path, required=True, help="prepared dataset folder (artifacts/<ds>)")
    c.add_argument("--name", required=True, help="session name (unique)")
    c.add_argument("--models", default="", help="comma list of embeddings (default: the first three)")
    c.add_argument("--k", type=int, default=5, help="recommendations per model and query")
    c.add_argument("--mode", choices=("open", "blind"), default="open",
                   help="open: verdicts on every list; blind: A/B vote between two models' lists")
    which = c.add_mutually_exclusive_group()
    which.add_argument("--chosen", default="", help="comma list of query track ids")
    which.add_argument("--handpicked", action="store_true", help="the handpicked queries (queries.csv)")
    which.add_argument("--stratified", type=int, default=0, help="draw N queries balanced over genre and artist")
    c.add_argument("--n", type=int, default=0, help="with --handpicked: keep the first N")
    c.add_argument("--seed", type=int, default=0, help="seed of the draw and of every listener's order")
    c.add_argument("--excerpt", type=float, default=10.0, help="seconds played of each track")
    c.add_argument("--start", default="representative", help="'representative' (loudest part) or seconds")
    c.add_argument("--no-loudness-match", action="store_true", help="play tracks at their own loudness")
    e = sub.add_parser("export", help="write a session's CSV and Markdown summary")
    e.add_argument("--db", type=Path, default=argparse.SUPPRESS, help="the notes database")
    e.add_argument("--name", required=True, help="session name")
    e.add_argument("--out", type=Path, default=Path("."), help="output folder")
    ls = sub.add_parser("list", help="list the sessions")
    ls.add_argument("--db", type=Path, default=argparse.SUPPRESS, help="the notes database")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Parse flags and run one subcommand; bad input exits 2 with one line."""
    from core.listening.sessions import SessionError

    args = build_parser().parse_args(argv)
    try:
        return {"create": create, "export": export, "list": list_sessions}[args.command](args)
    except (SessionError, OSError) as exc:
        return fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
