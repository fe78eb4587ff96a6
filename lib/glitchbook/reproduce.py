"""The "reproduce this" box of a run page and of each results table: the exact commands that
make the run again, and what it ran on (commit, config hash, device, wall time, memory,
package versions), as a collapsed MyST admonition."""

from __future__ import annotations

import shlex
from pathlib import Path

from glitchbook.records import RunRecord, duration
from glitchbook.runner import RunSpec, paths


def run_command(record: RunRecord, seeds: list[int] | None = None) -> str:
    """The `glitchbook run` command of the record's run (or of all `seeds` of its setting)."""
    seeds = seeds or [record.seed]
    words = ["glitchbook", "run", "--methods", record.method, "--datasets", record.dataset,
             "--profile", record.profile, "--seeds", ",".join(map(str, seeds)),
             "--device", record.device]
    for key, value in record.options.items():
        words += ["-p", f"{key}={value}"]
    return shlex.join(words)


def papermill_command(record: RunRecord) -> str:
    """The `papermill` command that executes the record's notebook alone, run directory
    relative to the repository."""
    spec = RunSpec(record.method, record.dataset, record.profile, record.seed, record.device,
                   dict(record.options))
    out, run_dir = paths(spec, Path("."))
    words = ["papermill", f"notebooks/{record.method}.ipynb", str(out)]
    for key, value in spec.parameters(run_dir).items():
        words += ["-p", key, str(value)]
    return shlex.join(words)


def _memory(megabytes: float | None) -> str:
    if megabytes is None:
        return "not recorded"
    return f"{megabytes / 1024:.1f} GB" if megabytes >= 1024 else f"{megabytes:.0f} MB"


def box(record: RunRecord, seeds: list[int] | None = None, wall: str = "") -> str:
    """The collapsed admonition: the commands, then what the run was made with. `wall` is its
    wall time as text (the caller's rounding)."""
    several = seeds is not None and len(seeds) > 1
    versions = ", ".join(f"{k} {v}" for k, v in record.versions.items())
    seed_note = (f"once per seed (`-p seed N` for {', '.join(map(str, seeds))})" if several
                 else "")
    lines = [
        "````{admonition} Reproduce " + ("these runs" if several else "this run"),
        ":class: dropdown",
        "",
        "```bash",
        run_command(record, seeds),
        "```",
        "",
        f"or the notebook alone with papermill{', ' + seed_note if seed_note else ''}:",
        "",
        "```bash",
        papermill_command(record),
        "```",
        "",
        f"- commit: `{record.commit or 'unknown'}`",
        f"- config hash: `{record.config_hash}`",
        f"- profile `{record.profile}`, seed{'s' if several else ''} "
        f"{', '.join(map(str, seeds or [record.seed]))}",
        f"- device: `{record.device}`" + (f" ({record.machine})" if record.machine else ""),
        f"- wall time: {wall or duration(record.timings.get('wall_seconds'))}",
        f"- peak memory of the notebook's kernel: "
        f"{_memory(record.timings.get('kernel_peak_rss_mb'))}",
        f"- packages: {versions}",
        "````",
    ]
    return "\n".join(lines) + "\n"
