"""The report: validated input, rows by hand, every section, a self-contained HTML page, files on disk."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from flows.report.content import (
    SECTIONS,
    ReportData,
    history_rows,
    library_versions,
    per_class_rows,
    render_figures,
    render_markdown,
    write_report,
)
from tests.flows.report_samples import HISTORY, NAMES, digits_images, sample_report


class _Page(HTMLParser):
    """Collects every tag with its attributes, and the text of each table cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_cell = tag in ("td", "th")
        if self._in_cell:
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data


@pytest.fixture(scope="module")
def data() -> ReportData:
    return sample_report()


@pytest.fixture(scope="module")
def written(data, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, write_report(data, run_dir)


def test_per_class_rows_by_hand(data):
    assert per_class_rows(data) == [
        {
            "label": 0,
            "folder": "1",
            "name": "博",
            "samples": 6,
            "correct": 5,
            "accuracy": pytest.approx(5 / 6),
        },
        {"label": 1, "folder": "2", "name": "学", "samples": 4, "correct": 4, "accuracy": 1.0},
        {"label": 2, "folder": "3", "name": "笃", "samples": 0, "correct": 0, "accuracy": None},
    ]


def test_history_rows_are_json_ready(data):
    float32_history = [{k: np.float32(v) for k, v in row.items()} for row in HISTORY]
    rows = history_rows(sample_report(history=float32_history))
    assert json.loads(json.dumps(rows))[1]["val_accuracy"] == pytest.approx(0.9)
    columns = ["member", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    assert list(history_rows(data)[0]) == columns


def test_markdown_has_every_section_in_order(data):
    md = render_markdown(data, {name: f"figures/{name}.png" for name in render_figures(data)})
    headings = [line[3:] for line in md.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS)
    assert md.startswith("# Training report: sample-run\n")
    assert "Best epoch 2 of 3: validation accuracy 90.00% on 10 images (loss 0.6000)" in md
    assert "Losses are" not in md


def test_an_ensemble_reports_each_network_and_their_joint_accuracy():
    history = [{"member": m, **row} for m in ("1-raw", "2-framed") for row in HISTORY]
    data = sample_report(history=history, best_epochs={"1-raw": 2, "2-framed": 3})
    assert [row["epoch"] for row in data.best.values()] == [2, 3]
    md = render_markdown(data, {name: f"figures/{name}.png" for name in render_figures(data)})
    assert ("An ensemble of 2 networks, each trained on its own view of the images and kept at its best "
            "epoch; their mean probabilities classify 90.00% of the 10 validation images correctly.") in md
    assert "| 1-raw | 2 | 0.5 | 0.8 | 0.6 | 0.9 |" in md and "| 2-framed | 3 | 0.3 | 0.9 | 0.7 | 0.8 |" in md
    assert [row["member"] for row in history_rows(data)] == ["1-raw"] * 3 + ["2-framed"] * 3
    shifted = sample_report(history=history, best_epochs={"1-raw": 2, "2-framed": 3}, test_time="shifts")
    md = render_markdown(shifted, {name: f"figures/{name}.png" for name in render_figures(shifted)})
    assert ("their mean probabilities over each image and its four one-pixel shifts classify 90.00% of the "
            "10 validation images correctly. Each network alone, at its best epoch, each image as "
            "drawn:") in md


def test_one_network_with_test_time_shifts_reports_both_accuracies():
    # The history says 90% at the best epoch (each image as drawn); the shifted predictions got all 10 right.
    data = sample_report(test_time="shifts", confusion=np.diag([6, 4, 0]), misclassified=digits_images(1)[:0],
                         misclassified_true=np.array([], int), misclassified_pred=np.array([], int))
    md = render_markdown(data, {name: f"figures/{name}.png" for name in render_figures(data)})
    assert "Best epoch 2 of 3: validation accuracy 90.00% on 10 images" in md
    assert ("Predicting each image as drawn and shifted by one pixel up, down, left and right, and "
            "averaging, the model classifies 100.00% correctly.") in md


def test_markdown_says_what_the_losses_are(data):
    smoothed = sample_report(loss_name="cross-entropy with label smoothing 0.1")
    md = render_markdown(smoothed, {name: f"figures/{name}.png" for name in render_figures(smoothed)})
    assert "(loss 0.6000); training accuracy" in md
    assert "Losses are cross-entropy with label smoothing 0.1." in md
    for name in ("curves", "confusion", "per_class", "misclassified"):
        assert f"(figures/{name}.png)" in md
    assert "| 0 | 1 | 博 | 6 | 5 | 83.33% |" in md
    assert "| 2 | 3 | 笃 | 0 | 0 | n/a |" in md
    assert "| true \\\\ predicted | 博 | 学 | 笃 |" in md
    assert "| 1 | 博 | 6 |" in md  # quality counts per class carry display names
    assert "| train/3/bad.bmp | cannot identify image file |" in md
    assert "| hidden | \\[500\\] |" in md and "| data.dir | data/demo |" in md
    assert "| train | 6 | 75.00% |" in md and "| total | 8 | 100% |" in md
    assert "| numpy | 2.4.6 |" in md


def test_html_is_self_contained(written):
    page = _Page()
    files = written[1]
    page.feed(files.html.read_text(encoding="utf-8"))
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    assert len(images) == 4
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(attrs["src"].split(",", 1)[1]))) as image:
            assert image.format == "PNG" and image.size[0] >= 100
    links = [v for _, attrs in page.tags for k, v in attrs.items() if k in ("href", "src") and v]
    assert all(v.startswith("data:") for v in links)
    assert not [tag for tag, _ in page.tags if tag in ("link", "script", "iframe")]


