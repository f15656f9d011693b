"""The main job as a Prefect flow: folders of class-labelled BMP images to a trained MLP, its checkpoints and
a report. Run it with ``python flows/full_pipeline.py`` or ``mlpflow run`` (`flows.cli`).

Stages, each a Prefect task passing file paths: data → ingest → quality report → split → normalisation →
augment → shuffle → train → evaluate → promotion (against the champion) → report, then `latest`, the run's
row in the history of runs and retention (`flows.store.retention`: old runs and versions go). The training
rows are held in memory or, with --data-source stream (or auto above --memory-budget-mb), streamed from
Parquet by the normalisation, shuffle and training stages (`flows.pipeline.streaming`).
Everything lands in ``<output-dir>/runs/<run-name>/`` (see `flows.store.layout`), whose state.json says
running, completed or failed (`flows.store.run_state`); ``<output-dir>/latest`` points at the newest complete
run; each data folder has its own champion,
``<output-dir>/models/<key>/champion`` (see `flows.store.champion`). A failed run gets its row too
(``<output-dir>/history/runs.parquet``, listed in ``<output-dir>/index.html``), then fails. A run whose
training diverged (`mlp.train.Diverged`) is evaluated and reported from the epochs that finished, the
divergence named in the report, never promoted nor made `latest`, then fails the same way. An incomplete run
(killed, or failed) continues with ``resume``: the data stages again (the same files from the same data and
seed), then each network from its last checkpoint, to the weights an uninterrupted run would have.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.pipeline.bookkeeping import RunEntry, apply_retention, complete_run, record_in_history, tracked
from flows.pipeline.evaluation import evaluate_model
from flows.pipeline.params import PipelineParams
from flows.pipeline.preparation import (
    augment_training_set,
    check_quality,
    fit_normalization,
    flow_run_name,
    ingest_images,
    prepare_data,
    reopen_run,
    shuffle_training_set,
    split_data,
    start_run,
)
from flows.pipeline.promotion import mark_latest, promote
from flows.pipeline.reporting import write_run_report
from flows.pipeline.streaming import plan_training_data
from flows.pipeline.training import describe_divergence, train_model
from flows.store.layout import RunLayout, make_run_name
from mlp.train import Diverged

DEFAULTS = PipelineParams()


@dataclass
class StageTimer:
    """Wall time of named stages, in the order they ran: ``with timer("train"): ...``."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started


@dataclass(frozen=True)
class PipelineResult:
    """What a run produced: its files, report, the best checkpoint's validation accuracy and cross-entropy
    (without label smoothing), the promotion decision, and the wall time of each stage; `entered` is
    `time.perf_counter()` when the flow body began."""

    layout: RunLayout
    report: Path
    val_accuracy: float
    val_loss: float
    best_epochs: tuple[int, ...]
    promoted: bool
    stage_seconds: dict[str, float]
    entered: float


def train_or_diverge(layout: RunLayout, params: PipelineParams, data_source: str) -> Diverged | None:
    """Train; when a network diverged after every network finished an epoch (the ensemble of those is
    saved), the divergence to report, else None. Any other failure, or a divergence before that, raises."""
    try:
        train_model.with_options(retries=params.train_retries)(layout, params, data_source)
    except Diverged as error:
        if not layout.best.is_file():
            raise
        return error
    return None


@flow(name="full-pipeline", flow_run_name=flow_run_name)
def full_pipeline(params: PipelineParams = DEFAULTS, resume: str | None = None) -> PipelineResult:
    """Train an MLP on folders of BMP images and write its checkpoints, report and artifacts. `resume`: the
    name of an incomplete run of `params.output_dir` to continue instead (`params` must be its own, as
    `python flows/full_pipeline.py --resume` reads them from its params.json)."""
    entered = time.perf_counter()
    params = params.model_copy(update={"output_dir": params.output_dir.resolve()})  # logs show full paths
    timer, entry = StageTimer(), RunEntry.begin(params)
    try:  # a failed run is recorded too, then fails as it would have
        with timer("data"):
            source = prepare_data(params.data_dir)
            layout = (reopen_run(params.output_dir, resume) if resume else
                      start_run(params, source, flow_run.name or make_run_name(source.name)))
        entry = entry.at(layout, source)
        with tracked(layout, params.output_dir, resuming=bool(resume)):  # running, then completed or failed
            with timer("ingest"):
                ingest = ingest_images(source, layout, params.output_dir, params.ingest_workers)
            with timer("quality report"):
                check_quality(layout, ingest)
            with timer("split"):
                split_data(layout, params.val_fraction, params.seed, params.group_by)
            plan = plan_training_data(layout, params)  # the training rows in memory, or streamed
            with timer("normalisation"):
                fit_normalization(layout, params.normalization, params.members, plan)
            with timer("augment"):
                augment_training_set(layout, params.augment, plan)
            with timer("shuffle"):
                shuffle_training_set(layout, params.shuffle, params.seed, plan)
            with timer("train"):
                diverged = train_or_diverge(layout, params, str(source.root))
            with timer("evaluate"):
                evaluation = evaluate_model(layout)
            if diverged is not None:  # reported from the finished epochs; never promoted nor latest; it fails
                with timer("report"):
                    divergence = describe_divergence(diverged)
                    write_run_report(layout, source, ingest, dict(timer.seconds), divergence=divergence)
                raise diverged
            with timer("promotion"):
                promotion = promote(layout, source, params)
            with timer("report"):
                report = write_run_report(layout, source, ingest, dict(timer.seconds), promotion)
            complete_run(layout)
            mark_latest(params.output_dir, layout)
    except Exception as error:
        try:
            record_in_history(entry.failed(error), params.output_dir)
        except OSError as unrecorded:  # the disk that failed the run may refuse its row: its error goes on
            get_run_logger().error(f"The failed run's row could not be written to the history: {unrecorded}")
        raise
    with timer("history"):
        record_in_history(entry.completed(evaluation, promotion, report), params.output_dir)
    with timer("retention"):  # housekeeping, last: a failure is logged, the run stays complete
        apply_retention(params.output_dir, params.keep_runs, layout)
    return PipelineResult(layout, report, evaluation.accuracy, evaluation.loss, evaluation.best_epochs,
                          promotion.promoted, dict(timer.seconds), entered)
