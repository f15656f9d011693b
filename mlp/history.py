"""What training produced, epoch by epoch: EpochRecord and History."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

MODES = {"val_loss": "min", "val_accuracy": "max", "train_loss": "min"}
# What a TrainConfig may monitor: the validation metrics (train_loss is the fallback without validation data).
MONITORS = {name: mode for name, mode in MODES.items() if name.startswith("val_")}


@dataclass(frozen=True)
class EpochRecord:
    """One epoch (1-based). train_* are averages over the epoch's batches as they were trained (running);
    val_* are measured after the epoch in inference mode. Accuracies are None for regression, val_* None
    without a validation set. seconds covers training and validation, not checkpoint writing."""

    epoch: int
    train_loss: float
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float


@dataclass
class History:
    """Epoch records in order, and the monitored metric that picks the best epoch.

    Add records with `append`, which keeps the best epoch up to date in O(1).
    """

    monitor: str = "val_loss"
    records: list[EpochRecord] = field(default_factory=list)
    resumed_from_epoch: int = 0
    _best_index: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.monitor not in MODES:
            raise ValueError(f"unknown monitor {self.monitor!r}; valid: {', '.join(sorted(MODES))}")
        records, self.records = self.records, []
        for record in records:
            self.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def append(self, record: EpochRecord) -> bool:
        """Add the next epoch's record; returns True when it is strictly better than every earlier one."""
        value = getattr(record, self.monitor)
        if value is None:
            raise ValueError(f"epoch {record.epoch} has no {self.monitor} to monitor")
        self.records.append(record)
        best = self.best
        sign = -1.0 if MODES[self.monitor] == "max" else 1.0
        if best is None or sign * value < sign * getattr(best, self.monitor):
            self._best_index = len(self.records) - 1
            return True
        return False

    @property
    def best(self) -> EpochRecord | None:
        """The first record with the best monitored value (None before the first epoch)."""
        return None if self._best_index is None else self.records[self._best_index]

    @property
    def best_epoch(self) -> int | None:
        """The 1-based epoch of `best`."""
        return None if self._best_index is None else self.records[self._best_index].epoch

    @property
    def epochs_since_best(self) -> int:
        """Epochs completed after the best one (0 when the latest is the best, or before any epoch)."""
        return self.records[-1].epoch - self.best_epoch if self.records else 0

    def rows(self) -> list[dict]:
        """One dict per epoch with EpochRecord's field names: ready for csv.DictWriter or a DataFrame."""
        return [dataclasses.asdict(r) for r in self.records]

    @classmethod
    def from_rows(cls, rows: list[dict], monitor: str, resumed_from_epoch: int = 0) -> History:
        """Rebuild a History from rows() output."""
        return cls(monitor, [EpochRecord(**row) for row in rows], resumed_from_epoch)
