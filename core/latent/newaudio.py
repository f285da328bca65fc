"""New audio through a trained model: format check, encode/reconstruct a file, and the app's upload
entry point `encode_and_reconstruct`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from core.audio.cache import FeatureCache
from core.audio.config import AudioConfig
from core.audio.decode import AUDIO_EXTENSIONS, AudioError, is_audio_path, load_audio
from core.audio.features import log_mel
from core.io import write_csv
from core.latent.evaluate import METRIC_INFO, mean_metrics, oracle_refs, reconstruct_refs
from core.latent.griffinlim import GriffinLimConfig, mel_to_audio
from core.latent.io import save_spec_png, save_wav
from core.latent.latents import latent_table, neighbours
from core.latent.metrics import METRIC_NAMES, audio_metrics, logmel_l1, logmel_mse
from core.latent.model import decode_latents, encode_mels, load_recon_model
from core.latent.segments import AudioCache, SegmentRef, segment_refs
from core.recommend.autoencoders import AudioMismatch
from core.recommend.windows import MelStats


class UnsupportedAudioFormat(ValueError):
    """An uploaded/new file whose extension the project cannot decode."""


def _pad_mel(mel: np.ndarray, frames: int, floor: float) -> tuple[np.ndarray, int]:
    """Crop or pad (with the dB floor) a log-mel to `frames`; returns it and the valid frame count."""
    n = min(mel.shape[1], frames)
    out = np.full((mel.shape[0], frames), floor, np.float32)
    out[:, :n] = mel[:, :n]
    return out, n


def check_audio_format(path: Path | str) -> Path:
    """Raise UnsupportedAudioFormat (with the accepted list) unless the extension is decodable."""
    path = Path(path)
    if not is_audio_path(path):
        raise UnsupportedAudioFormat(
            f"unsupported file format {path.suffix or '(no extension)'!r} for {path.name}; "
            f"accepted: {', '.join(AUDIO_EXTENSIONS)}"
        )
    return path


@dataclass
class Reconstruction:
    """One 5-s segment of a file through a study model: its mel, reconstruction, audio and metrics."""

    start_frame: int
    valid_frames: int
    padded: bool
    mel: np.ndarray  # [n_mels, segment_frames] dB (padded with the floor)
    recon_mel: np.ndarray
    z: np.ndarray
    original_audio: np.ndarray
    audio: np.ndarray  # reconstruction through Griffin-Lim
    oracle_audio: np.ndarray  # the true mel through the same inversion
    metrics: dict[str, float]
    oracle_metrics: dict[str, float]
    sample_rate: int
    neighbours: pd.DataFrame | None = None


def _reconstruct_segment(net: torch.nn.Module, stats: MelStats, audio: np.ndarray, mel_full: np.ndarray,
                         start: int, cfg: AudioConfig, gl: GriffinLimConfig) -> Reconstruction:
    """Encode, decode and invert one segment starting at frame `start`; measure against the original."""
    mel, valid = _pad_mel(mel_full[:, start:], cfg.segment_frames, cfg.top_db_floor)
    valid = max(valid, 2)
    z = encode_mels(net, stats, mel[None])[0]
    rec = decode_latents(net, stats, z[None], cfg)[0]
    n = (valid - 1) * cfg.hop_length
    ref_audio = audio[start * cfg.hop_length : start * cfg.hop_length + n]
    ref_audio = np.pad(ref_audio, (0, n - len(ref_audio)))
    y = mel_to_audio(rec[:, :valid], cfg, gl)
    y_oracle = mel_to_audio(mel[:, :valid], cfg, gl)
    m = audio_metrics(ref_audio, y, cfg)
    m["decoder_mel_mse"] = logmel_mse(mel[:, :valid], rec[:, :valid])
    m["decoder_mel_l1"] = logmel_l1(mel[:, :valid], rec[:, :valid])
    return Reconstruction(start, valid, valid < cfg.segment_frames, mel, rec, z, ref_audio, y, y_oracle, m,
                          audio_metrics(ref_audio, y_oracle, cfg), cfg.sample_rate)


def encode_file(net: torch.nn.Module, stats: MelStats, path: Path | str, cfg: AudioConfig,
                gl: GriffinLimConfig, max_segments: int = 1) -> list[Reconstruction]:
    """Encode/reconstruct the first segments of an audio file; short files are padded (stated in `padded`)."""
    path = check_audio_format(path)
    try:
        audio = load_audio(path, cfg, max_seconds=cfg.segment_seconds * max_segments + 1.0)
    except AudioError as exc:
        raise UnsupportedAudioFormat(f"cannot decode {path.name}: {exc}") from None
    mel_full = log_mel(audio, cfg)
    starts = list(range(0, max(1, mel_full.shape[1] - cfg.segment_frames + 1), cfg.segment_hop))[:max_segments] or [0]
    return [_reconstruct_segment(net, stats, audio, mel_full, s, cfg, gl) for s in starts]


def encode_and_reconstruct(ds_dir: Path | str, size: int, audio_path: Path | str, model: str | None = None,
                           gl: GriffinLimConfig | None = None, k: int = 5) -> Reconstruction:
    """For the app's upload: encode the first 5 s of a file with the size-`size` model and reconstruct it,
    with its `k` nearest dataset segments' tracks in `neighbours`. Raises UnsupportedAudioFormat for files
    it cannot read, LatentSizeMismatch / FileNotFoundError for models."""
    ds_dir = Path(ds_dir)
    check_audio_format(audio_path)
    fc = FeatureCache.open(ds_dir)
    net, stats = load_recon_model(ds_dir, size, model)
    net.check_audio(fc.config)
    item = encode_file(net, stats, audio_path, fc.config, gl or GriffinLimConfig(), max_segments=1)[0]
    lat = ds_dir / "recon" / f"z{size}" / "latents.npy"
    if lat.exists():
        z_all = np.load(lat)
        meta = pd.read_csv(lat.with_name("latents.csv"), dtype={"track_id": str})
    else:
        z_all, meta = latent_table(net, stats, fc, segment_refs(fc))
    item.neighbours = neighbours(item.z, z_all, meta, k)
    return item


@dataclass
class OutsideBlock:
    """Music from outside the training data (a folder of new music, or the demo corpus) through the chosen
    model: per-item files and metrics, and their means; `to_json` is the index.json block."""

    source_dir: str
    csv: str
    items: list[dict[str, Any]]
    mean: dict[str, float]
    oracle_mean: dict[str, float]
    size: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The index.json block."""
        head = {} if self.size is None else {"size": self.size}
        return {**head, "source_dir": self.source_dir, "csv": self.csv, "items": self.items, "mean": self.mean,
                "oracle_mean": self.oracle_mean}


