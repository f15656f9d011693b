"""The promotion rule on hand-made counts: enough images, more often right, and unlikely to be chance."""

from __future__ import annotations

import pytest

from flows.store.mcnemar import PairedCounts
from flows.store.promotion_rule import decide, p_text

RULE = {"min_samples": 200, "alpha": 0.05}


def test_the_issue_case_keeps_the_champion():
    # Both right on all 21 images compared: a loss a little lower proves nothing.
    promoted, p, reason = decide(PairedCounts(21, 0, 0, 0), **RULE)
    assert not promoted and p == 1.0
    assert reason == "compared on 21 images, fewer than the 200 required"
    # Even with no minimum, a tie in accuracy never promotes.
    promoted, _, reason = decide(PairedCounts(21, 0, 0, 0), min_samples=1, alpha=0.05)
    assert not promoted and reason == ("of 21 images compared, the challenger is right on 0 the champion "
                                       "gets wrong and wrong on 0 it gets right, so it is no more accurate")


def test_a_difference_that_could_be_chance_keeps_the_champion():
    promoted, p, reason = decide(PairedCounts(290, 5, 2, 3), **RULE)
    assert not promoted and p == 29 / 128
    assert reason == ("of 300 images compared, the challenger is right on 5 the champion gets wrong and "
                      "wrong on 2 it gets right; McNemar's exact test gives p = 0.23 ≥ 0.05, so the "
                      "difference could be chance")


def test_a_clear_difference_on_enough_images_promotes():
    promoted, p, reason = decide(PairedCounts(280, 12, 1, 7), **RULE)
    assert promoted and p == (13 + 1) / 2**13  # P(X >= 12), X ~ Bin(13, 1/2)
    assert reason.endswith("right on 12 the champion gets wrong and wrong on 1 it gets right; McNemar's "
                           "exact test gives p = 0.0017 < 0.05")


def test_a_less_accurate_challenger_is_kept_out_whatever_alpha():
    promoted, p, reason = decide(PairedCounts(280, 3, 9, 8), min_samples=200, alpha=0.99)
    assert not promoted and p > 0.9 and reason.endswith("so it is less accurate")


@pytest.mark.parametrize(("n", "promoted"), [(199, False), (200, True)])
def test_the_minimum_is_inclusive(n, promoted):
    assert decide(PairedCounts(n - 10, 10, 0, 0), **RULE)[0] is promoted  # p = 2**-10


def test_the_significance_level_is_strict():
    assert not decide(PairedCounts(300, 5, 0, 0), min_samples=1, alpha=1 / 32)[0]  # p = 1/32 exactly
    assert decide(PairedCounts(300, 5, 0, 0), min_samples=1, alpha=0.0313)[0]


@pytest.mark.parametrize(("p", "alpha", "text"), [
    (29 / 128, 0.05, "0.23"),
    (0.04999, 0.05, "0.04999"),  # never "0.05 < 0.05"
    (0.0500001, 0.05, "0.05"),  # "0.05 ≥ 0.05" is true
    (1.0, 0.05, "1"),
    (2.0**-40, 0.05, "9.1e-13"),
])
def test_p_values_are_written_on_their_side_of_alpha(p, alpha, text):
    assert p_text(p, alpha) == text
