"""TrainConfig: validation naming the bad value, JSON round trip, immutability."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mlp.config import TrainConfig
from mlp.optim import get_optimizer


def test_defaults_match_the_documented_api():
    c = TrainConfig()
    assert (c.epochs, c.batch_size, c.optimizer, c.lr, c.loss, c.schedule, c.monitor) == \
        (20, 64, "adam", 1e-3, "cross_entropy", "constant", "val_loss")
    assert c.patience is None and c.checkpoint_dir is None and c.progress is True


def test_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().epochs = 3


def test_round_trip_through_json(tmp_path: Path):
    config = TrainConfig(epochs=3, batch_size=None, optimizer="sgd", nesterov=True, checkpoint_dir=tmp_path)
    data = json.loads(json.dumps(config.to_dict()))
    again = TrainConfig.from_dict(data)
    assert again == dataclasses.replace(config, checkpoint_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['colour'\]"):
        TrainConfig.from_dict({**data, "colour": "red"})


def test_optimizer_hyper_parameters_follow_the_optimizer():
    assert TrainConfig(optimizer="sgd", momentum=0.5, weight_decay=0.0).optimizer_hyper() == \
        {"momentum": 0.5, "nesterov": False, "weight_decay": 0.0}
    assert TrainConfig(optimizer="adamw", weight_decay=0.1).optimizer_hyper() == \
        {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.1}


@pytest.mark.parametrize(("name", "decay"), [("sgd", 0.0), ("adam", 0.0), ("adamw", 0.01)])
def test_default_weight_decay_is_the_optimizers_own(name, decay):
    config = TrainConfig(optimizer=name)
    assert config.weight_decay is None and "weight_decay" not in config.optimizer_hyper()
    optimizer = get_optimizer(name, **config.optimizer_hyper())
    assert optimizer.weight_decay == decay == get_optimizer(name).weight_decay
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize("field", ["weight_decay", "momentum", "beta1", "beta2", "eps", "label_smoothing",
                                   "gamma", "min_lr", "clip_grad_norm"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_floats_raise_value_errors_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"{field} must be a finite number.*, got {value!r}$"):
        TrainConfig(**{field: value})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
    ({"batch_size": 0}, r"batch_size must be an integer >= 1 or None \(the whole training set\), got 0"),
    ({"batch_size": 2.5}, r"batch_size must be an integer >= 1 or None \(the whole training set\), got 2.5"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of sgd, adam, adamw, got 'lbfgs'"),
    ({"loss": "hinge"}, "loss must be one of mse, cross_entropy, got 'hinge'"),
    ({"schedule": "cyclic"}, "schedule must be one of constant, step, cosine, got 'cyclic'"),
    ({"monitor": "train_loss"}, "monitor must be one of val_loss, val_accuracy, got 'train_loss'"),
    ({"lr": 0.0}, "lr must be a finite number > 0, got 0.0"),
    ({"lr": float("nan")}, "lr must be a finite number > 0, got nan"),
    ({"lr": -1}, "lr must be a finite number > 0, got -1"),
    ({"min_lr": 1.0}, r"min_lr must be in \[0, lr=0.001\], got 1.0"),
    ({"min_lr": -0.1}, "min_lr must be a finite number >= 0, got -0.1"),
    ({"momentum": 1.0}, r"momentum must be a finite number in \[0, 1\), got 1.0"),
    ({"nesterov": True}, "nesterov needs optimizer 'sgd' with momentum > 0, got 'adam'"),
    ({"label_smoothing": 0.1, "loss": "mse"}, "label_smoothing applies to cross_entropy"),
    ({"loss": "mse", "monitor": "val_accuracy"}, "monitor 'val_accuracy' needs a classification loss"),
    ({"gamma": "0.5"}, "gamma must be a finite number > 0, got '0.5'"),
    ({"clip_grad_norm": 0.0}, r"clip_grad_norm must be a finite number > 0 or None \(no clipping\), got 0.0"),
    ({"patience": 0}, r"patience must be an integer >= 1 or None \(no early stopping\), got 0"),
    ({"warmup_epochs": -1}, "warmup_epochs must be an integer >= 0, got -1"),
    ({"seed": -1}, "seed must be an integer >= 0, got -1"),
    ({"shuffle": "no"}, "shuffle must be True or False, got 'no'"),
    ({"checkpoint_dir": 3}, r"checkpoint_dir must be a path or None \(no files\), got 3"),
])
def test_bad_values_raise_value_errors_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)
