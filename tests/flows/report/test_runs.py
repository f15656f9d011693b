"""The history of runs as people read it: one set of formatted cells for the text, the artifact and
index.html; index.html links each kept run's report relatively, escapes what runs said, and plots accuracy."""

from __future__ import annotations

import html
import re

from flows.report.runs import COLUMNS, accuracy_png, artifact_rows, index_page, runs_text
from tests.flows.store.test_run_history import completed, failed

ROWS = [failed("20261203-093000-hanzi12", "2026-12-03T09:30:00+00:00"),
        completed("20261203-080000-hanzi12", "2026-12-03T08:00:00+00:00", promoted=False,
                  val_accuracy=0.95087, val_loss=0.504321),
        completed("20261203-072717-hanzi12", "2026-12-03T07:27:17+00:00")]
COLUMNS_OF_PLOT = {"data_key": [r.data_key for r in ROWS], "started": [r.started for r in ROWS],
                   "val_accuracy": [r.val_accuracy for r in ROWS], "promoted": [r.promoted for r in ROWS]}


def test_the_artifact_shows_accuracy_in_percent_and_losses_to_four_digits():
    rows = artifact_rows(ROWS)
    assert list(rows[0]) == list(COLUMNS)
    assert [(r["val accuracy"], r["val loss"], r["promoted"]) for r in rows] == [
        ("n/a", "n/a", "n/a"), ("95.09%", "0.5043", "no"), ("97.62%", "0.0913", "yes")]
    assert rows[0]["note"] == "DatasetError: class folder train/2 holds no image"
    assert rows[2]["started (UTC)"] == "2026-12-03 07:27:17" and rows[2]["hidden"] == "1024,512"


def test_the_text_is_aligned_under_its_header():
    lines = runs_text(ROWS).splitlines()
    assert len(lines) == 4 and lines[0].split()[:3] == ["run", "data", "started"]
    end = lines[0].index("val accuracy") + len("val accuracy")  # numbers end where their header ends
    assert [line[:end].split()[-1] for line in lines[1:]] == ["n/a", "95.09%", "97.62%"]
    assert all(line[end] == " " for line in lines[1:])
    assert [line.index(row.status) for line, row in zip(lines[1:], ROWS, strict=True)] == [
        lines[0].index("status")] * 3  # text starts under its header
    assert lines[1].endswith("DatasetError: class folder train/2 holds no image")


def test_index_links_kept_reports_relatively_and_escapes_what_runs_said(tmp_path):
    kept = tmp_path / "runs" / "20261203-072717-hanzi12" / "report.html"
    kept.parent.mkdir(parents=True)
    kept.write_text("<html>report</html>")
    rows = [failed("r<script>", "2026-12-03T09:30:00+00:00"), *ROWS[1:]]  # 080000's folder was removed
    page = index_page(rows, 3, COLUMNS_OF_PLOT, tmp_path)
    links = re.findall(r'<a href="([^"]+)">', page)
    assert links == ["runs/20261203-072717-hanzi12/report.html"]
    assert all((tmp_path / html.unescape(link)).is_file() for link in links)
    assert "r&lt;script&gt;" in page and "<script>" not in page
    assert "3 runs recorded in" in page and page.count("<tr class=") == 3
    assert page.count('src="data:image/png;base64,') == 1


def test_index_says_when_it_lists_only_the_newest_and_plots_nothing_unmeasured(tmp_path):
    only_failed = {"data_key": [None], "started": [ROWS[0].started], "val_accuracy": [None],
                   "promoted": [None]}
    page = index_page(ROWS[:1], 1200, only_failed, tmp_path)
    assert "1200 runs recorded" in page and re.search(r"the\s+newest 1 are listed", page)
    assert "data:image/png" not in page and accuracy_png(only_failed) is None


def test_the_plot_is_a_png_of_every_measured_run():
    png = accuracy_png(COLUMNS_OF_PLOT)
    assert png is not None and png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") == 1000
