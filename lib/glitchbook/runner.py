"""The method x dataset matrix, executed with papermill into `book/runs/`.

Each run executes `notebooks/<method>.ipynb` into `book/runs/<method>/<dataset>.ipynb`; the
notebook writes `book/runs/<method>/<dataset>/record.json` and its figures. Runs whose record is
`ok` with the same run key (parameters and notebook content) are skipped, so an interrupted
matrix resumes where it stopped. A failing run keeps its notebook and gets a `failed` record
with the reason; the rest of the matrix goes on. Every run is checked (names, types, ranges,
device, data) before any starts. Runs execute one after another in this process, or as tasks of
a Dask cluster (`scheduler`): a local one or an existing one shared over the network; a lock
per run keeps two runners of one run directory from mixing their outputs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from glitchbook import datasets, methods
from glitchbook.config import check_profile, config_hash
from glitchbook.errors import ChecksumError, ConfigError, GlitchbookError
from glitchbook.records import (
    PUBLISHED_DIR,
    RECORD_NAME,
    RUNS_DIR,
    RunRecord,
    atomic_write_text,
    git_commit,
    load,
    machine,
    write,
)
from glitchbook.training import resolve_device

PUBLISHED_SUFFIXES = (".json", ".png", ".md", ".csv")  # what a published run keeps: no weights
CELL_TIMEOUT = {"smoke": 300, "default": 1800, "paper": 24 * 3600}  # seconds per cell
KERNEL_START_TRIES = 3
# the kernel logs errors only: not its start-up notices (its TCP transport warning)
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
CONNECT_TIMEOUT = "20s"  # to reach an existing Dask scheduler
WORKER_LOSSES = 2  # a run whose worker dies this many times ends as a failed record
BAD_INPUT = tuple(kind.__name__ for kind in GlitchbookError.__subclasses__())


@dataclass(frozen=True)
class RunSpec:
    """One cell of the matrix."""

    method: str
    dataset: str
    profile: str = "default"
    seed: int = 0
    device: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)

    def parameters(self, run_dir: Path) -> dict[str, Any]:
        return {"dataset": self.dataset, "profile": self.profile, "device": self.device,
                "seed": self.seed, "run_dir": str(run_dir), **self.options}

    @property
    def label(self) -> str:
        return f"{self.method}/{self.dataset}" + (f" seed {self.seed}" if self.seed else "")


@dataclass
class Outcome:
    """What happened to one run."""

    spec: RunSpec
    status: str  # ok | failed | skipped
    seconds: float = 0.0
    error: str | None = None
    peak_rss_mb: float | None = None

    @property
    def bad_input(self) -> bool:
        """A failure that names something to fix in the input (a GlitchbookError inside the
        run: a value out of range, a NaN loss, a corrupted file)."""
        return self.status == "failed" and (self.error or "").split(":")[0] in BAD_INPUT


def paths(spec: RunSpec, root: Path) -> tuple[Path, Path]:
    """(executed notebook, run directory) of `spec` under `root`: named by the dataset (a
    `folder:<path>` by its path), then `_<key>-<value>` for each extra parameter and `_seed<N>`
    for seeds other than 0; every character but letters, digits, '.' and '-' becomes '_'."""
    base = root / RUNS_DIR / spec.method
    name = spec.dataset + "".join(f"_{k}-{v}" for k, v in sorted(spec.options.items()))
    name = re.sub(r"[^A-Za-z0-9.-]", "_", name).strip("_")
    name += f"_seed{spec.seed}" if spec.seed else ""
    return base / f"{name}.ipynb", base / name


def notebook_parameters(notebook: Path) -> dict[str, Any]:
    """The parameters a notebook declares in its `parameters` cell (papermill's inspection)."""
    import papermill

    return papermill.inspect_notebook(str(notebook))


def validate(spec: RunSpec, root: Path, *, local_device: bool = True) -> Path:
    """Check method, dataset, profile, parameter names, values (through the method's own
    config) and, unless the runs go to another machine, the device, before anything runs;
    return the template notebook. papermill itself only warns on unknown parameters."""
    method = methods.get(spec.method)
    datasets.spec(spec.dataset)
    check_profile(spec.profile)
    if local_device:
        resolve_device(spec.device)
    elif spec.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown device {spec.device!r}; use 'auto', 'cpu' or 'cuda'")
    template = root / method.notebook
    if not template.exists():
        raise ConfigError(f"notebook {template} not found; run from the repository root")
    declared = notebook_parameters(template)
    unknown = sorted(set(spec.parameters(Path("."))) - set(declared))
    if unknown:
        raise ConfigError(f"{spec.method}: unknown parameter(s) {unknown}; the notebook takes "
                          f"{', '.join(declared)}")
    method.module.from_parameters(spec.dataset, spec.profile, spec.seed, **spec.options)
    return template


def preflight(specs: list[RunSpec], root: Path, *, local_device: bool = True) -> None:
    """Validate every run and make every dataset available (downloaded and verified once,
    here); the first problem is a GlitchbookError and nothing has been written."""
    for spec in specs:
        validate(spec, root, local_device=local_device)
    for name in dict.fromkeys(spec.dataset for spec in specs):
        datasets.ensure_available(name)


def run_key(spec: RunSpec, template: Path) -> str:
    """Identity of a run for resuming: its parameters, the notebook's content and the library's
    (a changed preset or model in glitchbook makes every run stale)."""
    notebook_sha = hashlib.sha256(template.read_bytes()).hexdigest()
    return config_hash({"spec": spec.__dict__, "notebook": notebook_sha,
                        "library": library_fingerprint()})


def library_fingerprint() -> str:
    """SHA-256 over the glitchbook package's source and data files."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".yaml"):
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def is_done(spec: RunSpec, root: Path, key: str) -> bool:
    """True when a completed run with the same key is on disk."""
    out, run_dir = paths(spec, root)
    try:
        record = load(run_dir / RECORD_NAME)
    except (OSError, ChecksumError):  # missing or unreadable: run it (again)
        return False
    return out.exists() and record.status == "ok" and record.run_key == key


def _failed_record(spec: RunSpec, key: str, error: str) -> RunRecord:
    return RunRecord(method=spec.method, dataset=spec.dataset, profile=spec.profile,
                     seed=spec.seed, device=spec.device, config=dict(spec.options),
                     config_hash=config_hash(spec.options), status="failed", error=error,
                     run_key=key)


def _describe(err: BaseException) -> str:
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    if ename:  # papermill's PapermillExecutionError: the notebook's own exception
        return f"{ename}: {evalue}"
    return f"{type(err).__name__}: {err}"


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


def _execute_notebook(template: Path, out: Path, parameters: dict, cell_timeout: float,
                      root: Path, live: Callable[[str], None] | None = None) -> None:
    import papermill

    streams = dict.fromkeys(("stdout_file", "stderr_file"), _LastLine(live)) if live else {}
    for attempt in range(1, KERNEL_START_TRIES + 1):
        try:
            papermill.execute_notebook(
                str(template), str(out), parameters=parameters, kernel_name="python3",
                execution_timeout=cell_timeout, progress_bar=False, cwd=str(root),
                extra_arguments=KERNEL_ARGUMENTS, **streams)
            return
        except Exception as err:  # parallel kernels can collide on ZMQ ports at start-up
            if "Address already in use" not in str(err) or attempt == KERNEL_START_TRIES:
                raise
            time.sleep(0.5 * 2**attempt)


def execute(spec: RunSpec, root: str | Path = ".", *, force: bool = False,
            threads: int | None = None, cell_timeout: float | None = None,
            live: Callable[[str], None] | None = None) -> Outcome:
    """Run one cell of the matrix (resuming, recording failures); never raises for a bad run.
    Holds the run's lock throughout, so a second runner of the same run waits, then skips it.
    `threads` sets the kernel's thread count (0: every core; None: the environment's), which
    a Dask worker needs: its nanny caps the thread variables at 1. `live` is handed each
    latest line of the notebook's output (its progress bars) as the run goes."""
    root = Path(root).resolve()
    start = time.perf_counter()
    key = ""
    out, run_dir = paths(spec, root)
    with _locked(out.with_suffix(".lock")):
        try:
            template = validate(spec, root, local_device=False)
            key = run_key(spec, template)
            if not force and is_done(spec, root, key):
                return Outcome(spec, "skipped")
            if threads is not None:
                os.environ.update(dict.fromkeys(THREAD_VARIABLES,
                                                str(threads or os.cpu_count() or 1)))
            # the code the run starts with, whatever is committed while it runs
            commit = git_commit(root)  # else the library's checkout (root may be a copy)
            if commit == "unknown":
                commit = git_commit(Path(__file__).parent)
            (run_dir / RECORD_NAME).unlink(missing_ok=True)
            run_dir.mkdir(parents=True, exist_ok=True)
            _execute_notebook(template, out, spec.parameters(run_dir),
                              cell_timeout or CELL_TIMEOUT[spec.profile], root, live)
            record = load(run_dir / RECORD_NAME)
            record.run_key, record.commit, record.options = key, commit, dict(spec.options)
            record.machine = machine(record.device)
            record.timings["wall_seconds"] = time.perf_counter() - start
            _tidy(out, spec, record, root)
        except Exception as err:  # noqa: BLE001 - every failure becomes a failed record
            error = str(err) if isinstance(err, GlitchbookError) else _describe(err)
            if not isinstance(err, ConfigError):
                write(run_dir, _failed_record(spec, key, error))
            return Outcome(spec, "failed", time.perf_counter() - start, error)
        write(run_dir, record)
    return Outcome(spec, "ok", record.timings["wall_seconds"], None,
                   record.timings.get("kernel_peak_rss_mb"))


