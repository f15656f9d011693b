"""Training speed: mlpflow against PyTorch CPU and scikit-learn on identical data and work, in one run.

Every implementation trains the same net (ReLU, softmax cross-entropy, Adam with lr 1e-3, float32) for the
same epochs over the same synthetic samples in the same batch size, reshuffled every epoch. A measurement
times one fresh model trained from its first batch to its last (building the model is not timed; sklearn's
`fit` builds its own). Measurements are interleaved, their order rotating, and each cell is the median of
`--repeat` repeats. The GEMM floor times only the matrix products of forward and backward (no gather,
activation, loss or optimiser), into preallocated arrays: five per batch for [784, 500, 12].

On a shared machine other processes steal cores, those of this machine (Linux /proc/stat tells how many)
and those of other machines on the same host (nothing tells, but everything runs slower): so a reference
product ([64, 784] x [784, 500], the best of 5) is timed before and after every measurement, against the best
it ever took in the run. Each measurement waits (up to 20 s) for a quiet moment, and one during which other
processes used more than `--max-other-load` cores, or after or before which the reference ran more than
`--max-slowdown` times its best, is redone, at most `--retries` times, keeping the least disturbed; the
header reports how many were redone, and the load and slowdown beside the kept ones.

Peers are optional (`pip install -e '.[bench]'`); a missing one is shown as skipped. PyTorch runs with
`torch.set_num_threads(os.cpu_count())`; NumPy's BLAS keeps its default threads (named in the header).
mlpflow's Adam runs as one numba loop when numba is installed (`.[fast]`), else as ten NumPy passes, as it
does with MLPFLOW_FUSED=0; the header says which.

    python -m benchmarks.bench_train [--quick] [--repeat 7]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np

from benchmarks.train_runners import Case, Runner, not_applicable, runners
from mlp.fused import adam_kernel

N_SAMPLES, N_FEATURES, N_CLASSES = 37_200, 784, 12


def cases(scale: float = 1.0) -> list[Case]:
    """The issue's configurations, each on the first n of the 37,200 samples (fewer at small batches, where
    the peers are slow, so that the whole run takes minutes); `scale` shrinks n for a smoke test."""
    shallow, deep = (N_FEATURES, 500, N_CLASSES), (N_FEATURES, 512, 512, 512, N_CLASSES)
    rows = [(shallow, 1, 300, 0.0), (shallow, 16, 2_400, 0.0), (shallow, 64, 6_200, 0.0),
            (shallow, 256, 12_400, 0.0), (shallow, 64, 6_200, 0.5), (deep, 64, 3_100, 0.0)]
    return [Case(sizes, batch, max(batch, round(n * scale)), dropout=dropout)
            for sizes, batch, n, dropout in rows]


def synthetic_data(n: int = N_SAMPLES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X (n, 784) float32: one faint random prototype per class under unit noise; y (n,) int64 in [0, 12)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    prototypes = 0.3 * rng.random((N_CLASSES, N_FEATURES), dtype=np.float32)
    return prototypes[y] + rng.standard_normal((n, N_FEATURES), dtype=np.float32), y


def busy_cpu_seconds() -> float | None:
    """CPU seconds all processes have used since boot (Linux /proc/stat), or None where unavailable."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


@dataclass(frozen=True)
class Measurement:
    """One timed run."""

    seconds: float
    loss: float | None
    other_load: float | None  # cores other processes used meanwhile (None: unknown)
    slowdown: float = 1.0  # the reference product's time around the run over its best in the benchmark


# After a product OpenBLAS's worker thread spins for about 0.1 s, waiting for the next one (python -m
# benchmarks.second_core): a run starts this long after the reference product, so that the worker has gone
# to sleep and does not take a core from a peer with threads of its own (torch).
SETTLE = 0.25


class MachineSpeed:
    """How fast the machine runs now: a reference product's time over the best it took so far."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.a, self.w = rng.random((64, N_FEATURES), np.float32), rng.random((N_FEATURES, 500), np.float32)
        self.out = np.empty((64, 500), np.float32)
        self.best = math.inf

    def slowdown(self) -> float:
        """The reference's time now (best of 5 products) over its best so far, which it may lower."""
        times = []
        for _ in range(5):
            start = time.perf_counter()
            np.matmul(self.a, self.w, out=self.out)
            times.append(time.perf_counter() - start)
        self.best = min(self.best, *times)
        return min(times) / self.best


