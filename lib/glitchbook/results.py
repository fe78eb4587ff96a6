"""Results pages: our runs beside the paper's numbers, and whether the paper's claim holds.

For each method with a `papers/<method>.yaml`, `write_pages` reads the run records and writes a
Markdown table per dataset and profile into `book/runs/results/<method>.md`, which the chapter's
results page includes. A paper value sits beside ours only for the same dataset; the profile of
each side is printed in the table's heading, so incomparable numbers are never shown silently
as if they were comparable. Runs of one setting with several seeds are shown as mean ± sd.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from glitchbook import bench_results, methods, plots, reproduce
from glitchbook.papers import paper
from glitchbook.records import RunRecord, atomic_write_text, load_book
from glitchbook.status import (
    changed_settings,
    provenance_line,
    setting_label,
    settings_line,
    status_page,
)
from glitchbook.tables import Held, by_setting, markdown_table

RESULTS_DIR = Path("book/runs/results")


def claim_verdict(record: RunRecord, spec: dict[str, Any]) -> tuple[str, str]:
    """('yes' | 'partly' | 'no', detail): is the paper's best model (or, per metric,
    `claim_best[metric]`) best on each claim metric, among all models or against
    `claim_against` when the paper names its rivals? With `claim_true: <metric>` the claim is
    checked per setting by the run itself and the verdict counts the settings where it held."""
    models = record.metrics.get("models", {})
    if "claim_true" in spec:
        return _settings_verdict(models, spec["claim_true"])
    wins, detail = 0, []
    for metric in spec["claim_metrics"]:
        claimed = spec.get("claim_best", {}).get(metric, spec["best_model"])
        rivals = set(spec.get("claim_against", models)) | {claimed}
        values = {m: v[metric] for m, v in models.items() if m in rivals
                  and isinstance(v.get(metric), float) and not math.isnan(v[metric])}
        if not values:
            continue
        ranked = sorted(values, key=values.get,
                        reverse=spec["metrics"][metric]["better"] == "higher")
        tied = [m for m in ranked if math.isclose(values[m], values[ranked[0]], rel_tol=1e-9)]
        best = claimed if claimed in tied else ranked[0]  # a tie for first place is a win
        wins += best == claimed
        others = [m for m in ranked if m != best]
        runner_up = (f"; tied with {', '.join(m for m in tied if m != best)}" if len(tied) > 1
                     else f"; next {others[0]} {values[others[0]]:.4f}" if others else "")
        detail.append(f"best {spec['metrics'][metric]['label']}: {best} "
                      f"({values[best]:.4f}{runner_up})")
    verdict = "yes" if wins == len(spec["claim_metrics"]) else "partly" if wins else "no"
    return verdict, "; ".join(detail)


def _settings_verdict(models: dict[str, dict], metric: str) -> tuple[str, str]:
    """A setting holds only when its run(s) say so: over seeds, in every seed (`Held`)."""
    held = [m for m, v in models.items() if v.get(metric)]
    failed = [f"{m} ({v[metric]})" if isinstance(v.get(metric), Held) and v[metric].k else m
              for m, v in models.items() if m not in held]
    verdict = "yes" if not failed else "partly" if held else "no"
    detail = [f"holds for {', '.join(held)}" if held else "",
              f"not for {', '.join(failed)}" if failed else ""]
    return verdict, "; ".join(d for d in detail if d)


def _held(value: bool | Held | None) -> str:
    if value is None:
        return "not checked"
    return str(value) if isinstance(value, Held) else "yes" if value else "no"


def departures_box(spec: dict[str, Any]) -> str:
    """A MyST admonition listing the paper yaml's `departures`: what we do differently from the
    authors' protocol, why, and the effect to expect on the numbers."""
    items = [f"- **{d['what']}** {d['why']} *Effect:* {d['effect']}"
             for d in spec.get("departures", [])]
    if not items:
        return ""
    return "\n".join(["```{admonition} Where we depart from the paper", ":class: note", "",
                      *items, "```"])


