"""Detection and repair metrics, thin over scikit-learn. Scores: higher = more suspicious.

Definitions follow the CLSVAE authors' evaluation code: cell-level AUROC/AVPR are computed per
pixel over images and macro-averaged over the pixels that have dirty cells; SMSE (on standardised
pixels) and the Brier score (binary images) are computed per pixel over the selected cells and
averaged over pixels.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

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


def counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each of `n` items is drawn in each resample (a row of `indices` each)."""
    return np.stack([np.bincount(rows, minlength=n) for rows in indices]).astype(float)


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


# Intervals and the verdict. Every claim is judged on the interval of the difference between the
# claimed method and each rival: a paired bootstrap over the test items (the same resample for
# every method), or, over several seeds, the t-interval of the mean of the seeds' differences.
RESAMPLES = 1000
LEVEL = 0.95
VERDICTS = ("holds", "does not hold", "not separated", "not tested")


def bootstrap_indices(n: int, *, resamples: int = RESAMPLES, seed: int = 0,
                      groups: np.ndarray | None = None) -> np.ndarray:
    """`resamples` x `n` item indices drawn with replacement from `seed`: the resamples that
    every method's metric shares, so that their differences are paired. With `groups` (a
    label per item) each group is resampled within itself and keeps its size (a stratified
    bootstrap: the test split of each normal class, say)."""
    rng = np.random.default_rng(seed)
    if groups is None:
        return rng.integers(0, n, size=(resamples, n))
    indices = np.empty((resamples, n), np.int64)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        indices[:, members] = members[rng.integers(0, len(members),
                                                   size=(resamples, len(members)))]
    return indices


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> list[float]:
    """[low, high]: the central `level` of the finite `values` (a bootstrap distribution);
    NaNs (a resample a metric is undefined on) are left out, and all-NaN gives NaNs."""
    finite = np.asarray(values, float)[np.isfinite(values)]
    if not len(finite):
        return [float("nan"), float("nan")]
    tail = 100 * (1 - level) / 2
    return [float(v) for v in np.percentile(finite, [tail, 100 - tail])]


def resampled(statistic: Callable[[np.ndarray], float], indices: np.ndarray) -> np.ndarray:
    """`statistic(rows)` for each row of `indices` (a metric of the resampled items)."""
    return np.array([statistic(rows) for rows in indices], float)


def undefined_as_nan(metric: Callable[..., float]) -> Callable[..., float]:
    """`metric`, giving NaN where it is undefined (a resample with one class only)."""
    def safe(*arrays: np.ndarray) -> float:
        if len(np.unique(arrays[0])) < 2:
            return float("nan")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return metric(*arrays)

    return safe


def paired_claim(arrays: dict[str, tuple[np.ndarray, ...]],
                 statistic: Callable[..., float], claimed: str, rivals: list[str], *,
                 better: str, chance: float | None, seed: int,
                 groups: np.ndarray | None = None) -> dict:
    """A claim judged on test items: each method's `statistic` of its arrays (aligned on the
    items: truth and scores, say) on every item and on the same `RESAMPLES` resamples of the
    items, drawn from `seed` (within `groups` when given), then `compare`d."""
    n = len(next(iter(arrays.values()))[0])
    indices = bootstrap_indices(n, seed=seed, groups=groups)
    values = {name: float(statistic(*a)) for name, a in arrays.items()}
    spread = {name: resampled(lambda rows, a=a: statistic(*(x[rows] for x in a)), indices)
              for name, a in arrays.items()}
    return compare(values, spread, claimed, rivals, better=better, chance=chance)


def compare(values: dict[str, float], distributions: dict[str, np.ndarray], claimed: str,
            rivals: list[str], *, better: str, chance: float | None) -> dict:
    """A claim's numbers from each method's point value and bootstrap distribution (paired:
    row b of every distribution is the same resample): the claimed method's value and
    interval, each rival's, the interval of the difference claimed − rival, and the chance
    level. A rival with no value is recorded as missing (None), as is the claimed method."""
    if claimed not in values:
        return {"claimed": claimed, "value": None, "better": better, "chance": chance,
                "interval": None, "rivals": dict.fromkeys(rivals)}
    claim = {"claimed": claimed, "value": values[claimed], "better": better, "chance": chance,
             "interval": percentile_interval(distributions[claimed]), "rivals": {}}
    for rival in rivals:
        if rival not in values:
            claim["rivals"][rival] = None
            continue
        claim["rivals"][rival] = {
            "value": values[rival], "interval": percentile_interval(distributions[rival]),
            "difference": values[claimed] - values[rival],
            "difference_interval": percentile_interval(distributions[claimed]
                                                       - distributions[rival])}
    return claim


