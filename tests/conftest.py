"""Shared fixtures: the repository root, small real datasets, and the smoke matrix
executed and built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from glitchbook import datasets
from glitchbook.run import matrix, plan

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def digits() -> datasets.ImageDataset:
    return datasets.load("digits")


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch, tmp_path):
    """Tests never touch the network: downloads are off and the data cache is empty."""
    monkeypatch.setenv("GLITCHBOOK_OFFLINE", "1")
    monkeypatch.setenv("GLITCHBOOK_DATA", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def book_root(tmp_path_factory, root) -> Path:
    """A copy of the book's sources (no runs) to execute and build in."""
    dest = tmp_path_factory.mktemp("book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(root / name, dest / name)
    shutil.copytree(root / "notebooks", dest / "notebooks")
    shutil.copytree(root / "book", dest / "book", ignore=shutil.ignore_patterns("runs"))
    shutil.copytree(root / "benchmarks/results", dest / "benchmarks/results")  # included tables
    return dest


@pytest.fixture(scope="session")
def smoke_matrix(book_root):
    """clsvae, arae and influence on digits, ambiguity, drift and the bench on mnist-5k;
    smoke, on a local Dask cluster of 2 workers; their outcomes by label."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GLITCHBOOK_OFFLINE", "1")
    mp.setenv("GLITCHBOOK_DATA", str(book_root / "data"))
    cells = plan.specs(["clsvae", "arae", "influence"], ["digits"], "smoke", device="cpu")
    cells += plan.specs(["ambiguity", "drift", "bench"], ["mnist-5k"], "smoke", device="cpu")
    outcomes = matrix.run_matrix(cells, book_root, jobs=2, progress=False)
    yield {o.spec.label: o for o in outcomes}
    mp.undo()


@pytest.fixture(scope="session")
def built_book(smoke_matrix, book_root) -> Path:
    """The smoke matrix, its drift run also published (`--publish`), built into HTML
    (`glitchbook book`); returns the root."""
    from glitchbook.cli import main

    assert main(["run", "--methods", "drift", "--profile", "smoke", "--device", "cpu",
                 "--root", str(book_root), "--quiet", "--publish"]) == 0
    assert main(["book", "--root", str(book_root)]) == 0
    return book_root
