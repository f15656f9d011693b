"""A run's small records as plain data: what ingest did, the quality summary people read, the epoch history.

The history is a CSV (one row per epoch, written atomically after every epoch, so it can be watched while
training runs); the quality summary is the dict `flows.quality_view` renders in the report and the
``data-quality`` artifact.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlp.atomic import write_bytes
from mlp.data.dataset import IngestResult
from mlp.data.quality import QualityReport

# member: which network of the ensemble (e.g. "1-raw"), each with its own rows of epochs
HISTORY_COLUMNS = ("member", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                   "seconds")


@dataclass(frozen=True)
class IngestSummary:
    """What ingest did for a run: the shared Parquet file, usable images, files decoded now and reused."""

    parquet: Path
    n_images: int
    n_decoded: int
    n_reused: int
    rewritten: bool

    @classmethod
    def of(cls, result: IngestResult) -> IngestSummary:
        return cls(Path(result.path), result.n_images, result.n_decoded, result.n_reused, result.written)

    def describe(self) -> str:
        """One line for the log, saying whether images were decoded or the earlier data set was reused."""
        if self.n_decoded == 0 and not self.rewritten:
            return (f"Reused the ingested data set {self.parquet}: the images are unchanged since the last "
                    f"ingest, so none was decoded ({self.n_images} images).")
        return (f"Ingested {self.n_images} images into {self.parquet}: {self.n_decoded} files decoded, "
                f"{self.n_reused} unchanged files reused.")


def quality_summary(report: QualityReport, ingest: IngestSummary) -> dict[str, Any]:
    """The data-quality dict people read: totals and ingest outcome first, then images per class and split
    ({folder: n}, so the view adds display names), skipped and wrong-size files, duplicates, conflicts."""
    names = dict(zip(report.class_names, report.display_names, strict=True))
    shape = f"{report.image_shape[0]}x{report.image_shape[1]}" if report.image_shape else "unknown"
    summary: dict[str, Any] = {
        "images": report.n_images,
        "image_size": shape,
        "classes": len(report.class_names),
        "files_decoded_now": ingest.n_decoded,
        "files_reused_from_last_ingest": ingest.n_reused,
    }
    for split, counts in report.counts.items():
        labelled = {k: v for k, v in counts.items() if k}
        if labelled:
            summary[f"{split}_images_per_class"] = labelled
        if counts.get(""):
            summary[f"{split}_images_unlabelled"] = counts[""]

    def group(paths: Sequence[str], labels: Sequence[str | None]) -> dict[str, str]:
        shown = sorted({f"{lab} {names.get(lab, '')}".strip() for lab in labels if lab is not None})
        return {"files": ", ".join(paths), "labels": ", ".join(shown)}

    summary["skipped"] = [{"path": s.path, "reason": s.reason} for s in report.skipped]
    summary["wrong_size"] = [
        {"path": w.path, "size": f"{w.shape[0]}x{w.shape[1]}", "expected": f"{w.expected[0]}x{w.expected[1]}"}
        for w in report.wrong_size
    ]
    summary["duplicates"] = [group(g.paths, g.labels) for g in report.duplicates]
    summary["label_conflicts"] = [group(g.paths, g.labels) for g in report.label_conflicts]
    return summary


def write_history_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write epoch rows (``History.rows()``) as CSV with HISTORY_COLUMNS, atomically; None becomes ''."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] if k == "member" else repr(row[k])
                         for k in HISTORY_COLUMNS})
    return write_bytes(path, buffer.getvalue().encode("utf-8"))


def read_history_csv(path: Path) -> list[dict[str, Any]]:
    """The rows of `write_history_csv` back: member as str, epoch as int, the rest as float ('' as None)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and set(rows[0]) != set(HISTORY_COLUMNS):
        raise ValueError(f"{path} has columns {list(rows[0])}; expected {list(HISTORY_COLUMNS)}")
    return [
        {k: v if k == "member" else int(v) if k == "epoch" else (None if v == "" else float(v))
         for k, v in row.items()}
        for row in rows
    ]
