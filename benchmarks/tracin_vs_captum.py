"""glitchbook's fast TracIn against captum's TracInCPFast on the same checkpoints, for n, 2n and
4n training samples: seconds, speed ratio and agreement. Two tasks: self-influence alone, and
what the signals need - self-influence and the influence of every training sample on n/4 test
samples (the chapter's split), which glitchbook gets from one forward pass per checkpoint.

    python benchmarks/tracin_vs_captum.py [--n 500] [--epochs 7] [--batch 128]

Both get the same checkpoints, batch size and threads; a time is the fastest of `--repeats` runs
and includes loading the checkpoints.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from captum.influence import TracInCPFast
from scipy.stats import spearmanr

from glitchbook import datasets, tracin
from glitchbook.models.classifiers import ResNet20
from glitchbook.pages.tables import markdown_table
from glitchbook.training import fit, tensor_dataset


def ours(model, checkpoints, x, y, test, batch: int) -> np.ndarray:
    outputs = tracin.checkpoint_outputs(model, checkpoints, x, test[0], batch_size=batch)
    si = tracin.self_influence(outputs, y)
    if len(test[1]):
        return si, tracin.influence_matrix(outputs, y, test[1])
    return si, None


def captum(model, checkpoints, x, y, test, batch: int) -> np.ndarray:
    model.eval()
    theirs_tracin = TracInCPFast(model, model.fc, tensor_dataset(x, y),
                                 [str(p) for p in checkpoints], tracin.load_checkpoint,
                                 loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"),
                                 batch_size=batch)
    si = theirs_tracin.self_influence(show_progress=False).numpy()
    if len(test[1]):
        inputs = (torch.from_numpy(test[0]), torch.from_numpy(test[1]))
        return si, theirs_tracin.influence(inputs, show_progress=False).numpy().T
    return si, None


def best_of(repeats: int, run, *args) -> tuple[np.ndarray, float]:
    """The result and the fastest of `repeats` wall times (the machine's noise only adds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run(*args)
        times.append(time.perf_counter() - start)
    return result, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = datasets.load("mnist-5k")
    rows = []
    for n in (args.n, 2 * args.n, 4 * args.n):
        x, y = data.images[:n], data.labels[:n]
        torch.manual_seed(0)
        model = ResNet20(1, 10)
        with tempfile.TemporaryDirectory() as folder:
            history = fit(model, tensor_dataset(x, y), epochs=args.epochs, lr=0.01,
                          optimizer="sgd", device="cpu", checkpoint_dir=folder, progress=False)
            test_x, test_y = data.images[-n // 4:], data.labels[-n // 4:]
            for task, test in (("SI", (x[:0], y[:0])), ("SI + n x n/4", (test_x, test_y))):
                run = (model, history.checkpoints, x, y, test, args.batch)
                (si, matrix), ours_s = best_of(args.repeats, ours, *run)
                (si_ref, matrix_ref), captum_s = best_of(args.repeats, captum, *run)
                gap = np.abs(si - si_ref).max() / np.abs(si_ref).max()
                if matrix is not None:
                    gap = max(gap, np.abs(matrix - matrix_ref).max() / np.abs(matrix_ref).max())
                rows.append([task, n, ours_s, captum_s, captum_s / ours_s,
                             spearmanr(si, si_ref).statistic, float(gap)])
    print(markdown_table(["task", "n", "glitchbook s", "captum s", "speed-up", "SI Spearman",
                          "max rel. difference"], rows))


if __name__ == "__main__":
    main()
