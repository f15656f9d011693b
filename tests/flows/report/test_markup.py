"""The document model's two renderings: Markdown and self-contained HTML."""

from __future__ import annotations

import base64

import numpy as np

from flows.report.markup import Heading, Image, Table, Text, cell, data_uri, to_html, to_markdown

BLOCKS = [
    Heading(1, "Report: a|b"),
    Text("Paths like train/<class>/*.bmp stay literal."),
    Table(["name", "value"], [["博", 0.123456], ["n", 12], ["none", float("nan")]]),
    Image("plot", "a plot"),
]


def test_markdown_blocks_and_escaping():
    md = to_markdown(BLOCKS, {"plot": "figures/plot.png"})
    assert md.splitlines()[0] == "# Report: a\\|b"
    assert "train/\\<class\\>/\\*.bmp" in md
    assert "| name | value |\n| --- | --- |\n| 博 | 0.1235 |\n| n | 12 |\n| none | n/a |" in md
    assert "![a plot](figures/plot.png)" in md


def test_html_escapes_text_and_embeds_the_given_src():
    page = to_html(BLOCKS, {"plot": "data:image/png;base64,AAAA"}, title="T <1>")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<title>T &lt;1&gt;</title>" in page
    assert "<p>Paths like train/&lt;class&gt;/*.bmp stay literal.</p>" in page
    assert '<tr><td>博</td><td class="num">0.1235</td></tr>' in page
    assert '<img src="data:image/png;base64,AAAA" alt="a plot">' in page


def test_cells_by_hand():
    assert cell(None) == "n/a" and cell(float("nan")) == "n/a" and cell(np.float32("nan")) == "n/a"
    assert cell(np.int64(7)) == "7" and cell(2 / 3) == "0.6667" and cell(123456.7) == "123457"
    assert cell(True) == "True" and cell("x") == "x"


def test_data_uri_round_trip():
    payload = b"\x89PNG\r\n\x1a\nrest"
    uri = data_uri(payload)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == payload
