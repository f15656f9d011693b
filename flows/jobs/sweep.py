"""Compare training configurations on one data set and one split: the seed design's experiments, as a flow
(`mlpflow sweep`, ``python flows/sweep.py``).

The pipeline's parameters set the base configuration; each variant (`flows.pipeline.variants`) changes it,
and studies name groups of them. The data is ingested, checked and split once; every configuration then runs
the main pipeline's own tasks (normalisation, augment, shuffle, train, evaluate) in its own folder,
concurrently: two at a time in threads (the flow `sweep`), or on Dask workers (`run_sweep(..., "dask",
address)`, `flows.pipeline.runners`), each task given paths and returning its comparison row. Output:
``<output>/sweeps/<name>/`` with ``shared/`` (data set, split, validation set), one folder per configuration
(checkpoints, history, metrics), ``comparison.csv``, ``comparison.md``, ``curves.png`` (every
configuration's validation curves overlaid) and the table artifact ``sweep-comparison``. The last line
printed is the best configuration and the path of comparison.md.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.environment import blas_threads, training_blas_threads
from flows.pipeline.evaluation import Evaluation, evaluate_model
from flows.pipeline.params import PipelineParams
from flows.pipeline.preparation import (
    augment_training_set,
    check_quality,
    fit_normalization,
    flow_run_name,
    ingest_images,
    prepare_data,
    shuffle_training_set,
    split_data,
)
from flows.pipeline.runners import api_for_workers, task_runner
from flows.pipeline.sources import DataSource
from flows.pipeline.streaming import n_training_rows, plan_training_data
from flows.pipeline.training import train_model
from flows.pipeline.variants import configurations, describe_changes
from flows.report.content import percent
from flows.report.figures import overlay_png
from flows.report.render import render_template
from flows.report.table import Table
from flows.store.history import read_history_csv
from flows.store.layout import RunLayout, make_run_name, slug, sweeps_dir
from flows.store.runs import claim_folder, record_run
from flows.store.tables import write_csv
from mlp.atomic import write_bytes

DEFAULTS = PipelineParams()
SWEEP_COMPARISON = "sweep-comparison"  # the table artifact's key
WORKERS = 2  # configurations trained at once
# checkpoint: the configuration's ensemble, relative to the sweep's folder (e.g. default/checkpoints/best.npz)
COLUMNS = ("config", "changes", "val_accuracy", "val_loss", "best_epochs", "train_images", "checkpoint",
           "seconds")


def ranked(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The comparison rows best first: highest validation accuracy, then lowest validation loss."""
    return sorted((dict(r) for r in rows), key=lambda r: (-r["val_accuracy"], r["val_loss"]))


def comparison_markdown(rows: Sequence[Mapping[str, Any]], title: str) -> str:
    """comparison.md: the rows as a Markdown table under a heading, accuracy in percent."""
    shown = [[r["config"], r["changes"], percent(r["val_accuracy"]), r["val_loss"], r["best_epochs"],
              r["train_images"], r["checkpoint"], r["seconds"]] for r in rows]
    headers = ["config", "changes", "validation accuracy", "validation cross-entropy", "best epochs",
               "training images", "checkpoint", "seconds"]
    return render_template("comparison.md.j2", title=title, table=Table(headers, shown))


