"""Shared fixtures: the repository root and small real datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from glitchbook import datasets

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
