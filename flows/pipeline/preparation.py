"""The stages before training, as Prefect tasks: choose the data, start the run, ingest, check quality,
split, fit the normalisers, augment and shuffle (the training rows held in memory, or streamed:
`flows.pipeline.streaming`). Each reads the run's files and writes its own (see
`flows.store.layout.RunLayout`).

Tasks are thin wrappers around `mlp` and the `flows` helpers; they pass paths and small records, never big
arrays, and log through Prefect's run logger. Prefect's result cache is off (NO_CACHE) because every task
writes files: re-running on unchanged images decodes nothing thanks to the data stage's own fingerprint
(see `ingest_images`), which is checked on every run and cannot go stale.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.pipeline.demo_data import write_digits_demo
from flows.pipeline.params import PipelineParams
from flows.pipeline.sources import DataSource, resolve_data
from flows.pipeline.streaming import TrainingData, replace_unless_same
from flows.report import artifacts
from flows.report.quality import DataQuality
from flows.store.layout import RunLayout, dataset_path, make_run_name
from flows.store.run_state import resumable
from flows.store.runs import claim_run, record_run
from mlp.atomic import snapshot, write_bytes
from mlp.data import files
from mlp.data import transforms as T
from mlp.data.bucket_shuffle import bucket_shuffle, n_buckets_for
from mlp.data.dataset import IngestResult
from mlp.data.quality import QualityReport
from mlp.data.split import group_keys, stratified_split
from mlp.data.stream import read_rows, row_group_parts, write_rows
from mlp.data.views import apply_view

STREAMS = {"split": 0, "shuffle": 1, "examples": 2}
SPILL_PREFIX = ".buckets-"  # the bucket shuffle's spill folders, beside data/train.parquet


def stage_rng(seed: int, stage: str) -> np.random.Generator:
    """The generator of `stage` (a key of STREAMS) for a run seeded with `seed`."""
    if stage not in STREAMS:
        raise ValueError(f"unknown random stage {stage!r}; valid: {', '.join(STREAMS)}")
    return np.random.default_rng([seed, STREAMS[stage]])


def flow_run_name() -> str:
    """A flow run's name, which also names its folder: ``YYYYmmdd-HHMMSS-<data>`` (from its parameters); a
    resumed run's flow run is named after the run it continues."""
    if flow_run.parameters.get("resume"):  # the run it continues, e.g. 20261203-091500-hanzi12-resumed
        return f"{flow_run.parameters['resume']}-resumed"
    params = flow_run.parameters.get("params", PipelineParams())
    if isinstance(params, dict):
        params = PipelineParams(**params)
    return make_run_name(resolve_data(params.data_dir).name)


@dataclass(frozen=True)
class IngestSummary:
    """What ingest did for a run: the shared Parquet file, usable images, files decoded now and reused."""

    parquet: Path
    n_images: int
    n_decoded: int
    n_reused: int
    rewritten: bool

    @classmethod
    def of(cls, result: IngestResult) -> IngestSummary:
        return cls(Path(result.path), result.n_images, result.n_decoded, result.n_reused, result.written)

    def describe(self) -> str:
        """One line for the log, saying whether images were decoded or the earlier data set was reused."""
        if self.n_decoded == 0 and not self.rewritten:
            return (f"Reused the ingested data set {self.parquet}: the images are unchanged since the last "
                    f"ingest, so none was decoded ({self.n_images} images).")
        return (f"Ingested {self.n_images} images into {self.parquet}: {self.n_decoded} files decoded, "
                f"{self.n_reused} unchanged files reused.")


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
    record_run(layout, params.model_dump(mode="json"), source.record())
    get_run_logger().info(f"Run {layout.name}: writing to {layout.root}")
    return layout


@task(cache_policy=NO_CACHE)
def reopen_run(output_dir: Path, name: str) -> RunLayout:
    """The incomplete run `name` of `output_dir`, to resume (`flows.store.run_state.resumable`: ValueError
    when it completed, runs in another process or is absent)."""
    layout = resumable(output_dir, name)
    get_run_logger().info(f"Run {layout.name}: resuming in {layout.root}")
    return layout


@task(cache_policy=NO_CACHE)
def ingest_images(source: DataSource, layout: RunLayout, output_dir: Path, workers: int = 1) -> IngestSummary:
    """Decode new or changed images (in `workers` processes) into the data root's shared Parquet file;
    snapshot it into the run."""
    parquet = dataset_path(output_dir, source.root)
    summary = IngestSummary.of(files.ingest(source.root, parquet, workers=workers))
    snapshot(summary.parquet, layout.dataset)
    get_run_logger().info(summary.describe())
    return summary


@task(cache_policy=NO_CACHE)
def check_quality(layout: RunLayout, ingest: IngestSummary) -> Path:
    """Save the data set's quality report and publish it as the `data-quality` table artifact."""
    report = QualityReport.from_dict(files.read_metadata(layout.dataset)["quality"])
    report.save_json(layout.quality)
    artifacts.publish_data_quality(DataQuality(report, ingest.n_decoded, ingest.n_reused), layout.name)
    issues = {"skipped files": len(report.skipped), "wrong-size images": len(report.wrong_size),
              "duplicate groups": len(report.duplicates), "label conflicts": len(report.label_conflicts)}
    found = ", ".join(f"{n} {kind}" for kind, n in issues.items() if n) or "no issues"
    get_run_logger().info(f"Data quality: {report.n_images} usable images, {found}; see {layout.quality}")
    return layout.quality


