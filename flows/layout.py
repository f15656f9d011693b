"""Where a run's files live under the output folder: one frozen description shared by every flow.

    <output>/runs/<run-name>/            one pipeline run (see RunLayout)
    <output>/latest                      symlink to the newest run
    <output>/datasets/<source-key>.parquet   a data folder's ingested images, reused while they are unchanged
    <output>/models/<source-key>/        that data folder's promoted models (see flows.champion):
        champion                         symlink to the model in force, versions/<run-name>/
        versions/<run-name>/             every model ever promoted on that data

<source-key> names one data folder (`flows.runs.source_key`), so a run on other data never competes with
another folder's champion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CHAMPION_MODEL = "model.npz"  # the checkpoint inside a models/<source-key>/versions/<run-name>/ folder


@dataclass(frozen=True)
class RunLayout:
    """Every file of one run, named once."""

    root: Path  # <output>/runs/<run-name>
    dataset: Path  # the ingested Parquet data set
    quality: Path  # quality report (JSON)
    split: Path  # row indices into the data set: train, val, flagged (.npz)
    normalizer: Path  # fitted normaliser (JSON)
    train_data: Path  # raw uint8 X and y of the training set, augmented and shuffled (.npz)
    val_data: Path  # raw uint8 X and y of the validation set (.npz)
    checkpoints: Path  # best.npz (the ensemble) and one folder per network (see member_checkpoints)
    best: Path
    history: Path  # one row per epoch (CSV)
    metrics: Path  # the evaluation's numbers (JSON)
    test_predictions: Path  # predictions for test/ images, when the data has them (CSV)
    figures: Path
    report_md: Path
    report_html: Path
    params: Path  # the run's parameters (JSON)

    @classmethod
    def at(cls, root: str | Path) -> RunLayout:
        root = Path(root)
        data, ckpt = root / "data", root / "checkpoints"
        return cls(root=root, dataset=root / "dataset.parquet", quality=root / "quality.json",
                   split=data / "split.npz", normalizer=root / "normalizer.json",
                   train_data=data / "train.npz", val_data=data / "val.npz", checkpoints=ckpt,
                   best=ckpt / "best.npz", history=root / "history.csv",
                   metrics=root / "metrics.json", test_predictions=root / "test_predictions.csv",
                   figures=root / "figures", report_md=root / "report.md", report_html=root / "report.html",
                   params=root / "params.json")

    @classmethod
    def create(cls, output_dir: str | Path, run_name: str) -> RunLayout:
        """The layout of run `run_name` under `output_dir` (nothing is created on disk)."""
        return cls.at(Path(output_dir) / "runs" / run_name)

    @property
    def name(self) -> str:
        return self.root.name

    def member_checkpoints(self, label: str) -> Path:
        """The folder of one network's own best.npz and last.npz, e.g. checkpoints/2-framed."""
        return self.checkpoints / label


def datasets_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "datasets"


def latest_link(output_dir: str | Path) -> Path:
    return Path(output_dir) / "latest"


def models_dir(output_dir: str | Path, source_key: str) -> Path:
    """`<output>/models/<source-key>`: the promoted models of one data folder; ValueError for a key that is
    no plain folder name."""
    plain = isinstance(source_key, str) and source_key and not source_key.startswith(".")
    if not plain or any(c in source_key for c in "/\\\0"):
        raise ValueError(f"source_key must be a plain folder name, got {source_key!r}")
    return Path(output_dir) / "models" / source_key


def champion_link(models: str | Path) -> Path:
    """The champion symlink in a data folder's models folder (`models_dir`)."""
    return Path(models) / "champion"


def versions_dir(models: str | Path) -> Path:
    """One folder per promoted run in a data folder's models folder (`models_dir`)."""
    return Path(models) / "versions"
