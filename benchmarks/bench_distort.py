"""What the default training costs: making each epoch's distorted inputs against training on them, and two
networks trained side by side against one after the other.

Measured on hanzi12's training images (the 90% of a split, 6,048 of 28x28), each figure the median of
``--repeat`` interleaved repeats, with the spread (min-max):

- each network's epoch inputs, made in the main thread with nothing else running: for the raw network,
  ``distort`` (the default affine ranges) of the whole training set, then its normalisation; for the framed
  network the same with ``frame`` between the two.
- ``--epochs`` epochs of the default ensemble, two networks [784, 1024, 512, 12] (AdamW, batch 64, dropout
  0.2), as the pipeline trains them: side by side in two threads on one BLAS thread each
  (`flows.environment.training_blas_threads`), each making its next epoch's distortions in a background
  thread; the same on inputs made once (no distortion: what the distortions cost the training); and the two
  with their distortions one after the other on two BLAS threads.

The distortion's share is an epoch's inputs against an epoch of its network in the side-by-side training
(the wall time of the run over its epochs). As in the pipeline, the first epoch's inputs are made before it
starts (there is nothing yet to overlap them with), the others one epoch ahead. The training runs measure
the pipeline's order of work, not accuracy.

    python -m benchmarks.bench_distort [--root ../shared/datasets/hanzi12] [--repeat 5] [--epochs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from mlp import MLP, TrainConfig, Trainer
from mlp.data import files
from mlp.data.distort import distort
from mlp.data.transforms import fit_normalizer
from mlp.data.views import apply_view

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "hanzi12"
N_TRAIN = 6048  # the training images of a 90/10 split of hanzi12
VIEWS = ("raw", "framed")


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(root: Path, repeat: int, epochs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ds = files.read_dataset(files.ingest(root, Path(tmp) / "data.parquet").path)
    rows = np.random.default_rng(0).permutation(len(ds))[:N_TRAIN]
    X, y, shape = ds.X[rows], ds.y[rows], ds.image_shape
    norms = {view: fit_normalizer(apply_view(view, X, shape)) for view in VIEWS}  # one per view, as in flows
    fixed = {view: norms[view].transform(apply_view(view, X, shape)) for view in VIEWS}
    config = TrainConfig(epochs=epochs, optimizer="adamw", batch_size=64, progress=False)

    def augment(view: str) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
        return lambda X, rng: norms[view].transform(apply_view(view, distort(X, shape, rng), shape))

    def epoch_inputs(view: str) -> None:
        augment(view)(X, np.random.default_rng(1))

    def fit(k: int, view: str, distorted: bool) -> None:
        model = MLP([X.shape[1], 1024, 512, 12], dropout=0.2, seed=k)
        if distorted:
            Trainer(config).fit(model, X, y, augment=augment(view))
        else:
            Trainer(config).fit(model, fixed[view], y)

    def side_by_side(distorted: bool) -> None:
        with threadpool_limits(1):
            threads = [threading.Thread(target=fit, args=(k, view, distorted))
                       for k, view in enumerate(VIEWS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    def one_after_the_other() -> None:
        with threadpool_limits(2):
            for k, view in enumerate(VIEWS):
                fit(k, view, True)

    cases = {
        "raw network's epoch inputs: distort + normalise": lambda: epoch_inputs("raw"),
        "framed network's epoch inputs: distort + frame + normalise": lambda: epoch_inputs("framed"),
        f"two networks x {epochs} epochs side by side, 1 BLAS thread each": lambda: side_by_side(True),
        "  the same on inputs made once (no distortion)": lambda: side_by_side(False),
        f"two networks x {epochs} epochs one after the other, 2 BLAS threads": one_after_the_other,
    }
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):  # interleaved: each repeat runs every case once
        for name, run in cases.items():
            seconds[name].append(timed(run))
    median = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"{N_TRAIN} training images of {shape[0]}x{shape[1]} from {root}; median of {repeat} interleaved "
          "repeats (min-max)")
    for name, values in seconds.items():
        print(f"  {name:<66} {median[name]:7.3f} s  ({min(values):.3f}-{max(values):.3f})")
    raw, framed, together, undistorted, apart = (median[name] for name in cases)
    epoch = together / epochs
    print(f"epoch inputs / an epoch of their network side by side ({epoch:.2f} s): raw {raw / epoch:.2f}, "
          f"framed {framed / epoch:.2f}")
    print(f"side by side with distortions / without: {together / undistorted:.2f} of the time")
    print(f"side by side / one after the other: {together / apart:.2f} of the time "
          f"({apart / together:.2f}x the epochs per second)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="data root with train/<label>/")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved repeats; medians are reported")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each training case")
    args = parser.parse_args()
    main(args.root, args.repeat, args.epochs)
