"""Every argument check of glitchbook, in one place: each returns the value it accepts or raises
a ConfigError whose message names the value and what would be valid."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from glitchbook.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def check_choice(value: Any, choices: Sequence[Any], what: str) -> Any:
    """`value` if it is one of `choices`."""
    if value not in choices:
        raise ConfigError(f"unknown {what} {value!r}; use one of {', '.join(map(str, choices))}")
    return value


def check_choices(values: Iterable[Any], choices: Sequence[Any], what: str) -> tuple:
    """`values` as a tuple if it is not empty and each is one of `choices`."""
    values = tuple(values)
    unknown = [v for v in values if v not in choices]
    if unknown or not values:
        raise ConfigError(f"unknown {what}(s) {unknown}; use {', '.join(map(str, choices))}")
    return values


def check_device(name: str) -> str:
    """`name` if it names a device glitchbook knows: auto, cpu, cuda or cuda:<index>."""
    if name not in DEVICES and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise ConfigError(f"unknown device {name!r}; use 'auto', 'cpu' or 'cuda'")
    return name


def check_fraction(fraction: float, what: str = "fraction") -> float:
    """`fraction` if it lies strictly between 0 and 1."""
    if not isinstance(fraction, int | float) or not 0.0 < float(fraction) < 1.0:
        raise ConfigError(f"{what} must lie strictly between 0 and 1, got {fraction!r}")
    return float(fraction)


def check_positive(**values: float) -> None:
    """Nothing when every value is positive; else a ConfigError naming those that are not."""
    bad = {k: v for k, v in values.items() if not v > 0}
    if bad:
        raise ConfigError("must be positive: " + ", ".join(f"{k}={v}" for k, v in bad.items()))


def check_range(value: float, low: float, high: float, what: str) -> float:
    """`value` if low <= value <= high."""
    if not low <= value <= high:
        raise ConfigError(f"{what} must lie in [{low}, {high}], got {value!r}")
    return value


def check_classes(classes: Iterable[int], n_classes: int, dataset: str,
                  what: str = "class") -> tuple[int, ...]:
    """`classes` as a tuple if each is a class index of a dataset with `n_classes` classes."""
    classes = tuple(classes)
    bad = [c for c in classes if not isinstance(c, int) or not 0 <= c < n_classes]
    if bad:
        raise ConfigError(f"{what} {bad[0] if len(bad) == 1 else bad} is not a class of "
                          f"{dataset}: it has {n_classes} classes, 0 to {n_classes - 1}")
    return classes


def check_normal_classes(classes: Iterable[int], n_classes: int,
                         dataset: str) -> tuple[int, ...]:
    """The normal classes of a novelty split as a sorted tuple: class indices of the dataset,
    at least one, and at least one class left novel."""
    chosen = tuple(sorted(set(check_classes(classes, n_classes, dataset, "normal class"))))
    if not chosen:
        raise ConfigError("at least one normal class is needed")
    if len(chosen) == n_classes:
        raise ConfigError("at least one class must stay novel")
    return chosen
