"""The method x dataset matrix, executed with papermill into `book/runs/`.

Each run executes `notebooks/<method>.ipynb` into `book/runs/<method>/<dataset>.ipynb`; the
notebook writes `book/runs/<method>/<dataset>/record.json` and its figures. Runs whose record is
`ok` with the same run key (parameters and notebook content) are skipped, so an interrupted
matrix resumes where it stopped. A failing run keeps its notebook and gets a `failed` record
with the reason; the rest of the matrix goes on.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import resource
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from glitchbook import datasets, methods
from glitchbook.config import check_profile, config_hash
from glitchbook.errors import ChecksumError, ConfigError, GlitchbookError
from glitchbook.records import RECORD_NAME, RunRecord, load, write

RUNS_DIR = Path("book/runs")
CELL_TIMEOUT = {"smoke": 300, "default": 1800, "paper": 24 * 3600}  # seconds per cell
KERNEL_START_TRIES = 3


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
        return f"{self.method}/{self.dataset}"


@dataclass
class Outcome:
    """What happened to one run."""

    spec: RunSpec
    status: str  # ok | failed | skipped
    seconds: float = 0.0
    error: str | None = None
    peak_rss_mb: float | None = None


def paths(spec: RunSpec, root: Path) -> tuple[Path, Path]:
    """(executed notebook, run directory) of `spec` under `root`; a `folder:<path>` dataset is
    named by its path with every character that is not a letter, digit, '.' or '-' as '_'."""
    base = root / RUNS_DIR / spec.method
    name = re.sub(r"[^A-Za-z0-9.-]", "_", spec.dataset).strip("_")
    return base / f"{name}.ipynb", base / name


def notebook_parameters(notebook: Path) -> dict[str, Any]:
    """The parameters a notebook declares in its `parameters` cell (papermill's inspection)."""
    import papermill

    return papermill.inspect_notebook(str(notebook))


def validate(spec: RunSpec, root: Path) -> Path:
    """Check method, dataset, profile and option names before anything runs; return the
    template notebook. papermill itself only warns on unknown parameters."""
    method = methods.get(spec.method)
    datasets.spec(spec.dataset)
    check_profile(spec.profile)
    template = root / method.notebook
    if not template.exists():
        raise ConfigError(f"notebook {template} not found; run from the repository root")
    declared = notebook_parameters(template)
    unknown = sorted(set(spec.parameters(Path("."))) - set(declared))
    if unknown:
        raise ConfigError(f"{spec.method}: unknown parameter(s) {unknown}; the notebook takes "
                          f"{', '.join(declared)}")
    return template


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


def _execute_notebook(template: Path, out: Path, parameters: dict, profile: str,
                      root: Path) -> None:
    import papermill

    for attempt in range(1, KERNEL_START_TRIES + 1):
        try:
            papermill.execute_notebook(
                str(template), str(out), parameters=parameters, kernel_name="python3",
                execution_timeout=CELL_TIMEOUT[profile], progress_bar=False, cwd=str(root))
            return
        except Exception as err:  # parallel kernels can collide on ZMQ ports at start-up
            if "Address already in use" not in str(err) or attempt == KERNEL_START_TRIES:
                raise
            time.sleep(0.5 * 2**attempt)


def execute(spec: RunSpec, root: str | Path = ".", *, force: bool = False,
            threads: int | None = None) -> Outcome:
    """Run one cell of the matrix (resuming, recording failures); never raises for a bad run."""
    root = Path(root).resolve()
    start = time.perf_counter()
    key = ""
    out, run_dir = paths(spec, root)
    try:
        template = validate(spec, root)
        key = run_key(spec, template)
        if not force and is_done(spec, root, key):
            return Outcome(spec, "skipped")
        datasets.ensure_available(spec.dataset)  # once, here, not inside parallel kernels
        if threads:
            os.environ["OMP_NUM_THREADS"] = str(threads)
        (run_dir / RECORD_NAME).unlink(missing_ok=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        _execute_notebook(template, out, spec.parameters(run_dir), spec.profile, root)
        record = load(run_dir / RECORD_NAME)
        _tidy(out, f"{methods.get(spec.method).title.split(':')[0]} on {spec.dataset} "
                   f"({spec.profile} profile)")
    except Exception as err:  # noqa: BLE001 - every failure becomes a failed record
        error = str(err) if isinstance(err, GlitchbookError) else _describe(err)
        if not isinstance(err, ConfigError):
            write(run_dir, _failed_record(spec, key, error))
        return Outcome(spec, "failed", time.perf_counter() - start, error, _peak_rss_mb())
    record.run_key = key
    record.timings["wall_seconds"] = time.perf_counter() - start
    record.timings["kernel_peak_rss_mb"] = _peak_rss_mb()
    write(run_dir, record)
    return Outcome(spec, "ok", record.timings["wall_seconds"], None,
                   record.timings["kernel_peak_rss_mb"])


def _tidy(notebook: Path, title: str) -> None:
    """Give an executed notebook its own page title (the template's first heading is generic)
    and its progress bars as a terminal would leave them (`settle_streams`)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "markdown" and first.source.startswith("# "):
        first.source = "\n".join([f"# {title}", *first.source.splitlines()[1:]])
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = settle_streams(cell.outputs)
    tmp = notebook.with_suffix(".tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, notebook)


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


def _peak_rss_mb() -> float:
    """Peak resident memory of this process's finished children (the kernels), in MB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def plan(method_names: list[str], dataset_names: list[str] | None, profile: str, *,
         seed: int = 0, device: str = "auto",
         options: dict[str, Any] | None = None) -> list[RunSpec]:
    """The matrix: each method on the given datasets, or on its own datasets for `profile`."""
    check_profile(profile)
    specs = []
    for name in method_names:
        method = methods.get(name)
        for dataset in dataset_names or method.datasets[profile]:
            specs.append(RunSpec(name, dataset, profile, seed, device, dict(options or {})))
    return specs


def run_matrix(specs: list[RunSpec], root: str | Path = ".", *, jobs: int = 1,
               force: bool = False, progress: bool = True) -> list[Outcome]:
    """Execute `specs`, `jobs` at a time, each in its own process; returns every outcome."""
    for spec in specs:  # fail fast on names before starting any kernel
        validate(spec, Path(root).resolve())
    threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))
    outcomes: list[Outcome] = []
    context = multiprocessing.get_context("spawn")
    bar = tqdm(total=len(specs), desc="runs", unit="run", disable=not progress)
    with ProcessPoolExecutor(max_workers=max(jobs, 1), mp_context=context,
                             max_tasks_per_child=1) as pool:
        futures = {pool.submit(execute, s, root, force=force, threads=threads): s for s in specs}
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as err:  # noqa: BLE001 - a worker that died
                outcome = Outcome(futures[future], "failed", error=_describe(err))
                write(paths(futures[future], Path(root).resolve())[1],
                      _failed_record(futures[future], "", outcome.error or ""))
            outcomes.append(outcome)
            bar.update()
            bar.set_postfix_str(f"{outcome.spec.label}: {outcome.status}")
    bar.close()
    order = {s.label: i for i, s in enumerate(specs)}
    return sorted(outcomes, key=lambda o: order[o.spec.label])


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
