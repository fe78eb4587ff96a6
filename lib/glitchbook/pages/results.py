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

from glitchbook import methods, papers, plots
from glitchbook.pages import bench as bench_page
from glitchbook.pages import verdicts
from glitchbook.pages.report import report
from glitchbook.pages.status import (
    changed_settings,
    provenance_line,
    setting_label,
    settings_line,
    status_page,
)
from glitchbook.pages.tables import by_setting, markdown_table
from glitchbook.run import reproduce
from glitchbook.run.records import RunRecord, atomic_write_text, load_book

RESULTS_DIR = Path("book/runs/results")


def departures(paper: dict[str, Any]) -> str:
    """The paper yaml's `departures` as a Markdown list: what we do differently from the
    authors' protocol, why, and the effect to expect on the numbers (the chapter's index page
    includes it, the results page boxes it)."""
    return "\n".join(f"- **{d['what']}** {d['why']} *Effect:* {d['effect']}"
                     for d in paper.get("departures", []))


def departures_box(paper: dict[str, Any]) -> str:
    """`departures` in a MyST admonition."""
    items = departures(paper)
    return "\n".join(["```{admonition} Where we depart from the paper", ":class: note", "",
                      items, "```"]) if items else ""


FIGURE_SETTINGS = 4  # settings shown in a results page's opening figure, at most


def comparison_figure(method: str, records: list[RunRecord]) -> Figure | None:
    """The results page's opening figure: for each claim judged on intervals, the claimed
    method and its rivals with their 95 % intervals per setting (up to FIGURE_SETTINGS) and
    the paper's value marked where it measured the same thing; a repair error as the share of
    the error of no repair left, so that settings share one scale. None without intervals."""
    paper = papers.load(method)
    settings = [r for r, _ in by_setting([r for r in records if r.status == "ok"])
                if r.metrics.get("claims")][:FIGURE_SETTINGS]
    rows = []
    for record in settings:
        for judged in verdicts.judge(paper, record.metrics["claims"]):
            rows += _interval_rows(paper, record, judged)
    if not rows:
        return None
    return plots.intervals(rows, "Each claim: ours with its 95 % interval, the paper's value "
                                 "as a black bar")


def _interval_rows(paper: dict[str, Any], record: RunRecord,
                   judged: verdicts.Judged) -> list[dict[str, Any]]:
    """The figure's rows of one judged claim: its claimed method and each rival found."""
    result = judged.result
    if result is None or "check" in result or result["value"] is None:
        return []
    info = paper["metrics"].get(judged.claim.get("metric"), {})
    share = judged.claim.get("metric") == "smse_dirty"  # of the error of no repair
    scale = result["chance"] if share and result["chance"] else 1.0
    panel = f"Claim {judged.number}: " + (
        "repair error, the share of no repair's left ↓" if share else _label(info) if info
        else judged.claim["id"].replace("_", " "))
    setting = setting_label(record) + (f" · {judged.scope}" if judged.scope else "")
    reported = paper["datasets"].get(record.dataset, {}).get("values", {})
    metric = judged.claim.get("metric")
    theirs = {name: v.get(metric) for name, v in reported.items() if "paper_label" not in info}
    if share:  # the paper's repair errors on the same scale: of its own no repair's
        left = theirs.pop("no repair", None)
        theirs = {n: v / left if v is not None and left else None for n, v in theirs.items()}
    found = {result["claimed"]: result, **{n: r for n, r in result["rivals"].items() if r}}
    return [{"panel": panel, "method": name, "setting": setting, "value": r["value"] / scale,
             "low": r["interval"][0] / scale, "high": r["interval"][1] / scale,
             "paper": theirs.get(name)} for name, r in found.items()]


