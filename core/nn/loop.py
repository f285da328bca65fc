"""The one training loop of the project: seeding, early stopping, checkpoints, resume, TensorBoard.

```python
cfg = TrainConfig(run_name="conv2d_z64", out_dir=Path("artifacts/gtzan_mini"))
result = fit(model, train_loader, val_loader, cfg)   # uses model.loss(batch)
```
Checkpoints: `<out_dir>/checkpoints/<run_name>/{best,last}.pt`, each holding the
model's `config()` so a resume with another architecture/latent size fails loudly.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from core.subnormals import flush_subnormals


@dataclass
class TrainConfig:
    """Settings of one training run (defaults work for the small datasets)."""

    run_name: str = "run"
    max_epochs: int = 40
    patience: int = 5
    lr: float = 1e-3
    weight_decay: float = 1e-5
    batch_size: int = 64
    seed: int = 0
    out_dir: Path = Path("artifacts/demo")
    resume: bool = False
    max_steps_per_epoch: int | None = None
    max_val_steps: int | None = None
    max_wall_s: float | None = None
    min_delta: float = 1e-4
    grad_clip: float | None = 5.0
    num_threads: int | None = 2
    log_images_every: int = 5
    tensorboard: bool = True
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (paths as strings)."""
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        return d


@dataclass
class FitResult:
    """What `fit` returns."""

    best_val_loss: float
    best_train_loss: float
    epochs: int
    wall_s: float
    best_checkpoint: Path
    last_checkpoint: Path
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_reason: str = "max_epochs"
    best_epoch: int = 0


class CheckpointMismatch(ValueError):
    """A checkpoint was written by a model of another architecture or latent size."""


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite."""


class UnreadableCheckpoint(ValueError):
    """A checkpoint file is empty, truncated, not a torch file, or holds more than tensors and plain types."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path} is not a readable checkpoint ({reason})")
        self.path, self.reason = Path(path), reason


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_states(train_loader: Any = None) -> dict[str, Any]:
    """Every random state a run depends on, as tensors and plain types (so `weights_only=True` reads it):
    torch, numpy's legacy global RNG, python `random`, and when present the loader's generator
    (shuffle order) and its dataset's own RNG (`get_rng_state()`, e.g. random crops)."""
    np_state = np.random.get_state(legacy=False)
    py_version, py_internal, py_gauss = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "python": {"version": int(py_version), "internal": list(py_internal), "gauss_next": py_gauss},
    }
    gen = getattr(train_loader, "generator", None)
    if isinstance(gen, torch.Generator):
        states["loader_generator"] = gen.get_state()
    dataset = getattr(train_loader, "dataset", None)
    if hasattr(dataset, "get_rng_state"):
        states["dataset"] = dataset.get_rng_state()
    return states


def set_rng_states(states: dict[str, Any], train_loader: Any = None) -> None:
    """Restore what `rng_states` captured (missing entries are left as they are)."""
    if "torch" in states:
        torch.set_rng_state(states["torch"])
    if "numpy" in states:
        n = states["numpy"]
        np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), int(n["pos"]), int(n["has_gauss"]),
                             float(n["gauss"])))
    if "python" in states:
        py = states["python"]
        random.setstate((int(py["version"]), tuple(int(v) for v in py["internal"]), py["gauss_next"]))
    gen = getattr(train_loader, "generator", None)
    if "loader_generator" in states and isinstance(gen, torch.Generator):
        gen.set_state(states["loader_generator"])
    dataset = getattr(train_loader, "dataset", None)
    if "dataset" in states and hasattr(dataset, "set_rng_state"):
        dataset.set_rng_state(states["dataset"])


def checkpoint_paths(out_dir: Path, run_name: str) -> tuple[Path, Path]:
    """(best, last) checkpoint paths of a run."""
    d = Path(out_dir) / "checkpoints" / run_name
    return d / "best.pt", d / "last.pt"


