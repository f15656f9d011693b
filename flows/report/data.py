"""What the report is given: a finished run's results as plain data (`ReportData`), validated on
construction. `flows.pipeline.reporting` reads them from the run's files; `flows.report.content` computes
every value the report shows from them.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from typing import Any

import numpy as np

from flows.report.quality import DataQuality
from flows.store.champion import Promotion

HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
LONE_MEMBER = "1"  # the member name of history rows that do not say (one network)
PACKAGES = ("numpy", "prefect", "pyarrow", "pillow", "matplotlib", "scikit-learn", "jinja2", "mlpflow")
DATA_KINDS = {"given": "--data-dir", "raw": "data/raw", "demo": "the built-in digits demo"}
REPORT_STAGE = "report"  # its time is measured up to the writing of the report (see ReportData)


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

    config: the run's settings in groups ({"training": {"lr": 0.001, ...}, ...}; see
    `flows.report.settings`). history: rows with at least HISTORY_KEYS (and usually lr, seconds), one per
    epoch and network; a row's "member" names its network of the ensemble ("1-raw"), LONE_MEMBER when absent.
    best_epochs: each network's best epoch, by member name (the weights the classifier uses).
    confusion: (n_classes, n_classes) int counts on the validation set, rows true, at the best epoch.
    misclassified: (m, h*w) uint8 raw pixels of misclassified validation images, with their true and predicted
    class indices (m,). class_names are the folder names, display_names what people read (博, 学, ...).
    quality: the data set's quality report and ingest counts, if given. split_counts: the run's images per
    class in each part of its split ({"training split": (n_classes,), "validation split": ...}), if given.
    stage_seconds: wall time per stage in run order; REPORT_STAGE's, when there, counts up to the writing of
    the report. loss_name: what the history's losses are, in words (e.g. "cross-entropy with label smoothing
    0.1"), if worth saying. examples: what the training images looked like after augmentation, if there was
    any. test_time: the classifier's test-time augmentation (a name in `flows.pipeline.classifier.TEST_TIME`).
    promotion: the decision against the data folder's champion, if one was made. data_root and data_kind
    (a key of DATA_KINDS): the data folder and how it was chosen; written: when the report was written.
    divergence: when training diverged, a sentence naming where (the run then has only the epochs that
    finished, and no promotion); empty otherwise. resumed: for a run continued after it stopped, a sentence
    saying so; empty otherwise.
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
    promotion: Promotion | None = None
    split_counts: Mapping[str, Sequence[int]] | None = None
    data_root: str = ""
    data_kind: str = ""
    written: datetime | None = None
    divergence: str = ""
    resumed: str = ""

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
        if self.promotion is not None and not isinstance(self.promotion, Promotion):
            raise TypeError(f"promotion must be a Promotion, got {type(self.promotion).__name__}")
        counts = None if self.split_counts is None else {
            str(part): tuple(int(k) for k in per_class) for part, per_class in self.split_counts.items()}
        for part, per_class in (counts or {}).items():
            if len(per_class) != n:
                raise ValueError(f"split_counts[{part!r}] has {len(per_class)} counts for {n} classes")
        if self.data_kind and self.data_kind not in DATA_KINDS:
            raise ValueError(f"data_kind must be one of {', '.join(DATA_KINDS)}, got {self.data_kind!r}")
        for name, value in (("confusion", cm), ("misclassified", images), ("image_shape", shape),
                            ("split_counts", counts)):
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
