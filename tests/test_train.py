"""Trainer: learning, batch sizes, best/last checkpoints, early stopping, NaN guard, resume, real data."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from mlp.checkpoint import load_checkpoint
from mlp.config import TrainConfig
from mlp.epoch_inputs import epoch_rng
from mlp.losses import CrossEntropy, get_loss
from mlp.model import MLP
from mlp.optim import Adam, learning_rate
from mlp.train import Diverged, Trainer, check_data, evaluate


def _blobs(n: int = 240, n_features: int = 6, n_classes: int = 3, seed: int = 0):
    """Gaussian clusters around random centres: (n, n_features) float32 and (n,) labels."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, n_features)) * 3
    y = rng.integers(0, n_classes, n)
    return (centres[y] + rng.standard_normal((n, n_features))).astype(np.float32), y


def _config(**kwargs) -> TrainConfig:
    return TrainConfig(**{"epochs": 8, "batch_size": 16, "lr": 0.01, "progress": False, **kwargs})


def test_fit_learns_and_records_every_epoch():
    X, y = _blobs()
    model = MLP([6, 16, 3], seed=0)
    history = Trainer(_config()).fit(model, X[:180], y[:180], X[180:], y[180:])
    assert [r.epoch for r in history.records] == list(range(1, 9))
    first, last = history.records[0], history.records[-1]
    assert last.train_loss < first.train_loss / 3
    assert history.best.val_accuracy > 0.95 and history.monitor == "val_loss"
    assert all(r.lr == 0.01 and r.seconds > 0 and r.train_accuracy is not None for r in history.records)
    assert evaluate(model, X[180:], y[180:]) == (history.best.val_loss, history.best.val_accuracy)


@pytest.mark.parametrize("batch_size", [1, 7, None, 10_000])
def test_any_batch_size_from_one_to_the_whole_set(batch_size):
    X, y = _blobs(n=60)
    history = Trainer(_config(epochs=4, batch_size=batch_size, lr=0.005)).fit(MLP([6, 8, 3]), X, y)
    assert history.records[-1].train_loss < history.records[0].train_loss
    assert history.monitor == "train_loss"  # no validation set


def test_regression_with_mse():
    x = np.linspace(-1, 1, 50, dtype=np.float32)[:, None]
    model = MLP([1, 16, 2], activation="tanh")
    history = Trainer(_config(epochs=30, loss="mse", lr=0.02)).fit(model, x, np.hstack([x, x**2]))
    assert history.records[-1].train_loss < 0.01 and history.records[-1].train_accuracy is None


def test_best_weights_are_restored_and_checkpoints_written(tmp_path: Path):
    X, y = _blobs()
    wrong = (y[180:] + 1) % 3  # validation labels the model unlearns: val loss rises after the first epoch
    model = MLP([6, 16, 3], seed=0)
    seen = []
    history = Trainer(_config(checkpoint_dir=tmp_path), callbacks=[lambda r, h: seen.append(r.epoch)]).fit(
        model, X[:180], y[:180], X[180:], wrong, metadata={"class_names": ["a", "b", "c"]})
    assert seen == list(range(1, 9))
    assert history.best_epoch < 8
    best, last = load_checkpoint(tmp_path / "best.npz"), load_checkpoint(tmp_path / "last.npz")
    assert best.epoch == history.best_epoch and last.epoch == 8
    np.testing.assert_array_equal(model.flat_params, best.model.flat_params)
    assert not np.array_equal(model.flat_params, last.model.flat_params)
    assert best.metadata == last.metadata == {"class_names": ["a", "b", "c"]}
    assert last.history == history.rows() and best.metrics["val_loss"] == history.best.val_loss
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz", "last.npz"]


def test_early_stopping_after_patience_epochs(tmp_path: Path):
    X, y = _blobs()
    history = Trainer(_config(epochs=20, patience=2, monitor="val_accuracy")).fit(
        MLP([6, 16, 3], seed=0), X[:180], y[:180], X[180:], (y[180:] + 1) % 3)
    assert len(history) == history.best_epoch + 2 < 20


def test_validation_does_not_disturb_training(tmp_path: Path):
    X, y = _blobs()
    finals = []
    for name, val in (("with", (X[180:], y[180:])), ("without", (None, None))):
        model = MLP([6, 16, 3], dropout=0.3, batchnorm=True, seed=0)
        Trainer(_config(epochs=3, checkpoint_dir=tmp_path / name)).fit(model, X[:180], y[:180], *val)
        finals.append(load_checkpoint(tmp_path / name / "last.npz").model)
    np.testing.assert_array_equal(finals[0].flat_params, finals[1].flat_params)
    for name, value in finals[0].buffers().items():
        np.testing.assert_array_equal(value, finals[1].buffers()[name])


