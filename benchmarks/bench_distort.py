"""What the default training costs, per epoch: making the distorted inputs against training on them, and two
networks trained side by side against one after the other.

Measured on hanzi12's training images (the 90% of a split, 6,048 of 28x28), each figure the median of
``--repeat`` interleaved repeats, with the spread (min-max):

- distortion: ``distort`` (the default affine ranges) of the whole training set, then ``frame`` of it (what
  the framed network's epoch needs), then the normalisation; in the main thread, nothing else running.
- one epoch of the default network [784, 1024, 512, 12] (AdamW, batch 64, dropout 0.2) on inputs made in
  advance, with two BLAS threads: the peer the distortion is compared with.
- ``--epochs`` epochs of two such networks with the pipeline's augmentation (one epoch ahead, in a
  background thread), one after the other on two BLAS threads, against side by side in two threads on one
  BLAS thread each (what the pipeline does: `flows.settings.training_blas_threads`).

    python -m benchmarks.bench_distort [--root ../shared/datasets/hanzi12] [--repeat 5] [--epochs 3]
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
from mlp.data import io
from mlp.data.distort import Distortion, distort
from mlp.data.transforms import fit_normalizer
from mlp.data.views import frame

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "hanzi12"
N_TRAIN = 6048  # the training images of a 90/10 split of hanzi12


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def network(seed: int) -> MLP:
    return MLP([784, 1024, 512, 12], dropout=0.2, seed=seed)


def main(root: Path, repeat: int, epochs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ds = io.read_dataset(io.ingest(root, Path(tmp) / "data.parquet").path)
    rows = np.random.default_rng(0).permutation(len(ds))[:N_TRAIN]
    X, y, shape = ds.X[rows], ds.y[rows], ds.image_shape
    norm, framed_norm = fit_normalizer(X), fit_normalizer(frame(X, shape))  # a normaliser per view
    rng = np.random.default_rng(1)
    inputs = norm.transform(X)
    config = TrainConfig(epochs=1, optimizer="adamw", batch_size=64, progress=False)

    def augment(view: Callable[[np.ndarray], np.ndarray], normaliser):
        return lambda X, rng: normaliser.transform(view(distort(X, shape, rng)))

    def make_epochs(raw_and_framed: bool) -> None:
        distorted = distort(X, shape, rng, Distortion())
        norm.transform(distorted)
        if raw_and_framed:
            framed_norm.transform(frame(distorted, shape))

    def train_one_epoch() -> None:
        with threadpool_limits(2):
            Trainer(config).fit(network(0), inputs, y)

    def two_networks(side_by_side: bool) -> None:
        views = [(np.asarray, norm), (lambda Z: frame(Z, shape), framed_norm)]
        fits = [(network(k), augment(view, normaliser)) for k, (view, normaliser) in enumerate(views)]
        run_config = TrainConfig(epochs=epochs, optimizer="adamw", batch_size=64, progress=False)

        def fit(model, aug) -> None:
            Trainer(run_config).fit(model, X, y, augment=aug)

        if side_by_side:
            with threadpool_limits(1):
                threads = [threading.Thread(target=fit, args=pair) for pair in fits]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
        else:
            with threadpool_limits(2):
                for pair in fits:
                    fit(*pair)

    cases = {
        "distort + normalise the training set (raw network's epoch)": lambda: make_epochs(False),
        "distort + frame + normalise both views (both networks' epochs)": lambda: make_epochs(True),
        "one training epoch of [784, 1024, 512, 12], 2 BLAS threads": train_one_epoch,
        f"two networks x {epochs} epochs, one after the other, 2 BLAS threads": lambda: two_networks(False),
        f"two networks x {epochs} epochs, side by side, 1 BLAS thread each": lambda: two_networks(True),
    }
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):  # interleaved: each repeat runs every case once
        for name, run in cases.items():
            seconds[name].append(timed(run))
    median = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"{N_TRAIN} training images of {shape[0]}x{shape[1]} from {root}; median of {repeat} interleaved "
          "repeats (min-max)")
    for name, values in seconds.items():
        print(f"  {name:<70} {median[name]:7.3f} s  ({min(values):.3f}-{max(values):.3f})")
    names = list(cases)
    epoch = median[names[2]]
    print(f"distortion / training epoch: {median[names[0]] / epoch:.2f} (raw network), "
          f"{median[names[1]] / 2 / epoch:.2f} (each of two networks, both views)")
    print(f"side by side / one after the other: {median[names[4]] / median[names[3]]:.2f} of the time "
          f"({median[names[3]] / median[names[4]]:.2f}x the epochs per second)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="data root with train/<label>/")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved repeats; medians are reported")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the two-network comparison")
    args = parser.parse_args()
    main(args.root, args.repeat, args.epochs)
