"""History: best epoch for minimised and maximised metrics, patience counting, CSV-ready rows."""

from __future__ import annotations

import pytest

from mlp.history import EpochRecord, History


def _record(epoch: int, val_loss: float, val_accuracy: float) -> EpochRecord:
    return EpochRecord(epoch, 1.0 / epoch, 0.5, val_loss, val_accuracy, 1e-3, 0.1)


RECORDS = [_record(1, 0.9, 0.5), _record(2, 0.5, 0.7), _record(3, 0.6, 0.8), _record(4, 0.5, 0.8)]


def test_best_by_minimised_loss_keeps_the_first_best():
    history = History("val_loss")
    assert [history.append(r) for r in RECORDS] == [True, True, False, False]
    assert history.best_epoch == 2 and history.best is RECORDS[1]
    assert history.epochs_since_best == 2


def test_best_by_maximised_accuracy():
    history = History("val_accuracy", RECORDS)
    assert history.best_epoch == 3 and history.epochs_since_best == 1


def test_empty_history():
    history = History()
    assert history.best is None and history.best_epoch is None and history.epochs_since_best == 0


def test_rows_and_back():
    history = History("val_loss", RECORDS, resumed_from_epoch=2)
    rows = history.rows()
    assert list(rows[0]) == ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                             "seconds"]
    again = History.from_rows(rows, "val_loss", resumed_from_epoch=2)
    assert again.records == RECORDS and again.best_epoch == 2 and again.resumed_from_epoch == 2


def test_monitor_must_exist_in_records():
    history = History("val_loss")
    with pytest.raises(ValueError, match="epoch 1 has no val_loss"):
        history.append(EpochRecord(1, 0.3, None, None, None, 1e-3, 0.1))
    with pytest.raises(ValueError, match="unknown monitor 'f1'"):
        History("f1")
