"""Patterns in ambiguity (Gomes et al., CVPR 2024 ReGenAI workshop): embed ambiguous images,
reduce them with UMAP (cosine metric), cluster with a full-covariance Gaussian mixture
(k-means++ start), pick the settings with the best silhouette, and show each cluster by its
prototype: the medoid, the member with the least total distance to the others."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import davies_bouldin_score, pairwise_distances, silhouette_score
from sklearn.mixture import GaussianMixture
from tqdm import tqdm

from glitchbook.errors import ConfigError
from glitchbook.training import progress_interval


@dataclass(frozen=True)
class SearchSpace:
    """The settings tried: every combination (the authors search the same ranges with Bayesian
    optimisation: n_neighbors 5-25, min_dist 0.01-0.25, n_components 5-60, k 3-15)."""

    n_neighbors: tuple[int, ...] = (5, 15)
    min_dist: tuple[float, ...] = (0.01, 0.1)
    n_components: tuple[int, ...] = (5, 10)
    k: tuple[int, ...] = (3, 5, 8, 12, 15)


@dataclass
class Clustering:
    """The best clustering found, its scores and the reduced points it was scored on."""

    n_neighbors: int
    min_dist: float
    n_components: int
    k: int
    labels: np.ndarray
    silhouette: float
    davies_bouldin: float
    reduced: np.ndarray
    tried: list[dict]  # every setting with its silhouette

    @property
    def settings(self) -> dict[str, float]:
        return {"umap_n_neighbors": self.n_neighbors, "umap_min_dist": self.min_dist,
                "umap_n_components": self.n_components, "gmm_k": self.k}


# Below this many points UMAP finds the exact nearest neighbours from all pairwise distances.
EXACT_NEIGHBOURS = 4096


def _umap():
    """umap-learn, imported quietly: it warns that TensorFlow (for ParametricUMAP) is missing,
    and tqdm.auto, which it imports, warns in a kernel without ipywidgets."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.filterwarnings("ignore", message="IProgress not found")
        import umap
        import umap.distances
        import umap.umap_

    return umap


def cosine_distances(features: np.ndarray) -> np.ndarray | None:
    """All pairwise cosine distances of `features` with UMAP's own distance function, where
    UMAP would compute them itself (fewer than EXACT_NEIGHBOURS points), else None. UMAP asks
    scikit-learn for them with its distance as a Python callable, one call a pair (seconds for
    2,000 points); here they are computed once, in compiled code, for every setting tried."""
    if len(features) >= EXACT_NEIGHBOURS:
        return None
    distances = _umap().distances
    return distances.pairwise_special_metric(np.asarray(features, np.float32),
                                             metric=distances.cosine)


def reduce(features: np.ndarray, *, n_neighbors: int, min_dist: float, n_components: int,
           seed: int = 0, distances: np.ndarray | None = None) -> np.ndarray:
    """UMAP with the cosine metric, seeded (single-threaded, so repeatable). `distances`
    (`cosine_distances`) gives UMAP the exact nearest neighbours it would find from them,
    chosen by its own function: the embedding is bit for bit the one without."""
    umap = _umap()
    knn = (None, None, None)
    if distances is not None:
        knn = umap.umap_.nearest_neighbors(distances, n_neighbors, "precomputed", {}, False,
                                           None)
    with warnings.catch_warnings():  # "n_jobs overridden to 1 by setting random_state"
        warnings.simplefilter("ignore", UserWarning)
        return umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, n_components=n_components,
                         metric="cosine", random_state=seed,
                         precomputed_knn=knn).fit_transform(features)


def search(features: np.ndarray, space: SearchSpace = SearchSpace(), *, seed: int = 0,
           progress: bool = True) -> Clustering:
    """Try every UMAP x GMM setting of `space` on `features` (N x d) and keep the one whose
    labels have the highest silhouette on its reduced points."""
    n = len(features)
    if n < max(space.k) + 2 or n <= max(space.n_neighbors):
        raise ConfigError(f"{n} images are too few to cluster with k up to {max(space.k)} and "
                          f"{max(space.n_neighbors)} neighbours; generate more or widen the band")
    best: Clustering | None = None
    tried = []
    umap_grid = list(itertools.product(space.n_neighbors, space.min_dist, space.n_components))
    distances = cosine_distances(features)
    for nn, md, nc in tqdm(umap_grid, desc="UMAP x GMM search", unit="setting",
                           disable=not progress, mininterval=progress_interval()):
        reduced = reduce(features, n_neighbors=nn, min_dist=md, n_components=nc, seed=seed,
                         distances=distances)
        for k in space.k:
            labels = GaussianMixture(k, covariance_type="full", init_params="k-means++",
                                     random_state=seed).fit_predict(reduced)
            if len(np.unique(labels)) < 2:
                continue
            sil = float(silhouette_score(reduced, labels))
            tried.append({"n_neighbors": nn, "min_dist": md, "n_components": nc, "k": k,
                          "silhouette": sil})
            if best is None or sil > best.silhouette:
                best = Clustering(nn, md, nc, k, labels, sil,
                                  float(davies_bouldin_score(reduced, labels)), reduced, tried)
    if best is None:
        raise ConfigError("no setting gave two or more clusters")
    return best


def prototypes(reduced: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """For each cluster, the index of its medoid: the member whose summed Euclidean distance
    to the other members is smallest."""
    result = {}
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        distances = pairwise_distances(reduced[members]).sum(1)
        result[int(c)] = int(members[distances.argmin()])
    return result
