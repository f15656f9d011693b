"""mlp.data.dataset: the ImageDataset container checks its shapes and selects rows consistently."""

from __future__ import annotations

import numpy as np
import pytest

from mlp.data.dataset import ImageDataset


def dataset(n: int = 4) -> ImageDataset:
    return ImageDataset(
        X=np.arange(n * 6, dtype=np.uint8).reshape(n, 6),
        y=np.arange(n, dtype=np.int64) % 2,
        split=np.array(["train", "validation", "train", "test"][:n]),
        paths=np.array([f"p{i}" for i in range(n)]),
        hashes=np.array([f"h{i}" for i in range(n)]),
        class_names=("a", "b"),
        display_names=("A", "B"),
        image_shape=(2, 3),
        source_root="/data",
    )


def test_take_and_where_keep_rows_aligned():
    ds = dataset()
    train = ds.where("train")
    assert len(train) == 2 and list(train.paths) == ["p0", "p2"]
    np.testing.assert_array_equal(train.X, ds.X[[0, 2]])
    np.testing.assert_array_equal(train.y, ds.y[[0, 2]])
    assert train.class_names == ds.class_names and train.image_shape == ds.image_shape
    picked = ds.take(np.array([3, 1]))
    assert list(picked.hashes) == ["h3", "h1"] and list(picked.split) == ["test", "validation"]
    with pytest.raises(ValueError, match="unknown split 'val'"):
        ds.where("val")


def test_shapes_are_checked():
    ds = dataset()
    with pytest.raises(ValueError, match=r"X has shape \(4, 6\)"):
        ImageDataset(**{**ds.__dict__, "image_shape": (3, 3)})
    with pytest.raises(ValueError, match="y has shape"):
        ImageDataset(**{**ds.__dict__, "y": ds.y[:3]})
    with pytest.raises(ValueError, match="display names"):
        ImageDataset(**{**ds.__dict__, "display_names": ("A",)})
