"""Metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mlp.metrics import accuracy, confusion_matrix, per_class_accuracy

# Six samples, three classes. By hand: class 0 has samples 0, 1 (predicted 0, 1); class 1 has samples 2, 3, 4
# (predicted 1, 1, 2); class 2 has sample 5 (predicted 2). Correct: samples 0, 2, 3, 5 -> 4 of 6.
Y_TRUE = np.array([0, 0, 1, 1, 1, 2])
Y_PRED = np.array([0, 1, 1, 1, 2, 2])


def test_accuracy_by_hand():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert accuracy([3, 3], [3, 3]) == 1.0
    assert accuracy([0, 1], [1, 0]) == 0.0


def test_accuracy_returns_python_float():
    assert type(accuracy(Y_TRUE, Y_PRED)) is float


def test_confusion_matrix_rows_true_columns_predicted():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    expected = np.array(
        [
            [1, 1, 0],
            [0, 2, 1],
            [0, 0, 1],
        ]
    )
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64
    assert cm.sum() == len(Y_TRUE)


def test_confusion_matrix_keeps_classes_absent_from_the_data():
    cm = confusion_matrix([0, 0], [0, 2], 4)
    assert cm.shape == (4, 4)
    assert cm[0, 0] == 1 and cm[0, 2] == 1 and cm.sum() == 2


def test_per_class_accuracy_by_hand():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    np.testing.assert_allclose(per_class_accuracy(cm), [1 / 2, 2 / 3, 1.0])


def test_per_class_accuracy_of_a_class_without_samples_is_nan(recwarn):
    cm = np.array([[3, 1, 0], [0, 0, 0], [0, 2, 2]])
    acc = per_class_accuracy(cm)
    assert acc[0] == pytest.approx(0.75) and acc[2] == pytest.approx(0.5)
    assert np.isnan(acc[1])
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([0, 1, 2], [0, 1], "same length"),
        ([[0, 1]], [[0, 1]], r"1-D.*\(1, 2\)"),
        ([], [], "empty"),
    ],
)
def test_bad_shapes_are_named(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        accuracy(y_true, y_pred)
    with pytest.raises(ValueError, match=match):
        confusion_matrix(y_true, y_pred, 3)


def test_float_labels_are_rejected():
    with pytest.raises(TypeError, match=r"y_pred.*float64"):
        accuracy([0, 1], [0.0, 1.0])


def test_out_of_range_labels_are_named():
    with pytest.raises(ValueError, match=r"y_pred holds labels outside \[0, 3\): \[3, 7\]"):
        confusion_matrix([0, 1, 2, 0], [3, 7, 3, 0], 3)
    with pytest.raises(ValueError, match=r"y_true holds labels outside \[0, 3\): \[-1\]"):
        confusion_matrix([-1, 1], [0, 1], 3)


@pytest.mark.parametrize("n_classes", [0, -2, 2.5, True])
def test_bad_n_classes(n_classes):
    with pytest.raises(ValueError, match="n_classes"):
        confusion_matrix([0], [0], n_classes)


@pytest.mark.parametrize("cm", [np.zeros((2, 3)), np.zeros(3), np.zeros((0, 0))])
def test_per_class_accuracy_needs_a_square_matrix(cm):
    with pytest.raises(ValueError, match="square"):
        per_class_accuracy(cm)


def test_per_class_accuracy_rejects_negative_counts():
    with pytest.raises(ValueError, match="negative"):
        per_class_accuracy(np.array([[1, -1], [0, 1]]))