def claim_metrics(paper: dict[str, Any]) -> list[str]:
    """The metrics the paper's claims are judged on, in order."""
    return list(dict.fromkeys(c["metric"] for c in paper["claims"] if "metric" in c))


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
    paper = papers.load(method)
    ok = [r for r in records if r.status == "ok"]
    settings = by_setting(ok)
    parts = ["## The paper's claims", "", verdicts.RULE, "",
             verdicts.cards(paper, settings) if settings else "*No completed runs yet.*", ""]
    if figure:
        parts += [f"```{{figure}} {figure}", f":alt: {method}'s claims with their intervals",
                  "", "The claims' numbers with their 95 % intervals for each setting (up to "
                  f"the first {FIGURE_SETTINGS}), with the paper's value marked where it "
                  "measured the same thing. The tables below give every number.", "```", ""]
    if root and ok:
        parts += [f"{{download}}`Every number of this page as CSV </{RESULTS_DIR}/{method}.csv>` "
                  "(a row per setting, model and metric, with the paper's value).", ""]
    parts += [f"Paper-side source: {paper['source']}", ""]
    if paper.get("departures"):
        parts += [departures_box(paper), ""]
    if "paper_tables" in paper:
        parts += [paper["paper_tables"], ""]
    if not ok:
        parts.append(f"No completed runs yet: run `glitchbook run --methods {method}`.")
    for record, seeds in settings:
        parts += _setting_section(method, paper, record, seeds, root)
    failed = [r for r in records if r.status == "failed"]
    if failed:
        parts += ["## Failed runs", ""]
        parts += [f"- `{r.dataset}` ({r.profile}, seed {r.seed}): {r.error}" for r in failed]
    return "\n".join(parts).rstrip() + "\n"


def _setting_section(method: str, paper: dict[str, Any], record: RunRecord, seeds: list[int],
                     root: Path | None) -> list[str]:
    """One setting's part of a results page: heading, what was compared with what, its
    tables and its reproduce box."""
    reported = paper["datasets"].get(record.dataset)
    over = (f"seed {seeds[0]}" if len(seeds) == 1 else
            f"mean ± sd over seeds {', '.join(map(str, seeds))}")
    against = f"paper: {reported['label']}" if reported else (
        "paper: no value for this dataset (our numbers only)")
    if reported and reported["profile"] != record.profile:
        against += f" (a `{reported['profile']}`-profile setting: compare with care)"
    notes = [f"*Ours: profile `{record.profile}`, {over} · {against}.*"]
    notes += [provenance_line(record)] if record.published else []
    changed = changed_settings(record)
    notes += [settings_line(record, changed)] if changed else []
    tables = (_grouped_tables(record, paper, reported) if "tables" in paper
              else _metric_table(record, paper, reported))
    parts = [f"## {setting_label(record)}", "", *(f"{n}\n" for n in notes), tables, ""]
    if "per_class" in paper:
        parts += [_per_class_table(record, paper, reported), ""]
    notebook = reproduce.notebook_path(record)
    template = f"/{methods.get(method).notebook}" if root else ""
    launch = reproduce.launch_links(root, method) if root else {}
    return parts + [reproduce.box(
        record, seeds, template=template, launch=launch,
        notebook=f"/{notebook}" if root and (root / notebook).exists() else ""), ""]


def _metric_table(record: RunRecord, paper: dict[str, Any], reported: dict | None) -> str:
    """Claim metrics beside the paper's (when `reported` is the same dataset), then the others."""
    compared = record.metrics.get("compared", {})
    present = [m for m in paper["compared"] if m in compared]

    def label(metric: str) -> str:
        return _label(paper["metrics"][metric])

    header, rows = ["model"], [[m] for m in present]
    for metric in claim_metrics(paper):
        header += [label(metric)] + (["paper", "Δ"] if reported else [])
        for row, model in zip(rows, present, strict=True):
            ours = compared[model].get(metric)
            row.append(ours)
            if reported:
                ref = reported["values"].get(model, {}).get(metric)
                row += [ref, None if ref is None or ours is None else ours - ref]
    others = [k for k in paper["metrics"] if k not in claim_metrics(paper)
              and any(k in compared[m] for m in present)]
    if not others:
        return markdown_table(header, rows)
    more = markdown_table(["model", *map(label, others)],
                          [[m, *(compared[m].get(k) for k in others)] for m in present
                           if any(k in compared[m] for k in others)])
    return markdown_table(header, rows) + "\n\nMore metrics (ours):\n\n" + more