FIGURE_SETTINGS = 4  # settings shown in a results page's opening figure, at most


def comparison_figure(method: str, records: list[RunRecord]) -> Figure | None:
    """The results page's opening figure: our headline metrics per setting as bars, the
    paper's value (same dataset, same measurement) marked on each; for a per-class metric,
    a line per model and the paper's dashed. None without completed runs."""
    spec = paper(method)
    settings = [r for r, _ in by_setting([r for r in records if r.status == "ok"])]
    settings = settings[:FIGURE_SETTINGS]
    if not settings:
        return None
    if "per_class" in spec:
        prefix, label, theirs = (spec["per_class"][k] for k in ("prefix", "label", "paper_model"))

        def by_class(values: dict[str, Any]) -> dict[str, float]:
            return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}

        panels, reference = {}, {}
        for record in settings:
            models = record.metrics.get("models", {})
            panels[setting_label(record)] = {m: by_class(models[m]) for m in spec["models"]
                                        if m in models}
            side = spec["datasets"].get(record.dataset)
            if side:
                reference[setting_label(record)] = by_class(side["values"].get(theirs, {}))
        return plots.per_class_lines(panels, reference, f"{label} per normal class: ours and "
                                     f"the paper's {theirs}", label, f"paper {theirs}")
    panels: dict[str, dict[str, dict[str, float]]] = {}
    reference: dict[str, dict[str, dict[str, float]]] = {}
    for metric in spec.get("figure_metrics") or spec["claim_metrics"]:
        info = spec["metrics"][metric]
        title = _label(info)
        for record in settings:
            models = record.metrics.get("models", {})
            ours = {m: v[metric] for m, v in models.items() if _is_number(v.get(metric))}
            if ours:
                panels.setdefault(title, {})[setting_label(record)] = ours
            side = spec["datasets"].get(record.dataset)
            if side and "paper_label" not in info:
                theirs = {m: v[metric] for m, v in side["values"].items()
                          if m in ours and _is_number(v.get(metric))}
                reference.setdefault(title, {})[setting_label(record)] = theirs
    if not panels:
        return None
    compared = any(v for per_metric in reference.values() for v in per_metric.values())
    return plots.bars_with_reference(
        panels, reference, "Ours (bars) and the paper (black marks)" if compared else
        "Ours (the paper has no comparable number for these settings)")


