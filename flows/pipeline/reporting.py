"""The report stage: every number of the report read from the run's files into `ReportData` (this is where
the report gets each of them), then report.md, report.html, figures and the report's Prefect artifacts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.pipeline.evaluation import Evaluation
from flows.pipeline.params import PipelineParams
from flows.pipeline.preparation import IngestSummary, stage_rng
from flows.pipeline.sources import DataSource
from flows.pipeline.training import best_epochs, describe_epochs, distortion
from flows.report import artifacts
from flows.report.content import ReportData, TrainingExamples
from flows.report.quality import DataQuality
from flows.report.render import write_report
from flows.store.champion import Promotion
from flows.store.history import read_history_csv
from flows.store.layout import RunLayout
from flows.store.runs import read_record
from mlp import load_checkpoint
from mlp.data import files
from mlp.data import transforms as T
from mlp.data.distort import distort
from mlp.data.quality import QualityReport


def loss_name(train_config: dict) -> str:
    """What the history's losses are, in words, for the report."""
    smoothing = train_config.get("label_smoothing", 0.0)
    return f"cross-entropy with label smoothing {smoothing:g}" if smoothing else "cross-entropy"


def training_examples(X: np.ndarray, y: np.ndarray, image_shape: tuple[int, int], params: PipelineParams,
                      n_variants: int = 7) -> TrainingExamples | None:
    """The first training image of each class (up to 12) and what `params.augment` makes of it: seven
    random distortions, or the four one-pixel shifts; None without augmentation."""
    if params.augment == "none":
        return None
    first = np.unique(y, return_index=True)[1][:12]
    originals, labels = X[first], y[first]
    if params.augment == "shift":
        variants = T.shifted(originals, image_shape).swapaxes(0, 1)[:, 1:]
        framed = (" The framed network frames each copy again, so its copies differ little."
                  if "framed" in params.members else "")
        text = ("Each training image was also used shifted by one pixel up, down, left and right (the seed "
                "design's augmentation)." + framed)
        return TrainingExamples(originals, labels, variants, text)
    d, rng = distortion(params), stage_rng(params.seed, "examples")
    variants = np.stack([distort(originals, image_shape, rng, d) for _ in range(n_variants)], axis=1)
    elastic = (f", elastic displacements (alpha {d.elastic_alpha:g}, sigma {d.elastic_sigma:g} pixels)"
               if d.elastic_alpha else "")
    text = (f"Every epoch trained on fresh random distortions of the {len(X)} training images: rotation up "
            f"to ±{d.rotate:g}°, each axis scaled by {1 - d.scale:g}–{1 + d.scale:g}, shear up to "
            f"±{d.shear:g} and a shift of up to {d.translate:.0%} of the size{elastic}. Below, "
            f"{n_variants} such draws of one image of each class"
            + (", as the raw network saw them (the framed network saw each framed: centred and scaled into "
               "its box, without the shift and the overall change of size)." if "framed" in params.members
               else "."))
    return TrainingExamples(originals, labels, variants, text)


@task(cache_policy=NO_CACHE)
def write_run_report(layout: RunLayout, source: DataSource, ingest: IngestSummary,
                     stage_seconds: dict[str, float], promotion: Promotion | None = None) -> Path:
    """Write figures, report.md and report.html, and publish the report and checkpoint artifacts."""
    evaluation = Evaluation.load(layout.metrics)
    checkpoint = load_checkpoint(layout.best)
    meta = checkpoint.metadata
    val = files.load_arrays(layout.val_data)
    wrong = evaluation.misclassified(val["y"])
    params = read_record(layout)["parameters"]
    config = {"parameters": params, "data": {"root": str(source.root), "kind": source.kind},
              "model": checkpoint.model.config | {"n_params": checkpoint.model.n_params},
              "training": checkpoint.train_config}
    quality = QualityReport.load_json(layout.quality)
    ds = files.read_dataset(layout.dataset)
    train = files.load_arrays(layout.split)["train"]
    examples = training_examples(ds.X[train], ds.y[train], ds.image_shape, PipelineParams(**params))
    history = read_history_csv(layout.history)
    data = ReportData(
        run_name=layout.name, config=config, history=history,
        best_epochs=best_epochs(history, evaluation.best_epochs),
        class_names=meta["class_names"],
        display_names=meta["display_names"], confusion=evaluation.confusion,
        misclassified=val["X"][wrong], image_shape=tuple(meta["image_shape"]),
        misclassified_true=val["y"][wrong], misclassified_pred=evaluation.predicted[wrong],
        quality=DataQuality(quality, ingest.n_decoded, ingest.n_reused), stage_seconds=stage_seconds,
        loss_name=loss_name(checkpoint.train_config), examples=examples,
        test_time=meta.get("test_time", "none"),
    )
    report = write_report(data, layout.root)
    artifacts.publish_report_artifacts(data, report)
    note = (f"Run {layout.name}, {describe_epochs(evaluation.best_epochs)}: validation accuracy "
            f"{evaluation.accuracy:.2%}, cross-entropy {evaluation.loss:.4f}.")
    artifacts.publish_checkpoint(layout.best, note=note)
    get_run_logger().info(f"Report: {report.html}")
    return report.html
