"""Whether a paper's claim holds on a run: the claimed model against its rivals on each claim
metric, or the claim checked per setting by the run itself."""

from __future__ import annotations

import math
from typing import Any

from glitchbook.pages.tables import Held
from glitchbook.run.records import RunRecord


def claim_verdict(record: RunRecord, paper: dict[str, Any]) -> tuple[str, str]:
    """('yes' | 'partly' | 'no', detail): is the paper's best model (or, per metric,
    `claim_best[metric]`) best on each claim metric, among everything compared or against
    `claim_against` when the paper names its rivals? With `claim_true: <metric>` the claim is
    checked per setting by the run itself and the verdict counts the settings where it held."""
    compared = record.metrics.get("compared", {})
    if "claim_true" in paper:
        return _settings_verdict(compared, paper["claim_true"])
    wins, detail = 0, []
    for metric in paper["claim_metrics"]:
        claimed = paper.get("claim_best", {}).get(metric, paper["best_model"])
        rivals = set(paper.get("claim_against", compared)) | {claimed}
        values = {m: v[metric] for m, v in compared.items() if m in rivals
                  and isinstance(v.get(metric), float) and not math.isnan(v[metric])}
        if not values:
            continue
        ranked = sorted(values, key=values.get,
                        reverse=paper["metrics"][metric]["better"] == "higher")
        tied = [m for m in ranked if math.isclose(values[m], values[ranked[0]], rel_tol=1e-9)]
        best = claimed if claimed in tied else ranked[0]  # a tie for first place is a win
        wins += best == claimed
        others = [m for m in ranked if m != best]
        runner_up = (f"; tied with {', '.join(m for m in tied if m != best)}" if len(tied) > 1
                     else f"; next {others[0]} {values[others[0]]:.4f}" if others else "")
        detail.append(f"best {paper['metrics'][metric]['label']}: {best} "
                      f"({values[best]:.4f}{runner_up})")
    verdict = "yes" if wins == len(paper["claim_metrics"]) else "partly" if wins else "no"
    return verdict, "; ".join(detail)


def _settings_verdict(compared: dict[str, dict], metric: str) -> tuple[str, str]:
    """A setting holds only when its run(s) say so: over seeds, in every seed (`Held`)."""
    held = [m for m, v in compared.items() if v.get(metric)]
    failed = [f"{m} ({v[metric]})" if isinstance(v.get(metric), Held) and v[metric].k else m
              for m, v in compared.items() if m not in held]
    verdict = "yes" if not failed else "partly" if held else "no"
    detail = [f"holds for {', '.join(held)}" if held else "",
              f"not for {', '.join(failed)}" if failed else ""]
    return verdict, "; ".join(d for d in detail if d)


def held(value: bool | Held | None) -> str:
    if value is None:
        return "not checked"
    return str(value) if isinstance(value, Held) else "yes" if value else "no"
