"""The seed design's regression demo, run by flows/sine_fit.py: fit sin(2πx) on [0, 1]."""

from __future__ import annotations

import numpy as np

from mlp.config import TrainConfig
from mlp.history import History
from mlp.model import MLP
from mlp.train import Trainer


def sine_data(n_samples: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """x (n, 1) evenly spaced on [0, 1] and y = sin(2πx) (n, 1), float32."""
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples!r}")
    x = np.linspace(0.0, 1.0, n_samples, dtype=np.float32)[:, None]
    return x, np.sin(2 * np.pi * x).astype(np.float32)


def fit_sine(n_samples: int = 64, hidden: tuple[int, ...] = (100, 100), iterations: int = 10_000,
             lr: float = 3e-4, activation: str = "relu", seed: int = 0,
             progress: bool = False) -> tuple[MLP, History, np.ndarray, np.ndarray]:
    """Fit sin(2πx) with an MLP [1, *hidden, 1], MSE and full-batch Adam (one iteration per epoch).

    Returns the model (its last epoch's weights), the history, x (n, 1) and y (n, 1).
    """
    x, y = sine_data(n_samples)
    model = MLP([1, *hidden, 1], activation=activation, seed=seed)
    config = TrainConfig(epochs=iterations, batch_size=None, optimizer="adam", lr=lr, loss="mse",
                         shuffle=False, seed=seed, progress=progress)
    history = Trainer(config).fit(model, x, y)
    return model, history, x, y


def mean_squared_error(model: MLP, x: np.ndarray, y: np.ndarray) -> float:
    """The plain mean((model(x) − y)²) for x (n, n_in), y (n, n_out): twice the `mse` loss (0.5·mean)."""
    return float(np.mean((model.forward(x) - y) ** 2))
