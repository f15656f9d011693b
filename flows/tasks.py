"""The pipeline's stages as Prefect tasks, each reading a run's files and writing its own (see RunLayout).

Tasks are thin wrappers around `mlp` and the `flows` helpers; they pass paths and small records, never big
arrays, and log through Prefect's run logger. Prefect's result cache is off (NO_CACHE) because every task
writes files: re-running on unchanged images decodes nothing thanks to the data stage's own fingerprint
(see `ingest_images`), which is checked on every run and cannot go stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows import artifacts
from flows.champion import Promotion, promote_if_better, publish_promotion
from flows.demo_data import write_digits_demo
from flows.evaluation import Evaluation, evaluate_classifier, prediction_rows, write_predictions_csv
from flows.layout import RunLayout, models_dir
from flows.params import PipelineParams
from flows.records import IngestSummary, quality_summary, read_history_csv, write_history_csv
from flows.report import ReportData, write_report
from flows.runs import (
    DataSource,
    claim_run,
    dataset_path,
    make_run_name,
    point_latest,
    record_run,
    resolve_data,
    snapshot,
    source_key,
)
from mlp import MLP, EpochRecord, History, TrainConfig, Trainer, load_checkpoint
from mlp.atomic import write_bytes
from mlp.data import io
from mlp.data import transforms as T
from mlp.data.quality import QualityReport
from mlp.inference import Classifier, classifier_metadata

# Each random stage draws from its own stream of --seed, so changing one stage never changes another's draws.
STREAMS = {"split": 0, "shuffle": 1}


def stage_rng(seed: int, stage: str) -> np.random.Generator:
    """The generator of `stage` (a key of STREAMS) for a run seeded with `seed`."""
    if stage not in STREAMS:
        raise ValueError(f"unknown random stage {stage!r}; valid: {', '.join(STREAMS)}")
    return np.random.default_rng([seed, STREAMS[stage]])


def flow_run_name() -> str:
    """A flow run's name, which also names its folder: ``YYYYmmdd-HHMMSS-<data>`` (from its parameters)."""
    params = flow_run.parameters.get("params", PipelineParams())
    if isinstance(params, dict):
        params = PipelineParams(**params)
    return make_run_name(resolve_data(params.data_dir).name)


def train_config(params: PipelineParams, checkpoint_dir: Path) -> TrainConfig:
    """The Trainer's configuration for `params`; the tqdm bar shows only on a terminal."""
    return TrainConfig(
        epochs=params.epochs, batch_size=params.batch_size, optimizer=params.optimizer, lr=params.lr,
        schedule=params.schedule, label_smoothing=params.label_smoothing, shuffle=params.shuffle,
        seed=params.seed, checkpoint_dir=checkpoint_dir, progress=sys.stderr.isatty(),
    )


def loss_name(train_config: dict) -> str:
    """What the history's losses are, in words, for the report."""
    smoothing = train_config.get("label_smoothing", 0.0)
    return f"cross-entropy with label smoothing {smoothing:g}" if smoothing else "cross-entropy"


@task(cache_policy=NO_CACHE)
def prepare_data(data_dir: Path | None) -> DataSource:
    """Choose the data folder (writing the digits demo on first use) and say which one the run uses."""
    source = resolve_data(data_dir)
    if source.kind == "demo":
        write_digits_demo(source.root)
    get_run_logger().info(source.describe())
    return source


@task(cache_policy=NO_CACHE)
def start_run(params: PipelineParams, source: DataSource, run_name: str) -> RunLayout:
    """Create the run folder (a fresh name if taken) and record the run's parameters in params.json."""
    layout = claim_run(params.output_dir, run_name, source.root)
    record_run(layout, params, source)
    get_run_logger().info(f"Run {layout.name}: writing to {layout.root}")
    return layout


@task(cache_policy=NO_CACHE)
def ingest_images(source: DataSource, layout: RunLayout, output_dir: Path) -> IngestSummary:
    """Decode new or changed images into the data root's shared Parquet file; snapshot it into the run."""
    summary = IngestSummary.of(io.ingest(source.root, dataset_path(output_dir, source.root)))
    snapshot(summary.parquet, layout.dataset)
    get_run_logger().info(summary.describe())
    return summary


@task(cache_policy=NO_CACHE)
def check_quality(layout: RunLayout, ingest: IngestSummary) -> Path:
    """Save the data set's quality report and publish it as the `data-quality` table artifact."""
    report = QualityReport.from_dict(io.read_metadata(layout.dataset)["quality"])
    report.save_json(layout.quality)
    artifacts.publish_data_quality(
        quality_summary(report, ingest), report.class_names, report.display_names, layout.name
    )
    issues = {"skipped files": len(report.skipped), "wrong-size images": len(report.wrong_size),
              "duplicate groups": len(report.duplicates), "label conflicts": len(report.label_conflicts)}
    found = ", ".join(f"{n} {kind}" for kind, n in issues.items() if n) or "no issues"
    get_run_logger().info(f"Data quality: {report.n_images} usable images, {found}; see {layout.quality}")
    return layout.quality