def check(holds: bool, detail: str) -> dict:
    """A claim that a run settles by a yes or no of its own (a count found, a threshold met),
    with no interval: `verdict` says holds or does not hold, and over seeds not separated when
    the seeds disagree."""
    return {"check": bool(holds), "detail": detail}


def over_seeds(claims: list[dict]) -> dict:
    """One claim from the same claim in several seeds' runs: a check that holds in k of n
    seeds, or each value and difference as the mean over seeds with its t-interval
    (`seeds_interval`). A rival missing in any seed is missing."""
    if len(claims) == 1:
        return claims[0]
    if all("check" in c for c in claims):
        held = sum(c["check"] for c in claims)
        return {"check": held == len(claims) if held in (0, len(claims)) else None,
                "detail": "; ".join(c["detail"] for c in claims),
                "seeds": f"held in {held} of {len(claims)} seeds"}
    first = claims[0]
    merged = {**first, "value": float(np.mean([c["value"] for c in claims])),
              "interval": seeds_interval([c["value"] for c in claims]), "rivals": {},
              "seeds": len(claims)}
    for rival in first["rivals"]:
        found = [c["rivals"].get(rival) for c in claims]
        if any(f is None for f in found):
            merged["rivals"][rival] = None
            continue
        differences = [f["difference"] for f in found]
        merged["rivals"][rival] = {
            "value": float(np.mean([f["value"] for f in found])),
            "interval": seeds_interval([f["value"] for f in found]),
            "difference": float(np.mean(differences)),
            "difference_interval": seeds_interval(differences)}
    return merged


def merge_claims(runs: list[dict]) -> dict:
    """The claims of several seeds' runs of one setting (each `{claim id: {scope: claim}}`, as
    the methods record them) as one: each claim over the seeds that have it (`over_seeds`)."""
    merged: dict[str, dict] = {}
    for key in dict.fromkeys(k for run in runs for k in run):
        scopes = dict.fromkeys(s for run in runs for s in run.get(key, {}))
        merged[key] = {scope: over_seeds([run[key][scope] for run in runs
                                          if scope in run.get(key, {})]) for scope in scopes}
    return merged


def seeds_interval(values: list[float], level: float = LEVEL) -> list[float]:
    """[low, high] of the mean of one value per seed: mean ± t(n − 1) x sd / sqrt(n); the
    value itself, twice, for a single seed."""
    from scipy import stats

    x = np.asarray(values, float)
    if len(x) < 2:
        return [float(x.mean()), float(x.mean())]
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return [float(x.mean() - half), float(x.mean() + half)]


def _favours(interval: list[float], better: str) -> int:
    """+1 when the whole interval of a difference (claimed − other) favours the claimed method,
    −1 when it favours the other, 0 when it holds zero (or is undefined)."""
    low, high = interval
    if better == "lower":
        low, high = -high, -low
    return 1 if low > 0 else -1 if high < 0 else 0


def verdict(claim: dict) -> tuple[str, str]:
    """(one of VERDICTS, the reason) of a claim as `compare` or `check` records it: `holds` when
    every rival's difference interval favours the claimed method, `does not hold` when one
    favours a rival, `not separated` otherwise (ties included), `not tested` when a rival is
    missing or the claimed method and every rival sit at chance (their intervals reach the
    chance level or fall on its wrong side). A check holds or does not hold as it says."""
    if "check" in claim:
        word = {True: "holds", False: "does not hold", None: "not separated"}[claim["check"]]
        return word, claim.get("seeds", "the run's own check, no interval")
    rivals, better = claim["rivals"], claim["better"]
    missing = sorted(name for name, found in rivals.items() if found is None)
    if claim["value"] is None:
        missing.insert(0, claim["claimed"])
    if missing:
        return "not tested", f"no result for {', '.join(missing)}"
    if claim.get("chance") is not None:
        everyone = [claim["interval"], *(r["interval"] for r in rivals.values())]
        if not any(_favours([low - claim["chance"], high - claim["chance"]], better) > 0
                   for low, high in everyone):
            return "not tested", f"every method at chance ({claim['chance']:.3g})"
    sides = {name: _favours(r["difference_interval"], better) for name, r in rivals.items()}
    beaten_by = [name for name, side in sides.items() if side < 0]
    if beaten_by:
        return "does not hold", f"{', '.join(beaten_by)} better"
    unseparated = [name for name, side in sides.items() if side == 0]
    if unseparated:
        return "not separated", f"not separated from {', '.join(unseparated)}"
    return "holds", "better than " + ", ".join(rivals) if rivals else "holds"
