"""Intervals and the verdict. Every claim is judged on the interval of the difference between
the claimed method and each rival: a paired bootstrap over the test items (the same resample for
every method), or, over several seeds, the t-interval of the mean of the seeds' differences; and
one rule turns the intervals into one of four words (`verdict`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95
VERDICTS = ("holds", "does not hold", "not separated", "not tested")


def counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each of `n` items is drawn in each resample (a row of `indices` each)."""
    return np.stack([np.bincount(rows, minlength=n) for rows in indices]).astype(float)


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


def resampled_avpr(is_outlier: np.ndarray, scores: np.ndarray,
                   indices: np.ndarray) -> np.ndarray:
    """`avpr` of each resample (a row of `indices`) at once: scikit-learn's step-wise average
    precision, the precision at each distinct threshold weighted by the recall it adds (NaN for
    a resample with no outlier)."""
    truth, s = np.asarray(is_outlier, bool)[indices], np.asarray(scores, float)[indices]
    order = np.argsort(-s, axis=1, kind="stable")
    s, truth = np.take_along_axis(s, order, 1), np.take_along_axis(truth, order, 1)
    hits = np.cumsum(truth, axis=1)
    last = np.ones_like(truth)  # the last item of each run of tied scores: a threshold
    last[:, :-1] = s[:, :-1] != s[:, 1:]
    before = np.maximum.accumulate(np.where(last, hits, 0), axis=1)
    before = np.concatenate([np.zeros((len(s), 1)), before[:, :-1]], axis=1)
    precision = hits / np.arange(1, s.shape[1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (last * (hits - before) * precision).sum(1) / hits[:, -1]


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


def leader(truth: np.ndarray, scores: dict[str, np.ndarray], *, seed: int) -> dict:
    """The method with the highest AVPR on `truth` as a claim that it beats every other one
    (`compare`, paired resamples from `seed`): `verdict` then names those it is not separated
    from, and says not tested when none beats chance (the share of outliers)."""
    indices = bootstrap_indices(len(truth), seed=seed)
    every = np.arange(len(truth))[None]
    values = {name: float(resampled_avpr(truth, s, every)[0]) for name, s in scores.items()}
    spread = {name: resampled_avpr(truth, s, indices) for name, s in scores.items()}
    best = max(values, key=values.get)
    return compare(values, spread, best, [n for n in values if n != best], better="higher",
                   chance=float(np.mean(truth)))


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
    if any(c.get("value") is None for c in claims):  # the claimed method missing in a seed
        return next(c for c in claims if c.get("value") is None)
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
