"""Training larger than memory: one epoch streamed from Parquet (`mlp.data.stream`) against the training set
loaded whole, on synthetic data sets of 28x28 images that grow ten-fold (100k, then 1M rows by default).

Each measurement is one epoch in a fresh process (`--epoch`), so its peak resident memory (ru_maxrss) is that
epoch's alone; the RSS before the data is taken after a two-row step, with the trainer's own memory loaded.
The epoch: an MLP [784, --hidden, 10], batch --batch-size, Adam, one BLAS thread, no validation. In memory:
the Parquet table read whole, its pixels normalised to float32, then the epoch (the samples/s count the
epoch only; the load is shown apart). Streamed: a ParquetBatches with the shuffle buffer of --budget-mb
(`budget_rows`), each batch normalised as it comes; the samples/s count the reading too. The data sets are
written once under --dir (rows in random order, row groups of 4,096 rows, zstd) and reused. Figures: the
median of --repeat interleaved runs, with the range (min-max).

    python -m benchmarks.bench_stream [--sizes 100000,1000000] [--repeat 3] [--budget-mb 256]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mlp.data.stream import budget_rows, choose, write_rows

SIDE, CLASSES, ROW_GROUP = 28, 10, 4096
PART = 50_000  # rows generated and written at a time


def synthesize(path: Path, n: int, seed: int = 0) -> Path:
    """n 28x28 images of 10 noisy prototypes in random order, written a part at a time (reused if there)."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 200, (CLASSES, SIDE * SIDE), dtype=np.uint8)

    def parts():
        for start in range(0, n, PART):
            k = min(PART, n - start)
            y = rng.integers(0, CLASSES, k)
            yield prototypes[y] + rng.integers(0, 56, (k, SIDE * SIDE), dtype=np.uint8), y

    return write_rows(path, parts(), ROW_GROUP)


def rss_mb() -> float:
    """This process's resident memory now, MB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def normalise(X: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Pixels to float32 around 0, as a per-batch transform."""
    return (X.astype(np.float32) - 128.0) / 64.0


def one_epoch(mode: str, data: Path, hidden: int, batch_size: int, budget_mb: float) -> dict:
    """Train one epoch from `data` in `mode` (memory or stream) in this process; its figures."""
    import pyarrow.parquet as pq

    from mlp import MLP, TrainConfig, Trainer
    from mlp.data.files import pixel_rows
    from mlp.data.stream import ParquetBatches

    model = MLP([SIDE * SIDE, hidden, CLASSES], seed=0)
    config = TrainConfig(epochs=1, batch_size=batch_size, optimizer="adam", seed=0, progress=False)
    # A step on two rows first, so that the baseline holds the trainer's own memory (numba's compiled Adam
    # is ~120 MB of it) and the peak's excess is the data's.
    Trainer(config).fit(MLP([SIDE * SIDE, hidden, CLASSES]), np.zeros((2, SIDE * SIDE), np.float32),
                        np.zeros(2, np.int64))
    baseline = rss_mb()
    load = 0.0
    started = time.perf_counter()
    if mode == "memory":
        table = pq.read_table(data)
        X, y = normalise(pixel_rows(table)), table.column("label").to_numpy()
        del table
        load = time.perf_counter() - started
        started = time.perf_counter()
        Trainer(config).fit(model, X, y)
        n, held = len(y), len(y)
    else:
        source = ParquetBatches(data, buffer_rows=budget_rows(budget_mb, SIDE * SIDE), transform=normalise)
        Trainer(config).fit(model, source, None)
        n, held = source.n_rows, source.peak_rows
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "rows": n, "seconds": seconds, "load_seconds": load, "samples_per_s": n / seconds,
            "baseline_rss_mb": baseline, "peak_rss_mb": peak, "rows_held": held}


def measure(mode: str, data: Path, args: argparse.Namespace) -> dict:
    """One epoch in a fresh process (its own peak memory)."""
    command = [sys.executable, "-m", "benchmarks.bench_stream", "--epoch", mode, "--data", str(data),
               "--hidden", str(args.hidden), "--batch-size", str(args.batch_size), "--budget-mb",
               str(args.budget_mb)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env,
                          cwd=Path(__file__).resolve().parents[1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values: list[float], fmt: str) -> str:
    """median (min-max)"""
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main(args: argparse.Namespace) -> None:
    args.dir.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    data = {n: synthesize(args.dir / f"synthetic-{n}.parquet", n) for n in sizes}
    results: dict[tuple[int, str], list[dict]] = {}
    for _ in range(args.repeat):
        for n in sizes:
            for mode in args.modes.split(","):
                results.setdefault((n, mode), []).append(measure(mode, data[n], args))
    buffer = budget_rows(args.budget_mb, SIDE * SIDE)
    print(f"One epoch, MLP [784, {args.hidden}, 10], batch {args.batch_size}, one BLAS thread; streamed "
          f"through a buffer of {buffer:,} rows (--budget-mb {args.budget_mb:g}); median (range) of "
          f"{args.repeat} runs\n")
    print("| rows | source | auto picks | peak RSS MB | RSS before data MB | samples/s | load s | rows held "
          "|")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for (n, mode), runs in results.items():
        picked = choose("auto", args.budget_mb, n, SIDE * SIDE)
        print(f"| {n:,} | {mode} | {picked} | {spread([r['peak_rss_mb'] for r in runs], '.0f')} | "
              f"{spread([r['baseline_rss_mb'] for r in runs], '.0f')} | "
              f"{spread([r['samples_per_s'] for r in runs], ',.0f')} | "
              f"{spread([r['load_seconds'] for r in runs], '.1f')} | {max(r['rows_held'] for r in runs):,} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="rows of each synthetic data set")
    parser.add_argument("--modes", default="memory,stream", help="sources to measure")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per figure")
    parser.add_argument("--budget-mb", type=float, default=256.0, help="the streaming memory budget")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per step")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mlpflow-bench-stream"),
                        help="where the synthetic data sets are written (and reused)")
    parser.add_argument("--epoch", choices=("memory", "stream"), help=argparse.SUPPRESS)  # one measurement
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.epoch:
        print(json.dumps(one_epoch(arguments.epoch, arguments.data, arguments.hidden, arguments.batch_size,
                                   arguments.budget_mb)))
    else:
        main(arguments)