def _label(info: dict[str, Any]) -> str:
    """A metric's label with the arrow of its better direction (none when neither)."""
    return info["label"] + {"higher": " ↑", "lower": " ↓"}.get(info["better"], "")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def method_page(method: str, records: list[RunRecord], figure: str | None = None,
                root: Path | None = None) -> str:
    """The generated Markdown for one method's results; `figure` is the path of its opening
    figure (from the source root), when there is one. With the repository `root`, each
    reproduce box links the run's notebook (when there), the template and launch links, and
    the page links its CSV."""
    spec = paper(method)
    ok = [r for r in records if r.status == "ok"]
    launch = reproduce.launch_links(root, method) if root else {}
    parts = []
    if figure:
        parts += [f"```{{figure}} {figure}", f":alt: {method} results against the paper", "",
                  "Our headline numbers for each setting (up to the first "
                  f"{FIGURE_SETTINGS}), with the paper's value for the same dataset marked "
                  "where it measured the same thing. The tables below give every number.",
                  "```", ""]
    if root and ok:
        parts += [f"{{download}}`Every number of this page as CSV </{RESULTS_DIR}/{method}.csv>` "
                  "(a row per setting, model and metric, with the paper's value).", ""]
    parts += [f"Paper-side source: {spec['source']}", ""]
    if spec.get("departures"):
        parts += [departures_box(spec), ""]
    if "paper_tables" in spec:
        parts += [spec["paper_tables"], ""]
    if not ok:
        parts.append(f"No completed runs yet: run `glitchbook run --methods {method}`.")
    settings = by_setting(ok)
    for record, seeds in settings:
        side = spec["datasets"].get(record.dataset)
        over = (f"seed {seeds[0]}" if len(seeds) == 1 else
                f"mean ± sd over seeds {', '.join(map(str, seeds))}")
        changed = changed_settings(record)
        heading = f"## {setting_label(record)}"
        compared = f"paper: {side['label']}" if side else (
            "paper: no value for this dataset (our numbers only)")
        if side and side["profile"] != record.profile:
            compared += f" (a `{side['profile']}`-profile setting: compare with care)"
        notes = [f"*Ours: profile `{record.profile}`, {over} · {compared}.*"]
        notes += [provenance_line(record)] if record.published else []
        notes += [settings_line(record)] if changed else []
        tables = (_grouped_tables(record, spec, side) if "tables" in spec
                  else _metric_table(record, spec, side))
        parts += [heading, "", *(f"{n}\n" for n in notes), tables, ""]
        if "per_class" in spec:
            parts += [_per_class_table(record, spec, side), ""]
        notebook = reproduce.notebook_path(record)
        parts += [reproduce.box(
            record, seeds, template=f"/notebooks/{method}.ipynb" if root else "", launch=launch,
            notebook=f"/{notebook}" if root and (root / notebook).exists() else ""), ""]
    merged = [record for record, _ in settings]
    if ok and "claims" in spec:
        parts += ["## Do the paper's claims hold?", ""]
        header = ["claim", *(setting_label(r) for r in merged)]
        rows = [[text, *(_held(r.metrics.get("claims", {}).get(key)) for r in merged)]
                for key, text in spec["claims"].items()]
        parts += [markdown_table(header, rows), ""]
    elif ok:
        parts += ["## Does the paper's claim hold?", "", f"Claim: {spec['claim']}", ""]
        rows = [[setting_label(r), *claim_verdict(r, spec)] for r in merged]
        parts += [markdown_table(["setting", "holds", "detail"], rows), ""]
    failed = [r for r in records if r.status == "failed"]
    if failed:
        parts += ["## Failed runs", ""]
        parts += [f"- `{r.dataset}` ({r.profile}, seed {r.seed}): {r.error}" for r in failed]
    return "\n".join(parts).rstrip() + "\n"


def _metric_table(record: RunRecord, spec: dict[str, Any], side: dict | None) -> str:
    """Claim metrics beside the paper's (when `side` is the same dataset), then the others."""
    models = record.metrics.get("models", {})
    present = [m for m in spec["models"] if m in models]

    def label(metric: str) -> str:
        return _label(spec["metrics"][metric])

    header, rows = ["model"], [[m] for m in present]
    for metric in spec["claim_metrics"]:
        header += [label(metric)] + (["paper", "Δ"] if side else [])
        for row, model in zip(rows, present, strict=True):
            ours = models[model].get(metric)
            row.append(ours)
            if side:
                ref = side["values"].get(model, {}).get(metric)
                row += [ref, None if ref is None or ours is None else ours - ref]
    others = [k for k in spec["metrics"] if k not in spec["claim_metrics"]
              and any(k in models[m] for m in present)]
    if not others:
        return markdown_table(header, rows)
    more = markdown_table(["model", *map(label, others)],
                          [[m, *(models[m].get(k) for k in others)] for m in present
                           if any(k in models[m] for k in others)])
    return markdown_table(header, rows) + "\n\nMore metrics (ours):\n\n" + more


def _grouped_tables(record: RunRecord, spec: dict[str, Any], side: dict | None) -> str:
    """One table per entry of `spec["tables"]` (a title, its metrics, `ours_only` to leave
    the paper out), a row per model or setting, each metric beside the paper's value. A metric
    with a `paper_label` is not the same measurement on both sides: its paper column carries
    that label and no difference."""
    models = record.metrics.get("models", {})
    present = [m for m in spec["models"] if m in models] or list(models)
    theirs = (side or {}).get("values", {})
    blocks = []
    for table in spec["tables"]:
        header, rows = ["setting"], [[m] for m in present]
        for metric in table["metrics"]:
            info = spec["metrics"][metric]
            header.append(_label(info))
            paired = bool(side) and not table.get("ours_only") and any(
                metric in v for v in theirs.values())
            if paired:
                header += [info.get("paper_label", "paper")] + ([] if "paper_label" in info
                                                                 else ["Δ"])
            for row, model in zip(rows, present, strict=True):
                ours = models[model].get(metric)
                row.append(ours)
                if paired:
                    ref = theirs.get(model, {}).get(metric)
                    row.append(ref)
                    if "paper_label" not in info:
                        row.append(None if ref is None or ours is None else ours - ref)
        blocks.append(f"**{table['title']}**\n\n" + markdown_table(header, rows))
    return "\n\n".join(blocks)


