"""Phase-reconstruction speed and quality: log-mel -> audio for a 5-s clip (target <= 1 s).

    python -m benchmarks.bench_griffinlim [--clip PATH] [--iters 16,32,48,64] [--threads 1] [--repeats 3]

Uses a real GTZAN clip from ../shared/data when present, otherwise a synthetic chord with
noise. For each Griffin-Lim iteration count it prints the median wall time of mel inversion
+ fast Griffin-Lim and the oracle quality (LSD, spectral convergence) against the original.
The 1-min load average is printed too: other processes on the machine slow it down.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.audio.config import DEFAULT_AUDIO  # noqa: E402
from core.audio.decode import load_audio  # noqa: E402
from core.audio.features import log_mel  # noqa: E402
from core.latent.griffinlim import GriffinLimConfig, mel_to_audio, mel_to_linear  # noqa: E402
from core.latent.metrics import audio_metrics  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "data" / "gtzan_mini" / "genres_original" / "jazz" / "jazz.00001.wav"


def test_signal(clip: Path | None) -> tuple[np.ndarray, str]:
    """A 5-s clip: the given file, a GTZAN clip if present, else a synthetic chord plus noise."""
    cfg = DEFAULT_AUDIO
    n = (cfg.segment_frames - 1) * cfg.hop_length
    path = clip or (DEFAULT_CLIP if DEFAULT_CLIP.exists() else None)
    if path is not None:
        audio = load_audio(path, cfg, max_seconds=cfg.segment_seconds + 0.5)[:n]
        return np.pad(audio, (0, n - len(audio))), str(path.name)
    t = np.arange(n) / cfg.sample_rate
    x = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    x = x + 0.02 * np.random.default_rng(0).standard_normal(n)
    return x.astype(np.float32), "synthetic chord"


def main(argv: list[str] | None = None) -> int:
    """Time mel inversion + Griffin-Lim for several iteration counts; print a table (and JSON)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_griffinlim", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path)
    ap.add_argument("--iters", default="16,32,48,64")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = DEFAULT_AUDIO
    audio, name = test_signal(args.clip)
    mel = log_mel(audio, cfg)
    mel_to_audio(mel, cfg, GriffinLimConfig(n_iter=2))  # warm-up
    t_inv = statistics.median(_timed(lambda: mel_to_linear(mel, cfg)) for _ in range(args.repeats))
    rows = []
    for it in (int(s) for s in args.iters.split(",")):
        gl = GriffinLimConfig(n_iter=it)
        times, out = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = mel_to_audio(mel, cfg, gl)
            times.append(time.perf_counter() - t0)
        m = audio_metrics(audio, out, cfg)
        rows.append({"n_iter": it, "median_s": statistics.median(times), "lsd_db": m["lsd_db"],
                     "spectral_convergence": m["spectral_convergence"], "logmel_mse": m["logmel_mse"]})
    ref_s, ref_m = _librosa_reference(audio, mel, cfg, GriffinLimConfig().n_iter, args.repeats)
    load = os.getloadavg()[0]
    secs = len(audio) / cfg.sample_rate
    print(f"clip: {name} ({secs:.2f} s), threads={args.threads}, load average {load:.2f}, "
          f"mel inversion (FISTA NNLS) alone {t_inv * 1000:.0f} ms")
    print(f"{'iters':>6} {'time (s)':>9} {'x realtime':>10} {'LSD dB':>7} {'SC':>6} {'mel MSE':>8}")
    for r in rows:
        print(f"{r['n_iter']:>6} {r['median_s']:>9.3f} {secs / r['median_s']:>10.1f} {r['lsd_db']:>7.2f} "
              f"{r['spectral_convergence']:>6.3f} {r['logmel_mse']:>8.2f}")
    default = GriffinLimConfig().n_iter
    ours = next((r for r in rows if r["n_iter"] == default), rows[-1])
    print(f"naive reference librosa.feature.inverse.mel_to_audio ({default} iterations, plain Griffin-Lim, "
          f"same STFT): {ref_s:.3f} s, LSD {ref_m['lsd_db']:.2f} dB -> ours is "
          f"{ref_s / ours['median_s']:.1f}x faster at LSD {ours['lsd_db']:.2f} dB")
    ok = ours["median_s"] <= 1.0
    print(f"default ({default} iterations) within the 1-s target: {'yes' if ok else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps({"clip": name, "threads": args.threads, "load": load,
                                         "mel_inversion_s": t_inv, "rows": rows, "librosa_reference_s": ref_s,
                                         "librosa_reference_lsd_db": ref_m["lsd_db"]}, indent=2))
    return 0


def _librosa_reference(audio: np.ndarray, mel_db: np.ndarray, cfg, n_iter: int, repeats: int) -> tuple[float, dict]:
    """Median time and metrics of librosa's own mel inversion + Griffin-Lim (the naive reference)."""
    import librosa

    power = librosa.db_to_power(mel_db)
    kw = dict(sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, fmin=cfg.fmin, fmax=cfg.fmax,
              power=2.0, n_iter=n_iter, length=len(audio))
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = librosa.feature.inverse.mel_to_audio(power, **kw)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), audio_metrics(audio, out.astype(np.float32), cfg)


def _timed(fn) -> float:
    """Wall time of one call."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
