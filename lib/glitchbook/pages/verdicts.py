"""The papers' claims judged on the runs, one strict rule for all (`intervals.verdict`): holds,
does not hold, not separated, not tested. Shown as claim cards on each results page, as a table
in each run's notebook, and on the reproducibility report."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from glitchbook import intervals
from glitchbook.pages.status import setting_label
from glitchbook.pages.tables import markdown_table
from glitchbook.run.records import RunRecord, duration

RULE = ("Each claim is judged on the interval of the difference between the claimed method "
        "and each rival (95 %: a paired bootstrap of the test items with one seed, the "
        "t-interval of the seeds' differences with several): it **holds** when every "
        "difference favours the claimed method, **does not hold** when one favours a rival, is "
        "**not separated** otherwise (ties included), and is **not tested** when a rival is "
        "missing or every method sits at chance.")


@dataclass(frozen=True)
class Judged:
    """One claim (its `number` in its paper, as the paper's yaml states it) judged for one
    `scope` (a setting or model it is judged per, "" for the run as a whole)."""

    number: int
    claim: dict[str, Any]
    scope: str
    result: dict[str, Any] | None  # `intervals.compare` or `intervals.check`, over the seeds
    verdict: str
    reason: str


def judge(paper: dict[str, Any], claims: dict[str, dict] | None) -> list[Judged]:
    """Every claim of `paper` on a run's (or a setting's, merged over seeds) recorded claims:
    each scope judged, or not tested with the reason it could not be."""
    found = []
    for number, claim in enumerate(paper["claims"], 1):
        if claims is None:
            found.append(Judged(number, claim, "", None, "not tested",
                                "the record has no intervals (made before them): run it again"))
            continue
        scopes = claims.get(claim["id"]) or {}
        if not scopes:
            found.append(Judged(number, claim, "", None, "not tested", "not in this run"))
        for scope, result in scopes.items():
            found.append(Judged(number, claim, scope, result, *intervals.verdict(result)))
    return found


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def interval_text(value: float | None, interval: list[float] | None) -> str:
    """'0.912 [0.884, 0.936]': a value and its 95 % interval."""
    if interval is None or value is None:
        return _number(value)
    return f"{_number(value)} [{_number(interval[0])}, {_number(interval[1])}]"


def ours(judged: Judged) -> str:
    """The claimed method's number with its interval, or what a check found."""
    result = judged.result
    if result is None:
        return "–"
    if "check" in result:
        return result["detail"]
    return f"{result['claimed']} {interval_text(result['value'], result['interval'])}"


def differences(judged: Judged) -> str:
    """Each rival's difference (claimed − rival) with its interval."""
    result = judged.result
    if result is None or "check" in result:
        return ""
    return "; ".join(f"− {name}: " + ("missing" if found is None else interval_text(
        found["difference"], found["difference_interval"]))
        for name, found in result["rivals"].items())


def word(judged: Judged) -> str:
    return f"**{judged.verdict}**"


def run_table(paper: dict[str, Any], claims: dict[str, dict] | None) -> str:
    """The claims of one run as a table (its notebook shows it)."""
    rows = [[f"{j.number}{f' · {j.scope}' if j.scope else ''}", j.claim["text"], ours(j),
             differences(j), word(j), j.reason] for j in judge(paper, claims)]
    return markdown_table(["claim", "the claim", "ours [95 % interval]",
                           "difference to each rival [95 %]", "verdict", "why"], rows)


def paper_value(paper: dict[str, Any], judged: Judged, dataset: str) -> Any:
    """The paper's own number for the claimed method on `dataset`, when it gives one."""
    claim = judged.claim
    if "metric" not in claim or "claimed" not in claim:
        return None
    values = paper["datasets"].get(dataset, {}).get("values", {})
    return values.get(claim["claimed"], {}).get(claim["metric"])


def cards(paper: dict[str, Any], settings: list[tuple[RunRecord, list[int]]]) -> str:
    """A card per claim of the paper: the claim in a sentence, then a row per setting (and
    scope): the paper's number, ours with its interval, the differences to the rivals, the
    verdict and why (for a run of the book's own profiles, beside the verdict of the matching
    published run, and why the two may differ), the seeds, device and wall time."""
    judged = [(record, seeds, j) for record, seeds in settings
              for j in judge(paper, record.metrics.get("claims"))]
    published = [(record, j) for record, _, j in judged if record.published]
    blocks = []
    for number, claim in enumerate(paper["claims"], 1):
        rows = []
        for record, seeds, j in judged:
            if j.number != number:
                continue
            why = j.reason
            twin = None if record.published else _published_twin(paper, record, j, published)
            if twin and twin.verdict != j.verdict:
                why += f"; the published run: {twin.verdict} ({paper['published_differs']})"
            rows.append([setting_label(record) + (f" · {j.scope}" if j.scope else ""),
                         paper_value(paper, j, record.dataset), ours(j), differences(j),
                         word(j), f"**{twin.verdict}**" if twin else "–", why,
                         ", ".join(map(str, seeds)),
                         f"{record.device}, {duration(record.timings.get('wall_seconds'))}"])
        ours_only = " *(our own test, not the paper's)*" if claim.get("ours") else ""
        blocks.append(f"**Claim {number}.** {claim['text']}{ours_only}\n\n" + (markdown_table(
            ["setting", "paper", "ours [95 % interval]", "difference to each rival [95 %]",
             "verdict", "published run's", "why", "seeds", "device, wall time"], rows)
            if rows else "*No run yet.*"))
    return "\n\n".join(blocks)


def _published_twin(paper: dict[str, Any], record: RunRecord, judged: Judged,
                    published: list[tuple[RunRecord, Judged]]) -> Judged | None:
    """The same claim judged on the published run that matches a run of the book's own (its
    dataset's counterpart, `published_twin` in the paper's file; the same scope, or the same
    first word of it: the pair of a pair and width)."""
    dataset = paper.get("published_twin", {}).get(record.dataset)
    found = [j for r, j in published if r.dataset == dataset and j.number == judged.number]
    for same in (lambda j: j.scope == judged.scope,
                 lambda j: j.scope.split(" ")[:1] == judged.scope.split(" ")[:1]):
        match = [j for j in found if same(j)]
        if match:
            return match[0]
    return None


def count_line(judged: list[Judged]) -> str:
    """How many verdicts of each word, in one sentence."""
    counts = Counter(j.verdict for j in judged)
    plural = {"holds": "hold", "does not hold": "do not hold"}
    parts = [f"{counts[w]} {w if counts[w] == 1 else plural.get(w, w)}"
             for w in intervals.VERDICTS]
    return (f"Of the {sum(counts.values())} verdicts on the book's runs, {', '.join(parts[:-1])} "
            f"and {parts[-1]}.")