class OtherLoad:
    """Cores other processes used since construction or `restart()` (None where /proc/stat is missing)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self.busy, self.own, self.wall = busy_cpu_seconds(), time.process_time(), time.perf_counter()

    def cores(self) -> float | None:
        if self.busy is None:
            return None
        others = busy_cpu_seconds() - self.busy - (time.process_time() - self.own)
        return max(0.0, others) / (time.perf_counter() - self.wall)


def wait_for_quiet(max_other_load: float, patience: float, window: float = 0.1,
                   speed: MachineSpeed | None = None, max_slowdown: float = math.inf) -> None:
    """Return once other processes used at most `max_other_load` cores over `window` s (and `speed`'s
    reference runs at most `max_slowdown` times its best), or after `patience` s."""
    deadline = time.perf_counter() + patience
    while time.perf_counter() < deadline:
        load = OtherLoad()
        time.sleep(window)
        cores = load.cores()
        if (cores is None or cores <= max_other_load) and (speed is None or speed.slowdown() <= max_slowdown):
            return


def timed(run: Runner, case: Case, X: np.ndarray, y: np.ndarray, seed: int,
          speed: MachineSpeed) -> Measurement:
    """One run, with the load other processes put on the machine meanwhile and the slowdown around it."""
    before = speed.slowdown()
    time.sleep(SETTLE)
    load = OtherLoad()
    seconds, loss = run(case, X, y, seed)
    cores = load.cores()
    return Measurement(seconds, loss, cores, max(before, speed.slowdown()))


Cell = list[Measurement] | str  # the kept measurements of one implementation on one case, or why none


def measure(case: Case, table: dict[str, Runner | str], X: np.ndarray, y: np.ndarray, repeat: int,
            max_other_load: float, retries: int, patience: float = 20.0, max_slowdown: float = math.inf,
            speed: MachineSpeed | None = None) -> tuple[dict[str, Cell], int]:
    """Name -> the kept measurements of `repeat` interleaved runs (or why it did not run); and how many runs
    were redone because other processes used more than `max_other_load` cores meanwhile, or the machine ran
    more than `max_slowdown` times slower than its best just before or after (`speed`). Each run first waits,
    at most `patience` s, for the machine to be within both."""
    speed = speed or MachineSpeed()

    def disturbed(m: Measurement) -> bool:
        return (m.other_load or 0.0) > max_other_load or m.slowdown > max_slowdown

    def quiet() -> None:
        wait_for_quiet(max_other_load, patience, speed=speed, max_slowdown=max_slowdown)

    X, y = X[:case.n_samples], y[:case.n_samples]
    live = {name: run for name, run in table.items() if callable(run) and not not_applicable(name, case)}
    warm = Case(case.layer_sizes, case.batch_size, min(case.n_samples, 4 * case.batch_size), 1, case.dropout)
    for run in live.values():  # first calls pay for thread pools, allocations and imports
        run(warm, X[:warm.n_samples], y[:warm.n_samples], 0)
    cells: dict[str, Cell] = {name: not_applicable(name, case) or str(run) for name, run in table.items()}
    kept: dict[str, list[Measurement]] = {name: [] for name in live}
    names, redone = list(live), 0
    for r in range(repeat):
        for name in names[r % len(names):] + names[:r % len(names)]:
            quiet()
            tries = [timed(live[name], case, X, y, r, speed)]
            while disturbed(tries[-1]) and len(tries) <= retries:
                quiet()
                tries.append(timed(live[name], case, X, y, r, speed))
            redone += len(tries) - 1
            kept[name].append(min(tries, key=lambda m: (disturbed(m), m.slowdown, m.other_load or 0.0)))
    return {**cells, **kept}, redone


def rate(case: Case, cell: Cell) -> float | None:
    """Samples per second from the median time of the kept measurements (None when it did not run)."""
    return None if isinstance(cell, str) else case.samples / statistics.median(m.seconds for m in cell)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def repeat_from_command_line(doc: str, meaning: str, default: int = 5) -> int:
    """`--repeat` (at least 1) from the command line of a benchmark that takes only that; `doc` is its module
    docstring (the first line describes it in --help), `meaning` what the repeats are for."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=default, help=meaning)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args.repeat


