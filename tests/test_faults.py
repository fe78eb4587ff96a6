"""The runner under faults: a worker killed mid-run, an interrupted command, notebooks that
raise, kill their kernel, run past their time limit or hit a NaN loss, and two runners of one
run directory. The drift notebook is replaced by a stand-in whose behaviour per run is read
from `faults.json` in the root, so each fault is exact and fast; the runner under test is
the real one, on a LocalCluster of 2 worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from glitchbook import ConfigError
from glitchbook.config import config_hash
from glitchbook.methods import drift
from glitchbook.run import execute, matrix, plan, records

pytestmark = pytest.mark.slow

STAND_IN = '''\
import json, os, time, uuid
from pathlib import Path

import numpy as np

from glitchbook.run import records
from glitchbook.methods import drift

run = Path(run_dir)
faults = json.loads(Path("faults.json").read_text()) if Path("faults.json").exists() else {}
fault = faults.get(run.name, "none")
tries = Path(f"{run_dir}.tries")
attempt = len(tries.read_text()) + 1 if tries.exists() else 1
tries.write_text("x" * attempt)
with open(f"{run_dir}.spans", "a") as spans:
    spans.write(f"{time.time()} ")
(run / "worker.pid").write_text(str(os.getppid()))
if fault == "raise":
    raise ValueError("the stand-in notebook was told to fail")
if fault == "die":
    os._exit(1)
if fault == "hang" or (fault == "kill-first" and attempt == 1):
    time.sleep(600)
if fault == "nan":
    from glitchbook.models import VAE
    from glitchbook.training import fit, tensor_dataset

    images = np.full((8, 1, 8, 8), np.nan, np.float32)
    fit(VAE((1, 8, 8)), tensor_dataset(images, np.ones(8, np.float32), np.zeros(8, bool)),
        epochs=1, device="cpu", progress=False)
token = uuid.uuid4().hex
(run / "token.txt").write_text(token)
time.sleep(0.3)  # a window in which two unlocked writers would interleave
config = drift.from_parameters(dataset, profile, seed)
records.from_run(run, config, {"token": token, "attempt": attempt}, started=records.start(),
                 device=device, run_key=run_key, options={})
with open(f"{run_dir}.spans", "a") as spans:
    spans.write(f"{time.time()}\\n")
print(token)
'''


@pytest.fixture
def fault_root(tmp_path, root, monkeypatch) -> Path:
    """A root whose drift notebook is the stand-in (same parameters as the real one)."""
    real = nbformat.read(root / "notebooks/drift.ipynb", as_version=4)
    parameters = next(c for c in real.cells if "parameters" in c.metadata.get("tags", []))
    stand_in = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Stand-in"), parameters,
        nbformat.v4.new_code_cell(STAND_IN)])
    stand_in.metadata = real.metadata
    (tmp_path / "notebooks").mkdir()
    nbformat.write(stand_in, tmp_path / "notebooks/drift.ipynb")
    monkeypatch.setenv("GLITCHBOOK_OFFLINE", "1")
    monkeypatch.setenv("GLITCHBOOK_DATA", str(tmp_path / "data"))
    return tmp_path


def _faults(root: Path, **faults: str) -> None:
    (root / "faults.json").write_text(json.dumps(faults))


def _glitchbook(root: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "glitchbook.cli", "run", "--methods", "drift",
               "--datasets", "mnist-5k", "--profile", "smoke", "--device", "cpu", "--quiet",
               "--root", str(root), *args]
    return subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(path: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def _run(root: Path, seed: int) -> Path:
    return root / "book/runs/drift" / ("mnist-5k" + (f"_seed{seed}" if seed else ""))


def _attempts(root: Path, seed: int) -> int:
    return len(Path(f"{_run(root, seed)}.tries").read_text())


def _no_torn_files(root: Path) -> None:
    assert not list((root / "book/runs").rglob("*.tmp")), "a half-written file was left"


def test_a_worker_killed_mid_run_is_retried_and_nothing_is_lost(fault_root):
    _faults(fault_root, **{"mnist-5k_seed1": "kill-first"})
    cli = _glitchbook(fault_root, "--seeds", "0,1,2", "--scheduler", "local:2")
    pid_file = _run(fault_root, 1) / "worker.pid"
    _wait_for(pid_file)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    out, err = cli.communicate(timeout=180)
    assert cli.returncode == 0, out + err
    for seed in (0, 1, 2):
        record = records.load(_run(fault_root, seed))
        assert record.status == "ok" and record.run_key
        assert record.metrics["token"] == (_run(fault_root, seed) / "token.txt").read_text()
    assert _attempts(fault_root, 1) == 2  # killed once, then run on a worker that lived
    assert _attempts(fault_root, 0) == _attempts(fault_root, 2) == 1  # never duplicated
    _no_torn_files(fault_root)


def test_an_interrupted_command_reruns_only_the_missing_and_failed_runs(fault_root):
    _faults(fault_root, **{"mnist-5k_seed1": "raise", "mnist-5k_seed2": "hang"})
    cli = _glitchbook(fault_root, "--seeds", "0,1,2", "--scheduler", "local:2")
    _wait_for(_run(fault_root, 2) / "worker.pid")
    _wait_for(_run(fault_root, 0) / "record.json")
    _wait_for(_run(fault_root, 1) / "record.json")
    cli.send_signal(signal.SIGINT)
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 130 and "run the same command again" in err
    assert records.load(_run(fault_root, 0)).status == "ok"
    assert records.load(_run(fault_root, 1)).status == "failed"
    assert not (_run(fault_root, 2) / "record.json").exists()

    _faults(fault_root)
    cli = _glitchbook(fault_root, "--seeds", "0,1,2", "--scheduler", "local:2")
    out, err = cli.communicate(timeout=180)
    assert cli.returncode == 0, out + err
    assert "2 ok, 1 skipped, 0 failed" in out
    assert [_attempts(fault_root, s) for s in (0, 1, 2)] == [1, 2, 2]
    _no_torn_files(fault_root)


def test_failing_notebooks_become_failed_records_and_the_matrix_goes_on(fault_root):
    _faults(fault_root, **{"mnist-5k_seed1": "raise", "mnist-5k_seed2": "die",
                           "mnist-5k_seed3": "hang"})
    specs = plan.specs(["drift"], ["mnist-5k"], "smoke", seeds=(0, 1, 2, 3), device="cpu")
    outcomes = matrix.run_matrix(specs, fault_root, scheduler="local:2", progress=False,
                                 cell_timeout=8)
    assert [o.status for o in outcomes] == ["ok", "failed", "failed", "failed"]
    reasons = [o.error for o in outcomes[1:]]
    assert reasons[0] == "ValueError: the stand-in notebook was told to fail"
    assert "DeadKernelError" in reasons[1] and "Kernel died" in reasons[1]
    assert "CellTimeoutError" in reasons[2] and "8" in reasons[2]
    ok = records.load(outcomes[0].run.run_dir)
    for outcome in outcomes[1:]:
        record = records.load(outcome.run.run_dir)
        assert record.status == "failed" and record.error == outcome.error
        # a failed record means what a completed one does: the resolved device, the full config
        config = drift.from_parameters("mnist-5k", "smoke", outcome.spec.seed)
        assert record.device == ok.device == "cpu"
        assert record.config_hash == config_hash(config.as_dict()) and record.config["epochs"]
    assert not any(o.bad_input for o in outcomes)
    summary = execute.summary(outcomes)
    assert "1 ok, 0 skipped, 3 failed" in summary and "Kernel died" in summary


def test_a_nan_loss_is_a_bad_input_failure_with_its_message(fault_root):
    _faults(fault_root, **{"mnist-5k": "nan"})
    cli = _glitchbook(fault_root)
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 2, out + err
    assert "NonFiniteLossError" in out and "loss became nan at epoch 1, batch 0" in out
    assert records.load(_run(fault_root, 0)).status == "failed"


def test_two_runners_of_one_run_directory_never_mix_their_records(fault_root):
    _faults(fault_root)
    both = [_glitchbook(fault_root, "--seeds", "0,1", "--force") for _ in range(2)]
    for cli in both:
        out, err = cli.communicate(timeout=180)
        assert cli.returncode == 0, out + err
    for seed in (0, 1):
        run_dir = _run(fault_root, seed)
        record = records.load(run_dir)
        printed = nbformat.read(f"{run_dir}.ipynb", as_version=4).cells[-1].outputs[0]["text"]
        assert record.metrics["token"] == (run_dir / "token.txt").read_text() == printed.strip()
        assert _attempts(fault_root, seed) == 2  # each runner ran it, one after the other
        spans = sorted(tuple(map(float, line.split()))
                       for line in Path(f"{run_dir}.spans").read_text().splitlines())
        assert spans[0][1] <= spans[1][0], "the two executions overlapped"
    _no_torn_files(fault_root)


def test_runs_go_to_an_existing_cluster_over_tcp(fault_root, monkeypatch):
    from distributed import LocalCluster

    _faults(fault_root)
    specs = plan.specs(["drift"], ["mnist-5k"], "smoke", seeds=(0, 1), device="cpu")
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        outcomes = matrix.run_matrix(specs, fault_root, scheduler=cluster.scheduler_address,
                                     progress=False)
        assert [o.status for o in outcomes] == ["ok", "ok"]
        on_gpu = plan.specs(["drift"], ["mnist-5k"], "smoke", device="cuda")
        with pytest.raises(ConfigError, match="need a worker with a GPU resource"):
            matrix.run_matrix(on_gpu, fault_root, scheduler=cluster.scheduler_address)
    monkeypatch.setattr(matrix, "CONNECT_TIMEOUT", "2s")
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        matrix.run_matrix(specs, fault_root, scheduler="tcp://127.0.0.1:9")