def _grouped_tables(record: RunRecord, paper: dict[str, Any], reported: dict | None) -> str:
    """One table per entry of `paper["tables"]` (a title, its metrics, `ours_only` to leave
    the paper out), a row per model or setting, each metric beside the paper's value. A metric
    with a `paper_label` is not the same measurement on both sides: its paper column carries
    that label and no difference."""
    compared = record.metrics.get("compared", {})
    present = [m for m in paper["compared"] if m in compared] or list(compared)
    theirs = (reported or {}).get("values", {})
    blocks = []
    for table in paper["tables"]:
        header, rows = ["setting"], [[m] for m in present]
        for metric in table["metrics"]:
            info = paper["metrics"][metric]
            header.append(_label(info))
            paired = bool(reported) and not table.get("ours_only") and any(
                metric in v for v in theirs.values())
            if paired:
                header += [info.get("paper_label", "paper")] + ([] if "paper_label" in info
                                                                 else ["Δ"])
            for row, model in zip(rows, present, strict=True):
                ours = compared[model].get(metric)
                row.append(ours)
                if paired:
                    ref = theirs.get(model, {}).get(metric)
                    row.append(ref)
                    if "paper_label" not in info:
                        row.append(None if ref is None or ours is None else ours - ref)
        blocks.append(f"**{table['title']}**\n\n" + markdown_table(header, rows))
    return "\n\n".join(blocks)


def _per_class_table(record: RunRecord, paper: dict[str, Any], reported: dict | None) -> str:
    """One row per class (metrics named `<prefix><class>`), one column per model, plus the
    paper's `paper_model` column when the paper has this dataset."""
    per_class = paper["per_class"]
    prefix, paper_model = per_class["prefix"], per_class.get("paper_model")
    found = record.metrics.get("compared", {})
    compared = {m: found[m] for m in paper["compared"] if m in found}
    classes = list(dict.fromkeys(k[len(prefix):] for v in compared.values() for k in v
                                 if k.startswith(prefix)))
    theirs = (reported or {}).get("values", {}).get(paper_model, {}) if paper_model else {}
    header = ["normal class", *compared] + ([f"paper {paper_model}"] if theirs else [])
    rows = [[c, *(v.get(prefix + c) for v in compared.values())]
            + ([theirs.get(prefix + c)] if theirs else []) for c in classes]
    return f"{per_class['label']} per normal class (ours):\n\n" + markdown_table(header, rows)


def write_csv(path: Path, method: str, records: list[RunRecord]) -> Path:
    """Every number of a results page as CSV: a row per setting, model and metric (ours, over
    seeds their mean and sd) beside the paper's value for the same dataset, when the paper
    measured the same thing."""
    paper = papers.load(method)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(["setting", "dataset", "profile", "published", "seeds", "model", "metric",
                  "ours", "ours_sd", "paper"])
    for record, seeds in by_setting([r for r in records if r.status == "ok"]):
        theirs = paper["datasets"].get(record.dataset, {}).get("values", {})
        for model, values in record.metrics.get("compared", {}).items():
            for metric, value in values.items():
                if not _is_number(value):
                    continue
                comparable = "paper_label" not in paper["metrics"].get(metric, {})
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
            page = bench_page.page(found, root, root / RESULTS_DIR)
        else:
            figure, link = comparison_figure(name, found), None
            if figure is not None:
                link = f"/{RESULTS_DIR}/{plots.save(figure, root / RESULTS_DIR, name, '').name}"
                plt.close(figure)
            page = method_page(name, found, link, root)
            write_csv(root / RESULTS_DIR / f"{name}.csv", name, found)
            written.append(atomic_write_text(root / RESULTS_DIR / f"{name}-departures.md",
                                             departures(papers.load(name)) + "\n"))
        if unreadable:
            page += "\n## Unreadable records (skipped)\n\n" + "\n".join(
                f"- {message}" for message in unreadable) + "\n"
        written.append(atomic_write_text(root / RESULTS_DIR / f"{name}.md", page))
    written.append(atomic_write_text(root / RESULTS_DIR / "status.md", status_page(root, runs)))
    page, count = report(root, runs)
    written.append(atomic_write_text(root / RESULTS_DIR / "report.md", page))
    written.append(atomic_write_text(root / RESULTS_DIR / "verdicts.md", count))
    return written
