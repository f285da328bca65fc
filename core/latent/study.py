"""The latent-size study: train one autoencoder per latent size, reconstruct audio, measure,
choose the smallest good size, analyse latents, encode new music and generate.

Everything lands under `<ds>/recon/` and is described by `recon/index.json` (schema in
artifacts/README.md); the Streamlit "Reconstructions" page reads only that. The steps live in
core.latent.model (checkpoints, encode/decode), .segments, .evaluate (reconstruction and oracle
metrics), .latents, .analysis, .generation, .io (WAV/PNG/plots) and .newaudio (audio from outside).

```python
from core.latent.study import StudyConfig, run_study
run_study(Path("artifacts/gtzan_mini"), StudyConfig(sizes=(8, 16, 32)))
```
"""

from __future__ import annotations

import math
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from core.audio.cache import FeatureCache
from core.audio.decode import is_audio_path
from core.audio.features import log_mel
from core.io import utc_now, write_csv, write_json
from core.latent.analysis import AnalysisConfig, analyze
from core.latent.evaluate import METRIC_INFO, mean_metrics, oracle_refs, reconstruct_refs
from core.latent.generation import generate
from core.latent.griffinlim import GriffinLimConfig
from core.latent.io import SPEC_DB_RANGE, plot_maps, plot_metrics, save_spec_png, save_wav
from core.latent.latents import latent_table
from core.latent.losses import LOSSES, recon_loss
from core.latent.metrics import METRIC_NAMES
from core.latent.model import (
    LatentSizeMismatch,
    build_recon_model,
    check_latent_size,
    checkpoint_for,
    load_recon_model,
    model_from_checkpoint,
    run_name_for,
)
from core.latent.newaudio import (
    OutsideBlock,
    Reconstruction,
    UnsupportedAudioFormat,
    encode_and_reconstruct,
    reconstruct_demo,
    reconstruct_folder,
)
from core.latent.segments import AudioCache, SegmentRef, segment_refs
from core.latent.sizes import latent_size
from core.nn.experiments import append_run
from core.nn.loop import TrainConfig, fit, load_checkpoint
from core.recommend.windows import FixedWindowDataset, MelStats, RandomCropDataset, compute_mel_stats, segment_table

__all__ = ["LatentSizeMismatch", "Reconstruction", "StudyConfig", "StudyResult", "UnsupportedAudioFormat",
           "analysis_sizes_for", "choose_size", "encode_and_reconstruct", "run_study"]

SCHEMA = "recon-study/1"


def _study_training() -> TrainConfig:
    """Training settings of one size: epoch-bounded (up to 60 epochs of 512 crops, patience 5, no time limit,
    so two runs give identical checkpoints), batch 16, 1 thread (no OpenMP oversubscription on a shared
    machine). The one-vector model is capped lower (`StudyConfig.vector_epochs`)."""
    return TrainConfig(max_epochs=60, patience=5, lr=1e-3, batch_size=16, seed=0, max_wall_s=None, num_threads=1)


@dataclass
class StudyConfig:
    """Settings of a latent-size sweep (everything but the latent size stays fixed); `train` holds the
    training loop's settings (its run name and output folder are set per size)."""

    sizes: tuple[int, ...] = (16,)  # one-vector model (`model`)
    model: str = "conv2d"
    time_sizes: tuple[int, ...] = (27, 216, 1728, 3456, 6912)  # T x C model (shape from timeae.time_shape)
    time_model: str = "time_conv"
    time_hidden: int = 96  # hidden channels of the T x C model's convolutions
    loss: str = "auto"  # "mse", "mrmel" or "auto": both tried at `loss_choice_size`, the better on val kept
    loss_choice_size: int | None = None  # None: the middle time size (else the middle one-vector size)
    loss_metric: str = "mel_distance"  # validation measure that picks the loss (lower is better)
    samples_per_epoch: int | None = 512  # random 5-s crops per epoch (None: one per training segment)
    vector_epochs: int | None = 6  # at most this many epochs for the one-vector model (2-D convolutions: slow)
    linear_fit_segments: int = 800  # training segments the T x C model's linear path is fitted on
    eval_split: str = "test"  # held-out segments every reported figure is measured on
    select_split: str = "val"  # segments the size rule is applied to (never the figures' own segments)
    min_select_segments: int = 8  # fewer (or fewer than max_eval_segments) -> the rule falls back, flagged
    objective: str = "ae"
    train: TrainConfig = field(default_factory=_study_training)
    retrain: bool = False
    n_clips: int = 10  # fixed validation clips written as audio per size
    gl_iter: int = 48
    margin_db: float = 0.5  # fallback rule: smallest size with LSD <= plateau + margin_db
    rule_metric: str = "lsd_db"
    margin_onset: float = 0.25  # rule: onset_corr >= oracle - margin_onset,
    margin_chroma: float = 0.15  # chroma_cos >= oracle - margin_chroma and
    margin_lsd_db: float = 1.5  # lsd_db <= oracle + margin_lsd_db
    analysis_sizes: tuple[int, ...] | None = None  # None: chosen, half, double (+ neighbours)
    with_umap: bool = True
    new_music_dir: Path | None = None
    demo_dir: Path | None = None
    n_new_segments: int = 1  # segments per new-music file (from the start)
    n_demo_clips: int = 28
    n_train_check: int = 10  # train segments (one per genre) re-measured per size: fit vs generalisation
    n_interp_steps: int = 6
    n_samples: int = 4
    n_neighbours: int = 5
    max_eval_segments: int | None = 64  # test (and validation) segments measured per size, evenly spaced; None: all
    loss_eval_segments: int = 24  # validation segments that decide the loss


