"""The documents rendered from the templates: formatting and escaping for each target, every section in
order, report.md and report.html saying the same things, a self-contained page, files written atomically,
and a missing value failing loudly."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import re
from html.parser import HTMLParser

import jinja2
import numpy as np
import pytest
from PIL import Image

from flows.report.content import SECTIONS, ReportData, TrainingExamples
from flows.report.quality import MAX_ROWS, DataQuality
from flows.report.render import (
    ENVIRONMENT,
    cell,
    data_uri,
    markdown_text,
    one_line,
    render_figures,
    render_template,
    report_html,
    report_markdown,
    write_report,
)
from flows.report.table import Table
from mlp.data.quality import DuplicateGroup
from tests.flows.report_samples import (
    HISTORY,
    NAMES,
    QUALITY,
    WRITTEN,
    digits_images,
    sample_promotion,
    sample_report,
)

TABLE = Table(("name", "value"), [("博", 0.123456), ("n", 12), ("none", float("nan")), ("a|b <c>", True)])


class _Blocks(HTMLParser):
    """An HTML page's blocks in order, as the Markdown parser below reads report.md: ("h2", text),
    ("p", text), ("img", alt, src), ("table", headers, rows), ("facts", [(what, text)]), ("nav", [(text,
    href)]), ("details", summary); and every tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._text: str | None = None
        self._table: tuple[list[str], list[list[str]]] | None = None
        self._list: list | None = None
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag in ("h1", "h2", "h3", "p", "th", "td", "dt", "dd", "summary", "a"):
            self._text = ""
            self._href = attrs.get("href")
        elif tag == "img":
            self.blocks.append(("img", attrs["alt"], attrs["src"]))
        elif tag == "table":
            self._table = ([], [])
        elif tag == "tr" and self._table is not None and self._table[0]:
            self._table[1].append([])
        elif tag in ("dl", "nav"):
            self._list = []

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3", "p", "summary"):
            self.blocks.append(("details" if tag == "summary" else tag, self._text))
        elif tag == "th":
            self._table[0].append(self._text)
        elif tag == "td":
            self._table[1][-1].append(self._text)
        elif tag == "table":
            self.blocks.append(("table", *self._table))
            self._table = None
        elif tag == "dt":
            self._list.append([self._text])
        elif tag == "dd":
            self._list[-1].append(self._text)
        elif tag == "a":
            self._list.append((self._text, self._href))
        elif tag in ("dl", "nav"):
            self.blocks.append(("facts" if tag == "dl" else "nav", [tuple(item) for item in self._list]))
            self._list = None
        if tag in ("h1", "h2", "h3", "p", "th", "td", "dt", "dd", "summary", "a"):
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text += data


def html_blocks(page: str) -> _Blocks:
    parser = _Blocks()
    parser.feed(page)
    parser.close()
    return parser


def markdown_blocks(md: str) -> list[tuple]:
    """report.md's blocks, unescaped, in the shape of `_Blocks.blocks`."""

    def unescape(text: str) -> str:
        return re.sub(r"\\(.)", r"\1", text)

    def cells(line: str) -> list[str]:
        return [unescape(c) for c in line[2:-2].split(" | ")]  # an escaped pipe is "\|", never " | "

    blocks: list[tuple] = []
    for chunk in md.rstrip("\n").split("\n\n"):
        if chunk.startswith("#"):
            level = len(chunk) - len(chunk.lstrip("#"))
            blocks.append((f"h{level}", unescape(chunk[level + 1:])))
        elif chunk.startswith("!["):
            alt, src = re.fullmatch(r"!\[(.*)\]\((.*)\)", chunk).groups()
            blocks.append(("img", unescape(alt), src))
        elif chunk.startswith("|"):
            lines = chunk.split("\n")
            assert set(lines[1].split()) == {"|", "---"}
            blocks.append(("table", cells(lines[0]), [cells(line) for line in lines[2:]]))
        elif chunk.startswith("- **"):
            items = [re.fullmatch(r"- \*\*(.*?):\*\* (.*)", line).groups() for line in chunk.split("\n")]
            blocks.append(("facts", [(unescape(what), unescape(text)) for what, text in items]))
        elif chunk.startswith("Contents: "):
            links = re.findall(r"\[(.*?)\]\((#[^)]*)\)", chunk)
            blocks.append(("nav", [(unescape(text), href) for text, href in links]))
        elif chunk.startswith("<details><summary>"):
            summary = re.fullmatch(r"<details><summary>(.*)</summary>", chunk).group(1)
            blocks.append(("details", html.unescape(summary)))
        elif chunk != "</details>":
            assert "\n" not in chunk, chunk
            blocks.append(("p", unescape(chunk)))
    return blocks


