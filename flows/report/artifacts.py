"""A run's Prefect artifacts, one thin function each; call them inside a flow or task run.

Tables come from the row builders of `flows.report.content`, Markdown from the templates through
`flows.report.render`. Keys are lowercase with dashes (Prefect requires ``^[a-z0-9-]*$``), so each one is
listed on the UI's Artifacts page across runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from flows.report.content import ReportData, history_rows, per_class_rows, percent
from flows.report.quality import DataQuality, quality_rows
from flows.report.render import ReportFiles, data_uri, render_template, report_markdown
from flows.report.runs import RECENT, artifact_rows
from flows.report.table import Table
from flows.store.champion import RULE, Promotion
from flows.store.promotion_rule import p_text
from flows.store.run_history import RunRow

if TYPE_CHECKING:
    from mlp.history import EpochRecord

TRAINING_REPORT = "training-report"
DATA_QUALITY = "data-quality"
EPOCH_HISTORY = "epoch-history"
PER_CLASS_ACCURACY = "per-class-accuracy"
MODEL_CHECKPOINT = "model-checkpoint"
TRAINING_PROGRESS = "training-progress"
MODEL_PROMOTION = "model-promotion"


def publish_training_report(data: ReportData, files: ReportFiles) -> UUID:
    """Markdown artifact `training-report`: the whole report, figures (read from `files`) as data URIs."""
    images = {name: data_uri(path.read_bytes()) for name, path in files.figures.items()}
    return create_markdown_artifact(
        report_markdown(data, images), key=TRAINING_REPORT, description=f"Training report of {data.run_name}"
    )


def publish_data_quality(quality: DataQuality, run_name: str) -> UUID:
    """Table artifact `data-quality`: every row of `content.quality_rows` {section, item, value}: totals,
    images per class and split with display names, and every issue found, none left out.

    Published as soon as the data is checked, before training, so it is there even when training fails.
    """
    return create_table_artifact(quality_rows(quality), key=DATA_QUALITY,
                                 description=f"Data quality of {run_name}")


def publish_epoch_history(data: ReportData) -> UUID:
    """Table artifact `epoch-history`: one row per epoch (losses, accuracies, learning rate, seconds)."""
    return create_table_artifact(
        history_rows(data), key=EPOCH_HISTORY, description=f"Epoch history of {data.run_name}"
    )


def publish_per_class_accuracy(data: ReportData) -> UUID:
    """Table artifact `per-class-accuracy`: label, folder, name, samples, correct, accuracy per class."""
    return create_table_artifact(
        per_class_rows(data),
        key=PER_CLASS_ACCURACY,
        description=f"Validation accuracy per class of {data.run_name}",
    )


def checkpoint_markdown(path: Path, run_name: str, accuracy: float, loss: float,
                        best_epochs: Sequence[int]) -> str:
    """The `model-checkpoint` artifact's text: the run, the model's validation accuracy and cross-entropy
    at each network's best epoch, the checkpoint's absolute path and size, and how to use it."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return render_template("checkpoint.md.j2", path=path, megabytes=path.stat().st_size / 1e6,
                           run_name=run_name, accuracy=accuracy, loss=loss, best_epochs=list(best_epochs))


def publish_checkpoint(path: Path, run_name: str, accuracy: float, loss: float,
                       best_epochs: Sequence[int]) -> UUID:
    """Markdown artifact `model-checkpoint`: which run, its validation accuracy, where the checkpoint is."""
    return create_markdown_artifact(checkpoint_markdown(path, run_name, accuracy, loss, best_epochs),
                                    key=MODEL_CHECKPOINT,
                                    description=f"Checkpoint of run {run_name}: validation accuracy "
                                                f"{percent(accuracy)}")