def test_a_non_finite_loss_stops_training_and_keeps_the_checkpoints(tmp_path: Path):
    X, y = _blobs()
    saved = {}

    def poison(record, history):
        if record.epoch == 2:
            saved.update({p.name: p.read_bytes() for p in tmp_path.iterdir()})
            model.flat_params[0] = np.nan

    model = MLP([6, 16, 3])
    with pytest.raises(Diverged, match=r"epoch 3, batch 1 of 12, learning rate 0.01: non-finite training "
                                       r"loss nan"):
        Trainer(_config(checkpoint_dir=tmp_path), callbacks=[poison]).fit(model, X[:180], y[:180],
                                                                           X[180:], y[180:])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == saved
    # Nothing trained is lost: the model holds the best epoch's weights, as best.npz does.
    best = load_checkpoint(tmp_path / "best.npz")
    np.testing.assert_array_equal(model.flat_params, best.model.flat_params)


def test_a_non_finite_validation_loss_stops_training_with_the_best_weights(tmp_path: Path):
    X, y = _blobs()
    model = MLP([6, 16, 3])

    def blow_up(record, history):
        if record.epoch == 2:
            model.flat_params[:] = 1e30  # finite weights whose outputs overflow to inf - inf = nan

    with pytest.raises(Diverged, match=r"epoch 3.*non-finite .* loss .*weights of epoch [12]"):
        Trainer(_config(checkpoint_dir=tmp_path), callbacks=[blow_up]).fit(model, X[:180], y[:180],
                                                                           X[180:], y[180:])
    assert np.isfinite(model.flat_params).all() and load_checkpoint(tmp_path / "last.npz").epoch == 2


def test_a_real_divergence_raises_diverged_quietly_and_keeps_the_finished_epochs(tmp_path: Path):
    # Plain SGD with a huge constant step on real clusters: the loss overflows within a few epochs.
    X, y = _blobs(n=200)
    model = MLP([6, 32, 3], seed=0)
    config = _config(epochs=30, batch_size=20, optimizer="sgd", lr=50.0, schedule="constant",
                     warmup_epochs=0, checkpoint_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw NumPy overflow warning
        expected = (r"epoch 2, batch 3 of 8, learning rate 50: non-finite training loss inf; try a lower "
                    r"learning rate, e.g. 5 \(a tenth\)")
        with pytest.raises(Diverged, match=expected) as caught:
            Trainer(config).fit(model, X[:160], y[:160], X[160:], y[160:])
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, FloatingPointError)
    assert (error.epoch, error.batch, error.n_batches, error.lr, error.suggested_lr) == (2, 3, 8, 50.0, 5.0)
    assert [r.epoch for r in error.history.records] == [1]
    last, best = load_checkpoint(tmp_path / "last.npz"), load_checkpoint(tmp_path / "best.npz")
    assert last.epoch == error.epoch - 1 and best.epoch == error.history.best_epoch
    assert np.isfinite(last.model.flat_params).all() and np.isfinite(best.model.flat_params).all()
    np.testing.assert_array_equal(model.flat_params, best.model.flat_params)
    assert pickle.loads(pickle.dumps(error)).__dict__.keys() == error.__dict__.keys()
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


@pytest.mark.parametrize("how", ["adam", "adam without numba", "sgd", "adam with clipping"])
def test_a_non_finite_gradient_under_a_finite_loss_stops_training_with_the_kept_weights(tmp_path: Path,
                                                                                        monkeypatch, how):
    # Every path to the check: Adam's compiled loop reports it, the NumPy passes and SGD leave it to the
    # Trainer's dot product, clipping's norm is the check.
    if how == "adam without numba":
        monkeypatch.setattr("mlp.optim.adam_kernel", lambda: None)
    X, y = _blobs()
    model = MLP([6, 16, 3], seed=0)
    epoch_1 = {}

    def poison(record, history):
        if record.epoch == 1:
            epoch_1["params"] = model.flat_params.copy()
            # Hidden units near 1e21 (finite) meet output weights of 0: the logits are the biases and the
            # loss is finite, but the output weights' gradient is near 1e20, whose square overflows.
            model.layers[0].params["W"][:] = 1e21
            model.layers[2].params["W"][:] = 0.0

    config = _config(checkpoint_dir=tmp_path, optimizer="sgd" if how == "sgd" else "adam",
                     clip_grad_norm=1.0 if how == "adam with clipping" else None)
    with pytest.raises(Diverged, match=r"epoch 2, batch 1 of 12, learning rate 0.01: non-finite gradient;") \
            as caught:
        Trainer(config, callbacks=[poison]).fit(model, X[:180], y[:180])
    assert caught.value.kept == "epoch 1" and [r.epoch for r in caught.value.history.records] == [1]
    np.testing.assert_array_equal(model.flat_params, epoch_1["params"])
    np.testing.assert_array_equal(model.flat_params, load_checkpoint(tmp_path / "last.npz").model.flat_params)


