"""The training stage: the ensemble's networks trained side by side, each on its own view of the images, as
one Prefect task (`train_model`), and what it is made of: each network's name and seed, its distortions, the
Trainer's configuration from the pipeline's parameters.
"""

from __future__ import annotations

import contextvars
import itertools
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.environment import blas_threads, training_blas_threads
from flows.pipeline.classifier import Member, classifier_metadata
from flows.pipeline.params import PipelineParams
from flows.pipeline.preparation import read_normalizers
from flows.pipeline.streaming import network_source, plan_training_data
from flows.report import artifacts
from flows.store.history import write_history_csv
from flows.store.layout import RunLayout
from mlp import MLP, EpochRecord, History, TrainConfig, Trainer, load_checkpoint, save_checkpoint
from mlp.data import files
from mlp.data.distort import Distortion, distort
from mlp.data.stream import read_labels
from mlp.hyper import DISTORTION, MODEL, TRAINING
from mlp.train import Diverged


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


class MemberInputs:
    """A streamed network's batches without augmentation: raw training pixels -> the member's inputs."""

    def __init__(self, image_shape, member: Member) -> None:
        self.image_shape, self.member = tuple(image_shape), member

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.member.inputs(X, self.image_shape)


def describe_epochs(best_epochs: Sequence[int]) -> str:
    """``best epoch 27``, or for an ensemble ``best epochs 27, 30`` (one per network)."""
    return f"best epoch{'s' if len(best_epochs) > 1 else ''} {', '.join(map(str, best_epochs))}"


def best_epochs(history: Sequence[dict], epochs: Sequence[int]) -> dict[str, int]:
    """Each network's best epoch by its member name, the names in the history's order."""
    members = list(dict.fromkeys(row["member"] for row in history))
    return dict(zip(members, epochs, strict=True))


def batch_size_text(batch_size: int | None, n: int) -> int | str:
    """The batch size as the report shows it: itself, or when it is None or more than the `n` training rows,
    what the Trainer does with it (every step takes all `n`)."""
    if batch_size is not None and batch_size <= n:
        return batch_size
    if batch_size is None:
        return f"none (each step takes all {n:,} training images: full batch)"
    return f"{batch_size:,} (more than the {n:,} training images: each step takes all of them, full batch)"


# What `TrainConfig.monitor` makes a network's best epoch, in words (the log's "best so far").
BEST_BY = {"val_loss": "lowest validation loss", "val_accuracy": "highest validation accuracy"}


def member_label(k: int, view: str) -> str:
    """How a network of the ensemble is named in files and logs: ``1-raw``, ``2-framed``."""
    return f"{k + 1}-{view}"


def check_classes(class_names: Sequence[str], y_train: np.ndarray, data_source: str) -> None:
    """Refuse, in one line naming the data folder, data with fewer than two classes, or a training split
    (labels y_train (n,)) holding fewer than two of them: a classifier needs two to tell apart."""
    if len(class_names) < 2:
        found = f"only {class_names[0]!r}" if class_names else "none"
        raise ValueError(f"{data_source} has {len(class_names)} class folder(s) ({found}): training needs at "
                         "least two classes")
    present = np.unique(y_train)
    if len(present) < 2:
        raise ValueError(f"the training split of {data_source} holds images of {len(present)} of its "
                         f"{len(class_names)} classes: training needs at least two")


class StoppedByAnotherNetwork(RuntimeError):
    """Raised in a network's training when another network of the ensemble has failed."""


def member_seed(seed: int, k: int) -> int:
    """The seed of network k's initial weights, shuffling, dropout and distortions: --seed itself for the
    first, and for the others one derived from (seed, k), so that no network of one run shares its random
    streams with a network of a run with another --seed (seed + k would)."""
    return seed if k == 0 else int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def distortion(params: PipelineParams) -> Distortion:
    """The ranges of the random distortions `params` asks for (used when augment is `distort`)."""
    return Distortion(**params.arguments(DISTORTION))


def train_config(params: PipelineParams, checkpoint_dir: Path, seed: int | None = None) -> TrainConfig:
    """The Trainer's configuration for `params` (with another `seed`, for the ensemble's other networks:
    `member_seed`); the tqdm bar shows only on a terminal."""
    return TrainConfig(**params.arguments(TRAINING) | {
        "seed": params.seed if seed is None else seed, "checkpoint_dir": checkpoint_dir,
        "progress": sys.stderr.isatty()})


# Seconds before Prefect retries a training stage that failed for a reason that may pass (`transient`).
RETRY_DELAY = 10