# Every figure the report may show; a report names only those its data has.
FIGURES = ("curves", "augmentation", "confusion", "per_class", "misclassified")
LINKS = {name: f"figures/{name}.png" for name in FIGURES}
PNGS = {name: name.encode() for name in FIGURES}  # stand-ins: the templates only embed the bytes


@pytest.fixture(scope="module")
def data() -> ReportData:
    return sample_report()


@pytest.fixture(scope="module")
def written(data, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, write_report(data, run_dir)


# ---------------------------------------------------------------------------------- formatting, escaping
def test_cells_by_hand():
    assert cell(None) == "n/a" and cell(float("nan")) == "n/a" and cell(np.float32("nan")) == "n/a"
    assert cell(np.int64(7)) == "7" and cell(2 / 3) == "0.6667" and cell(123456.7) == "123457"
    assert cell(True) == "True" and cell("x") == "x"


def test_markdown_text_escapes_what_markdown_would_read():
    assert markdown_text("train/<class>/*.bmp") == "train/\\<class\\>/\\*.bmp"
    assert markdown_text("a|b_c [x] `y` #1 \\") == "a\\|b\\_c \\[x\\] \\`y\\` \\#1 \\\\"
    assert markdown_text("two\nlines") == "two lines" and markdown_text(12) == "12"


def test_one_line_joins_a_paragraph_written_over_template_lines():
    assert one_line("  Best epoch 2\n   of 3: fine.\n") == "Best epoch 2 of 3: fine."


def test_data_uri_round_trip():
    payload = b"\x89PNG\r\n\x1a\nrest"
    uri = data_uri(payload)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == payload


def test_markdown_macros_by_hand():
    m = ENVIRONMENT.get_template("macros.md.j2").module
    assert str(m.table(TABLE)) == ("| name | value |\n| --- | --- |\n| 博 | 0.1235 |\n| n | 12 |\n"
                                   "| none | n/a |\n| a\\|b \\<c\\> | True |")
    assert str(m.heading(1, "Report: a|b")) == "# Report: a\\|b"
    assert str(m.figure("figures/plot.png", "a [plot]")) == "![a \\[plot\\]](figures/plot.png)"


def test_html_macros_escape_and_right_align_numbers():
    m = ENVIRONMENT.get_template("macros.html.j2").module
    table = str(m.table(TABLE))
    assert '<tr><td>博</td><td class="num">0.1235</td></tr>' in table
    assert '<tr><td>none</td><td class="num">n/a</td></tr>' in table
    assert "<tr><td>a|b &lt;c&gt;</td><td>True</td></tr>" in table  # a bool is not a number
    assert str(m.paragraph("Paths like train/<class>/*.bmp\n  stay literal.")) == (
        "<p>Paths like train/&lt;class&gt;/*.bmp stay literal.</p>")
    assert str(m.figure("data:image/png;base64,AAAA", 'a "plot"')) == (
        '<figure><img src="data:image/png;base64,AAAA" alt="a &#34;plot&#34;"></figure>')


def test_only_html_templates_are_autoescaped():
    assert [ENVIRONMENT.autoescape(name) for name in ("report.html.j2", "macros.html.j2", "report.md.j2",
                                                      "report_sections.j2")] == [True, True, False, False]


def test_a_missing_value_raises_instead_of_rendering_nothing(data):
    with pytest.raises(jinja2.UndefinedError, match="'table' is undefined"):
        render_template("comparison.md.j2", title="Sweep x")
    with pytest.raises(jinja2.UndefinedError, match="curves"):
        report_markdown(data, {})  # no figure sources
    with pytest.raises(jinja2.TemplateNotFound):
        render_template("nope.md.j2")


# -------------------------------------------------------------------------------------------- report.md
def test_markdown_has_a_summary_contents_and_every_section_in_order(data):
    md = report_markdown(data, LINKS)
    assert [line[3:] for line in md.splitlines() if line.startswith("## ")] == list(SECTIONS)
    assert md.startswith("# Training report: sample-run\n\n- **Data:** 15 images of 8x8 in 3 classes\n"
                         "- **Duration:** 8.0 s") and md.endswith(" |\n")
    assert "\n- **Validation accuracy:** 90.00% (1 of 10 images wrong)\n" in md
    assert "\n- **Promotion:** no decision was made\n\nContents: [Best epoch](#best-epoch) · " in md
    assert "· [Per-class accuracy](#per-class-accuracy) · [Misclassified validation images]" in md
    assert "\n\n\n" not in md
    assert ("Best epoch 2 of 3 (lowest validation loss): validation accuracy 90.00% on 10 images (loss "
            "0.6000); training accuracy 80.00% (loss 0.5000).\n") in md
    assert "Losses are" not in md and "Predicting each image" not in md
    assert "## Promotion\n\nNo promotion decision was made for this run.\n" in md


def test_markdown_tables_and_figures(data):
    md = report_markdown(data, LINKS)
    for name in ("curves", "confusion", "per_class", "misclassified"):
        assert f"(figures/{name}.png)" in md
    assert "| 0 | 1 | 博 | 6 | 5 | 83.33% |" in md and "| 2 | 3 | 笃 | 0 | 0 | n/a |" in md
    assert "| true \\\\ predicted | 博 | 学 | 笃 |\n| --- | --- | --- | --- |\n| 博 | 5 | 1 | 0 |" in md
    assert ("| network | best epoch | validation accuracy | validation loss | training accuracy | training "
            "loss |") in md
    assert "| 1 | 2 of 3 | 90.00% | 0.6000 | 80.00% | 0.5000 |" in md  # formatted, not raw fractions
    assert "| data | data\\_dir | data/demo |" in md and "|  | weight\\_decay | 0.01 (adamw's own) |" in md
    assert "momentum" not in md and "step\\_size" not in md  # AdamW on a cosine schedule
    assert "| train | 6 | 75.00% |" in md and "| total | 8 | 100% |" in md
    assert "The report's time is counted up to the writing of these files" in md
    assert "| numpy | 2.4.6 |" in md
    assert "1 misclassified; the first 1 are shown." in md


def test_markdown_data_quality_section(data):
    md = report_markdown(data, LINKS)
    section = md[md.index("## Data quality"):md.index("## Configuration")]
    assert "| Images | 15 |" in section and "| Image size | 8x8 |" in section
    assert "| Files decoded now | 3 |" in section and "| Files reused from the last ingest | 13 |" in section
    assert "| Unlabelled images in test | 2 |" in section and "| Label conflicts | 0 |" in section
    assert ("### Images per class\n\nUsable images of each class folder (train/ folder).\n\n"
            "| folder | name | train/ folder |\n| --- | --- | --- |\n| 1 | 博 | 6 |") in section
    assert ("### Skipped files\n\n| files | detail |\n| --- | --- |\n"
            "| train/3/bad.bmp | cannot identify image file |") in section
    assert "| train/2/big.bmp | 10x8, expected 8x8 |" in section
    assert "| train/1/4.bmp, train/1/9.bmp | 2 identical files, labels 1 (博) |" in section
    assert "### Label conflicts\n\nNone.\n" in section
    assert "not shown" not in section and "<details>" not in section  # short lists stay open
    assert "No data-quality report was given." in report_markdown(sample_report(quality=None), LINKS)
    split = report_markdown(sample_report(split_counts={"training split": [5, 3, 2], "validation split":
                                                        [1, 1, 1]}), LINKS)
    assert ("| folder | name | train/ folder | training split | validation split |\n| --- | --- | --- | --- "
            "| --- |\n| 1 | 博 | 6 | 5 | 1 |") in split


def test_long_lists_are_folded_into_details_in_both_targets():
    """hanzi12 has 50 duplicate groups: folded, so the report is not 1,500 px of file names; the
    configuration (17 settings here) likewise; short tables stay open."""
    groups = tuple(DuplicateGroup(f"h{i}", (f"a{i}.bmp", f"b{i}.bmp"), ("1", "1")) for i in range(20))
    quality = DataQuality(dataclasses.replace(QUALITY, duplicates=groups), 3, 13)
    data = sample_report(quality=quality)
    md = report_markdown(data, LINKS)
    assert ("### Duplicate groups\n\n<details><summary>20 duplicate groups</summary>\n\n| files | detail |\n"
            "| --- | --- |\n| a0.bmp, b0.bmp |") in md
    assert ("| a19.bmp, b19.bmp | 2 identical files, labels 1 (博) |\n\n</details>\n\n"
            "### Label conflicts") in md
    assert "## Configuration\n\n" in md and "<details><summary>17 settings</summary>" in md
    page = html_blocks(report_html(data, PNGS))
    details = [text for kind, text, *_ in page.blocks if kind == "details"]
    assert details == ["20 duplicate groups", "17 settings"]
    tags = [tag for tag, _ in page.tags]
    assert tags.count("details") == 2 and tags.count("summary") == 2
    assert "<details>" not in report_markdown(sample_report(config={"lr": 0.1}), LINKS)
    many = tuple(DuplicateGroup(f"h{i}", (f"a{i}.bmp", f"b{i}.bmp"), ("1", "1"))
                 for i in range(MAX_ROWS + 28))
    quality = DataQuality(dataclasses.replace(QUALITY, duplicates=many), 3, 13)
    md = report_markdown(sample_report(quality=quality), LINKS)
    assert f"<details><summary>{MAX_ROWS + 28} duplicate groups, the first {MAX_ROWS} listed</summary>" in md
    assert "</details>\n\n… and 28 more, not shown (the data-quality artifact lists them all).\n" in md


def test_an_ensemble_reports_each_network_and_their_joint_accuracy():
    history = [{"member": m, **row} for m in ("1-raw", "2-framed") for row in HISTORY]
    data = sample_report(history=history, best_epochs={"1-raw": 2, "2-framed": 3})
    md = report_markdown(data, LINKS)
    assert ("An ensemble of 2 networks, each trained on its own view of the images and kept at its best "
            "epoch (lowest validation loss); their mean probabilities classify 90.00% of the 10 validation "
            "images correctly. Each network alone, at its best epoch, each image as drawn:\n") in md
    assert "| 1-raw | 2 of 3 | 90.00% | 0.6000 | 80.00% | 0.5000 |" in md
    assert "| 2-framed | 3 of 3 | 80.00% | 0.7000 | 90.00% | 0.3000 |" in md
    shifted = sample_report(history=history, best_epochs={"1-raw": 2, "2-framed": 3}, test_time="shifts",
                            loss_name="cross-entropy with label smoothing 0.1")
    md = report_markdown(shifted, LINKS)
    assert ("their mean probabilities over each image and its four one-pixel shifts classify 90.00% of the "
            "10 validation images correctly. Losses are cross-entropy with label smoothing 0.1. Each network "
            "alone, at its best epoch, each image as drawn:\n") in md


def test_one_network_with_test_time_shifts_reports_both_accuracies():
    # The history says 90% at the best epoch (each image as drawn); the shifted predictions got all 10 right.
    data = sample_report(test_time="shifts", confusion=np.diag([6, 4, 0]), misclassified=digits_images(1)[:0],
                         misclassified_true=np.array([], int), misclassified_pred=np.array([], int),
                         loss_name="cross-entropy")
    md = report_markdown(data, LINKS)
    assert ("Best epoch 2 of 3 (lowest validation loss): validation accuracy 90.00% on 10 images (loss "
            "0.6000); training accuracy 80.00% (loss 0.5000). Predicting each image as drawn and shifted by "
            "one pixel up, down, left and right, and averaging, the model classifies 100.00% correctly. "
            "Losses are cross-entropy.\n") in md
    assert "None: every validation image was classified correctly." in md and "misclassified.png" not in md


def test_text_from_the_data_is_escaped_for_each_target():
    examples = TrainingExamples(digits_images(2), np.array([0, 1]), np.stack([digits_images(2)] * 3, axis=1),
                                "Shifted <script>alert(1)</script> by *one* pixel.")
    data = sample_report(run_name="run_<b>|x", examples=examples)
    md = report_markdown(data, {name: data_uri(png) for name, png in PNGS.items()})
    assert md.startswith("# Training report: run\\_\\<b\\>\\|x\n")
    assert "Shifted \\<script\\>alert(1)\\</script\\> by \\*one\\* pixel.\n" in md
    page = report_html(data, PNGS)
    assert "<script>" not in page and "<b>" not in page
    assert "<title>Training report: run_&lt;b&gt;|x</title>" in page
    assert "<p>Shifted &lt;script&gt;alert(1)&lt;/script&gt; by *one* pixel.</p>" in page


# ------------------------------------------------------------------------------------------ report.html
def test_html_parses_with_every_section_in_order(written):
    page = written[1].html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
    blocks = html_blocks(page).blocks
    assert [text for kind, text, *_ in blocks if kind == "h2"] == list(SECTIONS)
    assert blocks[0] == ("h1", "Training report: sample-run")
    assert blocks[1][0] == "facts" and [what for what, _ in blocks[1][1]] == [
        "Data", "Duration", "Validation accuracy", "Promotion"]


def test_the_html_table_of_contents_links_every_sections_anchor(written):
    page = html_blocks(written[1].html.read_text(encoding="utf-8"))
    [nav] = [block for block in page.blocks if block[0] == "nav"]
    ids = [attrs["id"] for tag, attrs in page.tags if tag == "h2"]
    assert [text for text, _ in nav[1]] == list(SECTIONS)
    assert [href for _, href in nav[1]] == [f"#{anchor}" for anchor in ids]
    assert ids[:2] == ["best-epoch", "promotion"] and "per-class-accuracy" in ids
    assert len(set(ids)) == len(SECTIONS)


def test_the_promotion_section_in_both_targets():
    data = sample_report(promotion=sample_promotion(), written=WRITTEN)
    md = report_markdown(data, LINKS)
    sentence = ("Champion old-run kept, challenger sample-run not promoted: compared on 10 images, fewer "
                "than the 200 required.")
    assert f"- **Promotion:** {sentence}\n" in md
    assert "- **Date:** 2026-12-03 10:47 CET (report written)" in md
    section = md[md.index("## Promotion"):md.index("## Learning curves")]
    assert section == (
        f"## Promotion\n\n{sentence}\n\n"
        "| model | run | validation accuracy | validation loss |\n| --- | --- | --- | --- |\n"
        "| challenger (this run) | sample-run | 90.00% | 0.3123 |\n"
        "| champion before | old-run | 80.00% | 0.5000 |"
        "\n\nScored on 10 of this run's validation images, each model through its own saved normaliser; 2 "
        "left out because the champion was trained on them.\n\n")
    embedded = report_markdown(data, {name: data_uri(png) for name, png in PNGS.items()})
    assert markdown_blocks(embedded) == html_blocks(report_html(data, PNGS)).blocks


def test_markdown_and_html_say_the_same_things():
    history = [{"member": m, **row} for m in ("1-raw", "2-framed") for row in HISTORY]
    examples = TrainingExamples(digits_images(2), np.array([0, 1]), np.stack([digits_images(2)] * 3, axis=1),
                                "Shifted <by> one *pixel*.")
    for data in (sample_report(), sample_report(history=history, best_epochs={"1-raw": 2, "2-framed": 3},
                                                examples=examples, test_time="shifts", loss_name="mse")):
        md = markdown_blocks(report_markdown(data, {name: data_uri(png) for name, png in PNGS.items()}))
        assert md == html_blocks(report_html(data, PNGS)).blocks
        assert ("h3", "Duplicate groups") in md and ("p", "None.") in md


def test_html_is_self_contained(written):
    page = html_blocks(written[1].html.read_text(encoding="utf-8"))
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    assert len(images) == 4
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(attrs["src"].split(",", 1)[1]))) as image:
            assert image.format == "PNG" and image.size[0] >= 100
    links = [v for _, attrs in page.tags for k, v in attrs.items() if k in ("href", "src") and v]
    assert all(v.startswith(("data:", "#")) for v in links)  # embedded figures, the contents' anchors
    assert not [tag for tag, _ in page.tags if tag in ("link", "script", "iframe")]
    assert [tag for tag, _ in page.tags].count("style") == 1


