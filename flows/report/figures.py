"""The report's figures as PNG bytes: learning curves, confusion matrix, per-class accuracy, mistakes.

Figures are built with matplotlib's object API on the Agg backend (no pyplot state, safe in Prefect's task
threads). Class labels are drawn as `flows.report.fonts.class_labels` decides: the display names (博, 学,
...) when a font that matplotlib can use has their glyphs, else the folder names with a note.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

from flows.report.fonts import Labels

DPI = 100
CURVES_SIZE = (10.0, 4.0)  # inches: 1000 x 400 pixels at DPI
CONFUSION_SIZE = (7.0, 6.0)
PER_CLASS_SIZE = (8.0, 4.0)
GRID_COLUMNS = 8
GRID_CELL = (1.25, 1.5)  # inches per misclassified image, title included
GRID_MARGIN = 0.6  # inches above the grid for its title and note
GRID_MIN_WIDTH = 4.0  # inches: room for the title and note over a grid of one to three images
MAX_MISCLASSIFIED = 48


def curves_png(histories: Mapping[str, Sequence[Mapping[str, float]]],
               best_epochs: Mapping[str, int]) -> bytes:
    """Loss and accuracy per epoch, train (dashed) and validation (solid), one colour per network of the
    ensemble (`histories`: each network's rows by its name), each network's best epoch marked. 1000 x 400
    pixels."""
    members = list(histories)
    fig = Figure(figsize=CURVES_SIZE, dpi=DPI, layout="constrained")
    for ax, metric, title in zip(fig.subplots(1, 2), ("loss", "accuracy"), ("Loss", "Accuracy"), strict=True):
        for colour, member in enumerate(members):
            rows = histories[member]
            epochs = [row["epoch"] for row in rows]
            name = f"{member} " if len(members) > 1 else ""
            for split, style in (("train", "--"), ("val", "-")):
                ax.plot(epochs, [row[f"{split}_{metric}"] for row in rows], style, color=f"C{colour}",
                        marker="." if len(epochs) <= 40 else None, label=f"{name}{split}")
            best_epoch = best_epochs[member]
            ax.axvline(best_epoch, color=f"C{colour}", linestyle=":", linewidth=1,
                       label=f"{name}best epoch ({best_epoch})")
            best = next(row for row in rows if row["epoch"] == best_epoch)
            ax.plot([best_epoch], [best[f"val_{metric}"]], "*", color="crimson", markersize=12)
        ax.set(title=title, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)


def overlay_png(curves: Mapping[str, Sequence[Mapping[str, float]]]) -> bytes:
    """Validation loss and accuracy per epoch of several configurations, one line each (curves: name ->
    history rows; an ensemble's networks are averaged epoch by epoch). 1000 x 450 pixels."""
    fig = Figure(figsize=(10.0, 4.5), dpi=DPI, layout="constrained")
    for ax, metric, title in zip(fig.subplots(1, 2), ("val_loss", "val_accuracy"),
                                 ("Validation loss", "Validation accuracy"), strict=True):
        for name, rows in curves.items():
            epochs = sorted({row["epoch"] for row in rows})
            values = [np.mean([row[metric] for row in rows if row["epoch"] == e]) for e in epochs]
            ax.plot(epochs, values, label=name, linewidth=1.2)
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
        if metric == "val_accuracy":
            ax.set_ylim(max(0.0, min(ax.get_ylim()[0], 0.9)), 1.0)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=7)
    return _png(fig)


def confusion_png(cm: np.ndarray, labels: Labels) -> bytes:
    """The confusion matrix (rows true, columns predicted) with counts in the cells. 700 x 600 pixels."""
    fig = Figure(figsize=CONFUSION_SIZE, dpi=DPI, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(len(labels.texts))
    ax.set_xticks(ticks, labels.texts, fontproperties=labels.font, rotation=90 if len(ticks) > 12 else 0)
    ax.set_yticks(ticks, labels.texts, fontproperties=labels.font)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (validation)")
    if len(ticks) <= 20:
        threshold = cm.max() / 2 if cm.size else 0
        for (i, j), count in np.ndenumerate(cm):
            colour = "white" if count > threshold else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=8)
    _note(fig, labels.note)
    return _png(fig)


def per_class_png(accuracy: np.ndarray, labels: Labels) -> bytes:
    """Validation accuracy of each class as bars; a class without samples is marked. 800 x 400 pixels."""
    fig = Figure(figsize=PER_CLASS_SIZE, dpi=DPI, layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(accuracy))
    ax.bar(x, np.nan_to_num(accuracy), color="steelblue")
    for i in np.flatnonzero(np.isnan(accuracy)):
        ax.text(i, 0.02, "no samples", rotation=90, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, labels.texts, fontproperties=labels.font, rotation=90 if len(x) > 12 else 0)
    ax.set(ylim=(0, 1.05), ylabel="accuracy", title="Per-class accuracy (validation)")
    ax.grid(axis="y", alpha=0.3)
    _note(fig, labels.note)
    return _png(fig)


def grid_shape(n_images: int) -> tuple[int, int]:
    """(rows, columns) of the misclassified grid for `n_images` images (at most MAX_MISCLASSIFIED shown)."""
    shown = min(n_images, MAX_MISCLASSIFIED)
    columns = max(1, min(GRID_COLUMNS, shown))
    return max(1, math.ceil(shown / columns)), columns


def misclassified_png(
    images: np.ndarray, image_shape: tuple[int, int], true: np.ndarray, pred: np.ndarray, labels: Labels
) -> bytes:
    """A grid of the first MAX_MISCLASSIFIED images (m, h*w) uint8, each titled 'true → predicted', under
    a title (and the labels' note), each wrapped to fit the figure however few the images.

    Size: max(columns * 125, 400) by rows * 150 + 60 pixels (more when the title or note wraps), see
    `grid_shape`; the grid is centred.
    """
    if len(images) == 0:
        raise ValueError("no misclassified images to draw: images has shape (0, ...)")
    rows, columns = grid_shape(len(images))
    grid_width = columns * GRID_CELL[0]
    width = max(grid_width, GRID_MIN_WIDTH)
    shown = min(len(images), MAX_MISCLASSIFIED)
    heading = _wrapped(f"Misclassified validation images, true → predicted ({shown} of {len(images)} shown)",
                       width, 10)
    note = _wrapped(labels.note, width, 7) if labels.note else ""
    lines = heading.count("\n") + 1, note.count("\n") + 1 if note else 0
    margin = max(GRID_MARGIN, 0.2 + 0.17 * lines[0] + 0.12 * lines[1])  # inches above the grid
    size = (width, rows * GRID_CELL[1] + margin)
    fig = Figure(figsize=size, dpi=DPI)
    left = ((width - grid_width) / 2 + 0.02 * grid_width) / width
    fig.subplots_adjust(left=left, right=1 - left, bottom=0.02, top=1 - margin / size[1], hspace=0.45,
                        wspace=0.1)
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= shown:
            continue
        ax.imshow(images[k].reshape(image_shape), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        title = f"{labels.texts[true[k]]} → {labels.texts[pred[k]]}"
        ax.set_title(title, fontproperties=labels.font, fontsize=10)
    fig.suptitle(heading, fontsize=10, y=1 - 0.05 / size[1], va="top")
    if note:
        fig.text(0.5, 1 - (0.1 + 0.17 * lines[0]) / size[1], note, fontsize=7, color="dimgrey", ha="center",
                 va="top")
    return _png(fig)


def _wrapped(text: str, width_inches: float, points: float) -> str:
    """`text` broken into lines that fit `width_inches` at a font size of `points` (at most two lines; an
    average character is taken as 0.6 of the size wide)."""
    per_line = max(10, int(width_inches * 72 / (0.6 * points)))
    return "\n".join(textwrap.wrap(text, per_line)[:2])


def augmentation_png(originals: np.ndarray, variants: np.ndarray, image_shape: tuple[int, int],
                     labels: Sequence[str], font: FontProperties) -> bytes:
    """What the model trained on: one row per image, the original (k, h*w) first, then its variants
    (k, m, h*w), pixels in 0-255. Each row is labelled with its class on the left, and the originals are
    framed in blue. Size: (m + 1) * 80 + 40 by k * 80 + 40 pixels."""
    k, m = variants.shape[:2]
    if len(originals) != k or k == 0:
        raise ValueError(f"{len(originals)} originals for {k} rows of variants: need one a row, at least one")
    size = ((m + 1) * 0.8 + 0.4, k * 0.8 + 0.4)
    fig = Figure(figsize=size, dpi=DPI)
    fig.subplots_adjust(left=0.45 / size[0], right=0.99, bottom=0.01, top=1 - 0.4 / size[1], hspace=0.1,
                        wspace=0.1)
    axes = fig.subplots(k, m + 1, squeeze=False)
    for row, (original, row_variants) in enumerate(zip(originals, variants, strict=True)):
        for col, image in enumerate([original, *row_variants]):
            ax = axes[row, col]
            ax.imshow(np.asarray(image, float).reshape(image_shape), cmap="gray", vmin=0, vmax=255,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(labels[row], fontproperties=font, fontsize=11, rotation=0, ha="right",
                              va="center")
                for spine in ax.spines.values():
                    spine.set(color="tab:blue", linewidth=2)
    fig.suptitle("Training images (framed in blue) and what augmentation makes of them", fontsize=9,
                 y=1 - 0.05 / size[1], va="top")
    return _png(fig)


def _note(fig: Figure, note: str | None) -> None:
    """A small grey line at the bottom of a constrained-layout figure, with room made for it."""
    if note:
        fig.supxlabel(note, x=0.01, ha="left", fontsize=7, color="dimgrey")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)  # never bbox_inches="tight": the pixel size stays as declared
    return buffer.getvalue()


def sine_fit_png(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray,
                 mse: Sequence[float], final_mse: float) -> bytes:
    """PNG of a fit of sin(2πx) (target, `predict` on a grid of (400, 1), samples x, y (n, 1), the fitted
    model's `final_mse`) beside the training MSE per iteration on a log scale."""
    grid = np.linspace(0.0, 1.0, 400, dtype=np.float32)[:, None]
    fig = Figure(figsize=(10, 4))
    fit_ax, loss_ax = fig.subplots(1, 2)
    fit_ax.plot(grid, np.sin(2 * np.pi * grid), color="0.7", label="sin(2πx)")
    fit_ax.plot(grid, predict(grid), color="C0", label="MLP")
    fit_ax.scatter(x, y, s=12, color="C1", label="training samples", zorder=3)
    fit_ax.set(xlabel="x", ylabel="y", title=f"fit after {len(mse)} iterations, MSE {final_mse:.2e}")
    fit_ax.legend()
    loss_ax.semilogy(np.arange(1, len(mse) + 1), mse)
    loss_ax.set(xlabel="iteration", ylabel="training MSE", title="training MSE (log scale)")
    fig.tight_layout()
    return _png(fig)


def runs_accuracy_png(series: Mapping[str, Sequence[tuple[datetime, float, bool]]]) -> bytes:
    """Validation accuracy of runs over the time they started, a line per data set key (`series`: key ->
    (started, accuracy in [0, 1], promoted) in time order), promoted runs starred. 1000 x 400 pixels."""
    fig = Figure(figsize=CURVES_SIZE, dpi=DPI, layout="constrained")
    ax = fig.subplots()
    for colour, (key, points) in enumerate(series.items()):
        started = [t for t, _, _ in points]
        ax.plot(started, [100 * a for _, a, _ in points], "-o", color=f"C{colour}", markersize=3,
                linewidth=1, label=key)
    promoted = [(t, 100 * a) for points in series.values() for t, a, up in points if up]
    if promoted:
        ax.plot(*zip(*promoted, strict=True), "*", color="crimson", markersize=11, linestyle="",
                label="promoted to champion")
    ax.set(title="Validation accuracy over runs", xlabel="run started (UTC)",
           ylabel="validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    locator = AutoDateLocator()
    ax.xaxis.set(major_locator=locator, major_formatter=ConciseDateFormatter(locator))
    return _png(fig)
