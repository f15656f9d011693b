"""The main job: folders of class-labelled BMP images to a trained MLP, its checkpoints and a report.

    python flows/full_pipeline.py [--data-dir DIR] [--hidden 512,256] [--epochs 30] ...   (--help for all)

Stages, each a Prefect task passing file paths: data → ingest → quality report → split → normalisation →
augment → shuffle → train → evaluate → report, then `latest` and the champion promotion. Everything lands in
``<output-dir>/runs/<run-name>/`` (see `flows.layout.RunLayout`); ``<output-dir>/latest`` points at the
newest complete run; each data folder has its own champion, ``<output-dir>/models/<key>/champion`` (see
`flows.champion`). Without a server, Prefect runs in its local ephemeral mode (settings in `flows.settings`).
The last line printed is the validation accuracy and the path of report.html.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROCESS_STARTED = time.perf_counter()

import flows  # noqa: E402, F401  (applies mlpflow's environment: first, before NumPy and Prefect load)

# isort: split
from prefect import flow  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from flows.layout import RunLayout  # noqa: E402
from flows.params import PipelineParams, parse_args  # noqa: E402
from flows.runs import StageTimer, make_run_name  # noqa: E402
from flows.tasks import (  # noqa: E402
    augment_training_set,
    check_quality,
    describe_epochs,
    evaluate_model,
    fit_normalization,
    flow_run_name,
    ingest_images,
    mark_latest,
    prepare_data,
    promote,
    shuffle_training_set,
    split_data,
    start_run,
    train_model,
    write_run_report,
)

DEFAULTS = PipelineParams()
PROG = "python flows/full_pipeline.py"


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


@flow(name="full-pipeline", flow_run_name=flow_run_name)
def full_pipeline(params: PipelineParams = DEFAULTS) -> PipelineResult:
    """Train an MLP on folders of BMP images and write its checkpoints, report and artifacts."""
    entered = time.perf_counter()
    params = params.model_copy(update={"output_dir": params.output_dir.resolve()})  # logs show full paths
    timer = StageTimer()
    with timer("data"):
        source = prepare_data(params.data_dir)
        layout = start_run(params, source, flow_run.name or make_run_name(source.name))
    with timer("ingest"):
        ingest = ingest_images(source, layout, params.output_dir)
    with timer("quality report"):
        check_quality(layout, ingest)
    with timer("split"):
        split_data(layout, params.val_fraction, params.seed, params.group_by)
    with timer("normalisation"):
        fit_normalization(layout, params.normalization, params.members)
    with timer("augment"):
        augment_training_set(layout, params.augment)
    with timer("shuffle"):
        shuffle_training_set(layout, params.shuffle, params.seed)
    with timer("train"):
        train_model(layout, params, str(source.root))
    with timer("evaluate"):
        evaluation = evaluate_model(layout)
    with timer("report"):
        report = write_run_report(layout, source, ingest, dict(timer.seconds))
    mark_latest(params.output_dir, layout)
    with timer("promotion"):
        promotion = promote(layout, source, params.output_dir)
    return PipelineResult(layout, report, evaluation.accuracy, evaluation.loss, evaluation.best_epochs,
                          promotion.promoted, dict(timer.seconds), entered)


def main(argv: Sequence[str] | None = None) -> PipelineResult:
    """The command line: parse and check the flags (a bad one ends with a one-line error), run the flow,
    print the time taken and, last, the validation accuracy and where the report is."""
    params = parse_args(argv, prog=PROG)
    called = time.perf_counter()
    result = full_pipeline(params)
    ended = time.perf_counter()
    stages = sum(result.stage_seconds.values())
    print(f"Finished in {ended - PROCESS_STARTED:.1f} s: imports {called - PROCESS_STARTED:.1f} s, Prefect "
          f"start-up {result.entered - called:.1f} s, stages {stages:.1f} s "
          f"({', '.join(f'{k} {v:.1f}' for k, v in result.stage_seconds.items())}).")
    print(f"Validation accuracy {result.val_accuracy:.2%} ({describe_epochs(result.best_epochs)}); "
          f"report: {result.report}")
    return result


if __name__ == "__main__":
    main()
