"""What the report says, as typed data: a finished run's results (`ReportData`) and every value the report
shows, computed here once (`report_content`), so "where does the report get this number" has one answer.

The templates (`flows.report.render`, `flows/report/templates/`) only lay these values out and format them.
The row builders here are also the contents of the Prefect table artifacts (see `flows.report.artifacts`).
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from flows.report.figures import MAX_MISCLASSIFIED
from flows.report.quality import DataQuality, QualitySection, quality_section
from flows.report.table import Table
from mlp.metrics import per_class_accuracy

HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
LONE_MEMBER = "1"  # the member name of history rows that do not say (one network)
# The report's sections, in order: the headings of templates/report_sections.j2 (the tests hold it to this).
SECTIONS = (
    "Best epoch",
    "Learning curves",
    "Training images",
    "Confusion matrix",
    "Per-class accuracy",
    "Misclassified validation images",
    "Data quality",
    "Configuration",
    "Stage times",
    "Versions",
)
PACKAGES = ("numpy", "prefect", "pyarrow", "pillow", "matplotlib", "scikit-learn", "jinja2", "mlpflow")
MAX_CONFUSION_CLASSES = 30  # beyond this the confusion matrix is a figure only: a table that wide is unread


def member_of(row: Mapping[str, Any]) -> str:
    """The network a history row belongs to."""
    return str(row.get("member", LONE_MEMBER))


def library_versions() -> dict[str, str]:
    """Versions of Python and the packages a run depends on ('not installed' where absent)."""
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def percent(value: float | None) -> str:
    """A fraction in percent with two decimals, 'n/a' for None or NaN (the templates' `percent` filter)."""
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.2f}%"


@dataclass(frozen=True)
class TrainingExamples:
    """What augmentation made of a few training images: originals (k, h*w) uint8 with their class indices
    labels (k,), variants (k, m, h*w) in pixel units, and a sentence saying how they were made."""

    originals: np.ndarray
    labels: np.ndarray
    variants: np.ndarray
    description: str

    def __post_init__(self) -> None:
        k = len(self.originals)
        if np.shape(self.labels) != (k,) or np.ndim(self.variants) != 3 or len(self.variants) != k:
            raise ValueError(f"originals {np.shape(self.originals)}, labels {np.shape(self.labels)} and "
                             f"variants {np.shape(self.variants)} must be (k, h*w), (k,) and (k, m, h*w)")


