"""Fit sin(2πx) on [0, 1] with the seed design's setting and save a plot of the fit.

    python examples/sine_fit.py [--iterations 10000] [--out artifacts/sine_fit.png]

MLP [1, 100, 100, 1] (ReLU), MSE, Adam lr 3e-4, full batch of 64 samples, one iteration per epoch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

from mlp.demos import fit_sine, mean_squared_error

REPO = Path(__file__).resolve().parents[1]


def main(iterations: int = 10_000, out: Path = REPO / "artifacts" / "sine_fit.png") -> float:
    """Train, save the figure (fit on the left, loss curve on the right) and return the training MSE."""
    model, history, x, y = fit_sine(iterations=iterations, progress=True)
    mse = mean_squared_error(model, x, y)
    grid = np.linspace(0.0, 1.0, 400, dtype=np.float32)[:, None]
    fig = Figure(figsize=(10, 4))
    fit_ax, loss_ax = fig.subplots(1, 2)
    fit_ax.plot(grid, np.sin(2 * np.pi * grid), color="0.7", label="sin(2πx)")
    fit_ax.plot(grid, model.forward(grid), color="C0", label="MLP")
    fit_ax.scatter(x, y, s=12, color="C1", label="training samples", zorder=3)
    fit_ax.set(xlabel="x", ylabel="y", title=f"fit after {len(history)} iterations, MSE {mse:.2e}")
    fit_ax.legend()
    loss_ax.semilogy([r.epoch for r in history.records], [2 * r.train_loss for r in history.records])
    loss_ax.set(xlabel="iteration", ylabel="training MSE", title="training MSE (log scale)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return mse


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "sine_fit.png")
    args = parser.parse_args()
    mse = main(args.iterations, args.out)
    print(f"training MSE {mse:.3e} after {args.iterations} iterations; plot saved to {args.out}")
