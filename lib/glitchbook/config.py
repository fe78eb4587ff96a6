"""Profiles and the rule that turns a method's presets plus user overrides into one config."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, TypeVar

import numpy as np

from glitchbook.errors import ConfigError

PROFILES = ("smoke", "default", "paper")
C = TypeVar("C")


def check_profile(profile: str) -> str:
    """Return `profile` if known, else raise ConfigError listing the profiles."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    return profile


def override(config: C, **changes: Any) -> C:
    """A copy of dataclass `config` with `changes`; unknown keys and wrong types are errors.
    A change of None keeps the preset."""
    fields = {f.name: f for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown}; valid: {', '.join(sorted(fields))}")
    clean = {}
    for key, value in changes.items():
        if value is None:
            continue
        current = getattr(config, key)
        if isinstance(current, bool) != isinstance(value, bool) or (
            current is not None and not isinstance(value, type(current))
            and not (isinstance(current, float) and isinstance(value, int))
            and not (isinstance(current, tuple) and isinstance(value, list))
        ):
            raise ConfigError(f"option {key!r} expects {type(current).__name__}, "
                              f"got {value!r}")
        clean[key] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(config, **clean)  # type: ignore[type-var]


def config_hash(payload: Any) -> str:
    """Short stable hash of a JSON-able payload (dataclasses are converted)."""
    if dataclasses.is_dataclass(payload):
        payload = dataclasses.asdict(payload)  # type: ignore[arg-type]
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def independent_rngs(seed: int, count: int) -> list[np.random.Generator]:
    """`count` independent random streams from one seed (numpy's `SeedSequence.spawn`): draws
    made from one seed for different purposes (a corruption, a split) must not be correlated."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]
