"""Self-influence with glitchbook's fast TracIn against captum's TracInCPFast, on the same
checkpoints, for n, 2n and 4n training samples: seconds, speed ratio and rank agreement.

    python benchmarks/tracin_vs_captum.py [--n 500] [--epochs 7]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from captum.influence import TracInCPFast
from scipy.stats import spearmanr

from glitchbook import datasets, influence
from glitchbook.models.classifiers import ResNet20
from glitchbook.results import markdown_table
from glitchbook.training import fit, tensor_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=7)
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
            start = time.perf_counter()
            outputs = influence.checkpoint_outputs(model, history.checkpoints, x, x[:1])
            ours = influence.self_influence(outputs, y)
            ours_s = time.perf_counter() - start

            model.eval()
            start = time.perf_counter()
            tracin = TracInCPFast(model, model.fc, tensor_dataset(x, y),
                                  [str(p) for p in history.checkpoints],
                                  influence.load_checkpoint,
                                  loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"),
                                  batch_size=512)
            theirs = tracin.self_influence(show_progress=False).numpy()
            theirs_s = time.perf_counter() - start
        rows.append([n, ours_s, theirs_s, theirs_s / ours_s, spearmanr(ours, theirs).statistic,
                     float(np.abs(ours - theirs).max() / np.abs(theirs).max())])
    print(markdown_table(["n", "glitchbook s", "captum s", "speed-up", "Spearman",
                          "max rel. difference"], rows))


if __name__ == "__main__":
    main()
