"""Trainer: minibatch training with per-epoch validation, best/last checkpoints, early stopping and resume."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mlp.batch_source import BatchSource
from mlp.checkpoint import load_checkpoint, save_checkpoint
from mlp.config import TrainConfig
from mlp.epoch_inputs import Augment, EpochInputs
from mlp.history import EpochRecord, History
from mlp.layers import BatchNorm1d
from mlp.losses import MSE, CrossEntropy, get_loss
from mlp.model import MLP
from mlp.optim import Optimizer, clip_grad_norm, get_optimizer, learning_rate

Callback = Callable[[EpochRecord, History], None]
_EVAL_CHUNK = 8192
# Fields a resumed run may change; every other TrainConfig field must equal the interrupted run's.
RESUMABLE_CHANGES = frozenset({"epochs", "patience", "progress", "checkpoint_dir"})
# NumPy's floating-point warnings while training: a diverging step raises Diverged instead.
_QUIET = {"over": "ignore", "invalid": "ignore", "divide": "ignore", "under": "ignore"}


class Diverged(ValueError, FloatingPointError):
    """Training met a non-finite loss or gradient: where (epoch, batch of n_batches, or batch None for the
    validation after the epoch), at which learning rate, and a tenth of it to try. `history` holds the
    epochs that finished (set by Trainer.fit); `network` may name the network (set by callers training
    several); `kept` says whose weights the model holds."""

    def __init__(self, what: str, epoch: int, batch: int | None, n_batches: int, lr: float) -> None:
        super().__init__(what, epoch, batch, n_batches, lr)
        self.what, self.epoch, self.batch, self.n_batches, self.lr = what, epoch, batch, n_batches, lr
        self.suggested_lr = lr / 10
        self.history: History | None = None
        self.network: str | None = None
        self.kept = ""

    def __str__(self) -> str:
        where = (f"batch {self.batch} of {self.n_batches}" if self.batch is not None
                 else "the validation after it")
        return (f"{self.network + ': ' if self.network else ''}training diverged at epoch {self.epoch}, "
                f"{where}, learning rate {self.lr:.3g}: {self.what}; try a lower learning rate, e.g. "
                f"{self.suggested_lr:.3g} (a tenth); the checkpoints of the finished epochs are kept"
                + (f"; the model holds the weights of {self.kept}" if self.kept else ""))

    def __reduce__(self):  # pickles with its fields (Prefect may copy a task's exception)
        return _rebuild_diverged, (self.args, self.__dict__)


def _rebuild_diverged(args: tuple, state: dict) -> Diverged:
    error = Diverged(*args)
    error.__dict__.update(state)
    return error


def check_data(model: MLP, loss: MSE | CrossEntropy, X: np.ndarray, y: np.ndarray,
               name: str = "X") -> tuple[np.ndarray, np.ndarray]:
    """X as (n, n_in) in the model's dtype and y as (n,) int64 labels in [0, n_out) for classification or
    (n, n_out) floats for regression; anything else raises ValueError naming the expected shape."""
    X = model.check_input(X)
    y = np.asarray(y)
    n, n_out = X.shape[0], model.n_out
    if n == 0:
        raise ValueError(f"{name} has no rows")
    if loss.classification:
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y for {name} must be integer class labels of shape ({n},), "
                             f"got {y.dtype} {y.shape}")
        if y.min() < 0 or y.max() >= n_out:
            raise ValueError(f"labels for {name} must lie in [0, {n_out}) (the model's outputs), "
                             f"got min {y.min()}, max {y.max()}")
        y = y.astype(np.int64, copy=False)
    else:
        if y.shape != (n, n_out):
            raise ValueError(f"y for {name} must have shape ({n}, {n_out}) for {loss.name}, got {y.shape}")
        y = y.astype(model.dtype, copy=False)
        if not _all_finite(y):
            raise ValueError(f"targets y for {name} contain NaN or infinite values")
    if not _all_finite(X):
        raise ValueError(f"{name} contains NaN or infinite values")
    return X, y


def _all_finite(a: np.ndarray) -> bool:
    """Whether every entry is finite. A finite sum proves it (NaN and ±inf propagate) without a temporary
    the size of `a`; only an overflowing or non-finite sum needs the element-wise check."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(a.sum())
    return math.isfinite(total) or bool(np.isfinite(a).all())