@task(cache_policy=NO_CACHE)
def split_data(layout: RunLayout, val_fraction: float, seed: int, group_by: str = "none") -> Path:
    """Split the labelled images into train and validation (a validation/ folder, if the data has one,
    is used as it is), keeping each group of `group_by` on one side, and save the raw validation pixels for
    evaluation and promotion. Reads the data set's pixels of the validation rows only."""
    ds = files.read_index(layout.dataset)
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
    files.save_arrays(layout.split, train=train, val=val, flagged=flagged)
    files.save_arrays(layout.val_data, X=read_rows(layout.dataset, val)[0], y=ds.y[val])
    get_run_logger().info(f"Split: {len(train)} training and {len(val)} validation images ({how}); "
                          f"{len(flagged)} label-conflicting copies kept out of validation")
    return layout.split


@task(cache_policy=NO_CACHE)
def fit_normalization(layout: RunLayout, mode: str, views: Sequence[str] = ("raw",),
                      plan: TrainingData | None = None) -> Path:
    """Fit a pixel normaliser on each view of the training split (before augmentation); save them as JSON,
    {view: normaliser}. Streamed (`plan`), over the split's row groups one at a time, never held whole."""
    views = list(dict.fromkeys(views))
    if plan is not None and plan.streamed:
        shape = tuple(files.read_metadata(layout.dataset)["image_shape"])
        fits = {view: T.NormalizerFit(mode) for view in views}
        for X, _ in row_group_parts(layout.dataset, files.load_arrays(layout.split)["train"]):
            for view, fit in fits.items():
                fit.add(apply_view(view, X, shape))
        fitted = {view: fit.result().to_dict() for view, fit in fits.items()}
        how = "a row group at a time"
    else:
        ds = files.read_dataset(layout.dataset)
        X = ds.X[files.load_arrays(layout.split)["train"]]
        fitted = {view: T.fit_normalizer(apply_view(view, X, ds.image_shape), mode).to_dict()
                  for view in views}
        how = "held in memory"
    get_run_logger().info(f"Normalisation: {mode}, fitted on the training split, {how} ({', '.join(fitted)} "
                          "view)")
    return write_bytes(layout.normalizer, (json.dumps(fitted) + "\n").encode("utf-8"))


def read_normalizers(layout: RunLayout) -> dict[str, T.Normalizer]:
    """The normaliser of each view, as `fit_normalization` saved them."""
    saved = json.loads(layout.normalizer.read_text(encoding="utf-8"))
    return {view: T.Normalizer.from_dict(d) for view, d in saved.items()}


@task(cache_policy=NO_CACHE)
def augment_training_set(layout: RunLayout, augment: str, plan: TrainingData | None = None) -> Path:
    """Write the raw training images: as they are for `distort` (the trainer distorts them afresh every
    epoch) and `none`; for `shift`, each also shifted by 1 pixel in four directions. Streamed (`plan`):
    nothing to write (the shuffle stage writes the training file, and distortions are made per batch)."""
    if plan is not None and plan.streamed:
        what = ("every streamed batch is distorted afresh" if augment == "distort" else "off")
        get_run_logger().info(f"Augmentation: {what}; {plan.n_rows} training images, streamed")
        return layout.train_stream
    ds = files.read_dataset(layout.dataset)
    rows = files.load_arrays(layout.split)["train"]
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
    return files.save_arrays(layout.train_data, X=X, y=y)


@task(cache_policy=NO_CACHE)
def shuffle_training_set(layout: RunLayout, shuffle: bool, seed: int,
                         plan: TrainingData | None = None) -> Path:
    """Shuffle the training file's rows in place (atomically), or leave them in class order. Streamed
    (`plan`): write the training rows to data/train.parquet, in a random order by a two-pass bucket shuffle
    (memory: about half the budget's rows), or in class order; the file is left untouched when it already
    holds the same rows in the same order (a resumed run)."""
    if plan is not None and plan.streamed:
        return _write_training_stream(layout, shuffle, seed, plan)
    if shuffle:
        data = files.load_arrays(layout.train_data)
        X, y = T.shuffle(data["X"], data["y"], rng=stage_rng(seed, "shuffle"))
        files.save_arrays(layout.train_data, X=X, y=y)
    get_run_logger().info("Shuffle: " + ("rows shuffled; the trainer reshuffles every epoch" if shuffle
                                         else "off; the training rows stay in class order every epoch"))
    return layout.train_data


def _write_training_stream(layout: RunLayout, shuffle: bool, seed: int, plan: TrainingData) -> Path:
    for stale in layout.train_stream.parent.glob(f"{SPILL_PREFIX}*"):  # a killed attempt's spill files
        shutil.rmtree(stale)
    parts = row_group_parts(layout.dataset, files.load_arrays(layout.split)["train"])
    if shuffle:
        buckets = n_buckets_for(plan.n_rows, plan.budget_rows)
        parts = bucket_shuffle(parts, buckets, stage_rng(seed, "shuffle"), layout.train_stream.parent,
                               prefix=SPILL_PREFIX)
    new = write_rows(layout.train_stream.with_name(layout.train_stream.name + ".new"), parts,
                     plan.row_group_rows)
    replace_unless_same(new, layout.train_stream)
    get_run_logger().info("Shuffle: " + (f"rows written in random order ({buckets} buckets)" if shuffle else
                                         "off; rows written in class order") + f" to {layout.train_stream}, "
                          "streamed by row groups through each network's shuffle buffer every epoch")
    return layout.train_stream
