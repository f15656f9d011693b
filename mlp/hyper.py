"""Hyper-parameters declared once: each one's type, default, range and help, from which the library's checks
(`TrainConfig`, `MLP`, the optimisers, `Distortion`), the pipeline's Prefect form and its command line come.

    Hyper("lr", float, 1e-3, "learning rate", gt=0)
    TRAINING.lr.describe()  ->  'a finite number > 0'
    TRAINING.lr.check(-1)   ->  ValueError: lr must be a finite number > 0, got -1

A value is checked when a configuration, model or optimiser is built, never per step. Choices name a library
table (`Names("mlp.optim", "OPTIMIZERS")`), read when first needed: this module loads nothing, so the data
layer's `Distortion` uses it without the model core, and `mlp.optim` checks its arguments with declarations
that name its own table. Relations between values (min_lr <= lr, ...) stay with the class that has both.
"""

from __future__ import annotations

import importlib
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# What a value of each type is called, alone and in a sequence.
KINDS = {int: ("an integer", "integers"), float: ("a finite number", "finite numbers"),
         bool: ("True or False", ""), str: ("a string", "strings"), Path: ("a path", "paths")}


@dataclass(frozen=True)
class Names:
    """The names of a library table, `module`.`table` (e.g. mlp.optim's OPTIMIZERS), in the table's order;
    the module is imported on the first call."""

    module: str
    table: str

    def __call__(self) -> tuple[str, ...]:
        return tuple(getattr(importlib.import_module(self.module), self.table))


@dataclass(frozen=True)
class Hyper:
    """One hyper-parameter: name, type (int, float, bool, str or Path), default and one-line help.

    Its range: bounds (gt: > , ge: >= , lt: < , le: <= ; a float is always finite), or `choices` (names, or a
    library table's `Names`). `none`: None is accepted too, meaning this (e.g. "no clipping"). `many`: a
    sequence of at least this many values, each of the type and in the range (e.g. layer sizes).
    """

    name: str
    type: type
    default: Any
    help: str
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: tuple[str, ...] | Names | None = None
    none: str | None = None
    many: int | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The accepted names, for a declaration with choices."""
        return self.choices() if isinstance(self.choices, Names) else tuple(self.choices or ())

    def bounds(self) -> dict[str, float]:
        """The bounds that are set, e.g. {'ge': 0, 'lt': 1}."""
        return {k: v for k in ("gt", "ge", "lt", "le") if (v := getattr(self, k)) is not None}

    def required(self) -> Hyper:
        """The same declaration without None (an optimiser's own weight decay, a command-line flag)."""
        return replace(self, none=None)

    def each(self) -> Hyper:
        """The declaration of one value of a sequence (one layer's size)."""
        return replace(self, many=None)

    def check(self, value: Any) -> Any:
        """`value` as plain Python (int, float; a tuple for a sequence; others as given) when it is accepted;
        else ValueError naming the parameter, the value and what it accepts."""
        if value is None and self.none is not None:
            return None
        if self.many is None:
            if self._fits(value):
                return self._plain(value)
        else:
            items = None if isinstance(value, str | bytes) or not hasattr(value, "__iter__") else list(value)
            if items is not None and len(items) >= self.many and all(map(self._fits, items)):
                return tuple(map(self._plain, items))
        raise ValueError(f"{self.name} must be {self.describe()}, got {value!r}")

    def describe(self) -> str:
        """What it accepts, in words: 'a finite number in [0, 1)', 'one of sgd, adam, adamw', ..."""
        if self.choices is not None:
            text = "one of " + ", ".join(self.names)
        else:
            one, several = KINDS[self.type]
            text = f"a sequence of at least {self.many} {several}" if self.many is not None else one
            text += self._range()
        return text if self.none is None else f"{text} or None ({self.none})"

    def _range(self) -> str:
        low = f"({self.gt}" if self.gt is not None else f"[{self.ge}" if self.ge is not None else ""
        high = f"{self.lt})" if self.lt is not None else f"{self.le}]" if self.le is not None else ""
        if low and high:
            return f" in {low}, {high}"
        if low:
            return f" {'>' if self.gt is not None else '>='} {low[1:]}"
        if high:
            return f" {'<' if self.lt is not None else '<='} {high[:-1]}"
        return ""

    def _fits(self, value: Any) -> bool:
        if self.type is bool:
            return isinstance(value, bool)
        if self.type is str:
            return isinstance(value, str) and (self.choices is None or value in self.names)
        if self.type is Path:
            return isinstance(value, str | os.PathLike)
        number = numbers.Integral if self.type is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, number):
            return False
        if self.type is float and not _finite(value):
            return False
        return ((self.gt is None or value > self.gt) and (self.ge is None or value >= self.ge)
                and (self.lt is None or value < self.lt) and (self.le is None or value <= self.le))

    def _plain(self, value: Any) -> Any:
        return self.type(value) if self.type in (int, float) else value


def _finite(value: numbers.Real) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


class Table(dict):
    """Declarations by name, in the order given; also as attributes: ``TRAINING.lr is TRAINING["lr"]``."""

    def __init__(self, *declarations: Hyper) -> None:
        super().__init__((h.name, h) for h in declarations)

    def __getattr__(self, name: str) -> Hyper:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no hyper-parameter {name!r}; declared: {', '.join(self)}") from None


def check_fields(config: Any, declarations: Mapping[str, Hyper]) -> None:
    """Check the fields of the frozen dataclass `config` that `declarations` names, in its order, keeping
    the plain value each check returns (a float field given 1 holds 1.0)."""
    for name, hyper in declarations.items():
        object.__setattr__(config, name, hyper.check(getattr(config, name)))


