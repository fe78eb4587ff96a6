"""The glitch bench's results: the detector x kind tables (AVPR, AUROC, F1 at the true count),
the heat map of AVPR, the best detector per kind, each detector's time, and what the numbers
say to a practitioner, all from the bench's run records."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from glitchbook import intervals, methods, plots
from glitchbook.pages.status import setting_label
from glitchbook.pages.tables import by_setting, fmt, markdown_table
from glitchbook.pages.verdicts import interval_text
from glitchbook.run import reproduce
from glitchbook.run.records import RunRecord, duration

MEASURES = {"avpr": "AVPR", "auroc": "AUROC", "f1": "F1 at the true count"}


def leader_line(kind: str, leader: dict[str, Any] | None) -> str:
    """What the AVPR of `kind` says, from the leader's claim (`intervals.leader`): the best
    detector only when its lead over every other one clears its interval and it beats chance;
    else the detectors it is not separated from, or that none beats chance."""
    if not leader:
        return f"- **{kind}**: no intervals in this record (made before them)."
    word, _ = intervals.verdict(leader)
    found = f"{leader['claimed']} (AVPR {interval_text(leader['value'], leader['interval'])})"
    if word == "not tested":
        return (f"- **{kind}**: no detector beats chance (AVPR {leader['chance']:.3g}, the "
                f"share of bad images); the highest, {found}, is no win.")
    if word == "holds":
        return f"- **{kind}**: {found}, ahead of every other detector beyond its interval."
    ties = sorted(n for n, r in leader["rivals"].items()
                  if r and intervals.verdict({**leader, "rivals": {n: r}})[0] != "holds")
    return (f"- **{kind}**: {found} leads, but is not separated from {', '.join(ties)}: "
            f"{'any' if len(ties) > 1 else 'either'} of them may be the best.")


def recommendation(metrics: dict[str, Any]) -> list[str]:
    """What the table says, in sentences made from its numbers and intervals: each kind's
    leader when it is one (`leader_line`), and the best mean rank by AVPR over the kinds."""
    detectors, kinds = metrics["compared"], metrics["kinds"]
    lines = [leader_line(kind, metrics.get("leaders", {}).get(kind)) for kind in kinds]
    ranks = {d: float(detectors[d].get("mean_rank", math.inf)) for d in detectors}
    first = min(ranks.values())
    best = sorted(d for d, r in ranks.items() if r == first)
    lines.append(f"- Kind unknown: the best mean rank by AVPR over the kinds ({fmt(first)} of "
                 f"{len(detectors)}) is {' and '.join(best)}'s; a rank of one seed carries no "
                 "interval, so read it with the per-kind lines above.")
    return lines


def tables(metrics: dict[str, Any]) -> str:
    """One detector x kind table per measure (AVPR with its interval, the leader in bold where
    it is separated from every other detector), and the time."""
    detectors, kinds = metrics["compared"], metrics["kinds"]
    leaders = metrics.get("leaders", {})
    blocks = []
    for measure, label in MEASURES.items():
        rows = [[name, *(_cell(measure, kind, name, row, leaders.get(kind)) for kind in kinds)]
                for name, row in detectors.items()]
        blocks.append(f"**{label}** (higher is better)\n\n"
                      + markdown_table(["detector", *kinds], rows))
    rows = [[name, duration(row.get("seconds")), row.get("mean_rank")]
            for name, row in detectors.items()]
    blocks.append("**Time and mean rank** (over every kind; a model shared by several detectors "
                  "counted for each; rank by AVPR, 1 is best, ties sharing their mean)\n\n"
                  + markdown_table(["detector", "time", "mean rank"], rows))
    return "\n\n".join(blocks)


def _cell(measure: str, kind: str, name: str, row: dict[str, Any],
          leader: dict[str, Any] | None) -> Any:
    """A table cell: the value; AVPR with its 95 % interval, bold for a separated leader."""
    value = row.get(f"{measure}_{kind}")
    if measure != "avpr" or not leader:
        return value
    found = leader if leader["claimed"] == name else leader["rivals"].get(name)
    if not found:
        return value
    text = interval_text(found["value"], found["interval"])
    holds = leader["claimed"] == name and intervals.verdict(leader)[0] == "holds"
    return f"**{text}**" if holds else text


def heat_map(metrics: dict[str, Any], title: str) -> plt.Figure:
    """AVPR of each detector (rows) on each kind (columns)."""
    detectors, kinds = metrics["compared"], metrics["kinds"]
    return plots.heat_map({name: {k: float(row[f"avpr_{k}"]) for k in kinds}
                           for name, row in detectors.items()}, title, "AVPR")


def page(records: list[RunRecord], root: Path | None, figures: Path) -> str:
    """The bench's results page: per setting its heat map, tables, the glitches injected,
    the recommendation and its reproduce box."""
    ok = [r for r in records if r.status == "ok"]
    parts = ["Every detector scores every training image of each kind's copy of the data "
             "(higher = more suspicious); the truth is which images were made bad. AVPR is "
             "the headline: its chance level is the share of bad images (about the rate).", ""]
    if not ok:
        parts.append("No completed runs yet: run `glitchbook run --methods bench`.")
    for i, (record, seeds) in enumerate(by_setting(ok)):
        over = (f"seed {seeds[0]}" if len(seeds) == 1 else
                f"mean ± sd over seeds {', '.join(map(str, seeds))}")
        setting = setting_label(record)
        figure = heat_map(record.metrics, f"{setting}: AVPR of each detector on each kind")
        path = plots.save(figure, figures, f"bench_{i}", "")
        plt.close(figure)
        glitches = ", ".join(f"{k} {fmt(v)}" for k, v in record.metrics["glitches"].items())
        parts += [f"## {setting}", "", f"*Ours: profile `{record.profile}`, {over}; bad images "
                  f"per kind: {glitches}.*", "",
                  f"```{{figure}} /{path.relative_to(root) if root else path}",
                  f":alt: heat map of AVPR, {setting}", "",
                  "AVPR of each detector on each kind of glitch.", "```", "",
                  tables(record.metrics), "", "**What the table says**", "",
                  *recommendation(record.metrics), "",
                  reproduce.box(record, seeds, template=f"/{methods.get('bench').notebook}"
                                if root else ""),
                  ""]
    failed = [r for r in records if r.status == "failed"]
    if failed:
        parts += ["## Failed runs", ""]
        parts += [f"- `{r.dataset}` ({r.profile}, seed {r.seed}): {r.error}" for r in failed]
    return "\n".join(parts).rstrip() + "\n"
