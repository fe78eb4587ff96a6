"""The smoke-profile book in a real browser: every page of the table of contents renders,
with no broken image or link, no empty table, and a build log without warnings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser import INSTALL, find_chromium, screenshot, toc_pages, visit

from glitchbook import methods

# Skipped where Chromium is missing, unless GLITCHBOOK_REQUIRE_BROWSER=1 (as `.ci/run` sets):
# then they run and fail with the same instruction.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None
                       and os.environ.get("GLITCHBOOK_REQUIRE_BROWSER") != "1",
                       reason=f"{INSTALL} (GLITCHBOOK_REQUIRE_BROWSER=1 makes this a failure)"),
]
SHOTS = Path(__file__).resolve().parents[1] / "test-output/browser"


def test_every_page_of_the_book_renders_whole_in_chromium(built_book):
    log = (built_book / "_build/build.log").read_text()
    assert "WARNING" not in log and "build succeeded" in log
    site = built_book / "_build/html"
    pages = toc_pages(built_book)
    assert {"book/intro", "book/status", "book/clsvae/results",
            "book/runs/drift/mnist-5k"} <= set(pages)
    assert not [p for p in pages if not (site / f"{p}.html").exists()], "missing pages"
    report = visit(site, pages)
    assert [p.path for p in report] == [f"{p}.html" for p in pages]
    problems = {p.path: (p.rendered, p.broken_images, p.broken_links, p.table_rows, p.clipped)
                for p in report if not p.rendered or p.broken_images or p.broken_links
                or 0 in p.table_rows or p.clipped}
    assert not problems  # clipped: a table cut off at the page's edge instead of scrolling
    page = {p.path: p for p in report}
    run_page = page["book/runs/clsvae/digits.html"]
    assert any("dropdown" in classes and title.startswith("Reproduce this run")
               for classes, title in run_page.boxes)  # collapsed, under the title
    assert {Path(link).suffix for link in run_page.downloads} == {".ipynb"}  # run + template
    papers = [name for name, entry in methods.METHODS.items() if entry.paper]
    for part in papers:
        results = page[f"book/{part}/results.html"]
        assert results.figures >= 1, f"the {part} results page has no figure"
        assert any(link.endswith(f"/{part}.csv") for link in results.downloads)
        exercises = page[f"book/{part}/try-it.html"]
        titles = [title for classes, title in exercises.boxes if "exercise" in classes]
        solutions = [classes for classes, _ in exercises.boxes if "solution" in classes]
        assert len(titles) >= 3 and all(t.startswith("Exercise") for t in titles), titles
        assert len(solutions) == len(titles) and all("dropdown" in c for c in solutions)
    for part in methods.METHODS:  # the bench too
        results = page[f"book/{part}/results.html"]
        assert results.table_rows, f"the {part} results page has no table"
    status = next(p for p in report if p.path == "book/status.html")
    assert status.table_rows and status.table_rows[0] >= 6  # the smoke runs, the published one
    run = next(p for p in report if p.path == "book/runs/clsvae/digits.html")
    assert run.title.startswith("CLSVAE on digits") and run.table_rows
    assert screenshot(site / "index.html", SHOTS / "index.png").stat().st_size > 10_000
    results = site / "book/clsvae/results.html"
    assert screenshot(results, SHOTS / "clsvae-results.png").stat().st_size > 10_000


def test_the_browser_check_finds_what_is_broken(tmp_path):
    (tmp_path / "page.html").write_text(
        "<html><head><title>t</title></head><body><main><img src='missing.png'>"
        "<a href='gone.html'>gone</a><a href='page.html'>self</a>"
        "<a href='https://example.org'>web</a><table><thead><tr><th>h</th></tr></thead>"
        "<tbody></tbody></table></main></body></html>")
    (tmp_path / "bare.html").write_text("<html><body>no main</body></html>")
    page, bare, absent = visit(tmp_path, ["page", "bare", "absent"])
    assert page.rendered and page.broken_images and page.broken_images[0].endswith("missing.png")
    assert [link.rsplit("/", 1)[1] for link in page.broken_links] == ["gone.html"]
    assert page.table_rows == [0]
    assert not bare.rendered and not absent.rendered
