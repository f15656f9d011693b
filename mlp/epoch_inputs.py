"""Each epoch's training inputs: the training set itself, or a fresh augmentation of it made one epoch ahead.

An augmentation is any function ``augment(X, rng) -> X_epoch`` of the training rows, X (n, d) ->
(n, d'), that draws only from the generator it is given. Epoch e's generator is seeded from (seed, e) alone,
so an epoch's inputs do not depend on what ran before it: a resumed fit makes the same inputs, and epoch e + 1
can be made in a background thread while epoch e trains (NumPy releases the GIL in its array operations,
so the two overlap on a second core).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]
_STREAM = 0x61756720  # "aug ": keeps augmentation draws apart from every other use of the same seed


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator that augments 1-based `epoch` of a fit seeded with `seed`."""
    return np.random.default_rng([seed, _STREAM, epoch])


class EpochInputs:
    """``inputs(epoch)`` gives that epoch's training inputs, checked by ``check`` (e.g. a model's input
    check); with ``prefetch``, the next epoch's are made in a background thread meanwhile. ``close()`` ends
    the thread."""

    def __init__(self, X: np.ndarray, augment: Augment | None, seed: int, last_epoch: int,
                 check: Callable[[np.ndarray], np.ndarray], prefetch: bool = True) -> None:
        self.X, self.augment, self.seed, self.last_epoch, self.check = X, augment, seed, last_epoch, check
        self._pool = ThreadPoolExecutor(1, "mlp-augment") if augment is not None and prefetch else None
        self._next: tuple[int, Future] | None = None

    def close(self) -> None:
        """Stop making inputs ahead: wait for a draw in progress, drop any queued one."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _make(self, epoch: int) -> np.ndarray:
        out = self.check(self.augment(self.X, epoch_rng(self.seed, epoch)))
        if out.shape[0] != self.X.shape[0]:
            raise ValueError(f"augment returned {out.shape[0]} rows for {self.X.shape[0]} training rows; it "
                             "must transform each row, keeping the labels' order")
        return out

    def __call__(self, epoch: int) -> np.ndarray:
        """The inputs of 1-based `epoch`: X itself without augmentation."""
        if self.augment is None:
            return self.X
        if self._next is not None and self._next[0] == epoch:
            out = self._next[1].result()
        else:
            out = self._make(epoch)
        self._next = None
        if self._pool is not None and epoch < self.last_epoch:
            self._next = (epoch + 1, self._pool.submit(self._make, epoch + 1))
        return out
