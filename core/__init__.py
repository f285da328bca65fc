"""The music-embedding workbench library. One sub-package per system; data flows top to bottom:

- `core.audio`: AudioConfig, decoding, log-mels and the classic baseline, catalogs, the feature cache, prepare
- `core.nn`: the one training loop (seeding, early stopping, checkpoints, resume, TensorBoard), experiments table
- `core.recommend`: windows over the cache, autoencoders, track embeddings, cosine top-K, retrieval metrics, evaluation
- `core.latent`: the latent-size study (model, segments, Griffin-Lim, reconstruction metrics, analysis, generation)
- `core.listening`: the listeners' notes store, formula-safe CSV export, vote statistics
- `core.scale`: one task function run on a local process pool or a Dask cluster (prepare, embed)
- `core.subnormals`: `flush_subnormals()`, called where torch work starts (workers, encoders, training, service)
- `core.io`: atomic file writes, JSON-safe values, Markdown tables, timestamps

Nothing below `core/` imports streamlit or `ui/`. Each package's names are importable from the package
itself (`from core.audio import load_audio`); they are loaded on first use, so importing a package stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]],
                                                                  list[str]]:
    """(`__getattr__`, `__dir__`, `__all__`) for a package whose names live in submodules:
    `exports` maps each public name to its submodule; the submodule is imported on first access."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__, sorted(exports)
