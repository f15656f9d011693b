"""Classifier: a checkpoint's model applied to raw pixels with the normaliser saved beside it."""

from __future__ import annotations

import numpy as np
import pytest

from flows.pipeline.classifier import Classifier, Member, classifier_metadata
from mlp import MLP, TrainConfig, Trainer, save_checkpoint
from mlp.data.transforms import border_background, fit_normalizer
from mlp.data.views import apply_view, frame


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
    metadata = classifier_metadata([("raw", norm)], ["top", "bottom"], ["上", "下"], (4, 4))
    path = save_checkpoint(tmp_path / "m.npz", model, metadata=metadata)

    clf = Classifier.from_checkpoint(path)
    X_new, y_new = _bars(rng, 50)
    assert clf.display_names == ("上", "下") and clf.image_shape == (4, 4)
    np.testing.assert_array_equal(clf.predict(X_new), model.predict(norm.transform(X_new)))
    np.testing.assert_allclose(clf.predict_proba(X_new), model.predict_proba(norm.transform(X_new)))
    loss, accuracy = clf.score(X_new, y_new)
    assert accuracy == 1.0 and loss < 0.5
    # Raw pixels without the normaliser give other outputs: the saved transform is what makes them agree.
    assert not np.allclose(clf.predict_proba(X_new), model.predict_proba(X_new.astype(np.float32)))


def test_checkpoint_without_image_metadata_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "bare.npz", MLP([16, 2]), metadata={"class_names": ["a", "b"]})
    with pytest.raises(ValueError, match=r"bare\.npz.*display_names, image_shape, members"):
        Classifier.from_checkpoint(path)


def test_mismatched_image_shape_is_refused():
    norm = fit_normalizer(np.zeros((3, 16), np.uint8), "unit")
    with pytest.raises(ValueError, match=r"\(5, 5\) = 25"):
        Classifier((Member(MLP([16, 2]), norm),), ("a", "b"), ("a", "b"), (5, 5))


def _trained(X, y, view, seed):
    """A network trained on `view` of the 4x4 images X, with its normaliser."""
    inputs = apply_view(view, X, (4, 4))
    norm = fit_normalizer(inputs, "per_pixel")
    model = MLP([16, 8, 2], seed=seed)
    config = TrainConfig(epochs=20, batch_size=16, progress=False, seed=seed)
    Trainer(config).fit(model, norm.transform(inputs), y)
    return model, norm


def test_an_ensemble_averages_its_members_each_through_its_own_view(tmp_path):
    rng = np.random.default_rng(0)
    X, y = _bars(rng, 200)
    (raw, raw_norm), (framed, framed_norm) = _trained(X, y, "raw", 1), _trained(X, y, "framed", 2)
    meta = classifier_metadata([("raw", raw_norm), ("framed", framed_norm)], ["top", "bottom"], ["上", "下"],
                               (4, 4))
    path = save_checkpoint(tmp_path / "e.npz", raw, members=[framed], metadata=meta)
    clf = Classifier.from_checkpoint(path)
    assert clf.views == ("raw", "framed")
    X_new, y_new = _bars(rng, 40)
    expected = (raw.predict_proba(raw_norm.transform(X_new))
                + framed.predict_proba(framed_norm.transform(frame(X_new, (4, 4))))) / 2
    np.testing.assert_allclose(clf.predict_proba(X_new), expected, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X_new), expected.argmax(axis=1))
    loss, accuracy = clf.score(X_new, y_new)
    assert loss == pytest.approx(-np.log(expected[np.arange(40), y_new]).mean(), rel=1e-5)
    assert accuracy == np.mean(expected.argmax(axis=1) == y_new)
    for bad in (np.where(y_new == 1, -1, 0), y_new + 1, y_new.astype(float)):  # -1, 2, floats
        with pytest.raises(ValueError, match=r"labels must be integers in \[0, 2\)"):
            clf.score(X_new, bad)


def test_checkpoints_from_before_ensembles_load_as_one_raw_member(tmp_path):
    norm = fit_normalizer(np.zeros((3, 16), np.uint8), "unit")
    legacy = {"class_names": ["a", "b"], "display_names": ["a", "b"], "image_shape": [4, 4],
              "normalizer": norm.to_dict()}
    clf = Classifier.from_checkpoint(save_checkpoint(tmp_path / "old.npz", MLP([16, 2]), metadata=legacy))
    assert clf.views == ("raw",) and clf.members[0].normalizer.to_dict() == norm.to_dict()
    assert clf.test_time == "none"


def test_a_checkpoint_must_describe_each_of_its_networks(tmp_path):
    norm = fit_normalizer(np.zeros((3, 16), np.uint8), "unit")
    meta = classifier_metadata([("raw", norm)], ["a", "b"], ["a", "b"], (4, 4))
    path = save_checkpoint(tmp_path / "two.npz", MLP([16, 2]), members=[MLP([16, 2])], metadata=meta)
    with pytest.raises(ValueError, match=r"two\.npz holds 2 networks but describes 1"):
        Classifier.from_checkpoint(path)
    with pytest.raises(ValueError, match="unknown view 'mirrored'"):
        Member(MLP([16, 2]), norm, "mirrored")


def test_test_time_shifts_average_each_network_over_the_image_and_its_four_one_pixel_shifts(tmp_path):
    rng = np.random.default_rng(0)
    X, y = _bars(rng, 200)
    (raw, raw_norm), (framed, framed_norm) = _trained(X, y, "raw", 1), _trained(X, y, "framed", 2)
    meta = classifier_metadata([("raw", raw_norm), ("framed", framed_norm)], ["top", "bottom"], ["上", "下"],
                               (4, 4), test_time="shifts")
    path = save_checkpoint(tmp_path / "t.npz", raw, members=[framed], metadata=meta)
    clf = Classifier.from_checkpoint(path)
    assert clf.test_time == "shifts"
    X_new = _bars(rng, 30)[0]
    images = X_new.reshape(-1, 4, 4)
    background = border_background(X_new, (4, 4))[:, None, None]  # what moves in: each border's median
    variants = [images]
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):  # up, down, left, right, by hand
        moved = np.empty_like(images)
        moved[...] = background
        moved[:, max(dr, 0):4 + min(dr, 0), max(dc, 0):4 + min(dc, 0)] = \
            images[:, max(-dr, 0):4 + min(-dr, 0), max(-dc, 0):4 + min(-dc, 0)]
        variants.append(moved)
    expected = np.mean([p for v in variants for p in (
        raw.predict_proba(raw_norm.transform(v.reshape(-1, 16))),
        framed.predict_proba(framed_norm.transform(frame(v.reshape(-1, 16), (4, 4)))))], axis=0)
    np.testing.assert_allclose(clf.predict_proba(X_new), expected, rtol=1e-5)
    as_drawn = Classifier(clf.members, clf.class_names, clf.display_names, clf.image_shape)
    assert as_drawn.test_time == "none" and not np.allclose(as_drawn.predict_proba(X_new), expected)
    with pytest.raises(ValueError, match=r"unknown test-time augmentation 'flips'.*none, shifts"):
        classifier_metadata([("raw", raw_norm)], ["a", "b"], ["a", "b"], (4, 4), test_time="flips")
