"""Seeded generators of bad data, each returning the dirty data with its ground truth.

Systematic outliers follow the CLSVAE paper (arXiv 2207.08050, section 5 and the authors'
`SystematicNoise`): a few fixed pixel patterns (6x6 squares at positions drawn once, 1-pixel
strips), each outlier receiving exactly one, with a per-pattern constant value (black or white)
drawn once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from glitchbook import datasets
from glitchbook.checks import (
    check_choice,
    check_choices,
    check_fraction,
    check_positive,
    check_range,
)
from glitchbook.datasets import DatasetInfo
from glitchbook.datasets.shapes import polygon_mask
from glitchbook.errors import ConfigError

SQUARES = ("square-1", "square-2", "square-3", "square-4")
STRIPS = ("vertical-strip", "horizontal-strip", "diagonal-top-left", "diagonal-bottom-right")
PATTERNS = SQUARES + STRIPS
RECIPES = {  # family -> (patterns, how they are applied), from the authors' dataset scripts
    "frey-faces": (SQUARES, "replace"),
    "shapes": (STRIPS, "or"),
}  # every other family: Fashion-MNIST's, all eight patterns replacing pixels
SQUARE_SIDE = 6 / 28  # of the image side, as the paper's 6-pixel squares on 28x28 images
DIAGONALS = {  # the authors' polygons (row, column) of the two diagonal strips on 28x28 images
    "diagonal-top-left": [(15, 0), (0, 15), (0, 16), (16, 0)],
    "diagonal-bottom-right": [(28, 10), (10, 28), (11, 28), (28, 11)],
}


@dataclass(frozen=True)
class SystematicCorruption:
    """Dirty images with per-image outlier flags and per-pixel masks of the changed pixels.

    Shapes: `images` and `mask` N x C x H x W; `is_outlier` and `pattern` (index into
    `pattern_names`, -1 for a clean image) of length N.
    """

    images: np.ndarray
    is_outlier: np.ndarray
    mask: np.ndarray
    pattern: np.ndarray
    pattern_names: tuple[str, ...]
    pattern_values: tuple[float, ...]

    @property
    def fraction(self) -> float:
        """Share of images that the corruption changed."""
        return float(self.is_outlier.mean())


@dataclass(frozen=True)
class TrustedSet:
    """A small labelled set: indices into the data and whether each image is clean."""

    index: np.ndarray
    is_clean: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def pattern_masks(names: tuple[str, ...], height: int, width: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Boolean K x H x W masks of the named patterns; square positions are drawn from `rng`.

    On 28x28 images the strips are the authors' (column 20, row 15, and the two 2-pixel
    diagonal bands of their polygons); on other sizes they are scaled 1-pixel lines."""
    check_choices(names, PATTERNS, "corruption pattern")
    rows, cols = np.mgrid[0:height, 0:width]
    side = max(1, round(SQUARE_SIDE * min(height, width)))
    squares = _non_overlapping_squares(sum(n in SQUARES for n in names), side, height, width, rng)
    diagonal = (height + width) / 56  # the authors' diagonals sit at x+y = 15 and 38 on 28x28
    authors = (height, width) == (28, 28)
    masks = []
    for name in names:
        if name in SQUARES:
            top, left = squares.pop(0)
            mask = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
        elif name == "vertical-strip":
            mask = cols == min(width - 1, round(20 / 28 * width))
        elif name == "horizontal-strip":
            mask = rows == min(height - 1, round(15 / 28 * height))
        elif authors:
            mask = polygon_mask(DIAGONALS[name], (height, width))
        else:
            mask = rows + cols == round((15 if name == "diagonal-top-left" else 38) * diagonal)
        masks.append(mask)
    return np.stack(masks)


def _non_overlapping_squares(count: int, side: int, height: int, width: int,
                             rng: np.random.Generator) -> list[tuple[int, int]]:
    taken = np.zeros((height, width), bool)
    corners: list[tuple[int, int]] = []
    for _ in range(1000 * max(count, 1)):
        if len(corners) == count:
            break
        # corners in [0, size - side), as the authors' randint(0, size - side)
        top = int(rng.integers(0, max(1, height - side)))
        left = int(rng.integers(0, max(1, width - side)))
        if not taken[top:top + side, left:left + side].any():
            taken[top:top + side, left:left + side] = True
            corners.append((top, left))
    if len(corners) < count:
        raise ConfigError(f"cannot place {count} separate {side}x{side} squares on "
                          f"{height}x{width} images")
    return corners


