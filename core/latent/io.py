"""Files the latent-size study writes: WAV audio, spectrogram PNGs, JSON and the summary plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from core.audio.config import AudioConfig
from core.latent.evaluate import METRIC_INFO
from core.latent.metrics import METRIC_NAMES

SPEC_DB_RANGE = (-70.0, 25.0)  # colour range of every spectrogram PNG (GTZAN: 1st..99.9th percentile)


def save_wav(path: Path, audio: np.ndarray, cfg: AudioConfig) -> None:
    """Write 16-bit PCM WAV (peak-limited to [-1, 1])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(np.nan_to_num(audio), -1.0, 1.0), cfg.sample_rate, subtype="PCM_16")


def save_spec_png(path: Path, mel_db: np.ndarray, cfg: AudioConfig, title: str = "",
                  db_range: tuple[float, float] = SPEC_DB_RANGE) -> None:
    """Spectrogram image of a log-mel in dB (low frequencies at the bottom).

    One fixed colour range (SPEC_DB_RANGE) for every image, so an original, its oracle and its
    reconstructions are directly comparable by eye.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 2.6), dpi=90)
    secs = mel_db.shape[1] * cfg.hop_length / cfg.sample_rate
    im = ax.imshow(mel_db, origin="lower", aspect="auto", cmap="magma", vmin=db_range[0], vmax=db_range[1],
                   extent=(0, secs, 0, mel_db.shape[0]))
    fig.colorbar(im, ax=ax, label="dB", pad=0.01)
    ax.set_xlabel("s")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)






def plot_metrics(table: pd.DataFrame, oracle: dict[str, float], chosen: int | None, path: Path) -> None:
    """One panel per metric against latent size (log2 axis), oracle as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(METRIC_NAMES) + ["decoder_mel_mse"]
    fig, axes = plt.subplots(3, 3, figsize=(12, 9.5), dpi=90)
    for ax, name in zip(axes.ravel(), names):
        ax.plot(table["size"], table[name], "o-", label="reconstruction")
        band = f"{name}_ci95" if f"{name}_ci95" in table.columns else f"{name}_std"
        if band in table.columns:
            ax.fill_between(table["size"], table[name] - table[band], table[name] + table[band], alpha=0.15)
        ax.axhline(oracle.get(name, np.nan), color="k", ls="--", label="oracle (true mel)")
        if chosen is not None:
            ax.axvline(chosen, color="tab:green", ls=":", label=f"chosen z={chosen}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(table["size"]))
        ax.set_xticklabels([str(s) for s in table["size"]])
        unit = METRIC_INFO[name]["unit"]
        ax.set_title(f"{name}" + (f" ({unit})" if unit else ""), fontsize=10)
        ax.set_xlabel("latent size")
    axes.ravel()[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def plot_maps(res_maps: pd.DataFrame, elbow: pd.DataFrame, size: int, path: Path) -> None:
    """PCA and UMAP maps coloured by genre, plus the elbow/silhouette curve, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), dpi=90)
    genres = sorted(res_maps["genre"].unique())
    cmap = plt.get_cmap("tab10" if len(genres) <= 10 else "tab20")
    for ax, (xc, yc, title) in zip(axes[:2], (("pca_x", "pca_y", "PCA"), ("umap_x", "umap_y", "UMAP"))):
        for i, g in enumerate(genres):
            d = res_maps[res_maps["genre"] == g]
            ax.scatter(d[xc], d[yc], s=14, color=cmap(i % cmap.N), label=g)
        ax.set_title(f"z={size}: {title} coloured by genre", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].legend(fontsize=7, loc="best", ncol=2)
    ax = axes[2]
    if len(elbow):
        ax.plot(elbow["k"], elbow["inertia"], "o-", color="tab:blue")
        ax.set_ylabel("k-means inertia", color="tab:blue")
        ax2 = ax.twinx()
        ax2.plot(elbow["k"], elbow["silhouette"], "s--", color="tab:red")
        ax2.set_ylabel("silhouette", color="tab:red")
    ax.set_xlabel("k")
    ax.set_title("elbow curve and silhouette", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
