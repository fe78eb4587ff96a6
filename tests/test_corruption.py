import numpy as np
import pytest

from glitchbook import ConfigError
from glitchbook.corruption import (
    PATTERNS,
    STRIPS,
    pattern_masks,
    systematic_outliers,
    trusted_set,
)


def test_fraction_masks_and_patterns(digits):
    c = systematic_outliers(digits.images, fraction=0.35, seed=0)
    assert c.images.shape == digits.images.shape and c.mask.shape == digits.images.shape
    assert c.fraction <= 0.35 and c.fraction > 0.25  # a pattern may leave a few images unchanged
    # every changed pixel is flagged, and only outliers change
    np.testing.assert_array_equal(c.mask, c.images != digits.images)
    assert not c.mask[~c.is_outlier].any()
    assert (c.pattern[c.is_outlier] >= 0).all() and (c.pattern[~c.is_outlier] == -1).all()
    # one pattern an image: its changed pixels lie inside that pattern's mask
    masks = pattern_masks(PATTERNS, 8, 8, np.random.default_rng(0))
    for i in np.flatnonzero(c.is_outlier)[:50]:
        assert not (c.mask[i, 0] & ~masks[c.pattern[i]]).any()
    # outliers spread evenly over the patterns
    counts = np.bincount(c.pattern[c.is_outlier], minlength=len(PATTERNS))
    assert counts.max() - counts.min() <= 0.5 * counts.mean()


def test_replace_values_are_constant_per_pattern(digits):
    c = systematic_outliers(digits.images, fraction=0.5, seed=1)
    for k, value in enumerate(c.pattern_values):
        assert value in (0.0, 1.0)
        rows = c.pattern == k
        assert (c.images[rows][c.mask[rows]] == value).all()


def test_or_mode_draws_in_white_on_binary_images():
    images = np.zeros((40, 1, 28, 28), np.float32)
    c = systematic_outliers(images, fraction=0.5, patterns=STRIPS, mode="or", seed=0)
    assert c.is_outlier.sum() == 20
    assert set(np.unique(c.images)) == {0.0, 1.0}


def test_strips_on_28x28_images_are_the_authors():
    # column 20, row 15, and the two 2-pixel bands of their diagonal polygons
    masks = pattern_masks(STRIPS, 28, 28, np.random.default_rng(0))
    rows, cols = np.mgrid[0:28, 0:28]
    np.testing.assert_array_equal(masks[0], cols == 20)
    np.testing.assert_array_equal(masks[1], rows == 15)
    np.testing.assert_array_equal(masks[2], (rows + cols == 15) | (rows + cols == 16))
    np.testing.assert_array_equal(masks[3], (rows + cols == 38) | (rows + cols == 39))


def test_corruption_is_determined_by_its_seed(digits):
    a = systematic_outliers(digits.images, seed=5)
    b = systematic_outliers(digits.images, seed=5)
    c = systematic_outliers(digits.images, seed=6)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, "0.3"])
def test_fraction_outside_the_open_interval_is_refused(digits, fraction):
    with pytest.raises(ConfigError, match="between 0 and 1"):
        systematic_outliers(digits.images, fraction=fraction)


def test_unknown_pattern_is_refused(digits):
    with pytest.raises(ConfigError, match="unknown corruption pattern"):
        systematic_outliers(digits.images, patterns=("square-1", "smiley"))


def test_trusted_set_covers_every_class_and_pattern(digits):
    c = systematic_outliers(digits.images, seed=0)
    train = np.arange(0, len(digits), 2)
    t = trusted_set(digits.labels, c.pattern, per_class=5, candidates=train, seed=0)
    assert set(t.index) <= set(train)
    assert t.is_clean.sum() == 5 * 10
    patterns_seen = np.bincount(c.pattern[t.index][~t.is_clean], minlength=len(PATTERNS))
    assert (patterns_seen == 5).all()
    np.testing.assert_array_equal(t.is_clean, ~c.is_outlier[t.index])
    with pytest.raises(ConfigError):
        trusted_set(digits.labels, c.pattern, per_class=0)
