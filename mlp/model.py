"""The multilayer perceptron: Linear → activation (→ BatchNorm1d → Dropout) blocks over one flat buffer.

All trainable parameters live in one contiguous 1-D array `flat_params` (the model's dtype) and every layer's
`params` are views into it; gradients likewise in `flat_grads`. Optimisers update the flat arrays in place.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from mlp.activations import ReLU, get_activation
from mlp.hyper import MODEL
from mlp.initializers import init_weights
from mlp.layers import BatchNorm1d, Dropout, Layer, Linear
from mlp.losses import softmax

DTYPES = {"float32": np.float32, "float64": np.float64}
_INFERENCE_CHUNK = 8192  # rows per forward pass in predict/predict_proba: bounds memory on large inputs


class MLP:
    """A multilayer perceptron; no activation after the last layer (it outputs logits or regression values).

    `MLP(**model.config)` rebuilds the same architecture and initial weights. The seed drives the weight
    initialisation and, through `model.rng`, the dropout masks. Every argument after layer_sizes is
    keyword-only.
    """

    def __init__(self, layer_sizes: Sequence[int] = MODEL.layer_sizes.default, *,
                 activation: str = MODEL.activation.default, dropout: float = MODEL.dropout.default,
                 batchnorm: bool = MODEL.batchnorm.default, init: str = MODEL.init.default,
                 init_scale: float = MODEL.init_scale.default, seed: int = MODEL.seed.default,
                 dtype: str = MODEL.dtype.default) -> None:
        dtype = dtype if isinstance(dtype, str) else np.dtype(dtype).name
        given = {"layer_sizes": layer_sizes, "activation": activation, "dropout": dropout,
                 "batchnorm": batchnorm, "init": init, "init_scale": init_scale, "seed": seed, "dtype": dtype}
        check = {name: MODEL[name].check for name in given}  # each argument through its declaration
        check["init_scale"] = check["init_scale"] if init == "normal" else float  # only `normal` has a scale
        self.config = {name: check[name](value) for name, value in given.items()}
        self.config["layer_sizes"] = sizes = list(self.config["layer_sizes"])
        self.dtype = np.dtype(DTYPES[self.config["dtype"]])
        init_seq, dropout_seq = np.random.SeedSequence(self.config["seed"]).spawn(2)
        init_rng = np.random.default_rng(init_seq)
        self.rng = np.random.default_rng(dropout_seq)

        named: list[tuple[str, Layer]] = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            linear = Linear(n_in, n_out, self.dtype)
            linear.params["W"][...] = init_weights(init, init_rng, (n_in, n_out), init_scale)
            named.append((f"fc{i}", linear))
            if i < len(sizes) - 2:
                act = get_activation(activation)
                act.inplace = True  # its input is the Linear's fresh output, its gradient fresh from below
                if isinstance(act, ReLU):
                    act.take_bias(linear)  # the bias add and its gradient in ReLU's passes
                named.append((f"act{i}", act))
                if batchnorm:
                    named.append((f"bn{i}", BatchNorm1d(n_out, dtype=self.dtype)))
                if dropout:
                    drop = Dropout(dropout, self.rng)
                    # In place over a fresh input unless the activation before keeps that array for its
                    # backward: tanh's and sigmoid's would change. ReLU's mask (output > 0) stays right
                    # where dropout keeps a unit, and where it zeroes one the gradient is zero anyway.
                    drop.inplace = batchnorm or activation in ("relu", "leaky_relu", "gelu")
                    named.append((f"drop{i}", drop))
        self.layer_names = [name for name, _ in named]
        self.layers = [layer for _, layer in named]
        self._pack()

    def _pack(self) -> None:
        """Move every layer's params and grads into one flat buffer each, leaving views in the layers."""
        sizes = [a.size for layer in self.layers for a in layer.params.values()]
        self.flat_params = np.empty(sum(sizes), self.dtype)
        self.flat_grads = np.zeros(sum(sizes), self.dtype)
        self._params: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}
        offset = 0
        for lname, layer in zip(self.layer_names, self.layers, strict=True):
            for key, value in layer.params.items():
                stop = offset + value.size
                p = self.flat_params[offset:stop].reshape(value.shape)
                g = self.flat_grads[offset:stop].reshape(value.shape)
                p[...] = value
                layer.params[key], layer.grads[key] = p, g
                self._params[f"{lname}.{key}"], self._grads[f"{lname}.{key}"] = p, g
                offset = stop

    @property
    def n_in(self) -> int:
        """Input width: layer_sizes[0]."""
        return self.config["layer_sizes"][0]

    @property
    def n_out(self) -> int:
        """Output width: layer_sizes[-1]."""
        return self.config["layer_sizes"][-1]

    @property
    def n_params(self) -> int:
        """Number of trainable scalars (weights, biases, BatchNorm scales and shifts)."""
        return self.flat_params.size

    def params(self) -> dict[str, np.ndarray]:
        """Name -> parameter array, views into `flat_params` (writing to them changes the model)."""
        return dict(self._params)

    def grads(self) -> dict[str, np.ndarray]:
        """Name -> gradient array from the last backward, views into `flat_grads`; same names as params()."""
        return dict(self._grads)

    def buffers(self) -> dict[str, np.ndarray]:
        """Name -> non-trained state (BatchNorm running statistics)."""
        return {f"{lname}.{key}": value for lname, layer in zip(self.layer_names, self.layers, strict=True)
                for key, value in layer.buffers.items()}

    def check_input(self, x: np.ndarray) -> np.ndarray:
        """x as a (n, n_in) array of the model's dtype; any other shape raises ValueError naming both."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"MLP expects X of shape (n, {self.n_in}), got {x.shape}")
        return x if x.dtype == self.dtype else x.astype(self.dtype)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """(n, n_in) -> (n, n_out) logits.

        `train=True` caches for backward and uses dropout and batch statistics; `train=False` caches nothing
        and changes no state.
        """
        x = self.check_input(x)
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """(n, n_out) d loss / d output -> (n, n_in) d loss / d input; overwrites grads() in place.

        Needs a preceding forward(x, train=True). `need_input_grad=False` skips the first layer's input
        gradient (training never uses it) and returns None.
        """
        if grad.ndim != 2 or grad.shape[1] != self.n_out:
            raise ValueError(f"MLP.backward expects a gradient of shape (n, {self.n_out}), got {grad.shape}")
        for layer in reversed(self.layers[1:]):
            grad = layer.backward(grad)
        return self.layers[0].backward(grad, need_input_grad)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, n_in) -> (n, n_out) softmax probabilities, in inference mode."""
        x = self.check_input(x)
        chunks = [softmax(self.forward(x[i:i + _INFERENCE_CHUNK]))
                  for i in range(0, x.shape[0], _INFERENCE_CHUNK)]
        return np.concatenate(chunks) if chunks else np.empty((0, self.n_out), self.dtype)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n, n_in) -> (n,) int64 class indices (argmax of the logits), in inference mode."""
        x = self.check_input(x)
        chunks = [self.forward(x[i:i + _INFERENCE_CHUNK]).argmax(axis=1)
                  for i in range(0, x.shape[0], _INFERENCE_CHUNK)]
        return np.concatenate(chunks).astype(np.int64) if chunks else np.empty(0, np.int64)

    def load_state(self, params: Mapping[str, np.ndarray], buffers: Mapping[str, np.ndarray] | None = None,
                   source: str = "the given state") -> None:
        """Copy parameters (and buffers) into this model; names and shapes must match exactly.

        A mismatch raises ValueError naming the parameter and both shapes (`source`'s and this model's).
        """
        for kind, mine, theirs in (("parameter", self._params, params), ("buffer", self.buffers(), buffers)):
            if theirs is None:
                continue
            if set(mine) != set(theirs):
                raise ValueError(
                    f"{source} does not fit this model {self.config['layer_sizes']}: {kind}s "
                    f"{sorted(set(theirs) - set(mine))} are not in the model and "
                    f"{sorted(set(mine) - set(theirs))} are missing from {source}")
            for name, target in mine.items():
                if theirs[name].shape != target.shape:
                    raise ValueError(
                        f"{source} does not fit this model {self.config['layer_sizes']}: {kind} {name!r} "
                        f"has shape {theirs[name].shape} in {source} but {target.shape} in the model")
        for name, target in self._params.items():
            target[...] = params[name]
        for name, target in self.buffers().items():
            if buffers is not None:
                target[...] = buffers[name]

    def summary(self) -> str:
        """A readable table: one row per layer with its output width and parameter count."""
        width = self.n_in
        rows = [("layer", "type", "output", "params")]
        for lname, layer in zip(self.layer_names, self.layers, strict=True):
            width = getattr(layer, "n_out", width)
            n = sum(a.size for a in layer.params.values())
            rows.append((lname, repr(layer), f"(n, {width})", f"{n:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = [f"MLP {self.config['layer_sizes']}, {self.dtype.name}"]
        lines += ["  ".join(cell.ljust(w) if c < 3 else cell.rjust(w) for c, (cell, w) in
                            enumerate(zip(r, widths, strict=True))).rstrip() for r in rows]
        lines.append(f"trainable parameters: {self.n_params:,}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"MLP({args})"
