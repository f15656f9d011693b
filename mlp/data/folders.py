"""The class-folder tree on disk: walking it (read-only), natural label order, ``labels.txt``, fingerprints.

Layout: ``ROOT/train/<label>/...``, optionally ``ROOT/validation/<label>/...`` and an unlabelled
``ROOT/test/...``; files inside a class folder are found recursively. Nothing here opens an image. Unreadable
folders and files, broken links and symlink loops are skipped with the reason (see ``scan_files``).
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

IMAGE_EXTENSIONS = (".bmp",)  # what ingest, prediction and the pipeline's checks read by default

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


def scan_files(
    folder: Path, root: Path, extensions: tuple[str, ...] | None, visited: dict | None = None
) -> tuple[list, list[Skipped]]:
    """Files under ``folder`` recursively, natural order: (kept ``(path, size, mtime_ns)``, skipped); paths
    are POSIX, relative to ``root``. Never raises for what it finds: an unreadable folder or file, a broken
    link or a symlink loop is skipped with the reason. A symlinked folder is followed only when it leads out
    of ``root`` to a folder not read yet (``visited`` maps each real folder's (st_dev, st_ino) to its path,
    shared across calls); a link to a folder inside ``root`` is not followed (its files are read where they
    are), and a link to an ancestor, or to a folder holding ``root``, is a loop."""
    kept: list[tuple[str, int, int]] = []
    skipped: list[Skipped] = []
    prefix = Path(folder).relative_to(root).as_posix()
    walk_ = _Walk(os.path.realpath(root), extensions, {} if visited is None else visited, kept, skipped)
    where = "" if prefix == "." else prefix + "/"
    reason = walk_.unfollowed_link(os.fspath(folder)) if os.path.islink(folder) else None
    if reason:
        skipped.append(Skipped(where or "./", reason))
    else:
        walk_.scan(os.fspath(folder), where, {})
    return kept, skipped


def image_files(path: str | os.PathLike, extensions: Sequence[str] | None = IMAGE_EXTENSIONS) -> list[Path]:
    """The image files `path` names: itself when it is a file, else the files under it with one of
    `extensions` (`scan_files`: recursively, natural order, loops and unreadable entries left out)."""
    path = Path(path)
    if path.is_file():
        return [path]
    found, _ = scan_files(path, path, normalise_extensions(extensions))
    return [path / rel for rel, _, _ in found]


def _why(exc: OSError) -> str:
    """An OS error's reason without the path or errno: "Permission denied"."""
    return exc.strerror or str(exc)


def _one_line(exc: OSError, message: str) -> Exception:
    """A one-line error for an OS error that stops the walk: PermissionError stays one, anything else (a
    symlink loop, an I/O error) becomes a ValueError; both end a command with the message alone."""
    return PermissionError(message) if isinstance(exc, PermissionError) else ValueError(message)


@dataclass
class _Walk:
    """One recursive scan's state; see ``scan_files``."""

    real_root: str
    extensions: tuple[str, ...] | None
    visited: dict  # (st_dev, st_ino) -> relative path of each real folder read so far
    kept: list
    skipped: list

    def scan(self, folder: str, prefix: str, ancestors: dict) -> None:
        where = prefix or "./"
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in ancestors:  # only reachable through a symbolic link
                self.skipped.append(Skipped(where, f"symlink loop: links back to {ancestors[key]}"))
                return
            if key in self.visited:
                self.skipped.append(Skipped(where, f"links to a folder already read, at {self.visited[key]}"))
                return
            with os.scandir(folder) as it:
                items = sorted(it, key=lambda e: natural_key(e.name))
        except OSError as exc:
            self.skipped.append(Skipped(where, f"cannot read folder: {_why(exc)}"))
            return
        self.visited[key] = where
        ancestors = {**ancestors, key: where}
        for e in items:
            rel = prefix + e.name
            try:
                is_dir = e.is_dir()
            except OSError as exc:  # e.g. a link to itself: "Too many levels of symbolic links"
                self.skipped.append(Skipped(rel, f"cannot read: {_why(exc)}"))
                continue
            if is_dir and is_hidden(e.name):
                self.skipped.append(Skipped(rel + "/", "hidden or system folder, not read"))
            elif is_dir:
                reason = self.unfollowed_link(e.path) if e.is_symlink() else None
                if reason:
                    self.skipped.append(Skipped(rel + "/", reason))
                else:
                    self.scan(e.path, rel + "/", ancestors)
            elif self.extensions is not None and os.path.splitext(e.name)[1].lower() not in self.extensions:
                ext = os.path.splitext(e.name)[1]
                reason = f"not an image file: extension {ext!r} not in {self.extensions}"
                self.skipped.append(Skipped(rel, reason))
            else:
                try:
                    st = e.stat()
                except FileNotFoundError:
                    reason = "broken symbolic link (or the file vanished while walking)"
                    self.skipped.append(Skipped(rel, reason))
                    continue
                except OSError as exc:
                    self.skipped.append(Skipped(rel, f"cannot read: {_why(exc)}"))
                    continue
                self.kept.append((rel, st.st_size, st.st_mtime_ns))

    def unfollowed_link(self, link: str) -> str | None:
        """Why the symlinked folder ``link`` is not followed, or None to follow it."""
        target = os.path.realpath(link)
        here = os.path.realpath(os.path.dirname(link))
        if os.path.commonpath([target, here]) == target:  # the link's own folder or one holding it
            return f"symlink loop: links back to {self.shown(target)}"
        if os.path.commonpath([target, self.real_root]) == target:
            return f"symlink loop: links to {target}, which holds the data root"
        if os.path.commonpath([target, self.real_root]) == self.real_root:
            shown = self.shown(target)
            return f"symbolic link to {shown} inside the data root: not followed (its files are read there)"
        return None

    def shown(self, real: str) -> str:
        """A real folder as the report names it: relative to the root (``train/a/``) when inside it."""
        if os.path.commonpath([real, self.real_root]) != self.real_root:
            return real
        rel = Path(real).relative_to(self.real_root).as_posix()
        return "the data root" if rel == "." else rel + "/"


