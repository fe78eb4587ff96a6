import numpy as np
import pytest

from glitchbook import intervals, metrics


def test_auroc_and_avpr_on_a_hand_computed_case():
    truth = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    # pairs (outlier, inlier) ranked right: (0.35>0.1), (0.8>0.1), (0.8>0.4) -> 3 of 4
    assert metrics.auroc(truth, scores) == pytest.approx(0.75)
    # ranking: 0.8 (hit, P=1), 0.4 (miss), 0.35 (hit, P=2/3) -> AP = (1 + 2/3) / 2
    assert metrics.avpr(truth, scores) == pytest.approx(5 / 6)


def test_f1_at_the_true_contamination():
    truth = np.array([1, 1, 0, 0, 0])
    scores = np.array([0.9, 0.2, 0.8, 0.1, 0.0])
    # top 2 flagged: one hit, one false alarm -> precision 1/2, recall 1/2
    assert metrics.f1_at_contamination(truth, scores) == pytest.approx(0.5)


def test_cell_metric_is_a_macro_average_over_pixels_with_dirty_cells():
    mask = np.zeros((4, 1, 1, 3), bool)
    mask[:2, 0, 0, 0] = True  # pixel 0: two dirty cells
    mask[0, 0, 0, 1] = True  # pixel 1: one dirty cell; pixel 2: none (left out)
    scores = np.zeros((4, 1, 1, 3))
    scores[:, 0, 0, 0] = [1, 1, 0, 0]  # perfect on pixel 0
    scores[:, 0, 0, 1] = [0, 1, 1, 1]  # worst on pixel 1
    assert metrics.cell_scores_metric(mask, scores, metrics.auroc) == pytest.approx(0.5)


def test_smse_is_the_authors_per_pixel_ratio_on_standardised_values():
    # two images of three pixels, already standardised; mask = the cells that count
    clean = np.array([[1.0, -1.0, 2.0], [0.0, 1.0, -2.0]]).reshape(2, 1, 1, 3)
    repaired = np.array([[0.0, -1.0, 1.0], [1.0, 1.0, -1.0]]).reshape(2, 1, 1, 3)
    mask = np.array([[1, 0, 1], [1, 1, 0]], bool).reshape(2, 1, 1, 3)
    # pixel 0: (1 + 1) / (1 + 0); pixel 1: 0 / 1; pixel 2: 1 / 4  ->  mean 2.25 / 3
    assert metrics.smse(clean, repaired, mask) == pytest.approx(0.75)
    # every pixel with a masked cell counts, a zero scale with the authors' 1e-8 offset
    clean[0, 0, 0, 2] = 0.0
    assert metrics.smse(clean, repaired, mask) == pytest.approx((2 + 0 + 1 / 1e-8) / 3)
    # a pixel with no masked cell is left out
    mask[:, :, :, 2] = False
    assert metrics.smse(clean, repaired, mask) == pytest.approx(1.0)


def test_brier_per_pixel_then_averaged_for_binary_images():
    clean = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]).reshape(2, 1, 1, 3)
    repaired = np.array([[0.5, 0.0, 1.0], [1.0, 0.2, 0.0]]).reshape(2, 1, 1, 3)
    mask = np.array([[1, 1, 0], [1, 0, 1]], bool).reshape(2, 1, 1, 3)
    # pixel 0: (0.25 + 1) / 2; pixel 1: 0 / 1; pixel 2: 1 / 1  ->  mean 1.625 / 3 (not the
    # mean over the four cells, 0.5625)
    assert metrics.brier(clean, repaired, mask) == pytest.approx(1.625 / 3)
    assert metrics.repair_error(clean, repaired, mask, binary=True) == metrics.brier(
        clean, repaired, mask)
    assert metrics.repair_error(clean, repaired, mask, binary=False) == metrics.smse(
        clean, repaired, mask)


def test_p1_f1_uses_the_threshold_chosen_on_validation_and_scores_the_normal_class():
    # validation: normal errors 1.0, 2.0; novel 2.5, 4.0. On the 0.1 grid from 0.0 to 5.0 the
    # first threshold with the best normal-class F1 (1.0: both normals below, no novel) is 2.1
    val_novel = np.array([False, False, True, True])
    val_scores = np.array([1.0, 2.0, 2.5, 4.0])
    # test: normals 1.5, 2.2, 3.0; novel 2.05, 5.0. Called normal (below 2.1): 1.5 and 2.05
    test_novel = np.array([False, False, False, True, True])
    test_scores = np.array([1.5, 2.2, 3.0, 2.05, 5.0])
    # normal class: tp 1, fp 1, fn 2 -> precision 1/2, recall 1/3, F1 = 0.4
    assert metrics.f1_validated_threshold(val_novel, val_scores, test_novel,
                                          test_scores) == pytest.approx(0.4)


def test_the_repair_error_from_its_terms_is_the_repair_error():
    rng = np.random.default_rng(0)
    clean, repaired = rng.normal(size=(6, 1, 3, 3)), rng.normal(size=(6, 1, 3, 3))
    mask = rng.random((6, 1, 3, 3)) < 0.3
    for binary in (False, True):
        terms = metrics.repair_terms(clean, repaired, mask, binary=binary)
        assert metrics.repair_error_of(terms) == pytest.approx(
            metrics.repair_error(clean, repaired, mask, binary=binary))
        # each image drawn once: the same; image 0 twice and image 5 never: by hand
        counts = np.array([[1.0] * 6, [2, 1, 1, 1, 1, 0]])
        rows = [0, 0, 1, 2, 3, 4]
        assert metrics.repair_error_of(terms, counts) == pytest.approx(
            [metrics.repair_error(clean, repaired, mask, binary=binary),
             metrics.repair_error(clean[rows], repaired[rows], mask[rows], binary=binary)])


def test_resampled_avpr_is_scikit_learns_on_every_resample_ties_included():
    rng = np.random.default_rng(1)
    truth = rng.random(40) < 0.3
    scores = np.round(rng.random(40), 1)  # many ties
    indices = intervals.bootstrap_indices(40, resamples=25, seed=2)
    expected = [metrics.avpr(truth[rows], scores[rows]) for rows in indices]
    np.testing.assert_allclose(intervals.resampled_avpr(truth, scores, indices), expected)
