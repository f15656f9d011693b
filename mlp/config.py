"""TrainConfig: every training choice in one frozen, validated, JSON-able dataclass."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from pathlib import Path

from mlp.history import MODES
from mlp.losses import LOSSES
from mlp.optim import OPTIMIZERS, SCHEDULES
from mlp.registry import lookup

MONITORS = {name: mode for name, mode in MODES.items() if name.startswith("val_")}


def _positive_int(name: str, value: object, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _finite(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: epochs, batches, optimiser, loss, schedule, early stopping and checkpoints.

    batch_size: 1 up to the whole set; None means full batch (sizes above n are clipped to n).
    momentum/nesterov: `sgd` only. beta1/beta2/eps: `adam` and `adamw`. weight_decay: coupled L2 for sgd
    and adam, decoupled for adamw; None means the optimiser's own default (0.01 for adamw as in PyTorch, 0 for
    sgd and adam). label_smoothing: `cross_entropy` only.
    Schedules are per epoch: `constant`, `step` (×gamma every step_size epochs), `cosine` (down to min_lr),
    after `warmup_epochs` of linear warm-up.
    clip_grad_norm: rescale each batch's gradient to at most this L2 norm.
    patience: stop after this many epochs without improvement of `monitor` (`val_loss` or `val_accuracy`;
    `train_loss` when fit gets no validation set).
    checkpoint_dir: where best.npz and last.npz go (None: no files).
    """

    epochs: int = 20
    batch_size: int | None = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float | None = None
    momentum: float = 0.9
    nesterov: bool = False
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    loss: str = "cross_entropy"
    label_smoothing: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    step_size: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0
    clip_grad_norm: float | None = None
    shuffle: bool = True
    seed: int = 0
    patience: int | None = None
    monitor: str = "val_loss"
    checkpoint_dir: str | Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        _positive_int("epochs", self.epochs)
        if self.batch_size is not None:
            _positive_int("batch_size", self.batch_size)
        lookup(OPTIMIZERS, self.optimizer, "optimizer")
        lookup(LOSSES, self.loss, "loss")
        lookup(SCHEDULES, self.schedule, "schedule")
        lookup(MONITORS, self.monitor, "monitor")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        for f in dataclasses.fields(self):  # every float field, optional ones when set
            value = getattr(self, f.name)
            if "float" in str(f.type) and not (value is None and "None" in str(f.type)):
                _finite(f.name, value)
        if not 0.0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must be in [0, lr={self.lr}], got {self.min_lr!r}")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError(f"nesterov needs optimizer 'sgd' with momentum > 0, got {self.optimizer!r} "
                             f"with momentum {self.momentum}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.label_smoothing and self.loss != "cross_entropy":
            raise ValueError(f"label_smoothing applies to cross_entropy only, not {self.loss!r}")
        if self.monitor == "val_accuracy" and self.loss != "cross_entropy":
            raise ValueError(f"monitor 'val_accuracy' needs a classification loss, not {self.loss!r}")
        _positive_int("warmup_epochs", self.warmup_epochs, minimum=0)
        _positive_int("step_size", self.step_size)
        if not self.gamma > 0:
            raise ValueError(f"gamma must be positive, got {self.gamma!r}")
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            raise ValueError(f"clip_grad_norm must be positive or None, got {self.clip_grad_norm!r}")
        if self.patience is not None:
            _positive_int("patience", self.patience)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    def optimizer_hyper(self) -> dict:
        """The keyword arguments of `mlp.optim.get_optimizer(self.optimizer, ...)` (weight_decay when set)."""
        if self.optimizer == "sgd":
            hyper = {"momentum": self.momentum, "nesterov": self.nesterov}
        else:
            hyper = {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}
        if self.weight_decay is not None:
            hyper["weight_decay"] = self.weight_decay
        return hyper

    def to_dict(self) -> dict:
        """A JSON-able dict; TrainConfig.from_dict(config.to_dict()) == config (paths become strings)."""
        d = dataclasses.asdict(self)
        if d["checkpoint_dir"] is not None:
            d["checkpoint_dir"] = str(d["checkpoint_dir"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The inverse of to_dict; unknown keys raise ValueError naming them."""
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}")
        return cls(**d)
