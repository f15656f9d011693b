"""The seed design's first experiment as a flow: fit sin(2πx) on [0, 1] with an MLP [1, 100, 100, 1]
(`mlpflow sine`, ``python flows/sine_fit.py``).

ReLU, MSE loss, Adam, full batch of 64 evenly spaced samples, one iteration per epoch (`fit_sine`).
Writes <output-dir>/sine_fit.png (the fit beside the training curve), publishes the markdown artifact
`sine-fit` with the figure embedded as a PNG data URI, and returns the final mean squared error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.pipeline.params import SINE_DEFAULTS, Iterations, LearningRate, Seed
from flows.report.figures import sine_fit_png
from flows.report.render import data_uri, render_template
from flows.report.table import Table
from flows.store.layout import ARTIFACTS_DIR
from mlp.atomic import write_bytes
from mlp.config import TrainConfig
from mlp.history import History
from mlp.model import MLP
from mlp.train import Trainer

SINE_FIT = "sine-fit"  # the markdown artifact's key
FIGURE = "sine_fit.png"
HIDDEN = (100, 100)


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


@dataclass(frozen=True, eq=False)
class SineFit:
    """A finished fit: the model (its last epoch's weights), its history, samples x, y (n, 1), MSE."""

    model: MLP
    history: History
    x: np.ndarray
    y: np.ndarray
    mse: float




def training_mse(history: History) -> list[float]:
    """The plain mean squared error per iteration: twice the `mse` loss, which is 0.5·mean."""
    return [2 * r.train_loss for r in history.records]


def report_markdown(fit: SineFit, lr: float, seed: int, png: bytes) -> str:
    """The `sine-fit` artifact: setting, final MSE, the MSE at 1, 10, 100, ... iterations, and the figure."""
    curve = training_mse(fit.history)
    marks = [10**k for k in range(len(str(len(curve)))) if 10**k < len(curve)] + [len(curve)]
    table = Table(["iteration", "training MSE"], [[i, f"{curve[i - 1]:.3e}"] for i in marks])
    return render_template("sine_fit.md.j2", layers=[1, *HIDDEN, 1], lr=lr, n_samples=len(fit.x),
                           iterations=len(curve), seed=seed, mse=fit.mse, curve=table, figure=data_uri(png))


# -------------------------------------------------------------------------------------------------- flow
@task(cache_policy=NO_CACHE)
def fit(iterations: int, lr: float, seed: int) -> SineFit:
    """Train the seed's MLP on sin(2πx)."""
    model, history, x, y = fit_sine(iterations=iterations, lr=lr, seed=seed)
    return SineFit(model, history, x, y, mean_squared_error(model, x, y))


@task(cache_policy=NO_CACHE)
def plot(result: SineFit) -> bytes:
    """Draw the fit and the training curve."""
    return sine_fit_png(result.model.forward, result.x, result.y, training_mse(result.history),
                        result.mse)


@flow(name="sine-fit")
def sine_fit(iterations: Iterations = SINE_DEFAULTS["iterations"], lr: LearningRate = SINE_DEFAULTS["lr"],
             seed: Seed = SINE_DEFAULTS["seed"], output_dir: Path = ARTIFACTS_DIR) -> float:
    """Fit sin(2πx), write <output_dir>/sine_fit.png, publish the `sine-fit` artifact; return the MSE."""
    result = fit(iterations, lr, seed)
    png = plot(result)
    path = write_bytes(Path(output_dir) / FIGURE, png)
    create_markdown_artifact(report_markdown(result, lr, seed, png), key=SINE_FIT,
                             description=f"sin(2πx) fit, {iterations} iterations")
    get_run_logger().info("final MSE %.3e after %d iterations; figure %s", result.mse, iterations, path)
    return result.mse