def test_without_validation_the_last_weights_are_kept_and_no_best_is_written(tmp_path: Path):
    # Full-batch SGD with a step that overshoots: the running loss goes up and down. With no validation data
    # nothing is selected, so the model ends as the last epoch left it (and as last.npz holds it).
    X, y = _blobs(n=60)
    model = MLP([6, 8, 3], seed=0)
    config = _config(epochs=6, batch_size=None, optimizer="sgd", lr=3.0, checkpoint_dir=tmp_path)
    history = Trainer(config).fit(model, X, y)
    assert history.best_epoch != len(history)  # the overshoot makes an earlier epoch the lowest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.npz"]
    np.testing.assert_array_equal(model.flat_params, load_checkpoint(tmp_path / "last.npz").model.flat_params)


def test_fit_applies_clipping_label_smoothing_shuffling_and_the_schedule():
    X, y = _blobs(n=96)

    def fit(**changes):
        model = MLP([6, 8, 3], seed=0)
        history = Trainer(_config(epochs=4, **changes)).fit(model, X, y)
        return model.flat_params.copy(), history

    base, base_history = fit()
    np.testing.assert_array_equal(fit()[0], base)  # deterministic: every difference below is the option's
    for option in ({"clip_grad_norm": 1e-3}, {"label_smoothing": 0.2}, {"shuffle": False}, {"seed": 1}):
        assert not np.allclose(fit(**option)[0], base), option
    _, smoothed = fit(label_smoothing=0.2)
    assert smoothed.records[-1].train_loss > base_history.records[-1].train_loss  # smoothing's floor > 0
    _, cosine = fit(schedule="cosine", warmup_epochs=1)
    want = [learning_rate("cosine", 0.01, e, 4, 1, 10, 0.1, 0.0) for e in range(4)]
    assert [r.lr for r in cosine.records] == want and want[0] < want[1] > want[3]


class Interrupted(Exception):
    pass


def test_resume_gives_bitwise_the_same_weights(tmp_path: Path):
    X, y = _blobs(n=208)
    config = dict(epochs=5, batch_size=16, optimizer="adamw", weight_decay=0.01, schedule="cosine")

    def run(directory: Path, callbacks=(), resume=False):
        model = MLP([6, 16, 3], dropout=0.3, batchnorm=True, seed=0)
        history = Trainer(_config(checkpoint_dir=directory, **config), callbacks).fit(
            model, X[:160], y[:160], X[160:], y[160:], resume=resume)
        return model, history

    straight, straight_history = run(tmp_path / "straight")

    def interrupt(record, history):
        if record.epoch == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        run(tmp_path / "resumed", callbacks=[interrupt])
    assert load_checkpoint(tmp_path / "resumed" / "last.npz").epoch == 2
    resumed, resumed_history = run(tmp_path / "resumed", resume=True)

    np.testing.assert_array_equal(resumed.flat_params, straight.flat_params)
    last_a = load_checkpoint(tmp_path / "straight" / "last.npz")
    last_b = load_checkpoint(tmp_path / "resumed" / "last.npz")
    np.testing.assert_array_equal(last_a.model.flat_params, last_b.model.flat_params)
    for name, value in last_a.model.buffers().items():
        np.testing.assert_array_equal(value, last_b.model.buffers()[name])
    for key, value in last_a.optimizer_state["arrays"].items():
        np.testing.assert_array_equal(value, last_b.optimizer_state["arrays"][key])
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in straight_history.rows()]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in resumed_history.rows()]
    assert resumed_history.resumed_from_epoch == 2 and straight_history.resumed_from_epoch == 0


