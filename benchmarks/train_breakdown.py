"""Where a training batch's time goes: mlpflow's batch loop taken apart, each part timed on its own.

`python -m benchmarks.train_breakdown [--repeat 5]` runs, for each of bench_train's configurations, a copy
of `Trainer._train_epoch`'s loop that does the same work by the same calls (the model's own layers, loss and
optimiser) with a clock between the parts: gathering the batch, the matrix products (forward and backward),
bias adds and sums with the activations (ReLU, dropout), the loss and its gradient, the optimiser, the
divergence check left after it (only the NumPy passes' gradient-norm dot product: Adam's compiled loop checks
the gradients on the way) and the bookkeeping (running loss and accuracy); the clocks cover the whole loop,
its Python calls counted in the part they serve. Each part is the median over `--repeat` runs of its mean
per batch, in µs; the last column is the real `Trainer.fit` measured beside it, for comparison with the
copy's total.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import defaultdict

import numpy as np

from benchmarks.bench_train import (
    MachineSpeed,
    cases,
    environment,
    repeat_from_command_line,
    synthetic_data,
    wait_for_quiet,
)
from benchmarks.train_runners import LR, Case, run_mlpflow
from mlp import MLP
from mlp.activations import Activation
from mlp.layers import Dropout, Linear
from mlp.losses import CrossEntropy
from mlp.optim import Adam

PARTS = ("gather", "matmul", "bias+activation", "loss", "optimiser", "check", "bookkeeping")


def breakdown(case: Case, X: np.ndarray, y: np.ndarray, seed: int) -> dict[str, float]:
    """Seconds per part (PARTS) of training `case` on (X, y): the Trainer's batch loop, clocked."""
    model = MLP(list(case.layer_sizes), dropout=case.dropout, seed=seed)
    loss_fn, optimizer = CrossEntropy(), Adam()
    params, grads = model.flat_params, model.flat_grads
    rng, n, b = np.random.default_rng(seed), X.shape[0], case.batch_size
    x_buffer = np.empty((b, X.shape[1]), X.dtype)
    spent: dict[str, float] = defaultdict(float)
    clock = time.perf_counter
    for _ in range(case.epochs):
        order, total, correct = rng.permutation(n), 0.0, 0
        for start in range(0, n, b):
            t = clock()
            stop = min(start + b, n)
            idx = order[start:stop]
            xb = np.take(X, idx, axis=0, out=x_buffer, mode="clip") if stop - start == b else X[idx]
            yb = y[idx]
            t, spent["gather"] = clock(), spent["gather"] + clock() - t
            out, inputs = xb, []
            for layer in model.layers:  # Linear.forward and the other layers' own forward
                if isinstance(layer, Linear):
                    inputs.append(out)
                    out = out @ layer.params["W"]
                    t, spent["matmul"] = clock(), spent["matmul"] + clock() - t
                    if not layer.bias_deferred:  # else the ReLU after it adds the bias
                        out += layer.params["b"]
                else:
                    out = layer.forward(out, True)
                t, spent["bias+activation"] = clock(), spent["bias+activation"] + clock() - t
            value, grad = loss_fn.value_and_grad(out, yb, check=False)
            t, spent["loss"] = clock(), spent["loss"] + clock() - t
            for layer in reversed(model.layers):  # Linear.backward and the other layers' own backward
                if isinstance(layer, Linear):
                    x = inputs.pop()
                    if x.shape[0] == 1:
                        np.multiply(x.T, grad, out=layer.grads["W"])
                    else:
                        np.matmul(x.T, grad, out=layer.grads["W"])
                    dx = grad @ layer.params["W"].T if inputs else None
                    t, spent["matmul"] = clock(), spent["matmul"] + clock() - t
                    if not layer.bias_deferred:  # else the ReLU above filled it
                        np.add.reduce(grad, axis=0, out=layer.grads["b"])
                    grad = dx
                elif isinstance(layer, Activation | Dropout):
                    grad = layer.backward(grad)
                t, spent["bias+activation"] = clock(), spent["bias+activation"] + clock() - t
            finite = optimizer.step(params, grads, LR)  # Adam's compiled loop checks the gradients on the way
            t, spent["optimiser"] = clock(), spent["optimiser"] + clock() - t
            if finite is None:  # the NumPy passes do not: the Trainer's dot product
                finite = math.isfinite(float(np.dot(grads, grads)))
            if not finite:
                raise FloatingPointError("non-finite gradient")
            t, spent["check"] = clock(), spent["check"] + clock() - t
            total += value * (stop - start)
            correct += int(np.count_nonzero(out.argmax(axis=1) == yb))
            spent["bookkeeping"] += clock() - t
    return dict(spent)


def main(repeat: int) -> None:
    X, y = synthetic_data()
    speed = MachineSpeed()  # each run waits (up to 20 s) for the machine to run within 1.25x its best
    for _ in range(20):
        speed.slowdown()
    print("\n".join(environment()[:2]))
    print(f"µs per batch, each the median of {repeat} runs (the copy's parts; then the real Trainer.fit)\n")
    print("| config | " + " | ".join(PARTS) + " | total | Trainer.fit |")
    print("|" + "---|" * (len(PARTS) + 3))
    for case in cases():
        Xc, yc = X[:case.n_samples], y[:case.n_samples]
        batches = case.epochs * -(-case.n_samples // case.batch_size)
        warm = Case(case.layer_sizes, case.batch_size, 4 * case.batch_size, 1, case.dropout)
        breakdown(warm, Xc[:warm.n_samples], yc[:warm.n_samples], 0)
        run_mlpflow(warm, Xc[:warm.n_samples], yc[:warm.n_samples], 0)
        parts, real = defaultdict(list), []
        for r in range(repeat):
            wait_for_quiet(0.2, 20.0, speed=speed, max_slowdown=1.25)
            for name, seconds in breakdown(case, Xc, yc, r).items():
                parts[name].append(seconds / batches * 1e6)
            wait_for_quiet(0.2, 20.0, speed=speed, max_slowdown=1.25)
            real.append(run_mlpflow(case, Xc, yc, r)[0] / batches * 1e6)
        medians = {name: statistics.median(parts[name]) for name in PARTS}
        cells = [f"{medians[name]:,.0f}" for name in PARTS]
        print(f"| {case.label} | " + " | ".join(cells) + f" | {sum(medians.values()):,.0f} | "
              f"{statistics.median(real):,.0f} ({min(real):,.0f}–{max(real):,.0f}) |", flush=True)


if __name__ == "__main__":
    main(repeat_from_command_line(__doc__, "runs per configuration, whose medians count"))
