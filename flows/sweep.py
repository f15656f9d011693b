"""Compare training configurations on one data set and one split: the seed design's experiments, as a flow.

    python flows/sweep.py [--configs default,no-augment,...] [pipeline flags, e.g. --data-dir DIR --epochs 10]

The pipeline flags (see ``python flows/full_pipeline.py --help``) set the base configuration; each entry of
VARIANTS changes one thing in it (architecture, batch size, normalisation, dropout, augmentation,
shuffling). The data is ingested, checked and split once; every configuration then runs the main pipeline's
own tasks (normalisation, augment, shuffle, train, evaluate) in its own folder, concurrently through a
ThreadPoolTaskRunner. Output: ``<output>/sweeps/<name>/`` with ``shared/`` (data set, split, validation
set), one folder per configuration (checkpoints, history, metrics), ``comparison.csv`` and
``comparison.md``, and the table artifact ``sweep-comparison``. The last line printed is the best
configuration and the path of comparison.md.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io as text_io
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import flows  # noqa: F401  (applies mlpflow's environment, e.g. one BLAS thread per configuration: first)

# isort: split
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.evaluation import Evaluation
from flows.layout import RunLayout
from flows.markup import Heading, Table, to_markdown
from flows.params import PipelineParams, parse_args
from flows.runs import DataSource, claim_folder, make_run_name, record_run, slug
from flows.tasks import (
    augment_training_set,
    check_quality,
    evaluate_model,
    fit_normalization,
    flow_run_name,
    ingest_images,
    prepare_data,
    shuffle_training_set,
    split_data,
    train_model,
)
from mlp.atomic import write_bytes
from mlp.data import io

DEFAULTS = PipelineParams()
SWEEP_COMPARISON = "sweep-comparison"  # the table artifact's key
PROG = "python flows/sweep.py"
# name -> the changes it makes to the base parameters
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "hidden-100": {"hidden": (100,)},
    "hidden-512-256": {"hidden": (512, 256)},
    "batch-16": {"batch_size": 16},
    "batch-256": {"batch_size": 256},
    "no-normalisation": {"normalization": "unit"},  # pixels / 255 only, not standardised
    "no-dropout": {"dropout": 0.0},
    "no-augment": {"augment": False},
    "no-shuffle": {"shuffle": False},
}
COLUMNS = ("config", "changes", "val_accuracy", "val_loss", "best_epoch", "train_images", "seconds")


def configurations(base: PipelineParams, names: Sequence[str] | None = None) -> dict[str, PipelineParams]:
    """The parameters of each named variant (default: all of VARIANTS), in VARIANTS order, validated.

    An unknown name raises ValueError listing the valid ones."""
    names = list(VARIANTS) if names is None else list(names)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise ValueError(f"unknown sweep configurations {unknown}; valid: {', '.join(VARIANTS)}")
    fields = base.model_dump()
    return {n: PipelineParams(**(fields | VARIANTS[n])) for n in VARIANTS if n in names}


def describe_changes(name: str) -> str:
    """The variant's changes in words, e.g. ``hidden=512,256``; ``base`` for none."""
    changes = VARIANTS[name]
    shown = (",".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in changes.values())
    return ", ".join(f"{k}={v}" for k, v in zip(changes, shown, strict=True)) or "base"


