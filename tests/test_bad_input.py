"""Bad input to `glitchbook run`: one clear message, exit code 2, and nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from glitchbook import ChecksumError
from glitchbook.cli import main
from glitchbook.run import records
from glitchbook.tracin import load_checkpoint


@pytest.fixture
def empty_root(tmp_path, root, monkeypatch) -> Path:
    """The notebooks, no runs, no data, offline."""
    shutil.copytree(root / "notebooks", tmp_path / "notebooks")
    monkeypatch.setenv("GLITCHBOOK_OFFLINE", "1")
    monkeypatch.setenv("GLITCHBOOK_DATA", str(tmp_path / "data"))
    return tmp_path


CASES = {
    "unknown method": (["--methods", "gan"], "unknown method 'gan'; known methods: clsvae"),
    "unknown dataset": (["--datasets", "mnist-6k"], "unknown dataset 'mnist-6k'; known"),
    "unknown profile": (["--profile", "huge"], "invalid choice: 'huge'"),
    "unknown device": (["--device", "tpu"], "invalid choice: 'tpu'"),
    "unknown parameter": (["-p", "lr=3"], "unknown parameter(s) ['lr']; the notebook takes"),
    "wrong type": (["--methods", "influence", "-p", "rate=high"],
                   "option 'rate' expects float, got 'high'"),
    "rate out of range": (["--methods", "influence", "-p", "rate=1.5"],
                          "glitch rate must lie strictly between 0 and 1, got 1.5"),
    "negative epochs": (["-p", "epochs=-1"], "must be positive: epochs=-1"),
    "bad seeds": (["--seeds", "1,x"], "expected whole numbers such as 0,1,2"),
    "bad scheduler": (["--scheduler", "yarn"], "unknown scheduler 'yarn'"),
    "bad jobs": (["--jobs", "many"], "--jobs must be 'auto' or a whole number of at least 1"),
    "missing image folder": (["--datasets", "folder:/nonexistent/x"],
                             "image folder /nonexistent/x does not exist"),
    "missing MVTec folder": (["--datasets", "mvtec:/nonexistent/mvtec"],
                             "MVTec AD not found under /nonexistent/mvtec"),
    "class out of range": (["-p", "good_class=11"],
                           "class 11 is not a class of mnist-5k: it has 10 classes, 0 to 9"),
    "normal class out of range": (["--methods", "arae", "-p", "normal_classes=[3, 12]"],
                                  "normal class 12 is not a class of digits"),
    "pair out of range": (["--methods", "ambiguity", "-p", "pair=3v10"],
                          "pair '3v10' needs two different classes below 10"),
    "trusted set too large": (["--methods", "clsvae", "-p", "trusted=100000"],
                              "trusted=100000 images per stratum is more than the training split"),
    "download-only dataset offline": (
        ["--methods", "arae", "--datasets", "mnist"],
        "dataset 'mnist' is not available: no local copy and downloads are off"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_message_exit_2_and_nothing_written(case, empty_root, capsys):
    args, message = CASES[case]
    if "--methods" not in args:
        args = ["--methods", "drift", *args]
    try:
        code = main(["run", "--profile", "smoke", *args, "--root", str(empty_root)])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (empty_root / "book").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused_before_anything_runs(empty_root, capsys):
    code = main(["run", "--methods", "drift", "--device", "cuda", "--root", str(empty_root)])
    assert code == 2 and "no CUDA GPU is visible" in capsys.readouterr().err
    assert not (empty_root / "book").exists()


@pytest.mark.parametrize("files, message", [
    ({"a/notes.txt": b"text"}, "no images found in"),
    ({"a/one.png": b"not a png", "b/two.png": b"nor this"}, "cannot read image"),
])
def test_a_folder_without_readable_images_is_refused(empty_root, capsys, files, message):
    folder = empty_root / "scans"
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    code = main(["run", "--methods", "arae", "--datasets", f"folder:{folder}", "--profile",
                 "smoke", "--root", str(empty_root)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (empty_root / "book").exists()


def test_a_damaged_file_in_the_data_directory_is_a_checksum_error(empty_root, capsys):
    mat = empty_root / "data/frey-faces/frey_rawface.mat"
    mat.parent.mkdir(parents=True)
    mat.write_bytes(b"not a matlab file")
    code = main(["run", "--methods", "clsvae", "--datasets", "frey-faces", "--profile", "smoke",
                 "--root", str(empty_root)])
    assert code == 2 and "frey_rawface.mat is not a readable .mat file" in capsys.readouterr().err
    assert mat.read_bytes() == b"not a matlab file" and not (empty_root / "book").exists()


def test_a_corrupted_record_is_reported_and_skipped(empty_root, capsys):
    run_dir = empty_root / "book/runs/drift/mnist-5k"
    run_dir.mkdir(parents=True)
    (run_dir / records.RECORD_NAME).write_text('{"method": "drift", "dataset": ')
    assert main(["status", "--root", str(empty_root)]) == 1
    assert "mnist-5k/record.json is unreadable" in capsys.readouterr().out
    assert main(["results", "--root", str(empty_root)]) == 0
    page = (empty_root / "book/runs/results/drift.md").read_text()
    assert "Unreadable records (skipped)" in page and "mnist-5k/record.json" in page


class _Payload:
    def __reduce__(self):
        return (print, ("code ran while loading a checkpoint",))


def test_a_checkpoint_with_more_than_weights_is_refused(tmp_path, capsys):
    model = torch.nn.Linear(2, 2)
    path = tmp_path / "checkpoint-1.pt"
    torch.save({"model": model.state_dict(), "lr": 0.1, "extra": _Payload()}, path)
    with pytest.raises(ChecksumError, match="not only weights, so it is not loaded"):
        load_checkpoint(model, path)
    assert "code ran" not in capsys.readouterr().out
    path.write_bytes(b"truncated")
    with pytest.raises(ChecksumError, match="not a readable torch file"):
        load_checkpoint(model, path)
