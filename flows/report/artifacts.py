"""A run's Prefect artifacts, one thin function each; call them inside a flow or task run.

The contents come from the tested builders in `flows.report.content` and `flows.report.quality_view`. Keys are lowercase with
dashes (Prefect requires ``^[a-z0-9-]*$``), so each one is listed on the UI's Artifacts page across runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from flows.report.content import ReportData, ReportFiles, history_rows, per_class_rows, render_markdown
from flows.report.markup import Heading, Table, Text, data_uri, to_markdown
from flows.report.quality_view import quality_rows
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
        render_markdown(data, images), key=TRAINING_REPORT, description=f"Training report of {data.run_name}"
    )


def publish_data_quality(
    quality: Mapping[str, Any], class_names: Sequence[str], display_names: Sequence[str], run_name: str
) -> UUID:
    """Table artifact `data-quality`: the quality dict as rows {section, item, value}, with display names.

    Published as soon as the data is checked, before training, so it is there even when training fails.
    """
    rows = quality_rows(quality, class_names, display_names)
    return create_table_artifact(rows, key=DATA_QUALITY, description=f"Data quality of {run_name}")


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


def publish_checkpoint(path: Path, note: str = "") -> UUID:
    """Markdown artifact `model-checkpoint`: the checkpoint's absolute path, size, and how to use it."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    lines = [
        "# Model checkpoint",
        f"`{path}` ({path.stat().st_size / 1e6:.2f} MB)",
        *([note] if note else []),
        f"Predict with it: `python flows/predict.py --model {path} --images DIR`",
    ]
    description = f"Checkpoint {path.name}"
    return create_markdown_artifact("\n\n".join(lines), key=MODEL_CHECKPOINT, description=description)


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


def publish_promotion(promotion: Promotion) -> UUID:
    """Markdown artifact `model-promotion`: the decision, both scores, the reason and the rule."""
    p = promotion
    verdict = (f"challenger {p.challenger_run} promoted" if p.promoted
               else f"champion {p.champion_run} kept")
    rows = [["challenger", p.challenger_run, *_scores(p.challenger_accuracy, p.challenger_loss)],
            ["champion", p.champion_run or "none", *_scores(p.champion_accuracy, p.champion_loss)]]
    blocks = [Heading(1, f"Model promotion: {verdict}"),
              Text(f"Reason: {p.reason}."),
              Table(["model", "run", "validation accuracy", "validation loss"], rows),
              Text(f"Compared on {p.n_samples} of the challenger's validation images, each model through its "
                   f"own saved normaliser; {p.n_excluded} left out because the champion was trained on "
                   f"them. Rule: {RULE}."),
              Text(f"Champion model now: {p.champion_path}")]
    return create_markdown_artifact(to_markdown(blocks, {}), key=MODEL_PROMOTION,
                                    description=f"Promotion decision for run {p.challenger_run}")

def _scores(accuracy: float | None, loss: float | None) -> list[str | None]:
    return [None, None] if accuracy is None else [f"{accuracy:.2%}", f"{loss:.4f}"]