def _per_class_table(record: RunRecord, spec: dict[str, Any], side: dict | None) -> str:
    """One row per class (metrics named `<prefix><class>`), one column per model, plus the
    paper's `paper_model` column when the paper has this dataset."""
    per_class = spec["per_class"]
    prefix, paper_model = per_class["prefix"], per_class.get("paper_model")
    found = record.metrics.get("models", {})
    models = {m: found[m] for m in spec["models"] if m in found}
    classes = list(dict.fromkeys(k[len(prefix):] for v in models.values() for k in v
                                 if k.startswith(prefix)))
    theirs = (side or {}).get("values", {}).get(paper_model, {}) if paper_model else {}
    header = ["normal class", *models] + ([f"paper {paper_model}"] if theirs else [])
    rows = [[c, *(v.get(prefix + c) for v in models.values())]
            + ([theirs.get(prefix + c)] if theirs else []) for c in classes]
    return f"{per_class['label']} per normal class (ours):\n\n" + markdown_table(header, rows)


def write_csv(path: Path, method: str, records: list[RunRecord]) -> Path:
    """Every number of a results page as CSV: a row per setting, model and metric (ours, over
    seeds their mean and sd) beside the paper's value for the same dataset, when the paper
    measured the same thing."""
    spec = paper(method)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(["setting", "dataset", "profile", "published", "seeds", "model", "metric",
                  "ours", "ours_sd", "paper"])
    for record, seeds in by_setting([r for r in records if r.status == "ok"]):
        theirs = spec["datasets"].get(record.dataset, {}).get("values", {})
        for model, values in record.metrics.get("models", {}).items():
            for metric, value in values.items():
                if not _is_number(value):
                    continue
                comparable = "paper_label" not in spec["metrics"].get(metric, {})
                ref = theirs.get(model, {}).get(metric) if comparable else None
                out.writerow([setting_label(record), record.dataset, record.profile,
                              record.published or "", " ".join(map(str, seeds)), model, metric,
                              float(value), getattr(value, "sd", ""),
                              ref if _is_number(ref) else ""])
    return atomic_write_text(path, buffer.getvalue())


def write_pages(root: str | Path = ".", runs: str | Path | None = None) -> list[Path]:
    """Write `book/runs/results/<method>.md` for every method and `status.md`, from the runs
    (`book/runs`, or `runs`) and the published runs (`book/published`); returns the paths
    written."""
    root = Path(root)
    written = []
    for name in methods.METHODS:
        unreadable: list[str] = []
        found = load_book(root, name, runs=runs, unreadable=unreadable)
        if not methods.get(name).paper:  # the bench: its own page
            page = bench_results.page(found, root, root / RESULTS_DIR)
        else:
            figure, link = comparison_figure(name, found), None
            if figure is not None:
                link = f"/{RESULTS_DIR}/{plots.save(figure, root / RESULTS_DIR, name, '').name}"
                plt.close(figure)
            page = method_page(name, found, link, root)
            write_csv(root / RESULTS_DIR / f"{name}.csv", name, found)
        if unreadable:
            page += "\n## Unreadable records (skipped)\n\n" + "\n".join(
                f"- {message}" for message in unreadable) + "\n"
        written.append(atomic_write_text(root / RESULTS_DIR / f"{name}.md", page))
    written.append(atomic_write_text(root / RESULTS_DIR / "status.md", status_page(root, runs)))
    return written
