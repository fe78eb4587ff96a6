"""Detection and repair metrics, thin over scikit-learn. Scores: higher = more suspicious.

Definitions follow the CLSVAE authors' evaluation code: cell-level AUROC/AVPR are computed per
pixel over images and macro-averaged over the pixels that have dirty cells; SMSE (on standardised
pixels) and the Brier score (binary images) are computed per pixel over the selected cells and
averaged over pixels.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

EPS = 1e-8  # the authors' offset in the repair error's denominators


def _flat(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).reshape(len(a), -1)


def auroc(is_outlier: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for the binary truth `is_outlier`."""
    return float(roc_auc_score(np.asarray(is_outlier, bool), np.asarray(scores, float)))


def avpr(is_outlier: np.ndarray, scores: np.ndarray) -> float:
    """Average precision (area under the precision-recall curve) of `scores`."""
    return float(average_precision_score(np.asarray(is_outlier, bool), np.asarray(scores, float)))


def f1_at_contamination(is_outlier: np.ndarray, scores: np.ndarray,
                        contamination: float | None = None) -> float:
    """F1 when the top `contamination` share of scores (default: the true share) is flagged."""
    truth = np.asarray(is_outlier, bool)
    share = truth.mean() if contamination is None else contamination
    k = max(1, int(np.floor(share * len(truth))))
    threshold = np.sort(np.asarray(scores, float))[::-1][k - 1]
    return float(f1_score(truth, np.asarray(scores) >= threshold))


def f1_validated_threshold(validation_is_novel: np.ndarray, validation_scores: np.ndarray,
                           test_is_novel: np.ndarray, test_scores: np.ndarray, *,
                           step: float = 0.1) -> float:
    """The ARAE authors' p1 F1 (`test.find_f1`): on the validation split, every threshold of a
    grid with `step` from min - 1 to max + 1 of the scores calls an image normal when its score
    is below it; the first threshold with the best F1 of the normal class (their positive
    class) is then applied to the test split, whose normal-class F1 is returned."""
    def normal_f1(is_novel: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        normal = ~np.asarray(is_novel, bool)
        called = np.asarray(scores, float)[None, :] < thresholds[:, None]
        tp = (called & normal).sum(1)
        wrong = (called & ~normal).sum(1) + (~called & normal).sum(1)
        return np.where(tp > 0, 2 * tp / np.maximum(2 * tp + wrong, 1), 0.0)

    v = np.asarray(validation_scores, float)
    grid = np.arange(v.min() - 1, v.max() + 1, step)
    found = normal_f1(validation_is_novel, v, grid)
    best = grid[int(np.argmax(found))] if found.max() > 0 else 0.0
    return float(normal_f1(test_is_novel, test_scores, np.array([best]))[0])


def cell_scores_metric(mask: np.ndarray, cell_scores: np.ndarray, metric=auroc) -> float:
    """Macro average over pixels of `metric` computed per pixel across images.

    Args:
        mask: N x ... boolean dirty-cell truth; cell_scores: N x ... scores of the same shape.
    Only pixels with both dirty and clean cells enter the average (the others have no ranking).
    """
    truth, scores = _flat(mask).astype(bool), _flat(cell_scores)
    dirty = truth.sum(axis=0)
    columns = np.flatnonzero((dirty > 0) & (dirty < len(truth)))
    if len(columns) == 0:
        return float("nan")
    return float(np.mean([metric(truth[:, j], scores[:, j]) for j in columns]))


def smse(clean: np.ndarray, repaired: np.ndarray, mask: np.ndarray) -> float:
    """The CLSVAE authors' standardised mean squared error over the masked cells.

    For each pixel j with a masked cell: sum_i m_ij (x_ij - xhat_ij)^2 / (sum_i m_ij x_ij^2 +
    1e-8); then the mean over those pixels. `clean` and `repaired` must be on the standardised
    scale (one mean and sd of the dirty data), where x^2 is the squared distance to the mean.
    """
    x, xhat, m = _flat(clean), _flat(repaired), _flat(mask).astype(float)
    keep = m.sum(axis=0) > 0
    if not keep.any():
        return float("nan")
    error = (m * (x - xhat) ** 2).sum(axis=0)
    scale = (m * x**2).sum(axis=0)
    return float(np.mean(error[keep] / (scale[keep] + EPS)))


def brier(clean: np.ndarray, repaired: np.ndarray, mask: np.ndarray) -> float:
    """The authors' repair error on binary images: for each pixel j with a masked cell, the mean
    squared difference over its masked cells (the Brier score of the repaired probabilities);
    then the mean over those pixels."""
    x, xhat, m = _flat(clean), _flat(repaired), _flat(mask).astype(float)
    count = m.sum(axis=0)
    keep = count > 0
    if not keep.any():
        return float("nan")
    error = (m * (x - xhat) ** 2).sum(axis=0)
    return float(np.mean(error[keep] / (count[keep] + EPS)))


def repair_error(clean: np.ndarray, repaired: np.ndarray, mask: np.ndarray, *,
                 binary: bool) -> float:
    """SMSE, or the Brier score when the images are binary, as the CLSVAE authors report."""
    return brier(clean, repaired, mask) if binary else smse(clean, repaired, mask)


def repair_terms(clean: np.ndarray, repaired: np.ndarray, mask: np.ndarray, *,
                 binary: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the repair error sums over images, per image (N rows) and pixel (the P pixels with
    a masked cell in some image): m (x − x̂)², its scale (m x² for SMSE, m for the Brier
    score) and m; `repair_error_of` turns any rows of them into the error."""
    x, xhat, m = _flat(clean), _flat(repaired), _flat(mask).astype(float)
    keep = m.sum(axis=0) > 0
    x, xhat, m = x[:, keep], xhat[:, keep], m[:, keep]
    return m * (x - xhat) ** 2, m if binary else m * x**2, m


def repair_error_of(terms: tuple[np.ndarray, np.ndarray, np.ndarray],
                    counts: np.ndarray | None = None) -> np.ndarray | float:
    """The repair error (`smse` or `brier`) of the images weighted by `counts` (how often each
    image is drawn; a row per resample), or of every image once."""
    error, scale, m = (t.sum(0) if counts is None else counts @ t for t in terms)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no masked pixel
        result = np.nanmean(np.where(m > 0, error / (scale + EPS), np.nan), axis=-1)
    return float(result) if counts is None else result



def acd(probs: np.ndarray) -> float:
    """Average confidence distance: mean |0.5 - p| of a binary classifier's probabilities;
    0 when every image sits on the decision boundary, 0.5 when all are certain."""
    return float(np.mean(np.abs(0.5 - np.asarray(probs, float))))


def in_band(probs: np.ndarray, width: float = 0.1) -> np.ndarray:
    """Which images are ambiguous: |p - 0.5| < `width` (the authors' band: 0.4 < p < 0.6)."""
    return np.abs(np.asarray(probs, float) - 0.5) < width


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N x d each), the formula
    of FID: ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    from scipy import linalg

    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if min(len(a), len(b)) < 2:
        raise ValueError("the Fréchet distance needs at least two samples on each side")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", linalg.LinAlgWarning)
            root = linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(root).all():
            raise linalg.LinAlgError("non-finite square root")
    except (linalg.LinAlgError, linalg.LinAlgWarning):  # singular (dead features): offset
        eps = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root.real))
