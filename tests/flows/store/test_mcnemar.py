"""McNemar's exact test: the counts of paired right/wrong answers and the one-sided p-value, against values
worked out by hand and against scipy's binomial test."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest

from flows.store.mcnemar import PairedCounts, exact_p_value


def test_counts_of_hand_made_answers():
    challenger = np.array([1, 1, 1, 0, 0, 1, 0, 1], bool)
    champion = np.array([1, 0, 1, 1, 0, 0, 0, 1], bool)
    counts = PairedCounts.of(challenger, champion)
    assert counts == PairedCounts(both_right=3, challenger_only=2, champion_only=1, both_wrong=2)
    assert counts.n == 8 and counts.p_value == exact_p_value(2, 1) == 0.5  # P(X >= 2), X ~ Bin(3, 1/2)


@pytest.mark.parametrize(("b", "c", "p"), [
    (5, 2, Fraction(21 + 7 + 1, 2**7)),  # P(X >= 5), X ~ Bin(7, 1/2): (C(7,5) + C(7,6) + C(7,7)) / 128
    (5, 0, Fraction(1, 32)),  # every disagreement the challenger's: the smallest b with p < 0.05
    (4, 0, Fraction(1, 16)),  # one fewer is not enough
    (0, 3, Fraction(1)),  # P(X >= 0) = 1
    (3, 3, Fraction(1 + 6 + 15 + 20, 64)),  # a tie: above 1/2
    (0, 0, Fraction(1)),  # no disagreement at all: no evidence
    (10, 2, Fraction(1 + 12 + 66, 2**12)),
])
def test_the_p_value_by_hand(b, c, p):
    assert exact_p_value(b, c) == float(p)


def test_large_samples_are_exact():
    # 2600 against 2400 of 5000 disagreements: far beyond what float binomial terms survive one by one.
    tail = sum(Fraction(comb(5000, k), 2**5000) for k in range(2600, 5001))
    assert exact_p_value(2600, 2400) == float(tail)
    assert exact_p_value(1000, 0) == 2.0**-1000  # one term, still a normal float
    assert exact_p_value(3000, 0) == 0.0  # 2**-3000 underflows to 0 in the one division, without an error


@pytest.mark.parametrize(("b", "c"), [(5, 2), (0, 0), (1, 0), (17, 4), (40, 41), (130, 100), (1200, 1100)])
def test_agrees_with_scipy(b, c):
    stats = pytest.importorskip("scipy.stats")
    expected = stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue if b + c else 1.0
    assert exact_p_value(b, c) == pytest.approx(expected, rel=1e-12)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="b must be an integer >= 0, got -1"):
        exact_p_value(-1, 2)
    with pytest.raises(ValueError, match=r"c must be an integer >= 0, got 2\.5"):
        exact_p_value(1, 2.5)
    with pytest.raises(ValueError, match="champion_only must be an integer >= 0, got -2"):
        PairedCounts(1, 1, -2, 0)
    with pytest.raises(ValueError, match=r"boolean arrays of one shape.*\(3,\) and bool \(2,\)"):
        PairedCounts.of(np.ones(3, bool), np.ones(2, bool))
    with pytest.raises(ValueError, match="boolean arrays"):
        PairedCounts.of(np.ones(3, int), np.ones(3, bool))
