"""One run of the matrix: its notebook executed with papermill (the run's lock held), tidied
into a page of the book, and its outcome; and a completed run published into the book.

The notebook writes its own record (`records.from_run`, with the run key the runner passes in);
the runner only reads it, and writes a `failed` record when the notebook could not.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from glitchbook.errors import ConfigError, GlitchbookError
from glitchbook.run import records, reproduce
from glitchbook.run.plan import PlannedRun, RunSpec, is_done
from glitchbook.run.records import (
    PUBLISHED_DIR,
    RECORD_NAME,
    RunRecord,
    atomic_write_text,
    load,
    write,
)

# what a published run keeps: records, figures, tables and per-image scores; no weights
PUBLISHED_SUFFIXES = (".json", ".png", ".md", ".csv", ".npz")
CELL_TIMEOUT = {"smoke": 300, "default": 1800, "paper": 24 * 3600}  # seconds per cell
KERNEL_START_TRIES = 3
# the kernel logs errors only: not its start-up notices (its TCP transport warning)
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _subclasses(kind: type) -> list[type]:
    return [kind, *(k for sub in kind.__subclasses__() for k in _subclasses(sub))]


BAD_INPUT = frozenset(kind.__name__ for kind in _subclasses(GlitchbookError))


@dataclass
class Outcome:
    """What happened to one run; `kind` names the exception a failed run raised."""

    run: PlannedRun
    status: str  # ok | failed | skipped
    seconds: float = 0.0
    error: str | None = None
    peak_rss_mb: float | None = None
    kind: str | None = None

    @property
    def spec(self) -> RunSpec:
        return self.run.spec

    @property
    def bad_input(self) -> bool:
        """A failure that names something to fix in the input (a GlitchbookError inside the
        run: a value out of range, a NaN loss, a corrupted file)."""
        return self.status == "failed" and self.kind in BAD_INPUT


def describe(err: BaseException) -> tuple[str, str]:
    """(the exception's class name, a message for a person) of a run's failure: papermill's
    execution error stands for the notebook's own exception."""
    kind = getattr(err, "ename", None) or type(err).__name__
    if isinstance(err, GlitchbookError):
        return kind, str(err)
    return kind, f"{kind}: {getattr(err, 'evalue', None) or err}"


def failed(run: PlannedRun, started: records.Start, err: BaseException, *,
           keyed: bool = True) -> Outcome:
    """A failed run: its record written (the same `config` and `device` meaning as a
    completed one; without the run's key unless `keyed`) and its outcome."""
    kind, error = describe(err)
    records.from_run(run.run_dir, run.config, {}, started=started, device=run.spec.device,
                     run_key=run.key if keyed else None, options=run.spec.options, error=error)
    return Outcome(run, "failed", time.time() - started.time, error, kind=kind)


class _LastLine:
    """A file for papermill's copy of the kernel's output streams that hands the last line
    written (a progress bar's latest state) to `show`."""

    def __init__(self, show: Callable[[str], None]):
        self.show = show

    def write(self, text: str) -> None:
        lines = [part.strip() for part in re.split(r"[\r\n]", text) if part.strip()]
        if lines:
            self.show(lines[-1])

    def flush(self) -> None:
        pass


def _execute_notebook(run: PlannedRun, cell_timeout: float,
                      live: Callable[[str], None] | None = None) -> None:
    import papermill

    streams = dict.fromkeys(("stdout_file", "stderr_file"), _LastLine(live)) if live else {}
    for attempt in range(1, KERNEL_START_TRIES + 1):
        try:
            papermill.execute_notebook(
                str(run.template), str(run.notebook), parameters=run.parameters,
                kernel_name="python3", execution_timeout=cell_timeout, progress_bar=False,
                cwd=str(run.root), extra_arguments=KERNEL_ARGUMENTS, **streams)
            return
        except Exception as err:  # parallel kernels can collide on ZMQ ports at start-up
            if "Address already in use" not in str(err) or attempt == KERNEL_START_TRIES:
                raise
            time.sleep(0.5 * 2**attempt)


def execute(run: PlannedRun, *, force: bool = False, threads: int | None = None,
            cell_timeout: float | None = None,
            live: Callable[[str], None] | None = None) -> Outcome:
    """Run one planned run (resuming, recording failures); never raises for a bad run. Holds
    the run's lock throughout, so a second runner of the same run waits, then skips it.
    `threads` sets the kernel's thread count (0: every core; None: the environment's), which
    a Dask worker needs: its nanny caps the thread variables at 1. `live` is handed each
    latest line of the notebook's output (its progress bars) as the run goes."""
    started = records.start(run.root, now=True)  # the code it starts with, whatever comes later
    with _locked(run.notebook.with_suffix(".lock")):
        if not force and is_done(run):
            return Outcome(run, "skipped")
        if threads is not None:
            os.environ.update(dict.fromkeys(THREAD_VARIABLES, str(threads or os.cpu_count() or 1)))
        try:
            (run.run_dir / RECORD_NAME).unlink(missing_ok=True)
            run.run_dir.mkdir(parents=True, exist_ok=True)
            _execute_notebook(run, cell_timeout or CELL_TIMEOUT[run.spec.profile], live)
            record = load(run.run_dir / RECORD_NAME)
            _tidy(run, record)
        except Exception as err:  # noqa: BLE001 - every failure becomes a failed record
            return failed(run, started, err)
    return Outcome(run, "ok", record.timings["wall_seconds"], None,
                   record.timings.get("kernel_peak_rss_mb"))


def publish(run: PlannedRun) -> Path:
    """Copy a completed run into `book/published/<method>/` (the executed notebook, the record
    and the run's figures and tables, no checkpoints), where the book shows it beside the
    runs of `book/runs/`; returns the published run directory."""
    record = load(run.run_dir / RECORD_NAME)
    if record.status != "ok":
        raise ConfigError(f"{run.label} has no completed run to publish: {record.error}")
    dest = run.root / PUBLISHED_DIR / run.spec.method / run.run_dir.name
    if dest.exists():
        shutil.rmtree(dest)
    for path in sorted(run.run_dir.rglob("*")):
        if path.is_file() and path.suffix in PUBLISHED_SUFFIXES and path.name != RECORD_NAME:
            target = dest / path.relative_to(run.run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    dest.with_suffix(".ipynb").write_text(repo_relative(run.notebook.read_text(), run.root))
    record.published = time.strftime("%Y-%m-%d")
    write(dest, record)
    return dest


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created if missing) for as long as the block runs; the
    operating system releases it when the holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _tidy(run: PlannedRun, record: RunRecord) -> None:
    """Give an executed notebook its own page title (the template's first heading is generic),
    the reproduce box of its record under the title, its progress bars as a terminal would
    leave them (`settle_streams`) and its paths relative to the repository."""
    import nbformat

    nb = nbformat.read(run.notebook, as_version=4)
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "markdown" and first.source.startswith("# "):
        first.source = "\n".join([f"# {run.title}", *first.source.splitlines()[1:]])
    box = reproduce.box(record, notebook=run.notebook.name,
                        template=os.path.relpath(run.template, run.notebook.parent),
                        launch=reproduce.launch_links(run.root, run.spec.method))
    nb.cells.insert(1 if first is not None and first.cell_type == "markdown" else 0,
                    nbformat.v4.new_markdown_cell(box))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = settle_streams(cell.outputs)
    atomic_write_text(run.notebook, repo_relative(nbformat.writes(nb), run.root))


def repo_relative(text: str, root: Path) -> str:
    """`text` with the paths under `root` written relative to it: the paths of a notebook
    (its parameters, papermill's metadata, printed output) as the repository sees them, not
    as the machine that ran it does."""
    return text.replace(f"{root}/", "").replace(str(root), ".")


def settle_streams(outputs: list) -> list:
    """Merge consecutive outputs of one stream and keep, on each line, what follows its last
    carriage return: a progress bar's final state instead of every redraw."""
    settled: list = []
    for out in outputs:
        last = settled[-1] if settled else None
        if (out.get("output_type") == "stream" and last is not None
                and last.get("output_type") == "stream" and last["name"] == out["name"]):
            last["text"] += out["text"]
        else:
            settled.append(out)
    for out in settled:
        if out.get("output_type") == "stream":
            out["text"] = "\n".join(([part for part in line.split("\r") if part] or [""])[-1]
                                    for line in out["text"].split("\n"))
    return settled


def summary(outcomes: list[Outcome]) -> str:
    """A plain-text table of the outcomes, failures with their reasons."""
    lines = [f"{'run':32s} {'status':8s} {'seconds':>8s}"]
    for o in outcomes:
        lines.append(f"{o.spec.label:32s} {o.status:8s} {o.seconds:8.1f}")
        if o.error:
            lines.append(f"    {o.error}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "failed")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)
