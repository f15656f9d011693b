"""Data quality, reported not hidden: counts, skipped files, wrong sizes, duplicates, label conflicts.

Pure: it works on the paths, splits, labels, hashes and shapes handed to it and never opens a file (except
``QualityReport.save_json``, which writes the report itself).
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlp.atomic import write_bytes

SPLITS = ("train", "validation", "test")
Shape = tuple[int, int]


@dataclass(frozen=True)
class Skipped:
    """A file that was not used: ``path`` relative to the root, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class WrongSize:
    """A readable image whose (height, width) differs from the data set's ``expected`` shape."""

    path: str
    shape: Shape
    expected: Shape


@dataclass(frozen=True)
class DuplicateGroup:
    """Byte-identical files: their sha256, paths and each copy's label (folder name; None if unlabelled)."""

    sha256: str
    paths: tuple[str, ...]
    labels: tuple[str | None, ...]


class DatasetError(ValueError):
    """The data cannot make a data set (an empty class folder, nothing readable); ``report`` says why."""

    def __init__(self, report: QualityReport):
        super().__init__("; ".join(report.errors))
        self.report = report


@dataclass(frozen=True)
class QualityReport:
    """What was found under a data root. Plain data: ``to_dict`` for JSON, ``*_rows`` for tables."""

    root: str
    image_shape: Shape | None
    class_names: tuple[str, ...]
    display_names: tuple[str, ...]
    counts: Mapping[str, Mapping[str, int]]  # split -> class folder name -> usable images ("" for unlabelled)
    skipped: tuple[Skipped, ...] = ()
    wrong_size: tuple[WrongSize, ...] = ()
    empty_classes: tuple[str, ...] = ()  # class folders (relative to root) without a usable image
    duplicates: tuple[DuplicateGroup, ...] = ()  # copies that all carry the same label
    label_conflicts: tuple[DuplicateGroup, ...] = ()  # copies filed under different labels
    errors: tuple[str, ...] = ()

    @property
    def n_images(self) -> int:
        """Usable images over all splits."""
        return sum(sum(per_class.values()) for per_class in self.counts.values())

    @property
    def ok(self) -> bool:
        """True when nothing stops the data from becoming a data set (warnings may remain)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; ``QualityReport.from_dict`` reads it back."""
        return {
            "root": self.root,
            "image_shape": list(self.image_shape) if self.image_shape else None,
            "class_names": list(self.class_names),
            "display_names": list(self.display_names),
            "counts": {split: dict(per_class) for split, per_class in self.counts.items()},
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "wrong_size": [
                {"path": w.path, "shape": list(w.shape), "expected": list(w.expected)}
                for w in self.wrong_size
            ],
            "empty_classes": list(self.empty_classes),
            "duplicates": [_group_dict(g) for g in self.duplicates],
            "label_conflicts": [_group_dict(g) for g in self.label_conflicts],
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QualityReport:
        """Rebuild a report from ``to_dict`` output."""
        return cls(
            root=d["root"],
            image_shape=tuple(d["image_shape"]) if d["image_shape"] else None,
            class_names=tuple(d["class_names"]),
            display_names=tuple(d["display_names"]),
            counts={split: dict(per_class) for split, per_class in d["counts"].items()},
            skipped=tuple(Skipped(**s) for s in d["skipped"]),
            wrong_size=tuple(
                WrongSize(w["path"], tuple(w["shape"]), tuple(w["expected"])) for w in d["wrong_size"]
            ),
            empty_classes=tuple(d["empty_classes"]),
            duplicates=tuple(_group_from(g) for g in d["duplicates"]),
            label_conflicts=tuple(_group_from(g) for g in d["label_conflicts"]),
            errors=tuple(d["errors"]),
        )

    def save_json(self, path: str | os.PathLike) -> Path:
        """Write the report as UTF-8 JSON (display names unescaped), atomically; return the path."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=2)
        return write_bytes(path, (text + "\n").encode("utf-8"))

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> QualityReport:
        """The report `save_json` wrote."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def class_rows(self) -> list[dict[str, Any]]:
        """One row per class: folder name, display name, usable images per split."""
        splits = [s for s in SPLITS if s in self.counts and s != "test"]
        return [
            {"label": name, "name": display, **{s: self.counts[s].get(name, 0) for s in splits}}
            for name, display in zip(self.class_names, self.display_names, strict=True)
        ]

    def issue_rows(self) -> list[dict[str, str]]:
        """One row per problem found: kind, path(s), detail."""
        names = dict(zip(self.class_names, self.display_names, strict=True))
        order = {name: i for i, name in enumerate(self.class_names)}
        rows = [{"kind": "error", "path": "", "detail": e} for e in self.errors]
        rows += [
            {"kind": "empty class folder", "path": f, "detail": "no usable image"} for f in self.empty_classes
        ]
        rows += [{"kind": "skipped", "path": s.path, "detail": s.reason} for s in self.skipped]
        rows += [
            {"kind": "wrong size", "path": w.path, "detail": f"{_hw(w.shape)}, expected {_hw(w.expected)}"}
            for w in self.wrong_size
        ]
        for kind, groups in (("duplicate", self.duplicates), ("label conflict", self.label_conflicts)):
            for g in groups:
                labels = sorted({lab for lab in g.labels if lab is not None}, key=lambda x: order.get(x, -1))
                shown = ", ".join(f"{lab} ({names.get(lab, lab)})" for lab in labels)
                detail = f"{len(g.paths)} identical files, labels {shown}"
                rows.append({"kind": kind, "path": ", ".join(g.paths), "detail": detail})
        return rows


def majority_shape(shapes: Sequence[Shape]) -> Shape | None:
    """The most common (height, width); ties go to the one seen first. None for no shapes."""
    if not shapes:
        return None
    counts = Counter(shapes)
    return max(counts, key=counts.__getitem__)  # max keeps the first of equal counts, in insertion order


def check(
    paths: Sequence[str],
    splits: Sequence[str],
    labels: Sequence[str | None],
    hashes: Sequence[str],
    shapes: Sequence[Shape],
    *,
    class_names: Sequence[str],
    display_names: Sequence[str] | None = None,
    class_folders: Mapping[str, Sequence[str]] | None = None,
    skipped: Sequence[Skipped] = (),
    expected_shape: Shape | None = None,
    root: str = "",
) -> QualityReport:
    """Check n readable images, given per image its path, split, label (class folder name or None), sha256 and
    (height, width). ``class_folders`` maps a split to its class folder names, to find empty ones;
    ``expected_shape`` defaults to the most common shape. Returns the report; its ``errors`` say whether the
    data can make a data set (the caller raises ``DatasetError``)."""
    n = len(paths)
    if not all(len(seq) == n for seq in (splits, labels, hashes, shapes)):
        raise ValueError(
            f"paths, splits, labels, hashes and shapes must have one entry per image; got lengths "
            f"{[len(s) for s in (paths, splits, labels, hashes, shapes)]}"
        )
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown splits {unknown}; valid: {list(SPLITS)}")
    class_names = tuple(class_names)
    display_names = tuple(display_names) if display_names is not None else class_names
    if len(display_names) != len(class_names):
        raise ValueError(f"{len(display_names)} display names for {len(class_names)} classes")
    shape = expected_shape or majority_shape([tuple(s) for s in shapes])

    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for split, names in (class_folders or {}).items():
        counts[split] = dict.fromkeys(names, 0)
    wrong = []
    for path, split, label, hw in zip(paths, splits, labels, shapes, strict=True):
        if tuple(hw) != shape:
            wrong.append(WrongSize(path, tuple(hw), shape))
            continue
        key = label if label is not None else ""
        counts[split][key] = counts[split].get(key, 0) + 1
    empty = tuple(
        f"{split}/{name}" for split, per in counts.items() for name, k in per.items() if k == 0 and name
    )

    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        by_hash[h].append(i)
    duplicates, conflicts = [], []
    for h, members in by_hash.items():
        if len(members) < 2:
            continue
        group = DuplicateGroup(h, tuple(paths[i] for i in members), tuple(labels[i] for i in members))
        distinct = {lab for lab in group.labels if lab is not None}
        (conflicts if len(distinct) > 1 else duplicates).append(group)

    where = f" under {root}" if root else ""
    errors = [f"empty class folder {f!r}{where}: {_why_empty(f, skipped, wrong)}" for f in empty]
    if sum(sum(per.values()) for per in counts.values()) == 0:
        errors.append(f"no usable image{where} ({len(skipped)} files skipped, {len(wrong)} of a wrong size)")
    ordered = {s: dict(counts[s]) for s in SPLITS if s in counts}
    return QualityReport(
        root=root,
        image_shape=shape,
        class_names=class_names,
        display_names=display_names,
        counts=ordered,
        skipped=tuple(skipped),
        wrong_size=tuple(wrong),
        empty_classes=empty,
        duplicates=tuple(duplicates),
        label_conflicts=tuple(conflicts),
        errors=tuple(errors),
    )


def _why_empty(folder: str, skipped: Sequence[Skipped], wrong: Sequence[WrongSize]) -> str:
    """Why a class folder has no usable image: nothing in it, or what was found there and set aside."""
    inside = folder + "/"
    bad = [s for s in skipped if s.path.startswith(inside)]
    n_wrong = sum(w.path.startswith(inside) for w in wrong)
    if not bad and not n_wrong:
        return "no image file in it"
    first = f"; first skipped: {bad[0].path}: {bad[0].reason}" if bad else ""
    counts = f"{len(bad)} skipped, {n_wrong} of a wrong size"
    return f"no usable image among {len(bad) + n_wrong} files ({counts}{first})"


def _group_dict(g: DuplicateGroup) -> dict[str, Any]:
    return {"sha256": g.sha256, "paths": list(g.paths), "labels": list(g.labels)}


def _group_from(d: Mapping[str, Any]) -> DuplicateGroup:
    return DuplicateGroup(d["sha256"], tuple(d["paths"]), tuple(d["labels"]))


def _hw(shape: Shape) -> str:
    return f"{shape[0]}x{shape[1]}"
