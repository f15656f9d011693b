"""Class folders of images to a Parquet data set and back; images for prediction; arrays between stages.

With `stream` (training batches read by row groups), the only modules that touch pyarrow. Raw data under
the root is only ever read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
import zlib
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlp import __version__
from mlp.atomic import atomic_open, save_npz
from mlp.data import folders, images
from mlp.data.dataset import DatasetIndex, ImageDataset, IngestResult, LoadedImages
from mlp.data.decoding import check_workers, decode_files
from mlp.data.folders import FileEntry
from mlp.data.quality import DatasetError, QualityReport, Skipped, WrongSize, check, majority_shape

FORMAT_VERSION = 1
# Rows per Parquet row group: the unit a streaming reader (mlp.data.stream) loads and shuffles; 4,096 images
# of 28x28 are 3 MB of pixels.
ROW_GROUP_ROWS = 4096
_PREFIX = "mlpflow."


def _schema(n_pixels: int, metadata: dict[str, Any]) -> pa.Schema:
    fields = [
        ("pixels", pa.list_(pa.uint8(), n_pixels)),
        ("label", pa.int64()),
        ("label_name", pa.string()),
        ("display_name", pa.string()),
        ("split", pa.string()),
        ("path", pa.string()),
        ("sha256", pa.string()),
        ("height", pa.int32()),
        ("width", pa.int32()),
        ("file_size", pa.int64()),
        ("mtime_ns", pa.int64()),
    ]
    encoded = {f"{_PREFIX}{k}": json.dumps(v, ensure_ascii=False) for k, v in metadata.items()}
    return pa.schema(fields, metadata=encoded)


def read_metadata(parquet_path: str | os.PathLike) -> dict[str, Any]:
    """The data set's schema metadata: format, version, class_names, display_names, image_shape, source_root,
    settings, fingerprint, quality (a ``QualityReport.to_dict()``), unreadable. Raises for a file that is
    missing, not Parquet, or not written by ``ingest``."""
    path = Path(parquet_path)
    if path.is_dir():
        raise IsADirectoryError(f"data set path {path} is a folder, not a Parquet file")
    if not path.is_file():
        raise FileNotFoundError(f"data set {path} does not exist")
    try:
        raw = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path} is not a readable Parquet file: {exc}") from exc
    if f"{_PREFIX}format".encode() not in raw:
        raise ValueError(f"{path} is a Parquet file that mlpflow's ingest did not write (no metadata)")
    n = len(_PREFIX)
    return {k.decode()[n:]: json.loads(v) for k, v in raw.items() if k.startswith(_PREFIX.encode())}


def pixel_rows(table: pa.Table) -> np.ndarray:
    """The pixels column of an ingested table as (n, h*w) uint8."""
    column = table.column("pixels")
    n_pixels = column.type.list_size
    flat = column.combine_chunks().flatten() if column.num_chunks else pa.array([], pa.uint8())
    return flat.to_numpy(zero_copy_only=False).reshape(table.num_rows, n_pixels)


def _cache(path: Path, meta: dict, settings: dict, root: Path) -> tuple[dict[str, tuple], np.ndarray]:
    """What the earlier data set at ``path`` knows: (relative path -> outcome, its pixels (n, h*w)); nothing
    when it was made from another root (the same paths, sizes and mtimes there say nothing of the pixels)."""
    ours = (meta["format"], meta["version"], meta["settings"], meta["source_root"])
    same = ours == (FORMAT_VERSION, __version__, settings, str(root))
    if not same:
        return {}, np.empty((0, 0), np.uint8)
    table = pq.read_table(path)
    cache: dict[str, tuple] = {}
    names = ("path", "file_size", "mtime_ns", "sha256", "height", "width")
    columns = [table.column(c).to_pylist() for c in names]
    for i, (p, size, mtime, digest, h, w) in enumerate(zip(*columns, strict=True)):
        cache[p] = (size, mtime, i, digest, (h, w))
    for u in meta["unreadable"]:
        cache[u["path"]] = (u["size"], u["mtime_ns"], None, u["sha256"], u["reason"])
    return cache, pixel_rows(table)


def ingest(
    root: str | os.PathLike,
    parquet_path: str | os.PathLike,
    *,
    resize: Sequence[int] | None = None,
    extensions: Sequence[str] | None = folders.IMAGE_EXTENSIONS,
    force: bool = False,
    workers: int = 1,
    executor: Executor | None = None,
) -> IngestResult:
    """Decode ``root/{train,validation}/<label>/**`` and ``root/test/**`` into one Parquet file, one row per
    usable image (pixels (h*w,) uint8, label, names, split, path, sha256, source height/width).

    Incremental: an unchanged tree (same paths, sizes, mtimes, ``labels.txt`` and options) writes nothing;
    otherwise only new or changed files are decoded (``force=True`` decodes all). ``resize=(h, w)`` resizes
    every image; without it, images not of the most common size are reported and left out. ``extensions=None``
    tries every file with Pillow. ``workers`` > 1 decodes in that many local processes, ``executor`` (e.g. a
    Dask client's ``get_executor()``) on its workers (`mlp.data.decoding`); the rows and hashes are the
    serial ones. Rows are written in row groups of ROW_GROUP_ROWS. Raises ``DatasetError`` (a ValueError
    carrying the quality report) for an empty class folder or no readable image; nothing is written then."""
    resize = images.check_shape(resize)
    check_workers(workers)
    exts = folders.normalise_extensions(extensions)
    tree = folders.walk(root, exts)
    settings = {"resize": list(resize) if resize else None, "extensions": list(exts) if exts else None}
    fingerprint = folders.fingerprint(tree, settings, extra=f"{FORMAT_VERSION}:{__version__}")
    out = Path(parquet_path)
    if out.resolve().is_relative_to(tree.root):
        raise ValueError(f"output {out} lies inside the data root {tree.root}, which is read-only")
    meta = read_metadata(out) if out.exists() else None  # raises for a file ingest did not write
    if meta is not None and meta["fingerprint"] == fingerprint and not force:
        report = QualityReport.from_dict(meta["quality"])
        return IngestResult(out, report.n_images, 0, len(tree.entries), False, fingerprint, report)

    cache, old_pixels = _cache(out, meta, settings, tree.root) if meta and not force else ({}, None)
    found = _decode_or_reuse(tree, cache, tuple(meta["image_shape"]) if meta else None, resize, workers,
                             executor)
    readable = [f for f in found if f.decoded.error is None]
    unreadable = [(f.entry, f.decoded) for f in found if f.decoded.error is not None]
    skipped = sorted(
        [*tree.skipped, *(Skipped(e.path, d.error) for e, d in unreadable)],
        key=lambda s: folders.natural_key(s.path),
    )
    display = folders.read_display_names(tree.root / folders.LABELS_FILE, tree.class_names)
    report = check(
        [f.entry.path for f in readable],
        [f.entry.split for f in readable],
        [f.entry.label for f in readable],
        [f.decoded.sha256 for f in readable],
        [f.shape for f in readable],
        class_names=tree.class_names, display_names=display, class_folders=tree.class_folders,
        skipped=skipped, root=str(tree.root),
    )
    if not report.ok:
        raise DatasetError(report)
    rows = [f for f in readable if f.shape == report.image_shape]
    h, w = report.image_shape
    X = np.empty((len(rows), h * w), np.uint8)
    for j, f in enumerate(rows):
        X[j] = old_pixels[f.cached_row] if f.cached_row is not None else f.decoded.pixels.ravel()
    metadata = {
        "format": FORMAT_VERSION, "version": __version__, "class_names": list(tree.class_names),
        "display_names": list(display), "image_shape": [h, w], "source_root": str(tree.root),
        "settings": settings, "fingerprint": fingerprint, "quality": report.to_dict(),
        "unreadable": [
            {"path": e.path, "size": e.size, "mtime_ns": e.mtime_ns, "sha256": d.sha256, "reason": d.error}
            for e, d in unreadable
        ],
    }
    table = _table(X, [(f.entry, f.decoded) for f in rows], tree.class_names, display, metadata)
    with atomic_open(out) as handle:
        pq.write_table(table, handle, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    n_reused = sum(f.reused for f in found)
    return IngestResult(out, len(rows), len(found) - n_reused, n_reused, True, fingerprint, report)


class _Found(NamedTuple):
    entry: FileEntry
    decoded: images.Decoded  # pixels None when reused
    shape: tuple[int, int] | None  # pixel shape; None when unreadable
    cached_row: int | None  # row of the pixels in the previous data set
    reused: bool


def _decode_or_reuse(tree: folders.Tree, cache: dict, old_shape, resize, workers: int = 1,
                     executor: Executor | None = None) -> list[_Found]:
    """Each file's outcome: reused from ``cache`` when its size and mtime are unchanged, else decoded now
    (all of those at once: `decoding.decode_files`)."""
    found: list[_Found | None] = []
    new = []  # indices in `found` of the files to decode
    for e in tree.entries:
        hit = cache.get(e.path)
        if hit is not None and hit[:2] == (e.size, e.mtime_ns):
            _, _, row, digest, detail = hit  # detail: the source shape, or why it was unreadable
            if row is None:
                found.append(_Found(e, images.Decoded(None, digest, None, error=detail), None, None, True))
            else:
                reused = images.Decoded(None, digest, source_shape=detail)
                found.append(_Found(e, reused, old_shape, row, True))
            continue
        new.append(len(found))
        found.append(None)
    paths = [os.path.join(tree.root, tree.entries[i].path) for i in new]
    for i, d in zip(new, decode_files(paths, resize, workers=workers, executor=executor), strict=True):
        found[i] = _Found(tree.entries[i], d, d.pixels.shape if d.error is None else None, None, False)
    return found


def _table(X: np.ndarray, rows: list[tuple], class_names, display_names, metadata: dict) -> pa.Table:
    """The Parquet table for X (n, h*w) uint8 and its n (FileEntry, Decoded) rows."""
    index = {name: i for i, name in enumerate(class_names)}
    names = dict(zip(class_names, display_names, strict=True))
    entries = [e for e, _ in rows]
    columns = [
        pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), pa.uint8()), X.shape[1]),
        pa.array([index.get(e.label, -1) for e in entries], pa.int64()),
        pa.array([e.label for e in entries], pa.string()),
        pa.array([names.get(e.label) for e in entries], pa.string()),
        pa.array([e.split for e in entries], pa.string()),
        pa.array([e.path for e in entries], pa.string()),
        pa.array([d.sha256 for _, d in rows], pa.string()),
        pa.array([d.source_shape[0] for _, d in rows], pa.int32()),
        pa.array([d.source_shape[1] for _, d in rows], pa.int32()),
        pa.array([e.size for e in entries], pa.int64()),
        pa.array([e.mtime_ns for e in entries], pa.int64()),
    ]
    return pa.Table.from_arrays(columns, schema=_schema(X.shape[1], metadata))


def read_dataset(parquet_path: str | os.PathLike) -> ImageDataset:
    """Read a data set written by ``ingest``: X (n, h*w) uint8, y (n,) int64 (-1 unlabelled), split, paths,
    hashes (n,) str, class and display names, image shape."""
    index = read_index(parquet_path)
    X = pixel_rows(pq.read_table(parquet_path, columns=["pixels"]))
    return ImageDataset(X=X, **{f.name: getattr(index, f.name) for f in dataclasses.fields(index)})


def read_index(parquet_path: str | os.PathLike) -> DatasetIndex:
    """Read a data set written by ``ingest`` without its pixels: `read_dataset` less X."""
    meta = read_metadata(parquet_path)
    table = pq.read_table(parquet_path, columns=["label", "split", "path", "sha256"])
    text = {c: np.asarray(table.column(c).to_pylist(), dtype=str) for c in ("split", "path", "sha256")}
    return DatasetIndex(
        y=table.column("label").to_numpy().astype(np.int64),
        split=text["split"],
        paths=text["path"],
        hashes=text["sha256"],
        class_names=tuple(meta["class_names"]),
        display_names=tuple(meta["display_names"]),
        image_shape=tuple(meta["image_shape"]),
        source_root=meta["source_root"],
    )


def load_images(
    path: str | os.PathLike,
    *,
    image_shape: Sequence[int] | None = None,
    resize: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    extensions: Sequence[str] | None = folders.IMAGE_EXTENSIONS,
) -> LoadedImages:
    """Read images for prediction from one file, a flat folder or class folders (recursively), decoded as
    ``ingest`` decodes. Images not of ``image_shape`` (default: ``resize``, else the most common shape) are
    left out and reported in ``problems``, as are unreadable files; labels come from the first folder level,
    indexed in ``class_names`` (default: the folders found, natural order). Raises ValueError when no image
    is usable."""
    path = Path(path).expanduser()
    resize = images.check_shape(resize)
    expected = images.check_shape(image_shape, "image_shape")
    if resize and expected and resize != expected:
        raise ValueError(f"resize {resize} contradicts image_shape {expected}: images would never fit")
    expected = expected or resize
    if not path.exists():
        raise FileNotFoundError(f"image path {path} does not exist")
    if path.is_file():
        base, problems = path.parent, []
        files = [path.name]
    else:
        base = path
        found, problems = folders.scan_files(path, path, folders.normalise_extensions(extensions))
        files = [rel for rel, _, _ in found]
    decoded = [images.read_file(base / rel, resize) for rel in files]
    problems += [Skipped(rel, d.error) for rel, d in zip(files, decoded, strict=True) if d.error is not None]
    good = [(rel, d.pixels) for rel, d in zip(files, decoded, strict=True) if d.error is None]
    shape = expected or majority_shape([px.shape for _, px in good])
    problems += [WrongSize(rel, px.shape, shape) for rel, px in good if px.shape != shape]
    good = [(rel, px) for rel, px in good if px.shape == shape]
    if not good:
        shown = "; ".join(f"{p.path}: {getattr(p, 'reason', 'wrong size')}" for p in problems[:5])
        detail = f": {shown}" if shown else ""
        raise ValueError(f"no usable image in {path} ({len(problems)} problems{detail})")
    X = np.stack([px.ravel() for _, px in good])
    folders_of = [rel.split("/", 1)[0] if "/" in rel else None for rel, _ in good]
    y, classes = None, None
    if any(f is not None for f in folders_of):
        found_classes = sorted({f for f in folders_of if f is not None}, key=folders.natural_key)
        classes = tuple(class_names) if class_names is not None else tuple(found_classes)
        index = {name: i for i, name in enumerate(classes)}
        y = np.array([index.get(f, -1) for f in folders_of], np.int64)
        problems += [
            Skipped(f, f"folder {f!r} is not one of the classes {list(classes)}; its images are labelled -1")
            for f in found_classes if f not in index
        ]
    return LoadedImages(X, tuple(rel for rel, _ in good), y, classes, shape, tuple(problems))


def save_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Save named arrays to one ``.npz`` file (no pickle), atomically; return the path."""
    if not arrays:
        raise ValueError("save_arrays needs at least one named array")
    return save_npz(path, arrays)


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of a ``.npz`` file written by ``save_arrays`` (pickle refused). Raises ValueError, one
    line naming the file, for a file that is not a ``.npz`` of plain arrays or is damaged."""
    if Path(path).is_file() and not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .npz of arrays (not a zip archive), or it is truncated")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as exc:  # NumPy's message for object arrays says to load "unsafely": never passed on
        if "pickle" in str(exc):
            raise ValueError(f"{path} holds object (pickled) arrays, which mlpflow never writes") from None
        raise ValueError(f"{path} is damaged: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    except (EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{path} is damaged: {type(exc).__name__}: {exc}") from None
