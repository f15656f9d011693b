"""The pipeline's stages as Prefect tasks, each reading a run's files and writing its own (see RunLayout).

Tasks are thin wrappers around `mlp` and the `flows` helpers; they pass paths and small records, never big
arrays, and log through Prefect's run logger. Prefect's result cache is off (NO_CACHE) because every task
writes files: re-running on unchanged images decodes nothing thanks to the data stage's own fingerprint
(see `ingest_images`), which is checked on every run and cannot go stale.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
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
from flows.report import ReportData, TrainingExamples, write_report
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
from flows.settings import blas_threads, training_blas_threads
from mlp import MLP, EpochRecord, History, TrainConfig, Trainer, load_checkpoint, save_checkpoint
from mlp.atomic import write_bytes
from mlp.data import io
from mlp.data import transforms as T
from mlp.data.distort import Distortion, distort
from mlp.data.quality import QualityReport
from mlp.data.split import group_keys, stratified_split
from mlp.data.views import apply_view
from mlp.inference import Classifier, Member, classifier_metadata


class DistortThenNormalise:
    """The pipeline's augmentation for one network: raw training pixels -> fresh random distortions -> the
    member's inputs (its view, then its normaliser); `seconds` adds up the time spent in it."""

    def __init__(self, image_shape, distortion: Distortion, member: Member) -> None:
        self.image_shape, self.distortion, self.member = tuple(image_shape), distortion, member
        self.seconds = 0.0

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        started = time.perf_counter()
        out = self.member.inputs(distort(X, self.image_shape, rng, self.distortion), self.image_shape)
        self.seconds += time.perf_counter() - started
        return out


def describe_epochs(best_epochs: Sequence[int]) -> str:
    """``best epoch 27``, or for an ensemble ``best epochs 27, 30`` (one per network)."""
    return f"best epoch{'s' if len(best_epochs) > 1 else ''} {', '.join(map(str, best_epochs))}"


def best_epochs(history: Sequence[dict], epochs: Sequence[int]) -> dict[str, int]:
    """Each network's best epoch by its member name, the names in the history's order."""
    members = list(dict.fromkeys(row["member"] for row in history))
    return dict(zip(members, epochs, strict=True))


def member_label(k: int, view: str) -> str:
    """How a network of the ensemble is named in files and logs: ``1-raw``, ``2-framed``."""
    return f"{k + 1}-{view}"


class StoppedByAnotherNetwork(RuntimeError):
    """Raised in a network's training when another network of the ensemble has failed."""


def member_seed(seed: int, k: int) -> int:
    """The seed of network k's initial weights, shuffling, dropout and distortions: --seed itself for the
    first, and for the others one derived from (seed, k), so that no network of one run shares its random
    streams with a network of a run with another --seed (seed + k would)."""
    return seed if k == 0 else int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


# Each random stage draws from its own stream of --seed, so changing one stage never changes another's draws.
STREAMS = {"split": 0, "shuffle": 1, "examples": 2}


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


def distortion(params: PipelineParams) -> Distortion:
    """The ranges of the random distortions `params` asks for (used when augment is `distort`)."""
    return Distortion(rotate=params.distort_rotate, scale=params.distort_scale, shear=params.distort_shear,
                      translate=params.distort_translate, elastic_alpha=params.distort_elastic,
                      elastic_sigma=params.distort_sigma)


def train_config(params: PipelineParams, checkpoint_dir: Path, seed: int | None = None) -> TrainConfig:
    """The Trainer's configuration for `params` (with another `seed`, for the ensemble's other networks:
    `member_seed`); the tqdm bar shows only on a terminal."""
    return TrainConfig(
        epochs=params.epochs, batch_size=params.batch_size, optimizer=params.optimizer, lr=params.lr,
        schedule=params.schedule, warmup_epochs=params.warmup_epochs, label_smoothing=params.label_smoothing,
        shuffle=params.shuffle,
        seed=params.seed if seed is None else seed, checkpoint_dir=checkpoint_dir,
        progress=sys.stderr.isatty(),
    )


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
def split_data(layout: RunLayout, val_fraction: float, seed: int, group_by: str = "none") -> Path:
    """Split the labelled images into train and validation (a validation/ folder, if the data has one,
    is used as it is), keeping each group of `group_by` on one side, and save the raw validation pixels for
    evaluation and promotion."""
    ds = io.read_dataset(layout.dataset)
    given_val = np.flatnonzero((ds.split == "validation") & (ds.y >= 0))
    train_rows = np.flatnonzero((ds.split == "train") & (ds.y >= 0))
    if len(given_val):
        train, val, flagged = train_rows, given_val, np.empty(0, np.int64)
        how = "the data's validation/ folder"
    else:
        groups = group_keys(ds.paths[train_rows], group_by)
        split = stratified_split(ds.y[train_rows], ds.hashes[train_rows], val_fraction=val_fraction,
                                 rng=stage_rng(seed, "split"), groups=groups)
        train, val, flagged = train_rows[split.train], train_rows[split.val], train_rows[split.flagged]
        how = f"up to {val_fraction:.0%} of each class, duplicates kept on one side"
        if groups is not None:
            how += (f", grouped by {group_by}: {len(set(groups[split.val]))} of {len(set(groups))} groups "
                    "held out whole")
    if len(val) == 0:
        raise ValueError(f"the validation set of {layout.dataset} is empty: raise --val-fraction (now "
                         f"{val_fraction}) or add images")
    io.save_arrays(layout.split, train=train, val=val, flagged=flagged)
    io.save_arrays(layout.val_data, X=ds.X[val], y=ds.y[val])
    get_run_logger().info(f"Split: {len(train)} training and {len(val)} validation images ({how}); "
                          f"{len(flagged)} label-conflicting copies kept out of validation")
    return layout.split


