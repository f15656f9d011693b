"""Optimisers over flat parameter buffers (`sgd`, `adam`, `adamw`), gradient-norm clipping and learning-rate
schedules (`constant`, `step`, `cosine`, each with optional linear warm-up), all looked up by name.

An optimiser holds only its own state (step count, moments or velocity, as flat arrays allocated on the
first step) and updates the parameter array in place: `opt.step(params, grads, lr)` with params and grads 1-D
arrays of the same size and dtype (a model's `flat_params` and `flat_grads`). Grads are read, never modified.
A step returns whether every gradient was finite when it found out on the way (Adam's compiled loop does),
else None: then whoever needs to know checks the gradients itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from mlp.fused import adam_kernel
from mlp.hyper import TRAINING
from mlp.registry import lookup

# An optimiser's own weight decay is a number: None (TrainConfig's "the optimiser's own") is not one.
_WEIGHT_DECAY = TRAINING.weight_decay.required()


class Optimizer:
    """Base: state arrays named in `_state_names`, allocated like params on the first step."""

    name = "optimizer"
    _state_names: tuple[str, ...] = ()

    def __init__(self, weight_decay: float = 0.0) -> None:
        self.weight_decay = _WEIGHT_DECAY.check(weight_decay)
        self.t = 0
        self.state: dict[str, np.ndarray] = {}
        self._scratch: np.ndarray | None = None

    def _prepare(self, params: np.ndarray, grads: np.ndarray) -> np.ndarray:
        """Check the buffers, allocate state on first use, count the step; returns a scratch array."""
        if params.ndim != 1 or grads.shape != params.shape or grads.dtype != params.dtype:
            raise ValueError(f"{self.name} expects 1-D params and grads of one shape and dtype, got "
                             f"{params.shape} {params.dtype} and {grads.shape} {grads.dtype}")
        for key in self._state_names:
            state = self.state.get(key)
            if state is None:
                self.state[key] = np.zeros_like(params)
            elif state.shape != params.shape or state.dtype != params.dtype:
                raise ValueError(f"{self.name} state {key!r} is {state.shape} {state.dtype}, "
                                 f"params are {params.shape} {params.dtype}")
        scratch = self._scratch
        if scratch is None or scratch.shape != params.shape or scratch.dtype != params.dtype:
            self._scratch = np.empty_like(params)
        self.t += 1
        return self._scratch

    def state_dict(self) -> dict:
        """{'name', 't', 'hyper': {...}, 'arrays': {name: flat array}} — the arrays are copies."""
        return {"name": self.name, "t": self.t, "hyper": self.hyper(),
                "arrays": {k: v.copy() for k, v in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore `state_dict()` output into an optimiser built with the same hyper-parameters.

        A different optimiser name, unexpected state arrays or a hyper-parameter that differs from the saved
        one raise ValueError (naming the hyper-parameter, saved vs now).
        """
        if state["name"] != self.name:
            raise ValueError(f"optimizer state is for {state['name']!r}, not {self.name!r}")
        if set(state["arrays"]) - set(self._state_names):
            raise ValueError(f"unexpected {self.name} state arrays {sorted(state['arrays'])}")
        saved, now = state["hyper"], self.hyper()
        changed = [k for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)]
        if changed:
            raise ValueError(f"{self.name} state was saved with other hyper-parameters: " + ", ".join(
                f"{k} (saved {saved.get(k)!r}, now {now.get(k)!r})" for k in changed))
        self.t = int(state["t"])
        self.state = {k: np.array(v) for k, v in state["arrays"].items()}
        self._scratch = None

    def step(self, params: np.ndarray, grads: np.ndarray, lr: float) -> bool | None:
        """Update the 1-D params in place from the 1-D grads with learning rate lr; returns whether every
        gradient (squared) was finite, or None when the step did not look."""
        raise NotImplementedError

    def hyper(self) -> dict:
        """The hyper-parameters the optimiser was built with (JSON-able)."""
        return {"weight_decay": self.weight_decay}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.hyper().items())})"