def _safe_name(text: str) -> str:
    """A file-system-safe version of a name."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def _write_item(d: Path, r: Reconstruction, cfg: AudioConfig, title: str, rel_root: Path) -> dict[str, str]:
    """Original, oracle and reconstruction WAVs plus original/reconstruction PNGs of one item."""
    save_wav(d / "original.wav", r.original_audio, cfg)
    save_wav(d / "oracle.wav", r.oracle_audio, cfg)
    save_wav(d / "recon.wav", r.audio, cfg)
    save_spec_png(d / "original.png", r.mel[:, : r.valid_frames], cfg, f"{title}: original")
    save_spec_png(d / "recon.png", r.recon_mel[:, : r.valid_frames], cfg, "reconstruction")
    rel = d.relative_to(rel_root)
    return {"original_wav": str(rel / "original.wav"), "oracle_wav": str(rel / "oracle.wav"),
            "recon_wav": str(rel / "recon.wav"), "original_png": str(rel / "original.png"),
            "recon_png": str(rel / "recon.png")}


def reconstruct_folder(net: torch.nn.Module, stats: MelStats, files: list[Path], cfg: AudioConfig,
                       gl: GriffinLimConfig, z_all: np.ndarray, meta: pd.DataFrame, out_dir: Path,
                       rel_root: Path, n_segments: int = 1, n_neighbours: int = 5, progress: bool = True,
                       label: str = "new music") -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Encode/reconstruct a list of files; write audio/PNGs and return the metrics table and index items."""
    rows, items = [], []
    for f in tqdm(files, desc=label, leave=False, disable=not progress):
        try:
            results = encode_file(net, stats, f, cfg, gl, n_segments)
        except (UnsupportedAudioFormat, AudioError) as exc:
            rows.append({"name": f.name, "status": str(exc)})
            continue
        for j, r in enumerate(results):
            safe = _safe_name(f"{Path(f).stem[:60]}" + (f"_s{j}" if j else ""))
            files_of = _write_item(out_dir / safe, r, cfg, safe[:40], rel_root)
            nb = neighbours(r.z, z_all, meta, n_neighbours)
            rows.append({"name": safe, "status": "ok", "source": str(f), "padded": r.padded, **r.metrics,
                         **{f"oracle_{k}": v for k, v in r.oracle_metrics.items()},
                         "neighbours": "; ".join(f"{t} ({g}, {dist:.3f})" for t, g, dist in
                                                 zip(nb["track_id"], nb["genre"], nb["distance"])),
                         "neighbour_genres": "|".join(nb["genre"])})
            items.append({"name": safe, "source": str(f), "padded": bool(r.padded),
                          **{k: v for k, v in files_of.items()}, "metrics": r.metrics,
                          "oracle_metrics": r.oracle_metrics, "neighbours": nb.to_dict("records")})
    return pd.DataFrame(rows), items


