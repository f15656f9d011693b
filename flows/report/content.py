"""What the report says, as typed data: every value the report shows, computed here once from a finished
run's results (`flows.report.data.ReportData`) by `report_content`, so "where does the report get this
number" has one answer.

The templates (`flows.report.render`, `flows/report/templates/`) only lay these values out. One number format
throughout: accuracies in percent with two decimals (`percent`), losses to four significant digits
(`significant`). The row builders here are also the contents of the Prefect table artifacts (see
`flows.report.artifacts`); the configuration table is `flows.report.settings`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from flows.report.data import DATA_KINDS, HISTORY_KEYS, REPORT_STAGE, ReportData, member_of
from flows.report.data import TrainingExamples as TrainingExamples  # re-exported: the report's input
from flows.report.data import library_versions as library_versions
from flows.report.figures import MAX_MISCLASSIFIED
from flows.report.quality import QualitySection, quality_section
from flows.report.settings import configuration_table
from flows.report.table import Table
from flows.store.champion import Promotion
from mlp.metrics import per_class_accuracy

# The report's sections, in order: the headings of templates/report_sections.j2 (the tests hold it to this).
SECTIONS = (
    "Best epoch",
    "Promotion",
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
MAX_CONFUSION_CLASSES = 30  # beyond this the confusion matrix is a figure only: a table that wide is unread
# What picks a network's best epoch (TrainConfig.monitor), in words; the pipeline's is val_loss.
SELECTED_BY = {"val_loss": "lowest validation loss", "val_accuracy": "highest validation accuracy"}


# ----------------------------------------------------------------------------------------- number formats
def percent(value: float | None) -> str:
    """A fraction in percent with two decimals, 'n/a' for None or NaN (the templates' `percent` filter)."""
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.2f}%"


def significant(value: float | None, digits: int = 4) -> str:
    """A number to `digits` significant digits, trailing zeros kept (0.6 -> '0.6000', 0.031234 ->
    '0.03123'), 'n/a' for None or NaN: how losses are shown (the templates' `significant` filter)."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:#.{digits}g}".rstrip(".")


def duration(seconds: float) -> str:
    """A wall time in words: '8.3 s', '2 min 11 s', '1 h 4 min'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


