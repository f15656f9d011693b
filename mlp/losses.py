"""Losses, looked up by name in `LOSSES`: `mse` and the fused, stable softmax `cross_entropy`.

A loss object is called as `loss(y_hat, y) -> float` and `loss.value_and_grad(y_hat, y) -> (float, grad)`,
where grad = d loss / d y_hat has y_hat's shape (n, n_out). Losses average over the batch.
"""

from __future__ import annotations

import numpy as np

from mlp.hyper import TRAINING
from mlp.registry import lookup


def softmax(logits: np.ndarray) -> np.ndarray:
    """(n, k) logits -> (n, k) probabilities, shifted by the row maximum so no exp overflows."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class MSE:
    """0.5 · mean((y_hat − y)²) over all elements; y is (n, n_out) floats like y_hat."""

    name = "mse"
    classification = False

    def check(self, y_hat: np.ndarray, y: np.ndarray) -> None:
        """Raise ValueError unless y has y_hat's shape (n, n_out)."""
        if y.shape != y_hat.shape:
            raise ValueError(f"mse expects targets of shape {y_hat.shape} (like the outputs), got {y.shape}")

    def __call__(self, y_hat: np.ndarray, y: np.ndarray) -> float:
        """(n, n_out), (n, n_out) -> loss."""
        self.check(y_hat, y)
        diff = y_hat - y
        return 0.5 * float(np.mean(diff * diff))

    def value_and_grad(self, y_hat: np.ndarray, y: np.ndarray,
                       check: bool = True) -> tuple[float, np.ndarray]:
        """(n, n_out), (n, n_out) -> (loss, (y_hat − y) / y_hat.size); `check=False` skips `check`."""
        if check:
            self.check(y_hat, y)
        diff = y_hat - y
        loss = 0.5 * float(np.mean(diff * diff))
        diff *= 1.0 / diff.size
        return loss, diff

    def __repr__(self) -> str:
        return "MSE()"


class CrossEntropy:
    """Softmax + negative log-likelihood of integer class labels y (n,), fused and stable.

    With label smoothing ε the target is (1 − ε)·one_hot(y) + ε/k. The gradient is (softmax − target) / n.
    Logits of ±1e4 give a finite loss and gradient (max shift and log-sum-exp).
    """

    name = "cross_entropy"
    classification = True

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = TRAINING.label_smoothing.check(label_smoothing)

    def check(self, logits: np.ndarray, y: np.ndarray) -> None:
        """Raise ValueError unless y is (n,) integers in [0, k) for logits (n, k); costs one min and max."""
        n, k = logits.shape
        if y.shape != (n,) or y.dtype.kind not in "iu":
            raise ValueError(
                f"cross_entropy expects integer class labels of shape ({n},), got {y.dtype} {y.shape}")
        if n:
            low, high = int(y.min()), int(y.max())
            if low < 0 or high >= k:
                bad = low if low < 0 else high
                raise ValueError(f"cross_entropy label {bad} is outside the valid range [0, {k}) "
                                 f"(labels span min {low}, max {high})")

    def _shifted(self, logits: np.ndarray, y: np.ndarray,
                 rows: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Loss, exp(max-shifted logits) and their row sums (for the softmax); rows is arange(n)."""
        n, k = logits.shape
        z = logits - logits.max(axis=1, keepdims=True)
        # −Σ_j target_j · log p_j = lse − Σ_j target_j · z_j, since the target sums to 1.
        target_z = z[rows, y]
        if self.label_smoothing:
            eps = self.label_smoothing
            target_z = (1.0 - eps) * target_z + (eps / k) * z.sum(axis=1)
        e = np.exp(z, out=z)
        sums = e.sum(axis=1, keepdims=True)
        loss = float((np.log(sums[:, 0]) - target_z).sum()) / n
        return loss, e, sums

    def __call__(self, logits: np.ndarray, y: np.ndarray) -> float:
        """(n, k) logits, (n,) labels -> mean loss."""
        self.check(logits, y)
        return self._shifted(logits, y, np.arange(logits.shape[0]))[0]

    def value_and_grad(self, logits: np.ndarray, y: np.ndarray,
                       check: bool = True) -> tuple[float, np.ndarray]:
        """(n, k) logits, (n,) labels -> (mean loss, (softmax − target) / n of shape (n, k)).

        `check=False` skips `check` (the Trainer checks all labels once, not every batch's)."""
        if check:
            self.check(logits, y)
        n, k = logits.shape
        rows = np.arange(n)
        loss, grad, sums = self._shifted(logits, y, rows)
        sums *= n
        grad /= sums  # softmax / n
        eps = self.label_smoothing
        if eps:
            grad -= eps / (k * n)
        grad[rows, y] -= (1.0 - eps) / n
        return loss, grad

    def __repr__(self) -> str:
        return f"CrossEntropy(label_smoothing={self.label_smoothing})"


LOSSES: dict[str, type] = {"mse": MSE, "cross_entropy": CrossEntropy}


def get_loss(name: str, label_smoothing: float = 0.0) -> MSE | CrossEntropy:
    """A loss by name; `label_smoothing` applies to cross_entropy only. Unknown names raise ValueError."""
    cls = lookup(LOSSES, name, "loss")
    if cls is CrossEntropy:
        return CrossEntropy(label_smoothing)
    if label_smoothing:
        raise ValueError(
            f"label_smoothing applies to cross_entropy only, got {label_smoothing!r} with {name!r}")
    return cls()
