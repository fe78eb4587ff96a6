"""The state of every run, as `glitchbook status` prints it and the book's status page shows
it: settings changed from the profile's preset, state, wall time, device, failure."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from glitchbook import methods
from glitchbook.errors import GlitchbookError
from glitchbook.pages.tables import markdown_table
from glitchbook.run.records import RunRecord, duration, load_book


@cache
def preset(method: str, dataset: str, profile: str) -> dict[str, Any] | None:
    """The settings a run of `method` on `dataset` under `profile` gets from the preset, as the
    method defines it now and as a record stores them (tuples as lists); None for a dataset or
    method this checkout no longer knows. Made once per setting, however many pages ask."""
    try:
        config = methods.get(method).module.from_parameters(dataset, profile)
    except GlitchbookError:
        return None
    return json.loads(json.dumps(config.as_dict()))


def changed_settings(record: RunRecord) -> dict[str, tuple[Any, Any]]:
    """The settings of a run (its record's config) that differ from its profile's preset:
    name -> (the run's value, the preset's)."""
    settings = preset(record.method, record.dataset, record.profile) or {}
    return {k: (v, settings[k]) for k, v in record.config.items()
            if k != "seed" and k in settings and v != settings[k]}


def settings_line(record: RunRecord, changed: dict[str, tuple[Any, Any]]) -> str:
    """One line naming each setting `changed` from the profile's preset."""
    named = ", ".join(f"`{k}` {setting_value(ours)} (preset {setting_value(theirs)})"
                      for k, (ours, theirs) in changed.items())
    return f"*Changed from the `{record.profile}` profile: {named}.*"


def setting_value(value: Any) -> str:
    """A setting's value as written in a page: text as it is, else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def provenance_line(record: RunRecord) -> str:
    """Where and how a published run was made: commit, device, machine, wall time."""
    seconds = record.timings.get("wall_seconds")
    took = "" if seconds is None else f", {duration(seconds)}"
    return (f"*Published run {record.published}: commit `{record.commit or 'unknown'}`, device "
            f"`{record.device}`, {record.machine or 'machine not recorded'}{took}; "
            f"torch {record.versions.get('torch', '?')}.*")


def status_table(found: list[RunRecord]) -> str:
    """Every run's state as a Markdown table: its settings changed from the profile's preset,
    status, wall time, device, when written and published, and the failure if any."""
    rows = [[r.method, r.dataset, r.profile,
             ", ".join(f"{k}={setting_value(v)}" for k, (v, _) in changed_settings(r).items()),
             r.seed, r.status, duration(r.timings.get("wall_seconds")), r.device,
             r.created[:16].replace("T", " "), r.published or "no",
             r.error.splitlines()[0][:80] if r.error else ""] for r in found]
    return markdown_table(["method", "dataset", "profile", "changed settings", "seed", "status",
                           "wall time", "device", "written", "published", "failure"], rows)


def status_page(root: str | Path = ".", runs: str | Path | None = None) -> str:
    """The book's status page body: the table of every record, and the unreadable ones."""
    unreadable: list[str] = []
    found = load_book(root, runs=runs, unreadable=unreadable)
    page = status_table(found) if found else "No run records yet: `glitchbook run`."
    if unreadable:
        page += "\n\n**Unreadable records (skipped):**\n\n" + "\n".join(
            f"- {message}" for message in unreadable)
    return page + "\n"


def setting_label(record: RunRecord) -> str:
    """'mnist (paper, published, nf=1, pair=5v3)': dataset, profile, and `-p` parameters."""
    extra = "".join(f", {k}={v}" for k, v in sorted(record.options.items()))
    return (f"{record.dataset} ({record.profile}{', published' if record.published else ''}"
            f"{extra})")
