"""Where every file of mlpflow lives: the one place that decides a run's folder and its files.

    data/raw/                                 your class folders, read when no --data-dir is given
    data/demo/                                the built-in digits demo, written on first use
    <output>/runs/<run-name>/                 one pipeline run (see RunLayout); names from `make_run_name`
    <output>/latest                           symlink to the newest complete run
    <output>/datasets/<source-key>.parquet    a data folder's ingested images, reused while they are unchanged
    <output>/models/<source-key>/             that data folder's promoted models (see flows.store.champion):
        champion                              symlink to the model in force, versions/<run-name>/
        versions/<run-name>/                  every model ever promoted on that data
    <output>/sweeps/<run-name>/               a sweep: shared/ (data, split), one folder per configuration
    <output>/history/runs.parquet             a row per finished run (flows.store.run_history)
    <output>/index.html                       that history as a page, each run linked to its report

<source-key> names one data folder (`source_key`), so a run on other data never competes with another
folder's champion. Pure path logic: nothing here touches the disk except `resolve_model`, which looks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RAW_DIR = REPO_ROOT / "data" / "raw"  # the default data folder (flows.pipeline.sources)
DEMO_DIR = REPO_ROOT / "data" / "demo"
ARTIFACTS_DIR = REPO_ROOT / "artifacts"  # the default output folder, <output> below
CHAMPION_MODEL = "model.npz"  # the checkpoint inside a models/<source-key>/versions/<run-name>/ folder


@dataclass(frozen=True)
class RunLayout:
    """Every file of one run, named once."""

    root: Path  # <output>/runs/<run-name>
    dataset: Path  # the ingested Parquet data set
    quality: Path  # quality report (JSON)
    split: Path  # row indices into the data set: train, val, flagged (.npz)
    normalizer: Path  # fitted normaliser (JSON)
    train_data: Path  # raw uint8 X and y of the training set, augmented and shuffled (.npz; held in memory)
    train_stream: Path  # the training rows in random order, streamed by row groups (Parquet; stream mode)
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
    state: Path  # running, completed or failed (JSON; flows.store.run_state)
    lock: Path  # held by the process running the run (flows.store.run_state)

    @classmethod
    def at(cls, root: str | Path) -> RunLayout:
        root = Path(root)
        data, ckpt = root / "data", root / "checkpoints"
        return cls(root=root, dataset=root / "dataset.parquet", quality=root / "quality.json",
                   split=data / "split.npz", normalizer=root / "normalizer.json",
                   train_data=data / "train.npz", train_stream=data / "train.parquet",
                   val_data=data / "val.npz", checkpoints=ckpt,
                   best=ckpt / "best.npz", history=root / "history.csv",
                   metrics=root / "metrics.json", test_predictions=root / "test_predictions.csv",
                   figures=root / "figures", report_md=root / "report.md", report_html=root / "report.html",
                   params=root / "params.json", state=root / "state.json", lock=root / ".running.lock")

    @classmethod
    def create(cls, output_dir: str | Path, run_name: str) -> RunLayout:
        """The layout of run `run_name` under `output_dir` (nothing is created on disk)."""
        return cls.at(runs_dir(output_dir) / check_folder_name(run_name, "run_name"))

    def sharing_data_of(self, shared: RunLayout) -> RunLayout:
        """This layout with `shared`'s data set, quality report, split and validation set: a sweep's
        configuration, trained in its own folder on data prepared once."""
        return dataclasses.replace(self, dataset=shared.dataset, quality=shared.quality, split=shared.split,
                                   val_data=shared.val_data)

    @property
    def name(self) -> str:
        return self.root.name

    def member_checkpoints(self, label: str) -> Path:
        """The folder of one network's own best.npz and last.npz, e.g. checkpoints/2-framed."""
        return self.checkpoints / label


def runs_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "runs"


def sweeps_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "sweeps"


def datasets_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "datasets"


def latest_link(output_dir: str | Path) -> Path:
    return Path(output_dir) / "latest"


