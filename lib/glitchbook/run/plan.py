"""The method x dataset matrix: each cell's spec, and each run planned once before any starts:
checked (names, types, ranges, device, data), located (template, executed notebook, run folder),
keyed (for resuming) and titled. The run's other steps take the planned run as it is."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import glitchbook
from glitchbook import datasets, methods
from glitchbook.checks import check_choice, check_device
from glitchbook.config import PROFILES, MethodConfig, config_hash
from glitchbook.errors import ConfigError, UnreadableRecord
from glitchbook.run.records import RECORD_NAME, RUNS_DIR, load
from glitchbook.training import resolve_device


@dataclass(frozen=True)
class RunSpec:
    """One cell of the matrix: what to run."""

    method: str
    dataset: str
    profile: str = "default"
    seed: int = 0
    device: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)

    def parameters(self, run_dir: Path, key: str | None = None) -> dict[str, Any]:
        """The notebook's parameters: the run's, where it writes, and its key if given."""
        keyed = {"run_key": key} if key else {}
        return {"dataset": self.dataset, "profile": self.profile, "device": self.device,
                "seed": self.seed, "run_dir": str(run_dir), **keyed, **self.options}

    @property
    def label(self) -> str:
        return f"{self.method}/{self.dataset}" + (f" seed {self.seed}" if self.seed else "")


@dataclass(frozen=True)
class PlannedRun:
    """A run as the plan made it: its spec and checked config, the repository `root`, the
    template it executes, the executed notebook and run folder it writes, its key and title."""

    spec: RunSpec
    config: MethodConfig
    root: Path
    template: Path
    notebook: Path
    run_dir: Path
    key: str
    title: str

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def parameters(self) -> dict[str, Any]:
        """What papermill hands the notebook."""
        return self.spec.parameters(self.run_dir, self.key)


def specs(method_names: list[str], dataset_names: list[str] | None, profile: str, *,
          seeds: tuple[int, ...] = (0,), device: str = "auto",
          options: dict[str, Any] | None = None) -> list[RunSpec]:
    """The matrix: each method on the given datasets, or on its own datasets for `profile`,
    once per seed."""
    check_choice(profile, PROFILES, "profile")
    cells = []
    for name in method_names:
        method = methods.get(name)
        for dataset in dataset_names or method.datasets[profile]:
            cells += [RunSpec(name, dataset, profile, seed, device, dict(options or {}))
                      for seed in seeds]
    return cells


def plan(cells: list[RunSpec], root: str | Path = ".", *,
         local_device: bool = True) -> list[PlannedRun]:
    """Check every run (the device, that this machine has it unless the runs go to another;
    the parameter names; every value, through the method's config) and make every dataset
    available (downloaded and verified once, here), then locate, key and title each run. The
    first problem is a GlitchbookError, and nothing has been written."""
    root = Path(root).resolve()
    configs = [validate(spec, root, local_device=local_device) for spec in cells]
    for name in dict.fromkeys(spec.dataset for spec in cells):
        datasets.ensure_available(name)
    library = library_fingerprint()
    planned = []
    for spec, config in zip(cells, configs, strict=True):
        template = root / methods.get(spec.method).notebook
        notebook, run_dir = paths(spec, root)
        key = config_hash({"spec": spec.__dict__, "library": library,
                           "notebook": hashlib.sha256(template.read_bytes()).hexdigest()})
        planned.append(PlannedRun(spec, config, root, template, notebook, run_dir, key,
                                  run_title(spec)))
    return planned


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


def validate(spec: RunSpec, root: Path, *, local_device: bool = True) -> MethodConfig:
    """Check the method, the device, the parameter names, and the dataset, profile and every
    value (through the method's config, against the dataset), before anything runs; return
    the run's config. papermill itself only warns on unknown parameters."""
    method = methods.get(spec.method)
    if local_device:
        resolve_device(spec.device)
    else:
        check_device(spec.device)
    template = root / method.notebook
    if not template.exists():
        raise ConfigError(f"notebook {template} not found; run from the repository root")
    declared = notebook_parameters(template)
    unknown = sorted(set(spec.parameters(Path("."))) - set(declared))
    if unknown:
        raise ConfigError(f"{spec.method}: unknown parameter(s) {unknown}; the notebook takes "
                          f"{', '.join(declared)}")
    return method.module.from_parameters(spec.dataset, spec.profile, spec.seed, **spec.options)


def library_fingerprint() -> str:
    """SHA-256 over the glitchbook package's source and data files, every wing of it: a
    changed preset or model makes every run stale."""
    package = Path(glitchbook.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".yaml"):
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def is_done(run: PlannedRun) -> bool:
    """True when a completed run with the same key is on disk."""
    try:
        record = load(run.run_dir / RECORD_NAME)
    except (OSError, UnreadableRecord):  # missing or unreadable: run it (again)
        return False
    return run.notebook.exists() and record.status == "ok" and record.run_key == run.key


def run_title(spec: RunSpec) -> str:
    """A run's page title: method, dataset, profile, seed and extra parameters."""
    extra = "".join(f", {k}={v}" for k, v in sorted(spec.options.items()))
    seed = f", seed {spec.seed}" if spec.seed else ""
    return (f"{methods.get(spec.method).title.split(':')[0]} on {spec.dataset} "
            f"({spec.profile} profile{seed}{extra})")