@task(cache_policy=NO_CACHE)
def split_data(layout: RunLayout, val_fraction: float, seed: int) -> Path:
    """Split the labelled images into train and validation (a validation/ folder, if the data has one,
    is used as it is) and save the raw validation pixels for evaluation and promotion."""
    ds = io.read_dataset(layout.dataset)
    given_val = np.flatnonzero((ds.split == "validation") & (ds.y >= 0))
    train_rows = np.flatnonzero((ds.split == "train") & (ds.y >= 0))
    if len(given_val):
        train, val, flagged = train_rows, given_val, np.empty(0, np.int64)
        how = "the data's validation/ folder"
    else:
        split = T.stratified_split(ds.y[train_rows], ds.hashes[train_rows], val_fraction=val_fraction,
                                   rng=stage_rng(seed, "split"))
        train, val, flagged = train_rows[split.train], train_rows[split.val], train_rows[split.flagged]
        how = f"{val_fraction:.0%} of each class, duplicates kept on one side"
    if len(val) == 0:
        raise ValueError(f"the validation set of {layout.dataset} is empty: raise --val-fraction (now "
                         f"{val_fraction}) or add images")
    io.save_arrays(layout.split, train=train, val=val, flagged=flagged)
    io.save_arrays(layout.val_data, X=ds.X[val], y=ds.y[val])
    get_run_logger().info(f"Split: {len(train)} training and {len(val)} validation images ({how}); "
                          f"{len(flagged)} label-conflicting copies kept out of validation")
    return layout.split


@task(cache_policy=NO_CACHE)
def fit_normalization(layout: RunLayout, mode: str) -> Path:
    """Fit the pixel normaliser on the training split (before augmentation) and save it as JSON."""
    ds = io.read_dataset(layout.dataset)
    normalizer = T.fit_normalizer(ds.X[io.load_arrays(layout.split)["train"]], mode)
    get_run_logger().info(f"Normalisation: {mode}, fitted on the training split")
    return write_bytes(layout.normalizer, (json.dumps(normalizer.to_dict()) + "\n").encode("utf-8"))


@task(cache_policy=NO_CACHE)
def augment_training_set(layout: RunLayout, augment: bool) -> Path:
    """Write the raw training images, each also shifted by 1 pixel in four directions when `augment`."""
    ds = io.read_dataset(layout.dataset)
    rows = io.load_arrays(layout.split)["train"]
    X, y = ds.X[rows], ds.y[rows]
    if augment:
        X, y = T.shift_augment(X, y, ds.image_shape)
        get_run_logger().info(f"Augmentation: {len(rows)} images, each also shifted 1 pixel up, down, left "
                              f"and right: {len(X)} training images")
    else:
        get_run_logger().info(f"Augmentation: off; {len(X)} training images")
    return io.save_arrays(layout.train_data, X=X, y=y)


@task(cache_policy=NO_CACHE)
def shuffle_training_set(layout: RunLayout, shuffle: bool, seed: int) -> Path:
    """Shuffle the training file's rows in place (atomically), or leave them in class order."""
    if shuffle:
        data = io.load_arrays(layout.train_data)
        X, y = T.shuffle(data["X"], data["y"], rng=stage_rng(seed, "shuffle"))
        io.save_arrays(layout.train_data, X=X, y=y)
    get_run_logger().info("Shuffle: " + ("rows shuffled; the trainer reshuffles every epoch" if shuffle
                                         else "off; the training rows stay in class order every epoch"))
    return layout.train_data


@task(cache_policy=NO_CACHE)
def train_model(layout: RunLayout, params: PipelineParams, data_source: str) -> Path:
    """Train the MLP with per-epoch validation; writes checkpoints/best.npz, last.npz and history.csv."""
    logger = get_run_logger()
    train, val = io.load_arrays(layout.train_data), io.load_arrays(layout.val_data)
    normalizer = T.Normalizer.from_dict(json.loads(layout.normalizer.read_text(encoding="utf-8")))
    meta = io.read_metadata(layout.dataset)
    sizes = [int(train["X"].shape[1]), *params.hidden, len(meta["class_names"])]
    model = MLP(sizes, activation=params.activation, dropout=params.dropout, seed=params.seed)
    config = train_config(params, layout.checkpoints)
    progress = artifacts.start_training_progress(layout.name, params.epochs)
    logger.info(f"Training {model.n_params:,} parameters, layers {sizes}, on {len(train['X'])} images "
                f"for {params.epochs} epochs")

    def after_epoch(record: EpochRecord, history: History) -> None:
        write_history_csv(layout.history, history.rows())
        artifacts.update_training_progress(progress, record.epoch, params.epochs)
        best = " (best so far)" if history.best_epoch == record.epoch else ""
        logger.info(f"epoch {record.epoch}/{params.epochs}: train loss {record.train_loss:.4f} accuracy "
                    f"{record.train_accuracy:.2%}, validation loss {record.val_loss:.4f} accuracy "
                    f"{record.val_accuracy:.2%}, lr {record.lr:.2e}, {record.seconds:.1f} s{best}")

    names, shape = (meta["class_names"], meta["display_names"]), meta["image_shape"]
    metadata = classifier_metadata(normalizer, *names, shape) | {"run_name": layout.name,
                                                                  "data_source": data_source}
    history = Trainer(config, [after_epoch]).fit(
        model, normalizer.transform(train["X"]), train["y"], normalizer.transform(val["X"]), val["y"],
        metadata=metadata,
    )
    best = history.best
    logger.info(f"Best epoch {best.epoch}: validation accuracy {best.val_accuracy:.2%}, loss "
                f"{best.val_loss:.4f}; checkpoint {layout.best}")
    return layout.best


