"""The glitch bench's results: the detector x kind tables (AVPR, AUROC, F1 at the true count),
the heat map of AVPR, the best detector per kind, each detector's time, and what the numbers
say to a practitioner, all from the bench's run records."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from glitchbook import methods, plots
from glitchbook.pages.status import setting_label
from glitchbook.pages.tables import by_setting, fmt, markdown_table
from glitchbook.run import reproduce
from glitchbook.run.records import RunRecord, duration

MEASURES = {"avpr": "AVPR", "auroc": "AUROC", "f1": "F1 at the true count"}


def _value(row: dict[str, Any], key: str) -> float:
    value = row.get(key)
    return float(value) if isinstance(value, int | float) and not math.isnan(value) else -1.0


def ranking(detectors: dict[str, dict], kind: str) -> list[str]:
    """The detectors from best to worst AVPR on `kind`."""
    return sorted(detectors, key=lambda d: -_value(detectors[d], f"avpr_{kind}"))


def recommendation(metrics: dict[str, Any]) -> list[str]:
    """What the table says, in sentences made from its numbers: the best detector for each
    kind (and the runner-up), and the best single choice when the kind is unknown (the best
    mean rank by AVPR over the kinds)."""
    detectors, kinds = metrics["compared"], metrics["kinds"]
    lines = []
    for kind in kinds:
        best, second = ranking(detectors, kind)[:2]
        lines.append(f"- **{kind}**: {best} (AVPR {fmt(detectors[best][f'avpr_{kind}'])}), "
                     f"then {second} ({fmt(detectors[second][f'avpr_{kind}'])}).")
    first, second = sorted(detectors,
                           key=lambda d: float(detectors[d].get("mean_rank", math.inf)))[:2]
    winners = sorted({ranking(detectors, kind)[0] for kind in kinds})
    lines.append(f"- Kind unknown: **{first}** has the best mean rank by AVPR "
                 f"({fmt(detectors[first]['mean_rank'])} of {len(detectors)}), then {second} "
                 f"({fmt(detectors[second]['mean_rank'])}). "
                 + (f"One detector wins every kind: {winners[0]}." if len(winners) == 1 else
                    f"No single detector wins every kind; the winners: {', '.join(winners)}."))
    return lines


def tables(metrics: dict[str, Any]) -> str:
    """One detector x kind table per measure, the best per kind in bold, and the time."""
    detectors, kinds = metrics["compared"], metrics["kinds"]
    blocks = []
    for measure, label in MEASURES.items():
        best = {kind: ranking(detectors, kind)[0] for kind in kinds} if measure == "avpr" else {}
        rows = [[name, *(f"**{fmt(row.get(f'{measure}_{k}'))}**" if best.get(k) == name
                         else row.get(f"{measure}_{k}") for k in kinds)]
                for name, row in detectors.items()]
        blocks.append(f"**{label}** (higher is better)\n\n"
                      + markdown_table(["detector", *kinds], rows))
    rows = [[name, duration(row.get("seconds")), row.get("mean_rank")]
            for name, row in detectors.items()]
    blocks.append("**Time and mean rank** (over every kind; a model shared by several detectors "
                  "counted for each; rank by AVPR, 1 is best, ties sharing their mean)\n\n"
                  + markdown_table(["detector", "time", "mean rank"], rows))
    return "\n\n".join(blocks)


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
