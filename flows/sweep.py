"""Compare training configurations on one data set and one split: the seed design's experiments, as a flow.

    python flows/sweep.py [--configs one-change,seed-ladder,raw-only,...] [pipeline flags: --group-by stem]

The pipeline flags (see ``python flows/full_pipeline.py --help``) set the base configuration; each entry of
VARIANTS changes it (one thing, or the seed design's configurations, see EXPERIMENTS.md), and STUDIES names
groups of them. The data is ingested, checked and split once; every configuration then runs the main
pipeline's own tasks (normalisation, augment, shuffle, train, evaluate) in its own folder, concurrently
through a ThreadPoolTaskRunner. Output: ``<output>/sweeps/<name>/`` with ``shared/`` (data set, split,
validation set), one folder per configuration (checkpoints, history, metrics), ``comparison.csv``,
``comparison.md``, ``curves.png`` (every configuration's validation curves overlaid) and the table artifact
``sweep-comparison``. The last line printed is the best configuration and the path of comparison.md.
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
from flows.figures import overlay_png
from flows.layout import RunLayout
from flows.markup import Heading, Table, to_markdown
from flows.params import PipelineParams, parse_args
from flows.records import read_history_csv
from flows.runs import DataSource, claim_folder, make_run_name, record_run, slug
from flows.settings import blas_threads, training_blas_threads
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
WORKERS = 2  # configurations trained at once
# The seed design's configuration (EXPERIMENTS.md): one hidden layer of 500 ReLU units, Adam at a constant
# 1e-3, 30 epochs of batch 64, pixels / 255, no shuffling, dropout, label smoothing or augmentation; then its
# ladder. Every field it names is pinned, so the base's other values cannot leak into it.
SEED_DESIGN: dict[str, Any] = {
    "members": ("raw",), "hidden": (500,), "activation": "relu", "optimizer": "adam", "lr": 1e-3,
    "batch_size": 64, "schedule": "constant", "warmup_epochs": 0,
    "epochs": 30, "normalization": "unit", "shuffle": False, "dropout": 0.0, "label_smoothing": 0.0,
    "augment": "none", "test_time": "none",
}
SEED_NORMALISED = SEED_DESIGN | {"shuffle": True, "normalization": "per_pixel", "dropout": 0.2}
# The first edition's default: the seed's normalised net with cosine decay, label smoothing and shifts.
FIRST_EDITION = SEED_NORMALISED | {"schedule": "cosine", "label_smoothing": 0.1, "augment": "shift"}

# name -> the changes it makes to the base parameters
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "hidden-100": {"hidden": (100,)},
    "hidden-512-256": {"hidden": (512, 256)},
    "batch-16": {"batch_size": 16},
    "batch-256": {"batch_size": 256},
    "no-normalisation": {"normalization": "unit"},  # pixels / 255 only, not standardised
    "no-dropout": {"dropout": 0.0},
    "no-augment": {"augment": "none"},
    "shift-augment": {"augment": "shift"},  # the seed design's one-pixel shifts, made once
    "no-shuffle": {"shuffle": False},
    "raw-only": {"members": ("raw",)},
    "framed-only": {"members": ("framed",)},
    "four-networks": {"members": ("raw", "framed", "raw", "framed")},
    "elastic": {"distort_elastic": 34.0},  # Simard's elastic distortions on top of the affine ones
    "no-test-time": {"test_time": "none"},  # predict each image as drawn only
    "seed-plain": SEED_DESIGN,
    "seed-shuffle": SEED_DESIGN | {"shuffle": True},
    "seed-normalised": SEED_NORMALISED,
    "seed-batch-full": SEED_NORMALISED | {"batch_size": 1_000_000},  # clipped to the training set
    "seed-batch-16": SEED_NORMALISED | {"batch_size": 16},
    "seed-batch-8": SEED_NORMALISED | {"batch_size": 8},
    "seed-batch-1": SEED_NORMALISED | {"batch_size": 1},
    "seed-256": SEED_NORMALISED | {"hidden": (256,)},
    "seed-64": SEED_NORMALISED | {"hidden": (64,)},
    "seed-128-128": SEED_NORMALISED | {"hidden": (128, 128)},
    "seed-512-512": SEED_NORMALISED | {"hidden": (512, 512)},
    "seed-512-512-512": SEED_NORMALISED | {"hidden": (512, 512, 512)},
    "first-edition": FIRST_EDITION,
    "first-edition-distorted": FIRST_EDITION | {"augment": "distort"},
    "first-edition-distorted-100": FIRST_EDITION | {"augment": "distort", "epochs": 100},
    "new-network": {"members": ("raw",), "test_time": "none"},  # the default's network alone, as drawn
}
# Variants made of several changes, described in words (the others list their changes).
DESCRIPTIONS = {
    "seed-plain": "the seed design: one hidden layer of 500, Adam 1e-3 constant, batch 64, 30 epochs, "
                  "pixels/255, no shuffle, dropout, label smoothing or augmentation",
    "seed-shuffle": "seed-plain + shuffled every epoch",
    "seed-normalised": "seed-shuffle + per-pixel standardisation and dropout 0.2",
    "seed-batch-full": "seed-normalised, full batch",
    **{f"seed-batch-{n}": f"seed-normalised, batch {n}" for n in (16, 8, 1)},
    **{f"seed-{h}": f"seed-normalised, hidden {h.replace('-', ',')}"
       for h in ("256", "64", "128-128", "512-512", "512-512-512")},
    "first-edition": "the first edition's default: seed-normalised + cosine decay, label smoothing 0.1, "
                     "one-pixel shifts",
    "first-edition-distorted": "first-edition with fresh random distortions every epoch instead of shifts",
    "first-edition-distorted-100": "first-edition-distorted for 100 epochs",
    "new-network": "the default's network alone ([n, 1024, 512, n], AdamW with warm-up) on the raw view, "
                   "each image predicted as drawn",
    "no-test-time": "the default's two networks, each image predicted as drawn only",
}
# Named groups of variants, accepted by --configs beside single names.
STUDIES: dict[str, tuple[str, ...]] = {
    "one-change": ("default", "hidden-100", "hidden-512-256", "batch-16", "batch-256", "no-normalisation",
                   "no-dropout", "no-augment", "shift-augment", "no-shuffle", "raw-only", "framed-only",
                   "four-networks", "elastic", "no-test-time"),
    "seed-ladder": ("seed-plain", "seed-shuffle", "seed-normalised", "seed-batch-full", "seed-batch-16",
                    "seed-batch-8", "seed-batch-1"),
    "seed-architectures": ("seed-256", "seed-64", "seed-128-128", "seed-512-512", "seed-512-512-512"),
    "additions": ("first-edition", "first-edition-distorted", "first-edition-distorted-100", "new-network",
                  "no-test-time", "default"),
}
COLUMNS = ("config", "changes", "val_accuracy", "val_loss", "best_epochs", "train_images", "seconds")


def expand(names: Sequence[str]) -> list[str]:
    """Variant names with each study name replaced by its variants, each variant once, in order."""
    return list(dict.fromkeys(v for n in names for v in STUDIES.get(n, (n,))))


def configurations(base: PipelineParams, names: Sequence[str] | None = None) -> dict[str, PipelineParams]:
    """The parameters of each named variant or study (default: the `one-change` study) in the order given,
    validated. An unknown name raises ValueError listing the valid ones."""
    names = expand(STUDIES["one-change"] if names is None else names)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise ValueError(f"unknown sweep configurations {unknown}; valid: {', '.join(STUDIES)} (studies), "
                         f"{', '.join(VARIANTS)}")
    fields = base.model_dump()
    return {n: PipelineParams(**(fields | VARIANTS[n])) for n in names}


def describe_changes(name: str) -> str:
    """The variant in words: its description, or its changes, e.g. ``hidden=512,256``; ``base`` for none."""
    if name in DESCRIPTIONS:
        return DESCRIPTIONS[name]
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
    shown = [[r["config"], r["changes"], f"{100 * r['val_accuracy']:.2f}%", r["val_loss"], r["best_epochs"],
              r["train_images"], r["seconds"]] for r in rows]
    headers = ["config", "changes", "validation accuracy", "validation cross-entropy", "best epochs",
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
    fit_normalization(layout, params.normalization, params.members)
    augment_training_set(layout, params.augment)
    shuffle_training_set(layout, params.shuffle, params.seed)
    train_model(layout, params, str(source.root), share_cores=False)
    evaluation: Evaluation = evaluate_model(layout)
    seconds = time.perf_counter() - started
    get_run_logger().info(f"{name}: validation accuracy {evaluation.accuracy:.2%} in {seconds:.1f} s")
    n_train = len(io.load_arrays(layout.train_data)["y"])
    return {"config": name, "changes": describe_changes(name), "val_accuracy": evaluation.accuracy,
            "val_loss": evaluation.loss, "best_epochs": " ".join(map(str, evaluation.best_epochs)),
            "train_images": n_train, "seconds": round(seconds, 2)}


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """The sweep's folder, its comparison files and rows (best first)."""

    root: Path
    csv: Path
    markdown: Path
    rows: list[dict[str, Any]]