def publish_report_artifacts(data: ReportData, files: ReportFiles) -> dict[str, UUID]:
    """The report's artifacts at once: training-report, epoch-history, per-class-accuracy (data-quality is
    published earlier, by `publish_data_quality`)."""
    return {
        TRAINING_REPORT: publish_training_report(data, files),
        EPOCH_HISTORY: publish_epoch_history(data),
        PER_CLASS_ACCURACY: publish_per_class_accuracy(data),
    }


def start_training_progress(run_name: str, networks: int, epochs: int) -> UUID:
    """Progress artifact `training-progress` at 0%; move it on with `update_training_progress` and end it
    with `finish_training_progress`."""
    description = f"Training {run_name}: {networks} network(s) x {epochs} epochs"
    return create_progress_artifact(0.0, key=TRAINING_PROGRESS, description=description)


def update_training_progress(artifact_id: UUID, done: int, total: int, network: str, epoch: int,
                             val_accuracy: float) -> None:
    """Set the `training-progress` artifact to done/total epochs (all networks), in percent, saying which
    network finished which epoch and its validation accuracy."""
    description = (f"{done} of {total} epochs done; {network} finished epoch {epoch}, validation accuracy "
                   f"{percent(val_accuracy)}")
    update_progress_artifact(artifact_id, 100.0 * done / total, description=description)


def finish_training_progress(artifact_id: UUID, run_name: str, bests: Mapping[str, EpochRecord],
                             best_by: str) -> None:
    """Set the `training-progress` artifact to 100%, saying what training came to: each network's best
    epoch (by `best_by`, e.g. "lowest validation loss") and its validation accuracy there."""
    shown = "; ".join(f"{network} epoch {r.epoch}, validation accuracy {percent(r.val_accuracy)}"
                      for network, r in bests.items())
    description = f"Training of {run_name} finished. Best epochs ({best_by}): {shown}"
    update_progress_artifact(artifact_id, 100.0, description=description)


def promotion_markdown(promotion: Promotion) -> str:
    """The `model-promotion` artifact's text: the decision in one sentence, the 2x2 counts of right and wrong
    answers, the test and its p-value, both models' scores, and the rule."""
    p = promotion
    scores = Table(("model", "run", "validation accuracy", "validation loss"), [
        ("challenger", p.challenger_run, *_scores(p.challenger_accuracy, p.challenger_loss)),
        ("champion", p.previous_champion_run or "none", *_scores(p.champion_accuracy, p.champion_loss)),
    ])
    c = p.counts
    counts = None if c is None else Table((f"{c.n} images", "champion right", "champion wrong"), [
        ("challenger right", c.both_right, c.challenger_only),
        ("challenger wrong", c.champion_only, c.both_wrong),
    ])
    p_value = None if p.p_value is None else p_text(p.p_value, p.alpha)
    return render_template("promotion.md.j2", p=p, sentence=p.sentence(), counts=counts, p_value=p_value,
                           scores=scores, rule=RULE)


def publish_promotion(promotion: Promotion) -> UUID:
    """Markdown artifact `model-promotion`: the decision, the counts, the test, both scores and the rule."""
    return create_markdown_artifact(promotion_markdown(promotion), key=MODEL_PROMOTION,
                                    description=f"Promotion decision for run {promotion.challenger_run}")


def _scores(accuracy: float | None, loss: float | None) -> list[str | None]:
    """A model's accuracy in percent and loss to 4 decimals; None (n/a) when it was not scored."""
    return [None, None] if accuracy is None else [percent(accuracy), f"{loss:.4f}"]


RUN_HISTORY = "run-history"


def publish_run_history(rows: Sequence[RunRow], total: int) -> UUID:
    """Table artifact `run-history`: the newest `runs.RECENT` of `rows` (the newest runs of the output
    folder, newest first; `total` recorded), as `mlpflow runs` prints them: accuracy in percent, losses to 4
    significant digits."""
    shown = rows[:RECENT]
    return create_table_artifact(artifact_rows(shown), key=RUN_HISTORY,
                                 description=f"The newest {len(shown)} of {total} runs, newest first")
