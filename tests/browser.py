"""The built book as a reader sees it: every page of `_toc.yml` opened in headless Chromium
(Debian's `chromium`), its images, links and tables checked from the rendered DOM."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml

PROBE = """<!doctype html><html><body><pre id="out">not finished</pre><script>
const pages = %s, results = [], frame = document.createElement("iframe");
frame.style.width = "1280px";  // a reader's window, so that widths mean what they would
frame.style.height = "900px";
document.body.appendChild(frame);
function visit(i) {
  if (i >= pages.length) {
    document.getElementById("out").textContent = JSON.stringify(results);
    return;
  }
  frame.onload = () => {
    const doc = frame.contentDocument, main = doc && doc.querySelector("main, article");
    results.push({
      page: pages[i], rendered: !!main, title: doc ? doc.title : "",
      images: doc ? [...doc.images].map(img => [img.src, img.complete && img.naturalWidth > 0])
                  : [],
      links: doc ? [...doc.querySelectorAll("a[href]")].map(a => a.href) : [],
      table_rows: doc ? [...doc.querySelectorAll("main table")].map(
        t => t.querySelectorAll("tbody tr").length) : [],
      boxes: main ? [...main.querySelectorAll(".admonition")].map(
        a => [a.className, (a.querySelector(".admonition-title") || {}).textContent || ""]) : [],
      downloads: main ? [...main.querySelectorAll('a[href*="_downloads/"]')].map(a => a.href)
        : [],
      figures: main ? main.querySelectorAll("figure img").length : 0,
      clipped: main ? [...main.querySelectorAll("table")].filter(t => {
        let box = t.parentElement;  // cut off: wider than the text column, and nothing scrolls
        while (box && box !== main && getComputedStyle(box).overflowX === "visible") {
          box = box.parentElement;
        }
        return t.getBoundingClientRect().width > main.getBoundingClientRect().width + 1
          && (!box || box === main);
      }).length : 0,
    });
    visit(i + 1);
  };
  frame.src = pages[i];
}
visit(0);
</script></body></html>
"""


@dataclass
class Page:
    """What the browser found on one page."""

    path: str
    rendered: bool = False
    title: str = ""
    broken_images: list[str] = field(default_factory=list)
    broken_links: list[str] = field(default_factory=list)
    table_rows: list[int] = field(default_factory=list)
    boxes: list[tuple[str, str]] = field(default_factory=list)  # (classes, title) of admonitions
    downloads: list[str] = field(default_factory=list)
    figures: int = 0
    clipped: int = 0  # tables wider than the page that do not scroll


INSTALL = "the browser tests need Debian's chromium: apt-get install chromium"


def find_chromium() -> str | None:
    """The system's Chromium (Debian's `chromium` package), or None; never a downloaded build."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium() -> str:
    """The system's Chromium, or a clear error saying how to install it."""
    exe = find_chromium()
    if exe is None:
        raise RuntimeError(INSTALL)
    return exe


def _run(*args: str, timeout: float = 300) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND",  # the book offline: web fonts, CDNs fail
             f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=timeout, check=False)
    return done.stdout


def toc_pages(root: Path) -> list[str]:
    """Every document of `_toc.yml` (globs expanded), as paths without suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                found.append(entry["file"])
            if "glob" in entry:
                found.extend(sorted(str(p.relative_to(root).with_suffix(""))
                                    for p in root.glob(entry["glob"])
                                    if p.suffix in (".md", ".ipynb")))
            for key in ("chapters", "sections"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []))
    return found


def visit(site: Path, pages: list[str]) -> list[Page]:
    """Open each page in Chromium and report what a reader would see broken."""
    probe = site / "_browser_probe.html"
    probe.write_text(PROBE % json.dumps([f"{p}.html" for p in pages]))
    try:
        dom = _run("--allow-file-access-from-files", "--virtual-time-budget=120000",
                   "--dump-dom", probe.as_uri())
    finally:
        probe.unlink()
    found = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    if found is None or found.group(1) == "not finished":
        raise RuntimeError(f"Chromium did not finish visiting the pages: {dom[:500]!r}")
    report = []
    for item in json.loads(html.unescape(found.group(1))):
        page = Page(item["page"], item["rendered"], item["title"], table_rows=item["table_rows"],
                    boxes=[tuple(b) for b in item["boxes"]], downloads=item["downloads"],
                    figures=item["figures"], clipped=item["clipped"])
        page.broken_images = [src for src, ok in item["images"] if not ok]
        page.broken_links = [href for href in item["links"] if _broken(href)]
        report.append(page)
    return report


def _broken(href: str) -> bool:
    """A link to a file of the site that is not there (web links are not followed here)."""
    url = urlparse(href)
    return url.scheme == "file" and not Path(unquote(url.path)).exists()


def screenshot(page: Path, out: Path, height: int = 2400) -> Path:
    """A PNG of `page` as rendered, 1280 pixels wide."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(f"--window-size=1280,{height}", "--hide-scrollbars", "--virtual-time-budget=20000",
         f"--screenshot={out}", page.as_uri(), timeout=120)
    if not out.exists():
        raise RuntimeError(f"Chromium wrote no screenshot of {page}")
    return out