@dataclass
class SizeResult:
    """What the study knows about one latent size."""

    size: int
    kind: str
    run_name: str
    checkpoint: str
    trained_now: bool
    epochs: int
    best_val_loss: float
    train_wall_s: float
    n_params: int
    metrics: dict[str, float] = field(default_factory=dict)
    select_metrics: dict[str, float] = field(default_factory=dict)  # the same on the rule's segments


@dataclass
class StudyResult:
    """What a sweep found: the chosen size and its rule, which segments chose it, per-size metrics and the
    oracle on the test segments, and the index written to `recon/index.json` (whose schema the app reads)."""

    chosen_size: int
    sizes: list[int]
    rule_text: str
    selected_on: str
    metrics: dict[int, dict[str, float]]
    oracle: dict[str, float]
    index_path: Path
    index: dict[str, Any]


def choose_size(metrics_by_size: dict[int, dict[str, float]], metric: str = "lsd_db",
                margin: float = 0.5, on: str = "held-out") -> tuple[int, float, str]:
    """The rule: smallest size whose `metric` is within `margin` of the plateau (best value); `on` names the
    segments the table was measured on, for the words.

    Returns (chosen size, plateau value, the rule in words).
    """
    if not metrics_by_size:
        raise ValueError("no sizes to choose from")
    vals = {s: float(m[metric]) for s, m in metrics_by_size.items() if math.isfinite(float(m[metric]))}
    if not vals:
        raise ValueError(f"no finite {metric} values")
    plateau = min(vals.values())
    chosen = min(s for s, v in vals.items() if v <= plateau + margin)
    text = (f"smallest latent size whose mean {on} {metric} is within {margin:g} of the plateau "
            f"(the best value over all sizes, {plateau:.3f})")
    return chosen, plateau, text


@dataclass
class SizeRule:
    """The structure rule's outcome: the chosen size, whether any size met the margins, and the words."""

    chosen: int
    met: bool
    text: str
    plateau: float


def choose_structure_size(metrics_by_size: dict[int, dict[str, float]], oracle: dict[str, float],
                          margin_onset: float = 0.25, margin_chroma: float = 0.15, margin_lsd: float = 1.5,
                          fallback_metric: str = "lsd_db", fallback_margin: float = 0.5,
                          on: str = "held-out") -> SizeRule:
    """The rule: smallest size whose onset-envelope correlation (rhythm) and chroma cosine (harmony) are
    within the margins of the oracle's and whose LSD is at most `margin_lsd` dB above the oracle's, all
    measured on the segments `on` names. When no size meets all three, the plateau rule on
    `fallback_metric` picks the size and the text says that the structure rule was not met."""
    if not metrics_by_size:
        raise ValueError("no sizes to choose from")
    lo_onset = oracle["onset_corr"] - margin_onset
    lo_chroma = oracle["chroma_cos"] - margin_chroma
    hi_lsd = oracle["lsd_db"] + margin_lsd
    ok = [s for s, m in metrics_by_size.items()
          if m["onset_corr"] >= lo_onset and m["chroma_cos"] >= lo_chroma and m["lsd_db"] <= hi_lsd]
    base = (f"smallest latent size whose mean {on} onset-envelope correlation is >= {lo_onset:.3f} (oracle "
            f"{oracle['onset_corr']:.3f} - {margin_onset:g}), chroma cosine >= {lo_chroma:.3f} (oracle "
            f"{oracle['chroma_cos']:.3f} - {margin_chroma:g}) and LSD <= {hi_lsd:.2f} dB (oracle "
            f"{oracle['lsd_db']:.2f} + {margin_lsd:g})")
    chosen, plateau, fb_text = choose_size(metrics_by_size, fallback_metric, fallback_margin, on)
    if ok:
        return SizeRule(min(ok), True, base, plateau)
    return SizeRule(chosen, False, f"{base}: no size met it, so the size comes from the fallback rule, the "
                                   f"{fb_text}", plateau)


@dataclass
class Selection:
    """Which segments chose the size: the rule's outcome on them, their split (`selected_on`: the select
    split, or the figures' own split with the reason when it had to fall back), and the words for a reader."""

    rule: SizeRule
    selected_on: str
    fallback: bool
    n_segments: int
    text: str


def min_select_segments(cfg: StudyConfig) -> int:
    """Fewest segments the rule is applied to: `min_select_segments`, or `max_eval_segments` when smaller."""
    return max(2, min(cfg.min_select_segments, cfg.max_eval_segments or cfg.min_select_segments))


