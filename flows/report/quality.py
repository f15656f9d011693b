"""The data-quality section of the report and the `data-quality` artifact, from the typed `QualityReport`
and what ingest did for the run (`DataQuality`): totals, images per class (in the data's folders and in the
run's split), each kind of issue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flows.report.table import Table
from mlp.data.quality import QualityReport

MAX_ROWS = 50  # rows of one data-quality list in the report; the `data-quality` artifact lists them all


# Each kind of data-quality issue (`QualityReport.issue_rows`) and its title in the report, in the report's
# order. The last four are always listed ("None." when there is none); errors and empty class folders stop a
# run before its report, so they are listed only when present.
ISSUES = {
    "error": "Errors",
    "empty class folder": "Empty class folders",
    "skipped": "Skipped files",
    "wrong size": "Wrong-size images",
    "duplicate": "Duplicate groups",
    "label conflict": "Label conflicts",
}


ALWAYS_LISTED = ("skipped", "wrong size", "duplicate", "label conflict")


@dataclass(frozen=True)
class DataQuality:
    """The data set's quality report and what ingest did for the run: files decoded now, and files reused
    from the last ingest (`flows.pipeline.preparation.IngestSummary`)."""

    report: QualityReport
    n_decoded: int
    n_reused: int


def quality_summary(quality: DataQuality) -> list[tuple[str, Any]]:
    """The data-quality totals as (check, value): images, image size, classes, files decoded now and reused,
    unlabelled images per split, then how many issues of each kind (ISSUES) were found."""
    report = quality.report
    size = f"{report.image_shape[0]}x{report.image_shape[1]}" if report.image_shape else "unknown"
    rows: list[tuple[str, Any]] = [
        ("Images", report.n_images),
        ("Image size", size),
        ("Classes", len(report.class_names)),
        ("Files decoded now", int(quality.n_decoded)),
        ("Files reused from the last ingest", int(quality.n_reused)),
    ]
    rows += [(f"Unlabelled images in {split}", counts[""]) for split, counts in report.counts.items()
             if counts.get("")]
    return rows + [(ISSUES[kind], len(found)) for kind, found in issues_by_kind(report).items()]


def issues_by_kind(report: QualityReport) -> dict[str, list[dict[str, str]]]:
    """The report's issue rows (kind, path, detail) by kind, in ISSUES order: the ALWAYS_LISTED kinds, even
    when empty, and any other kind found."""
    found: dict[str, list[dict[str, str]]] = {kind: [] for kind in ISSUES}
    for row in report.issue_rows():
        found[row["kind"]].append(row)
    return {kind: rows for kind, rows in found.items() if rows or kind in ALWAYS_LISTED}


def class_item(folder: str, name: str) -> str:
    """A class as one cell: its folder, with its display name in brackets when it has another one:
    ``1 (博)``, ``0``."""
    return folder if name == folder else f"{folder} ({name})"


def quality_rows(quality: DataQuality) -> list[dict[str, Any]]:
    """The `data-quality` table artifact, every row {section, item, value} and no row limit: the summary,
    the usable images of each class folder per split (item: `class_item`), then every issue (section: its
    kind)."""
    rows = [{"section": "summary", "item": check, "value": v} for check, v in quality_summary(quality)]
    classes = quality.report.class_rows()
    rows += [{"section": f"{split} images per class", "item": class_item(row["label"], row["name"]),
              "value": row[split]} for split in _splits(classes) for row in classes]
    return rows + [{"section": row["kind"], "item": row["path"], "value": row["detail"]}
                   for row in quality.report.issue_rows()]


@dataclass(frozen=True)
class Listing:
    """One kind of data-quality issue as the report lists it: its title, its first MAX_ROWS rows (files,
    detail) and how many more there are."""

    title: str
    table: Table
    n_more: int


@dataclass(frozen=True)
class QualitySection:
    """The report's data-quality section: totals (check, value), images per class with display names (in
    each split folder and, when given, in each part of the run's split), and one listing per kind of issue."""

    summary: Table
    classes: Table
    classes_note: str
    listings: tuple[Listing, ...]


def quality_section(quality: DataQuality,
                    split_counts: Mapping[str, Sequence[int]] | None = None) -> QualitySection:
    """The report's data-quality section: the summary, images per class, and each kind of issue cut at
    MAX_ROWS rows. The classes table counts each class folder's usable images (columns "train/ folder", ...)
    and, from `split_counts` ({"training split": (n_classes,), ...}), how the run split them."""
    classes = quality.report.class_rows()
    listings = tuple(
        Listing(ISSUES[kind], Table(("files", "detail"), [(r["path"], r["detail"]) for r in rows[:MAX_ROWS]]),
                max(len(rows) - MAX_ROWS, 0))
        for kind, rows in issues_by_kind(quality.report).items()
    )
    splits, parts = _splits(classes), dict(split_counts or {})
    headers = ("folder", "name", *(f"{split}/ folder" for split in splits), *parts)
    rows = [(row["label"], row["name"], *(row[split] for split in splits), *(c[k] for c in parts.values()))
            for k, row in enumerate(classes)]
    folders = ", ".join(f"{split}/ folder" for split in splits)
    note = f"Usable images of each class folder ({folders})"
    note += f"; and how this run split them ({', '.join(parts)})." if parts else "."
    return QualitySection(
        summary=Table(("check", "value"), quality_summary(quality)),
        classes=Table(headers, rows),
        classes_note=note,
        listings=listings,
    )


def _splits(class_rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The splits counted in `QualityReport.class_rows` (its keys after label and name)."""
    return [key for key in (class_rows[0] if class_rows else {}) if key not in ("label", "name")]
