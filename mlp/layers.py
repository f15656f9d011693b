"""Layers with parameters or state: Linear, Dropout, BatchNorm1d (activations live in `mlp.activations`).

Every layer has `params` and `grads` (name -> array, the same keys), and `buffers` for non-trained state.
`forward(x, train)` caches what `backward` needs only when `train` is true; with `train=False` nothing is
cached and no state changes. `backward(grad_out)` returns the input gradient and overwrites (never
accumulates) `grads` in place, so the arrays in `grads` may be views into a model's flat gradient buffer.
"""

from __future__ import annotations

import numpy as np

from mlp.hyper import MODEL


class Layer:
    """Base: no parameters, no buffers, no cache."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self._cache = None

    def _cached(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward(x, train=True)")
        return self._cache

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(Layer):
    """out = x @ W + b with W (n_in, n_out) and b (n_out,), both trained. Starts at zero: initialise W.

    `bias_deferred` (set by `ReLU.take_bias`, which `MLP` calls): the ReLU after this layer adds b in its own
    pass and fills b's gradient in its backward, so forward returns x @ W and backward leaves grads["b"].
    """

    bias_deferred = False

    def __init__(self, n_in: int, n_out: int, dtype: np.dtype | str = np.float32) -> None:
        super().__init__()
        if n_in < 1 or n_out < 1:
            raise ValueError(f"Linear sizes must be positive, got n_in={n_in}, n_out={n_out}")
        self.n_in, self.n_out = n_in, n_out
        self.params = {"W": np.zeros((n_in, n_out), dtype), "b": np.zeros(n_out, dtype)}
        self.grads = {"W": np.zeros((n_in, n_out), dtype), "b": np.zeros(n_out, dtype)}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """(n, n_in) -> (n, n_out)."""
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"Linear expects input of shape (n, {self.n_in}), got {x.shape}")
        out = x @ self.params["W"]
        if not self.bias_deferred:
            out += self.params["b"]
        if train:
            self._cache = x
        return out

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """(n, n_out) -> (n, n_in); fills grads W = xᵀ·grad_out and b = Σ grad_out over the batch.

        `need_input_grad=False` skips the input gradient (the first layer's is never used) and returns None.
        """
        x = self._cached()
        if x.shape[0] == 1:  # an outer product (np.outer's own call): matmul's (n_in, 1) x (1, n_out) is slow
            np.multiply(x.T, grad_out, out=self.grads["W"])
        else:
            np.matmul(x.T, grad_out, out=self.grads["W"])
        if not self.bias_deferred:
            np.add.reduce(grad_out, axis=0, out=self.grads["b"])  # grad_out.sum(axis=0) without its wrappers
        return grad_out @ self.params["W"].T if need_input_grad else None

    def __repr__(self) -> str:
        return f"Linear({self.n_in}, {self.n_out})"


class Dropout(Layer):
    """Inverted dropout: in training zero each unit with probability p and scale the rest by 1/(1 − p).

    Identity at inference. The mask (already scaled) is cached for backward. `rng` draws the masks.
    """

    inplace = False  # may forward overwrite x and backward grad_out? (`MLP` sets it, as for activations)

    def __init__(self, p: float, rng: np.random.Generator) -> None:
        super().__init__()
        self.p = MODEL.dropout.check(p)
        self.rng = rng

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """(n, d) -> (n, d)."""
        if not train or self.p == 0.0:
            return x
        dtype = np.result_type(x.dtype, np.float32)
        scaled = self.rng.random(x.shape, dtype=dtype)
        np.copyto(scaled, scaled >= self.p)  # the mask as 1 and 0, in the draws' own array
        scaled *= 1.0 / (1.0 - self.p)
        self._cache = scaled
        return np.multiply(x, scaled, out=x if self.inplace and x.dtype == dtype else None)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, d): grad_out times the cached scaled mask."""
        if self.p == 0.0:
            return grad_out
        mask = self._cached()
        inplace = self.inplace and grad_out.dtype == mask.dtype
        return np.multiply(grad_out, mask, out=grad_out if inplace else None)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class BatchNorm1d(Layer):
    """Per-feature batch normalisation with trained scale `gamma` and shift `beta`.

    Training normalises with the batch's mean and (biased) variance and updates the running statistics
    (`running_var` with the unbiased batch variance, as PyTorch does); inference uses the running statistics.
    """

    def __init__(self, n_features: int, momentum: float = 0.1, eps: float = 1e-5,
                 dtype: np.dtype | str = np.float32) -> None:
        super().__init__()
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"BatchNorm1d momentum must be in (0, 1], got {momentum!r}")
        self.n_features, self.momentum, self.eps = n_features, momentum, eps
        self.params = {"gamma": np.ones(n_features, dtype), "beta": np.zeros(n_features, dtype)}
        self.grads = {"gamma": np.zeros(n_features, dtype), "beta": np.zeros(n_features, dtype)}
        self.buffers = {"running_mean": np.zeros(n_features, dtype),
                        "running_var": np.ones(n_features, dtype)}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """(n, d) -> (n, d). Training needs n >= 2 (a single sample has no variance)."""
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"BatchNorm1d expects input of shape (n, {self.n_features}), got {x.shape}")
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not train:
            scale = gamma / np.sqrt(self.buffers["running_var"] + self.eps)
            return (x - self.buffers["running_mean"]) * scale + beta
        n = x.shape[0]
        if n < 2:
            raise ValueError(f"BatchNorm1d needs at least 2 samples per training batch, got {n}")
        mean = x.mean(axis=0)
        centred = x - mean
        var = np.mean(centred * centred, axis=0)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = centred * inv_std
        m = self.momentum
        self.buffers["running_mean"] *= 1 - m
        self.buffers["running_mean"] += m * mean
        self.buffers["running_var"] *= 1 - m
        self.buffers["running_var"] += (m * n / (n - 1)) * var
        self._cache = (x_hat, inv_std)
        return x_hat * gamma + beta

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, d); fills grads gamma = Σ grad·x̂ and beta = Σ grad."""
        x_hat, inv_std = self._cached()
        n = grad_out.shape[0]
        dbeta = np.sum(grad_out, axis=0, out=self.grads["beta"])
        dgamma = np.sum(grad_out * x_hat, axis=0, out=self.grads["gamma"])
        return (self.params["gamma"] * inv_std / n) * (n * grad_out - dbeta - x_hat * dgamma)

    def __repr__(self) -> str:
        return f"BatchNorm1d({self.n_features}, momentum={self.momentum}, eps={self.eps})"
