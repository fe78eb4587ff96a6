"""The method x dataset matrix, executed with papermill into `book/runs/`: one run after
another in this process, or as tasks of a Dask cluster (`scheduler`), a local one or an existing
one shared over the network; with a progress bar over the whole matrix.

Each run executes `notebooks/<method>.ipynb` into `book/runs/<method>/<dataset>.ipynb`; the
notebook writes `book/runs/<method>/<dataset>/record.json` and its figures. Runs whose record is
`ok` with the same run key (parameters and notebook content) are skipped, so an interrupted
matrix resumes where it stopped. A failing run keeps its notebook and gets a `failed` record
with the reason; the rest of the matrix goes on. Every run is checked (names, types, ranges,
device, data) and planned before any starts (`plan.plan`); a lock per run keeps two runners of
one run directory from mixing their outputs (`execute.execute`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from glitchbook.errors import ConfigError
from glitchbook.run import records
from glitchbook.run.execute import Outcome, execute, failed
from glitchbook.run.plan import PlannedRun, RunSpec, plan
from glitchbook.training import resolve_device

CONNECT_TIMEOUT = "20s"  # to reach an existing Dask scheduler
# Cores one run is given when runs go side by side (`--jobs auto`): torch runs a run almost
# twice as fast on two cores as on one, and two runs sharing two cores took longer than the
# same runs one after another (measured: see "Reproducing the book").
CORES_PER_RUN = 2
WORKER_LOSSES = 2  # a run whose worker dies this many times ends as a failed record


def auto_jobs(cores: int | None = None, runs: int | None = None) -> int:
    """How many runs go at once for `--jobs auto`: one per CORES_PER_RUN cores of the machine
    (`cores`, default all of them), at least one and at most one per run; each is then given
    an equal share of the cores as its torch threads. Two cores: one run at a time."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(cores // CORES_PER_RUN, runs or cores))


def run_matrix(specs: list[RunSpec], root: str | Path = ".", *, jobs: int = 1,
               scheduler: str | None = None, force: bool = False, progress: bool = True,
               cell_timeout: float | None = None) -> list[Outcome]:
    """Execute `specs` and return their outcomes, in the same order: one after another in
    this process, or on Dask (`scheduler` "local[:N]" or "tcp://host:port"; "local:<jobs>" when
    `jobs` > 1). Everything is checked first: a bad input raises before any run starts."""
    root = Path(root).resolve()
    if scheduler is None and jobs > 1:
        scheduler = f"local:{jobs}"
    view = _Progress(len(specs), enabled=progress)
    if scheduler is None:
        outcomes = []
        for run in plan(specs, root):
            view.running(1)
            outcomes.append(execute(run, force=force, cell_timeout=cell_timeout,
                                    live=view.live(run.spec)))
            view.done(outcomes[-1])
    else:
        with _dask_client(scheduler, specs, root) as (client, threads, runs):
            outcomes = _run_on_dask(client, runs, root, force, threads, cell_timeout,
                                    view)
    view.close()
    return outcomes


