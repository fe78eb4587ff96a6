"""The "reproduce this" box of a run page and of each results table: the exact commands that
make the run again, and what it ran on (commit, config hash, device, wall time, memory,
package versions), as a collapsed MyST admonition."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from glitchbook import methods
from glitchbook.run.plan import RunSpec, paths
from glitchbook.run.records import PUBLISHED_DIR, RUNS_DIR, RunRecord, duration


def run_command(record: RunRecord, seeds: list[int] | None = None) -> str:
    """The `glitchbook run` command of the record's run (or of all `seeds` of its setting)."""
    seeds = seeds or [record.seed]
    words = ["glitchbook", "run", "--methods", record.method, "--datasets", record.dataset,
             "--profile", record.profile, "--seeds", ",".join(map(str, seeds)),
             "--device", device_option(record)]
    for key, value in record.options.items():
        words += ["-p", f"{key}={value}"]
    return shlex.join(words)


def _spec(record: RunRecord) -> RunSpec:
    return RunSpec(record.method, record.dataset, record.profile, record.seed,
                   device_option(record), dict(record.options))


def device_option(record: RunRecord) -> str:
    """The `--device` that runs it again: the record's device without the GPU's name."""
    return record.device.split(" (")[0]


def notebook_path(record: RunRecord) -> Path:
    """The executed notebook of the record's run, relative to the repository: under
    `book/published/` for a published run, else under `book/runs/`."""
    out, _ = paths(_spec(record), Path("."))
    return PUBLISHED_DIR / out.relative_to(RUNS_DIR) if record.published else out


def papermill_command(record: RunRecord) -> str:
    """The `papermill` command that executes the record's notebook alone, run directory
    relative to the repository."""
    spec = _spec(record)
    out, run_dir = paths(spec, Path("."))
    words = ["papermill", methods.get(record.method).notebook, str(out)]
    for key, value in spec.parameters(run_dir).items():
        words += ["-p", key, str(value)]
    return shlex.join(words)


def _memory(megabytes: float | None) -> str:
    if megabytes is None:
        return "not recorded"
    return f"{megabytes / 1024:.1f} GB" if megabytes >= 1024 else f"{megabytes:.0f} MB"


def launch_links(root: str | Path, method: str) -> dict[str, str]:
    """Binder and Colab links that open `method`'s template notebook, from `_config.yml`'s
    `repository` (a GitHub `url` and its `branch`); none when it names no GitHub repository."""
    path = Path(root) / "_config.yml"
    repository = (yaml.safe_load(path.read_text()) or {}).get("repository", {}) if (
        path.exists()) else {}
    found = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?",
                         str(repository.get("url", "")))
    if not found:
        return {}
    slug, branch = f"{found[1]}/{found[2]}", repository.get("branch", "main")
    notebook = methods.get(method).notebook
    return {"Binder": f"https://mybinder.org/v2/gh/{slug}/{branch}?labpath={notebook}",
            "Colab": f"https://colab.research.google.com/github/{slug}/blob/{branch}/{notebook}"}


def box(record: RunRecord, seeds: list[int] | None = None, *, notebook: str = "",
        template: str = "", launch: dict[str, str] | None = None) -> str:
    """The collapsed admonition: the commands, downloads of the executed `notebook` and its
    `template` (paths as the page links them), `launch` links, then what the run was made
    with."""
    several = seeds is not None and len(seeds) > 1
    versions = ", ".join(f"{k} {v}" for k, v in record.versions.items())
    seed_note = (f"once per seed (`-p seed N` for {', '.join(map(str, seeds))})" if several
                 else "")
    downloads = [f"{{download}}`{label} <{path}>`" for label, path in
                 (("the executed notebook", notebook), ("its template", template)) if path]
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
        *([f"- download: {' · '.join(downloads)}"] if downloads else []),
        *(["- open the template in " + " · ".join(f"[{k}]({v})" for k, v in launch.items())]
          if launch else []),
        f"- commit: `{record.commit or 'unknown'}`",
        f"- config hash: `{record.config_hash}`",
        f"- profile `{record.profile}`, seed{'s' if several else ''} "
        f"{', '.join(map(str, seeds or [record.seed]))}",
        f"- device: `{record.device}`" + (f" ({record.machine})" if record.machine else ""),
        f"- wall time: {duration(record.timings.get('wall_seconds'))}",
        f"- peak memory of the notebook's kernel: "
        f"{_memory(record.timings.get('kernel_peak_rss_mb'))}",
        f"- packages: {versions}",
        "````",
    ]
    return "\n".join(lines) + "\n"
