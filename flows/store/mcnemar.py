"""McNemar's exact test, one-sided: is the challenger more accurate than the champion on the same images?

Scored on the same n images, each image falls in one cell of a 2x2 table: both models right, only the
challenger right (b), only the champion right (c), both wrong. Only the b + c images where the two disagree
carry evidence. Were both equally accurate, each of those would be the challenger's with probability 1/2, so
b ~ Binomial(b + c, 1/2); the p-value is P(X >= b), the chance of the challenger winning at least b of them
by luck. It is computed exactly, in integers (a sum of binomial coefficients over 2**(b + c), one correctly
rounded division), for any number of images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TEST_NAME = "McNemar's exact test (one-sided)"


@dataclass(frozen=True)
class PairedCounts:
    """How two classifiers did on the same images: both right, only the challenger right (b), only the
    champion right (c), both wrong."""

    both_right: int
    challenger_only: int
    champion_only: int
    both_wrong: int

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")

    @classmethod
    def of(cls, challenger_right: np.ndarray, champion_right: np.ndarray) -> PairedCounts:
        """The counts of two boolean arrays (n,): whether each model got each image right."""
        a, b = np.asarray(challenger_right), np.asarray(champion_right)
        if a.dtype != bool or b.dtype != bool or a.ndim != 1 or a.shape != b.shape:
            raise ValueError(f"challenger_right and champion_right must be boolean arrays of one shape (n,), "
                             f"got {a.dtype} {a.shape} and {b.dtype} {b.shape}")
        return cls(int(np.count_nonzero(a & b)), int(np.count_nonzero(a & ~b)),
                   int(np.count_nonzero(~a & b)), int(np.count_nonzero(~a & ~b)))

    @property
    def n(self) -> int:
        """The images compared."""
        return self.both_right + self.challenger_only + self.champion_only + self.both_wrong

    @property
    def p_value(self) -> float:
        """`exact_p_value(challenger_only, champion_only)`."""
        return exact_p_value(self.challenger_only, self.champion_only)


def exact_p_value(b: int, c: int) -> float:
    """P(X >= b) for X ~ Binomial(b + c, 1/2): the one-sided p-value of McNemar's exact test that the
    challenger, right alone on b images, is more accurate than the champion, right alone on c; 1.0 when
    b + c == 0."""
    for name, value in (("b", b), ("c", c)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    n, b = int(b) + int(c), int(b)
    term, tail = math.comb(n, b), 0  # term = comb(n, k), exact, as k runs from b to n
    for k in range(b, n + 1):
        tail += term
        term = term * (n - k) // (k + 1)
    return tail / (1 << n)  # int / int: correctly rounded however large
