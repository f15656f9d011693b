"""Plain containers for what the data stage hands on: an image data set, an ingest outcome, loaded images."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from mlp.data.quality import QualityReport, Skipped, WrongSize


@dataclass(frozen=True, eq=False)
class DatasetIndex:
    """An ingested data set without its pixels, for data larger than memory: y (n,) int64 class index (-1
    unlabelled); split, paths (relative to ``source_root``) and hashes (sha256 hex) (n,) str. ``class_names``
    are folder names in natural order, ``display_names`` the matching names for people. The pixels of chosen
    rows are read apart (`mlp.data.stream.read_rows`); `ImageDataset` is the index with all of them."""

    y: np.ndarray
    split: np.ndarray
    paths: np.ndarray
    hashes: np.ndarray
    class_names: tuple[str, ...]
    display_names: tuple[str, ...]
    image_shape: tuple[int, int]
    source_root: str

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True, eq=False)
class ImageDataset(DatasetIndex):
    """n images as rows: a `DatasetIndex` with its pixels, X (n, h*w) uint8."""

    X: np.ndarray

    def __post_init__(self):
        n, n_pixels = len(self.X), self.image_shape[0] * self.image_shape[1]
        if self.X.shape != (n, n_pixels):
            raise ValueError(
                f"X has shape {self.X.shape}; expected (n, {n_pixels}) for images {self.image_shape}"
            )
        for name in ("y", "split", "paths", "hashes"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}; expected ({n},)")
        if len(self.display_names) != len(self.class_names):
            raise ValueError(f"{len(self.display_names)} display names for {len(self.class_names)} classes")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def take(self, index: np.ndarray) -> ImageDataset:
        """The rows at ``index`` (an int array or a boolean mask of length n), as a new data set."""
        rows = {f.name: getattr(self, f.name)[index] for f in fields(self) if f.name in _ROW_FIELDS}
        meta = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _ROW_FIELDS}
        return ImageDataset(**rows, **meta)

    def where(self, split: str) -> ImageDataset:
        """The rows of one split: ``"train"``, ``"validation"`` or ``"test"`` (possibly none)."""
        if split not in ("train", "validation", "test"):
            raise ValueError(f"unknown split {split!r}; valid: 'train', 'validation', 'test'")
        return self.take(self.split == split)


_ROW_FIELDS = ("X", "y", "split", "paths", "hashes")


@dataclass(frozen=True)
class IngestResult:
    """What ``files.ingest`` did: the Parquet ``path``, usable images in it, how many files were decoded now
    and how many outcomes were reused from the previous data set, whether the file was (re)written."""

    path: Path
    n_images: int
    n_decoded: int
    n_reused: int
    written: bool
    fingerprint: str
    quality: QualityReport


@dataclass(frozen=True, eq=False)
class LoadedImages:
    """Images read for prediction: X (n, h*w) uint8, paths (relative to the folder given), y (n,) int64 when
    the images sat in class folders (-1 for a folder that is not a known class), else None; problems are the
    files left out (unreadable, wrong size) or labelled -1, each with its reason."""

    X: np.ndarray
    paths: tuple[str, ...]
    y: np.ndarray | None
    class_names: tuple[str, ...] | None
    image_shape: tuple[int, int]
    problems: tuple[Skipped | WrongSize, ...]

    def __len__(self) -> int:
        return len(self.X)
