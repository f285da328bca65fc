"""The one training loop every model of the project uses, and the experiments table.

- `fit`, `TrainConfig`, `FitResult` (loop): Adam, early stopping on validation loss, best/last checkpoints,
  exact resume, TensorBoard curves; a model only defines `loss(batch)` (optionally returning logged values)
- `load_checkpoint`, `load_model`, `CheckpointMismatch`, `UnreadableCheckpoint` (loop): reading what `fit` wrote,
  always with `torch.load(..., weights_only=True)`
- `rng_states`, `set_rng_states` (loop): every RNG a run depends on, saved in `last.pt` for exact resume
- `append_run`, `read_runs` (experiments): one row per run in `<dataset>/experiments.csv` and `.md`
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "fit": "loop", "TrainConfig": "loop", "FitResult": "loop", "load_checkpoint": "loop", "load_model": "loop",
    "CheckpointMismatch": "loop", "NonFiniteLoss": "loop", "seed_everything": "loop", "checkpoint_paths": "loop",
    "UnreadableCheckpoint": "loop", "rng_states": "loop", "set_rng_states": "loop",
    "append_run": "experiments", "read_runs": "experiments",
})
