"""Time every run of the matrix: wall time, peak kernel memory and training throughput.

    python benchmarks/bench.py --profiles smoke,default [--methods clsvae] [--device auto]

Runs are forced (never resumed) in a scratch copy of the notebooks, one at a time, so the book's
own runs are untouched and timings do not compete for cores. Prints a Markdown table and writes
it to benchmarks/results/.
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

from glitchbook import methods, records, runner
from glitchbook.results import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="smoke,default")
    parser.add_argument("--methods", default=",".join(methods.METHODS))
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        shutil.copytree(ROOT / "notebooks", Path(scratch) / "notebooks")
        for profile in args.profiles.split(","):
            specs = runner.plan(args.methods.split(","), None, profile, device=args.device)
            for outcome in runner.run_matrix(specs, scratch, jobs=1, force=True):
                row = [outcome.spec.label, profile, outcome.status]
                if outcome.status == "ok":
                    rec = records.load(runner.paths(outcome.spec, Path(scratch))[1])
                    t = rec.timings
                    row += [t["wall_seconds"], t["train_seconds"], t["kernel_peak_rss_mb"],
                            t.get("samples_per_second"), t.get("gan_iterations_per_second"),
                            rec.device]
                else:
                    row += [None] * 5 + [outcome.error]
                rows.append(row)
    header = ["run", "profile", "status", "wall s", "train s", "peak RSS MB",
              "train samples/s (mean over models)", "GAN it/s", "device"]
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    table = f"Machine: {machine}\n\n" + markdown_table(header, rows)
    print(table)
    out = ROOT / "benchmarks/results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")


if __name__ == "__main__":
    main()
