"""Element-wise activation layers, looked up by name in `ACTIVATIONS`.

Each is a small layer: `forward(x, train)` caches what `backward` needs only when `train` is true, and
`backward(grad_out)` returns the input gradient (same shape as x). Activations have no parameters.

`inplace = True` (set by `MLP`, whose activations always take a fresh array from the Linear before them and
a fresh gradient from the layer after) lets ReLU write its output over x and its gradient over grad_out:
the same values, without two allocations and one pass per call. `MLP` also hands each ReLU the bias of the
Linear before it (`ReLU.take_bias`), so that in training the bias add and the ReLU, and in backward the mask
and the bias gradient, each take one compiled pass (`mlp.fused`), bitwise the same as NumPy's passes.
"""

from __future__ import annotations

import math

import numpy as np

from mlp.fused import relu_kernels
from mlp.layers import Layer, Linear
from mlp.registry import lookup


class Activation(Layer):
    """Base of the parameter-free element-wise layers; `name` is the key in `ACTIVATIONS`."""

    name = "activation"
    inplace = False  # may forward overwrite x and backward overwrite grad_out (see the module)?


class ReLU(Activation):
    """max(x, 0)."""

    name = "relu"
    bias_of: Linear | None = None  # the Linear whose bias this layer adds (`take_bias`)

    def take_bias(self, linear: Linear) -> None:
        """Add `linear`'s bias in this layer's forward and fill its gradient in this layer's backward, each in
        the same pass as the ReLU; `linear` must be the layer just before this one. Implies `inplace`."""
        linear.bias_deferred, self.bias_of, self.inplace = True, linear, True

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """(n, d) -> (n, d)."""
        linear = self.bias_of
        if linear is None:
            out = np.maximum(x, 0, out=x if self.inplace else None)
        else:  # x is linear's fresh x @ W
            kernels = relu_kernels() if train else None  # inference keeps numba out of predict's start-up
            if kernels is not None:
                kernels[0](x, linear.params["b"], x.dtype.type(0))
            else:
                x += linear.params["b"]
                np.maximum(x, 0, out=x)
            out = x
        if train:
            self._cache = out
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, d): grad where the output was positive, else 0 (grad times the mask, as 1 or 0); with
        `take_bias`, also the Linear's bias gradient Σ_rows of that."""
        out, linear = self._cached(), self.bias_of
        if linear is None:
            return np.multiply(grad_out, out > 0, out=grad_out if self.inplace else None)
        kernels = relu_kernels()
        if kernels is not None:
            kernels[1](grad_out, out, linear.grads["b"], out.dtype.type(0), out.dtype.type(1))
        else:
            np.multiply(grad_out, out > 0, out=grad_out)
            np.add.reduce(grad_out, axis=0, out=linear.grads["b"])
        return grad_out


class LeakyReLU(Activation):
    """x for x > 0, slope·x otherwise."""

    name = "leaky_relu"

    def __init__(self, slope: float = 0.01) -> None:
        super().__init__()
        if not 0.0 <= slope < 1.0:
            raise ValueError(f"leaky_relu slope must be in [0, 1), got {slope!r}")
        self.slope = slope

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """(n, d) -> (n, d)."""
        positive = x > 0
        if train:
            self._cache = positive
        return np.where(positive, x, self.slope * x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, d)."""
        return np.where(self._cached(), grad_out, self.slope * grad_out)

    def __repr__(self) -> str:
        return f"LeakyReLU(slope={self.slope})"


class Tanh(Activation):
    """tanh(x)."""

    name = "tanh"

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """(n, d) -> (n, d)."""
        out = np.tanh(x)
        if train:
            self._cache = out
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, d): grad · (1 − tanh²)."""
        out = self._cached()
        return grad_out * (1 - out * out)


class Sigmoid(Activation):
    """1 / (1 + exp(−x)), computed as (1 + tanh(x/2)) / 2: no overflow for large |x|."""

    name = "sigmoid"

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """(n, d) -> (n, d)."""
        out = 0.5 * (1 + np.tanh(0.5 * x))
        if train:
            self._cache = out
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, d): grad · s(1 − s)."""
        out = self._cached()
        return grad_out * out * (1 - out)


_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


class GELU(Activation):
    """GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""

    name = "gelu"

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """(n, d) -> (n, d)."""
        t = np.tanh(_GELU_C * (x + _GELU_K * x**3))
        if train:
            self._cache = (x, t)
        return 0.5 * x * (1 + t)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, d)."""
        x, t = self._cached()
        dt = (1 - t * t) * _GELU_C * (1 + 3 * _GELU_K * x * x)
        return grad_out * (0.5 * (1 + t) + 0.5 * x * dt)


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (ReLU, LeakyReLU, Tanh, Sigmoid, GELU)
}


def get_activation(name: str) -> Activation:
    """A new activation layer by name; an unknown name raises ValueError listing the valid ones."""
    return lookup(ACTIVATIONS, name, "activation")()
