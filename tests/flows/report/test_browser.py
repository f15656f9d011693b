"""report.html as a person sees it: opened in a real headless Chromium, every image decoded and shown, every
section there in order, every in-page link leading somewhere, nothing fetched from outside, no horizontal
scrolling in a desktop window (1280 px) nor a narrow one (800 px), and a screenshot that is not blank.

Playwright drives the system's Chromium (Debian's `chromium` package, found on the PATH or named by
MLPFLOW_CHROMIUM) through `executable_path`: it never downloads a browser. `.ci/run` installs the package
where it is missing; elsewhere these tests skip, with the reason, without playwright or chromium.

The reports: the sample (`tests/flows/report_samples.py`) as an ensemble with augmented training images, a
30-class one (the widest confusion table the report shows) with long paths in its configuration, and a real
run of the pipeline on the digits demo (two epochs).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from PIL import Image

from flows.report.content import SECTIONS, TrainingExamples
from flows.report.render import write_report
from tests.flows.report_samples import HISTORY, digits_images, sample_report

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (it comes with pip install -e '.[dev]')")

WIDTHS = (1280, 800)  # a desktop window and a narrow one, in CSS pixels
HEIGHT = 900
BROWSERS = ("chromium", "chromium-browser")  # Debian's and Ubuntu's names for the same program

# Every <details> opened (as a reader would), then: each <img> decoded (decode() rejects a broken image)
# with its natural and shown size; the <h1>, the <h2>s as rendered text (hidden ones are empty); the in-page
# links (the contents) whose target is missing; and, when the page is wider than the window, the outermost
# elements that reach past its right edge, for the failure message.
READ_PAGE = """async () => {
    document.querySelectorAll("details").forEach((d) => { d.open = true; });
    const images = await Promise.all([...document.images].map(async (img) => ({
        alt: img.alt, decoded: await img.decode().then(() => true, () => false), complete: img.complete,
        natural: img.naturalWidth, shown: img.getBoundingClientRect().width })));
    const text = (selector) => [...document.querySelectorAll(selector)].map((e) => e.innerText.trim());
    const deadLinks = [...document.querySelectorAll('a[href^="#"]')]
        .filter((a) => !document.getElementById(decodeURIComponent(a.hash.slice(1)))).map((a) => a.href);
    const width = window.innerWidth, scrollWidth = document.scrollingElement.scrollWidth;
    const reach = (e) => Math.max(e.getBoundingClientRect().right,  // its box, or what spills out of it
        getComputedStyle(e).overflowX === "visible" ? e.getBoundingClientRect().left + e.scrollWidth : 0);
    const over = (e) => reach(e) > width + 0.5;
    const scrolled = (e) => {  // inside a box that scrolls or clips: it does not widen the page
        for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
            if (getComputedStyle(a).overflowX !== "visible") return true;
        }
        return false;
    };
    const beyond = scrollWidth <= width ? [] : [...document.body.querySelectorAll("*")]
        .filter((e) => over(e) && !scrolled(e) && (e.parentElement === document.body
                                                    || !over(e.parentElement)))
        .map((e) => ({tag: e.tagName.toLowerCase(), right: Math.round(reach(e)),
                      width: Math.round(e.getBoundingClientRect().width),
                      text: (e.innerText || e.alt || "").replace(/\\s+/g, " ").trim().slice(0, 50)}));
    return {images, h1: text("h1"), h2: text("h2"), deadLinks, width, scrollWidth, beyond};
}"""


class Report(NamedTuple):
    """A written report.html and the run name its title should carry."""

    html: Path
    run_name: str


def _chromium() -> str:
    """Path of the system's Chromium: MLPFLOW_CHROMIUM, else the first of BROWSERS on the PATH."""
    named = os.environ.get("MLPFLOW_CHROMIUM")
    if named:
        return named
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no Chromium: none of {', '.join(BROWSERS)} is on the PATH (Debian: apt-get install "
                "chromium; .ci/run installs it) and MLPFLOW_CHROMIUM is unset")


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the module (no sandbox as root: Chromium refuses to start otherwise)."""
    args = ["--disable-dev-shm-usage"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), headless=True, args=args)
        yield chromium
        chromium.close()


@contextmanager
def opened(browser, html: Path, width: int) -> Iterator[tuple[object, dict, list[str]]]:
    """The page `html` at `width` x HEIGHT, what READ_PAGE reads of it, and every request or console error
    that was not the page itself or an embedded data URI."""
    page = browser.new_page(viewport={"width": width, "height": HEIGHT})
    outside: list[str] = []
    page.on("request", lambda r: r.url.startswith(("data:", html.as_uri())) or outside.append(r.url))
    page.on("console", lambda m: m.type == "error" and outside.append(f"console error: {m.text}"))
    page.on("pageerror", lambda error: outside.append(f"page error: {error}"))
    try:
        page.goto(html.as_uri(), wait_until="load")
        yield page, page.evaluate(READ_PAGE), outside
    finally:
        page.close()


# ------------------------------------------------------------------------------------------ the reports
@pytest.fixture(scope="module")
def sample_report_html(tmp_path_factory) -> Report:
    """The sample as a two-network ensemble with augmented training images: all five figures."""
    history = [{"member": m, **row} for m in ("1-raw", "2-framed") for row in HISTORY]
    examples = TrainingExamples(digits_images(4), np.array([0, 1, 2, 0]),
                                np.stack([digits_images(4)] * 6, axis=1), "Each shifted by one pixel.")
    data = sample_report(history=history, best_epochs={"1-raw": 2, "2-framed": 3}, examples=examples,
                         test_time="shifts", loss_name="cross-entropy with label smoothing 0.1")
    return Report(write_report(data, tmp_path_factory.mktemp("sample")).html, data.run_name)


@pytest.fixture(scope="module")
def wide_report_html(tmp_path_factory) -> Report:
    """30 classes named "class-0" ... "class-29" (the most the confusion table is shown for), a long path."""
    n = 30
    confusion = np.random.default_rng(0).integers(0, 50, (n, n))
    np.fill_diagonal(confusion, 300)
    deep = "/home/someone/" + "/".join(f"folder-{k}" for k in range(12)) + "/hanzi12"
    data = sample_report(class_names=[str(k) for k in range(n)], confusion=confusion,
                         display_names=[f"class-{k}" for k in range(n)],
                         config={"data": {"dir": deep}, "hidden": [1024, 512]})
    return Report(write_report(data, tmp_path_factory.mktemp("wide")).html, data.run_name)


@pytest.fixture(scope="module")
def pipeline_report_html(prefect_harness, tmp_path_factory) -> Report:
    """report.html of a real run of the main job on the digits demo: two epochs, small networks."""
    from flows.jobs.full_pipeline import full_pipeline
    from flows.pipeline.demo_data import write_digits_demo
    from flows.pipeline.params import PipelineParams

    root = tmp_path_factory.mktemp("pipeline")
    params = PipelineParams(data_dir=write_digits_demo(root / "digits"), output_dir=root / "out",
                            epochs=2, hidden=(32,))
    result = full_pipeline(params)
    return Report(result.report, result.layout.name)


REPORTS = ("sample_report_html", "wide_report_html", "pipeline_report_html")


# ------------------------------------------------------------------------------------------ the tests
@pytest.mark.parametrize("report", REPORTS)
def test_every_image_shows_and_every_section_is_there_in_order(browser, report, request):
    html, run_name = request.getfixturevalue(report)
    with opened(browser, html, WIDTHS[0]) as (_, seen, outside):
        images = seen["images"]
        figures = sorted((html.parent / "figures").glob("*.png"))  # write_report's figures, each embedded
        assert len(images) == len(figures) >= 4  # curves, confusion, per class, misclassified (augmentation)
        broken = [i for i in images if not (i["decoded"] and i["complete"] and i["natural"] > 0)]
        assert broken == []
        assert [i["alt"] for i in images if i["shown"] < 100] == []  # none collapsed to a sliver
        assert seen["h1"] == [f"Training report: {run_name}"]
        assert seen["h2"] == list(SECTIONS)
        assert seen["deadLinks"] == []
        assert outside == []  # self-contained: nothing fetched, nothing failed


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("report", REPORTS)
def test_no_horizontal_scrolling(browser, report, width, request):
    html, _ = request.getfixturevalue(report)
    with opened(browser, html, width) as (_, seen, _):
        assert seen["scrollWidth"] <= seen["width"], (
            f"{html.name} is {seen['scrollWidth']} px wide in a {width} px window; past its right edge: "
            + "; ".join(f"<{e['tag']}> {e['width']} px wide, to x={e['right']} ({e['text']!r})"
                        for e in seen["beyond"][:8]))


def test_a_screenshot_shows_the_page(browser, pipeline_report_html, tmp_path):
    shot = tmp_path / "report.png"
    with opened(browser, pipeline_report_html.html, WIDTHS[0]) as (page, _, _):
        page.screenshot(path=shot, full_page=True)
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.width == WIDTHS[0] and image.height > HEIGHT
        gray = np.asarray(image.convert("L"))
    assert shot.stat().st_size > 50_000  # text, tables and five figures, not an empty page
    assert 0.02 < (gray < 128).mean() < 0.5  # dark ink (text, lines, figures) on a light page
    assert len(np.unique(gray)) > 64  # anti-aliased text and figures, not a few flat colours
