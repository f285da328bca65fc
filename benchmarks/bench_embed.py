"""Benchmark of the frozen encoders (prints figures; not a timed test).

    .venv/bin/python benchmarks/bench_embed.py [--weights-dir ../shared/data/weights] [--encoders ...] [--repeats 3]

On one core (torch.set_num_threads(1), one BLAS/OpenMP thread) and one real 30-s, 44.1 kHz stereo MP3 made from
the demo corpus (the FMA format), it measures per encoder: decoding at the encoder's own rate, the encoder's
pass (frames + embedding + tags), their sum as ms per 30-s clip and tracks/s, and the fma_small (8,000 tracks)
time on 2 cores extrapolated as 8000 x (decode + encode) / 2. The reference measured in the same run is the
project's own feature extraction of the same clip (decode at the cache rate + `core.audio.features.analyze`:
log-mel and the classic baseline, what `train.prepare` does per track); every encoder is printed as a ratio
of it. Median of `--repeats` runs after one warm-up. The last line is one JSON object.
"""

from __future__ import annotations

import os

for _k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_k] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FMA_SMALL = 8000
CORES = 2
DEFAULT_WEIGHTS = REPO.parent / "shared" / "data" / "weights"


def median_time(fn, repeats: int) -> float:
    """Median CPU seconds of `fn()` (this process, one thread) over `repeats` runs after one warm-up. CPU time,
    not wall time: on a shared machine a single-threaded job's CPU time is what it takes on a free core."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times)


def make_clip(folder: Path) -> Path:
    """A 30-s 44.1 kHz stereo MP3 of demo-corpus music."""
    import numpy as np

    from tests.helpers.audio import demo_excerpt, demo_files, write_mp3

    x = demo_excerpt(0, 30.0, offset_s=1.0, sr=44100)
    stereo = np.stack([x, np.roll(x, 441)], axis=1) if x.ndim == 1 else x
    assert demo_files(), "demo corpus missing"
    return write_mp3(folder / "000002.mp3", stereo, 44100)


def reference(path: Path, repeats: int) -> dict:
    """The project's feature extraction of the clip: decode at the cache rate + analyze."""
    from core.audio.config import DEFAULT_AUDIO
    from core.audio.decode import load_audio
    from core.audio.features import analyze

    dec = median_time(lambda: load_audio(path, DEFAULT_AUDIO), repeats)
    audio = load_audio(path, DEFAULT_AUDIO)
    feat = median_time(lambda: analyze(audio, DEFAULT_AUDIO), repeats)
    return {"decode_s": dec, "encode_s": feat, "total_s": dec + feat}


def encoder_row(name: str, path: Path, weights: Path, repeats: int) -> dict:
    """Decode + encode timings of one encoder on the clip."""
    from core.audio.config import AudioConfig
    from core.audio.decode import load_audio
    from core.encoders.registry import load_encoder

    enc = load_encoder(name, weights)
    cfg = AudioConfig(sample_rate=enc.sample_rate)
    dec = median_time(lambda: load_audio(path, cfg), repeats)
    audio = load_audio(path, cfg)
    encode = median_time(lambda: enc.analyse(audio), repeats)
    total = dec + encode
    return {"encoder": name, "sample_rate": enc.sample_rate, "decode_s": dec, "encode_s": encode, "total_s": total,
            "ms_per_30s_clip": 1000 * total, "tracks_per_s_1core": 1 / total,
            "fma_small_min_2cores": FMA_SMALL * total / CORES / 60}


def main() -> int:
    """Measure and print the table and one JSON line."""
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights-dir", type=Path, default=Path(os.environ.get("WORKBENCH_WEIGHTS", DEFAULT_WEIGHTS)))
    ap.add_argument("--encoders", default="fcn_msd,musicnn_mtat,crnn_msd,efficientat_mn04")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not args.weights_dir.is_dir():
        print(f"error: no weights folder {args.weights_dir} (pass --weights-dir)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp))
        ref = reference(clip, args.repeats)
        rows = [encoder_row(n.strip(), clip, args.weights_dir, args.repeats) for n in args.encoders.split(",")]
    print(f"reference (decode @ cache rate + log-mel/baseline analyze): {1000 * ref['total_s']:.0f} ms per 30-s clip")
    print(f"load average {os.getloadavg()[0]:.1f}; times are CPU seconds of one thread")
    print("| encoder | decode ms | encode ms | ms / 30-s clip | x reference | tracks/s, 1 core | fma_small min |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        r["x_reference"] = r["total_s"] / ref["total_s"]
        print(f"| {r['encoder']} | {1000 * r['decode_s']:.0f} | {1000 * r['encode_s']:.0f} | "
              f"{r['ms_per_30s_clip']:.0f} | {r['x_reference']:.1f} | {r['tracks_per_s_1core']:.2f} | "
              f"{r['fma_small_min_2cores']:.1f} |")
    print(json.dumps({"reference": ref, "encoders": rows, "torch_threads": torch.get_num_threads(),
                      "loadavg": os.getloadavg()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