@task(cache_policy=NO_CACHE)
def fit_normalization(layout: RunLayout, mode: str, views: Sequence[str] = ("raw",)) -> Path:
    """Fit a pixel normaliser on each view of the training split (before augmentation); save them as JSON,
    {view: normaliser}."""
    ds = io.read_dataset(layout.dataset)
    X = ds.X[io.load_arrays(layout.split)["train"]]
    fitted = {view: T.fit_normalizer(apply_view(view, X, ds.image_shape), mode).to_dict()
              for view in dict.fromkeys(views)}
    get_run_logger().info(f"Normalisation: {mode}, fitted on the training split ({', '.join(fitted)} view)")
    return write_bytes(layout.normalizer, (json.dumps(fitted) + "\n").encode("utf-8"))


def read_normalizers(layout: RunLayout) -> dict[str, T.Normalizer]:
    """The normaliser of each view, as `fit_normalization` saved them."""
    saved = json.loads(layout.normalizer.read_text(encoding="utf-8"))
    return {view: T.Normalizer.from_dict(d) for view, d in saved.items()}


@task(cache_policy=NO_CACHE)
def augment_training_set(layout: RunLayout, augment: str) -> Path:
    """Write the raw training images: as they are for `distort` (the trainer distorts them afresh every
    epoch) and `none`; for `shift`, each also shifted by 1 pixel in four directions."""
    ds = io.read_dataset(layout.dataset)
    rows = io.load_arrays(layout.split)["train"]
    X, y = ds.X[rows], ds.y[rows]
    if augment == "shift":
        X, y = T.shift_augment(X, y, ds.image_shape)
        get_run_logger().info(f"Augmentation: {len(rows)} images, each also shifted 1 pixel up, down, left "
                              f"and right: {len(X)} training images")
    elif augment == "distort":
        get_run_logger().info(f"Augmentation: every epoch trains on fresh random distortions of the {len(X)} "
                              "training images")
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
def train_model(layout: RunLayout, params: PipelineParams, data_source: str,
                share_cores: bool = True) -> Path:
    """Train the ensemble's networks side by side, each on its own view with per-epoch validation; write each
    one's checkpoints, history.csv (a row per network and epoch) and the ensemble, checkpoints/best.npz.
    `share_cores`: give each network its share of the cores' BLAS threads (`training_blas_threads`) for the
    stage; False leaves the threads as the caller set them (a sweep, training several configurations at
    once, sets them once for all). If one network fails, the others stop at the end of their epoch."""
    logger = get_run_logger()
    train, val = io.load_arrays(layout.train_data), io.load_arrays(layout.val_data)
    normalizers = read_normalizers(layout)
    meta = io.read_metadata(layout.dataset)
    names, shape = (meta["class_names"], meta["display_names"]), tuple(meta["image_shape"])
    sizes = [int(train["X"].shape[1]), *params.hidden, len(meta["class_names"])]
    members = list(enumerate(params.members))
    labels = [member_label(k, view) for k, view in members]
    total = params.epochs * len(members)
    progress = artifacts.start_training_progress(layout.name, total)
    lock, histories, finished, stop = threading.Lock(), {}, itertools.count(1), threading.Event()
    threads = training_blas_threads(len(members)) if share_cores else None
    logger.info(f"Training {len(members)} network(s) {sizes} ({', '.join(params.members)} view) side by "
                f"side on {len(train['X'])} images for {params.epochs} epochs"
                + (f", {threads} BLAS thread(s) each" if threads else ""))

    def fit_member(k: int, view: str) -> History:
        normalizer, label, seed = normalizers[view], member_label(k, view), member_seed(params.seed, k)
        model = MLP(sizes, activation=params.activation, dropout=params.dropout, seed=seed)
        member = Member(model, normalizer, view)
        augment = None
        if params.augment == "distort":
            X_train = train["X"]
            augment = DistortThenNormalise(shape, distortion(params), member)
        else:
            X_train = member.inputs(train["X"], shape)

        def after_epoch(record: EpochRecord, history: History) -> None:
            with lock:
                histories[label] = history
                rows = [{"member": m, **row} for m in labels if m in histories for row in histories[m].rows()]
                write_history_csv(layout.history, rows)
                artifacts.update_training_progress(progress, next(finished), total)
            if stop.is_set():  # its epoch is recorded above, its checkpoints were written before this call
                raise StoppedByAnotherNetwork(f"{label} stopped after epoch {record.epoch}: another network "
                                              "failed")
            best = " (best so far)" if history.best_epoch == record.epoch else ""
            logger.info(f"{label} epoch {record.epoch}/{params.epochs}: train loss {record.train_loss:.4f} "
                        f"accuracy {record.train_accuracy:.2%}, validation loss {record.val_loss:.4f} "
                        f"accuracy {record.val_accuracy:.2%}, lr {record.lr:.2e}, {record.seconds:.1f} s"
                        + best)

        metadata = classifier_metadata([(view, normalizer)], *names, shape) | {
            "run_name": layout.name, "data_source": data_source}
        config = train_config(params, layout.member_checkpoints(label), seed=seed)
        try:
            history = Trainer(config, [after_epoch]).fit(
                model, X_train, train["y"], member.inputs(val["X"], shape), val["y"],
                augment=augment, metadata=metadata)
        except BaseException:
            stop.set()
            raise
        best = history.best
        logger.info(f"{label}: best epoch {best.epoch}, validation accuracy {best.val_accuracy:.2%}, loss "
                    f"{best.val_loss:.4f}")
        if augment is not None:
            share = augment.seconds / sum(r.seconds for r in history.records)
            logger.info(f"{label}: distortions took {augment.seconds / len(history):.2f} s an epoch, made in "
                        f"a background thread while the previous epoch trained ({share:.0%} of the training "
                        "time)")
        return history

    with blas_threads(threads), ThreadPoolExecutor(len(members)) as pool:
        futures = [pool.submit(contextvars.copy_context().run, fit_member, k, view) for k, view in members]
        try:
            wait(futures)
        except BaseException:  # e.g. Ctrl-C here: the networks stop at the end of their epoch
            stop.set()
            raise
    errors = [future.exception() for future in futures if future.exception() is not None]
    if errors:  # the failure itself, not the networks it stopped
        raise next((e for e in errors if not isinstance(e, StoppedByAnotherNetwork)), errors[0])
    epochs = [future.result().best_epoch for future in futures]
    bests = [load_checkpoint(layout.member_checkpoints(label) / "best.npz") for label in labels]
    metadata = classifier_metadata([(view, normalizers[view]) for _, view in members], *names, shape,
                                   params.test_time) | {"run_name": layout.name, "data_source": data_source}
    save_checkpoint(layout.best, bests[0].model, members=[b.model for b in bests[1:]], metadata=metadata,
                    train_config=bests[0].train_config, metrics={"best_epochs": epochs})
    logger.info(f"Ensemble of {len(members)}: {layout.best}")
    return layout.best


