"""TrainConfig: every training choice in one frozen, validated, JSON-able dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from mlp.hyper import TRAINING, check_fields


@dataclass(frozen=True)
class TrainConfig:
    """How to train: epochs, batches, optimiser, loss, schedule, early stopping and checkpoints.

    Each field's type, default, range and meaning are declared once in `mlp.hyper.TRAINING`, which checks
    it; the relations between fields are checked here: min_lr <= lr, nesterov needs sgd with momentum > 0,
    label smoothing and monitoring val_accuracy need cross_entropy.
    momentum/nesterov: `sgd` only. beta1/beta2/eps: `adam` and `adamw`. weight_decay: None means the
    optimiser's own default (0.01 for adamw as in PyTorch, 0 for sgd and adam).
    Schedules are per epoch: `constant`, `step` (×gamma every step_size epochs), `cosine` (down to min_lr),
    after `warmup_epochs` of linear warm-up.
    patience: stop after this many epochs without improvement of `monitor` (`val_loss` or `val_accuracy`;
    `train_loss` when fit gets no validation set).
    """

    epochs: int = TRAINING.epochs.default
    batch_size: int | None = TRAINING.batch_size.default
    optimizer: str = TRAINING.optimizer.default
    lr: float = TRAINING.lr.default
    weight_decay: float | None = TRAINING.weight_decay.default
    momentum: float = TRAINING.momentum.default
    nesterov: bool = TRAINING.nesterov.default
    beta1: float = TRAINING.beta1.default
    beta2: float = TRAINING.beta2.default
    eps: float = TRAINING.eps.default
    loss: str = TRAINING.loss.default
    label_smoothing: float = TRAINING.label_smoothing.default
    schedule: str = TRAINING.schedule.default
    warmup_epochs: int = TRAINING.warmup_epochs.default
    step_size: int = TRAINING.step_size.default
    gamma: float = TRAINING.gamma.default
    min_lr: float = TRAINING.min_lr.default
    clip_grad_norm: float | None = TRAINING.clip_grad_norm.default
    shuffle: bool = TRAINING.shuffle.default
    seed: int = TRAINING.seed.default
    patience: int | None = TRAINING.patience.default
    monitor: str = TRAINING.monitor.default
    checkpoint_dir: str | Path | None = TRAINING.checkpoint_dir.default
    progress: bool = TRAINING.progress.default

    def __post_init__(self) -> None:
        check_fields(self, TRAINING)
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr must be in [0, lr={self.lr}], got {self.min_lr!r}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError(f"nesterov needs optimizer 'sgd' with momentum > 0, got {self.optimizer!r} "
                             f"with momentum {self.momentum}")
        if self.label_smoothing and self.loss != "cross_entropy":
            raise ValueError(f"label_smoothing applies to cross_entropy only, not {self.loss!r}")
        if self.monitor == "val_accuracy" and self.loss != "cross_entropy":
            raise ValueError(f"monitor 'val_accuracy' needs a classification loss, not {self.loss!r}")

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