class _Progress:
    """The matrix as a tqdm bar: runs done of all, elapsed and ETA, and how many are ok,
    skipped, failed and running."""

    def __init__(self, total: int, enabled: bool):
        self.counts = dict.fromkeys(("ok", "skipped", "failed", "running"), 0)
        self.bar = tqdm(total=total, desc="matrix", unit="run", disable=not enabled)
        self.tty, self.shown, self.drawn = sys.stderr.isatty(), "", time.monotonic()
        # on a terminal, a second line under the bar: the current run's latest output line
        self.line = tqdm(total=0, position=1, bar_format="{desc}", leave=False,
                         disable=not (enabled and self.tty))
        self.line_drawn = 0.0

    def live(self, spec: RunSpec) -> Callable[[str], None] | None:
        """What shows `spec`'s latest output line under the bar (None when nothing shows)."""
        if self.line.disable:
            return None
        started = time.monotonic()

        def show(text: str) -> None:
            now = time.monotonic()
            if now - self.line_drawn > 0.25:  # redraw at most four times a second
                width = shutil.get_terminal_size().columns - 1
                elapsed = tqdm.format_interval(now - started)
                text = re.sub(r"\|[^|]*\| ", " ", text)  # a bar's drawing: its numbers say it
                self.line.set_description_str(f"{spec.label} [{elapsed}] {text}"[:width])
                self.line_drawn = now

        self.line_drawn = 0.0
        show("starting its kernel")
        return show

    def running(self, n: int) -> None:
        self.counts["running"] = n
        self._show()

    def done(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        self.bar.update()
        if outcome.status == "failed" and not self.bar.disable:
            self.bar.write(f"failed: {outcome.spec.label}: {outcome.error}")
        self._show()

    def _show(self) -> None:
        """Redraw on a change, and each second on a terminal (for the elapsed time)."""
        text = " · ".join(f"{k} {v}" for k, v in self.counts.items())
        if text != self.shown or (self.tty and time.monotonic() - self.drawn > 1):
            self.bar.set_postfix_str(text)
            self.shown, self.drawn = text, time.monotonic()

    def close(self) -> None:
        self.running(0)
        self.line.close()
        self.bar.close()


@contextlib.contextmanager
def _dask_client(scheduler: str, specs: list[RunSpec],
                 root: Path) -> Iterator[tuple[Any, int | None, list[PlannedRun]]]:
    """A Dask client, the threads each run may use and the planned runs: on a new LocalCluster
    of N single-threaded worker processes (each given a `GPU` resource when this machine has CUDA)
    for "local[:N]", else on the cluster at `scheduler`. Runs are checked before a local
    cluster starts, and against the remote workers' resources (a `cuda` run needs a worker
    with a `GPU` resource)."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": WORKER_LOSSES - 1,
                          "distributed.nanny.pre-spawn-environ": {},  # no caps: see execute
                          "distributed.worker.profile.enabled": False}):  # cores to the kernels
        if scheduler == "local" or scheduler.startswith("local:"):
            workers = _local_workers(scheduler, len(specs))
            runs = plan(specs, root)
            gpu = {"GPU": 1} if resolve_device("auto").type == "cuda" else None
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   memory_limit=0, dashboard_address=None, resources=gpu,
                                   silence_logs=logging.ERROR)
            with cluster, Client(cluster) as client:
                yield client, max(1, (os.cpu_count() or 1) // workers), runs
        elif scheduler.startswith("tcp://"):
            try:
                client = Client(scheduler, timeout=CONNECT_TIMEOUT)
            except OSError as err:  # distributed's connect timeout is an OSError too
                raise ConfigError(f"cannot reach the Dask scheduler at {scheduler} ({err}); "
                                  f"start one with `dask scheduler`, or use --scheduler local:N"
                                  ) from err
            with client:
                info = client.scheduler_info()["workers"].values()
                runs = plan(specs, root, local_device=False)
                if any(s.device == "cuda" for s in specs) and not any(
                        w.get("resources", {}).get("GPU") for w in info):
                    raise ConfigError(f"runs on device 'cuda' need a worker with a GPU resource; "
                                      f"no worker of {scheduler} has one (start GPU workers "
                                      f"with: dask worker {scheduler} --resources GPU=1)")
                yield client, 0, runs
        else:
            raise ConfigError(f"unknown scheduler {scheduler!r}; use local, local:N or "
                              f"tcp://host:port")


def _local_workers(scheduler: str, runs: int) -> int:
    """N of "local:N" (default: one worker per core, at most one per run)."""
    text = scheduler.partition(":")[2]
    if not text:
        return max(1, min(os.cpu_count() or 1, runs))
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"scheduler {scheduler!r}: N in local:N must be a positive integer")
    return int(text)


def _run_on_dask(client: Any, runs: list[PlannedRun], root: Path, force: bool,
                 threads: int | None, cell_timeout: float | None,
                 view: _Progress) -> list[Outcome]:
    """Each run one task (impure: the same parameters twice are two runs); a task whose worker
    dies is retried on another worker, and ends as a failed record after WORKER_LOSSES deaths."""
    from distributed import as_completed

    started = records.start(root, now=True)
    futures = {client.submit(execute, run, force=force, threads=threads,
                             cell_timeout=cell_timeout, pure=False,
                             resources={"GPU": 1} if run.spec.device == "cuda" else None): i
               for i, run in enumerate(runs)}
    outcomes: list[Outcome] = [None] * len(runs)  # type: ignore[list-item]
    slots = sum(client.nthreads().values())
    queue = as_completed(futures)
    while not queue.is_empty():
        for future in queue.next_batch(block=False):
            i = futures.pop(future)
            try:
                outcomes[i] = future.result()
            except Exception as err:  # noqa: BLE001 - a worker lost too often, a cancelled task
                outcomes[i] = failed(runs[i], started, err, keyed=False)
            view.done(outcomes[i])
        busy = {key for keys in client.processing().values() for key in keys}
        view.running(min(sum(f.key in busy for f in futures), slots))
        time.sleep(0.2)
    return outcomes
