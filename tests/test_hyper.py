"""Hyper-parameter declarations: what each check accepts and refuses, its message, its words; the tables
cover TrainConfig, MLP and Distortion and load nothing of the library until a choice is checked."""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlp.activations import ACTIVATIONS
from mlp.config import TrainConfig
from mlp.data.distort import Distortion
from mlp.history import MONITORS
from mlp.hyper import DISTORTION, MODEL, TRAINING, Hyper, Names, Table, check_fields
from mlp.losses import LOSSES
from mlp.model import MLP
from mlp.optim import OPTIMIZERS, SCHEDULES

RATE = Hyper("rate", float, 0.5, "a rate", ge=0, lt=1)
STEPS = Hyper("steps", int, 10, "steps", ge=1, none="no limit")
KIND = Hyper("kind", str, "b", "a kind", choices=("b", "a"))
SIZES = Hyper("sizes", int, (3, 2), "sizes", ge=1, many=2)


@pytest.mark.parametrize(("hyper", "words"), [
    (RATE, "a finite number in [0, 1)"),
    (STEPS, "an integer >= 1 or None (no limit)"),
    (KIND, "one of b, a"),
    (SIZES, "a sequence of at least 2 integers >= 1"),
    (Hyper("lr", float, 1e-3, "", gt=0), "a finite number > 0"),
    (Hyper("x", float, 0.0, "", le=1), "a finite number <= 1"),
    (Hyper("x", float, 0.0, "", lt=0), "a finite number < 0"),
    (Hyper("x", int, 0, "", gt=-1, le=3), "an integer in (-1, 3]"),
    (Hyper("x", float, 0.0, ""), "a finite number"),
    (Hyper("flag", bool, False, ""), "True or False"),
    (Hyper("where", Path, None, "", none="nowhere"), "a path or None (nowhere)"),
])
def test_describe_says_what_is_accepted(hyper, words):
    assert hyper.describe() == words


@pytest.mark.parametrize(("hyper", "value", "plain"), [
    (RATE, 0, 0.0), (RATE, 0.999, 0.999), (RATE, np.float32(0.5), 0.5),
    (STEPS, 1, 1), (STEPS, np.int64(7), 7), (STEPS, None, None), (STEPS, 10**30, 10**30),
    (KIND, "a", "a"),
    (SIZES, [4, 3], (4, 3)), (SIZES, np.array([4, 3, 2]), (4, 3, 2)), (SIZES, (1, 1, 1), (1, 1, 1)),
    (Hyper("flag", bool, False, ""), True, True),
    (Hyper("where", Path, None, ""), "out", "out"),
])
def test_accepted_values_come_back_as_plain_python(hyper, value, plain):
    checked = hyper.check(value)
    assert checked == plain and type(checked) is type(plain)


@pytest.mark.parametrize(("hyper", "value"), [
    (RATE, 1), (RATE, -0.1), (RATE, float("nan")), (RATE, float("inf")), (RATE, True), (RATE, "0.5"),
    (RATE, None), (RATE, 10**400),
    (STEPS, 0), (STEPS, 2.0), (STEPS, 2.5), (STEPS, False), (STEPS, "3"),
    (KIND, "c"), (KIND, None), (KIND, 1),
    (SIZES, [3]), (SIZES, [3, 0]), (SIZES, [3, 2.5]), (SIZES, 3), (SIZES, "32"), (SIZES, None),
    (Hyper("flag", bool, False, ""), 1), (Hyper("flag", bool, False, ""), np.bool_(True)),
    (Hyper("where", Path, None, ""), 3),
])
def test_refused_values_raise_one_line_naming_the_parameter_value_and_range(hyper, value):
    message = f"{hyper.name} must be {hyper.describe()}, got {value!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        hyper.check(value)


def test_the_library_messages_read_as_one_line():
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got -1$"):
        TRAINING.lr.check(-1)
    with pytest.raises(ValueError, match=r"^dropout must be a finite number in \[0, 1\), got 1$"):
        MODEL.dropout.check(1)
    with pytest.raises(ValueError, match=r"^optimizer must be one of sgd, adam, adamw, got 'rmsprop'$"):
        TRAINING.optimizer.check("rmsprop")


def test_required_refuses_none_and_each_checks_one_value():
    with pytest.raises(ValueError, match=r"^steps must be an integer >= 1, got None$"):
        STEPS.required().check(None)
    assert STEPS.required().describe() == "an integer >= 1" and STEPS.describe().endswith("(no limit)")
    assert SIZES.each().describe() == "an integer >= 1" and SIZES.each().check(5) == 5
    assert RATE.bounds() == {"ge": 0, "lt": 1} and KIND.bounds() == {}


def test_a_table_is_its_declarations_by_name_and_as_attributes():
    assert list(Table(RATE, KIND)) == ["rate", "kind"] and Table(RATE).rate is RATE is Table(RATE)["rate"]
    with pytest.raises(AttributeError, match="no hyper-parameter 'steps'; declared: rate"):
        Table(RATE).steps  # noqa: B018


def test_choices_are_the_library_tables_in_their_order():
    assert TRAINING.optimizer.names == tuple(OPTIMIZERS) == ("sgd", "adam", "adamw")
    assert TRAINING.schedule.names == tuple(SCHEDULES)
    assert TRAINING.loss.names == tuple(LOSSES)
    assert TRAINING.monitor.names == tuple(MONITORS) == ("val_loss", "val_accuracy")
    assert MODEL.activation.names == tuple(ACTIVATIONS)
    assert Names("mlp.optim", "OPTIMIZERS")() == ("sgd", "adam", "adamw")


def test_every_default_is_accepted_by_its_own_check():
    for declarations in (TRAINING, MODEL, DISTORTION):
        for hyper in declarations.values():
            hyper.check(hyper.default)
            assert hyper.help and hyper.type in (int, float, bool, str, Path), hyper.name


def test_every_train_config_field_is_declared_with_its_default():
    fields = dataclasses.fields(TrainConfig)
    assert [f.name for f in fields] == list(TRAINING)
    assert all(f.default == TRAINING[f.name].default for f in fields)


def test_every_distortion_field_is_declared_with_its_default():
    fields = dataclasses.fields(Distortion)
    assert [f.name for f in fields] == list(DISTORTION)
    assert all(f.default == DISTORTION[f.name].default for f in fields)


def test_every_mlp_argument_is_declared_with_its_default():
    parameters = list(inspect.signature(MLP).parameters.values())
    assert [p.name for p in parameters] == list(MODEL)
    assert all(p.default == MODEL[p.name].default for p in parameters)
    assert list(MLP([2, 1]).config) == list(MODEL)


def test_check_fields_keeps_the_plain_values():
    @dataclasses.dataclass(frozen=True)
    class Config:
        rate: float = 0.5
        steps: int | None = None

    config = Config(rate=np.float32(0.25))
    check_fields(config, Table(RATE, STEPS))
    assert type(config.rate) is float and config.rate == 0.25
    with pytest.raises(ValueError, match="steps must be an integer >= 1 or None"):
        check_fields(Config(steps=0), Table(RATE, STEPS))
    assert TrainConfig(lr=1).lr == 1.0 and type(TrainConfig(lr=1).lr) is float


def test_declaring_loads_nothing_of_the_library():
    """The data layer's Distortion checks its fields without the model core; a table's names load on use."""
    code = ("import sys, mlp.hyper, mlp.data.distort\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('mlp'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.split() == ["mlp", "mlp.data", "mlp.data.distort", "mlp.data.transforms", "mlp.hyper"]
