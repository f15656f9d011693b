"""The report stage: every number of the report read from the run's files into `ReportData` (this is where
the report gets each of them), then report.md, report.html, figures and the report's Prefect artifacts.

The report's own time is measured up to the writing of its files (reading the run's files and drawing the
figures are in it; writing the files and publishing the artifacts are not), so the stage-time table can hold
it; the run's last printed line has the whole stage.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.pipeline.evaluation import Evaluation
from flows.pipeline.params import PipelineParams
from flows.pipeline.preparation import IngestSummary, stage_rng
from flows.pipeline.sources import DataSource
from flows.pipeline.streaming import n_training_rows
from flows.pipeline.training import batch_size_text, best_epochs, distortion
from flows.report import artifacts
from flows.report.data import REPORT_STAGE, ReportData, TrainingExamples
from flows.report.quality import DataQuality
from flows.report.render import render_figures, write_report
from flows.store.champion import Promotion
from flows.store.history import read_history_csv
from flows.store.layout import RunLayout
from flows.store.run_state import RunState, read_state
from flows.store.runs import read_record
from mlp import load_checkpoint
from mlp.data import files
from mlp.data import transforms as T
from mlp.data.distort import distort
from mlp.data.quality import QualityReport
from mlp.data.stream import read_rows
from mlp.hyper import TRAINING

# TrainConfig fields the configuration leaves out: where files went, the progress bar, and the seed (the
# run's own, shown with the data: the ensemble's other networks get seeds derived from it).
NOT_SETTINGS = ("checkpoint_dir", "progress", "seed")


def loss_name(train_config: dict) -> str:
    """What the history's losses are, in words, for the report."""
    smoothing = train_config.get("label_smoothing", 0.0)
    return f"cross-entropy with label smoothing {smoothing:g}" if smoothing else "cross-entropy"


def first_of_each_class(y: np.ndarray) -> np.ndarray:
    """The index in `y` of the first image of each class, up to 12 classes: the report's examples."""
    return np.unique(y, return_index=True)[1][:12]


def training_examples(originals: np.ndarray, labels: np.ndarray, n_train: int, image_shape: tuple[int, int],
                      params: PipelineParams, n_variants: int = 7) -> TrainingExamples | None:
    """The first training image of each class (`originals` (k, h*w) and their `labels`, picked by
    `first_of_each_class` among the `n_train` training images) and what `params.augment` makes of it: seven
    random distortions, or the four one-pixel shifts; None without augmentation."""
    if params.augment == "none":
        return None
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
    text = (f"Every epoch trained on fresh random distortions of the {n_train:,} training images: rotation "
            f"up to ±{d.rotate:g}°, each axis scaled by {1 - d.scale:g}–{1 + d.scale:g}, shear up to "
            f"±{d.shear:g} and a shift of up to {d.translate:.0%} of the size{elastic}. Below, "
            f"{n_variants} such draws of one image of each class"
            + (", as the raw network saw them (the framed network saw each framed: centred and scaled into "
               "its box, without the shift and the overall change of size)." if "framed" in params.members
               else "."))
    return TrainingExamples(originals, labels, variants, text)


def run_settings(params: dict, source: DataSource, model: dict, n_params: int, train_config: dict,
                 n_training_rows: int) -> dict[str, dict]:
    """The run's settings in the report's groups, from its parameters (params.json), data folder, first
    network's configuration and size, and the Trainer's configuration; `flows.report.settings` keeps those
    that applied."""
    p = params
    training = {k: train_config[k] for k in TRAINING if k in train_config and k not in NOT_SETTINGS}
    training["batch_size"] = batch_size_text(train_config.get("batch_size"), n_training_rows)
    return {
        "data": {"data_dir": str(source.root), "val_fraction": p["val_fraction"], "group_by": p["group_by"],
                 "seed": p["seed"]},
        "network": {"members": p["members"], "layer_sizes": model["layer_sizes"],
                    **{k: model[k] for k in ("activation", "dropout", "batchnorm", "init", "init_scale",
                                             "dtype")},
                    "parameters per network": n_params},
        "training": training,
        "augmentation": {"augment": p["augment"], **{k: v for k, v in p.items() if k.startswith("distort_")}},
        "prediction": {"normalization": p["normalization"], "test_time": p["test_time"]},
        "output": {"output_dir": p["output_dir"]},
    }


def resumed_sentence(state: RunState | None) -> str:
    """What the report says of a resumed run (`flows.store.run_state`), or "" for one that was not."""
    if state is None or not state.resumed:
        return ""
    times = "once" if state.resumed == 1 else f"{state.resumed} times"
    return (f"This run stopped before it completed and was resumed {times} (--resume); each network went on "
            "from its last saved epoch, to the weights of an uninterrupted run. The duration and stage times "
            "are the last attempt's.")


@task(cache_policy=NO_CACHE)
def write_run_report(layout: RunLayout, source: DataSource, ingest: IngestSummary,
                     stage_seconds: dict[str, float], promotion: Promotion | None = None,
                     divergence: str = "") -> Path:
    """Write figures, report.md and report.html, and publish the report and checkpoint artifacts.
    `stage_seconds`: the stages before this one; the report's own time is added up to its writing.
    `divergence`: the sentence naming where training diverged, for a run that did (`describe_divergence`)."""
    started = time.perf_counter()
    evaluation = Evaluation.load(layout.metrics)
    checkpoint = load_checkpoint(layout.best)
    meta = checkpoint.metadata
    val = files.load_arrays(layout.val_data)
    wrong = evaluation.misclassified(val["y"])
    params = read_record(layout)["parameters"]
    quality = QualityReport.load_json(layout.quality)
    ds = files.read_index(layout.dataset)  # the pixels of the examples only are read
    split = files.load_arrays(layout.split)
    n_classes = len(meta["class_names"])
    split_counts = {part: np.bincount(ds.y[split[key]], minlength=n_classes)
                    for part, key in (("training split", "train"), ("validation split", "val"))}
    n_rows = n_training_rows(layout)
    config = run_settings(params, source, checkpoint.model.config, checkpoint.model.n_params,
                          checkpoint.train_config, n_rows)
    train = split["train"]
    first = train[first_of_each_class(ds.y[train])]
    examples = training_examples(read_rows(layout.dataset, first)[0], ds.y[first], len(train), ds.image_shape,
                                 PipelineParams(**params))
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
        test_time=meta.get("test_time", "none"), promotion=promotion, split_counts=split_counts,
        data_root=str(source.root), data_kind=source.kind, written=datetime.now().astimezone(),
        divergence=divergence, resumed=resumed_sentence(read_state(layout)),
    )
    pngs = render_figures(data)
    data = dataclasses.replace(data, stage_seconds={**stage_seconds,
                                                    REPORT_STAGE: time.perf_counter() - started})
    report = write_report(data, layout.root, pngs)
    artifacts.publish_report_artifacts(data, report)
    artifacts.publish_checkpoint(layout.best, layout.name, evaluation.accuracy, evaluation.loss,
                                 evaluation.best_epochs)
    get_run_logger().info(f"Report: {report.html}")
    return report.html
