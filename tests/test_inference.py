"""Classifier: a checkpoint's model applied to raw pixels with the normaliser saved beside it."""

from __future__ import annotations

import numpy as np
import pytest

from mlp import MLP, TrainConfig, Trainer, save_checkpoint
from mlp.data.transforms import fit_normalizer
from mlp.inference import Classifier, classifier_metadata


def _bars(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """4x4 images: class 0 has a dark top row, class 1 a dark bottom row, on a noisy white background."""
    y = rng.integers(0, 2, n)
    X = rng.integers(200, 256, (n, 16)).astype(np.uint8)
    X[y == 0, :4] = 0
    X[y == 1, 12:] = 0
    return X, y


def test_round_trip_applies_the_saved_normaliser(tmp_path):
    rng = np.random.default_rng(0)
    X, y = _bars(rng, 200)
    norm = fit_normalizer(X, "per_pixel")
    model = MLP([16, 8, 2], seed=1)
    Trainer(TrainConfig(epochs=30, batch_size=16, progress=False)).fit(model, norm.transform(X), y)
    path = save_checkpoint(tmp_path / "m.npz", model,
                           metadata=classifier_metadata(norm, ["top", "bottom"], ["上", "下"], (4, 4)))

    clf = Classifier.from_checkpoint(path)
    X_new, y_new = _bars(rng, 50)
    assert clf.display_names == ("上", "下") and clf.image_shape == (4, 4)
    np.testing.assert_array_equal(clf.predict(X_new), model.predict(norm.transform(X_new)))
    np.testing.assert_allclose(clf.predict_proba(X_new), model.predict_proba(norm.transform(X_new)))
    loss, accuracy = clf.evaluate(X_new, y_new)
    assert accuracy == 1.0 and loss < 0.5
    # Raw pixels without the normaliser give other outputs: the saved transform is what makes them agree.
    assert not np.allclose(clf.predict_proba(X_new), model.predict_proba(X_new.astype(np.float32)))


def test_checkpoint_without_image_metadata_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "bare.npz", MLP([16, 2]), metadata={"class_names": ["a", "b"]})
    with pytest.raises(ValueError, match=r"bare\.npz.*display_names, image_shape, normalizer"):
        Classifier.from_checkpoint(path)


def test_mismatched_image_shape_is_refused():
    norm = fit_normalizer(np.zeros((3, 16), np.uint8), "unit")
    with pytest.raises(ValueError, match=r"\(5, 5\) = 25"):
        Classifier(MLP([16, 2]), norm, ("a", "b"), ("a", "b"), (5, 5))