def model_config_of(model: nn.Module) -> dict[str, Any]:
    """The model's `config()` if it has one, else its class name."""
    if hasattr(model, "config") and callable(model.config):
        return dict(model.config())
    return {"class": type(model).__name__, "kwargs": {}}


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """Read a checkpoint dict written by `fit`, with `weights_only=True` (tensors and plain types only,
    so a crafted file cannot run code). FileNotFoundError if absent; UnreadableCheckpoint if empty,
    truncated, random bytes, holding other objects, or not a dict with a `state_dict`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise UnreadableCheckpoint(path, "empty file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (bad zip), EOFError, ...: all mean unreadable
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UnreadableCheckpoint(path, f"{type(exc).__name__}: {first}" if first else type(exc).__name__) from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise UnreadableCheckpoint(path, "no state_dict: not written by the training loop")
    return ckpt


def check_compatible(ckpt: dict[str, Any], model: nn.Module, path: Path | str = "") -> None:
    """Raise CheckpointMismatch if the checkpoint's model config differs from `model`'s."""
    want = model_config_of(model)
    have = ckpt.get("model_config", {})
    if have != want:
        diffs = []
        for key in ("class", "name"):
            if have.get(key) != want.get(key):
                diffs.append(f"{key}: checkpoint {have.get(key)!r} vs model {want.get(key)!r}")
        hk, wk = have.get("kwargs", {}), want.get("kwargs", {})
        for key in sorted(set(hk) | set(wk)):
            if hk.get(key) != wk.get(key):
                diffs.append(f"{key}: checkpoint {hk.get(key)!r} vs model {wk.get(key)!r}")
        raise CheckpointMismatch(
            f"checkpoint {path} was written by a different model ({'; '.join(diffs)}); "
            "refusing to resume — use another run name or delete that checkpoint"
        )


def load_model(path: Path | str, which_builder: Callable[[dict[str, Any]], nn.Module]
               ) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint with `which_builder(model_config)` (each system passes its own, e.g.
    `core.recommend.autoencoders.model_from_config`); returns (model in eval mode, ckpt)."""
    ckpt = load_checkpoint(path)
    model = which_builder(ckpt["model_config"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt


def _atomic_save(obj: dict[str, Any], path: Path) -> None:
    """torch.save to a temp file then rename, so a crash never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _len_or_none(loader: Iterable[Any]) -> int | None:
    """len(loader) when it has one (never iterates it)."""
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _first_tensor(batch: Any) -> torch.Tensor | None:
    """The first 3-D tensor of a batch (for spectrogram images), if any."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, dict):
        return batch.get("x")
    if isinstance(batch, (list, tuple)):
        for v in batch:
            if isinstance(v, torch.Tensor):
                return v
    return None


def _spec_image(x: torch.Tensor) -> torch.Tensor:
    """[M, T] tensor -> [1, M, T] image in 0..1 with low frequencies at the bottom."""
    x = x.detach().float().cpu()
    lo, hi = float(x.min()), float(x.max())
    img = (x - lo) / max(hi - lo, 1e-6)
    return img.flip(0)[None]


LossOutput = torch.Tensor | tuple[torch.Tensor, dict[str, float]]
"""What `model.loss(batch)` (or `loss_fn`) returns: the loss, or the loss and extra values to log
(accuracy, temperature, ...) that the loop averages per epoch into history and TensorBoard."""


def _batch_loss(model: nn.Module, batch: Any, loss_fn: Callable[..., LossOutput] | None
                ) -> tuple[torch.Tensor, dict[str, float]]:
    """(loss, logged values) of one batch: loss_fn(model, batch) if given, else model.loss(batch)."""
    out = loss_fn(model, batch) if loss_fn is not None else model.loss(batch)
    if isinstance(out, tuple):
        loss, logs = out
        return loss, {k: float(v) for k, v in logs.items()}
    return out, {}


class _Means:
    """Running means of the values a model logs, batch by batch."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.n = 0

    def add(self, logs: dict[str, float]) -> None:
        """Add one batch's values."""
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.n += 1

    def means(self) -> dict[str, float]:
        """Mean of every value over the batches added."""
        return {k: s / max(self.n, 1) for k, s in self.sums.items()}


def evaluate_loss(model: nn.Module, loader: Iterable[Any], loss_fn: Callable[..., LossOutput] | None = None,
                  max_steps: int | None = None) -> float:
    """Mean loss over a loader in eval mode, without gradients."""
    return _evaluate(model, loader, loss_fn, max_steps)[0]


def _evaluate(model: nn.Module, loader: Iterable[Any], loss_fn: Callable[..., LossOutput] | None,
              max_steps: int | None) -> tuple[float, dict[str, float]]:
    """(mean loss, mean logged values) over a loader in eval mode, without gradients."""
    model.eval()
    total, n, logs = 0.0, 0, _Means()
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if max_steps is not None and i >= max_steps:
                break
            loss, extra = _batch_loss(model, batch, loss_fn)
            total += float(loss)
            logs.add(extra)
            n += 1
    return total / max(n, 1), logs.means()


@dataclass
class _State:
    """Where a run stands: what resume restores and every epoch updates."""

    epoch: int = 0
    best_val: float = math.inf
    best_train: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    prior_wall: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


class _Trainer:
    """One `fit` call: the model, its optimizer, checkpoints and logs, split into the loop's steps."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, loss_fn: Callable[..., LossOutput] | None) -> None:
        self.model, self.cfg, self.loss_fn = model, cfg, loss_fn
        self.best_path, self.last_path = checkpoint_paths(cfg.out_dir, cfg.run_name)
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.state = _State()
        self.writer: Any = None
        self.resumed_rng: dict[str, Any] | None = None

    def restore(self) -> None:
        """With `cfg.resume`: continue from last.pt (refusing a checkpoint of another model)."""
        if self.cfg.resume and self.last_path.exists():
            ckpt = load_checkpoint(self.last_path)
            check_compatible(ckpt, self.model, self.last_path)
            self.model.load_state_dict(ckpt["state_dict"])
            self.opt.load_state_dict(ckpt["optimizer"])
            self.state = _State(int(ckpt["epoch"]), float(ckpt["best_val_loss"]),
                                float(ckpt.get("best_train_loss", math.inf)), int(ckpt.get("best_epoch", 0)),
                                int(ckpt.get("bad_epochs", 0)), float(ckpt.get("wall_s", 0.0)),
                                list(ckpt.get("history", [])))
            self.resumed_rng = ckpt.get("rng")
        elif self.cfg.resume and self.best_path.exists():
            check_compatible(load_checkpoint(self.best_path), self.model, self.best_path)

    def open_writer(self) -> None:
        """The TensorBoard writer of this run (if enabled)."""
        if not self.cfg.tensorboard:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(self.cfg.out_dir) / "runs" / self.cfg.run_name))
        if self.state.epoch == 0:
            self.writer.add_text("config", str({"train": self.cfg.to_dict(), "model": model_config_of(self.model)}))

    def train_epoch(self, loader: Iterable[Any], epoch: int) -> tuple[float, dict[str, float], int, float] | None:
        """One pass over the training batches: (mean loss, logged means, items, seconds); None on a NaN loss."""
        cfg, model = self.cfg, self.model
        model.train()
        tot, n, n_items, logs = 0.0, 0, 0, _Means()
        # The bar never touches the loader: tqdm.auto's bar calls iter(loader) in its constructor, which
        # draws a seed from the loader's generator and shifted every later shuffle (runs differed by --quiet).
        steps = _len_or_none(loader)
        if steps is not None and cfg.max_steps_per_epoch is not None:
            steps = min(steps, cfg.max_steps_per_epoch)
        bar = tqdm(total=steps, desc=f"{cfg.run_name} ep{epoch}", unit="batch", leave=False, disable=not cfg.progress)
        t_ep = time.perf_counter()
        for step, batch in enumerate(loader):
            if cfg.max_steps_per_epoch is not None and step >= cfg.max_steps_per_epoch:
                break
            bar.update(1)
            loss, extra = _batch_loss(model, batch, self.loss_fn)
            if not torch.isfinite(loss):
                bar.close()
                return None
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.opt.step()
            tot += float(loss.detach())
            logs.add(extra)
            n += 1
            xb = _first_tensor(batch)
            n_items += int(xb.shape[0]) if xb is not None else 0
        bar.close()
        return tot / max(n, 1), logs.means(), n_items, time.perf_counter() - t_ep

    def log_epoch(self, rec: dict[str, float], val_loader: Iterable[Any], epoch: int) -> None:
        """Scalars (and every few epochs spectrogram images) of one epoch in TensorBoard."""
        if self.writer is None:
            return
        self.writer.add_scalar("loss/train", rec["train_loss"], epoch)
        self.writer.add_scalar("loss/val", rec["val_loss"], epoch)
        self.writer.add_scalar("speed/windows_per_s", rec["windows_per_s"], epoch)
        for key, value in rec.items():
            for phase in ("train", "val"):
                if key.startswith(f"{phase}_") and key != f"{phase}_loss":
                    self.writer.add_scalar(f"{key[len(phase) + 1:]}/{phase}", value, epoch)
        if self.cfg.log_images_every and (epoch == 1 or epoch % self.cfg.log_images_every == 0):
            _log_images(self.writer, self.model, val_loader, epoch)

    def save(self, epoch: int, val_loss: float, improved: bool, wall: float, train_loader: Any = None) -> None:
        """best.pt when the validation loss improved; last.pt (with optimizer and RNG state) always."""
        s = self.state
        payload = {
            "model_config": model_config_of(self.model), "state_dict": self.model.state_dict(),
            "train_config": self.cfg.to_dict(), "extra": dict(self.cfg.extra), "epoch": epoch,
            "val_loss": val_loss, "best_val_loss": s.best_val, "best_train_loss": s.best_train,
            "best_epoch": s.best_epoch, "bad_epochs": s.bad_epochs, "history": s.history, "wall_s": wall,
        }
        if improved:
            _atomic_save(payload, self.best_path)
        payload.update(optimizer=self.opt.state_dict(), rng=rng_states(train_loader))
        _atomic_save(payload, self.last_path)

    def epoch(self, train_loader: Iterable[Any], val_loader: Iterable[Any], epoch: int,
              t0: float) -> tuple[str | None, float]:
        """Train, validate, log and checkpoint one epoch: (stop reason or None, wall seconds so far)."""
        cfg, s = self.cfg, self.state
        trained = self.train_epoch(train_loader, epoch)
        if trained is None:
            tqdm.write(f"[{cfg.run_name}] loss became NaN/inf in epoch {epoch}; stopping. Last good "
                       f"checkpoint kept: {self.last_path if self.last_path.exists() else 'none'}")
            return "nan", s.prior_wall + time.perf_counter() - t0
        train_loss, train_logs, n_items, ep_s = trained
        val_loss, val_logs = _evaluate(self.model, val_loader, self.loss_fn, cfg.max_val_steps)
        if not math.isfinite(val_loss):
            tqdm.write(f"[{cfg.run_name}] validation loss is NaN/inf in epoch {epoch}; stopping.")
            return "nan", s.prior_wall + time.perf_counter() - t0
        rec = {"epoch": float(epoch), "train_loss": train_loss, "val_loss": val_loss,
               "windows_per_s": n_items / max(ep_s, 1e-9), "epoch_s": ep_s,
               **{f"train_{k}": v for k, v in train_logs.items()}, **{f"val_{k}": v for k, v in val_logs.items()}}
        s.history.append(rec)
        self.log_epoch(rec, val_loader, epoch)
        improved = val_loss < s.best_val - cfg.min_delta
        if improved:
            s.best_val, s.best_epoch, s.bad_epochs = val_loss, epoch, 0
        else:
            s.bad_epochs += 1
        s.best_train = min(s.best_train, train_loss)
        wall = s.prior_wall + time.perf_counter() - t0
        self.save(epoch, val_loss, improved, wall, train_loader)
        s.epoch = epoch
        if cfg.progress:
            tqdm.write(f"[{cfg.run_name}] epoch {epoch}: train {train_loss:.4f} val {val_loss:.4f}"
                       f"{' *' if improved else ''} ({rec['windows_per_s']:.0f} win/s)")
        if s.bad_epochs >= cfg.patience:
            return "early_stop", wall
        if cfg.max_wall_s is not None and wall >= cfg.max_wall_s:
            tqdm.write(f"[{cfg.run_name}] stopped by the {cfg.max_wall_s:.0f}-s time cap after epoch {epoch}: "
                       "where a time cap stops a run depends on the machine's speed, so this run is not "
                       "reproducible; cap epochs instead for a repeatable result")
            return "time_limit", wall
        return None, wall

    def run(self, train_loader: Iterable[Any], val_loader: Iterable[Any]) -> tuple[str, float]:
        """Epochs until max_epochs, early stop, time limit or a NaN: (stopped reason, wall seconds)."""
        cfg, s = self.cfg, self.state
        t0 = time.perf_counter()
        if s.epoch and s.bad_epochs >= cfg.patience:
            return "early_stop", s.prior_wall
        bar = tqdm(total=cfg.max_epochs, initial=s.epoch, desc=f"{cfg.run_name} epochs", unit="epoch",
                   disable=not cfg.progress)
        try:
            for epoch in range(s.epoch + 1, cfg.max_epochs + 1):
                stopped, wall = self.epoch(train_loader, val_loader, epoch, t0)
                bar.update(1)
                bar.set_postfix(best_val=f"{s.best_val:.4f}", refresh=False)
                if stopped is not None:
                    return stopped, wall
        finally:
            bar.close()
        return "max_epochs", s.prior_wall + time.perf_counter() - t0


def fit(model: nn.Module, train_loader: Iterable[Any], val_loader: Iterable[Any], cfg: TrainConfig,
        loss_fn: Callable[..., LossOutput] | None = None) -> FitResult:
    """Train with Adam and early stopping on validation loss; write best/last checkpoints and TB logs.

    `loss_fn(model, batch)` overrides `model.loss(batch)`; either may return (loss, {name: value})
    to log extra values (history keys `train_<name>`/`val_<name>`, TensorBoard `<name>/train|val`).
    With `cfg.resume`, continues from `last.pt` exactly: model, optimizer, history and every RNG
    (torch, numpy, python, the loader's generator, the dataset's `get_rng_state()`), so kill + resume
    gives the checkpoint an uninterrupted run gives (CheckpointMismatch if it belongs to another
    model; UnreadableCheckpoint if it cannot be read; nothing is written then). A NaN/inf loss stops
    training (stopped_reason "nan"); the last good checkpoints stay.
    """
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    flush_subnormals()
    seed_everything(cfg.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    trainer = _Trainer(model, cfg, loss_fn)
    trainer.restore()
    if trainer.resumed_rng:
        set_rng_states(trainer.resumed_rng, train_loader)
    trainer.open_writer()
    try:
        stopped, wall = trainer.run(train_loader, val_loader)
    finally:
        if trainer.writer is not None:
            trainer.writer.close()
    if trainer.best_path.exists():
        model.load_state_dict(load_checkpoint(trainer.best_path)["state_dict"])
    s = trainer.state
    return FitResult(best_val_loss=s.best_val, best_train_loss=s.best_train, epochs=s.epoch, wall_s=wall,
                     best_checkpoint=trainer.best_path, last_checkpoint=trainer.last_path, history=s.history,
                     stopped_reason=stopped, best_epoch=s.best_epoch)


def _log_images(writer: Any, model: nn.Module, val_loader: Iterable[Any], epoch: int) -> None:
    """Input vs reconstruction spectrogram of the first validation window."""
    if not hasattr(model, "decode") or not hasattr(model, "encode"):
        return
    for batch in val_loader:
        x = _first_tensor(batch)
        if x is None or x.dim() != 3:
            return
        model.eval()
        with torch.no_grad():
            x_hat = model.decode(model.encode(x[:1]))
        writer.add_image("spectrogram/input", _spec_image(x[0]), epoch)
        writer.add_image("spectrogram/reconstruction", _spec_image(x_hat[0]), epoch)
        return
