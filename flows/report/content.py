"""What a person reads after a run, from plain data: figures, report.md and a self-contained report.html.

`ReportData` holds a finished run's results; `write_report` turns it into ``figures/*.png``, ``report.md``
(figures linked) and ``report.html`` (figures embedded as data URIs, no external files). The row builders
here are also the contents of the Prefect table artifacts (see `flows.report.artifacts`).
"""

from __future__ import annotations

import json
import os
import platform
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from flows.report import figures as fig
from flows.report.markup import Block, Heading, Image, Table, Text, data_uri, to_html, to_markdown
from flows.report.quality_view import quality_blocks
from mlp.metrics import per_class_accuracy

HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
LONE_MEMBER = "1"  # the member name of history rows that do not say (one network)


def member_of(row: Mapping[str, Any]) -> str:
    """The network a history row belongs to."""
    return str(row.get("member", LONE_MEMBER))
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
PACKAGES = ("numpy", "prefect", "pyarrow", "pillow", "matplotlib", "scikit-learn", "mlpflow")


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

    history: rows with at least HISTORY_KEYS (and usually lr, seconds), one per epoch and network; a row's
    "member" names its network of the ensemble ("1-raw"), LONE_MEMBER when absent.
    best_epochs: each network's best epoch, by member name (the weights the classifier uses).
    confusion: (n_classes, n_classes) int counts on the validation set, rows true, at the best epoch.
    misclassified: (m, h*w) uint8 raw pixels of misclassified validation images, with their true and predicted
    class indices (m,). class_names are the folder names, display_names what people read (博, 学, ...).
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
    quality: Mapping[str, Any] = field(default_factory=dict)
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


@dataclass(frozen=True)
class ReportFiles:
    """Where `write_report` put the report: report.md, report.html and figures/<name>.png."""

    markdown: Path
    html: Path
    figures: dict[str, Path]


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


def render_figures(data: ReportData) -> dict[str, bytes]:
    """The report's figures as PNG bytes by name: curves, confusion, per_class and (if any) misclassified."""
    labels = fig.class_labels(data.class_names, data.display_names)
    pngs = {
        "curves": fig.curves_png({m: data.rows_of(m) for m in data.members}, data.best_epochs),
        "confusion": fig.confusion_png(data.confusion, labels),
        "per_class": fig.per_class_png(per_class_accuracy(data.confusion), labels),
    }
    if data.examples is not None:
        pngs["augmentation"] = fig.augmentation_png(
            data.examples.originals, data.examples.variants, data.image_shape,
            [labels.texts[c] for c in data.examples.labels], labels.font)
    if len(data.misclassified):
        pngs["misclassified"] = fig.misclassified_png(
            data.misclassified, data.image_shape, data.misclassified_true, data.misclassified_pred, labels
        )
    return pngs


