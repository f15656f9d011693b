"""A pipeline run's bookkeeping: which data it uses, its name and folder, the shared data sets, `latest`.

Pure path logic plus small atomic file operations; no Prefect here, so all of it is tested directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from flows import settings
from flows.layout import RunLayout, datasets_dir, latest_link
from flows.params import PipelineParams
from mlp.atomic import write_bytes

DEMO_NAME = "digits"
DATA_KINDS = ("given", "raw", "demo")  # --data-dir, data/raw/, the built-in digits demo
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class DataSource:
    """The data folder a run reads (``root/train/<class>/*.bmp``), how it was chosen, and its short name."""

    root: Path
    kind: str  # one of DATA_KINDS
    name: str  # for run names: the folder's name, or DEMO_NAME

    def __post_init__(self) -> None:
        if self.kind not in DATA_KINDS:
            raise ValueError(f"unknown data kind {self.kind!r}; valid: {', '.join(DATA_KINDS)}")

    def describe(self) -> str:
        """One or two sentences for the log: which data, and how to point the pipeline at other data."""
        if self.kind == "given":
            return f"Data: {self.root} (--data-dir)."
        if self.kind == "raw":
            return f"Data: your images in {self.root}. Use --data-dir DIR to train on another folder."
        return (
            f"Data: the built-in demo, scikit-learn's 1,797 handwritten digits as 8x8 BMPs in {self.root}. "
            f"To train on your own images, put them in {settings.RAW_DIR}/train/<class>/*.bmp (optionally "
            "with a labels.txt of 'FOLDER NAME' lines) or pass --data-dir DIR."
        )


def resolve_data(data_dir: Path | None) -> DataSource:
    """The run's data: `data_dir` when given, else ``settings.RAW_DIR`` (data/raw) when it holds ``train/``,
    else the digits demo at ``settings.DEMO_DIR`` (written by ``flows.demo_data.write_digits_demo``)."""
    raw_dir, demo_dir = settings.RAW_DIR, settings.DEMO_DIR
    if data_dir is not None:
        root = Path(data_dir).expanduser().resolve()
        if not root.is_dir():
            raise NotADirectoryError(f"--data-dir {data_dir} is not a directory")
        return DataSource(root, "given", root.name)
    if (Path(raw_dir) / "train").is_dir():
        return DataSource(Path(raw_dir).resolve(), "raw", Path(raw_dir).resolve().name)
    return DataSource(Path(demo_dir).resolve(), "demo", DEMO_NAME)


def slug(text: str) -> str:
    """Lowercase letters, digits and single dashes: ``'Hanzi 12!'`` -> ``'hanzi-12'`` ('data' if empty)."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-") or "data"


def make_run_name(data_name: str, now: datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<data>``, e.g. ``20261127-104512-digits``: sorts by time, says which data."""
    return f"{(now or datetime.now()):%Y%m%d-%H%M%S}-{slug(data_name)}"


def claim_folder(parent: Path, name: str) -> Path:
    """Create ``parent/<name>/`` (``<name>-2``, ``-3``, ... when taken) and return it.

    The folder is created exclusively, so two runs started in the same second never share one.
    """
    Path(parent).mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = Path(parent) / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"no free folder for {name!r} under {parent} after 999 attempts")


def claim_run(output_dir: Path, name: str, data_root: Path | None = None) -> RunLayout:
    """Create the run folder ``output_dir/runs/<name>/`` (see `claim_folder`) and return its layout.

    Raises ValueError, before writing anything, when ``output_dir`` lies inside ``data_root``: the raw data
    folder is only ever read."""
    if data_root is not None and Path(output_dir).resolve().is_relative_to(Path(data_root).resolve()):
        raise ValueError(f"--output-dir {output_dir} lies inside the data folder {data_root}, which is only "
                         "ever read; choose an output folder outside it")
    root = claim_folder(RunLayout.create(output_dir, name).root.parent, name)
    return RunLayout.create(output_dir, root.name)


def record_run(layout: RunLayout, params: PipelineParams, source: DataSource) -> Path:
    """Write the run's params.json: its name, its data (root and how it was chosen) and its parameters."""
    record = {"run_name": layout.name, "data": {"root": str(source.root), "kind": source.kind},
              "parameters": params.model_dump(mode="json")}
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    return write_bytes(layout.params, text.encode("utf-8"))


def source_key(root: Path) -> str:
    """The key of data root `root` in the shared folders: ``<name>-<hash of its absolute path>``, e.g.
    ``hanzi12-0123456789ab``. It names the root's data set (``datasets/<key>.parquet``) and its models
    (``models/<key>/``: one champion per data root)."""
    root = Path(root).resolve()
    digest = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:12]
    return f"{slug(root.name)}-{digest}"


def dataset_path(output_dir: Path, root: Path) -> Path:
    """The shared Parquet file of data root `root`: ``output_dir/datasets/<source_key(root)>.parquet``.

    One file per data root: a re-run on the same folder finds its earlier data set and decodes only changes.
    """
    return datasets_dir(output_dir) / f"{source_key(root)}.parquet"


def snapshot(src: Path, dest: Path) -> Path:
    """Put `src`'s current content at `dest` atomically: a hard link (no copy; later rewrites of `src`
    replace its file, so `dest` keeps this version), or a copy where links are impossible."""
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.tmp")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            os.link(src, tmp)
        except OSError:  # another file system, or links not supported: copy instead
            shutil.copy2(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def point_latest(output_dir: Path, run_root: Path) -> Path:
    """Make ``output_dir/latest`` a relative symlink to `run_root`, swapped atomically; return the link.

    Raises FileExistsError when ``latest`` exists and is not a symlink (nothing is deleted).
    """
    link = latest_link(output_dir)
    if link.exists() and not link.is_symlink():
        raise FileExistsError(f"{link} exists and is not a symlink; move it away so that it can point at "
                              "the newest run")
    target = os.path.relpath(Path(run_root).resolve(), Path(output_dir).resolve())
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        os.symlink(target, tmp, target_is_directory=True)
        os.replace(tmp, link)
    finally:
        if tmp.is_symlink():
            tmp.unlink()
    return link


@dataclass
class StageTimer:
    """Wall time of named stages, in the order they ran: ``with timer("train"): ...``."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started
