"""The method x dataset matrix: each run's spec, where it goes, its identity (for resuming),
and the checks every run passes before any starts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glitchbook import datasets, methods
from glitchbook.checks import check_choice, check_device
from glitchbook.config import PROFILES, MethodConfig, config_hash
from glitchbook.errors import ChecksumError, ConfigError
from glitchbook.records import RECORD_NAME, RUNS_DIR, load
from glitchbook.training import resolve_device


@dataclass(frozen=True)
class RunSpec:
    """One cell of the matrix."""

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


def plan(method_names: list[str], dataset_names: list[str] | None, profile: str, *,
         seeds: tuple[int, ...] = (0,), device: str = "auto",
         options: dict[str, Any] | None = None) -> list[RunSpec]:
    """The matrix: each method on the given datasets, or on its own datasets for `profile`,
    once per seed."""
    check_choice(profile, PROFILES, "profile")
    specs = []
    for name in method_names:
        method = methods.get(name)
        for dataset in dataset_names or method.datasets[profile]:
            specs += [RunSpec(name, dataset, profile, seed, device, dict(options or {}))
                      for seed in seeds]
    return specs


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
    """Check the method, the device (that this machine has it, unless the runs go to another),
    the parameter names, and the dataset, profile and every value (through the method's
    config, against the dataset), before anything runs; return the run's config. papermill
    itself only warns on unknown parameters."""
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


def preflight(specs: list[RunSpec], root: Path, *,
              local_device: bool = True) -> list[MethodConfig]:
    """Validate every run and make every dataset available (downloaded and verified once,
    here); the first problem is a GlitchbookError and nothing has been written. Returns each
    run's config."""
    configs = [validate(spec, root, local_device=local_device) for spec in specs]
    for name in dict.fromkeys(spec.dataset for spec in specs):
        datasets.ensure_available(name)
    return configs


def run_key(spec: RunSpec, root: Path) -> str:
    """Identity of a run for resuming: its parameters, the notebook's content and the library's
    (a changed preset or model in glitchbook makes every run stale)."""
    template = root / methods.get(spec.method).notebook
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


def run_title(spec: RunSpec) -> str:
    """A run's page title: method, dataset, profile, seed and extra parameters."""
    extra = "".join(f", {k}={v}" for k, v in sorted(spec.options.items()))
    seed = f", seed {spec.seed}" if spec.seed else ""
    return (f"{methods.get(spec.method).title.split(':')[0]} on {spec.dataset} "
            f"({spec.profile} profile{seed}{extra})")
