"""The report's configuration table: a run's settings, grouped, with only those that applied to it.

A setting applies unless a rule here says otherwise: sgd's momentum and Nesterov not under Adam, Adam's betas
not under sgd, the step schedule's step size not under a cosine schedule, the distortions' ranges only when
the run distorted its images, and so on (`APPLIES`). Settings whose None means "off" (early stopping,
gradient clipping) are left out when off; an optimiser's own weight decay is shown as its value.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flows.report.table import Table

Settings = Mapping[str, Any]


def _when(key: str, *values: Any) -> Callable[[Settings], bool]:
    """Applies when the setting `key` is one of `values`, or is not given (nothing to decide on)."""
    return lambda s: key not in s or s[key] in values


def _given(key: str) -> Callable[[Settings], bool]:
    """Applies when `key` is set (not None): early stopping's patience, gradient clipping's norm."""
    return lambda s: s.get(key) is not None


_SGD, _ADAM = _when("optimizer", "sgd"), _when("optimizer", "adam", "adamw")
_DISTORT = _when("augment", "distort")

# setting -> when it applies, given all of the run's settings by name (their groups merged)
APPLIES: dict[str, Callable[[Settings], bool]] = {
    "momentum": _SGD,
    "nesterov": lambda s: _SGD(s) and s.get("momentum", 1) > 0,
    "beta1": _ADAM, "beta2": _ADAM, "eps": _ADAM,
    "step_size": _when("schedule", "step"), "gamma": _when("schedule", "step"),
    "min_lr": _when("schedule", "cosine"),
    "label_smoothing": _when("loss", "cross_entropy"),
    "init_scale": _when("init", "normal"),
    "patience": _given("patience"), "clip_grad_norm": _given("clip_grad_norm"),
    **{f"distort_{name}": _DISTORT for name in ("rotate", "scale", "shear", "translate", "elastic")},
    "distort_sigma": lambda s: _DISTORT(s) and bool(s.get("distort_elastic", 1)),
}


def applies(name: str, settings: Settings) -> bool:
    """Whether the setting `name` applied to a run with these `settings` (see APPLIES)."""
    rule = APPLIES.get(name)
    return rule is None or bool(rule(settings))


def configuration_table(config: Mapping[str, Any]) -> Table:
    """(group, setting, value) rows of the settings that applied. `config`: groups of settings by name
    ({"training": {"lr": 0.001, ...}, ...}); a setting given at the top level has no group. The group is
    named on its first row only."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            groups.setdefault(str(key), {}).update(_flatten(value))
        else:
            groups.setdefault("", {})[str(key)] = value
    merged = {name: value for group in groups.values() for name, value in group.items()}
    rows = []
    for group, settings in groups.items():
        shown = [(name, setting_text(name, value, merged)) for name, value in settings.items()
                 if applies(name, merged)]
        rows += [(group if k == 0 else "", name, text) for k, (name, text) in enumerate(shown)]
    return Table(("group", "setting", "value"), rows)


def setting_text(name: str, value: Any, settings: Settings) -> str:
    """A setting's value as the report shows it: yes/no, numbers as written (large integers grouped by
    thousands), sequences comma-separated, an optimiser's own weight decay as its value."""
    if name == "weight_decay" and value is None and "optimizer" in settings:
        own = _own_weight_decay(settings["optimizer"])
        return "n/a" if own is None else f"{own:g} ({settings['optimizer']}'s own)"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (str, Path)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(setting_text(name, v, settings) for v in value)
    return json.dumps(value, default=str, ensure_ascii=False)


def _own_weight_decay(optimizer: str) -> float | None:
    """The weight decay `optimizer` uses when none is given (adamw 0.01, sgd and adam 0); None if unknown."""
    from mlp.optim import OPTIMIZERS

    if optimizer not in OPTIMIZERS:
        return None
    return inspect.signature(OPTIMIZERS[optimizer]).parameters["weight_decay"].default


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as one level, deeper names dotted (``a.b``)."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