# ----------------------------------------------------------------------------------- rows of the artifacts
def history_rows(data: ReportData) -> list[dict[str, Any]]:
    """The `epoch-history` table: a row per network and epoch, HISTORY_KEYS first, then the other columns,
    as the report shows numbers (accuracies in percent, losses to four significant digits, the learning
    rate to three, seconds to a tenth); JSON-ready."""
    keys = ["member", *HISTORY_KEYS] + [k for row in data.history for k in row if k not in HISTORY_KEYS]
    keys = list(dict.fromkeys(keys))
    return [{k: member_of(row) if k == "member" else _shown(k, row.get(k)) for k in keys}
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


def _shown(key: str, value: Any) -> Any:
    """A history value as the epoch-history table shows it (see `history_rows`)."""
    value = value.item() if isinstance(value, np.generic) else value
    if not isinstance(value, float):
        return value
    if key.endswith("accuracy"):
        return percent(value)
    if key.endswith("loss"):
        return float(significant(value))
    if key == "lr":
        return f"{value:.3g}"
    return round(value, 1) if key == "seconds" else value


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
class PromotionSection:
    """The report's promotion section: the decision in one sentence, both models' runs and scores, and the
    images they were compared on."""

    sentence: str
    scores: Table
    compared: str


@dataclass(frozen=True)
class ReportContent:
    """Every value report.md and report.html show, section by section (SECTIONS); the templates lay them out.

    summary: (what, value) lines at the top: data, divergence and resumption if any, date, duration,
    accuracy, promotion.
    selected_by: what picked each network's best epoch, in words (SELECTED_BY). accuracy is the
    classifier's on the validation set: the ensemble's mean probabilities, each image also shifted when
    test_time_shifts. lone is the one network's best epoch, None for an ensemble; best has a row per network.
    promotion is None when no decision was made; confusion is None beyond MAX_CONFUSION_CLASSES classes;
    augmentation says how the training images were augmented (None: they were not); quality is None when not
    given. stage_note says what the stage times leave out. divergence: where training diverged, if it did.
    """

    run_name: str
    summary: tuple[tuple[str, str], ...]
    sections: tuple[str, ...]
    selected_by: str
    n_validation: int
    accuracy: float | None
    test_time_shifts: bool
    loss_name: str
    n_networks: int
    lone: BestEpoch | None
    best: Table
    promotion: PromotionSection | None
    augmentation: str | None
    confusion: Table | None
    per_class: Table
    n_misclassified: int
    n_misclassified_shown: int
    quality: QualitySection | None
    configuration: Table
    stage_times: Table
    stage_note: str
    versions: Table
    divergence: str = ""


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
    promotion = None if data.promotion is None else promotion_section(data.promotion)
    return ReportContent(
        run_name=data.run_name,
        summary=_summary(data, promotion),
        sections=SECTIONS,
        selected_by=SELECTED_BY[_monitor(data.config)],
        n_validation=n_val,
        accuracy=_accuracy(data),
        test_time_shifts=data.test_time == "shifts",
        loss_name=data.loss_name,
        n_networks=len(best),
        lone=lone,
        best=_best_table(data),
        promotion=promotion,
        augmentation=None if data.examples is None else data.examples.description,
        confusion=_confusion_table(data) if show_confusion else None,
        per_class=Table(("label", "folder", "name", "samples", "correct", "accuracy"),
                        [(r["label"], r["folder"], r["name"], r["samples"], r["correct"],
                          percent(r["accuracy"])) for r in per_class_rows(data)]),
        n_misclassified=len(data.misclassified),
        n_misclassified_shown=min(len(data.misclassified), MAX_MISCLASSIFIED),
        quality=None if data.quality is None else quality_section(data.quality, data.split_counts),
        configuration=configuration_table(data.config),
        stage_times=_stage_times(data.stage_seconds),
        stage_note=_stage_note(data.stage_seconds),
        versions=Table(("package", "version"), data.versions.items()),
        divergence=data.divergence,
    )


def promotion_section(p: Promotion) -> PromotionSection:
    """The promotion section of the report, from the decision: all of it is written here."""
    scores = Table(("model", "run", "validation accuracy", "validation loss"), [
        ("challenger (this run)", p.challenger_run, percent(p.challenger_accuracy),
         significant(p.challenger_loss)),
        ("champion before", p.previous_champion_run or "none", percent(p.champion_accuracy),
         significant(p.champion_loss)),
    ])
    if p.n_samples == 0:
        compared = (f"No validation image was left to compare the two on: the champion was trained on all "
                    f"{p.n_excluded} of them.")
    else:
        compared = (f"Scored on {p.n_samples} of this run's validation images, each model through its own "
                    f"saved normaliser; {p.n_excluded} left out because the champion was trained on them.")
    return PromotionSection(p.sentence(), scores, compared)


def _monitor(config: Mapping[str, Any]) -> str:
    """The metric that picked the best epochs: the configuration's `monitor`, else val_loss."""
    groups = [config, *(v for v in config.values() if isinstance(v, Mapping))]
    return next((g["monitor"] for g in groups if g.get("monitor") in SELECTED_BY), "val_loss")


def _accuracy(data: ReportData) -> float | None:
    n_val = int(data.confusion.sum())
    return float(np.trace(data.confusion) / n_val) if n_val else None


def _summary(data: ReportData, promotion: PromotionSection | None) -> tuple[tuple[str, str], ...]:
    """The lines at the top of the report: data, date, duration, validation accuracy, promotion."""
    n_val, n_wrong = int(data.confusion.sum()), int(data.confusion.sum() - np.trace(data.confusion))
    networks = f", an ensemble of {len(data.best)} networks" if len(data.best) > 1 else ""
    shifts = ", each image also shifted by one pixel" if data.test_time == "shifts" else ""
    lines = [("Data", _data_line(data))]
    if data.divergence:
        lines.append(("Divergence", data.divergence))
    if data.resumed:
        lines.append(("Resumed", data.resumed))
    if data.written is not None:
        lines.append(("Date", f"{data.written:%Y-%m-%d %H:%M %Z}".strip() + " (report written)"))
    if data.stage_seconds:
        lines.append(("Duration", f"{duration(sum(data.stage_seconds.values()))} (the stages up to this "
                                  "report, see Stage times)"))
    lines.append(("Validation accuracy", f"{percent(_accuracy(data))} ({n_wrong} of {n_val} images wrong"
                                         f"{networks}{shifts})"))
    undecided = "never promoted: its training diverged" if data.divergence else "no decision was made"
    lines.append(("Promotion", undecided if promotion is None else promotion.sentence))
    return tuple(lines)


def _data_line(data: ReportData) -> str:
    """The data in one line: folder, how it was chosen, images, size, classes and this run's split."""
    where = data.data_root + (f" ({DATA_KINDS[data.data_kind]})" if data.data_kind else "")
    h, w = data.image_shape
    parts = [f"{len(data.class_names)} classes of {h}x{w} images"]
    if data.quality is not None:
        parts[0] = f"{data.quality.report.n_images:,} images of {h}x{w} in {len(data.class_names)} classes"
    if data.split_counts:
        parts.append(", ".join(f"{sum(counts):,} in the {part}"
                               for part, counts in data.split_counts.items()))
    return (f"{where}: " if where else "") + "; ".join(parts)


def _best_table(data: ReportData) -> Table:
    """A row per network: its best epoch of how many, and that epoch's validation and training scores."""
    headers = ("network", "best epoch", "validation accuracy", "validation loss", "training accuracy",
               "training loss")
    rows = [(member, f"{row['epoch']} of {len(data.rows_of(member))}", percent(row["val_accuracy"]),
             significant(row["val_loss"]), percent(row["train_accuracy"]), significant(row["train_loss"]))
            for member, row in data.best.items()]
    return Table(headers, rows)


def _confusion_table(data: ReportData) -> Table:
    """The confusion counts, a row per true class and a column per predicted one, by display name."""
    pairs = zip(data.display_names, data.confusion, strict=True)
    rows = [(name, *map(int, counts)) for name, counts in pairs]
    return Table(("true \\ predicted", *data.display_names), rows)


def _stage_times(stage_seconds: Mapping[str, float]) -> Table:
    """Seconds and share of the total per stage, then the total."""
    total = float(sum(stage_seconds.values()))
    rows = [(stage, round(float(s), 2), percent(s / total if total else None))
            for stage, s in stage_seconds.items()]
    total_row = ("total", round(total, 2), "100%" if total else "n/a")
    return Table(("stage", "seconds", "share"), [*rows, total_row])


def _stage_note(stage_seconds: Mapping[str, float]) -> str:
    """What the stage times count: the report's own time up to its writing."""
    if REPORT_STAGE not in stage_seconds:
        return "The report's own time is not included."
    return ("The report's time is counted up to the writing of these files (reading the run's files and "
            "drawing the figures); writing them, publishing the artifacts and any stage after the report are "
            "not in it: the run's last printed line, and its task runs in Prefect, give them.")
