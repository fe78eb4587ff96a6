"""Drift analysis on autoencoder embeddings (uncleDecart/data_drift): standardised embeddings,
PCA to two components, k-means on the PCA points with k chosen by the silhouette of the
standardised embeddings (DBSCAN on the standardised embeddings and a BIC-chosen Gaussian mixture
as the alternatives the authors discuss), a reconstruction-error threshold for anomalies, and a
stream of windows on which drift detectors raise alarms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.cluster import DBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from glitchbook.errors import ConfigError

GOOD, NEW, ANOMALY = 0, 1, 2  # what a stream item is
K_MAX = 7  # the authors' `emulate_drift` tries k = 2..7


@dataclass(frozen=True)
class Projection:
    """Embeddings standardised, and projected to two principal components."""

    scaled: np.ndarray  # N x d, each dimension standardised
    points: np.ndarray  # N x 2
    explained_variance: float  # share of the standardised variance the two components keep


def project(embeddings: np.ndarray) -> Projection:
    """StandardScaler then PCA(2), as the authors."""
    scaled = StandardScaler().fit_transform(embeddings)
    pca = PCA(2).fit(scaled)
    return Projection(scaled, pca.transform(scaled), float(pca.explained_variance_ratio_.sum()))


def silhouette_k(projection: Projection, k_max: int = K_MAX, *,
                 seed: int = 0) -> tuple[int, dict[int, float], np.ndarray]:
    """The authors' rule: for k = 2..k_max, k-means on the two PCA components, scored by the
    silhouette of those labels on the standardised embeddings. Returns the k with the highest
    silhouette, every k's silhouette, and the chosen clustering's labels."""
    points = projection.points
    if len(points) <= k_max:
        raise ConfigError(f"{len(points)} points are too few for k up to {k_max}")
    scores, labels = {}, {}
    for k in range(2, k_max + 1):
        labels[k] = KMeans(k, n_init=10, random_state=seed).fit_predict(points)
        scores[k] = float(silhouette_score(projection.scaled, labels[k]))
    best = max(scores, key=scores.get)
    return best, scores, labels[best]


def bic_k(points: np.ndarray, k_max: int = K_MAX, *, seed: int = 0) -> int:
    """The number of Gaussian-mixture components (1..k_max) with the lowest BIC."""
    bics = [GaussianMixture(k, random_state=seed).fit(points).bic(points)
            for k in range(1, k_max + 1)]
    return int(np.argmin(bics)) + 1


def dbscan_k(scaled: np.ndarray, *, eps: float, min_samples: int) -> int:
    """Clusters DBSCAN finds (noise not counted) on the standardised embeddings; the authors
    use eps 5, min_samples 20 for the 32-dimensional code and 2.5, 10 for the 8-dimensional."""
    return len(set(DBSCAN(eps=eps, min_samples=min_samples).fit_predict(scaled)) - {-1})


def error_threshold(errors: np.ndarray, percentile: float = 99.0) -> float:
    """The reconstruction error above which an image is flagged: a high percentile of the
    errors of good images."""
    return float(np.percentile(errors, percentile))


@dataclass(frozen=True)
class Stream:
    """A sequence of windows: good images only before window `change_at`, then a `share` of
    each window replaced by drifted items (a new class, or anomalies of the good class)."""

    images: np.ndarray  # windows x size x C x H x W
    kinds: np.ndarray  # windows x size: GOOD, NEW or ANOMALY
    change_at: int


def make_stream(good: np.ndarray, drifted: np.ndarray, kind: int, *, windows: int = 20,
                size: int = 50, change_at: int = 10, share: float = 0.3,
                seed: int = 0) -> Stream:
    """Draw the stream's windows (with replacement) from pools of good and drifted images."""
    if not 0 < change_at < windows or not 0 < share <= 1:
        raise ConfigError(f"need 0 < change_at < windows and 0 < share <= 1, got "
                          f"{change_at}, {windows}, {share}")
    rng = np.random.default_rng(seed)
    n_drift = round(share * size)
    kinds = np.full((windows, size), GOOD)
    kinds[change_at:, :n_drift] = kind
    images = np.empty((windows, size, *good.shape[1:]), good.dtype)
    for w in range(windows):
        drift = kinds[w] == kind
        images[w, ~drift] = good[rng.integers(len(good), size=int((~drift).sum()))]
        images[w, drift] = drifted[rng.integers(len(drifted), size=int(drift.sum()))]
        order = rng.permutation(size)
        images[w], kinds[w] = images[w, order], kinds[w, order]
    return Stream(images, kinds, change_at)


def mmd_test(a: np.ndarray, b: np.ndarray, *, permutations: int = 200,
             seed: int = 0) -> float:
    """p-value of a permutation test on the squared maximum mean discrepancy (RBF kernel,
    median-distance bandwidth) between samples a and b."""
    joint = np.concatenate([a, b])
    sq = ((joint[:, None] - joint[None]) ** 2).sum(-1)
    kernel = np.exp(-sq / np.median(sq[sq > 0]))
    n = len(a)

    def mmd(order: np.ndarray) -> float:
        k = kernel[np.ix_(order, order)]
        return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()

    rng = np.random.default_rng(seed)
    observed = mmd(np.arange(len(joint)))
    null = [mmd(rng.permutation(len(joint))) for _ in range(permutations)]
    return float((1 + sum(v >= observed for v in null)) / (1 + permutations))


def ks_test(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest per-dimension Kolmogorov-Smirnov p-value, Bonferroni-corrected (x dims)."""
    p = [stats.ks_2samp(a[:, j], b[:, j]).pvalue for j in range(a.shape[1])]
    return float(min(1.0, min(p) * a.shape[1]))


def delay_and_false_alarms(alarms: np.ndarray, change_at: int) -> tuple[int | None, int]:
    """Windows from the change to the first alarm at or after it (None if none), and the
    alarms raised before the change."""
    after = np.flatnonzero(alarms[change_at:])
    return (int(after[0]) if len(after) else None), int(alarms[:change_at].sum())