def select_size(select_table: dict[int, dict[str, float]], select_oracle: dict[str, float], n_select: int,
                eval_table: dict[int, dict[str, float]], eval_oracle: dict[str, float], n_eval: int,
                cfg: StudyConfig) -> Selection:
    """The size rule applied to the `select_split` table (with that split's oracle); every figure is reported
    on the `eval_split` table. With too few select segments the rule runs on the eval table instead, and
    `selected_on` and the text say so."""
    low = min_select_segments(cfg)
    args = (cfg.margin_onset, cfg.margin_chroma, cfg.margin_lsd_db, cfg.rule_metric, cfg.margin_db)
    figures = f"every figure is measured on {n_eval} {cfg.eval_split} segments"
    if n_select >= low and select_table:
        rule = choose_structure_size(select_table, select_oracle, *args, on=f"{cfg.select_split}-segment")
        return Selection(rule, cfg.select_split, False, n_select,
                         f"chosen on {n_select} {cfg.select_split} segments (tracks the models were not trained "
                         f"on); {figures}")
    rule = choose_structure_size(eval_table, eval_oracle, *args, on=f"{cfg.eval_split}-segment")
    return Selection(rule, f"{cfg.eval_split} (too few {cfg.select_split} segments: {n_select} < {low})", True,
                     n_eval, f"chosen on the same {n_eval} {cfg.eval_split} segments the figures are measured on, "
                     f"because the {cfg.select_split} split has only {n_select} segments (fewer than {low}): "
                     f"the choice is not independent of the figures")


