"""The class-folder tree on disk: walking it (read-only), natural label order, ``labels.txt``, fingerprints.

Layout: ``ROOT/train/<label>/...``, optionally ``ROOT/validation/<label>/...`` and an unlabelled
``ROOT/test/...``; files inside a class folder are found recursively. Nothing here opens an image.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlp.data.quality import Skipped

LABELS_FILE = "labels.txt"
_RUNS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Sort key ordering digit runs by value: ``1, 2, 10`` rather than ``1, 10, 2``."""
    parts = _RUNS.split(text)
    return tuple((0, int(p), p) if p.isdecimal() else (1, p.casefold(), p) for p in parts if p)


def is_hidden(name: str) -> bool:
    """Folders that tools leave behind (``.ipynb_checkpoints``, ``.git``, ``__MACOSX``): never data."""
    return name.startswith(".") or name == "__MACOSX"


@dataclass(frozen=True)
class FileEntry:
    """A file found under the root: POSIX path relative to the root, split, class folder, size, mtime."""

    path: str
    split: str
    label: str | None  # class folder name; None for unlabelled test files
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Tree:
    """The result of walking a root: image candidates, skipped files, and class folders per split."""

    root: Path
    entries: tuple[FileEntry, ...]
    skipped: tuple[Skipped, ...]
    class_folders: dict[str, tuple[str, ...]]  # split -> class folder names, natural order

    @property
    def class_names(self) -> tuple[str, ...]:
        """The training class folders, natural order."""
        return self.class_folders["train"]


def normalise_extensions(extensions: Sequence[str] | None) -> tuple[str, ...] | None:
    """Lower-case extensions with a leading dot: ``("bmp", ".PNG")`` -> ``(".bmp", ".png")``. None: all."""
    if extensions is None:
        return None
    if isinstance(extensions, str):
        extensions = (extensions,)
    out = []
    for ext in extensions:
        if not isinstance(ext, str) or not ext.strip(".") or os.sep in ext:
            raise ValueError(f"extensions must be non-empty strings like '.bmp'; got {ext!r}")
        out.append("." + ext.lower().lstrip("."))
    if not out:
        raise ValueError("extensions is empty: pass None to try every file, or e.g. ('.bmp',)")
    return tuple(out)


def scan_files(folder: Path, root: Path, extensions: tuple[str, ...] | None) -> tuple[list, list[Skipped]]:
    """Files under ``folder`` recursively, natural order: (kept ``(path, size, mtime_ns)``, skipped); paths
    are POSIX, relative to ``root``."""
    kept: list[tuple[str, int, int]] = []
    skipped: list[Skipped] = []
    prefix = Path(folder).relative_to(root).as_posix()
    _scan(os.fspath(folder), "" if prefix == "." else prefix + "/", extensions, kept, skipped)
    return kept, skipped


def _scan(folder: str, prefix: str, extensions, kept: list, skipped: list) -> None:
    with os.scandir(folder) as it:
        items = sorted(it, key=lambda e: natural_key(e.name))
    for e in items:
        rel = prefix + e.name
        if e.is_dir() and is_hidden(e.name):
            skipped.append(Skipped(rel + "/", "hidden or system folder, not read"))
        elif e.is_dir():
            _scan(e.path, rel + "/", extensions, kept, skipped)
        elif extensions is not None and os.path.splitext(e.name)[1].lower() not in extensions:
            ext = os.path.splitext(e.name)[1]
            skipped.append(Skipped(rel, f"not an image file: extension {ext!r} not in {extensions}"))
        else:
            try:
                st = e.stat()
            except FileNotFoundError:
                skipped.append(Skipped(rel, "broken symbolic link (or the file vanished while walking)"))
                continue
            kept.append((rel, st.st_size, st.st_mtime_ns))


def walk(root: str | os.PathLike, extensions: tuple[str, ...] | None = (".bmp",)) -> Tree:
    """Walk ``root`` (read-only). Raises FileNotFoundError for a missing root, ValueError when there is no
    ``train/`` folder with class folders, or a validation class folder that is not a training class."""
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"data root {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"data root {root} is not a folder")
    root = root.resolve()
    train = root / "train"
    if not train.is_dir():
        raise ValueError(f"no train/ folder in {root}: expected {root}/train/<label>/<image files>")
    entries: list[FileEntry] = []
    skipped: list[Skipped] = []
    class_folders: dict[str, tuple[str, ...]] = {}
    for split in ("train", "validation"):
        base = root / split
        if not base.is_dir():
            continue
        with os.scandir(base) as it:
            items = sorted(it, key=lambda e: natural_key(e.name))
        names = tuple(e.name for e in items if e.is_dir() and not is_hidden(e.name))
        for e in items:
            if e.is_dir() and is_hidden(e.name):
                skipped.append(Skipped(f"{split}/{e.name}/", "hidden or system folder, not a class"))
            elif not e.is_dir():
                skipped.append(Skipped(f"{split}/{e.name}", f"not inside a class folder of {split}/"))
        if split == "train" and not names:
            raise ValueError(f"no class folders in {base}: expected {base}/<label>/<image files>")
        unknown = [n for n in names if n not in class_folders.get("train", names)]
        if unknown:
            raise ValueError(f"validation class folders {unknown} in {base} are not training classes")
        class_folders[split] = names
        for name in names:
            kept, skip = scan_files(base / name, root, extensions)
            entries += [FileEntry(rel, split, name, size, mtime) for rel, size, mtime in kept]
            skipped += skip
    if (root / "test").is_dir():
        kept, skip = scan_files(root / "test", root, extensions)
        entries += [FileEntry(rel, "test", None, size, mtime) for rel, size, mtime in kept]
        skipped += skip
    return Tree(root, tuple(entries), tuple(skipped), class_folders)


def read_display_names(path: str | os.PathLike, class_names: Sequence[str]) -> tuple[str, ...]:
    """Display names from a ``labels.txt`` (``FOLDER NAME`` per line, UTF-8; blank lines and ``#`` comments
    skipped), one per class; a class it does not name keeps its folder name. A missing file: folder names."""
    path = Path(path)
    if not path.is_file():
        return tuple(class_names)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        where = f"{exc.reason} at byte {exc.start}"
        raise ValueError(f"{path} is not UTF-8 text ({where}): save it as UTF-8") from exc
    names: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected 'FOLDER NAME', got {line!r}")
        if parts[0] in names:
            raise ValueError(f"{path}:{number}: folder {parts[0]!r} is named twice")
        names[parts[0]] = parts[1]
    return tuple(names.get(c, c) for c in class_names)


def fingerprint(tree: Tree, settings: dict, extra: str = "") -> str:
    """sha256 over the walked files (paths, sizes, mtimes), skipped files, class folders, ``labels.txt``,
    the settings and ``extra`` (e.g. the package version): equal fingerprints mean nothing to redo."""
    labels = tree.root / LABELS_FILE
    state = {
        "root": str(tree.root),
        "entries": [[e.path, e.size, e.mtime_ns] for e in tree.entries],
        "skipped": [[s.path, s.reason] for s in tree.skipped],
        "class_folders": tree.class_folders,
        "labels": hashlib.sha256(labels.read_bytes()).hexdigest() if labels.is_file() else None,
        "settings": settings,
        "extra": extra,
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