@dataclass(frozen=True)
class ReportData:
    """A finished run's results, as plain data. Arrays are validated and converted on construction.

    history: rows with at least HISTORY_KEYS (and usually lr, seconds), one per epoch and network; a row's
    "member" names its network of the ensemble ("1-raw"), LONE_MEMBER when absent.
    best_epochs: each network's best epoch, by member name (the weights the classifier uses).
    confusion: (n_classes, n_classes) int counts on the validation set, rows true, at the best epoch.
    misclassified: (m, h*w) uint8 raw pixels of misclassified validation images, with their true and predicted
    class indices (m,). class_names are the folder names, display_names what people read (博, 学, ...).
    quality: the data set's quality report and ingest counts, if given.
    loss_name: what the history's losses are, in words (e.g. "cross-entropy with label smoothing 0.1"), if
    worth saying. examples: what the training images looked like after augmentation, if there was any.
    test_time: the classifier's test-time augmentation (a name in `flows.pipeline.classifier.TEST_TIME`).
    """

    run_name: str
    config: Mapping[str, Any]
    history: Sequence[Mapping[str, Any]]
    best_epochs: Mapping[str, int]
    class_names: Sequence[str]
    display_names: Sequence[str]
    confusion: np.ndarray
    misclassified: np.ndarray
    image_shape: tuple[int, int]
    misclassified_true: np.ndarray
    misclassified_pred: np.ndarray
    quality: DataQuality | None = None
    stage_seconds: Mapping[str, float] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=library_versions)
    loss_name: str = ""
    examples: TrainingExamples | None = None
    test_time: str = "none"

    def __post_init__(self) -> None:
        if not self.run_name:
            raise ValueError("run_name must be a non-empty string")
        if not self.history:
            raise ValueError("history is empty: a report needs at least one epoch")
        for row in self.history:
            missing = [k for k in HISTORY_KEYS if k not in row]
            if missing:
                raise ValueError(f"history row {dict(row)} lacks {missing}; rows need {list(HISTORY_KEYS)}")
        if sorted(self.best_epochs) != sorted(self.members):
            raise ValueError(f"best_epochs names {sorted(self.best_epochs)}; the history's networks are "
                             f"{self.members}")
        for member, epoch in self.best_epochs.items():
            epochs = [row["epoch"] for row in self.rows_of(member)]
            if epoch not in epochs:
                raise ValueError(f"best epoch {epoch} of {member} is not in its history's epochs {epochs}")
        n = len(self.class_names)
        if n == 0 or len(self.display_names) != n:
            raise ValueError(
                f"class_names and display_names must be non-empty and equally long, "
                f"got {len(self.class_names)} and {len(self.display_names)}"
            )
        cm = np.asarray(self.confusion)
        if cm.shape != (n, n) or not np.issubdtype(cm.dtype, np.integer) or (cm < 0).any():
            raise ValueError(f"confusion must be ({n}, {n}) non-negative counts, got {cm.shape} {cm.dtype}")
        shape = tuple(int(s) for s in self.image_shape)
        images = np.asarray(self.misclassified)
        if len(shape) != 2 or min(shape) < 1 or images.ndim != 2 or images.shape[1] != shape[0] * shape[1]:
            raise ValueError(
                f"misclassified must be (m, h*w) with image_shape (h, w), got {images.shape} and {shape}"
            )
        if images.dtype != np.uint8:
            raise ValueError(f"misclassified must be raw uint8 pixels, got dtype {images.dtype}")
        labels = [np.asarray(self.misclassified_true), np.asarray(self.misclassified_pred)]
        for name, y in zip(("misclassified_true", "misclassified_pred"), labels, strict=True):
            if y.shape != (len(images),) or (y.size and not np.issubdtype(y.dtype, np.integer)):
                raise ValueError(f"{name} must be ({len(images)},) class indices, got {y.shape} {y.dtype}")
            if y.size and (y.min() < 0 or y.max() >= n):
                raise ValueError(f"{name} holds class indices outside [0, {n}): {sorted(set(y.tolist()))}")
        if self.quality is not None and not isinstance(self.quality, DataQuality):
            raise TypeError(f"quality must be a DataQuality, got {type(self.quality).__name__}")
        for name, value in (("confusion", cm), ("misclassified", images), ("image_shape", shape)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "misclassified_true", labels[0].astype(np.int64))
        object.__setattr__(self, "misclassified_pred", labels[1].astype(np.int64))
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "display_names", tuple(str(c) for c in self.display_names))

    @property
    def members(self) -> list[str]:
        """The networks' names, in the order of the history."""
        return list(dict.fromkeys(member_of(row) for row in self.history))

    def rows_of(self, member: str) -> list[Mapping[str, Any]]:
        """The history rows of one network, in epoch order."""
        return [row for row in self.history if member_of(row) == member]

    @property
    def best(self) -> dict[str, Mapping[str, Any]]:
        """Each network's history row of its best epoch, by member name."""
        return {m: next(row for row in self.rows_of(m) if row["epoch"] == epoch)
                for m, epoch in self.best_epochs.items()}


# ----------------------------------------------------------------------------------- rows of the artifacts
def history_rows(data: ReportData) -> list[dict[str, Any]]:
    """The epoch history as JSON-ready rows (Python numbers), HISTORY_KEYS first, then the other columns."""
    keys = ["member", *HISTORY_KEYS] + [k for row in data.history for k in row if k not in HISTORY_KEYS]
    keys = list(dict.fromkeys(keys))
    return [{k: member_of(row) if k == "member" else _plain(row.get(k)) for k in keys}
            for row in data.history]


def per_class_rows(data: ReportData) -> list[dict[str, Any]]:
    """One row per class: label, folder, name (display name), samples, correct, accuracy (None if empty)."""
    accuracy = per_class_accuracy(data.confusion)
    return [
        {
            "label": i,
            "folder": folder,
            "name": name,
            "samples": int(data.confusion[i].sum()),
            "correct": int(data.confusion[i, i]),
            "accuracy": None if np.isnan(accuracy[i]) else float(accuracy[i]),
        }
        for i, (folder, name) in enumerate(zip(data.class_names, data.display_names, strict=True))
    ]


