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
from tqdm.auto import tqdm


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


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
    """Read a checkpoint dict written by `fit`."""
    return torch.load(Path(path), map_location="cpu", weights_only=False)


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


def load_model(path: Path | str, which_builder: Callable[[dict[str, Any]], nn.Module] | None = None,
               ) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint (autoencoders by default); returns (model in eval mode, ckpt)."""
    ckpt = load_checkpoint(path)
    if which_builder is None:
        from core.models.autoencoders import model_from_config

        which_builder = model_from_config
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


def _batch_loss(model: nn.Module, batch: Any, loss_fn: Callable[..., torch.Tensor] | None) -> torch.Tensor:
    """loss_fn(model, batch) if given, else model.loss(batch)."""
    if loss_fn is not None:
        return loss_fn(model, batch)
    return model.loss(batch)


def evaluate_loss(model: nn.Module, loader: Iterable[Any], loss_fn: Callable[..., torch.Tensor] | None = None,
                  max_steps: int | None = None) -> float:
    """Mean loss over a loader in eval mode, without gradients."""
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if max_steps is not None and i >= max_steps:
                break
            total += float(_batch_loss(model, batch, loss_fn))
            n += 1
    return total / max(n, 1)


def fit(model: nn.Module, train_loader: Iterable[Any], val_loader: Iterable[Any], cfg: TrainConfig,
        loss_fn: Callable[..., torch.Tensor] | None = None) -> FitResult:
    """Train with Adam and early stopping on validation loss; write best/last checkpoints and TB logs.

    `loss_fn(model, batch)` overrides `model.loss(batch)`. With `cfg.resume`, continues from
    `last.pt` (CheckpointMismatch if it belongs to another model; nothing is written then).
    A NaN/inf loss stops training (stopped_reason "nan"); the last good checkpoints stay.
    """
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    seed_everything(cfg.seed)
    best_path, last_path = checkpoint_paths(cfg.out_dir, cfg.run_name)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: list[dict[str, float]] = []
    start_epoch, best_val, best_train, best_epoch, bad_epochs = 0, math.inf, math.inf, 0, 0
    prior_wall = 0.0
    if cfg.resume and last_path.exists():
        ckpt = load_checkpoint(last_path)
        check_compatible(ckpt, model, last_path)
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        start_epoch = int(ckpt["epoch"])
        best_val = float(ckpt["best_val_loss"])
        best_train = float(ckpt.get("best_train_loss", math.inf))
        best_epoch = int(ckpt.get("best_epoch", 0))
        bad_epochs = int(ckpt.get("bad_epochs", 0))
        history = list(ckpt.get("history", []))
        prior_wall = float(ckpt.get("wall_s", 0.0))
        if "torch_rng" in ckpt:
            torch.set_rng_state(ckpt["torch_rng"])
        if "numpy_rng" in ckpt:
            np.random.set_state(ckpt["numpy_rng"])
    elif cfg.resume and best_path.exists():
        check_compatible(load_checkpoint(best_path), model, best_path)

    writer = None
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(Path(cfg.out_dir) / "runs" / cfg.run_name))
        if start_epoch == 0:
            writer.add_text("config", str({"train": cfg.to_dict(), "model": model_config_of(model)}))

    t0 = time.perf_counter()
    stopped = "max_epochs"
    done = start_epoch
    if start_epoch and bad_epochs >= cfg.patience:
        stopped = "early_stop"
    try:
        for epoch in range(start_epoch + 1, cfg.max_epochs + 1):
            if stopped == "early_stop":
                break
            model.train()
            tot, n, n_items = 0.0, 0, 0
            it = train_loader
            if cfg.progress:
                it = tqdm(train_loader, desc=f"{cfg.run_name} ep{epoch}", leave=False)
            t_ep = time.perf_counter()
            nan = False
            for step, batch in enumerate(it):
                if cfg.max_steps_per_epoch is not None and step >= cfg.max_steps_per_epoch:
                    break
                loss = _batch_loss(model, batch, loss_fn)
                if not torch.isfinite(loss):
                    nan = True
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                tot += float(loss.detach())
                n += 1
                xb = _first_tensor(batch)
                n_items += int(xb.shape[0]) if xb is not None else 0
            if nan:
                stopped = "nan"
                tqdm.write(f"[{cfg.run_name}] loss became NaN/inf in epoch {epoch}; stopping. "
                           f"Last good checkpoint kept: {last_path if last_path.exists() else 'none'}")
                break
            train_loss = tot / max(n, 1)
            ep_s = time.perf_counter() - t_ep
            val_loss = evaluate_loss(model, val_loader, loss_fn, cfg.max_val_steps)
            if not math.isfinite(val_loss):
                stopped = "nan"
                tqdm.write(f"[{cfg.run_name}] validation loss is NaN/inf in epoch {epoch}; stopping.")
                break
            rec = {"epoch": float(epoch), "train_loss": train_loss, "val_loss": val_loss,
                   "windows_per_s": n_items / max(ep_s, 1e-9), "epoch_s": ep_s}
            history.append(rec)
            if writer is not None:
                writer.add_scalar("loss/train", train_loss, epoch)
                writer.add_scalar("loss/val", val_loss, epoch)
                writer.add_scalar("speed/windows_per_s", rec["windows_per_s"], epoch)
                if cfg.log_images_every and (epoch == 1 or epoch % cfg.log_images_every == 0):
                    _log_images(writer, model, val_loader, epoch)
            improved = val_loss < best_val - cfg.min_delta
            if improved:
                best_val, best_epoch, bad_epochs = val_loss, epoch, 0
            else:
                bad_epochs += 1
            best_train = min(best_train, train_loss)
            wall = prior_wall + time.perf_counter() - t0
            state = {
                "model_config": model_config_of(model),
                "state_dict": model.state_dict(),
                "train_config": cfg.to_dict(),
                "extra": dict(cfg.extra),
                "epoch": epoch,
                "val_loss": val_loss,
                "best_val_loss": best_val,
                "best_train_loss": best_train,
                "best_epoch": best_epoch,
                "bad_epochs": bad_epochs,
                "history": history,
                "wall_s": wall,
            }
            if improved:
                _atomic_save(state, best_path)
            state.update(optimizer=opt.state_dict(), torch_rng=torch.get_rng_state(),
                         numpy_rng=np.random.get_state())
            _atomic_save(state, last_path)
            done = epoch
            if cfg.progress:
                tqdm.write(f"[{cfg.run_name}] epoch {epoch}: train {train_loss:.4f} val {val_loss:.4f}"
                           f"{' *' if improved else ''} ({rec['windows_per_s']:.0f} win/s)")
            if bad_epochs >= cfg.patience:
                stopped = "early_stop"
                break
            if cfg.max_wall_s is not None and wall >= cfg.max_wall_s:
                stopped = "time_limit"
                break
    finally:
        if writer is not None:
            writer.close()
    if best_path.exists():
        model.load_state_dict(load_checkpoint(best_path)["state_dict"])
    return FitResult(
        best_val_loss=best_val,
        best_train_loss=best_train,
        epochs=done,
        wall_s=prior_wall + time.perf_counter() - t0,
        best_checkpoint=best_path,
        last_checkpoint=last_path,
        history=history,
        stopped_reason=stopped,
        best_epoch=best_epoch,
    )


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