def _first_segments(fc: FeatureCache, n: int) -> list[SegmentRef]:
    """The first segment of each of the first `n` tracks."""
    refs, seen = [], set()
    for r in segment_refs(fc):
        if r.track_id not in seen:
            seen.add(r.track_id)
            refs.append(r)
    return refs[:n]


def reconstruct_demo(net: torch.nn.Module, stats: MelStats, demo_dir: Path, z_all: np.ndarray, meta: pd.DataFrame,
                     recon: Path, gl: GriffinLimConfig, n_clips: int = 28, n_neighbours: int = 5,
                     progress: bool = True) -> OutsideBlock | None:
    """Reconstruct the first segment of each demo-corpus track and list its nearest dataset neighbours
    (None when the demo cache was prepared with other audio settings than the model)."""
    dfc = FeatureCache.open(demo_dir)
    try:
        net.check_audio(dfc.config)
        if dfc.config.segment_frames != net.n_frames:
            raise AudioMismatch(f"segments of {dfc.config.segment_frames} frames, the model's are {net.n_frames}")
    except AudioMismatch as exc:
        tqdm.write(f"[latent_sizes] demo corpus {demo_dir} skipped: {exc}")
        return None
    refs = _first_segments(dfc, n_clips)
    audio = AudioCache(dfc.config)
    df, store = reconstruct_refs(net, stats, dfc, refs, audio, gl, desc="demo", progress=progress)
    odf, oaudio = oracle_refs(dfc, refs, audio, gl, progress)
    items, nb_text = [], []
    for i, r in enumerate(refs):
        nb = neighbours(store[r.segment]["z"], z_all, meta, n_neighbours)
        nb_text.append("; ".join(f"{t} ({g})" for t, g in zip(nb["track_id"], nb["genre"])))
        entry = {"name": r.clip_id, "track_id": r.track_id, "genre": r.genre,
                 "metrics": {k: float(df.iloc[i][k]) for k in METRIC_INFO},
                 "oracle_metrics": {k: float(odf.iloc[i][k]) for k in METRIC_INFO},
                 "neighbours": nb.to_dict("records")}
        if i < 4:
            entry.update(_write_demo_files(recon / "demo" / r.clip_id, r, audio, oaudio, store, dfc.config, recon))
        items.append(entry)
    out_df = df.assign(neighbours=nb_text)
    for k in METRIC_NAMES:
        out_df[f"oracle_{k}"] = odf[k].to_numpy()
    (recon / "demo").mkdir(parents=True, exist_ok=True)
    write_csv(out_df, recon / "demo" / "demo.csv")
    return OutsideBlock(str(demo_dir), "demo/demo.csv", items, mean_metrics(df), mean_metrics(odf))


def _write_demo_files(d: Path, r: SegmentRef, audio: AudioCache, oaudio: dict[int, np.ndarray],
                      store: dict[int, dict], cfg: AudioConfig, recon: Path) -> dict[str, str]:
    """Original, oracle and reconstruction WAVs and PNGs of one demo clip; their paths relative to recon/."""
    save_wav(d / "original.wav", audio.segment(r), cfg)
    save_wav(d / "oracle.wav", oaudio[r.segment], cfg)
    save_wav(d / "recon.wav", store[r.segment]["audio"], cfg)
    save_spec_png(d / "original.png", store[r.segment]["mel"], cfg, f"{r.clip_id}: original")
    save_spec_png(d / "recon.png", store[r.segment]["recon_mel"], cfg, "reconstruction")
    rel = d.relative_to(recon)
    return {"original_wav": str(rel / "original.wav"), "oracle_wav": str(rel / "oracle.wav"),
            "recon_wav": str(rel / "recon.wav"), "original_png": str(rel / "original.png"),
            "recon_png": str(rel / "recon.png")}