@task(cache_policy=NO_CACHE)
def run_configuration(name: str, layout: RunLayout, params: PipelineParams, source: DataSource) -> dict:
    """Normalise, augment, shuffle, train and evaluate one configuration; its comparison row. It reads and
    writes files only (its layout's absolute paths), so it runs on a Dask worker as in a thread."""
    started = time.perf_counter()
    layout.root.mkdir(parents=True, exist_ok=True)
    record_run(layout, params.model_dump(mode="json"), source.record())
    plan = plan_training_data(layout, params)  # the training rows in memory, or streamed
    fit_normalization(layout, params.normalization, params.members, plan)
    augment_training_set(layout, params.augment, plan)
    shuffle_training_set(layout, params.shuffle, params.seed, plan)
    train_model(layout, params, str(source.root), share_cores=False)
    evaluation: Evaluation = evaluate_model(layout)
    seconds = time.perf_counter() - started
    get_run_logger().info(f"{name}: validation accuracy {evaluation.accuracy:.2%} in {seconds:.1f} s")
    n_train = n_training_rows(layout)
    return {"config": name, "changes": describe_changes(name), "val_accuracy": evaluation.accuracy,
            "val_loss": evaluation.loss, "best_epochs": " ".join(map(str, evaluation.best_epochs)),
            "train_images": n_train, "checkpoint": layout.best.relative_to(layout.root.parent).as_posix(),
            "seconds": round(seconds, 2)}


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """The sweep's folder, its comparison files and rows (best first)."""

    root: Path
    csv: Path
    markdown: Path
    rows: list[dict[str, Any]]


@flow(name="sweep", flow_run_name=flow_run_name, task_runner=task_runner("threads", None, WORKERS))
def sweep(params: PipelineParams = DEFAULTS, configs: list[str] | None = None) -> SweepResult:
    """Train each configuration on the same split, concurrently, and publish one comparison table."""
    chosen = configurations(params, configs)
    params = params.model_copy(update={"output_dir": params.output_dir.resolve()})
    source = prepare_data(params.data_dir)
    root = claim_folder(sweeps_dir(params.output_dir), flow_run.name or make_run_name(source.name))
    shared = RunLayout.at(root / "shared")
    shared.root.mkdir()
    ingest = ingest_images(source, shared, params.output_dir, params.ingest_workers)
    check_quality(shared, ingest)
    split_data(shared, params.val_fraction, params.seed, params.group_by)
    # The BLAS threads are set once for all configurations: each of the networks training at once gets its
    # share of the cores (environment.training_blas_threads); threads changing them per task would race.
    # (Dask workers are processes of their own: a LocalCluster's get theirs in their environment.)
    threads = training_blas_threads(WORKERS * max(len(p.members) for p in chosen.values()))
    with blas_threads(threads):
        layouts = {name: RunLayout.at(root / slug(name)).sharing_data_of(shared) for name in chosen}
        futures = [run_configuration.submit(name, layouts[name], p, source) for name, p in chosen.items()]
        rows = ranked([future.result() for future in futures])
    title = f"Sweep {root.name}: {len(rows)} configurations on one split"
    csv_path = write_csv(root / "comparison.csv", rows, COLUMNS)
    md_path = write_bytes(root / "comparison.md", comparison_markdown(rows, title).encode("utf-8"))
    curves = {name: read_history_csv(layouts[name].history) for name in chosen}
    write_bytes(root / "curves.png", overlay_png(curves))
    create_table_artifact(rows, key=SWEEP_COMPARISON, description=title)
    get_run_logger().info(f"Comparison: {md_path}")
    return SweepResult(root, csv_path, md_path, rows)


def sweep_on(runner: str = "threads", address: str | None = None) -> Any:
    """The sweep flow on `runner` (`flows.pipeline.runners.RUNNERS`): threads, or Dask workers of the
    scheduler at `address`, else of a LocalCluster of WORKERS processes started for the run. `run_sweep`
    calls it so that Dask workers report to this process's Prefect API."""
    if runner == "threads" and address is None:
        return sweep
    return sweep.with_options(task_runner=task_runner(runner, address, WORKERS))


def run_sweep(params: PipelineParams = DEFAULTS, configs: list[str] | None = None, runner: str = "threads",
              address: str | None = None) -> SweepResult:
    """The sweep on `runner` (`sweep_on`), its Dask workers reporting to this process's Prefect API."""
    chosen = sweep_on(runner, address)
    with api_for_workers(runner):
        return chosen(params, configs)