def systematic_outliers(images: np.ndarray, *, fraction: float = 0.35,
                        patterns: tuple[str, ...] = PATTERNS, mode: str = "replace",
                        seed: int | np.random.Generator = 0) -> SystematicCorruption:
    """Corrupt `fraction` of `images` (N x C x H x W in [0, 1]) with one systematic pattern each.

    `mode="replace"` sets the pattern's pixels to its constant (0 or 1, drawn once per pattern);
    `mode="or"` sets them to 1, as for binary images. Outliers are spread evenly over patterns.
    """
    check_fraction(fraction, "corruption fraction")
    check_choice(mode, ("replace", "or"), "corruption mode")
    check_choices(patterns, PATTERNS, "corruption pattern")
    rng = np.random.default_rng(seed)
    n = len(images)
    masks = pattern_masks(tuple(patterns), images.shape[2], images.shape[3], rng)
    values = (rng.choice([0.0, 1.0], size=len(patterns)) if mode == "replace"
              else np.ones(len(patterns)))
    n_out = int(n * fraction)
    per_pattern = np.full(len(patterns), n_out // len(patterns))
    per_pattern[rng.choice(len(patterns), n_out % len(patterns), replace=False)] += 1
    pattern = np.full(n, -1, np.int64)
    pattern[rng.permutation(n)[:n_out]] = rng.permutation(np.repeat(np.arange(len(patterns)),
                                                                    per_pattern))
    dirty = images.copy()
    for k in range(len(patterns)):
        rows = pattern == k
        dirty[rows] = np.where(masks[k], values[k], dirty[rows])
    mask = dirty != images
    is_outlier = mask.reshape(n, -1).any(axis=1)
    pattern[~is_outlier] = -1  # a pattern that changed no pixel leaves the image clean
    return SystematicCorruption(dirty, is_outlier, mask, pattern, tuple(patterns),
                                tuple(float(v) for v in values))


def recipe(dataset: str) -> tuple[tuple[str, ...], str]:
    """The paper's patterns and mode for `dataset`, by its family (Fashion-MNIST's recipe for
    the digit sets and any other)."""
    return RECIPES.get(datasets.entry(dataset).family, (PATTERNS, "replace"))


def trusted_capacity(train_images: float, dirty_share: float, dirty_strata: int,
                     info: DatasetInfo) -> int:
    """How many images the smallest stratum of a trusted set can be counted on to hold, in a
    training split of `train_images` of which `dirty_share` is bad, spread over `dirty_strata`
    strata (patterns, or one for every kind of bad), the clean ones over the dataset's classes
    (`info`): half the expected size of the smaller of its smallest class and one bad stratum,
    for a pattern or fault can leave an image unchanged and shares round down."""
    clean = train_images * (1 - dirty_share) * info.smallest_class / info.n_images
    return int(min(clean, train_images * dirty_share / dirty_strata) / 2)


def trusted_set(labels: np.ndarray, pattern: np.ndarray, *, per_class: int = 10,
                candidates: np.ndarray | None = None,
                seed: int | np.random.Generator = 0) -> TrustedSet:
    """Draw `per_class` labelled images from each stratum: each clean class and each pattern.

    Strata follow the authors' `joint_classes` coverage: inliers by class label, outliers by
    pattern. `candidates` (indices) restricts the draw, e.g. to the training split.
    """
    check_positive(trusted=per_class)
    rng = np.random.default_rng(seed)
    pool = np.arange(len(labels)) if candidates is None else np.asarray(candidates)
    strata = np.where(pattern[pool] >= 0, -1 - pattern[pool], labels[pool])
    kinds, counts = np.unique(strata, return_counts=True)
    if counts.min() < per_class:
        short = int(kinds[counts.argmin()])
        name = f"pattern {-1 - short}" if short < 0 else f"class {short}"
        raise ConfigError(f"the trusted set asks for {per_class} images per stratum, but "
                          f"{name} has only {counts.min()} among the candidates")
    chosen = [rng.permutation(pool[strata == s])[:per_class] for s in kinds]
    index = np.sort(np.concatenate(chosen))
    return TrustedSet(index, pattern[index] < 0)


# Label noise and anomalies (influence part: "Data Glitches Discovery using Influence-based
# Model Explanation", error_injection in the authors' repository).
GLITCH_KINDS = ("uniform", "class", "anomaly", "mixed")
CLEAN, MISLABELLED, ANOMALY = 0, 1, 2


@dataclass(frozen=True)
class Glitches:
    """Training data after injection: images, given labels, and the truth per sample
    (`kind`: 0 clean, 1 mislabelled, 2 anomaly; `true_labels`: labels before injection)."""

    images: np.ndarray
    labels: np.ndarray
    kind: np.ndarray
    true_labels: np.ndarray

    @property
    def is_glitch(self) -> np.ndarray:
        return self.kind != CLEAN


def _count(n: int, rate: float) -> int:
    check_fraction(rate, "glitch rate")
    return int(np.floor(rate * n))


def uniform_label_noise(labels: np.ndarray, n_classes: int, *, rate: float = 0.1,
                        seed: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray]:
    """floor(rate x n) samples get a label drawn uniformly from the other classes (the
    authors' `mislabelled_uniform`). Returns (new labels, mislabelled mask)."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), _count(len(labels), rate), replace=False)
    new = labels.copy()
    shift = rng.integers(1, n_classes, size=len(chosen))  # never 0: always another class
    new[chosen] = (labels[chosen] + shift) % n_classes
    return new, new != labels


def class_label_noise(labels: np.ndarray, n_classes: int, *, rate: float = 0.1,
                      seed: int | np.random.Generator = 0,
                      classes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Class-dependent noise (the authors' `mislabelled_cb`): `classes` classes, chosen by a
    seeded shuffle, each have floor(rate x |c|) of their samples relabelled to one fixed other
    class pi(c), pi a random cycle (never c itself). The authors contaminate one class;
    `classes=n_classes` gives their README's variant, every class."""
    check_range(classes, 1, n_classes, "classes to contaminate")
    rng = np.random.default_rng(seed)
    pi = np.empty(n_classes, np.int64)
    perm = rng.permutation(n_classes)
    pi[perm] = np.roll(perm, 1)  # each class maps to the next in a random cycle: never itself
    new = labels.copy()
    for c in perm[:classes]:
        members = np.flatnonzero(labels == c)
        chosen = rng.choice(members, _count(len(members), rate), replace=False)
        new[chosen] = pi[c]
    return new, new != labels


def inject_glitches(images: np.ndarray, labels: np.ndarray, n_classes: int, *, kind: str,
                    rate: float = 0.1, ood_images: np.ndarray | None = None,
                    noisy_classes: int = 1, seed: int = 0) -> Glitches:
    """Inject glitches of `kind` into a training set, as the authors' `error_injection`.

    uniform: floor(rate x n) labels changed to another class, drawn uniformly. class: class-
    dependent noise on `noisy_classes` classes (see `class_label_noise`). anomaly:
    floor(rate x n) out-of-distribution images (`ood_images`, drawn without replacement while
    enough) are appended, all with one random in-distribution label. mixed: uniform mislabels
    of the original samples and appended anomalies, each at `rate`. Appended anomalies have
    true label -1.
    """
    check_choice(kind, GLITCH_KINDS, "glitch type")
    rng = np.random.default_rng(seed)
    new_labels, kinds = labels.copy(), np.zeros(len(labels), np.int8)
    if kind in ("uniform", "mixed"):
        new_labels, flipped = uniform_label_noise(labels, n_classes, rate=rate, seed=seed + 1)
        kinds[flipped] = MISLABELLED
    if kind == "class":
        new_labels, flipped = class_label_noise(labels, n_classes, rate=rate, seed=seed + 1,
                                                classes=noisy_classes)
        kinds[flipped] = MISLABELLED
    if kind not in ("anomaly", "mixed"):
        return Glitches(images.copy(), new_labels, kinds, labels.copy())
    if ood_images is None or len(ood_images) == 0:
        raise ConfigError("anomaly injection needs out-of-distribution images")
    if ood_images.shape[1:] != images.shape[1:]:
        raise ConfigError(f"out-of-distribution images have shape {ood_images.shape[1:]}, "
                          f"the data {images.shape[1:]}")
    count = _count(len(labels), rate)
    drawn = ood_images[rng.choice(len(ood_images), count, replace=count > len(ood_images))]
    return Glitches(np.concatenate([images, drawn]),
                    np.r_[new_labels, np.full(count, rng.integers(n_classes))],
                    np.r_[kinds, np.full(count, ANOMALY, np.int8)],
                    np.r_[labels, np.full(count, -1)])


CAMERA_FAULTS = ("blur", "brightness", "noise", "scratches", "occlusion")


def camera_faults(images: np.ndarray, kind: str = "mixed", *, strength: float = 1.0,
                  seed: int = 0) -> np.ndarray:
    """Copies of `images` (N x C x H x W in [0, 1]) as a faulty camera would take them: `blur`
    (Gaussian, sigma 1.5 x strength), `brightness` (+0.4 x strength), `noise` (Gaussian, sd
    0.25 x strength), `scratches` (two bright lines), `occlusion` (a dark square of 0.4 x
    strength of the side), or `mixed` (one of them per image, at random)."""
    check_choice(kind, ("mixed", *CAMERA_FAULTS), "camera fault")
    check_positive(strength=strength)
    rng = np.random.default_rng(seed)
    kinds = (rng.choice(CAMERA_FAULTS, len(images)) if kind == "mixed"
             else np.full(len(images), kind))
    out = images.astype(np.float32, copy=True)
    h, w = images.shape[-2:]
    for i, fault in enumerate(kinds):
        img = out[i]
        if fault == "blur":
            img[:] = ndimage.gaussian_filter(img, sigma=(0, 1.5 * strength, 1.5 * strength))
        elif fault == "brightness":
            img += 0.4 * strength
        elif fault == "noise":
            img += rng.normal(0, 0.25 * strength, img.shape)
        elif fault == "scratches":
            for _ in range(2):
                r0, r1 = rng.integers(h, size=2)
                steps = 2 * max(h, w)
                rows = np.linspace(r0, r1, steps).round().astype(int)
                cols = np.linspace(0, w - 1, steps).round().astype(int)
                img[:, rows, cols] = 1.0
        else:  # occlusion
            side = max(1, round(0.4 * strength * min(h, w)))
            r, c = rng.integers(h - side + 1), rng.integers(w - side + 1)
            img[:, r:r + side, c:c + side] = 0.0
    return np.clip(out, 0.0, 1.0)