def publish(spec: RunSpec, root: str | Path = ".") -> Path:
    """Copy a completed run into `book/published/<method>/` (the executed notebook, the record
    and the run's figures and tables, no checkpoints), where the book shows it beside the
    runs of `book/runs/`; returns the published run directory."""
    root = Path(root).resolve()
    out, run_dir = paths(spec, root)
    record = load(run_dir / RECORD_NAME)
    if record.status != "ok":
        raise ConfigError(f"{spec.label} has no completed run to publish: {record.error}")
    dest = root / PUBLISHED_DIR / spec.method / run_dir.name
    if dest.exists():
        shutil.rmtree(dest)
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and path.suffix in PUBLISHED_SUFFIXES and path.name != RECORD_NAME:
            target = dest / path.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    dest.with_suffix(".ipynb").write_text(repo_relative(out.read_text(), root))
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


def run_title(spec: RunSpec) -> str:
    """A run's page title: method, dataset, profile, seed and extra parameters."""
    extra = "".join(f", {k}={v}" for k, v in sorted(spec.options.items()))
    seed = f", seed {spec.seed}" if spec.seed else ""
    return (f"{methods.get(spec.method).title.split(':')[0]} on {spec.dataset} "
            f"({spec.profile} profile{seed}{extra})")


def _tidy(notebook: Path, spec: RunSpec, record: RunRecord, root: Path) -> None:
    """Give an executed notebook its own page title (the template's first heading is generic),
    the reproduce box of its record under the title, its progress bars as a terminal would
    leave them (`settle_streams`) and its paths relative to the repository."""
    import nbformat

    from glitchbook import reproduce  # it builds on this module's RunSpec and paths

    title = run_title(spec)
    nb = nbformat.read(notebook, as_version=4)
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "markdown" and first.source.startswith("# "):
        first.source = "\n".join([f"# {title}", *first.source.splitlines()[1:]])
    box = reproduce.box(record, notebook=notebook.name,  # the template: from book/runs/<m>/
                        template=f"../../../notebooks/{spec.method}.ipynb",
                        launch=reproduce.launch_links(root, spec.method))
    nb.cells.insert(1 if first is not None and first.cell_type == "markdown" else 0,
                    nbformat.v4.new_markdown_cell(box))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = settle_streams(cell.outputs)
    atomic_write_text(notebook, repo_relative(nbformat.writes(nb), root))


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


