"""A trained classifier applied to raw images: a checkpoint's networks plus the preprocessing saved with them.

A classifier is one network or an ensemble of several, each a `Member`: the network, the view of the image
it was trained on (`mlp.data.views`) and its fitted normaliser. Its prediction is the mean of the members'
probabilities, each over the image's test-time variants (TEST_TIME: the image as drawn, or also shifted by a
pixel each way). The pipeline stores `classifier_metadata(...)` in every checkpoint, so prediction on new
images applies exactly the transforms the networks were trained with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlp.checkpoint import Checkpoint, load_checkpoint
from mlp.data.transforms import Normalizer, shifted
from mlp.data.views import VIEWS, apply_view
from mlp.model import MLP
from mlp.registry import lookup

REQUIRED_KEYS = ("class_names", "display_names", "image_shape", "members")


def _as_drawn(X: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    return np.asarray(X)[None]


# Test-time augmentation: name -> the variants of raw images X (n, h*w) as (k, n, h*w), whose predicted
# probabilities are averaged. "shifts": as drawn and moved one pixel up, down, left and right.
TEST_TIME: dict[str, Callable[[np.ndarray, tuple[int, int]], np.ndarray]] = {
    "none": _as_drawn,
    "shifts": shifted,
}


@dataclass(frozen=True, eq=False)
class Member:
    """One network of a classifier and how it sees an image: through `view`, then `normalizer`."""

    model: MLP
    normalizer: Normalizer
    view: str = "raw"

    def __post_init__(self) -> None:
        lookup(VIEWS, self.view, "view")

    def inputs(self, X: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
        """Raw pixels (n, h*w) -> this network's inputs (n, h*w) float32."""
        return self.normalizer.transform(apply_view(self.view, X, image_shape))


def classifier_metadata(members: Sequence[tuple[str, Normalizer]], class_names, display_names,
                        image_shape, test_time: str = "none") -> dict:
    """The JSON-able checkpoint metadata a `Classifier` needs: each network's (view, fitted normaliser), in
    the order of the checkpoint's models (its model, then its members), the classes, their display names,
    the image shape (h, w) and the test-time augmentation (a name in TEST_TIME)."""
    lookup(TEST_TIME, test_time, "test-time augmentation")
    return {
        "class_names": list(class_names),
        "display_names": list(display_names),
        "image_shape": [int(s) for s in image_shape],
        "members": [{"view": view, "normalizer": normalizer.to_dict()} for view, normalizer in members],
        "test_time": test_time,
    }


@dataclass(frozen=True, eq=False)
class Classifier:
    """Networks with their views and normalisers, class names and the expected image shape; inputs are raw
    pixels (n, h*w)."""

    members: tuple[Member, ...]
    class_names: tuple[str, ...]
    display_names: tuple[str, ...]
    image_shape: tuple[int, int]
    source: Path | None = None
    test_time: str = "none"

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("a classifier needs at least one member network")
        lookup(TEST_TIME, self.test_time, "test-time augmentation")
        n_pixels = self.image_shape[0] * self.image_shape[1]
        for k, member in enumerate(self.members):
            if member.model.n_in != n_pixels or member.normalizer.n_features != n_pixels:
                raise ValueError(f"member {k}: model inputs ({member.model.n_in}) and normaliser features "
                                 f"({member.normalizer.n_features}) must both equal {self.image_shape} = "
                                 f"{n_pixels}")
            if not len(self.class_names) == len(self.display_names) == member.model.n_out:
                raise ValueError(f"member {k}: {len(self.class_names)} class names and "
                                 f"{len(self.display_names)} display names for a model with "
                                 f"{member.model.n_out} outputs")

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Classifier:
        """Load a checkpoint written with `classifier_metadata`; a checkpoint without it raises ValueError
        naming the file and the missing keys. Checkpoints from before ensembles (one network, metadata
        "normalizer") load as one member with the raw view; those from before test-time augmentation predict
        each image as drawn."""
        return cls.from_loaded(load_checkpoint(path), path)

    @classmethod
    def from_loaded(cls, ckpt: Checkpoint, path: str | Path) -> Classifier:
        """`from_checkpoint` for a checkpoint already loaded from `path`."""
        meta = dict(ckpt.metadata)
        if "normalizer" in meta and "members" not in meta:
            meta["members"] = [{"view": "raw", "normalizer": meta["normalizer"]}]
        missing = [k for k in REQUIRED_KEYS if k not in meta]
        if missing:
            raise ValueError(f"checkpoint {path} has no {', '.join(missing)} in its metadata: it was not "
                             "saved by the image pipeline, so it cannot be applied to images")
        models = [ckpt.model, *ckpt.members]
        if len(meta["members"]) != len(models):
            raise ValueError(f"checkpoint {path} holds {len(models)} networks but describes "
                             f"{len(meta['members'])}")
        members = tuple(Member(model, Normalizer.from_dict(m["normalizer"]), m["view"])
                        for model, m in zip(models, meta["members"], strict=True))
        return cls(members=members, class_names=tuple(meta["class_names"]),
                   display_names=tuple(meta["display_names"]), image_shape=tuple(meta["image_shape"]),
                   source=Path(path), test_time=meta.get("test_time", "none"))

    @property
    def views(self) -> tuple[str, ...]:
        """Each member's view, in order."""
        return tuple(m.view for m in self.members)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Raw pixels (n, h*w) -> (n, n_classes) class probabilities: the mean over the members and over each
        image's test-time variants."""
        variants = TEST_TIME[self.test_time](np.asarray(X), self.image_shape)
        proba = [m.model.predict_proba(m.inputs(v, self.image_shape)) for m in self.members for v in variants]
        return proba[0] if len(proba) == 1 else np.mean(proba, axis=0, dtype=np.float32)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw pixels (n, h*w) -> (n,) int64 class indices."""
        return self.predict_proba(X).argmax(axis=1).astype(np.int64)

    def score(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Mean cross-entropy of the predicted probabilities and accuracy on raw pixels X (n, h*w), labels
        y (n,) in [0, n_classes)."""
        return self.score_proba(self.predict_proba(X), y)

    def score_proba(self, proba: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Mean cross-entropy and accuracy of probabilities (n, n_classes) from `predict_proba` against
        labels y (n,); labels that are not class indices raise ValueError."""
        y = np.asarray(y)
        if y.shape != (len(proba),):
            raise ValueError(f"y must have shape ({len(proba)},), got {y.shape}")
        n_classes = len(self.class_names)
        if y.dtype.kind not in "iu" or (y.size and not 0 <= y.min() <= y.max() < n_classes):
            raise ValueError(f"labels must be integers in [0, {n_classes}), got {y.dtype} values from "
                             f"{y.min() if y.size else '-'} to {y.max() if y.size else '-'}")
        picked = proba[np.arange(len(y)), y].astype(np.float64)
        loss = float(-np.log(np.maximum(picked, np.finfo(np.float32).tiny)).mean())
        return loss, float(np.mean(proba.argmax(axis=1) == y))
