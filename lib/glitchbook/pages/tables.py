"""Numbers as a results table shows them: metrics over seeds (mean ± sd, "in k of n seeds"),
runs grouped by setting, and Markdown tables."""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any

from glitchbook import intervals
from glitchbook.config import config_hash
from glitchbook.run.records import RunRecord


class Spread(float):
    """A metric over seeds: behaves as its mean, and also carries the sample sd and n."""

    sd: float
    n: int
    whole: bool  # every seed's value a whole number (a count, a k)

    def __new__(cls, values: list[float]) -> Spread:
        spread = super().__new__(cls, statistics.fmean(values))
        spread.sd, spread.n = statistics.stdev(values), len(values)
        spread.whole = all(float(v).is_integer() for v in values)
        return spread


@dataclasses.dataclass(frozen=True)
class Held:
    """A yes/no result over seeds: true in `k` of `n`; true as a whole only when always."""

    k: int
    n: int

    def __bool__(self) -> bool:
        return self.k == self.n

    def __str__(self) -> str:
        return "yes" if self else "no" if not self.k else f"in {self.k} of {self.n} seeds"


def merge_seeds(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """One metrics dict from several seeds' dicts: numbers become Spread, yes/no values Held,
    nested dicts are merged key by key; other values are kept when equal, else listed."""
    merged: dict[str, Any] = {}
    for key in dict.fromkeys(k for m in metrics for k in m):
        values = [m[key] for m in metrics if key in m]
        if len(values) < 2:
            merged[key] = values[0]
        elif all(isinstance(v, dict) for v in values):
            merged[key] = merge_seeds(values)
        elif all(isinstance(v, bool) for v in values):
            merged[key] = Held(sum(values), len(values))
        elif all(isinstance(v, int | float) for v in values):
            merged[key] = Spread(values)
        elif all(v == values[0] for v in values):
            merged[key] = values[0]
        else:  # e.g. a delay in some seeds, never alarmed (None) in others: each seed's value
            merged[key] = " / ".join(fmt(v) for v in values)
    return merged


def by_setting(records: list[RunRecord]) -> list[tuple[RunRecord, list[int]]]:
    """Completed records grouped by dataset, profile and config apart from the seed; each
    group as one record (metrics merged over seeds) and its seeds."""
    groups: dict[tuple, list[RunRecord]] = {}
    for r in records:
        setting = {k: v for k, v in r.config.items() if k != "seed"}
        key = (r.dataset, r.profile, bool(r.published), config_hash(setting))
        groups.setdefault(key, []).append(r)
    merged = []
    for group in groups.values():
        group.sort(key=lambda r: r.seed)
        record = dataclasses.replace(group[0], metrics=dict(group[0].metrics))
        if len(group) > 1:
            record.metrics = merge_seeds([{k: v for k, v in r.metrics.items() if k != "claims"}
                                          for r in group])
            claims = [r.metrics.get("claims") for r in group]
            if all(judged(c) for c in claims):
                record.metrics["claims"] = intervals.merge_claims(claims)
        if not judged(record.metrics.get("claims")):  # a record from before the intervals
            record.metrics.pop("claims", None)
        merged.append((record, [r.seed for r in group]))
    return merged


def judged(claims: Any) -> bool:
    """True for claims as the methods record them now, `{id: {scope: claim}}`, each claim a
    `intervals.compare` or `intervals.check`; records made before the intervals have none."""
    return isinstance(claims, dict) and all(
        isinstance(scopes, dict) and all(isinstance(c, dict) and ("rivals" in c or "check" in c)
                                         for c in scopes.values())
        for scopes in claims.values())


def fmt(value: Any) -> str:
    """A table cell: "–" for none, mean ± sd over seeds, floats to four places."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, Spread):
        digits = 2 if value.whole else 4
        return f"{value:.{digits}f} ± {value.sd:.{digits}f}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub/MyST Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