def test_html_tables_carry_display_names(written):
    page = _Page()
    page.feed(written[1].html.read_text(encoding="utf-8"))
    for name in NAMES:
        assert page.cells.count(name) >= 3  # per-class table, confusion rows and columns, quality counts
    assert "83.33%" in page.cells


def test_write_report_writes_every_file(written):
    run_dir, files = written
    assert files.markdown == run_dir / "report.md" and files.html == run_dir / "report.html"
    assert sorted(p.name for p in (run_dir / "figures").iterdir()) == [
        "confusion.png",
        "curves.png",
        "misclassified.png",
        "per_class.png",
    ]
    for path in files.figures.values():
        with Image.open(path) as image:
            assert image.format == "PNG"
    # no temporary files left behind
    assert sorted(p.name for p in run_dir.iterdir()) == ["figures", "report.html", "report.md"]


def test_rewriting_replaces_the_report(data, written):
    run_dir, files = written
    write_report(sample_report(run_name="second-run"), run_dir)
    assert files.markdown.read_text(encoding="utf-8").startswith("# Training report: second-run")
    assert sorted(p.name for p in run_dir.iterdir()) == ["figures", "report.html", "report.md"]


def test_no_misclassified_images_says_so(tmp_path):
    perfect = sample_report(
        confusion=np.diag([6, 4, 0]),
        misclassified=np.zeros((0, 64), np.uint8),
        misclassified_true=np.zeros(0, int),
        misclassified_pred=np.zeros(0, int),
    )
    files = write_report(perfect, tmp_path)
    assert "misclassified" not in files.figures
    md = files.markdown.read_text(encoding="utf-8")
    assert "None: every validation image was classified correctly." in md


def test_library_versions_name_the_packages():
    versions = library_versions()
    assert {"python", "numpy", "prefect", "pyarrow", "pillow", "mlpflow"} <= set(versions)
    assert versions["numpy"] == np.__version__


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"history": []}, "history is empty"),
        ({"history": [{"epoch": 1, "train_loss": 1.0}]}, r"lacks \['train_accuracy'"),
        ({"best_epochs": {"1": 7}}, r"best epoch 7 of 1 is not in its history's epochs \[1, 2, 3\]"),
        ({"best_epochs": {"2": 2}}, r"best_epochs names \['2'\]; the history's networks are \['1'\]"),
        ({"display_names": ["博", "学"]}, "got 3 and 2"),
        ({"confusion": np.ones((2, 2), int)}, r"\(3, 3\).*got \(2, 2\)"),
        ({"confusion": np.ones((3, 3))}, "float64"),
        ({"misclassified": digits_images(1).astype(np.float32)}, "uint8"),
        ({"image_shape": (7, 8)}, r"\(m, h\*w\).*\(1, 64\).*\(7, 8\)"),
        ({"misclassified_pred": np.array([3])}, r"misclassified_pred holds class indices outside \[0, 3\)"),
        ({"misclassified_true": np.array([0, 1])}, r"misclassified_true must be \(1,\)"),
        ({"run_name": ""}, "run_name"),
    ],
)
def test_bad_report_data_is_named(changes, match):
    with pytest.raises(ValueError, match=match):
        sample_report(**changes)


def test_report_on_real_hanzi12_images(hanzi12_root, tmp_path):
    """Real images and display names from hanzi12's labels.txt: the names reach the tables and the HTML."""
    lines = (hanzi12_root / "labels.txt").read_text(encoding="utf-8").splitlines()
    folders, names = zip(*(line.split() for line in lines if line.strip()), strict=True)
    paths = [next((hanzi12_root / "train" / f).glob("*.bmp")) for f in folders]
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(np.asarray(image.convert("L"), dtype=np.uint8).ravel())
    n = len(folders)
    confusion = np.eye(n, dtype=int) * 10
    confusion[0, 1] = 1
    data = sample_report(
        class_names=folders,
        display_names=names,
        confusion=confusion,
        misclassified=np.stack(images),
        image_shape=(28, 28),
        misclassified_true=np.arange(n),
        misclassified_pred=(np.arange(n) + 1) % n,
    )
    files = write_report(data, tmp_path)
    md = files.markdown.read_text(encoding="utf-8")
    assert names[0] == "博" and "| 0 | 1 | 博 | 11 | 10 | 90.91% |" in md
    assert all(name in files.html.read_text(encoding="utf-8") for name in names)
    with Image.open(files.figures["misclassified"]) as grid:
        assert grid.size == (8 * 125, 2 * 150 + 60)
