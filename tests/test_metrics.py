import numpy as np
import pytest

from glitchbook import metrics


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


def test_smse_per_pixel_then_averaged():
    clean = np.array([[1.0, 2.0], [3.0, 0.0]]).reshape(2, 1, 1, 2)
    repaired = np.array([[0.0, 2.0], [3.0, 1.0]]).reshape(2, 1, 1, 2)
    mask = np.ones_like(clean, bool)
    # pixel 0: (1)^2 / (1 + 9) = 0.1; pixel 1: 1 / 4 = 0.25 -> mean 0.175
    assert metrics.smse(clean, repaired, mask) == pytest.approx(0.175)
    # a pixel whose masked clean values are all zero has no scale and is left out
    mask[0, 0, 0, 1] = False
    assert metrics.smse(clean, repaired, mask) == pytest.approx(0.1)


def test_brier_and_the_switch_for_binary_images():
    clean = np.array([1.0, 0.0, 1.0, 1.0]).reshape(1, 1, 2, 2)
    repaired = np.array([0.5, 0.0, 1.0, 0.0]).reshape(1, 1, 2, 2)
    mask = np.array([True, True, False, True]).reshape(1, 1, 2, 2)
    assert metrics.brier(clean, repaired, mask) == pytest.approx((0.25 + 0 + 1) / 3)
    assert metrics.repair_error(clean, repaired, mask, binary=True) == metrics.brier(
        clean, repaired, mask)
    assert metrics.repair_error(clean, repaired, mask, binary=False) == metrics.smse(
        clean, repaired, mask)