def data_fingerprint(*arrays: np.ndarray | None) -> str:
    """sha256 over the shapes, dtypes and bytes of the arrays: what resume compares to refuse other data."""
    digest = hashlib.sha256()
    for a in arrays:
        if a is None:
            digest.update(b"none;")
            continue
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        digest.update(memoryview(a).cast("B"))
    return digest.hexdigest()


def evaluate(model: MLP, X: np.ndarray, y: np.ndarray,
             loss: str | MSE | CrossEntropy = "cross_entropy") -> tuple[float, float | None]:
    """Mean loss and accuracy (None for regression) of `model` on X (n, n_in), y, in inference mode."""
    loss_fn = get_loss(loss) if isinstance(loss, str) else loss
    X, y = check_data(model, loss_fn, X, y)
    return _loss_and_accuracy(model, loss_fn, X, y)


def _loss_and_accuracy(model: MLP, loss_fn: MSE | CrossEntropy, X: np.ndarray,
              y: np.ndarray) -> tuple[float, float | None]:
    """evaluate() on data already checked by check_data."""
    total, correct = 0.0, 0
    for start in range(0, X.shape[0], _EVAL_CHUNK):
        out = model.forward(X[start:start + _EVAL_CHUNK])
        yb = y[start:start + _EVAL_CHUNK]
        total += loss_fn(out, yb) * yb.shape[0]
        if loss_fn.classification:
            correct += int(np.count_nonzero(out.argmax(axis=1) == yb))
    n = X.shape[0]
    return total / n, (correct / n if loss_fn.classification else None)


def _batch_source(X: object, y: object, augment: Augment | None) -> BatchSource | None:
    """X when it is a BatchSource (then y and augment must be None), else None."""
    if not isinstance(X, BatchSource):
        return None
    if y is not None or augment is not None:
        raise ValueError("with a BatchSource as X, give y=None and no augment: the source yields the labels "
                         "and makes each batch's inputs itself")
    return X


