"""mlpflow's NumPy multilayer perceptron: layers, losses, optimisers, model, trainer and checkpoints.

Two layers, one way: the model core (`layers`, `activations`, `losses`, `optim`, `model`, `train`,
`checkpoint`; NumPy only) and the data layer `mlp.data` (images and Parquet; it never loads the trainer).
The names below load on first use, so ``import mlp.data`` costs the data layer only.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "MLP": "mlp.model",
    "Checkpoint": "mlp.checkpoint",
    "Diverged": "mlp.train",
    "EpochRecord": "mlp.history",
    "History": "mlp.history",
    "TrainConfig": "mlp.config",
    "Trainer": "mlp.train",
    "evaluate": "mlp.train",
    "load_checkpoint": "mlp.checkpoint",
    "save_checkpoint": "mlp.checkpoint",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mlp' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
