"""Profiles, and the base of every method's config: the profile's preset for a dataset, the
user's overrides checked by name and type, then every value checked against the dataset."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from glitchbook import datasets
from glitchbook.checks import check_choice
from glitchbook.errors import ConfigError

PROFILES = ("smoke", "default", "paper")
C = TypeVar("C")
M = TypeVar("M", bound="MethodConfig")


@dataclass(frozen=True)
class MethodConfig:
    """One run of a chapter: the dataset, profile and seed, and the method's options (fields
    of the subclass, whose defaults are the authors' settings). `presets` holds what each
    profile changes, the one place defaults depend on the profile; `check` every range."""

    dataset: str = "mnist-5k"
    profile: str = "default"
    seed: int = 0

    method: ClassVar[str] = ""

    @classmethod
    def presets(cls, dataset: str, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Profile -> the options it sets for `dataset` (`options`: those the user set)."""
        return {profile: {} for profile in PROFILES}

    def check(self, info: datasets.DatasetInfo) -> None:
        """A ConfigError for any value out of range for this method or the dataset (`info`)."""

    @classmethod
    def for_run(cls: type[M], dataset: str, profile: str = "default", seed: int = 0,
                **overrides: Any) -> M:
        """The profile's preset for `dataset` with `overrides` (None keeps the preset), checked
        by name, type and range before anything runs."""
        datasets.entry(dataset)
        check_choice(profile, PROFILES, "profile")
        chosen = {k: v for k, v in overrides.items() if v is not None}
        preset = cls.presets(dataset, chosen)[profile]
        config = override(cls(dataset=dataset, profile=profile, seed=seed, **preset),
                          **overrides)
        config.check(datasets.info(dataset))
        return config

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