def history_dir(output_dir: str | Path) -> Path:
    """`<output>/history`: the history of runs (`run_history_path`) and the lock its writers take."""
    return Path(output_dir) / "history"


def run_history_path(output_dir: str | Path) -> Path:
    """The history of runs, one Parquet table (`flows.store.run_history`)."""
    return history_dir(output_dir) / "runs.parquet"


def index_html(output_dir: str | Path) -> Path:
    """`<output>/index.html`: every run, newest first, linked to its report."""
    return Path(output_dir) / "index.html"


def models_dir(output_dir: str | Path, source_key: str) -> Path:
    """`<output>/models/<source-key>`: the promoted models of one data folder; ValueError for a key that is
    no plain folder name."""
    return Path(output_dir) / "models" / check_folder_name(source_key, "source_key")


def all_models_dirs(output_dir: str | Path) -> list[Path]:
    """Every data folder's models folder under `output_dir` (`models_dir`), sorted."""
    return sorted(p for p in (Path(output_dir) / "models").glob("*") if p.is_dir())


def champion_link(models: str | Path) -> Path:
    """The champion symlink in a data folder's models folder (`models_dir`)."""
    return Path(models) / "champion"


def versions_dir(models: str | Path) -> Path:
    """One folder per promoted run in a data folder's models folder (`models_dir`)."""
    return Path(models) / "versions"


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lowercase letters, digits and single dashes: ``'Hanzi 12!'`` -> ``'hanzi-12'`` ('data' if empty)."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-") or "data"


def check_folder_name(name: str, what: str) -> str:
    """`name` itself when it is a plain folder name (no '/', '\\' or NUL, not empty, not starting with '.');
    else ValueError naming `what`."""
    plain = isinstance(name, str) and name and not name.startswith(".")
    if not plain or any(c in name for c in "/\\\0"):
        raise ValueError(f"{what} must be a plain folder name (no '/', not starting with '.'), got {name!r}")
    return name


def make_run_name(data_name: str, now: datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<data>``, e.g. ``20261127-104512-digits``: sorts by time, says which data."""
    return f"{(now or datetime.now()):%Y%m%d-%H%M%S}-{slug(data_name)}"


def source_key(root: str | Path) -> str:
    """The key of data root `root` in the shared folders: ``<name>-<hash of its absolute path>``, e.g.
    ``hanzi12-0123456789ab``. It names the root's data set (``datasets/<key>.parquet``) and its models
    (``models/<key>/``: one champion per data root)."""
    root = Path(root).resolve()
    digest = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:12]
    return f"{slug(root.name)}-{digest}"


def dataset_path(output_dir: str | Path, root: str | Path) -> Path:
    """The shared Parquet file of data root `root`: ``output_dir/datasets/<source_key(root)>.parquet``.

    One file per data root: a re-run on the same folder finds its earlier data set and decodes only changes.
    """
    return datasets_dir(output_dir) / f"{source_key(root)}.parquet"


def resolve_model(path: str | Path) -> Path:
    """The checkpoint file meant by `path`: a .npz itself, a run folder's checkpoints/best.npz, or a champion
    or version folder's model.npz; absolute, with symlinks such as `models/<key>/champion` or `latest`
    followed, so a run names (and keeps reading) the version it started with. Raises FileNotFoundError or
    ValueError naming the path."""
    path = Path(path).expanduser()
    if path.is_file():
        if path.suffix != ".npz":
            raise ValueError(f"model {path} is not a .npz checkpoint")
        return path.resolve()
    if path.is_dir():
        for candidate in (path / CHAMPION_MODEL, RunLayout.at(path).best):
            if candidate.is_file():
                return candidate.resolve()
        raise FileNotFoundError(f"model folder {path} holds neither {CHAMPION_MODEL} (a champion or version "
                                "folder) nor checkpoints/best.npz (a run folder)")
    raise FileNotFoundError(f"model {path} does not exist")