class SGD(Optimizer):
    """v = μ·v + g (+ λ·p);  p -= lr·v, or with Nesterov p -= lr·(g + μ·v). Plain SGD when μ = 0."""

    name = "sgd"

    def __init__(self, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(weight_decay)
        momentum, nesterov = TRAINING.momentum.check(momentum), TRAINING.nesterov.check(nesterov)
        if nesterov and momentum == 0:
            raise ValueError("nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov = momentum, nesterov
        self._state_names = ("velocity",) if momentum else ()

    def hyper(self) -> dict:
        return {"momentum": self.momentum, "nesterov": self.nesterov, **super().hyper()}

    def step(self, params: np.ndarray, grads: np.ndarray, lr: float) -> None:
        """Update the 1-D params in place from the 1-D grads (does not check them: returns None)."""
        tmp = self._prepare(params, grads)
        g = grads
        if self.weight_decay:
            np.multiply(params, self.weight_decay, out=tmp)
            tmp += grads
            g = tmp
        if not self.momentum:
            np.multiply(g, lr, out=tmp)  # g may be tmp itself: in-place is fine
            params -= tmp
            return
        v = self.state["velocity"]
        v *= self.momentum
        v += g
        if self.nesterov:  # p -= lr·g + lr·μ·v
            np.multiply(g, lr, out=tmp)
            params -= tmp
            np.multiply(v, lr * self.momentum, out=tmp)
        else:
            np.multiply(v, lr, out=tmp)
        params -= tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), bias-corrected: m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g²,
    p -= lr · m̂ / (√v̂ + ε). `weight_decay` adds λ·p to the gradient (coupled L2, as torch.optim.Adam).

    The state keeps the decayed sums m_sum = Σ β1^(t−i)·g_i = m/(1−β1) and v_sum = Σ β2^(t−i)·g_i² =
    v/(1−β2), which take two passes to update (sum·β + g) where m and v take three. Then m̂ = m_sum/w1 and
    v̂ = v_sum/w2, where w = Σ_{i<t} βⁱ = (1−βᵗ)/(1−β) is the sum of the weights.

    `fused`: None runs the update as one compiled loop when numba is installed (`mlp.fused`), else as ten
    NumPy passes; False always takes the NumPy passes; True requires numba. Both give bitwise the same
    parameters, so `fused` is not a hyper-parameter and is not saved.
    """

    name = "adam"
    _state_names = ("m_sum", "v_sum")

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0, fused: bool | None = None) -> None:
        super().__init__(weight_decay)
        self.beta1, self.beta2 = TRAINING.beta1.check(beta1), TRAINING.beta2.check(beta2)
        self.eps = TRAINING.eps.check(eps)
        if fused and adam_kernel() is None:
            raise ImportError(f"{self.name} with fused=True needs numba (an mlpflow dependency): pip "
                              "install numba")
        self.fused = fused

    def hyper(self) -> dict:
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps, **super().hyper()}

    def _decay(self, params: np.ndarray, grads: np.ndarray, lr: float, tmp: np.ndarray) -> np.ndarray:
        """The gradient Adam sees: g + λ·p (computed in tmp) when weight decay is on."""
        if not self.weight_decay:
            return grads
        np.multiply(params, self.weight_decay, out=tmp)
        tmp += grads
        return tmp

    def step(self, params: np.ndarray, grads: np.ndarray, lr: float) -> bool | None:
        """Update the 1-D params in place from the 1-D grads: one fused pass, which returns whether every g²
        was finite, or ten NumPy passes, which return None (they do not look)."""
        tmp = self._prepare(params, grads)
        g = self._decay(params, grads, lr, tmp)
        m_sum, v_sum = self.state["m_sum"], self.state["v_sum"]
        b1, b2 = self.beta1, self.beta2
        # p -= lr·m̂/(√v̂ + ε)  ==  p -= m_sum/(√v_sum + eps)·step, with eps = ε·√w2 and step = lr·√w2/w1
        w1, w2 = (1.0 - b1**self.t) / (1.0 - b1), (1.0 - b2**self.t) / (1.0 - b2)
        eps, step = self.eps * math.sqrt(w2), lr * math.sqrt(w2) / w1
        kernel = None if self.fused is False else adam_kernel()
        if kernel is not None:
            scalar = params.dtype.type
            return kernel(params, g, m_sum, v_sum, scalar(b1), scalar(b2), scalar(step), scalar(eps))
        m_sum *= b1
        m_sum += g
        np.multiply(g, g, out=tmp)  # g may be tmp itself: it is no longer needed after this line
        v_sum *= b2
        v_sum += tmp
        np.sqrt(v_sum, out=tmp)
        tmp += eps
        np.divide(m_sum, tmp, out=tmp)
        tmp *= step
        params -= tmp
        return None


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): p -= lr·λ·p before the Adam step."""

    name = "adamw"

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01, fused: bool | None = None) -> None:
        super().__init__(beta1, beta2, eps, weight_decay, fused)

    def _decay(self, params: np.ndarray, grads: np.ndarray, lr: float, tmp: np.ndarray) -> np.ndarray:
        if self.weight_decay:
            params *= 1.0 - lr * self.weight_decay
        return grads


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def get_optimizer(name: str, **hyper) -> Optimizer:
    """An optimiser by name with its hyper-parameters; an unknown name raises ValueError listing the valid."""
    return lookup(OPTIMIZERS, name, "optimizer")(**hyper)


def clip_grad_norm(grads: np.ndarray, max_norm: float) -> float:
    """Scale the 1-D grads in place so their L2 norm is at most max_norm; returns the norm before clipping."""
    norm = math.sqrt(float(np.dot(grads, grads)))
    if norm > max_norm:
        grads *= max_norm / (norm + 1e-12)
    return norm


def _constant(lr: float, epoch: int, epochs: int, step_size: int, gamma: float, min_lr: float) -> float:
    return lr


def _step(lr: float, epoch: int, epochs: int, step_size: int, gamma: float, min_lr: float) -> float:
    return lr * gamma ** (epoch // step_size)


def _cosine(lr: float, epoch: int, epochs: int, step_size: int, gamma: float, min_lr: float) -> float:
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


Schedule = Callable[[float, int, int, int, float, float], float]
SCHEDULES: dict[str, Schedule] = {"constant": _constant, "step": _step, "cosine": _cosine}


def learning_rate(schedule: str, lr: float, epoch: int, epochs: int, warmup_epochs: int = 0,
                  step_size: int = 10, gamma: float = 0.1, min_lr: float = 0.0) -> float:
    """The learning rate of 0-based `epoch` out of `epochs`.

    Warm-up: epochs 0..w−1 ramp linearly, lr·(e+1)/(w+1). After it the schedule runs over the remaining
    epochs, restarting its count at 0: `constant` lr; `step` lr·gamma^(e // step_size); `cosine` from lr
    down towards min_lr along half a cosine.
    """
    fn = lookup(SCHEDULES, schedule, "schedule")
    if epoch < warmup_epochs:
        return lr * (epoch + 1) / (warmup_epochs + 1)
    return fn(lr, epoch - warmup_epochs, max(1, epochs - warmup_epochs), step_size, gamma, min_lr)