def _list_split(base: Path, split: str) -> list[os.DirEntry]:
    """The entries of ``root/<split>/``, natural order. Raises PermissionError (or ValueError) naming it."""
    try:
        with os.scandir(base) as it:
            return sorted(it, key=lambda e: natural_key(e.name))
    except OSError as exc:
        raise _one_line(exc, f"cannot read the {split}/ folder {base}: {_why(exc)}") from None


def _is_dir(e: os.DirEntry) -> bool | str:
    """Whether ``e`` is a folder (following links), or why that cannot be told (a loop, no permission)."""
    try:
        return e.is_dir()
    except OSError as exc:
        return f"cannot read: {_why(exc)}"


def walk(root: str | os.PathLike, extensions: tuple[str, ...] | None = IMAGE_EXTENSIONS) -> Tree:
    """Walk ``root`` (read-only). Raises FileNotFoundError for a missing root, PermissionError for a root or
    a ``train/`` or ``validation/`` folder it may not read, ValueError when there is no ``train/`` folder with
    class folders, or a validation class folder that is not a training class. Unreadable class folders and
    files, broken links and symlink loops below them are skipped, with the reason."""
    root = Path(root).expanduser()
    try:
        if not root.exists():
            raise FileNotFoundError(f"data root {root} does not exist")
        if not root.is_dir():
            raise NotADirectoryError(f"data root {root} is not a folder")
        root = root.resolve()
        has_train = (root / "train").is_dir()
    except PermissionError as exc:
        raise PermissionError(f"cannot read the data root {root}: {_why(exc)}") from None
    if not has_train:
        raise ValueError(f"no train/ folder in {root}: expected {root}/train/<label>/<image files>")
    entries: list[FileEntry] = []
    skipped: list[Skipped] = []
    class_folders: dict[str, tuple[str, ...]] = {}
    visited: dict = {}
    for split in ("train", "validation"):
        base = root / split
        if not base.is_dir():
            continue
        items = _list_split(base, split)
        kinds = {e.name: _is_dir(e) for e in items}
        names = tuple(e.name for e in items if kinds[e.name] is True and not is_hidden(e.name))
        for e in items:
            if isinstance(kinds[e.name], str):
                skipped.append(Skipped(f"{split}/{e.name}", kinds[e.name]))
            elif kinds[e.name] and is_hidden(e.name):
                skipped.append(Skipped(f"{split}/{e.name}/", "hidden or system folder, not a class"))
            elif not kinds[e.name]:
                skipped.append(Skipped(f"{split}/{e.name}", f"not inside a class folder of {split}/"))
        if split == "train" and not names:
            raise ValueError(f"no class folders in {base}: expected {base}/<label>/<image files>")
        unknown = [n for n in names if n not in class_folders.get("train", names)]
        if unknown:
            raise ValueError(f"validation class folders {unknown} in {base} are not training classes")
        class_folders[split] = names
        for name in names:
            kept, skip = scan_files(base / name, root, extensions, visited)
            entries += [FileEntry(rel, split, name, size, mtime) for rel, size, mtime in kept]
            skipped += skip
    if (root / "test").is_dir():
        kept, skip = scan_files(root / "test", root, extensions, visited)
        entries += [FileEntry(rel, "test", None, size, mtime) for rel, size, mtime in kept]
        skipped += skip
    return Tree(root, tuple(entries), tuple(skipped), class_folders)


def read_display_names(path: str | os.PathLike, class_names: Sequence[str]) -> tuple[str, ...]:
    """Display names from a ``labels.txt`` (``FOLDER NAME`` per line, UTF-8; blank lines and ``#`` comments
    skipped), one per class; a class it does not name keeps its folder name. A missing file: folder names."""
    path = Path(path)
    data = read_labels_bytes(path)
    if data is None:
        return tuple(class_names)
    try:
        text = data.decode("utf-8-sig")
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


def read_labels_bytes(path: Path) -> bytes | None:
    """The bytes of a ``labels.txt``; None when there is none. Raises PermissionError, one line naming the
    file, when it exists but may not be read (ValueError for another OS error)."""
    try:
        if not path.is_file():
            return None
        return path.read_bytes()
    except OSError as exc:
        raise _one_line(exc, f"cannot read {path}: {_why(exc)}; make it readable, or remove it") from None


def fingerprint(tree: Tree, settings: dict, extra: str = "") -> str:
    """sha256 over the walked files (paths, sizes, mtimes), skipped files, class folders, ``labels.txt``,
    the settings and ``extra`` (e.g. the package version): equal fingerprints mean nothing to redo."""
    labels = read_labels_bytes(tree.root / LABELS_FILE)
    state = {
        "root": str(tree.root),
        "entries": [[e.path, e.size, e.mtime_ns] for e in tree.entries],
        "skipped": [[s.path, s.reason] for s in tree.skipped],
        "class_folders": tree.class_folders,
        "labels": hashlib.sha256(labels).hexdigest() if labels is not None else None,
        "settings": settings,
        "extra": extra,
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
