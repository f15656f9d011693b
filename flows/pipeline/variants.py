"""The sweep's configurations: named changes to the pipeline's parameters (one thing at a time, or the seed
design's configurations, see EXPERIMENTS.md), and studies, named groups of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flows.pipeline.params import PipelineParams

# The seed design's configuration (EXPERIMENTS.md): one hidden layer of 500 ReLU units, Adam at a constant
# 1e-3, 30 epochs of batch 64, pixels / 255, no shuffling, dropout, label smoothing or augmentation; then its
# ladder. Every field it names is pinned, so the base's other values cannot leak into it.
SEED_DESIGN: dict[str, Any] = {
    "members": ("raw",), "hidden": (500,), "activation": "relu", "optimizer": "adam", "lr": 1e-3,
    "batch_size": 64, "schedule": "constant", "warmup_epochs": 0,
    "epochs": 30, "normalization": "unit", "shuffle": False, "dropout": 0.0, "label_smoothing": 0.0,
    "augment": "none", "test_time": "none",
}


SEED_NORMALISED = SEED_DESIGN | {"shuffle": True, "normalization": "per_pixel", "dropout": 0.2}


# The first edition's default: the seed's normalised net with cosine decay, label smoothing and shifts.
FIRST_EDITION = SEED_NORMALISED | {"schedule": "cosine", "label_smoothing": 0.1, "augment": "shift"}


# name -> the changes it makes to the base parameters
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "hidden-100": {"hidden": (100,)},
    "hidden-512-256": {"hidden": (512, 256)},
    "batch-16": {"batch_size": 16},
    "batch-256": {"batch_size": 256},
    "no-normalisation": {"normalization": "unit"},  # pixels / 255 only, not standardised
    "no-dropout": {"dropout": 0.0},
    "no-augment": {"augment": "none"},
    "shift-augment": {"augment": "shift"},  # the seed design's one-pixel shifts, made once
    "no-shuffle": {"shuffle": False},
    "raw-only": {"members": ("raw",)},
    "framed-only": {"members": ("framed",)},
    "four-networks": {"members": ("raw", "framed", "raw", "framed")},
    "elastic": {"distort_elastic": 34.0},  # Simard's elastic distortions on top of the affine ones
    "no-test-time": {"test_time": "none"},  # predict each image as drawn only
    "seed-plain": SEED_DESIGN,
    "seed-shuffle": SEED_DESIGN | {"shuffle": True},
    "seed-normalised": SEED_NORMALISED,
    "seed-batch-full": SEED_NORMALISED | {"batch_size": 1_000_000},  # clipped to the training set
    "seed-batch-16": SEED_NORMALISED | {"batch_size": 16},
    "seed-batch-8": SEED_NORMALISED | {"batch_size": 8},
    "seed-batch-1": SEED_NORMALISED | {"batch_size": 1},
    "seed-256": SEED_NORMALISED | {"hidden": (256,)},
    "seed-64": SEED_NORMALISED | {"hidden": (64,)},
    "seed-128-128": SEED_NORMALISED | {"hidden": (128, 128)},
    "seed-512-512": SEED_NORMALISED | {"hidden": (512, 512)},
    "seed-512-512-512": SEED_NORMALISED | {"hidden": (512, 512, 512)},
    "first-edition": FIRST_EDITION,
    "first-edition-distorted": FIRST_EDITION | {"augment": "distort"},
    "first-edition-distorted-100": FIRST_EDITION | {"augment": "distort", "epochs": 100},
    "new-network": {"members": ("raw",), "test_time": "none"},  # the default's network alone, as drawn
}


# Variants made of several changes, described in words (the others list their changes).
DESCRIPTIONS = {
    "seed-plain": "the seed design: one hidden layer of 500, Adam 1e-3 constant, batch 64, 30 epochs, "
                  "pixels/255, no shuffle, dropout, label smoothing or augmentation",
    "seed-shuffle": "seed-plain + shuffled every epoch",
    "seed-normalised": "seed-shuffle + per-pixel standardisation and dropout 0.2",
    "seed-batch-full": "seed-normalised, full batch",
    **{f"seed-batch-{n}": f"seed-normalised, batch {n}" for n in (16, 8, 1)},
    **{f"seed-{h}": f"seed-normalised, hidden {h.replace('-', ',')}"
       for h in ("256", "64", "128-128", "512-512", "512-512-512")},
    "first-edition": "the first edition's default: seed-normalised + cosine decay, label smoothing 0.1, "
                     "one-pixel shifts",
    "first-edition-distorted": "first-edition with fresh random distortions every epoch instead of shifts",
    "first-edition-distorted-100": "first-edition-distorted for 100 epochs",
    "new-network": "the default's network alone ([n, 1024, 512, n], AdamW with warm-up) on the raw view, "
                   "each image predicted as drawn",
    "no-test-time": "the default's two networks, each image predicted as drawn only",
}


# Named groups of variants, accepted by --configs beside single names.
STUDIES: dict[str, tuple[str, ...]] = {
    "one-change": ("default", "hidden-100", "hidden-512-256", "batch-16", "batch-256", "no-normalisation",
                   "no-dropout", "no-augment", "shift-augment", "no-shuffle", "raw-only", "framed-only",
                   "four-networks", "elastic", "no-test-time"),
    "seed-ladder": ("seed-plain", "seed-shuffle", "seed-normalised", "seed-batch-full", "seed-batch-16",
                    "seed-batch-8", "seed-batch-1"),
    "seed-architectures": ("seed-256", "seed-64", "seed-128-128", "seed-512-512", "seed-512-512-512"),
    "additions": ("first-edition", "first-edition-distorted", "first-edition-distorted-100", "new-network",
                  "no-test-time", "default"),
}


def expand(names: Sequence[str]) -> list[str]:
    """Variant names with each study name replaced by its variants, each variant once, in order."""
    return list(dict.fromkeys(v for n in names for v in STUDIES.get(n, (n,))))


def configurations(base: PipelineParams, names: Sequence[str] | None = None) -> dict[str, PipelineParams]:
    """The parameters of each named variant or study (default: the `one-change` study) in the order given,
    validated. An unknown name raises ValueError listing the valid ones."""
    names = expand(STUDIES["one-change"] if names is None else names)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise ValueError(f"unknown sweep configurations {unknown}; valid: {', '.join(STUDIES)} (studies), "
                         f"{', '.join(VARIANTS)}")
    fields = base.model_dump()
    return {n: PipelineParams(**(fields | VARIANTS[n])) for n in names}


def describe_changes(name: str) -> str:
    """The variant in words: its description, or its changes, e.g. ``hidden=512,256``; ``base`` for none."""
    if name in DESCRIPTIONS:
        return DESCRIPTIONS[name]
    changes = VARIANTS[name]
    shown = (",".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in changes.values())
    return ", ".join(f"{k}={v}" for k, v in zip(changes, shown, strict=True)) or "base"