def _jitter(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An augmentation: every feature moved by a fresh draw of noise."""
    return X + rng.normal(0.0, 0.3, X.shape).astype(X.dtype)


def test_augment_makes_each_epochs_inputs_from_its_own_seeded_draw():
    X, y = _blobs()
    seen = []

    def recording(X_train, rng):
        seen.append(X_train.copy())
        return _jitter(X_train, rng)

    model = MLP([6, 16, 3], seed=0)
    history = Trainer(_config(epochs=4)).fit(model, X, y, augment=recording)
    assert len(seen) == 4 and all(np.array_equal(s, X.astype(np.float32)) for s in seen)  # the raw rows
    assert history.records[-1].train_accuracy > 0.9
    # The same weights as a plain loop over epochs trained on _jitter(X, epoch_rng(seed, e)), e = 1..4.
    plain = MLP([6, 16, 3], seed=0)
    inputs = [_jitter(X.astype(np.float32), epoch_rng(0, e)) for e in range(1, 5)]
    optimizer, loss, rng = Adam(), get_loss("cross_entropy"), np.random.default_rng(0)
    for e, X_epoch in enumerate(inputs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), 16):
            idx = order[start:start + 16]
            _, grad = loss.value_and_grad(plain.forward(X_epoch[idx], train=True), y[idx])
            plain.backward(grad)
            optimizer.step(plain.flat_params, plain.flat_grads, learning_rate("constant", 0.01, e, 4))
    np.testing.assert_array_equal(model.flat_params, plain.flat_params)


def test_resume_with_augment_gives_bitwise_the_same_weights(tmp_path: Path):
    X, y = _blobs(n=200)

    def run(directory: Path, callbacks=(), resume=False):
        model = MLP([6, 16, 3], dropout=0.2, seed=0)
        Trainer(_config(epochs=4, checkpoint_dir=directory), callbacks).fit(
            model, X[:160], y[:160], X[160:], y[160:], augment=_jitter, resume=resume)
        return model

    straight = run(tmp_path / "straight")

    def interrupt(record, history):
        if record.epoch == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        run(tmp_path / "resumed", callbacks=[interrupt])
    np.testing.assert_array_equal(run(tmp_path / "resumed", resume=True).flat_params, straight.flat_params)


def test_augment_errors_reach_the_caller():
    X, y = _blobs()
    with pytest.raises(ValueError, match="augment returned 10 rows for 240 training rows"):
        Trainer(_config(epochs=2)).fit(MLP([6, 8, 3]), X, y, augment=lambda X, rng: X[:10])
    with pytest.raises(ValueError, match=r"MLP expects X of shape \(n, 6\), got \(240, 5\)"):
        Trainer(_config(epochs=2)).fit(MLP([6, 8, 3]), X, y, augment=lambda X, rng: X[:, :5])

    def broken(X, rng):
        raise RuntimeError("cannot distort")

    with pytest.raises(RuntimeError, match="cannot distort"):
        Trainer(_config(epochs=3)).fit(MLP([6, 8, 3]), X, y, augment=broken)


def test_resume_refuses_a_different_configuration(tmp_path: Path):
    X, y = _blobs()
    Trainer(_config(epochs=2, checkpoint_dir=tmp_path)).fit(MLP([6, 8, 3]), X, y)
    with pytest.raises(ValueError, match=r"config differs in lr \(saved 0.01, now 0.02\)"):
        Trainer(_config(epochs=4, lr=0.02, checkpoint_dir=tmp_path)).fit(MLP([6, 8, 3]), X, y, resume=True)
    for other, differs in [(MLP([6, 9, 3]), r"layer_sizes \(saved \[6, 8, 3\], now \[6, 9, 3\]\)"),
                           (MLP([6, 8, 3], dropout=0.1), r"dropout \(saved 0.0, now 0.1\)"),
                           (MLP([6, 8, 3], dtype="float64"), r"dtype \(saved 'float32', now 'float64'\)")]:
        with pytest.raises(ValueError, match=r"last.npz: the model differs in " + differs):
            Trainer(_config(epochs=4, checkpoint_dir=tmp_path)).fit(other, X, y, resume=True)
    with pytest.raises(ValueError, match="trained on other data"):
        Trainer(_config(epochs=4, checkpoint_dir=tmp_path)).fit(MLP([6, 8, 3]), X, (y + 1) % 3, resume=True)
    history = Trainer(_config(epochs=4, checkpoint_dir=tmp_path)).fit(MLP([6, 8, 3]), X, y, resume=True)
    assert [r.epoch for r in history.records] == [1, 2, 3, 4] and history.resumed_from_epoch == 2
    with pytest.raises(ValueError, match=r"resume=True needs config\.checkpoint_dir"):
        Trainer(_config()).fit(MLP([6, 8, 3]), X, y, resume=True)


def test_resume_refuses_to_stretch_a_cosine_schedule(tmp_path: Path):
    X, y = _blobs()
    Trainer(_config(epochs=2, schedule="cosine", checkpoint_dir=tmp_path)).fit(MLP([6, 8, 3]), X, y)
    with pytest.raises(ValueError, match=r"config differs in epochs \(saved 2, now 4\)"):
        Trainer(_config(epochs=4, schedule="cosine", checkpoint_dir=tmp_path)).fit(MLP([6, 8, 3]), X, y,
                                                                                   resume=True)


@pytest.mark.parametrize(("model", "X", "y", "message"), [
    (MLP([6, 8, 3]), np.zeros((4, 5)), np.zeros(4, int), r"expects X of shape \(n, 6\), got \(4, 5\)"),
    (MLP([6, 8, 3]), np.zeros((4, 6)), np.zeros(3, int), r"integer class labels of shape \(4,\)"),
    (MLP([6, 8, 3]), np.zeros((4, 6)), np.zeros(4), r"integer class labels of shape \(4,\), got float64"),
    (MLP([6, 8, 3]), np.zeros((4, 6)), np.array([0, 1, 2, 3]), r"\[0, 3\) .*max 3"),
    (MLP([6, 8, 3]), np.full((4, 6), np.nan), np.zeros(4, int), "NaN or infinite"),
    (MLP([6, 8, 3], batchnorm=True), np.zeros((17, 6)), np.zeros(17, int), "leaves a batch of 1"),
])
def test_bad_inputs_raise_value_errors(model, X, y, message):
    with pytest.raises(ValueError, match=message):
        Trainer(_config()).fit(model, X, y)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_one_non_finite_entry_is_found_and_huge_finite_values_pass(bad):
    model, loss, y = MLP([6, 8, 3]), CrossEntropy(), np.zeros(50, int)
    X = np.ones((50, 6), np.float32)
    X[37, 4] = bad
    with pytest.raises(ValueError, match="X contains NaN or infinite values"):
        check_data(model, loss, X, y)
    X = np.full((50, 6), 3e38, np.float32)  # finite, though their sum overflows
    assert check_data(model, loss, X, y)[0] is X


def test_bad_targets_for_regression_and_validation_pairs():
    X = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match=r"shape \(4, 3\) for mse, got \(4,\)"):
        Trainer(_config(loss="mse")).fit(MLP([6, 8, 3]), X, np.zeros(4))
    with pytest.raises(ValueError, match=r"targets y for X_val contain NaN or infinite values"):
        Trainer(_config(loss="mse")).fit(MLP([6, 8, 3]), X, np.zeros((4, 3)), X, np.full((4, 3), np.inf))
    with pytest.raises(ValueError, match="both X_val and y_val"):
        Trainer(_config()).fit(MLP([6, 8, 3]), X, np.zeros(4, int), X_val=X)
    with pytest.raises(TypeError, match="metadata must be JSON-able"):
        Trainer(_config()).fit(MLP([6, 8, 3]), X, np.zeros(4, int), metadata={"f": print})


def test_progress_bar_reports_epochs(capsys):
    X, y = _blobs(n=40)
    Trainer(_config(epochs=2, progress=True)).fit(MLP([6, 8, 3]), X, y)
    assert "training" in capsys.readouterr().err


def _hanzi_classes(root: Path, folders: range) -> tuple[np.ndarray, np.ndarray]:
    """Every BMP of the given class folders as rows, ink scaled to 1 and paper to 0, with labels 0..k-1."""
    from PIL import Image

    images, labels = [], []
    for label, folder in enumerate(folders):
        for path in sorted((root / "train" / str(folder)).glob("*.bmp"), key=lambda p: int(p.stem)):
            with Image.open(path) as image:
                images.append(1.0 - np.asarray(image.convert("L"), dtype=np.float32).reshape(-1) / 255.0)
            labels.append(label)
    return np.stack(images), np.array(labels)


def test_real_hanzi_subset_above_90_percent(hanzi12_root: Path):
    # Four of the twelve classes (博 学 笃 志), all 560 images each, raw pixels: held-out accuracy measured
    # 0.933-0.951 over three splits and seeds. (All twelve classes need the pipeline's shift augmentation to
    # clear 90%: 0.85-0.88 without it; that is tested with the pipeline.)
    X, y = _hanzi_classes(hanzi12_root, range(1, 5))
    assert X.shape == (2240, 784) and X.min() >= 0.0 and X.max() <= 1.0
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1792], order[1792:]
    model = MLP([784, 256, 4], dropout=0.2, seed=0)
    Trainer(_config(epochs=15, batch_size=32, lr=1e-3)).fit(model, X[train], y[train])
    _, accuracy = evaluate(model, X[test], y[test])
    assert accuracy > 0.90
