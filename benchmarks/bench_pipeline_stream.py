"""The pipeline's training stages streamed (--data-source stream): peak resident memory while the data grows
ten-fold (100k, then 1M synthetic 28x28 images by default).

For each size, in a fresh process (its own peak memory, ru_maxrss), inside a Prefect flow as the main job
runs them: the normalisation stage (fitted a row group at a time), augment, the shuffle stage (the two-pass
bucket shuffle writing data/train.parquet) and the training stage (`train_model`, one epoch of one network
streaming its batches). The validation split is held in memory by design (data/val.npz): it is kept at
--val-rows at every size, so that the figures show the training rows alone. The run folder is laid out as a
split would leave it (dataset.parquet of 10 noisy prototypes in random order, row groups of 4,096 rows,
written once under --dir and reused; split.npz; val.npz). The RSS before the stages is taken after a
two-row training step, with the trainer's own memory loaded.

    python -m benchmarks.bench_pipeline_stream [--sizes 100000,1000000] [--budget-mb 256]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIDE, CLASSES, ROW_GROUP, PART = 28, 10, 4096, 50_000


def synthesize(path: Path, n: int, seed: int = 0) -> Path:
    """An ingest-like data set of n 28x28 images (pixels, label and the metadata the stages read), written a
    part at a time; reused when there."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 200, (CLASSES, SIDE * SIDE), dtype=np.uint8)
    names = [f"c{k}" for k in range(CLASSES)]
    metadata = {"format": 1, "class_names": names, "display_names": names, "image_shape": [SIDE, SIDE]}
    schema = pa.schema([("pixels", pa.list_(pa.uint8(), SIDE * SIDE)), ("label", pa.int64())],
                       metadata={f"mlpflow.{k}": json.dumps(v) for k, v in metadata.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
        for start in range(0, n, PART):
            k = min(PART, n - start)
            y = rng.integers(0, CLASSES, k)
            X = prototypes[y] + rng.integers(0, 56, (k, SIDE * SIDE), dtype=np.uint8)
            pixels = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), pa.uint8()), SIDE * SIDE)
            writer.write_table(pa.Table.from_arrays([pixels, pa.array(y, pa.int64())], schema=schema),
                               row_group_size=ROW_GROUP)
    os.replace(partial, path)
    return path


def rss_mb() -> float:
    """This process's resident memory now, MB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def lay_out_run(dataset: Path, root: Path, val_rows: int):
    """A run folder whose split holds out the data set's last `val_rows` rows: split.npz and val.npz."""
    from flows.store.layout import RunLayout
    from mlp.data import files
    from mlp.data.stream import count_rows, row_group_parts

    layout = RunLayout.at(root)
    layout.split.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(dataset, layout.dataset)
    n = count_rows(dataset)
    train, val = np.arange(n - val_rows), np.arange(n - val_rows, n)
    files.save_arrays(layout.split, train=train, val=val, flagged=np.empty(0, np.int64))
    parts = list(row_group_parts(dataset, val))
    files.save_arrays(layout.val_data, X=np.concatenate([X for X, _ in parts]),
                      y=np.concatenate([y for _, y in parts]))
    return layout


def measure_here(dataset: Path, args: argparse.Namespace) -> dict:
    """The streamed stages on `dataset` in this process; their figures."""
    from flows import environment

    environment.apply()
    from prefect import flow

    from flows.pipeline.params import PipelineParams
    from flows.pipeline.preparation import augment_training_set, fit_normalization, shuffle_training_set
    from flows.pipeline.streaming import plan_training_data
    from flows.pipeline.training import train_model
    from mlp import MLP, TrainConfig, Trainer

    params = PipelineParams(members=("raw",), hidden=(args.hidden,), epochs=1, batch_size=args.batch_size,
                            augment=args.augment, data_source="stream", memory_budget_mb=args.budget_mb)

    @flow(name="bench-pipeline-stream")
    def stages(root: Path) -> dict:
        layout = lay_out_run(dataset, root, args.val_rows)
        Trainer(TrainConfig(epochs=1, optimizer=params.optimizer, progress=False)).fit(
            MLP([SIDE * SIDE, args.hidden, CLASSES]), np.zeros((2, SIDE * SIDE), np.float32),
            np.zeros(2, np.int64))
        baseline = rss_mb()
        plan = plan_training_data(layout, params)
        seconds = {}
        for name, stage in [
            ("normalisation", lambda: fit_normalization(layout, params.normalization, params.members, plan)),
            ("augment", lambda: augment_training_set(layout, params.augment, plan)),
            ("shuffle", lambda: shuffle_training_set(layout, params.shuffle, params.seed, plan)),
            ("train", lambda: train_model(layout, params, str(dataset))),
        ]:
            started = time.perf_counter()
            stage()
            seconds[name] = time.perf_counter() - started
        return {"rows": plan.n_rows, "buffer_rows": plan.buffer_rows, "baseline_rss_mb": baseline,
                "seconds": seconds}

    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        result = stages(Path(folder) / "run")
    return {**result, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(dataset: Path, args: argparse.Namespace) -> dict:
    """The stages in a fresh process (its own peak memory), one BLAS thread."""
    out = args.dir / "result.json"
    command = [sys.executable, "-m", "benchmarks.bench_pipeline_stream", "--measure", str(dataset),
               "--out", str(out), "--budget-mb", str(args.budget_mb), "--hidden", str(args.hidden),
               "--batch-size", str(args.batch_size), "--augment", args.augment, "--val-rows",
               str(args.val_rows), "--dir", str(args.dir)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run(command, check=True, env=env, cwd=Path(__file__).resolve().parents[1],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(out.read_text())


def main(args: argparse.Namespace) -> None:
    args.dir.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = [measure(synthesize(args.dir / f"dataset-{n}.parquet", n + args.val_rows), args) for n in sizes]
    print(f"Streamed stages, one network MLP [784, {args.hidden}, 10], batch {args.batch_size}, augment "
          f"{args.augment}, one epoch, one BLAS thread; --memory-budget-mb {args.budget_mb:g}; validation "
          f"{args.val_rows:,} rows in memory\n")
    print("| training rows | buffer rows | peak RSS MB | RSS before MB | normalisation s | shuffle s | "
          "train s (1 epoch) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        s = r["seconds"]
        print(f"| {r['rows']:,} | {r['buffer_rows']:,} | {r['peak_rss_mb']:.0f} | "
              f"{r['baseline_rss_mb']:.0f} | {s['normalisation']:.1f} | {s['shuffle']:.1f} | "
              f"{s['train']:.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="training rows of each synthetic data set")
    parser.add_argument("--budget-mb", type=float, default=256.0, help="--memory-budget-mb of the run")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per step")
    parser.add_argument("--augment", choices=("none", "distort"), default="none",
                        help="--augment of the run")
    parser.add_argument("--val-rows", type=int, default=2000, help="validation rows, the same at every size")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mlpflow-bench-pipeline-stream"),
                        help="where the synthetic data sets are written (and reused) and the runs made")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one measurement, in this process
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        arguments.out.write_text(json.dumps(measure_here(arguments.measure, arguments)))
    else:
        main(arguments)
