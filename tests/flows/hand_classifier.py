"""A classifier whose outputs are known by hand, for tests of evaluation and prediction rows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from flows.pipeline.classifier import Classifier, Member
from mlp import MLP
from mlp.data.transforms import fit_normalizer

# 1x2 images, white 255 or black 0; the unit normaliser turns them into 1 and 0. Logits = x @ W + b:
# (1, 0) -> (2, 0, 1): class 0; (0, 1) -> (0, 2, 1): class 1; (0, 0) -> (0, 0, 1): class 2;
# (1, 1) -> (2, 2, 1): a tie that argmax gives to class 0.
W = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
B = np.array([0.0, 0.0, 1.0])
X = np.array([[255, 0], [0, 255], [0, 0], [255, 255]], np.uint8)
Y = np.array([0, 1, 2, 1])


def softmax(logits: list[float]) -> list[float]:
    total = sum(math.exp(v) for v in logits)
    return [math.exp(v) / total for v in logits]


def hand_classifier() -> Classifier:
    """One linear layer with weights W and biases B, unit normalisation, classes a, b, c (甲, 乙, 丙)."""
    model = MLP([2, 3])
    params = model.params()
    params["fc0.W"][...] = W
    params["fc0.b"][...] = B
    member = Member(model, fit_normalizer(X, "unit"))
    return Classifier((member,), ("a", "b", "c"), ("甲", "乙", "丙"), (1, 2),
                      source=Path("runs/r/checkpoints/best.npz"))