def report_blocks(data: ReportData, figure_names: Sequence[str]) -> list[Block]:
    """The report's content, section by section (SECTIONS), as markup blocks."""
    n_val = int(data.confusion.sum())
    blocks: list[Block] = [Heading(1, f"Training report: {data.run_name}"), Heading(2, "Best epoch")]
    losses = f" Losses are {data.loss_name}." if data.loss_name else ""
    accuracy = np.trace(data.confusion) / n_val if n_val else None
    shifts = data.test_time == "shifts"
    if len(data.best) == 1:
        (member, best), = data.best.items()
        n_epochs = sum(member_of(row) == member for row in data.history)
        blocks.append(Text(
            f"Best epoch {best['epoch']} of {n_epochs}: validation accuracy "
            f"{_percent(best['val_accuracy'])} on {n_val} images (loss {best['val_loss']:.4f}); "
            f"training accuracy {_percent(best['train_accuracy'])} (loss {best['train_loss']:.4f})."
            + (f" Predicting each image as drawn and shifted by one pixel up, down, left and right, and "
               f"averaging, the model classifies {_percent(accuracy)} correctly." if shifts else "")
            + losses))
        blocks.append(Table(["metric", "value"], [[k, _plain(v)] for k, v in best.items()]))
    else:
        over = " over each image and its four one-pixel shifts" if shifts else ""
        blocks.append(Text(
            f"An ensemble of {len(data.best)} networks, each trained on its own view of the images and kept "
            f"at its best epoch; their mean probabilities{over} classify {_percent(accuracy)} of the {n_val} "
            "validation images correctly. Each network alone, at its best epoch, each image as drawn:"
            + losses))
        keys = [k for k in next(iter(data.best.values())) if k != "member"]
        blocks.append(Table(["network", *keys], [[m, *(_plain(row[k]) for k in keys)]
                                                 for m, row in data.best.items()]))
    blocks += [
        Heading(2, "Learning curves"),
        Image("curves", "Loss and accuracy per epoch, training and validation"),
        Heading(2, "Training images"),
    ]
    if data.examples is None:
        blocks.append(Text("No augmentation: the model trained on the training images as they are."))
    else:
        blocks += [Text(data.examples.description),
                   Image("augmentation", "Training images, each followed by augmented versions of it")]
    blocks += [
        Heading(2, "Confusion matrix"),
        Text("Validation set at the best epoch; rows are the true classes, columns the predicted ones."),
        Image("confusion", "Confusion matrix"),
    ]
    if len(data.class_names) <= 30:
        headers = ["true \\ predicted", *data.display_names]
        pairs = zip(data.display_names, data.confusion, strict=True)
        rows = [[name, *map(int, counts)] for name, counts in pairs]
        blocks.append(Table(headers, rows))
    rows = [[r["label"], r["folder"], r["name"], r["samples"], r["correct"], _percent(r["accuracy"])]
            for r in per_class_rows(data)]
    blocks += [
        Heading(2, "Per-class accuracy"),
        Image("per_class", "Per-class accuracy"),
        Table(["label", "folder", "name", "samples", "correct", "accuracy"], rows),
        Heading(2, "Misclassified validation images"),
    ]
    if "misclassified" in figure_names:
        shown = min(len(data.misclassified), fig.MAX_MISCLASSIFIED)
        blocks.append(Text(f"{len(data.misclassified)} misclassified; the first {shown} are shown."))
        blocks.append(Image("misclassified", "Misclassified validation images, true → predicted"))
    else:
        blocks.append(Text("None: every validation image was classified correctly."))
    quality = quality_blocks(data.quality, data.class_names, data.display_names)
    blocks += [Heading(2, "Data quality"), *quality]
    blocks += [Heading(2, "Configuration"), Table(["setting", "value"], _flatten(data.config))]
    total = float(sum(data.stage_seconds.values()))
    times = data.stage_seconds.items()
    rows = [[stage, float(s), _percent(s / total if total else None)] for stage, s in times]
    rows.append(["total", total, "100%" if total else "n/a"])
    blocks += [Heading(2, "Stage times"), Table(["stage", "seconds", "share"], rows)]
    versions = [[package, version] for package, version in data.versions.items()]
    blocks += [Heading(2, "Versions"), Table(["package", "version"], versions)]
    return blocks


def render_markdown(data: ReportData, images: Mapping[str, str]) -> str:
    """report.md's text; `images` maps figure names to their src (relative paths, or data URIs)."""
    return to_markdown(report_blocks(data, list(images)), images)


def render_html(data: ReportData, pngs: Mapping[str, bytes]) -> str:
    """report.html's text: one self-contained page, every figure embedded as a PNG data URI."""
    images = {name: data_uri(png) for name, png in pngs.items()}
    return to_html(report_blocks(data, list(images)), images, title=f"Training report: {data.run_name}")


def write_report(data: ReportData, run_dir: Path) -> ReportFiles:
    """Write run_dir/figures/<name>.png, run_dir/report.md and run_dir/report.html, each file atomically."""
    run_dir = Path(run_dir)
    pngs = render_figures(data)
    (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    paths = {name: run_dir / "figures" / f"{name}.png" for name in pngs}
    for name, png in pngs.items():
        _write_atomic(paths[name], png)
    markdown = render_markdown(data, {name: f"figures/{name}.png" for name in pngs})
    _write_atomic(run_dir / "report.md", markdown.encode("utf-8"))
    _write_atomic(run_dir / "report.html", render_html(data, pngs).encode("utf-8"))
    return ReportFiles(run_dir / "report.md", run_dir / "report.html", paths)


def _write_atomic(path: Path, content: bytes) -> None:
    """Write `content` to a temporary sibling, then rename it over `path`: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _plain(value: Any) -> Any:
    """NumPy scalars to Python numbers (JSON-ready); other values unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _percent(value: float | None) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{100 * value:.2f}%"


def _flatten(config: Mapping[str, Any], prefix: str = "") -> list[list[str]]:
    """Nested settings as [dotted.key, value] rows; lists and other values as JSON."""
    rows = []
    for key, value in config.items():
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            plain = isinstance(value, (str, Path))
            text = str(value) if plain else json.dumps(_plain(value), default=str, ensure_ascii=False)
            rows.append([f"{prefix}{key}", text])
    return rows
