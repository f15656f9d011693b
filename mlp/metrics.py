"""Classification metrics from integer labels: accuracy, confusion matrix, per-class accuracy (recall)."""

from __future__ import annotations

import numpy as np


def _labels(name: str, y: np.ndarray) -> np.ndarray:
    """`y` as a 1-D integer array, or a ValueError/TypeError naming `name`."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices (n_samples,), got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    return y.astype(np.int64, copy=False)


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _labels("y_true", y_true), _labels("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got shapes {y_true.shape} and {y_pred.shape}"
        )
    if y_true.size == 0:
        raise ValueError("y_true and y_pred are empty: a metric needs at least one sample")
    return y_true, y_pred


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of samples whose predicted class equals the true class.

    y_true, y_pred: (n_samples,) integer class indices. Returns a float in [0, 1].
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true, predicted) pairs: entry [i, j] is the number of samples of class i predicted as j.

    y_true, y_pred: (n_samples,) integer class indices in [0, n_classes).
    Returns (n_classes, n_classes) int64, rows true, columns predicted.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    y_true, y_pred = _pair(y_true, y_pred)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        bad = (y < 0) | (y >= n_classes)
        if bad.any():
            raise ValueError(
                f"{name} holds labels outside [0, {n_classes}): {np.unique(y[bad])[:10].tolist()}"
            )
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall of each class: the diagonal of a confusion matrix divided by its row sums.

    cm: (n_classes, n_classes) counts, rows true.
    Returns (n_classes,) float64; a class with no samples gives NaN.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"cm must be a square (n_classes, n_classes) matrix, got shape {cm.shape}")
    if not np.issubdtype(cm.dtype, np.number) or np.issubdtype(cm.dtype, np.complexfloating):
        raise TypeError(f"cm must hold real counts, got dtype {cm.dtype}")
    if (cm < 0).any():
        raise ValueError("cm holds negative counts")
    support = cm.sum(axis=1).astype(np.float64)
    correct = np.diag(cm).astype(np.float64)
    out = np.full(cm.shape[0], np.nan)
    np.divide(correct, support, out=out, where=support > 0)
    return out
