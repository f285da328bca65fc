"""Search any prepared dataset with words, using a general text-search model: `python -m train.text_query
--model artifacts/text_models/general --data artifacts/mine --query "sad piano" --k 10 [--json]`.

The dataset needs the model's audio embedding (`python -m train.embed`). Each hit shows its cosine and its
calibrated score (the share of 120 reference descriptions the query beats on that track). When the collection
fits the query worse than it fits the median reference description, the answer starts with "No good match".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    ap = argparse.ArgumentParser(prog="python -m train.text_query", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("artifacts/text_models/general"), help="model folder")
    ap.add_argument("--data", type=Path, required=True, help="prepared dataset to search")
    ap.add_argument("--query", required=True, help="the music you want, in words")
    ap.add_argument("--k", type=int, default=10, help="tracks to list")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return ap


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The parsed flags."""
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Answer one query; exit 2 with one line on bad input."""
    args = parse_args(argv)
    if not args.query.strip():
        print("error: --query is empty; describe the music you want, e.g. \"sad piano\"", file=sys.stderr)
        return 2
    if args.k < 1:
        print("error: --k must be >= 1", file=sys.stderr)
        return 2
    if not (args.data / "cache").is_dir():
        print(f"error: {args.data} is not a prepared dataset (no cache/); run `python -m train.prepare` first",
              file=sys.stderr)
        return 2
    from core.text.encoders import TextEncoderError
    from core.text.pipeline import text_query
    from core.text.query import TextModelMissing
    from core.text.table import AudioEncoderMissing

    try:
        result = text_query(args.model, args.data, args.query.strip(), args.k)
    except (TextModelMissing, AudioEncoderMissing, TextEncoderError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    print(result.verdict.message())
    print(result.hits[["rank", "track_id", "title", "genre", "cosine", "calibrated"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
