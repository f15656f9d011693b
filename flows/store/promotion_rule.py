"""The promotion rule (`RULE`), applied to the right and wrong answers of two models on the same images.

`flows.store.champion` scores both models and calls `decide`; `flows.store.mcnemar` holds the test.
"""

from __future__ import annotations

from flows.store.mcnemar import PairedCounts

RULE = ("the challenger replaces the champion only when, on at least the minimum number of validation "
        "images the champion was not trained on, it is right more often and McNemar's exact test "
        "(one-sided: the images only the challenger gets right against those only the champion gets right) "
        "gives p below the significance level; otherwise the champion stays (a tie in accuracy never "
        "promotes; the losses are shown for information)")


def decide(counts: PairedCounts, *, min_samples: int, alpha: float) -> tuple[bool, float, str]:
    """Apply `RULE` to the 2x2 counts of the compared images: (promote, p-value of McNemar's exact test, why
    in words)."""
    b, c, p = counts.challenger_only, counts.champion_only, counts.p_value
    if counts.n < min_samples:
        return False, p, f"compared on {_images(counts.n)}, fewer than the {min_samples} required"
    disagree = (f"of {counts.n} images compared, the challenger is right on {b} the champion gets wrong "
                f"and wrong on {c} it gets right")
    if b <= c:
        return False, p, f"{disagree}, so it is {'no more' if b == c else 'less'} accurate"
    test = f"McNemar's exact test gives p = {p_text(p, alpha)}"
    if p >= alpha:
        return False, p, f"{disagree}; {test} ≥ {alpha:g}, so the difference could be chance"
    return True, p, f"{disagree}; {test} < {alpha:g}"


def p_text(p: float, alpha: float) -> str:
    """`p` with the fewest significant digits (at least 2) that keep it on its own side of `alpha`:
    0.2265625 -> "0.23", 0.04999 -> "0.04999" against 0.05."""
    for digits in range(2, 18):
        text = f"{p:.{digits}g}"
        if (float(text) < alpha) == (p < alpha):
            return text
    return repr(p)


def _images(k: int) -> str:
    """k images in words: 1 image, 2 images."""
    return f"{k} image" if k == 1 else f"{k} images"
