"""A run's Prefect artifacts, one thin function each; call them inside a flow or task run.

Tables come from the row builders of `flows.report.content`, Markdown from the templates through
`flows.report.render`. Keys are lowercase with dashes (Prefect requires ``^[a-z0-9-]*$``), so each one is
listed on the UI's Artifacts page across runs.
"""

from __future__ import annotations

from pathlib import Path
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
from flows.report.table import Table
from flows.store.champion import RULE, Promotion

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


def checkpoint_markdown(path: Path, note: str = "") -> str:
    """The `model-checkpoint` artifact's text: the checkpoint's absolute path, size, `note`, how to use it."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return render_template("checkpoint.md.j2", path=path, megabytes=path.stat().st_size / 1e6, note=note)


def publish_checkpoint(path: Path, note: str = "") -> UUID:
    """Markdown artifact `model-checkpoint`: the checkpoint's absolute path, size, and how to use it."""
    return create_markdown_artifact(checkpoint_markdown(path, note), key=MODEL_CHECKPOINT,
                                    description=f"Checkpoint {Path(path).name}")


def publish_report_artifacts(data: ReportData, files: ReportFiles) -> dict[str, UUID]:
    """The report's artifacts at once: training-report, epoch-history, per-class-accuracy (data-quality is
    published earlier, by `publish_data_quality`)."""
    return {
        TRAINING_REPORT: publish_training_report(data, files),
        EPOCH_HISTORY: publish_epoch_history(data),
        PER_CLASS_ACCURACY: publish_per_class_accuracy(data),
    }


def start_training_progress(run_name: str, epochs: int) -> UUID:
    """Progress artifact `training-progress` at 0%; move it on with `update_training_progress`."""
    description = f"Training {run_name}: {epochs} epochs"
    return create_progress_artifact(0.0, key=TRAINING_PROGRESS, description=description)


def update_training_progress(artifact_id: UUID, epoch: int, epochs: int) -> None:
    """Set the `training-progress` artifact to epoch/epochs, in percent."""
    update_progress_artifact(artifact_id, 100.0 * epoch / epochs)


def promotion_markdown(promotion: Promotion) -> str:
    """The `model-promotion` artifact's text: the decision, both models' scores, the reason and the rule."""
    p = promotion
    scores = Table(("model", "run", "validation accuracy", "validation loss"), [
        ("challenger", p.challenger_run, *_scores(p.challenger_accuracy, p.challenger_loss)),
        ("champion", p.champion_run or "none", *_scores(p.champion_accuracy, p.champion_loss)),
    ])
    return render_template("promotion.md.j2", p=p, scores=scores, rule=RULE)


def publish_promotion(promotion: Promotion) -> UUID:
    """Markdown artifact `model-promotion`: the decision, both scores, the reason and the rule."""
    return create_markdown_artifact(promotion_markdown(promotion), key=MODEL_PROMOTION,
                                    description=f"Promotion decision for run {promotion.challenger_run}")


def _scores(accuracy: float | None, loss: float | None) -> list[str | None]:
    """A model's accuracy in percent and loss to 4 decimals; None (n/a) when it was not scored."""
    return [None, None] if accuracy is None else [percent(accuracy), f"{loss:.4f}"]