# TrainConfig's fields (mlp.config), in its order.
TRAINING = Table(
    Hyper("epochs", int, 20, "passes over the training set", ge=1),
    Hyper("batch_size", int, 64, "samples per gradient step (more than the training set: all of it)", ge=1,
          none="the whole training set"),
    Hyper("optimizer", str, "adam", "optimiser (adamw: Adam with decoupled weight decay 0.01)",
          choices=Names("mlp.optim", "OPTIMIZERS")),
    Hyper("lr", float, 1e-3, "learning rate", gt=0),
    Hyper("weight_decay", float, None, "L2 penalty: coupled for sgd and adam, decoupled for adamw (their own "
          "default: 0.01 for adamw, 0 for sgd and adam)", ge=0, none="the optimiser's own"),
    Hyper("momentum", float, 0.9, "sgd's momentum (0: plain gradient descent)", ge=0, lt=1),
    Hyper("nesterov", bool, False, "sgd's Nesterov momentum (needs momentum > 0)"),
    Hyper("beta1", float, 0.9, "adam's and adamw's decay rate of the gradients' running mean", ge=0, lt=1),
    Hyper("beta2", float, 0.999, "adam's and adamw's decay rate of the squared gradients' running mean",
          ge=0, lt=1),
    Hyper("eps", float, 1e-8, "adam's and adamw's term added to the denominator", gt=0),
    Hyper("loss", str, "cross_entropy", "loss: cross_entropy (softmax, classes) or mse (regression)",
          choices=Names("mlp.losses", "LOSSES")),
    Hyper("label_smoothing", float, 0.0, "cross-entropy label smoothing; it keeps the validation loss, which "
          "picks the best checkpoint, in step with the validation accuracy", ge=0, lt=1),
    Hyper("schedule", str, "constant", "learning-rate schedule over the epochs",
          choices=Names("mlp.optim", "SCHEDULES")),
    Hyper("warmup_epochs", int, 0, "epochs of linear learning-rate warm-up before the schedule", ge=0),
    Hyper("step_size", int, 10, "the step schedule's epochs between two decays", ge=1),
    Hyper("gamma", float, 0.1, "the step schedule's factor at each decay", gt=0),
    Hyper("min_lr", float, 0.0, "where the cosine schedule ends (at most lr)", ge=0),
    Hyper("clip_grad_norm", float, None, "rescale each batch's gradient to at most this L2 norm", gt=0,
          none="no clipping"),
    Hyper("shuffle", bool, True, "shuffle the training set, and again every epoch"),
    Hyper("seed", int, 0, "seed of the training's random choices: shuffling, augmentation", ge=0),
    Hyper("patience", int, None, "stop after this many epochs without improvement of the monitored metric",
          ge=1, none="no early stopping"),
    Hyper("monitor", str, "val_loss", "the validation metric that picks the best epoch",
          choices=Names("mlp.history", "MONITORS")),
    Hyper("checkpoint_dir", Path, None, "where best.npz and last.npz go", none="no files"),
    Hyper("progress", bool, True, "show a progress bar"),
)

# MLP's arguments (mlp.model), in its order.
MODEL = Table(
    Hyper("layer_sizes", int, (784, 500, 12), "the layers' widths: inputs, hidden layers, outputs", ge=1,
          many=2),
    Hyper("activation", str, "relu", "activation after each hidden layer",
          choices=Names("mlp.activations", "ACTIVATIONS")),
    Hyper("dropout", float, 0.0, "dropout rate after each hidden layer", ge=0, lt=1),
    Hyper("batchnorm", bool, False, "batch normalisation after each hidden layer's activation"),
    Hyper("init", str, "he", "weight initialiser", choices=Names("mlp.initializers", "INITIALIZERS")),
    Hyper("init_scale", float, 0.01, "standard deviation of the normal initialiser's weights", gt=0),
    Hyper("seed", int, 0, "seed of the initial weights and of the dropout masks", ge=0),
    Hyper("dtype", str, "float32", "floating-point type of the parameters",
          choices=Names("mlp.model", "DTYPES")),
)

# Distortion's fields (mlp.data.distort): the ranges each image's random distortion is drawn from.
DISTORTION = Table(
    Hyper("rotate", float, 10.0, "rotation range in degrees, ±", ge=0, lt=180),
    Hyper("scale", float, 0.1, "each axis stretched by a factor in [1 - s, 1 + s]", ge=0, lt=1),
    Hyper("shear", float, 0.15, "slope that horizontal strokes take on, ± (vertical strokes stay upright)",
          ge=0, lt=1),
    Hyper("translate", float, 0.1, "shift of up to this fraction of the height and width", ge=0, lt=1),
    Hyper("elastic_alpha", float, 0.0, "elastic displacement scale in pixels (Simard et al. 2003's alpha; "
          "their 34 with sigma 4 on 28x28 digits); 0 turns it off", ge=0),
    Hyper("elastic_sigma", float, 4.0, "smoothness of the elastic field in pixels", gt=0),
)

# Where the training batches come from (mlp.data.stream): the training set in memory, or streamed from the
# Parquet data set by row groups.
STREAMING = Table(
    Hyper("data_source", str, "auto", "where training batches come from: memory (the training set loaded "
          "whole), stream (read from the Parquet data set by row groups, shuffled across row groups and "
          "within a buffer, normalised and augmented per batch), auto (stream when the training set would "
          "take more than the memory budget)", choices=("auto", "memory", "stream")),
    Hyper("memory_budget_mb", float, 2048.0, "memory in MB the training set may take when loaded whole; a "
          "stream's shuffle buffer holds at most as many rows as fit in it", gt=0),
)
