"""Time the matrix: each run (wall time, peak kernel memory, training throughput), the whole
book, and the Dask runner against running the same notebooks one after another.

    python benchmarks/timings.py --profiles smoke,default --modes sequential,local:1,local:2

For each profile and mode the matrix is forced (never resumed) in a fresh scratch copy of the
book's sources, so the book's own runs are untouched; the sequential mode also builds the book
there (the full book time). `local:1` against `sequential` is the Dask runner's overhead,
`local:2` the speed-up of two local workers. Prints Markdown and writes it to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from glitchbook import methods, papers
from glitchbook.cli import main as glitchbook
from glitchbook.pages import verdicts
from glitchbook.pages.tables import markdown_table
from glitchbook.run import execute, matrix, plan, records

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("_config.yml", "_toc.yml", "notebooks", "book", "benchmarks")


def scratch_copy(dest: Path, sources: Path = ROOT) -> Path:
    """The book's sources (of the checkout at `sources`) without its runs."""
    for name in SOURCES:
        if (sources / name).is_dir():
            shutil.copytree(sources / name, dest / name, ignore=shutil.ignore_patterns("runs"))
        else:
            shutil.copy(sources / name, dest / name)
    return dest


def run_rows(outcomes: list[execute.Outcome], profile: str) -> list[list]:
    """One row per run: its timings from the record, or its failure."""
    rows = []
    for outcome in outcomes:
        row = [outcome.spec.label, profile, outcome.status]
        if outcome.status == "ok":
            rec = records.load(outcome.run.run_dir)
            t = rec.timings
            row += [t["wall_seconds"], t.get("train_seconds"), t.get("kernel_peak_rss_mb"),
                    t.get("samples_per_second"), t.get("gan_iterations_per_second"), rec.device]
        else:
            row += [None] * 5 + [outcome.error]
        rows.append(row)
    return rows


def verdict_rows(outcomes: list[execute.Outcome]) -> list[list]:
    """One row per claim (and scope) of each completed run of a paper: its verdict and why."""
    rows = []
    for outcome in outcomes:
        if outcome.status != "ok" or not methods.get(outcome.spec.method).paper:
            continue
        record = records.load(outcome.run.run_dir)
        for j in verdicts.judge(papers.load(record.method), record.metrics.get("claims")):
            rows.append([outcome.spec.label, f"{j.number}{f' · {j.scope}' if j.scope else ''}",
                         j.verdict, j.reason])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="smoke,default")
    parser.add_argument("--modes", default="sequential,local:1,local:2",
                        help="sequential and/or Dask schedulers (local:N, tcp://...)")
    parser.add_argument("--methods", default=",".join(methods.METHODS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sources", type=Path, default=ROOT,
                        help="the checkout whose notebooks and book are run (default: this one)")
    args = parser.parse_args()
    modes = args.modes.split(",")
    per_run, per_mode, notes, judged = [], [], [], []
    for profile in args.profiles.split(","):
        cells = plan.specs(args.methods.split(","), None, profile, device=args.device)
        walls: dict[str, float] = {}
        for mode in modes:
            with tempfile.TemporaryDirectory() as scratch:
                root = scratch_copy(Path(scratch), args.sources)
                start = time.perf_counter()
                outcomes = matrix.run_matrix(
                    cells, root, force=True, scheduler=None if mode == "sequential" else mode)
                walls[mode] = time.perf_counter() - start
                ok = sum(o.status == "ok" for o in outcomes)
                row = [profile, mode, f"{ok}/{len(outcomes)}", walls[mode],
                       sum(o.seconds for o in outcomes)]
                if mode == "sequential":
                    per_run += run_rows(outcomes, profile)
                    judged += verdict_rows(outcomes)
                    start = time.perf_counter()
                    built = glitchbook(["book", "--root", str(root)]) == 0
                    build = time.perf_counter() - start
                    row += [build if built else "failed", walls[mode] + build]
                else:
                    row += [None, None]
                per_mode.append(row)
        if "sequential" in walls:
            base = walls["sequential"]
            for mode, wall in walls.items():
                if mode == "local:1":
                    notes.append(f"{profile}: Dask overhead (local:1 against sequential): "
                                 f"{100 * (wall / base - 1):+.1f} %")
                elif mode != "sequential":
                    notes.append(f"{profile}: speed-up with {mode}: {base / wall:.2f}x")
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    text = "\n\n".join([
        f"Machine: {machine}",
        markdown_table(["profile", "mode", "runs ok", "matrix wall s", "sum of run walls s",
                        "book build s", "book total s"], per_mode),
        "\n".join(f"- {note}" for note in notes),
        "Runs (sequential mode):",
        markdown_table(["run", "profile", "status", "wall s", "train s", "peak RSS MB",
                        "train samples/s (mean over models)", "GAN it/s", "device"], per_run),
        "Verdicts (sequential mode):",
        markdown_table(["run", "claim", "verdict", "why"], judged)])
    print(text)
    out = args.sources / "benchmarks/results" / f"timings-{time.strftime('%Y%m%d-%H%M%S')}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
