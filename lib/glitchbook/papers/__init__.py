"""The papers as data: one YAML a method, with the authors' reported numbers and their source,
the claims and the rivals they are judged against, our departures from the authors' protocol,
and (CLSVAE) the authors' per-dataset settings."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def _text(method: str) -> str:
    return resources.files(__name__).joinpath(f"{method}.yaml").read_text()


def load(method: str) -> dict[str, Any]:
    """The paper of `method` (`papers/<method>.yaml`), as a fresh dict."""
    return yaml.safe_load(_text(method))
