"""Weight initialisers, looked up by name in `INITIALIZERS`. Biases always start at zero."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlp.registry import lookup

Initializer = Callable[[np.random.Generator, tuple[int, int], float], np.ndarray]


def he(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Normal with std √(2 / n_in) (He et al. 2015), for ReLU-like activations. `scale` is unused."""
    return rng.standard_normal(shape) * np.sqrt(2.0 / shape[0])


def xavier(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Uniform on ±√(6 / (n_in + n_out)) (Glorot & Bengio 2010), for tanh/sigmoid. `scale` is unused."""
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, size=shape)


def normal(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Normal with std `scale` (the seed design's `initial_scalar`, e.g. 0.01)."""
    return rng.standard_normal(shape) * scale


INITIALIZERS: dict[str, Initializer] = {"he": he, "xavier": xavier, "normal": normal}


def init_weights(name: str, rng: np.random.Generator, shape: tuple[int, int],
                 scale: float = 0.01) -> np.ndarray:
    """(n_in, n_out) float64 weights drawn by the initialiser `name`; unknown names raise ValueError."""
    return lookup(INITIALIZERS, name, "initializer")(rng, shape, scale)