def plan(method_names: list[str], dataset_names: list[str] | None, profile: str, *,
         seeds: tuple[int, ...] = (0,), device: str = "auto",
         options: dict[str, Any] | None = None) -> list[RunSpec]:
    """The matrix: each method on the given datasets, or on its own datasets for `profile`,
    once per seed."""
    check_profile(profile)
    specs = []
    for name in method_names:
        method = methods.get(name)
        for dataset in dataset_names or method.datasets[profile]:
            specs += [RunSpec(name, dataset, profile, seed, device, dict(options or {}))
                      for seed in seeds]
    return specs


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
        preflight(specs, root)
        outcomes = []
        for spec in specs:
            view.running(1)
            outcomes.append(execute(spec, root, force=force, cell_timeout=cell_timeout,
                                    live=view.live(spec)))
            view.done(outcomes[-1])
    else:
        with _dask_client(scheduler, specs, root) as (client, threads):
            outcomes = _run_on_dask(client, specs, root, force, threads, cell_timeout, view)
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
                 root: Path) -> Iterator[tuple[Any, int | None]]:
    """A Dask client, and the threads each run may use: on a new LocalCluster of N
    single-threaded worker processes (each given a `GPU` resource when this machine has CUDA)
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
            preflight(specs, root)
            gpu = {"GPU": 1} if resolve_device("auto").type == "cuda" else None
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   memory_limit=0, dashboard_address=None, resources=gpu,
                                   silence_logs=logging.ERROR)
            with cluster, Client(cluster) as client:
                yield client, max(1, (os.cpu_count() or 1) // workers)
        elif scheduler.startswith("tcp://"):
            try:
                client = Client(scheduler, timeout=CONNECT_TIMEOUT)
            except OSError as err:  # distributed's connect timeout is an OSError too
                raise ConfigError(f"cannot reach the Dask scheduler at {scheduler} ({err}); "
                                  f"start one with `dask scheduler`, or use --scheduler local:N"
                                  ) from err
            with client:
                info = client.scheduler_info()["workers"].values()
                preflight(specs, root, local_device=False)
                if any(s.device == "cuda" for s in specs) and not any(
                        w.get("resources", {}).get("GPU") for w in info):
                    raise ConfigError(f"runs on device 'cuda' need a worker with a GPU resource; "
                                      f"no worker of {scheduler} has one (start GPU workers "
                                      f"with: dask worker {scheduler} --resources GPU=1)")
                yield client, 0
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


def _run_on_dask(client: Any, specs: list[RunSpec], root: Path, force: bool,
                 threads: int | None, cell_timeout: float | None,
                 view: _Progress) -> list[Outcome]:
    """Each run one task (impure: the same parameters twice are two runs); a task whose worker
    dies is retried on another worker, and ends as a failed record after WORKER_LOSSES deaths."""
    from distributed import as_completed

    futures = {client.submit(execute, spec, str(root), force=force, threads=threads,
                             cell_timeout=cell_timeout, pure=False,
                             resources={"GPU": 1} if spec.device == "cuda" else None): i
               for i, spec in enumerate(specs)}
    outcomes: list[Outcome] = [None] * len(specs)  # type: ignore[list-item]
    slots = sum(client.nthreads().values())
    queue = as_completed(futures)
    while not queue.is_empty():
        for future in queue.next_batch(block=False):
            i = futures.pop(future)
            try:
                outcomes[i] = future.result()
            except Exception as err:  # noqa: BLE001 - a worker lost too often, a cancelled task
                outcomes[i] = Outcome(specs[i], "failed", error=_describe(err))
                write(paths(specs[i], root)[1], _failed_record(specs[i], "", outcomes[i].error))
            view.done(outcomes[i])
        busy = {key for keys in client.processing().values() for key in keys}
        view.running(min(sum(f.key in busy for f in futures), slots))
        time.sleep(0.2)
    return outcomes


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