@flow(name="sweep", flow_run_name=flow_run_name, task_runner=ThreadPoolTaskRunner(max_workers=WORKERS))
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
    split_data(shared, params.val_fraction, params.seed, params.group_by)
    # The BLAS threads are set once for all configurations: each of the networks training at once gets its
    # share of the cores (settings.training_blas_threads); threads changing them per task would race.
    threads = training_blas_threads(WORKERS * max(len(p.members) for p in chosen.values()))
    with blas_threads(threads):
        futures = [run_configuration.submit(name, config_layout(shared, root / slug(name)), p, source)
                   for name, p in chosen.items()]
        rows = ranked([future.result() for future in futures])
    title = f"Sweep {root.name}: {len(rows)} configurations on one split"
    csv_path = write_bytes(root / "comparison.csv", comparison_csv(rows).encode("utf-8"))
    md_path = write_bytes(root / "comparison.md", comparison_markdown(rows, title).encode("utf-8"))
    curves = {name: read_history_csv(RunLayout.at(root / slug(name)).history) for name in chosen}
    write_bytes(root / "curves.png", overlay_png(curves))
    create_table_artifact(rows, key=SWEEP_COMPARISON, description=title)
    get_run_logger().info(f"Comparison: {md_path}")
    return SweepResult(root, csv_path, md_path, rows)


def main(argv: Sequence[str] | None = None) -> SweepResult:
    """The command line: --configs, then any pipeline flag; prints the best configuration and the table."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="one-change", metavar="NAME[,NAME...]",
                        help="configurations or studies to train (default: one-change); studies: "
                        + "; ".join(f"{k}: {', '.join(v)}" for k, v in STUDIES.items()))
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