def transient(task, task_run, state) -> bool:
    """Prefect's retry condition for the training stage (`retry_condition_fn`): retry an OSError or a
    MemoryError (a full disk, a network folder gone for a moment, another process's memory), never a failure
    that would happen again (a divergence, bad data or settings)."""
    try:
        state.result()
    except (OSError, MemoryError):
        return True
    except Exception:  # any other failure recurs: no retry
        return False
    return False


@task(cache_policy=NO_CACHE, retry_delay_seconds=RETRY_DELAY, retry_condition_fn=transient)
def train_model(layout: RunLayout, params: PipelineParams, data_source: str,
                share_cores: bool = True) -> Path:
    """Train the ensemble's networks side by side, each on its own view with per-epoch validation; write each
    one's checkpoints, history.csv (a row per network and epoch) and the ensemble, checkpoints/best.npz.
    Each network continues from its checkpoints/<network>/last.npz when there is one (`Trainer.fit`'s
    resume: a resumed run, or Prefect's retry of this task after `transient` failure, ends with the weights
    of an uninterrupted one); a fresh run has none and starts afresh.
    `share_cores`: give each network its share of the cores' BLAS threads (`training_blas_threads`) for the
    stage; False leaves the threads as the caller set them (a sweep, training several configurations at
    once, sets them once for all). If one network fails, the others stop at the end of their epoch; when it
    diverged (`Diverged`, naming the network) and every network finished an epoch, the ensemble is still
    saved from their best finished epochs before the error is raised.
    The training rows are data/train.npz held in memory, or, when the run streams (`plan_training_data`),
    data/train.parquet: each network then streams its batches through its share of the memory budget,
    distorted and put through its view and normaliser per batch."""
    logger = get_run_logger()
    plan = plan_training_data(layout, params)
    val = files.load_arrays(layout.val_data)
    if plan.streamed:  # the labels only: the pixels stream from data/train.parquet
        train = None
        y_train = read_labels(layout.dataset)[files.load_arrays(layout.split)["train"]]
    else:
        train = files.load_arrays(layout.train_data)
        y_train = train["y"]
    n_train = len(y_train)
    meta = files.read_metadata(layout.dataset)
    check_classes(meta["class_names"], y_train, data_source)
    normalizers = read_normalizers(layout)
    names, shape = (meta["class_names"], meta["display_names"]), tuple(meta["image_shape"])
    sizes = [plan.n_features, *params.hidden, len(meta["class_names"])]
    members = list(enumerate(params.members))
    labels = [member_label(k, view) for k, view in members]
    total = params.epochs * len(members)
    progress = artifacts.start_training_progress(layout.name, len(members), params.epochs)
    lock, histories, finished, stop = threading.Lock(), {}, itertools.count(1), threading.Event()
    done = [0]  # epochs finished, all networks together
    threads = training_blas_threads(len(members)) if share_cores else None
    logger.info(f"Training {len(members)} network(s) {sizes} ({', '.join(params.members)} view) side by "
                f"side on {n_train} images for {params.epochs} epochs"
                + (f", {threads} BLAS thread(s) each" if threads else ""))
    logger.info(plan.describe())
    if params.batch_size > n_train:
        logger.warning(f"--batch-size {batch_size_text(params.batch_size, n_train)}")
    best_by = BEST_BY[train_config(params, layout.checkpoints).monitor]

    def fit_member(k: int, view: str) -> History:
        normalizer, label, seed = normalizers[view], member_label(k, view), member_seed(params.seed, k)
        model = MLP(sizes, **params.arguments(MODEL), seed=seed)
        member = Member(model, normalizer, view)
        augment = source = None
        if params.augment == "distort":
            augment = DistortThenNormalise(shape, distortion(params), member)
        if plan.streamed:  # distorted (augment) and normalised per batch as the stream hands it out
            X_train = source = network_source(layout, plan, augment or MemberInputs(shape, member))
            y_fit, augment_fit = None, None
        else:
            X_train = train["X"] if augment is not None else member.inputs(train["X"], shape)
            y_fit, augment_fit = train["y"], augment

        def after_epoch(record: EpochRecord, history: History) -> None:
            with lock:
                histories[label] = history
                write_history_csv(layout.history, _rows(histories, labels))
                done[0] = next(finished)
                if done[0] == total:  # the last epoch of all: say what training came to
                    artifacts.finish_training_progress(progress, layout.name, _bests(histories), best_by)
                else:
                    artifacts.update_training_progress(progress, done[0], total, label, record.epoch,
                                                       record.val_accuracy)
            if stop.is_set():  # its epoch is recorded above, its checkpoints were written before this call
                raise StoppedByAnotherNetwork(f"{label} stopped after epoch {record.epoch}: another network "
                                              "failed")
            best = f" (best so far: {best_by})" if history.best_epoch == record.epoch else ""
            logger.info(f"{label} epoch {record.epoch}/{params.epochs}: train loss {record.train_loss:.4f} "
                        f"accuracy {record.train_accuracy:.2%}, validation loss {record.val_loss:.4f} "
                        f"accuracy {record.val_accuracy:.2%}, lr {record.lr:.2e}, {record.seconds:.1f} s"
                        + best)

        metadata = classifier_metadata([(view, normalizer)], *names, shape) | {
            "run_name": layout.name, "data_source": data_source}
        config = train_config(params, layout.member_checkpoints(label), seed=seed)
        if (config.checkpoint_dir / "last.npz").is_file():
            logger.info(f"{label}: resuming from {config.checkpoint_dir / 'last.npz'}")
        try:
            history = Trainer(config, [after_epoch]).fit(
                model, X_train, y_fit, member.inputs(val["X"], shape), val["y"],
                augment=augment_fit, resume=True, metadata=metadata)
        except Diverged as error:
            stop.set()
            error.network = label
            raise
        except BaseException:
            stop.set()
            raise
        with lock:  # a network resumed after its last epoch trains none: record its history here
            histories[label] = history
            write_history_csv(layout.history, _rows(histories, labels))
        best = history.best
        if history.resumed_from_epoch:
            logger.info(f"{label}: resumed after epoch {history.resumed_from_epoch}")
        logger.info(f"{label}: best epoch {best.epoch}, validation accuracy {best.val_accuracy:.2%}, loss "
                    f"{best.val_loss:.4f}")
        if source is not None:
            logger.info(f"{label}: streamed {source.n_rows} rows an epoch from {source.path.name}, at most "
                        f"{source.peak_rows} held at once (buffer of {source.buffer_rows})")
        if augment is not None and history.records:
            share = augment.seconds / sum(r.seconds for r in history.records)
            where = "per streamed batch" if source is not None else \
                "in a background thread while the previous epoch trained"
            logger.info(f"{label}: distortions took {augment.seconds / len(history):.2f} s an epoch, made "
                        f"{where} ({share:.0%} of the training time)")
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
        error = next((e for e in errors if not isinstance(e, StoppedByAnotherNetwork)), errors[0])
        if isinstance(error, Diverged) and all(label in histories for label in labels):
            save_ensemble(layout, params, data_source, [histories[label].best_epoch for label in labels])
            logger.error(f"{error}. The ensemble of the finished epochs: {layout.best}")
        raise error
    if done[0] < total:  # a network stopped early (patience): the artifact still says training is over
        artifacts.finish_training_progress(progress, layout.name, _bests(histories), best_by)
    save_ensemble(layout, params, data_source, [future.result().best_epoch for future in futures])
    logger.info(f"Ensemble of {len(members)}: {layout.best}")
    return layout.best