def ci95(values: np.ndarray) -> float:
    """Half-width of the normal-approximation 95 % confidence interval of a mean (1.96 sd / sqrt(n))."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(1.96 * v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")


def analysis_sizes_for(sizes: list[int], chosen: int) -> list[int]:
    """Chosen, half and double size where trained; filled with the nearest other sizes up to three."""
    pick = [s for s in (chosen // 2, chosen, chosen * 2) if s in sizes]
    for s in sorted(sizes, key=lambda s: (abs(math.log2(s) - math.log2(chosen)), s)):
        if len(pick) >= 3:
            break
        if s not in pick:
            pick.append(s)
    return sorted(pick)


# --------------------------------------------------------------------------- training


def _new_model(fc: FeatureCache, kind: str, size: int, stats: MelStats,
               cfg: StudyConfig) -> tuple[torch.nn.Module, float | None]:
    """A fresh, seeded model of one kind and size; a T x C model gets its linear path fitted on up to
    `linear_fit_segments` evenly spaced training segments (returns the variance share it holds)."""
    acfg = fc.config
    torch.manual_seed(cfg.train.seed)
    extra = {"hidden": cfg.time_hidden} if kind == cfg.time_model else {}
    net = build_recon_model(kind, n_mels=acfg.n_mels, n_frames=acfg.segment_frames, latent_dim=size,
                            objective=cfg.objective, sample_rate=acfg.sample_rate, hop_length=acfg.hop_length,
                            **extra)
    if not hasattr(net, "fit_linear"):
        return net, None
    segs = segment_table(fc, fc.split_rows("train"))[0]
    pick = segs[np.linspace(0, len(segs) - 1, min(len(segs), cfg.linear_fit_segments)).round().astype(int)]
    mels = stats.apply(np.asarray(fc.mels[np.unique(pick)], dtype=np.float32))
    return net, net.fit_linear(mels)


def train_size(fc: FeatureCache, ds_dir: Path, kind: str, size: int, stats: MelStats, cfg: StudyConfig,
               loss: str, run: str | None = None) -> SizeResult:
    """Train (or reuse) the model of one kind and latent size through core.nn.fit with `loss`."""
    acfg, seed = fc.config, cfg.train.seed
    run = run or run_name_for(kind, size)
    best = ds_dir / "checkpoints" / run / "best.pt"
    if best.exists() and not cfg.retrain:
        ckpt = load_checkpoint(best)
        check_latent_size(ckpt, size, best)
        return SizeResult(size, kind, run, str(best.relative_to(ds_dir)), False, int(ckpt.get("epoch", 0)),
                          float(ckpt.get("best_val_loss", math.nan)), float(ckpt.get("wall_s", math.nan)),
                          0, {"epochs_history": len(ckpt.get("history", []))})
    if cfg.retrain:
        shutil.rmtree(best.parent, ignore_errors=True)
    net, linear_share = _new_model(fc, kind, size, stats, cfg)
    train_ds = RandomCropDataset(fc, fc.split_rows("train"), stats, window=acfg.segment_frames, seed=seed,
                                 samples_per_epoch=cfg.samples_per_epoch)
    val_ds = FixedWindowDataset(fc, fc.split_rows("val"), stats, window=acfg.segment_frames)
    train_dl = DataLoader(train_ds, batch_size=cfg.train.batch_size, shuffle=True,
                          generator=torch.Generator().manual_seed(seed))
    val_dl = DataLoader(val_ds, batch_size=cfg.train.batch_size)
    epochs = cfg.train.max_epochs if kind == cfg.time_model else min(cfg.train.max_epochs,
                                                                     cfg.vector_epochs or cfg.train.max_epochs)
    tcfg = replace(cfg.train, run_name=run, out_dir=ds_dir, max_epochs=epochs,
                   extra={"mel_stats": stats.to_dict(), "study": "latent_sizes", "latent_dim": size, "loss": loss,
                          "linear_variance_share": linear_share})
    res = fit(net, train_dl, val_dl, tcfg, loss_fn=recon_loss(loss))
    append_run(ds_dir, {
        "run_name": run, "model": kind, "objective": cfg.objective, "loss": loss, "latent_dim": size,
        "study": "latent_sizes", "epochs": res.epochs, "best_epoch": res.best_epoch,
        "stopped": res.stopped_reason, "train_loss": res.best_train_loss, "val_loss": res.best_val_loss,
        "wall_s": round(res.wall_s, 1), "params": net.n_parameters(), "lr": tcfg.lr,
        "batch_size": tcfg.batch_size, "seed": seed, "date": utc_now(),
    })
    return SizeResult(size, kind, run, str(Path(res.best_checkpoint).relative_to(ds_dir)), True, res.epochs,
                      res.best_val_loss, res.wall_s, net.n_parameters())


# --------------------------------------------------------------------------- the study


def _summary(df: pd.DataFrame) -> dict[str, float]:
    """Mean, standard deviation and 95 % CI half-width of every metric of a per-clip table."""
    out = mean_metrics(df)
    out.update({f"{k}_std": float(df[k].std(ddof=0)) for k in METRIC_INFO})
    out.update({f"{k}_ci95": ci95(df[k].to_numpy()) for k in METRIC_INFO})
    return out


@dataclass
class _Plan:
    """The segments a sweep measures: every segment, the held-out test ones every figure is reported on, the
    validation ones the size rule is applied to (empty when too few: the rule then falls back), the
    validation ones that decide the loss, the fixed clips written as audio, and a handful of training
    segments (one per genre) to tell fit from generalisation."""

    all_refs: list[SegmentRef]
    eval_refs: list[SegmentRef]
    select_refs: list[SegmentRef]
    n_select_available: int
    clips: list[SegmentRef]
    train_check: list[SegmentRef]
    loss_refs: list[SegmentRef]


def _spread(refs: list[SegmentRef], n: int | None) -> list[SegmentRef]:
    """At most n refs, evenly spaced over the list (so every source dataset and genre is represented)."""
    if n is None or len(refs) <= n:
        return refs
    return [refs[int(i)] for i in np.linspace(0, len(refs) - 1, n).round().astype(int)]


def _plan(fc: FeatureCache, cfg: StudyConfig) -> _Plan:
    """Choose the measured segments: evenly spaced test and validation segments (each at most
    `max_eval_segments`), clips = the first segment of test tracks taken genre by genre in turn."""
    all_refs = segment_refs(fc)
    eval_refs = _spread([r for r in all_refs if r.split == cfg.eval_split], cfg.max_eval_segments)
    select_refs = _spread([r for r in all_refs if r.split == cfg.select_split], cfg.max_eval_segments)
    n_select = len(select_refs)
    if n_select < min_select_segments(cfg):
        select_refs = []
    loss_refs = _spread([r for r in all_refs if r.split == "val"], cfg.loss_eval_segments)
    by_genre: dict[str, list[SegmentRef]] = {}
    for r in eval_refs:
        lst = by_genre.setdefault(r.genre, [])
        if r.track_id not in {x.track_id for x in lst}:
            lst.append(r)
    clips: list[SegmentRef] = []
    for i in range(max((len(v) for v in by_genre.values()), default=0)):
        clips += [v[i] for _, v in sorted(by_genre.items()) if i < len(v)]
    train_check: list[SegmentRef] = []
    for r in all_refs:
        if r.split == "train" and r.genre not in {t.genre for t in train_check}:
            train_check.append(r)
    return _Plan(all_refs, eval_refs, select_refs, n_select, clips[: cfg.n_clips], train_check[: cfg.n_train_check],
                 loss_refs)


def size_kinds(cfg: StudyConfig) -> dict[int, str]:
    """{latent size: model kind} of the sweep; refuses non-positive sizes and a size given to both kinds."""
    one, timed = set(int(s) for s in cfg.sizes), set(int(s) for s in cfg.time_sizes)
    if not one | timed or min(one | timed) < 1:
        raise ValueError(f"latent sizes must be positive integers, got {cfg.sizes} and {cfg.time_sizes}")
    if one & timed:
        raise ValueError(f"latent size(s) {sorted(one & timed)} given to both model kinds; sizes must differ")
    return dict(sorted({**{s: cfg.model for s in one}, **{s: cfg.time_model for s in timed}}.items()))


def _open(ds_dir: Path, cfg: StudyConfig) -> tuple[FeatureCache, dict[int, str]]:
    """The cache and {size: kind}; refuses bad sizes, a cache without train/val/held-out segments, or a
    checkpoint of another latent size (before any work)."""
    fc = FeatureCache.open(ds_dir)
    kinds = size_kinds(cfg)
    if cfg.loss != "auto" and cfg.loss not in LOSSES:
        raise ValueError(f"unknown loss {cfg.loss!r}; choose from {('auto',) + LOSSES}")
    if cfg.select_split == cfg.eval_split:
        raise ValueError(f"the size must be chosen on other segments than the figures ({cfg.eval_split!r} twice)")
    if not cfg.retrain:
        for size, kind in kinds.items():
            path = checkpoint_for(ds_dir, kind, size)
            if path.exists():
                ckpt = load_checkpoint(path)
                check_latent_size(ckpt, size, path)
                model_from_checkpoint(ckpt, path)  # OutdatedCheckpoint before any work
    n = {sp: len(fc.split_rows(sp)) for sp in ("train", "val", cfg.eval_split)}
    if min(n.values()) == 0:
        raise ValueError(f"{ds_dir} needs train, val and {cfg.eval_split} tracks (has {n})")
    return fc, kinds


class _Study:
    """One sweep in progress: the dataset, its plan, the shared audio cache and what each step found."""

    def __init__(self, ds_dir: Path, cfg: StudyConfig) -> None:
        self.ds_dir, self.cfg = ds_dir, cfg
        self.fc, self.kinds = _open(ds_dir, cfg)
        self.sizes = list(self.kinds)
        self.loss = cfg.loss
        self.loss_choice: dict[str, Any] = {}
        self.acfg = self.fc.config
        self.recon = ds_dir / "recon"
        self.recon.mkdir(parents=True, exist_ok=True)
        self.gl = GriffinLimConfig(n_iter=cfg.gl_iter, seed=cfg.train.seed)
        self.stats = compute_mel_stats(self.fc, self.fc.split_rows("train"), seed=cfg.train.seed)
        write_json(self.recon / "mel_stats.json", self.stats.to_dict())
        self.plan = _plan(self.fc, cfg)
        self.audio = AudioCache(self.acfg)
        self.size_results: dict[int, SizeResult] = {}
        self.per_size: dict[str, dict[str, Any]] = {}
        self.latents: dict[int, tuple[np.ndarray, pd.DataFrame]] = {}
        self.per_clip: list[pd.DataFrame] = []

    def oracle(self) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The size-independent ceiling (true mel + the same inversion) and the fixed clips' files."""
        fc, acfg, recon = self.fc, self.acfg, self.recon
        oracle_df, oracle_audio = oracle_refs(fc, self.plan.eval_refs, self.audio, self.gl, self.cfg.train.progress)
        self.oracle_ci = {k: ci95(oracle_df[k].to_numpy()) for k in METRIC_INFO}
        self.select_oracle: dict[str, float] = {}
        if self.plan.select_refs:  # the rule compares each size with the oracle on its own segments
            sdf, _ = oracle_refs(fc, self.plan.select_refs, self.audio, self.gl, self.cfg.train.progress)
            self.select_oracle = {**mean_metrics(sdf), **{f"{k}_ci95": ci95(sdf[k].to_numpy()) for k in METRIC_INFO}}
        entries = []
        for r in self.plan.clips:
            d = recon / "clips" / r.clip_id
            mel = np.asarray(fc.mels[r.segment], dtype=np.float32)[:, : max(2, r.n_frames)]
            save_wav(d / "original.wav", self.audio.segment(r), acfg)
            save_wav(d / "oracle.wav", oracle_audio[r.segment], acfg)
            save_spec_png(d / "original.png", mel, acfg, f"{r.clip_id}: original")
            save_spec_png(d / "oracle.png", log_mel(oracle_audio[r.segment], acfg), acfg, "oracle (true mel + GL)")
            om = oracle_df[oracle_df["segment"] == r.segment].iloc[0]
            entries.append({"clip_id": r.clip_id, "track_id": r.track_id, "genre": r.genre, "segment": r.segment,
                            "start_s": r.start_frame * acfg.hop_length / acfg.sample_rate,
                            "original_wav": f"clips/{r.clip_id}/original.wav",
                            "original_png": f"clips/{r.clip_id}/original.png",
                            "oracle_wav": f"clips/{r.clip_id}/oracle.wav",
                            "oracle_png": f"clips/{r.clip_id}/oracle.png",
                            "oracle_metrics": {k: float(om[k]) for k in METRIC_INFO}})
        self.per_clip.append(oracle_df.assign(size="oracle"))
        return mean_metrics(oracle_df), entries

    def choose_loss(self) -> None:
        """With loss "auto": train the choice size with each loss, measure the validation segments, keep the
        better on `loss_metric` (its checkpoint becomes that size's) and record both results."""
        cfg = self.cfg
        if cfg.loss != "auto":
            self.loss_choice = {"loss": cfg.loss, "how": "given"}
            return
        timed = [s for s, k in self.kinds.items() if k == cfg.time_model] or self.sizes
        size = cfg.loss_choice_size if cfg.loss_choice_size in self.kinds else timed[len(timed) // 2]
        kind, scores, runs = self.kinds[size], {}, {}
        for loss in LOSSES:
            tqdm.write(f"[latent_sizes] loss choice: z={size} ({kind}) with {loss}")
            runs[loss] = train_size(self.fc, self.ds_dir, kind, size, self.stats, cfg, loss,
                                    run=f"{run_name_for(kind, size)}_loss_{loss}")
            net = self._load(runs[loss].checkpoint)
            df, _ = reconstruct_refs(net, self.stats, self.fc, self.plan.loss_refs, self.audio, self.gl,
                                     desc=f"val {loss}", progress=cfg.train.progress)
            scores[loss] = {**mean_metrics(df), **{f"{k}_ci95": ci95(df[k].to_numpy()) for k in METRIC_INFO}}
        best = min(LOSSES, key=lambda k: scores[k][cfg.loss_metric])
        dst = checkpoint_for(self.ds_dir, kind, size)
        if not dst.exists() or cfg.retrain:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.ds_dir / runs[best].checkpoint, dst)
        self.loss = best
        self.loss_choice = {"loss": best, "how": f"lower validation {cfg.loss_metric} at z={size} ({kind}) "
                            f"on {len(self.plan.loss_refs)} validation segments", "size": size, "kind": kind,
                            "metric": cfg.loss_metric, "scores": scores, "split": "val",
                            "segments": [r.segment for r in self.plan.loss_refs]}

    def _load(self, checkpoint: str) -> torch.nn.Module:
        """A model from a checkpoint path relative to the dataset folder."""
        return model_from_checkpoint(load_checkpoint(self.ds_dir / checkpoint), checkpoint)

    def measure_size(self, size: int) -> None:
        """Train or reuse one size, reconstruct the held-out (and train-check) segments, write its clips
        and latents, and record its index entry."""
        cfg, progress, kind = self.cfg, self.cfg.train.progress, self.kinds[size]
        tqdm.write(f"[latent_sizes] z={size} ({kind}): training / loading")
        res = train_size(self.fc, self.ds_dir, kind, size, self.stats, cfg, self.loss)
        torch.set_num_threads(max(1, cfg.train.num_threads or 1))  # fit may change it
        net, _ = load_recon_model(self.ds_dir, size, kind)
        res.n_params = sum(p.numel() for p in net.parameters())
        df, store = reconstruct_refs(net, self.stats, self.fc, self.plan.eval_refs, self.audio, self.gl,
                                     desc=f"z={size} {cfg.eval_split}", progress=progress)
        res.metrics = _summary(df)
        if self.plan.select_refs:
            sdf, _ = reconstruct_refs(net, self.stats, self.fc, self.plan.select_refs, self.audio, self.gl,
                                      desc=f"z={size} {cfg.select_split}", progress=progress)
            res.select_metrics = _summary(sdf)
        train_metrics: dict[str, float] = {}
        if self.plan.train_check:
            tdf, _ = reconstruct_refs(net, self.stats, self.fc, self.plan.train_check, self.audio, self.gl,
                                      desc=f"z={size} train", progress=progress)
            train_metrics = mean_metrics(tdf)
            res.metrics.update({f"train_{k}": v for k, v in train_metrics.items()})
        self.size_results[size] = res
        self.per_clip.append(df.assign(size=size))
        clip_files = self._write_clips(size, df, store)
        z_all, meta = latent_table(net, self.stats, self.fc, self.plan.all_refs)
        self.latents[size] = (z_all, meta)
        zdir = self.recon / f"z{size}"
        np.save(zdir / "latents.npy", z_all)
        write_csv(meta, zdir / "latents.csv")
        self.per_size[str(size)] = {
            "kind": kind, "loss": self.loss, "latent": latent_size(net, self.acfg, kind).to_json(),
            "run_name": res.run_name, "checkpoint": str(Path("..") / res.checkpoint),
            "trained_now": res.trained_now, "epochs": res.epochs, "best_val_loss": res.best_val_loss,
            "train_wall_s": res.train_wall_s, "n_params": res.n_params,
            "metrics": {k: res.metrics[k] for k in METRIC_INFO},
            "metrics_std": {k: res.metrics[f"{k}_std"] for k in METRIC_INFO},
            "metrics_ci95": {k: res.metrics[f"{k}_ci95"] for k in METRIC_INFO},
            "select_metrics": {k: res.select_metrics[k] for k in METRIC_INFO if k in res.select_metrics},
            "train_check_metrics": train_metrics,
            "clips": clip_files, "latents_npy": f"z{size}/latents.npy", "latents_csv": f"z{size}/latents.csv",
        }

    def _write_clips(self, size: int, df: pd.DataFrame, store: dict[int, dict]) -> dict[str, dict[str, Any]]:
        """Reconstruction WAV + PNG of every fixed clip at one size; their index entries."""
        out = {}
        for r in self.plan.clips:
            s = store[r.segment]
            d = self.recon / f"z{size}" / "clips" / r.clip_id
            save_wav(d / "recon.wav", s["audio"], self.acfg)
            save_spec_png(d / "recon.png", s["recon_mel"][:, : max(2, r.n_frames)], self.acfg,
                          f"z={size} reconstruction")
            cm = df[df["segment"] == r.segment].iloc[0]
            out[r.clip_id] = {"recon_wav": f"z{size}/clips/{r.clip_id}/recon.wav",
                              "recon_png": f"z{size}/clips/{r.clip_id}/recon.png",
                              "metrics": {k: float(cm[k]) for k in METRIC_INFO}}
        return out

    def tables(self, oracle_mean: dict[str, float]) -> Selection:
        """metrics.csv (test), metrics_val.csv (the rule's segments), metrics_per_clip.csv and the
        metric-vs-size plot; applies the size rule to the validation table (see `select_size`)."""
        results = self.size_results
        table = pd.DataFrame([{"size": s, "kind": r.kind, **self._size_cols(s), **r.metrics, "epochs": r.epochs,
                               "train_wall_s": r.train_wall_s, "n_params": r.n_params}
                              for s, r in results.items()])
        sel = select_size({s: r.select_metrics for s, r in results.items() if r.select_metrics}, self.select_oracle,
                          len(self.plan.select_refs) or self.plan.n_select_available,
                          {s: r.metrics for s, r in results.items()}, oracle_mean, len(self.plan.eval_refs), self.cfg)
        oracle_row = {"size": "oracle", **oracle_mean}
        write_csv(pd.concat([table, pd.DataFrame([oracle_row])], ignore_index=True), self.recon / "metrics.csv")
        if self.plan.select_refs:
            val = pd.DataFrame([{"size": s, "kind": r.kind, **r.select_metrics} for s, r in results.items()]
                               + [{"size": "oracle", **self.select_oracle}])
            write_csv(val, self.recon / "metrics_val.csv")
        write_csv(pd.concat(self.per_clip, ignore_index=True), self.recon / "metrics_per_clip.csv")
        plot_metrics(table, oracle_mean, sel.rule.chosen, self.recon / "metrics_vs_size.png")
        return sel

    def _size_cols(self, size: int) -> dict[str, Any]:
        """Size accounting columns of one size (from its index entry)."""
        lat = self.per_size[str(size)]["latent"]
        return {"shape": "x".join(map(str, lat["shape"])), "floats_per_segment": lat["floats_per_segment"],
                "kbps_float16": lat["kbps_float16"], "kbps_float32": lat["kbps_float32"]}

    def analyse(self, chosen: int) -> list[int]:
        """PCA/UMAP maps, elbow and clustering of the chosen, half and double sizes; clustering.csv."""
        cfg = self.cfg
        a_sizes = sorted(s for s in (cfg.analysis_sizes or analysis_sizes_for(self.sizes, chosen))
                         if s in self.latents)
        cluster_rows = []
        for size in tqdm(a_sizes, desc="latent analysis", leave=False, disable=not cfg.train.progress):
            z_all, meta = self.latents[size]
            an = analyze(z_all, meta["genre"].to_numpy(), AnalysisConfig(seed=cfg.train.seed),
                         with_umap=cfg.with_umap)
            maps = pd.concat([meta.reset_index(drop=True), an.maps.drop(columns=["label"])], axis=1)
            maps.insert(0, "y", maps["umap_y"])
            maps.insert(0, "x", maps["umap_x"])
            maps["cluster"] = maps["kmeans"]
            zdir = self.recon / f"z{size}"
            write_csv(maps, zdir / "map.csv")
            write_csv(an.elbow, zdir / "elbow.csv")
            write_csv(an.scores, zdir / "clusters.csv")
            plot_maps(maps, an.elbow, size, zdir / "maps.png")
            cluster_rows += [{"size": size, **rec} for rec in an.scores.to_dict("records")]
            self.per_size[str(size)].update({
                "map_csv": f"z{size}/map.csv", "elbow_csv": f"z{size}/elbow.csv",
                "clusters_csv": f"z{size}/clusters.csv", "maps_png": f"z{size}/maps.png",
                "map_method": an.umap_method, "pca_explained": an.pca_explained,
                "clustering": an.scores.to_dict("records"),
            })
        write_csv(pd.DataFrame(cluster_rows), self.recon / "clustering.csv")
        return a_sizes

    def outside(self, chosen: int) -> tuple[OutsideBlock | None, OutsideBlock | None]:
        """New music (a folder) and the demo corpus through the chosen size's model."""
        cfg, recon = self.cfg, self.recon
        net, _ = load_recon_model(self.ds_dir, chosen, self.kinds[chosen])
        z_all, meta = self.latents[chosen]
        new_block = None
        if cfg.new_music_dir is not None and Path(cfg.new_music_dir).is_dir():
            files = sorted(p for p in Path(cfg.new_music_dir).iterdir() if is_audio_path(p))
            nm_df, items = reconstruct_folder(net, self.stats, files, self.acfg, self.gl, z_all, meta,
                                              recon / "new_music", recon, cfg.n_new_segments, cfg.n_neighbours,
                                              cfg.train.progress)
            (recon / "new_music").mkdir(parents=True, exist_ok=True)
            write_csv(nm_df, recon / "new_music" / "new_music.csv")
            new_block = OutsideBlock(str(cfg.new_music_dir), "new_music/new_music.csv", items,
                                     mean_metrics(nm_df) if items else {},
                                     {k: float(nm_df[f"oracle_{k}"].mean()) for k in METRIC_NAMES}
                                     if items else {}, size=chosen)
        demo_block = None
        if cfg.demo_dir is not None and (Path(cfg.demo_dir) / "cache").exists():
            demo_block = reconstruct_demo(net, self.stats, Path(cfg.demo_dir), z_all, meta, recon, self.gl,
                                          cfg.n_demo_clips, cfg.n_neighbours, cfg.train.progress)
        return new_block, demo_block


