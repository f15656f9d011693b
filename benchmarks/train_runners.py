"""What each implementation runs for one benchmark row: mlpflow, PyTorch (default or fused Adam),
scikit-learn's MLPClassifier and the GEMM floor, each on the same data for the same epochs and batch size.

A runner returns the seconds its training took (model construction excluded, except inside sklearn's `fit`)
and the mean training loss of its last epoch (None for the GEMM floor). Peers are imported only when asked
for, so a missing one costs an ImportError to report, not a crash.
"""

from __future__ import annotations

import itertools
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlp import MLP, TrainConfig, Trainer

LR = 1e-3


@dataclass(frozen=True)
class Case:
    """One table row: the net, its dropout, the batch size and the work (epochs over n_samples)."""

    layer_sizes: tuple[int, ...]
    batch_size: int
    n_samples: int
    epochs: int = 2
    dropout: float = 0.0

    @property
    def label(self) -> str:
        """The row's name in the table, e.g. "[784, 500, 12], dropout 0.5, batch 64"."""
        drop = f", dropout {self.dropout}" if self.dropout else ""
        return f"{list(self.layer_sizes)}{drop}, batch {self.batch_size}"

    @property
    def samples(self) -> int:
        """Samples processed by one measurement: epochs × n_samples."""
        return self.epochs * self.n_samples


# A runner trains `case` on (X, y) with a seed: (seconds, mean training loss of the last epoch or None).
Runner = Callable[[Case, np.ndarray, np.ndarray, int], tuple[float, float | None]]


def run_mlpflow(case: Case, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, float | None]:
    """mlpflow's Trainer.fit as a user calls it (its data checks included), without progress bars."""
    model = MLP(list(case.layer_sizes), dropout=case.dropout, seed=seed)
    trainer = Trainer(TrainConfig(epochs=case.epochs, batch_size=case.batch_size, lr=LR, seed=seed,
                                  progress=False))
    start = time.perf_counter()
    history = trainer.fit(model, X, y)
    return time.perf_counter() - start, history.records[-1].train_loss


def run_gemm_floor(case: Case, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, float | None]:
    """Only the matrix products of forward and backward, into preallocated arrays (np.outer at batch 1)."""
    rng = np.random.default_rng(seed)
    sizes, b = case.layer_sizes, case.batch_size
    weights = [0.05 * rng.standard_normal(shape, dtype=np.float32) for shape in itertools.pairwise(sizes)]
    acts = [np.ascontiguousarray(X[:b])] + [np.empty((b, k), np.float32) for k in sizes[1:]]
    grads = [rng.standard_normal((b, k), dtype=np.float32) for k in sizes[1:]]  # d loss / d layer output
    dweights = [np.empty_like(w) for w in weights]
    rows = [b] * (case.n_samples // b) + ([case.n_samples % b] if case.n_samples % b else [])
    start = time.perf_counter()
    for m in rows * case.epochs:
        for i, w in enumerate(weights):
            np.matmul(acts[i][:m], w, out=acts[i + 1][:m])
        for i in reversed(range(len(weights))):
            if m == 1:
                np.outer(acts[i][0], grads[i][0], out=dweights[i])
            else:
                np.matmul(acts[i][:m].T, grads[i][:m], out=dweights[i])
            if i:  # the first layer's input gradient is never needed
                np.matmul(grads[i][:m], weights[i].T, out=grads[i - 1][:m])
    return time.perf_counter() - start, None


def torch_runner(fused: bool) -> Runner:
    """torch.nn + torch.optim.Adam (its default implementation, or fused=True) in the usual loop."""
    import torch
    from torch import nn

    torch.set_num_threads(os.cpu_count() or 1)

    def run(case: Case, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, float | None]:
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(case.layer_sizes)):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(case.layer_sizes) - 2:
                layers += [nn.ReLU()] + ([nn.Dropout(case.dropout)] if case.dropout else [])
        model = nn.Sequential(*layers).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=True if fused else None)
        loss_fn = nn.CrossEntropyLoss()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        n, b = X.shape[0], case.batch_size
        start = time.perf_counter()
        for _ in range(case.epochs):
            order, total = torch.randperm(n), 0.0
            for s in range(0, n, b):
                idx = order[s:s + b]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(Xt[idx]), yt[idx])
                loss.backward()
                optimizer.step()
                total += loss.item() * idx.numel()
        return time.perf_counter() - start, total / n

    return run


def sklearn_runner() -> Runner:
    """MLPClassifier: solver adam, alpha 0, never stopping early, shuffled, convergence warnings off."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def run(case: Case, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, float | None]:
        clf = MLPClassifier(hidden_layer_sizes=case.layer_sizes[1:-1], activation="relu", solver="adam",
                            alpha=0.0, batch_size=case.batch_size, learning_rate_init=LR,
                            max_iter=case.epochs, tol=0.0, n_iter_no_change=case.epochs + 1, shuffle=True,
                            early_stopping=False, random_state=seed)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        return time.perf_counter() - start, clf.loss_curve_[-1]

    return run


def runners() -> dict[str, Runner | str]:
    """Column name -> runner, or why it is skipped."""
    table: dict[str, Runner | str] = {"mlpflow": run_mlpflow}
    for name, make in (("torch", lambda: torch_runner(False)), ("torch fused", lambda: torch_runner(True)),
                       ("sklearn", sklearn_runner)):
        try:
            table[name] = make()
        except ImportError as e:
            table[name] = f"skipped ({e.name} not installed)"
    table["GEMM floor"] = run_gemm_floor
    return table


def not_applicable(name: str, case: Case) -> str | None:
    """Why `name` cannot run `case`, or None when it can."""
    return "n/a (no dropout)" if name == "sklearn" and case.dropout else None
