"""The run record: one JSON per run, written atomically, loaded back and turned into rows."""

from __future__ import annotations

import json
import os
import platform
import resource
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from glitchbook.config import config_hash
from glitchbook.errors import GlitchbookError, UnreadableRecord

RECORD_NAME = "record.json"
SCORES_NAME = "scores.npz"  # per-image scores and truth beside the record
RUNS_DIR = Path("book/runs")  # the runs of this checkout (not committed)
PUBLISHED_DIR = Path("book/published")  # committed runs (`--publish`), shown beside RUNS_DIR
STATUSES = ("ok", "failed")
VERSIONED = ("glitchbook", "torch", "torchvision", "numpy", "scikit-learn", "scipy", "papermill")


@dataclass
class RunRecord:
    """What one run of one method on one dataset did and measured."""

    method: str
    dataset: str
    profile: str
    seed: int
    device: str
    config: dict[str, Any]
    config_hash: str
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    error: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    run_key: str | None = None  # the runner's identity of the run, for resuming
    commit: str = ""  # the repository's commit when the run started
    machine: str = ""  # processor, cores and GPU of the machine that ran it
    published: str = ""  # when the run was published into the book (`glitchbook run --publish`)
    options: dict[str, Any] = field(default_factory=dict)  # its `-p` parameters

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        self.versions = self.versions or package_versions()
        self.created = self.created or time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass(frozen=True)
class Start:
    """When a run started (seconds since the epoch) and the code it started from."""

    time: float
    commit: str


def start(root: str | os.PathLike = ".", *, now: bool = False) -> Start:
    """When this process started (a notebook's kernel: its start-up counts), or `now`, and the
    commit of the repository at `root` (else of the library's checkout)."""
    import psutil

    commit = git_commit(root)
    if commit == "unknown":  # `root` is a copy, not a checkout
        commit = git_commit(Path(__file__).parent)
    return Start(time.time() if now else psutil.Process().create_time(), commit)


def from_run(run_dir: str | os.PathLike, config: Any, metrics: dict[str, Any], *,
             started: Start, device: str, run_key: str | None, options: dict[str, Any],
             histories: Sequence[Any] = (), timings: dict[str, float] | None = None,
             per_image: dict[str, Any] | None = None, error: str | None = None) -> Path:
    """Build and write the record of one run: what ran (`config`, a MethodConfig, and the
    run's own `options`), where (`device`, resolved here), what it measured (`metrics`, the
    training `histories`' time and throughput, extra `timings`, and `per_image` scores and
    truth, written beside it: `write_scores`) or why it failed (`error`)."""
    from glitchbook.training import device_name

    try:
        used = device_name(device)
    except GlitchbookError:  # a failed run asked for a device this machine lacks
        used = device
    found = dict(timings or {}, wall_seconds=time.time() - started.time)
    if histories:
        found["train_seconds"] = sum(h.seconds for h in histories)
        found["samples_per_second"] = sum(h.samples_per_second for h in histories) / len(
            histories)
    settings = config.as_dict()
    if per_image:
        write_scores(run_dir, per_image)
    record = RunRecord(
        method=config.method, dataset=config.dataset, profile=config.profile, seed=config.seed,
        device=used, config=settings, config_hash=config_hash(settings),
        metrics=metrics, timings=found, status="failed" if error else "ok", error=error,
        run_key=run_key, commit=started.commit, machine=machine(used),
        options={k: v for k, v in options.items() if v is not None})
    return write(run_dir, record)


def write_scores(run_dir: str | os.PathLike, arrays: dict[str, Any]) -> Path:
    """`arrays` (name -> one value per image: scores, truth) as `run_dir/scores.npz`, compressed,
    floats as float32: what recomputes a run's image-level metrics without training."""
    import numpy as np

    compact = {name: np.asarray(a, np.float32) if np.asarray(a).dtype.kind == "f"
               else np.asarray(a) for name, a in arrays.items()}
    path = Path(run_dir) / SCORES_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
        np.savez_compressed(handle, **compact)
    os.replace(handle.name, path)
    return path


def read_scores(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The per-image arrays a run wrote (`write_scores`)."""
    import numpy as np

    with np.load(Path(run_dir) / SCORES_NAME) as found:
        return {name: found[name] for name in found.files}


def package_versions() -> dict[str, str]:
    """Versions of python and the packages a result depends on."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(root: str | os.PathLike = ".") -> str:
    """The short commit of the repository at `root`, with `-dirty` when tracked files differ
    from it; "unknown" outside a git checkout."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def duration(seconds: float | None) -> str:
    """A wall time as a person reads it: '41 s', '6 min 42 s', '2 h 05 min' ('–' if None)."""
    if seconds is None:
        return "–"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def machine(device: str = "cpu") -> str:
    """The processor and cores here, and the GPU's name when `device` is CUDA."""
    text = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            text += f", {torch.cuda.get_device_name(0)}"
    return text


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` through a temporary file and a rename: readers see the old file
    or the new one, never a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write(run_dir: str | os.PathLike, record: RunRecord) -> Path:
    """Write `record` as `run_dir/record.json`, atomically. A completed record first written
    by a run's own process (the notebook's kernel) gets that process's peak memory."""
    if record.status == "ok":
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        record.timings.setdefault("kernel_peak_rss_mb", peak)
    text = json.dumps(asdict(record), indent=2, sort_keys=True, default=_jsonable)
    return atomic_write_text(Path(run_dir) / RECORD_NAME, text + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a record")


def load(path: str | os.PathLike) -> RunRecord:
    """Read one record (a record.json or the folder holding it); a file that is not a
    record (torn, edited, or from another tool) is an UnreadableRecord naming it."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_NAME
    try:
        return RunRecord(**json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as err:
        raise UnreadableRecord(f"run record {path} is unreadable ({err}); delete it or re-run "
                            f"that run with --force") from err


def load_book(root: str | os.PathLike, method: str | None = None, *,
              runs: str | os.PathLike | None = None,
              unreadable: list[str] | None = None) -> list[RunRecord]:
    """The book's records under the repository `root`: its runs (`book/runs`, or `runs`), then
    its published runs (`book/published`)."""
    folders = (Path(runs) if runs else Path(root) / RUNS_DIR, Path(root) / PUBLISHED_DIR)
    return [r for folder in folders for r in load_all(folder, method, unreadable=unreadable)]


def load_all(root: str | os.PathLike, method: str | None = None, *,
             unreadable: list[str] | None = None) -> list[RunRecord]:
    """Every record under `root` (optionally one method's), sorted by method and dataset.
    Unreadable records are skipped; their messages go to `unreadable` when given."""
    pattern = f"{method}/**/{RECORD_NAME}" if method else f"**/{RECORD_NAME}"
    found = []
    for path in sorted(Path(root).glob(pattern)):
        try:
            found.append(load(path))
        except UnreadableRecord as err:
            if unreadable is not None:
                unreadable.append(str(err))
    return sorted(found, key=lambda r: (r.method, r.dataset, r.profile))