# ----------------------------------------------------------------------------------- the report's content
@dataclass(frozen=True)
class BestEpoch:
    """One network's best epoch, as the report states it: the epoch of how many, and its scores."""

    epoch: int
    n_epochs: int
    val_accuracy: float
    val_loss: float
    train_accuracy: float
    train_loss: float


@dataclass(frozen=True)
class ReportContent:
    """Every value report.md and report.html show, section by section (SECTIONS); the templates lay them out.

    accuracy is the classifier's on the validation set: the ensemble's mean probabilities, each image also
    shifted when test_time_shifts. lone is the one network's best epoch, None for an ensemble; best is its
    history row as (metric, value), or a row per network of an ensemble. confusion is None beyond
    MAX_CONFUSION_CLASSES classes; augmentation says how the training images were augmented (None: they
    were not); quality is None when not given.
    """

    run_name: str
    n_validation: int
    accuracy: float | None
    test_time_shifts: bool
    loss_name: str
    n_networks: int
    lone: BestEpoch | None
    best: Table
    augmentation: str | None
    confusion: Table | None
    per_class: Table
    n_misclassified: int
    n_misclassified_shown: int
    quality: QualitySection | None
    configuration: Table
    stage_times: Table
    versions: Table


def report_content(data: ReportData) -> ReportContent:
    """What the report says about `data`, every number computed here."""
    n_val = int(data.confusion.sum())
    best = data.best
    lone = None
    if len(best) == 1:
        (member, row), = best.items()
        lone = BestEpoch(row["epoch"], len(data.rows_of(member)), row["val_accuracy"], row["val_loss"],
                         row["train_accuracy"], row["train_loss"])
    show_confusion = len(data.class_names) <= MAX_CONFUSION_CLASSES
    return ReportContent(
        run_name=data.run_name,
        n_validation=n_val,
        accuracy=float(np.trace(data.confusion) / n_val) if n_val else None,
        test_time_shifts=data.test_time == "shifts",
        loss_name=data.loss_name,
        n_networks=len(best),
        lone=lone,
        best=_best_table(best),
        augmentation=None if data.examples is None else data.examples.description,
        confusion=_confusion_table(data) if show_confusion else None,
        per_class=Table(("label", "folder", "name", "samples", "correct", "accuracy"),
                        [(r["label"], r["folder"], r["name"], r["samples"], r["correct"],
                          percent(r["accuracy"])) for r in per_class_rows(data)]),
        n_misclassified=len(data.misclassified),
        n_misclassified_shown=min(len(data.misclassified), MAX_MISCLASSIFIED),
        quality=None if data.quality is None else quality_section(data.quality),
        configuration=Table(("setting", "value"), _flatten(data.config)),
        stage_times=_stage_times(data.stage_seconds),
        versions=Table(("package", "version"), data.versions.items()),
    )


def _best_table(best: Mapping[str, Mapping[str, Any]]) -> Table:
    """One network: its best epoch's history row as (metric, value); an ensemble: a row per network."""
    if len(best) == 1:
        (row,) = best.values()
        return Table(("metric", "value"), [(k, _plain(v)) for k, v in row.items()])
    keys = [k for k in next(iter(best.values())) if k != "member"]
    return Table(("network", *keys), [(m, *(_plain(row[k]) for k in keys)) for m, row in best.items()])


def _confusion_table(data: ReportData) -> Table:
    """The confusion counts, a row per true class and a column per predicted one, by display name."""
    pairs = zip(data.display_names, data.confusion, strict=True)
    rows = [(name, *map(int, counts)) for name, counts in pairs]
    return Table(("true \\ predicted", *data.display_names), rows)


def _stage_times(stage_seconds: Mapping[str, float]) -> Table:
    """Seconds and share of the total per stage, then the total."""
    total = float(sum(stage_seconds.values()))
    rows = [(stage, float(s), percent(s / total if total else None)) for stage, s in stage_seconds.items()]
    return Table(("stage", "seconds", "share"), [*rows, ("total", total, "100%" if total else "n/a")])


def _plain(value: Any) -> Any:
    """NumPy scalars to Python numbers (JSON-ready); other values unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _flatten(config: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as (dotted.key, value) rows; lists and other values as JSON."""
    rows = []
    for key, value in config.items():
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            plain = isinstance(value, (str, Path))
            text = str(value) if plain else json.dumps(_plain(value), default=str, ensure_ascii=False)
            rows.append((f"{prefix}{key}", text))
    return rows