def save_ensemble(layout: RunLayout, params: PipelineParams, data_source: str, epochs: Sequence[int]) -> None:
    """Write checkpoints/best.npz: every network's best.npz, at its best epoch `epochs` (one per network),
    with the classifier's metadata."""
    meta = files.read_metadata(layout.dataset)
    members = list(enumerate(params.members))
    normalizers = read_normalizers(layout)
    bests = [load_checkpoint(layout.member_checkpoints(member_label(k, view)) / "best.npz")
             for k, view in members]
    metadata = classifier_metadata([(view, normalizers[view]) for _, view in members], meta["class_names"],
                                   meta["display_names"], tuple(meta["image_shape"]), params.test_time) | {
        "run_name": layout.name, "data_source": data_source}
    save_checkpoint(layout.best, bests[0].model, members=[b.model for b in bests[1:]], metadata=metadata,
                    train_config=bests[0].train_config, metrics={"best_epochs": list(epochs)})


def describe_divergence(error: Diverged) -> str:
    """What the report says of a run whose training diverged: which network, where, at which learning rate,
    and the --lr to try."""
    where = f"batch {error.batch} of {error.n_batches}" if error.batch is not None else "its validation"
    return (f"Training diverged in network {error.network} at epoch {error.epoch}, {where}, learning rate "
            f"{error.lr:.3g} ({error.what}). This report shows the epochs that finished before it, each "
            f"network at its best; the run failed and is never promoted. Try a lower --lr, e.g. "
            f"{error.suggested_lr:.3g}.")


def _rows(histories: dict[str, History], labels: Sequence[str]) -> list[dict]:
    """history.csv's rows: every epoch of each network so far, networks in the ensemble's order."""
    return [{"member": m, **row} for m in labels if m in histories for row in histories[m].rows()]


def _bests(histories: dict[str, History]) -> dict[str, EpochRecord]:
    """Each network's best epoch so far, by its label."""
    return {label: history.best for label, history in histories.items()}
