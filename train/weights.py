"""Pretrained weights: list the files the encoders need (path, public source, licence, SHA-256), check a
weights folder, or download one listed file from its public source and verify its SHA-256 (the only
command that downloads anything): `python -m train.weights --help`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.encoders.base import EncoderError
from core.encoders.registry import SPECS, load_encoder
from core.encoders.weights import (
    BASE_URL_ENV,
    TOTAL_TIMEOUT_S,
    WEIGHT_FILES,
    WEIGHTS_ENV,
    WeightsError,
    fetch,
    resolve_weights_dir,
    sha256_of,
)


def build_parser() -> argparse.ArgumentParser:
    """Sub-commands list / check / fetch."""
    ap = argparse.ArgumentParser(prog="python -m train.weights", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the listed files with their source, licence and SHA-256")
    chk = sub.add_parser("check", help="verify a weights folder: every file present, hashes, strict loads")
    chk.add_argument("--weights-dir", default=None, help=f"folder (default: ${WEIGHTS_ENV})")
    fe = sub.add_parser("fetch", help="download one listed file and verify its SHA-256")
    fe.add_argument("name", help=f"one of: {', '.join(WEIGHT_FILES)}")
    fe.add_argument("--to", type=Path, required=True, help="weights folder to write into (layout kept)")
    fe.add_argument("--base-url", default=None,
                    help=f"download from BASE/<relative path> instead of the public URL (or ${BASE_URL_ENV})")
    fe.add_argument("--timeout", type=_positive, default=60.0, help="seconds to wait for each read (default 60)")
    fe.add_argument("--total-timeout", type=_positive, default=TOTAL_TIMEOUT_S,
                    help=f"seconds the whole download may take (default {TOTAL_TIMEOUT_S:g})")
    return ap


def _positive(text: str) -> float:
    """A finite number of seconds > 0 (argparse type)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (0 < v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    return v


def cmd_list() -> int:
    """Print the registry."""
    for wf in WEIGHT_FILES.values():
        print(f"{wf.name:18s} {wf.path}\n{'':18s} {wf.url}\n{'':18s} {wf.licence}, {wf.source}\n"
              f"{'':18s} sha256 {wf.sha256}")
    return 0


def cmd_check(weights_dir: str | None) -> int:
    """Hash every listed file and strict-load every encoder; exit 2 when anything is wrong."""
    try:
        wdir = resolve_weights_dir(weights_dir)
    except WeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    bad = 0
    for wf in WEIGHT_FILES.values():
        path = wf.local(wdir)
        if not path.is_file():
            print(f"missing  {path} (get it from {wf.url})")
            bad += 1
            continue
        ok = sha256_of(path) == wf.sha256
        bad += not ok
        print(f"{'ok      ' if ok else 'MISMATCH'} {path}")
    for name in SPECS:
        try:
            enc = load_encoder(name, wdir)
            print(f"loaded   {name}: {enc.sample_rate} Hz, dim {enc.dim}, frame every {enc.hop_s:.3f} s")
        except (WeightsError, EncoderError) as e:
            print(f"error    {name}: {e}")
            bad += 1
    return 2 if bad else 0


def main(argv: list[str] | None = None) -> int:
    """Parse and dispatch; errors exit 2 with a message."""
    args = build_parser().parse_args(argv)
    if args.cmd == "list":
        return cmd_list()
    if args.cmd == "check":
        return cmd_check(args.weights_dir)
    try:
        dest = fetch(args.name, args.to, base_url=args.base_url, timeout=args.timeout,
                     total_timeout=args.total_timeout)
    except WeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {dest} (sha256 {WEIGHT_FILES[args.name].sha256} verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