def environment() -> list[str]:
    """Header lines: machine, library versions and thread counts."""
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    try:
        from threadpoolctl import threadpool_info

        threads = next((str(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"), "?")
    except ImportError:
        threads = os.environ.get("OPENBLAS_NUM_THREADS", "?")
    lines = [f"{cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}; NumPy "
             f"{np.__version__} with {blas['name']} {blas['version']}, BLAS threads: {threads} (default)"]
    if adam_kernel() is not None:
        lines.append(f"mlpflow's Adam: one loop compiled by numba {sys.modules['numba'].__version__}")
    else:
        why = "MLPFLOW_FUSED=0" if os.environ.get("MLPFLOW_FUSED") == "0" else "numba not installed"
        lines.append(f"mlpflow's Adam: ten NumPy passes ({why})")
    peers = []
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        peers.append(f"torch {torch.__version__} with set_num_threads({torch.get_num_threads()})")
    if "sklearn" in sys.modules:
        peers.append(f"scikit-learn {sys.modules['sklearn'].__version__}")
    return [*lines, "; ".join(peers)] if peers else lines


def render(rows: list[tuple[Case, dict[str, Cell]]]) -> str:
    """A Markdown table of samples/s per implementation and the ratios mlpflow/peer."""
    names = list(rows[0][1])
    peers = [name for name in names if name != "mlpflow"]
    head = ["config", "epochs x samples", *names, *(f"mlpflow/{p}" for p in peers)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case, cells in rows:
        rates = {name: rate(case, cell) for name, cell in cells.items()}
        row = [case.label, f"{case.epochs} x {case.n_samples:,}"]
        row += [cells[n] if rates[n] is None else f"{rates[n]:,.0f}" for n in names]
        row += ["-" if None in (rates["mlpflow"], rates[p]) else f"{rates['mlpflow'] / rates[p]:.2f}"
                for p in peers]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def render_losses(rows: list[tuple[Case, dict[str, Cell]]]) -> str:
    """Per case, each implementation's median loss over its last epoch: the same task, learnt alike."""
    lines = []
    for case, cells in rows:
        losses = {name: [m.loss for m in cell if m.loss is not None]
                  for name, cell in cells.items() if not isinstance(cell, str)}
        lines.append(f"  {case.label}: " + ", ".join(
            f"{name} {statistics.median(values):.3f}" for name, values in losses.items() if values))
    return "\n".join(lines)


def main(quick: bool, repeat: int, max_other_load: float, max_slowdown: float, retries: int) -> None:
    table = runners()
    X, y = synthetic_data()
    speed = MachineSpeed()
    for _ in range(20):  # its best, before the first measurement
        speed.slowdown()
    rows, redone = [], 0
    for case in cases(0.1 if quick else 1.0):
        print(f"measuring {case.label} ...", file=sys.stderr, flush=True)
        cells, n_redone = measure(case, table, X, y, repeat, max_other_load, retries,
                                  max_slowdown=max_slowdown, speed=speed)
        rows.append((case, cells))
        redone += n_redone
    kept = [m for _, cells in rows for cell in cells.values() if not isinstance(cell, str) for m in cell]
    loads = [m.other_load for m in kept if m.other_load is not None]
    print("\n".join(environment()))
    print(f"samples/s, each the median of {repeat} interleaved repeats; a repeat during which other "
          f"processes used more than {max_other_load} cores, or around which the reference product ran more "
          f"than {max_slowdown} times its best, was redone (at most {retries} times): {redone} redone")
    if loads:
        print(f"other processes beside the kept repeats: median {statistics.median(loads):.2f}, "
              f"max {max(loads):.2f} cores")
    slowdowns = [m.slowdown for m in kept]
    print(f"reference product around the kept repeats: median {statistics.median(slowdowns):.2f}, max "
          f"{max(slowdowns):.2f} times its best ({speed.best * 1e6:.0f} µs)")
    print()
    print(render(rows))
    print("\nMean training loss over the last epoch (same task, same work):")
    print(render_losses(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: a tenth of the samples, one repeat unless --repeat is given")
    parser.add_argument("--repeat", type=int, help="interleaved repeats per cell, whose medians count (7)")
    parser.add_argument("--max-other-load", type=float, default=0.2,
                        help="redo a repeat during which other processes used more cores than this")
    parser.add_argument("--max-slowdown", type=float, default=1.25,
                        help="redo a repeat around which the reference product ran more than this many times "
                             "its best")
    parser.add_argument("--retries", type=int, default=3, help="at most this many redos per repeat")
    args = parser.parse_args()
    repeat = args.repeat if args.repeat is not None else 1 if args.quick else 7
    if repeat < 1 or args.retries < 0:
        parser.error("--repeat must be at least 1 and --retries at least 0")
    main(args.quick, repeat, args.max_other_load, args.max_slowdown, args.retries)