@task(cache_policy=NO_CACHE)
def evaluate_model(layout: RunLayout) -> Evaluation:
    """Measure the best checkpoint on the validation set (metrics.json); predict test/ images if any."""
    checkpoint = load_checkpoint(layout.best)
    classifier = Classifier.from_loaded(checkpoint, layout.best)
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
    evaluation = evaluate_classifier(classifier, val["X"], val["y"], checkpoint.metrics["best_epochs"], test)
    evaluation.save(layout.metrics)
    get_run_logger().info(f"Validation, {describe_epochs(evaluation.best_epochs)}: accuracy "
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
    ds = io.read_dataset(layout.dataset)
    train = io.load_arrays(layout.split)["train"]
    examples = training_examples(ds.X[train], ds.y[train], ds.image_shape, PipelineParams(**params))
    history = read_history_csv(layout.history)
    data = ReportData(
        run_name=layout.name, config=config, history=history,
        best_epochs=best_epochs(history, evaluation.best_epochs),
        class_names=meta["class_names"],
        display_names=meta["display_names"], confusion=evaluation.confusion,
        misclassified=val["X"][wrong], image_shape=tuple(meta["image_shape"]),
        misclassified_true=val["y"][wrong], misclassified_pred=evaluation.predicted[wrong],
        quality=quality_summary(quality, ingest), stage_seconds=stage_seconds,
        loss_name=loss_name(checkpoint.train_config), examples=examples,
        test_time=meta.get("test_time", "none"),
    )
    files = write_report(data, layout.root)
    artifacts.publish_report_artifacts(data, files)
    note = (f"Run {layout.name}, {describe_epochs(evaluation.best_epochs)}: validation accuracy "
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