def run_study(ds_dir: Path | str, cfg: StudyConfig | None = None) -> StudyResult:
    """Run the whole sweep and write `<ds>/recon/` (see module doc)."""
    cfg = cfg or StudyConfig()
    ds_dir = Path(ds_dir)
    torch.set_num_threads(max(1, cfg.train.num_threads or 1))
    st = _Study(ds_dir, cfg)
    oracle_mean, clip_entries = st.oracle()
    st.choose_loss()
    for size in st.sizes:
        st.measure_size(size)
    sel = st.tables(oracle_mean)
    chosen = sel.rule.chosen
    a_sizes = st.analyse(chosen)
    new_block, demo_block = st.outside(chosen)
    net, _ = load_recon_model(ds_dir, chosen, st.kinds[chosen])
    z_all, meta = st.latents[chosen]
    gen = generate(net, st.stats, st.acfg, st.gl, z_all, meta, st.plan.eval_refs, st.recon / "generation", st.recon,
                   cfg.n_interp_steps, cfg.n_samples, cfg.train.seed)
    index = _index(st, sel, a_sizes, oracle_mean, clip_entries, new_block, demo_block, gen.to_json())
    write_json(st.recon / "index.json", index)
    return StudyResult(chosen, st.sizes, sel.rule.text, sel.selected_on,
                       {s: r.metrics for s, r in st.size_results.items()}, oracle_mean, st.recon / "index.json", index)