def test_html_tables_carry_display_names(written):
    tables = [block for block in html_blocks(written[1].html.read_text(encoding="utf-8")).blocks
              if block[0] == "table"]
    cells = [c for _, headers, rows in tables for c in [*headers, *(c for row in rows for c in row)]]
    for name in NAMES:
        assert cells.count(name) >= 4  # per-class table, confusion rows and columns, quality classes
    assert "83.33%" in cells


# ----------------------------------------------------------------------------------------------- files
def test_figures_are_named_for_what_the_data_has(data):
    assert sorted(render_figures(data)) == ["confusion", "curves", "misclassified", "per_class"]


def test_write_report_writes_every_file(written):
    run_dir, files = written
    assert files.markdown == run_dir / "report.md" and files.html == run_dir / "report.html"
    assert sorted(p.name for p in (run_dir / "figures").iterdir()) == [
        "confusion.png", "curves.png", "misclassified.png", "per_class.png"]
    for path in files.figures.values():
        with Image.open(path) as image:
            assert image.format == "PNG"
    # no temporary files left behind
    assert sorted(p.name for p in run_dir.iterdir()) == ["figures", "report.html", "report.md"]
    md = files.markdown.read_text(encoding="utf-8")
    assert "![Confusion matrix](figures/confusion.png)" in md


def test_rewriting_replaces_the_report(written):
    run_dir, files = written
    write_report(sample_report(run_name="second-run"), run_dir)
    assert files.markdown.read_text(encoding="utf-8").startswith("# Training report: second-run")
    assert "<title>Training report: second-run</title>" in files.html.read_text(encoding="utf-8")
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
        quality=None,
    )
    files = write_report(data, tmp_path)
    md = files.markdown.read_text(encoding="utf-8")
    assert names[0] == "博" and "| 0 | 1 | 博 | 11 | 10 | 90.91% |" in md
    assert all(name in files.html.read_text(encoding="utf-8") for name in names)
    with Image.open(files.figures["misclassified"]) as grid:
        assert grid.size == (8 * 125, 2 * 150 + 60)
