"""The reproducibility report: every claim of the five papers as a card (the claim, the paper's
number, ours with its interval for each dataset and profile, the seeds, the verdict, the device
and wall time), then what was not reproduced and why, and the departures that could change a
verdict; its first line counts the verdicts, and the book's intro shows that line."""

from __future__ import annotations

from pathlib import Path

from glitchbook import methods, papers
from glitchbook.pages import verdicts
from glitchbook.pages.tables import by_setting
from glitchbook.run.records import load_book


def report(root: str | Path = ".", runs: str | Path | None = None) -> tuple[str, str]:
    """(the report page's body, its first line: the count of the verdicts) from the records of
    the book (`book/runs`, or `runs`, and `book/published`)."""
    parts, judged = [], []
    for name, method in methods.METHODS.items():
        if not method.paper:
            continue
        paper = papers.load(name)
        settings = by_setting([r for r in load_book(root, name, runs=runs) if r.status == "ok"])
        judged += [j for record, _ in settings
                   for j in verdicts.judge(paper, record.metrics.get("claims"))]
        parts += [f"## {method.title}", "", f"*{paper['paper']}*. Results page: "
                  f"[{name}]({name}/results.md).", "",
                  verdicts.cards(paper, settings) if settings else "*No completed runs yet.*", "",
                  "**Not reproduced, and why**", "",
                  *(f"- {item['what']}: {item['why']}." for item in paper["not_reproduced"]), "",
                  "**Departures that could change a verdict**", "",
                  *(f"- {d['what']}" for d in paper["departures"] if d.get("verdict")), ""]
    count = verdicts.count_line(judged)
    body = [count, "", verdicts.RULE, "", "A row per dataset and profile: the book's own runs "
            "(this build's) and the published ones (`paper` profile, committed with the book). "
            "A claim checked per setting or per model has a row for each.", "", *parts]
    return "\n".join(body).rstrip() + "\n", count + "\n"
