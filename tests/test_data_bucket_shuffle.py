"""The two-pass bucket shuffle: every row exactly once, in an order drawn from the generator, one bucket in
memory at a time, its spill files gone afterwards."""

from __future__ import annotations

import numpy as np
import pytest

from mlp.data.bucket_shuffle import bucket_shuffle, n_buckets_for


def numbered_parts(n: int, part: int):
    """Rows whose first two pixels spell their index, label = index % 7, in parts of `part` rows."""
    for start in range(0, n, part):
        ids = np.arange(start, min(n, start + part))
        X = np.zeros((len(ids), 3), np.uint8)
        X[:, 0], X[:, 1], X[:, 2] = ids // 256, ids % 256, 9
        yield X, ids % 7


def ids_of(X: np.ndarray) -> np.ndarray:
    return X[:, 0].astype(np.int64) * 256 + X[:, 1]


def test_every_row_once_in_a_random_order_drawn_from_the_generator(tmp_path):
    n = 5000
    buckets = n_buckets_for(n, 400)
    assert buckets == 25  # about 200 rows a bucket: half of bucket_rows
    out = list(bucket_shuffle(numbered_parts(n, 512), buckets, np.random.default_rng(1), tmp_path))
    assert len(out) <= buckets and max(len(y) for _, y in out) <= 400
    ids = np.concatenate([ids_of(X) for X, _ in out])
    labels = np.concatenate([y for _, y in out])
    assert np.array_equal(np.sort(ids), np.arange(n)) and np.array_equal(labels, ids % 7)
    assert np.all(np.concatenate([X[:, 2] for X, _ in out]) == 9)
    assert abs(np.corrcoef(ids, np.arange(n))[0, 1]) < 0.1  # not the input order, nor close to it
    other = list(bucket_shuffle(numbered_parts(n, 512), buckets, np.random.default_rng(2), tmp_path))
    assert not np.array_equal(np.concatenate([ids_of(X) for X, _ in other]), ids)
    same = list(bucket_shuffle(numbered_parts(n, 512), buckets, np.random.default_rng(1), tmp_path))
    assert np.array_equal(np.concatenate([ids_of(X) for X, _ in same]), ids)
    assert list(tmp_path.iterdir()) == []  # spill folders removed


def test_every_order_is_reachable_and_none_is_favoured(tmp_path):
    """Three rows, two buckets: each of the 6 orders comes about 1/6 of the time."""
    counts = {}
    rng = np.random.default_rng(0)
    for _ in range(1200):
        order = tuple(np.concatenate([ids_of(X) for X, _ in bucket_shuffle(numbered_parts(3, 2), 2, rng,
                                                                           tmp_path)]))
        counts[order] = counts.get(order, 0) + 1
    assert len(counts) == 6 and all(140 <= c <= 260 for c in counts.values()), counts


def test_an_abandoned_shuffle_leaves_no_spill_files_and_bad_inputs_are_named(tmp_path):
    shuffled = bucket_shuffle(numbered_parts(100, 10), 4, np.random.default_rng(0), tmp_path)
    next(shuffled)
    shuffled.close()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="n_buckets must be an integer >= 1, got 0"):
        next(bucket_shuffle(numbered_parts(10, 5), 0, np.random.default_rng(0), tmp_path))
    with pytest.raises(ValueError, match="no rows to shuffle"):
        next(bucket_shuffle(iter([]), 3, np.random.default_rng(0), tmp_path))
    bad = [(np.zeros((2, 3), np.uint8), np.zeros(2)), (np.zeros((2, 4), np.uint8), np.zeros(2))]
    with pytest.raises(ValueError, match="a part has 4 pixels a row; the earlier ones had 3"):
        next(bucket_shuffle(iter(bad), 3, np.random.default_rng(0), tmp_path))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="bucket_rows must be an integer >= 1, got 0"):
        n_buckets_for(10, 0)