def _selection_block(st: _Study, sel: Selection) -> dict[str, Any]:
    """index.json's `selection`: the split that chose the size, whether it fell back, and the table the rule
    read (the validation sizes and oracle with 95 % CIs; empty on a fallback)."""
    cfg, results = st.cfg, st.size_results
    return {
        "selected_on": sel.selected_on, "split": cfg.select_split, "fallback": sel.fallback,
        "n_segments": sel.n_segments, "n_select_segments": len(st.plan.select_refs),
        "n_eval_segments": len(st.plan.eval_refs), "eval_split": cfg.eval_split, "text": sel.text,
        "metrics": {str(s): {k: r.select_metrics[k] for k in METRIC_INFO}
                    for s, r in results.items() if r.select_metrics},
        "metrics_ci95": {str(s): {k: r.select_metrics[f"{k}_ci95"] for k in METRIC_INFO}
                         for s, r in results.items() if r.select_metrics},
        "oracle": {k: st.select_oracle[k] for k in METRIC_INFO if k in st.select_oracle},
        "oracle_ci95": {k: st.select_oracle[f"{k}_ci95"] for k in METRIC_INFO if k in st.select_oracle},
        "metrics_csv": "metrics_val.csv" if st.plan.select_refs else None,
    }


def _index(st: _Study, sel: Selection, a_sizes: list[int],
           oracle_mean: dict[str, float], clip_entries: list[dict[str, Any]], new_block: OutsideBlock | None,
           demo_block: OutsideBlock | None, gen_block: dict[str, Any]) -> dict[str, Any]:
    """The recon/index.json document (schema recon-study/1, described in artifacts/README.md)."""
    cfg, acfg, sizes, results = st.cfg, st.acfg, st.sizes, st.size_results
    rule, chosen = sel.rule, sel.rule.chosen
    return {
        "schema": SCHEMA, "dataset": st.ds_dir.name, "created": utc_now(), "audio_config": asdict(acfg),
        "sample_rate": acfg.sample_rate, "spectrogram_db_range": list(SPEC_DB_RANGE), "model": cfg.model,
        "study_config": asdict(cfg), "griffin_lim": asdict(st.gl), "sizes": sizes, "chosen_size": chosen,
        "rule": {"metric": "onset_corr+chroma_cos+lsd_db", "margin_onset": cfg.margin_onset,
                 "margin_chroma": cfg.margin_chroma, "margin_lsd_db": cfg.margin_lsd_db, "met": rule.met,
                 "text": rule.text,
                 "selected_on": sel.selected_on,
                 "fallback": {"metric": cfg.rule_metric, "margin": cfg.margin_db, "plateau": rule.plateau}},
        "selected_on": sel.selected_on, "selection": _selection_block(st, sel),
        "kinds": {str(s): k for s, k in st.kinds.items()},
        "latent_sizes": {str(s): st.per_size[str(s)]["latent"] for s in sizes},
        "loss_choice": st.loss_choice, "eval_split": cfg.eval_split,
        "oracle_ci95": st.oracle_ci,
        "metrics_ci95": {str(s): {k: r.metrics[f"{k}_ci95"] for k in METRIC_INFO} for s, r in results.items()},
        "half_size": chosen // 2 if chosen // 2 in sizes else None,
        "double_size": chosen * 2 if chosen * 2 in sizes else None,
        "analysis_sizes": a_sizes, "metric_names": list(METRIC_INFO), "metric_info": METRIC_INFO,
        "n_val_segments": len(st.plan.select_refs), "n_eval_segments": len(st.plan.eval_refs),
        "n_tracks": {sp: int(len(st.fc.split_rows(sp))) for sp in ("train", "val", "test")},
        "train_check": {"segments": [r.clip_id for r in st.plan.train_check],
                        "text": "the same metrics on the first training segment of each genre "
                                "(per_size[k].train_check_metrics, metrics.csv train_* columns)"},
        "oracle": oracle_mean,
        "metrics": {str(s): {k: r.metrics[k] for k in METRIC_INFO} for s, r in results.items()},
        "gap_to_oracle_lsd_db": {str(s): r.metrics["lsd_db"] - oracle_mean["lsd_db"] for s, r in results.items()},
        "files": {"metrics_csv": "metrics.csv", "metrics_per_clip_csv": "metrics_per_clip.csv",
                  **({"metrics_val_csv": "metrics_val.csv"} if st.plan.select_refs else {}),
                  "metrics_plot": "metrics_vs_size.png", "clustering_csv": "clustering.csv",
                  "mel_stats": "mel_stats.json"},
        "clips": clip_entries, "per_size": st.per_size,
        "in_dataset_mean_at_chosen": {k: results[chosen].metrics[k] for k in METRIC_INFO},
        "new_music": new_block.to_json() if new_block else {},
        "demo": demo_block.to_json() if demo_block else {},
        "generation": {"size": chosen, "dir": "generation", **gen_block},
        "notes": {
            "short_clips": "clips shorter than 5 s are padded with the -100 dB floor to 216 frames; metrics use "
                           "only the valid part",
            "paths": "every file path in this index is relative to this recon/ folder",
        },
    }
