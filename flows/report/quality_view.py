"""The data-quality summary as a person reads it, from the plain dict the data stage produces.

The dict is rendered by the shape of its values, so new keys need no code here: scalars (and sequences of
numbers, such as an image shape) form a summary table; a mapping keyed by class folders (counts per class)
gains the display names; lists of records (skipped files with reasons) become tables; lists of groups
(duplicate files, label conflicts) become one row per group. Long lists are cut at MAX_ROWS rows with a
note. Expected keys, for example: ``n_images``, ``counts`` ({folder: n}), ``skipped`` ([{path, reason}]),
``duplicates`` ([[path, ...]]), ``label_conflicts``.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flows.report.markup import Block, Heading, Table, Text
from mlp.data.quality import QualityReport

if TYPE_CHECKING:
    from flows.pipeline.stages import IngestSummary

MAX_ROWS = 50


def quality_blocks(
    quality: Mapping[str, Any], class_names: Sequence[str], display_names: Sequence[str]
) -> list[Block]:
    """The data-quality section's blocks: a summary table, then one sub-section per list or mapping."""
    if not quality:
        return [Text("No data-quality report was given.")]
    names = dict(zip(class_names, display_names, strict=True))
    summary = [[_title(k), _text(v)] for k, v in quality.items() if _is_scalar(v)]
    summary += [[_title(k), len(v)] for k, v in quality.items() if _is_list(v)]
    blocks: list[Block] = [Table(["check", "value"], summary)] if summary else []
    for key, value in quality.items():
        if _is_scalar(value):
            continue
        blocks.append(Heading(3, _title(key)))
        if isinstance(value, Mapping):
            blocks.append(_mapping_table(value, names))
        elif not value:
            blocks.append(Text("None."))
        else:
            blocks.append(_list_table(value[:MAX_ROWS]))
            if len(value) > MAX_ROWS:
                blocks.append(Text(f"… and {len(value) - MAX_ROWS} more, not shown."))
    return blocks


def quality_rows(
    quality: Mapping[str, Any], class_names: Sequence[str], display_names: Sequence[str]
) -> list[dict[str, Any]]:
    """The quality dict as uniform rows {section, item, value} for a Prefect table artifact (no row limit)."""
    names = dict(zip(class_names, display_names, strict=True))
    rows = [{"section": "summary", "item": k, "value": _text(v)} for k, v in quality.items() if _is_scalar(v)]
    rows += [{"section": "summary", "item": k, "value": len(v)} for k, v in quality.items() if _is_list(v)]
    for key, value in quality.items():
        if isinstance(value, Mapping):
            rows += [
                {"section": key, "item": f"{k} {names[k]}" if k in names else str(k), "value": _text(v)}
                for k, v in value.items()
            ]
        elif _is_list(value):
            for i, entry in enumerate(value, start=1):
                if isinstance(entry, Mapping) and entry:
                    first, *rest = entry.items()
                    detail = "; ".join(f"{k}: {_text(v)}" for k, v in rest)
                    rows.append({"section": key, "item": _text(first[1]), "value": detail})
                else:
                    rows.append({"section": key, "item": str(i), "value": _text(entry)})
    return rows


def _mapping_table(value: Mapping[str, Any], names: Mapping[str, str]) -> Table:
    if value and all(str(k) in names for k in value):
        rows = [[str(k), names[str(k)], _text(v)] for k, v in value.items()]
        return Table(["folder", "name", "value"], rows)
    return Table(["item", "value"], [[str(k), _text(v)] for k, v in value.items()])


def _list_table(entries: Sequence[Any]) -> Table:
    if all(isinstance(e, Mapping) for e in entries):
        headers = list(dict.fromkeys(k for e in entries for k in e))
        return Table(headers, [[_text(e.get(h)) for h in headers] for e in entries])
    return Table(["group", "entries"], [[i, _text(e)] for i, e in enumerate(entries, start=1)])


def _is_list(value: Any) -> bool:
    """A collection to list entry by entry; a sequence of numbers such as an image shape is a value."""
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return False
    return not (value and all(isinstance(v, numbers.Number) for v in value))


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, Mapping) and not _is_list(value)


def _text(value: Any) -> str | int | float | bool | None:
    """JSON-ready: numbers (NumPy's too) as Python numbers; lists as comma-separated text; mappings JSON."""
    if isinstance(value, Mapping):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return ", ".join(str(_text(v)) for v in value)
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


def _title(key: str) -> str:
    return str(key).replace("_", " ").capitalize()


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
