"""A trained classifier applied to raw images: a checkpoint's model plus the preprocessing saved with it.

The pipeline stores `classifier_metadata(...)` in every checkpoint, so prediction on new images applies
exactly the transform the model was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlp.checkpoint import load_checkpoint
from mlp.data.transforms import Normalizer
from mlp.model import MLP
from mlp.train import evaluate

REQUIRED_KEYS = ("class_names", "display_names", "image_shape", "normalizer")


def classifier_metadata(normalizer: Normalizer, class_names, display_names, image_shape) -> dict:
    """The JSON-able checkpoint metadata a `Classifier` needs: classes, their display names, the image
    shape (h, w) and the fitted normaliser."""
    return {
        "class_names": list(class_names),
        "display_names": list(display_names),
        "image_shape": [int(s) for s in image_shape],
        "normalizer": normalizer.to_dict(),
    }


@dataclass(frozen=True, eq=False)
class Classifier:
    """A model with its normaliser, class names and expected image shape; inputs are raw pixels (n, h*w)."""

    model: MLP
    normalizer: Normalizer
    class_names: tuple[str, ...]
    display_names: tuple[str, ...]
    image_shape: tuple[int, int]
    source: Path | None = None

    def __post_init__(self) -> None:
        n_pixels = self.image_shape[0] * self.image_shape[1]
        if self.model.n_in != n_pixels or self.normalizer.n_features != n_pixels:
            raise ValueError(f"model inputs ({self.model.n_in}) and normaliser features "
                             f"({self.normalizer.n_features}) must both equal {self.image_shape} = "
                             f"{n_pixels}")
        if not len(self.class_names) == len(self.display_names) == self.model.n_out:
            raise ValueError(f"{len(self.class_names)} class names and {len(self.display_names)} display "
                             f"names for a model with {self.model.n_out} outputs")

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Classifier:
        """Load a checkpoint written with `classifier_metadata`; a checkpoint without it raises ValueError
        naming the file and the missing keys."""
        ckpt = load_checkpoint(path)
        missing = [k for k in REQUIRED_KEYS if k not in ckpt.metadata]
        if missing:
            raise ValueError(f"checkpoint {path} has no {', '.join(missing)} in its metadata: it was not "
                             "saved by the image pipeline, so it cannot be applied to images")
        meta = ckpt.metadata
        return cls(model=ckpt.model, normalizer=Normalizer.from_dict(meta["normalizer"]),
                   class_names=tuple(meta["class_names"]), display_names=tuple(meta["display_names"]),
                   image_shape=tuple(meta["image_shape"]), source=Path(path))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Raw pixels (n, h*w) -> (n, n_classes) class probabilities."""
        return self.model.predict_proba(self.normalizer.transform(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw pixels (n, h*w) -> (n,) int64 class indices."""
        return self.model.predict(self.normalizer.transform(X))

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Mean cross-entropy and accuracy on raw pixels X (n, h*w) with labels y (n,)."""
        loss, accuracy = evaluate(self.model, self.normalizer.transform(X), y)
        return loss, float(accuracy)