def ranked(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The comparison rows best first: highest validation accuracy, then lowest validation loss."""
    return sorted((dict(r) for r in rows), key=lambda r: (-r["val_accuracy"], r["val_loss"]))


def comparison_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as CSV text with COLUMNS."""
    buffer = text_io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def comparison_markdown(rows: Sequence[Mapping[str, Any]], title: str) -> str:
    """The rows as a Markdown table under a heading, accuracy in percent."""
    shown = [[r["config"], r["changes"], f"{100 * r['val_accuracy']:.2f}%", r["val_loss"], r["best_epoch"],
              r["train_images"], r["seconds"]] for r in rows]
    headers = ["config", "changes", "validation accuracy", "validation cross-entropy", "best epoch",
               "training images", "seconds"]
    return to_markdown([Heading(1, title), Table(headers, shown)], {})


def config_layout(shared: RunLayout, root: Path) -> RunLayout:
    """A configuration's files under `root`; the data set, quality report, split and validation set shared."""
    return dataclasses.replace(RunLayout.at(root), dataset=shared.dataset, quality=shared.quality,
                               split=shared.split, val_data=shared.val_data)


@task(cache_policy=NO_CACHE)
def run_configuration(name: str, layout: RunLayout, params: PipelineParams, source: DataSource) -> dict:
    """Normalise, augment, shuffle, train and evaluate one configuration; its comparison row."""
    started = time.perf_counter()
    layout.root.mkdir(parents=True, exist_ok=True)
    record_run(layout, params, source)
    fit_normalization(layout, params.normalization)
    augment_training_set(layout, params.augment)
    shuffle_training_set(layout, params.shuffle, params.seed)
    train_model(layout, params, str(source.root))
    evaluation: Evaluation = evaluate_model(layout)
    seconds = time.perf_counter() - started
    get_run_logger().info(f"{name}: validation accuracy {evaluation.accuracy:.2%} in {seconds:.1f} s")
    n_train = len(io.load_arrays(layout.train_data)["y"])
    return {"config": name, "changes": describe_changes(name), "val_accuracy": evaluation.accuracy,
            "val_loss": evaluation.loss, "best_epoch": evaluation.best_epoch, "train_images": n_train,
            "seconds": round(seconds, 2)}


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """The sweep's folder, its comparison files and rows (best first)."""

    root: Path
    csv: Path
    markdown: Path
    rows: list[dict[str, Any]]


@flow(name="sweep", flow_run_name=flow_run_name, task_runner=ThreadPoolTaskRunner(max_workers=2))
def sweep(params: PipelineParams = DEFAULTS, configs: list[str] | None = None) -> SweepResult:
    """Train each configuration on the same split, concurrently, and publish one comparison table."""
    chosen = configurations(params, configs)
    params = params.model_copy(update={"output_dir": params.output_dir.resolve()})
    source = prepare_data(params.data_dir)
    root = claim_folder(params.output_dir / "sweeps", flow_run.name or make_run_name(source.name))
    shared = RunLayout.at(root / "shared")
    shared.root.mkdir()
    ingest = ingest_images(source, shared, params.output_dir)
    check_quality(shared, ingest)
    split_data(shared, params.val_fraction, params.seed)
    futures = [run_configuration.submit(name, config_layout(shared, root / slug(name)), p, source)
               for name, p in chosen.items()]
    rows = ranked([future.result() for future in futures])
    title = f"Sweep {root.name}: {len(rows)} configurations on one split"
    csv_path = write_bytes(root / "comparison.csv", comparison_csv(rows).encode("utf-8"))
    md_path = write_bytes(root / "comparison.md", comparison_markdown(rows, title).encode("utf-8"))
    create_table_artifact(rows, key=SWEEP_COMPARISON, description=title)
    get_run_logger().info(f"Comparison: {md_path}")
    return SweepResult(root, csv_path, md_path, rows)


def main(argv: Sequence[str] | None = None) -> SweepResult:
    """The command line: --configs, then any pipeline flag; prints the best configuration and the table."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=",".join(VARIANTS), metavar="NAME[,NAME...]",
                        help=f"configurations to train (default: all: {', '.join(VARIANTS)})")
    args, rest = parser.parse_known_args(argv)
    names = [n.strip() for n in args.configs.split(",")]
    try:
        configurations(PipelineParams(), names)
    except ValueError as error:
        parser.error(f"--configs: {error}")
    params = parse_args(rest, prog=f"{PROG} [--configs NAMES]")
    result = sweep(params, names)
    best = result.rows[0]
    print(f"Best: {best['config']} ({best['changes']}), validation accuracy {best['val_accuracy']:.2%}; "
          f"comparison: {result.markdown}")
    return result


if __name__ == "__main__":
    main()