@task(cache_policy=NO_CACHE)
def evaluate_model(layout: RunLayout) -> Evaluation:
    """Measure the best checkpoint on the validation set (metrics.json); predict test/ images if any."""
    classifier = Classifier.from_checkpoint(layout.best)
    ds = io.read_dataset(layout.dataset)
    test_rows = np.flatnonzero(ds.split == "test")
    test = None
    if len(test_rows):
        y = ds.y[test_rows]
        rows, test = prediction_rows(classifier, ds.X[test_rows], ds.paths[test_rows],
                                     y if (y >= 0).any() else None)
        write_predictions_csv(layout.test_predictions, rows)
        get_run_logger().info(f"Predicted {test.n} test images: {layout.test_predictions}")
    val = io.load_arrays(layout.val_data)
    evaluation = evaluate_classifier(classifier, val["X"], val["y"], load_checkpoint(layout.best).epoch, test)
    evaluation.save(layout.metrics)
    get_run_logger().info(f"Validation, best epoch {evaluation.best_epoch}: accuracy "
                          f"{evaluation.accuracy:.2%}, cross-entropy {evaluation.loss:.4f} (without label "
                          f"smoothing) on {len(val['y'])} images")
    return evaluation


@task(cache_policy=NO_CACHE)
def write_run_report(layout: RunLayout, source: DataSource, ingest: IngestSummary,
                     stage_seconds: dict[str, float]) -> Path:
    """Write figures, report.md and report.html, and publish the report and checkpoint artifacts."""
    evaluation = Evaluation.load(layout.metrics)
    checkpoint = load_checkpoint(layout.best)
    meta = checkpoint.metadata
    val = io.load_arrays(layout.val_data)
    wrong = evaluation.misclassified(val["y"])
    params = json.loads(layout.params.read_text(encoding="utf-8"))["parameters"]
    config = {"parameters": params, "data": {"root": str(source.root), "kind": source.kind},
              "model": checkpoint.model.config | {"n_params": checkpoint.model.n_params},
              "training": checkpoint.train_config}
    quality = QualityReport.from_dict(json.loads(layout.quality.read_text(encoding="utf-8")))
    data = ReportData(
        run_name=layout.name, config=config, history=read_history_csv(layout.history),
        best_epoch=evaluation.best_epoch, class_names=meta["class_names"],
        display_names=meta["display_names"], confusion=evaluation.confusion,
        misclassified=val["X"][wrong], image_shape=tuple(meta["image_shape"]),
        misclassified_true=val["y"][wrong], misclassified_pred=evaluation.predicted[wrong],
        quality=quality_summary(quality, ingest), stage_seconds=stage_seconds,
        loss_name=loss_name(checkpoint.train_config),
    )
    files = write_report(data, layout.root)
    artifacts.publish_report_artifacts(data, files)
    note = (f"Run {layout.name}, best epoch {evaluation.best_epoch}: validation accuracy "
            f"{evaluation.accuracy:.2%}, cross-entropy {evaluation.loss:.4f}.")
    artifacts.publish_checkpoint(layout.best, note=note)
    get_run_logger().info(f"Report: {files.html}")
    return files.html


@task(cache_policy=NO_CACHE)
def mark_latest(output_dir: Path, layout: RunLayout) -> Path:
    """Point `<output>/latest` at this run, now that its files are complete."""
    link = point_latest(output_dir, layout.root)
    get_run_logger().info(f"{link} -> {layout.root}")
    return link


@task(cache_policy=NO_CACHE)
def promote(layout: RunLayout, source: DataSource, output_dir: Path) -> Promotion:
    """Score this run's model against its data folder's champion on this run's validation images that the
    champion was not trained on; promote it if better, with the hashes of this run's training images."""
    ds, split = io.read_dataset(layout.dataset), io.load_arrays(layout.split)
    val, train = split["val"], split["train"]
    models = models_dir(output_dir, source_key(source.root))
    promotion = promote_if_better(layout.best, ds.X[val], ds.y[val], models, layout.name,
                                  val_hashes=ds.hashes[val], train_hashes=ds.hashes[train])
    publish_promotion(promotion)
    verdict = "promoted to champion" if promotion.promoted else "not promoted"
    get_run_logger().info(f"Model {verdict}: {promotion.reason} (compared on {promotion.n_samples} "
                          f"validation images; {promotion.n_excluded} left out as champion-training images)")
    return promotion
