"""Figures the chapters share: image grids, precision-recall and ROC curves, loss curves.

Each function returns a matplotlib Figure with a title and labelled axes; `save` writes it as
PNG into a run's `figures/` folder, where the results pages can find it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve


def image_grid(rows: dict[str, np.ndarray], title: str,
               captions: dict[str, list[str]] | None = None) -> plt.Figure:
    """One row of images per entry (label -> N x C x H x W array), with an optional caption
    under each image (label -> one string per image)."""
    n = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.2 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                img = images[c]
                ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray",
                          vmin=0, vmax=1)
                if captions and label in captions:
                    ax.set_xlabel(captions[label][c], fontsize=7)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def pr_curves(truth: np.ndarray, scores: dict[str, np.ndarray], title: str) -> plt.Figure:
    """Precision-recall curve of each score (higher = more suspicious) for the truth flags."""
    fig = _curves({label: precision_recall_curve(truth, s)[1::-1] for label, s in scores.items()},
                  ([0, 1], [np.mean(truth)] * 2), title, "recall", "precision")
    fig.axes[0].set(xlim=(0, 1), ylim=(0, 1.02))
    return fig


def roc_curves(truth: np.ndarray, scores: dict[str, np.ndarray], title: str) -> plt.Figure:
    """ROC curve of each score (higher = more suspicious) for the truth flags."""
    return _curves({label: roc_curve(truth, s)[:2] for label, s in scores.items()},
                   ([0, 1], [0, 1]), title, "false positive rate", "true positive rate")


def _curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], chance: tuple[list, list],
            title: str, xlabel: str, ylabel: str) -> plt.Figure:
    """One line per (x, y) curve and a dotted line for chance."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for label, (x, y) in curves.items():
        ax.plot(x, y, label=label)
    ax.plot(*chance, color="grey", linestyle=":", label="chance")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def grouped_bars(values: dict[str, dict[str, float]], title: str, ylabel: str,
                 ylim: tuple[float, float] | None = None) -> plt.Figure:
    """Bars per group (outer keys, on the x axis) and series (inner keys, in the legend)."""
    groups = list(values)
    series = list(dict.fromkeys(k for v in values.values() for k in v))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(groups) * len(series) / 2), 3.8))
    for i, name in enumerate(series):
        xs = np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width
        ax.bar(xs, [values[g].get(name, np.nan) for g in groups], width, label=name)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set(ylabel=ylabel, title=title)
    if ylim:
        ax.set_ylim(*ylim)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=len(series), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def histograms(values: dict[str, np.ndarray], title: str, xlabel: str, *,
               span: tuple[float, float] | None = None, bins: int = 40) -> plt.Figure:
    """Overlaid density histograms of each sample (label -> values); `span` shades a range."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    edges = np.linspace(0, 1, bins + 1)
    for label, v in values.items():
        ax.hist(v, bins=edges, density=True, histtype="step", linewidth=1.5, label=label)
    if span:
        ax.axvspan(*span, color="grey", alpha=0.2, label="ambiguity band")
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def scatter_pair(points: np.ndarray, colourings: dict[str, np.ndarray],
                 title: str) -> plt.Figure:
    """The same 2-D points side by side, coloured by each labelling (label -> N integers)."""
    fig, axes = plt.subplots(1, len(colourings), figsize=(4.2 * len(colourings), 3.8),
                             squeeze=False)
    for ax, (label, values) in zip(axes[0], colourings.items(), strict=True):
        for v in np.unique(values):
            keep = values == v
            ax.scatter(points[keep, 0], points[keep, 1], s=8, alpha=0.7, label=str(v))
        ax.set(xlabel="PC 1", ylabel="PC 2", title=label)
        ax.legend(fontsize=7, markerscale=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def lines(series: dict[str, dict[float, float]], title: str, xlabel: str,
          ylabel: str) -> plt.Figure:
    """One line per series (label -> {x: y})."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, values in series.items():
        ax.plot(list(values), list(values.values()), marker="o", label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def timeline(statistics: dict[str, np.ndarray], alarms: dict[str, np.ndarray], change_at: int,
             title: str) -> plt.Figure:
    """One panel per detector: its statistic per window, alarms in red, the change dashed."""
    fig, axes = plt.subplots(len(statistics), 1, figsize=(6, 1.6 * len(statistics)),
                             sharex=True, squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], statistics.items(), strict=True):
        windows = np.arange(len(values))
        ax.plot(windows, values, marker=".", color="tab:blue")
        ax.scatter(windows[alarms[name]], values[alarms[name]], color="red", zorder=3)
        ax.axvline(change_at - 0.5, color="grey", linestyle="--")
        ax.set_ylabel(name, fontsize=8)
    axes[-1, 0].set_xlabel("window")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_curves(losses: dict[str, list[float]], title: str) -> plt.Figure:
    """Mean training loss per epoch of each model, each scaled to its own first epoch."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, values in losses.items():
        v = np.asarray(values, float)
        ax.plot(np.arange(1, len(v) + 1), (v - v.min()) / (np.ptp(v) or 1.0), label=label)
    ax.set(xlabel="epoch", ylabel="loss (min-max scaled)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def heat_map(values: dict[str, dict[str, float]], title: str, label: str) -> plt.Figure:
    """Rows (outer keys) x columns (inner keys) of values in [0, 1], each cell written in."""
    import pandas as pd
    import seaborn as sns

    grid = pd.DataFrame(values).T.astype(float)
    fig, ax = plt.subplots(figsize=(1.1 * grid.shape[1] + 3, 0.36 * grid.shape[0] + 1.6))
    sns.heatmap(grid, vmin=0, vmax=1, cmap="viridis", annot=True, fmt=".2f",
                annot_kws={"fontsize": 7}, cbar_kws={"label": label}, ax=ax)
    ax.set_xticks(ax.get_xticks(), grid.columns, rotation=30, ha="right")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def intervals(rows: list[dict], title: str) -> plt.Figure:
    """One panel per claim, stacked to the page's width: each method (y) with its value and
    95 % interval (x) per setting (colour), and the paper's value as a black bar where it
    gives one. `rows`: dicts of panel, method, setting, value, low, high and paper (or None);
    a panel's label names its scale."""
    import pandas as pd
    import seaborn as sns

    panels = list(dict.fromkeys(r["panel"] for r in rows))
    sizes = [len({r["method"] for r in rows if r["panel"] == p}) for p in panels]
    fig, axes = plt.subplots(len(panels), 1, squeeze=False, figsize=(
        8, sum(0.5 * n + 1.1 for n in sizes)), height_ratios=[0.5 * n + 1.1 for n in sizes])
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        mine = [r for r in rows if r["panel"] == panel]
        # each point drawn from its (low, value, high): the median is the value, the full
        # range ("pi", 100) the interval
        long = pd.DataFrame([{**r, "x": x} for r in mine for x in (r["low"], r["value"],
                                                                     r["high"])])
        several = long["setting"].nunique() > 1
        sns.pointplot(long, x="x", y="method", hue="setting", estimator="median",
                      errorbar=("pi", 100), dodge=0.4 if several else False, linestyle="none",
                      markersize=5, ax=ax)
        marks = [(r["paper"], r["method"]) for r in mine if r.get("paper") is not None]
        if marks:
            order = [t.get_text() for t in ax.get_yticklabels()]
            ax.scatter([v for v, _ in marks], [order.index(m) for _, m in marks], marker="|",
                       s=300, color="black", zorder=5, label="paper")
        ax.set(xlabel=panel, ylabel="")
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save(fig: plt.Figure, run_dir: str | Path, name: str, folder: str = "figures") -> Path:
    """Write `fig` to `run_dir/<folder>/<name>.png` and return the path."""
    path = Path(run_dir) / folder / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
