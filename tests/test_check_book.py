"""The browser check of the book (tools/check_book.py) in headless Chromium, on pages made to fail it: each
problem it must find is found, and a clean page passes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_book", REPO / "tools" / "check_book.py")
check_book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_book)

PAGE = """<html><head><style>article {{ width: 600px; }} table.results-table {{ display: block; max-width: 100%;
overflow-x: auto; }}</style></head><body><main><article class="bd-article">{body}</article></main></body></html>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict[str, list[str]]:
    site = tmp_path_factory.mktemp("site")
    pages = {
        "clean.html": '<h1 id="top">A page</h1><p>Mean <code class="literal">NaN</code> is code, not a result.</p>'
                      '<table class="results-table"><tr>' + "<td>a wide results table by design</td>" * 40
                      + '</tr></table><a href="clean.html#top">up</a><a href="https://example.org">out</a>',
        "wide.html": "<table><tr>" + "<td>column</td>" * 200 + "</tr></table>",
        "nan.html": "<div class='cell_output'><pre>accuracy  NaN</pre></div>",
        "repr.html": "<p>&lt;helpers.results.RunArtifacts object at 0x7f3a2b1c&gt;</p>",
        "traceback.html": "<pre>Traceback (most recent call last):\n  File x\nValueError: no</pre>",
        "path.html": f"<p>work directory: {site}/work/smoke</p>",
        "links.html": '<a href="gone.html">gone</a><a href="clean.html#nowhere">anchor</a>',
    }
    for name, body in pages.items():
        (site / name).write_text(PAGE.format(body=body))
    return check_book.check_pages(site, [str(site)])


def test_a_clean_page_passes(report):
    assert "clean.html" not in report, report.get("clean.html")


@pytest.mark.parametrize(("page", "problem"), [
    ("wide.html", "wider than the content column"), ("nan.html", "shows NaN"), ("repr.html", "raw object repr"),
    ("traceback.html", "a traceback"), ("path.html", "local absolute path"),
    ("links.html", "gone.html (no such file)"), ("links.html", "no #nowhere in that page")])
def test_each_problem_is_found(report, page, problem):
    assert any(problem in line for line in report.get(page, [])), report.get(page)
