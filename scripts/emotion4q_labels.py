"""Write a folder-dataset labels CSV for emotion4q (genre = mood quadrant; AllMusic moods and genres kept as
`mood:`/`genre:` tags, which the general text-search model turns into texts):

    python scripts/emotion4q_labels.py ../shared/data/emotion4q/metadata.csv artifacts/labels/emotion4q_labels.csv
    python -m train.prepare --dataset folder --root ../shared/data/emotion4q/audio \
        --labels artifacts/labels/emotion4q_labels.csv --out artifacts/emotion4q
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.text.sources import write_emotion4q_labels  # noqa: E402


def main(argv: list[str]) -> int:
    """Read metadata.csv, write the labels CSV; exit 2 with one line on bad input."""
    if len(argv) != 2:
        print("usage: python scripts/emotion4q_labels.py METADATA_CSV OUT_CSV", file=sys.stderr)
        return 2
    meta, out = Path(argv[0]), Path(argv[1])
    try:
        path = write_emotion4q_labels(meta, out)
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: cannot build the labels CSV from {meta}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
