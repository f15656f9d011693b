"""The seed design's first experiment as a flow: fit sin(2πx) on [0, 1] with an MLP [1, 100, 100, 1].

    python flows/sine_fit.py [--iterations 10000] [--lr 3e-4] [--seed 0] [--output-dir artifacts]

ReLU, MSE loss, Adam, full batch of 64 evenly spaced samples, one iteration per epoch (`mlp.demos.fit_sine`).
Writes <output-dir>/sine_fit.png (the fit beside the training curve), publishes the markdown artifact
`sine-fit` with the figure embedded as a PNG data URI, and returns the final mean squared error.
"""

from __future__ import annotations

import argparse
import io as bytes_io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import flows  # noqa: F401  (applies mlpflow's environment: first, before NumPy and Prefect load)

# isort: split
import numpy as np

# isort: split
import matplotlib
from matplotlib.figure import Figure
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field, TypeAdapter, ValidationError

from flows.markup import Heading, Image, Table, Text, data_uri, to_markdown
from flows.settings import ARTIFACTS_DIR
from mlp.atomic import write_bytes
from mlp.demos import fit_sine, mean_squared_error
from mlp.history import History
from mlp.model import MLP

matplotlib.use("Agg")  # tasks run in worker threads: no GUI backend

SINE_FIT = "sine-fit"  # the markdown artifact's key
FIGURE = "sine_fit.png"
HIDDEN = (100, 100)

# The flow's parameters, checked by Prefect (and its UI form) and by the command line alike.
Iterations = Annotated[int, Field(ge=1, description="full-batch Adam steps")]
LearningRate = Annotated[float, Field(gt=0, allow_inf_nan=False, description="Adam's learning rate")]
Seed = Annotated[int, Field(ge=0, description="seed of the initial weights")]


@dataclass(frozen=True, eq=False)
class SineFit:
    """A finished fit: the model (its last epoch's weights), its history, samples x, y (n, 1), MSE."""

    model: MLP
    history: History
    x: np.ndarray
    y: np.ndarray
    mse: float


def figure_png(fit: SineFit) -> bytes:
    """PNG of the fit (target, model, samples) beside the training MSE per iteration on a log scale."""
    grid = np.linspace(0.0, 1.0, 400, dtype=np.float32)[:, None]
    fig = Figure(figsize=(10, 4))
    fit_ax, loss_ax = fig.subplots(1, 2)
    fit_ax.plot(grid, np.sin(2 * np.pi * grid), color="0.7", label="sin(2πx)")
    fit_ax.plot(grid, fit.model.forward(grid), color="C0", label="MLP")
    fit_ax.scatter(fit.x, fit.y, s=12, color="C1", label="training samples", zorder=3)
    fit_ax.set(xlabel="x", ylabel="y", title=f"fit after {len(fit.history)} iterations, MSE {fit.mse:.2e}")
    fit_ax.legend()
    loss_ax.semilogy([r.epoch for r in fit.history.records], training_mse(fit.history))
    loss_ax.set(xlabel="iteration", ylabel="training MSE", title="training MSE (log scale)")
    fig.tight_layout()
    buffer = bytes_io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def training_mse(history: History) -> list[float]:
    """The plain mean squared error per iteration: twice the `mse` loss, which is 0.5·mean."""
    return [2 * r.train_loss for r in history.records]


def report_markdown(fit: SineFit, lr: float, seed: int, png: bytes) -> str:
    """The `sine-fit` artifact: setting, final MSE, the MSE at 1, 10, 100, ... iterations, and the figure."""
    curve = training_mse(fit.history)
    marks = [10**k for k in range(len(str(len(curve)))) if 10**k < len(curve)] + [len(curve)]
    blocks = [
        Heading(1, "Fit of sin(2πx)"),
        Text(f"MLP {[1, *HIDDEN, 1]} (ReLU), MSE, Adam lr {lr:g}, full batch of {len(fit.x)} samples, "
             f"{len(curve)} iterations, seed {seed}. Final MSE {fit.mse:.3e}."),
        Table(["iteration", "training MSE"], [[i, f"{curve[i - 1]:.3e}"] for i in marks]),
        Image("figure", "the fit and the training MSE"),
    ]
    return to_markdown(blocks, {"figure": data_uri(png)})


# -------------------------------------------------------------------------------------------------- flow
@task(cache_policy=NO_CACHE)
def fit(iterations: int, lr: float, seed: int) -> SineFit:
    """Train the seed's MLP on sin(2πx)."""
    model, history, x, y = fit_sine(iterations=iterations, lr=lr, seed=seed)
    return SineFit(model, history, x, y, mean_squared_error(model, x, y))


@task(cache_policy=NO_CACHE)
def plot(result: SineFit) -> bytes:
    """Draw the fit and the training curve."""
    return figure_png(result)


@flow(name="sine-fit")
def sine_fit(iterations: Iterations = 10_000, lr: LearningRate = 3e-4, seed: Seed = 0,
             output_dir: Path = ARTIFACTS_DIR) -> float:
    """Fit sin(2πx), write <output_dir>/sine_fit.png, publish the `sine-fit` artifact; return the MSE."""
    result = fit(iterations, lr, seed)
    png = plot(result)
    path = write_bytes(Path(output_dir) / FIGURE, png)
    create_markdown_artifact(report_markdown(result, lr, seed, png), key=SINE_FIT,
                             description=f"sin(2πx) fit, {iterations} iterations")
    get_run_logger().info("final MSE %.3e after %d iterations; figure %s", result.mse, iterations, path)
    return result.mse


# ----------------------------------------------------------------------------------------------- command
def _checked(annotation: Any) -> Callable[[str], Any]:
    """An argparse type that validates a flag with the flow parameter's own constraints."""
    adapter = TypeAdapter(annotation)

    def parse(text: str) -> Any:
        try:
            return adapter.validate_python(text)
        except ValidationError as error:
            raise argparse.ArgumentTypeError(f"{error.errors()[0]['msg'].lower()} (got {text})") from None

    return parse


def main(argv: Sequence[str] | None = None) -> float:
    """The command line: bad values end with a one-line error naming the flag; prints the final MSE."""
    parser = argparse.ArgumentParser(prog="python flows/sine_fit.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=_checked(Iterations), default=10_000, metavar="N",
                        help="full-batch Adam steps, >= 1 (default: 10000)")
    parser.add_argument("--lr", type=_checked(LearningRate), default=3e-4,
                        help="learning rate, > 0 (default: 3e-4)")
    parser.add_argument("--seed", type=_checked(Seed), default=0, help="seed, >= 0 (default: 0)")
    parser.add_argument("--output-dir", type=Path, default=ARTIFACTS_DIR, metavar="DIR",
                        help=f"where {FIGURE} is written (default: {ARTIFACTS_DIR})")
    args = parser.parse_args(argv)
    mse = sine_fit(iterations=args.iterations, lr=args.lr, seed=args.seed, output_dir=args.output_dir)
    print(f"final MSE {mse:.3e} after {args.iterations} iterations; figure {args.output_dir / FIGURE}")
    return mse


if __name__ == "__main__":
    main()