class Trainer:
    """Trains an MLP as `config` says; `callbacks` are called as fn(record, history) after every epoch."""

    def __init__(self, config: TrainConfig, callbacks: Sequence[Callback] = ()) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.config = config
        self.callbacks = list(callbacks)

    def fit(self, model: MLP, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, *, augment: Augment | None = None, resume: bool = False,
            metadata: dict | None = None) -> History:
        """Train `model` in place on X (n, n_in), y; returns the History. Ends with the best weights loaded.

        Validation (X_val, y_val) is evaluated after every epoch in inference mode; the epoch with the best
        monitored metric is kept: its weights are loaded at the end and, with `checkpoint_dir`, written to
        best.npz. Without validation data nothing is selected (as in scikit-learn): the model ends with the
        last epoch's weights, the history's best epoch is the one with the lowest running train loss (which
        `patience` watches) and no best.npz is written. With `checkpoint_dir`, last.npz is written after
        every epoch; both files carry `metadata` (JSON-able). `resume=True` continues from
        checkpoint_dir/last.npz when it exists (else starts afresh); it refuses another model, other data or
        another configuration. A non-finite training loss, gradient or validation loss raises `Diverged` (a
        ValueError and FloatingPointError) naming the epoch, batch and learning rate, with a tenth of it to
        try and the finished epochs' History on it; NumPy's overflow warnings are silenced meanwhile. The
        checkpoint files stay as the finished epochs wrote them and the model holds the weights it would
        have ended with (the best so far, or the last finished epoch's without validation).

        `augment(X, rng)`, when given, makes each epoch's inputs from the training rows afresh (e.g. random
        distortions of raw pixels, then normalisation), with a generator seeded from (seed, epoch), one
        epoch ahead in a background thread (`mlp.epoch_inputs`). X is then what augment takes (still checked
        as the model's finite (n, n_in) inputs, e.g. raw pixels), rows matching y, and augment's output is
        checked the same way; resume compares X itself, not what augment makes of it.

        X may instead be a `BatchSource` (y None, no augment): a training set larger than memory, whose
        batches the source makes each epoch (`_train_batches`; `mlp.data.stream` streams them from Parquet).
        """
        cfg = self.config
        loss_fn = get_loss(cfg.loss, cfg.label_smoothing)
        source = _batch_source(X, y, augment)  # None: X and y are the arrays
        if source is None:
            X, y = check_data(model, loss_fn, X, y)
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        if X_val is not None:
            X_val, y_val = check_data(model, loss_fn, X_val, y_val, name="X_val")
        n = X.shape[0] if source is None else source.n_rows
        batch_size = n if cfg.batch_size is None else min(cfg.batch_size, n)
        has_batchnorm = any(isinstance(layer, BatchNorm1d) for layer in model.layers)
        if has_batchnorm and (batch_size == 1 or n % batch_size == 1):
            raise ValueError(f"BatchNorm1d needs training batches of at least 2 samples: batch_size "
                             f"{batch_size} on {n} samples leaves a batch of 1; choose another batch_size")
        ckpt_dir = None if cfg.checkpoint_dir is None else Path(cfg.checkpoint_dir)
        if resume and ckpt_dir is None:
            raise ValueError("resume=True needs config.checkpoint_dir (where last.npz is)")
        metadata = dict(metadata or {})
        try:  # fail now, not after the first epoch
            json.dumps(metadata)
        except TypeError as e:
            raise TypeError(f"metadata must be JSON-able: {e}") from e

        optimizer = get_optimizer(cfg.optimizer, **cfg.optimizer_hyper())
        rng = np.random.default_rng(cfg.seed)
        select = X_val is not None
        history = History(monitor=cfg.monitor if select else "train_loss")
        fingerprint = None if ckpt_dir is None else data_fingerprint(X, y, X_val, y_val) if source is None \
            else data_fingerprint(np.frombuffer(source.fingerprint().encode(), np.uint8), X_val, y_val)
        # The weights fit ends with: the best epoch's when validating, else the last finished epoch's.
        kept_params = model.flat_params.copy()
        kept_buffers = {k: v.copy() for k, v in model.buffers().items()}
        if resume and (ckpt_dir / "last.npz").exists():
            history, kept_params, kept_buffers = self._resume(ckpt_dir / "last.npz", model, optimizer, rng,
                                                              history.monitor, fingerprint)

        bar = tqdm(total=cfg.epochs, initial=len(history), desc="training", unit="epoch",
                   disable=not cfg.progress, dynamic_ncols=True)
        inputs = None if source is not None else EpochInputs(X, augment, cfg.seed, cfg.epochs,
                                                             model.check_input)
        try:
            for epoch in range(len(history) + 1, cfg.epochs + 1):
                if cfg.patience is not None and history.epochs_since_best >= cfg.patience:
                    break
                started = time.perf_counter()
                lr = learning_rate(cfg.schedule, cfg.lr, epoch - 1, cfg.epochs, cfg.warmup_epochs,
                                   cfg.step_size, cfg.gamma, cfg.min_lr)
                if source is not None:
                    train_loss, train_acc = self._train_batches(model, loss_fn, optimizer, source, batch_size,
                                                                lr, rng, epoch)
                else:
                    train_loss, train_acc = self._train_epoch(model, loss_fn, optimizer, inputs(epoch), y,
                                                              batch_size, lr, rng, epoch)
                with np.errstate(**_QUIET):
                    val_loss, val_acc = (None, None) if X_val is None else _loss_and_accuracy(
                        model, loss_fn, X_val, y_val)
                if val_loss is not None and not math.isfinite(val_loss):
                    raise Diverged(f"non-finite validation loss {val_loss}", epoch, None, -(-n // batch_size),
                                   lr)
                record = EpochRecord(epoch, train_loss, train_acc, val_loss, val_acc, lr,
                                     time.perf_counter() - started)
                if history.append(record) or not select:
                    _copy_weights(model, kept_params, kept_buffers, into_model=False)
                if ckpt_dir is not None:
                    self._save(ckpt_dir, model, optimizer, rng, history, metadata, kept_params, kept_buffers,
                               select, fingerprint)
                if cfg.progress:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in (("loss", train_loss), ("val_loss", val_loss),
                                     ("val_acc", val_acc)) if v is not None}, refresh=False)
                    bar.update()
                for callback in self.callbacks:
                    callback(record, history)
        except Diverged as exc:
            _copy_weights(model, kept_params, kept_buffers, into_model=True)
            exc.history = history
            exc.kept = (f"epoch {history.best_epoch if select else history.records[-1].epoch}"
                        if history.records else "the start of this fit")
            raise
        finally:
            if inputs is not None:
                inputs.close()
            bar.close()
        _copy_weights(model, kept_params, kept_buffers, into_model=True)
        return history

    def _step(self, model: MLP, loss_fn: MSE | CrossEntropy, optimizer: Optimizer, xb: np.ndarray,
              yb: np.ndarray, lr: float, where: tuple[int, int, int]) -> tuple[np.ndarray, float]:
        """One training step on a checked batch (xb, yb): forward, loss, backward, the divergence checks,
        clipping, the optimiser's update; returns the outputs and the loss. `where`: (epoch, batch,
        n_batches), for Diverged."""
        out = model.forward(xb, train=True)
        value, grad = loss_fn.value_and_grad(out, yb, check=False)  # the caller checked the labels
        if not math.isfinite(value):
            raise Diverged(f"non-finite training loss {value}", *where, lr)
        model.backward(grad, need_input_grad=False)
        grads = model.flat_grads
        if self.config.clip_grad_norm is not None:  # the norm clipping needs is the check too
            finite = math.isfinite(clip_grad_norm(grads, self.config.clip_grad_norm))
            if finite:
                optimizer.step(model.flat_params, grads, lr)
        else:
            # Adam's compiled loop says whether every g² was finite; otherwise the squared norm, one BLAS dot:
            # NaN and inf propagate, and a norm beyond 1e19 (float32) overflows it too. A step over a
            # non-finite gradient spoils the weights, but Diverged makes fit() restore the kept ones.
            finite = optimizer.step(model.flat_params, grads, lr)
            if finite is None:
                finite = math.isfinite(float(np.dot(grads, grads)))
        if not finite:
            raise Diverged("non-finite gradient", *where, lr)
        return out, value

    @np.errstate(**_QUIET)  # a diverging step raises Diverged instead of NumPy's warnings
    def _train_epoch(self, model: MLP, loss_fn: MSE | CrossEntropy, optimizer: Optimizer, X: np.ndarray,
                     y: np.ndarray, batch_size: int, lr: float, rng: np.random.Generator,
                     epoch: int) -> tuple[float, float | None]:
        """One pass over (X, y) in minibatches gathered by index; returns the running loss and accuracy."""
        n = X.shape[0]
        n_batches = -(-n // batch_size)
        order = rng.permutation(n) if self.config.shuffle and n_batches > 1 else None
        x_buffer = np.empty((batch_size, X.shape[1]), X.dtype) if order is not None else None
        classification = loss_fn.classification
        total, correct = 0.0, 0
        bar = None
        if self.config.progress and n_batches > 1:
            bar = tqdm(total=n_batches, desc=f"epoch {epoch}", unit="batch", leave=False, dynamic_ncols=True)
        refresh = max(1, n_batches // 20)
        try:
            for b, start in enumerate(range(0, n, batch_size)):
                stop = min(start + batch_size, n)
                if order is None:
                    xb, yb = X[start:stop], y[start:stop]
                else:
                    idx = order[start:stop]
                    xb = np.take(X, idx, axis=0, out=x_buffer, mode="clip") if stop - start == batch_size \
                        else X[idx]
                    yb = y[idx]
                out, value = self._step(model, loss_fn, optimizer, xb, yb, lr, (epoch, b + 1, n_batches))
                total += value * (stop - start)
                if classification:
                    correct += int(np.count_nonzero(out.argmax(axis=1) == yb))
                if bar is not None:
                    bar.update()
                    if b % refresh == 0:
                        bar.set_postfix(loss=f"{value:.4f}", refresh=False)
        finally:
            if bar is not None:
                bar.close()
        return total / n, (correct / n if classification else None)

    # ------------------------------------------------------------------------------------------------------
    # A training set larger than memory: one epoch over a BatchSource's batches, each checked here (as
    # check_data checks arrays) and trained by the same _step.
    @np.errstate(**_QUIET)
    def _train_batches(self, model: MLP, loss_fn: MSE | CrossEntropy, optimizer: Optimizer,
                       source: BatchSource, batch_size: int, lr: float, rng: np.random.Generator,
                       epoch: int) -> tuple[float, float | None]:
        """One pass over `source`'s batches; returns the running loss and accuracy."""
        n_batches = -(-source.n_rows // batch_size)
        total, correct, seen = 0.0, 0, 0
        for b, (xb, yb) in enumerate(source.batches(batch_size, rng, self.config.shuffle)):
            xb, yb = check_data(model, loss_fn, xb, yb, name=f"streamed batch {b + 1}")
            out, value = self._step(model, loss_fn, optimizer, xb, yb, lr, (epoch, b + 1, n_batches))
            total += value * len(yb)
            seen += len(yb)
            if loss_fn.classification:
                correct += int(np.count_nonzero(out.argmax(axis=1) == yb))
        if seen != source.n_rows:
            raise ValueError(f"the batch source gave {seen} rows in epoch {epoch}; it has {source.n_rows}")
        return total / seen, (correct / seen if loss_fn.classification else None)

    def _save(self, ckpt_dir: Path, model: MLP, optimizer: Optimizer, rng: np.random.Generator,
              history: History, metadata: dict, best_params: np.ndarray, best_buffers: dict, select: bool,
              fingerprint: str) -> None:
        """best.npz when validating and the latest epoch is the best, then last.npz with everything resume
        needs (the weights fit would end with, and the data's fingerprint)."""
        record = history.records[-1]
        common = {"metadata": metadata, "epoch": record.epoch, "train_config": self.config.to_dict(),
                  "metrics": {**dataclasses.asdict(record), "monitor": history.monitor,
                              "best_epoch": history.best_epoch, "data_sha256": fingerprint},
                  "optimizer_state": optimizer.state_dict(),
                  "rng_state": {"shuffle": rng.bit_generator.state}, "history": history.rows()}
        if select and history.best_epoch == record.epoch:
            save_checkpoint(ckpt_dir / "best.npz", model, **common)
        extra = {"best_params": best_params, **{f"best_buffers/{k}": v for k, v in best_buffers.items()}}
        save_checkpoint(ckpt_dir / "last.npz", model, **common, arrays=extra)

    def _resume(self, path: Path, model: MLP, optimizer: Optimizer, rng: np.random.Generator,
                monitor: str, fingerprint: str) -> tuple[History, np.ndarray, dict]:
        """Load last.npz into model, optimizer and rng; returns the history and the weights kept so far."""
        saved_model = load_checkpoint(path).model.config
        differs = [f"{k} (saved {saved_model.get(k)!r}, now {v!r})" for k, v in model.config.items()
                   if saved_model.get(k) != v]
        if differs:
            raise ValueError(f"cannot resume from {path}: the model differs in " + ", ".join(differs))
        ckpt = load_checkpoint(path, model)
        saved = ckpt.train_config or {}
        current = self.config.to_dict()
        changed = {k: (saved.get(k), v) for k, v in current.items()
                   if k not in RESUMABLE_CHANGES and saved.get(k) != v}
        if current["schedule"] == "cosine" and saved.get("epochs") != current["epochs"]:
            changed["epochs"] = (saved.get("epochs"), current["epochs"])  # the cosine curve spans the epochs
        if changed:
            raise ValueError(f"cannot resume from {path}: config differs in " + ", ".join(
                f"{k} (saved {old!r}, now {new!r})" for k, (old, new) in changed.items()))
        if ckpt.metrics.get("monitor") != monitor:
            raise ValueError(f"cannot resume from {path}: it monitored {ckpt.metrics.get('monitor')!r}, "
                             f"this fit monitors {monitor!r} (validation data given in one run only?)")
        if ckpt.metrics.get("data_sha256") != fingerprint:
            raise ValueError(f"cannot resume from {path}: it was trained on other data (the training or "
                             "validation arrays differ from the interrupted run's)")
        optimizer.load_state_dict(ckpt.optimizer_state)
        rng.bit_generator.state = ckpt.rng_state["shuffle"]
        history = History.from_rows(ckpt.history, monitor, resumed_from_epoch=ckpt.epoch)
        best_buffers = {k[len("best_buffers/"):]: v for k, v in ckpt.arrays.items()
                        if k.startswith("best_buffers/")}
        return history, ckpt.arrays["best_params"], best_buffers


def _copy_weights(model: MLP, params: np.ndarray, buffers: dict[str, np.ndarray], *,
                  into_model: bool) -> None:
    """Copy the model's parameters and buffers into (params, buffers), or back into the model."""
    pairs = [(model.flat_params, params), *((v, buffers[k]) for k, v in model.buffers().items())]
    for live, kept in pairs:
        if into_model:
            np.copyto(live, kept)
        else:
            np.copyto(kept, live)
