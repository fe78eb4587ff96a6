"""The glitch signals of "Data Glitches Discovery using Influence-based Model Explanation":
SI, MAI, MI, GD-class and the paper's CNCI, PCID and CFRank, each from a TracIn influence matrix
(`glitchbook.tracin`). Every signal is higher = more suspicious unless its docstring says
otherwise.
"""

from __future__ import annotations

import numpy as np

from glitchbook.tracin import TracIn

SIGNALS = ("SI", "MAI", "MI", "GD-class", "CNCI", "PCID", "CFRank")


def class_sums(matrix: np.ndarray, test_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """n x C: sum over the test samples of each class, S_ic = sum_{j: y_j = c} M_ij."""
    onehot = np.eye(n_classes)[test_labels]
    return matrix @ onehot


def marginal_absolute_influence(matrix: np.ndarray) -> np.ndarray:
    """MAI(i) = sum_j |I_ij|: total strength of a sample's influence, helpful or harmful."""
    return np.abs(matrix).sum(1)


def marginal_influence(matrix: np.ndarray) -> np.ndarray:
    """MI(i) = sum_j I_ij: net influence on the test set (as the authors rank it, highest first)."""
    return matrix.sum(1)


def gd_class(matrix: np.ndarray, test_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """GD-class(i) = -min_c sum_{j: y_j = c} I_ij: the harm done to the class it harms most."""
    return -class_sums(matrix, test_labels, n_classes).min(1)


def cnci(tracin: TracIn, matrix: np.ndarray, train_labels: np.ndarray, test_labels: np.ndarray,
         n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """CNCI, the paper's mislabel signal. c*(i) = argmin_c sum_{j: y_j = c} min(I_ij, 0), the
    class a sample harms most, is taken as its counterfactual label; I' is the influence with
    label c*(i) at the last checkpoint; CNCI(i) = sum_{j: y_j = y_i} min(I'_ij, 0).
    Returns (scores, c*), c* being the suggested repair of the label."""
    harm = class_sums(np.minimum(matrix, 0), test_labels, n_classes)
    counterfactual = harm.argmin(1)
    flipped = tracin.matrix(counterfactual, last_only=True)
    own = class_sums(np.minimum(flipped, 0), test_labels, n_classes)
    return own[np.arange(len(train_labels)), train_labels], counterfactual


def pcid(tracin: TracIn, matrix: np.ndarray, test_labels: np.ndarray,
         n_classes: int) -> np.ndarray:
    """PCID, the paper's anomaly signal. PIL_c(i) = sum_{j: y_j = c} max(I_ij, 0); c2(i) is the
    class with the second-largest PIL; PIL' is PIL under label c2 at the last checkpoint;
    PCID(i) = 1 / (w(i) * max_c |PIL_c(i) - PIL'_c(i)|), w(i) = sum_j max(I_ij, 0). An anomaly
    helps no class much, whatever its label, so both factors are small and PCID large."""
    positive = np.maximum(matrix, 0)
    pil = class_sums(positive, test_labels, n_classes)
    second = np.argsort(pil, axis=1)[:, -2]
    flipped = tracin.matrix(second, last_only=True)
    pil_flipped = class_sums(np.maximum(flipped, 0), test_labels, n_classes)
    change = np.abs(pil - pil_flipped).max(1)
    return 1.0 / (positive.sum(1) * change + 1e-30)


def cfrank(cnci_scores: np.ndarray, pcid_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CFRank, the paper's mixed-error signal: the larger of a sample's ranks under CNCI and
    PCID (rank 0 = smallest). Returns (scores, kind): kind 1 where CNCI's rank is the larger
    (a suspected mislabel), 2 where PCID's is (a suspected anomaly)."""
    rank_cnci = np.argsort(np.argsort(cnci_scores))
    rank_pcid = np.argsort(np.argsort(pcid_scores))
    return np.maximum(rank_cnci, rank_pcid), np.where(rank_cnci >= rank_pcid, 1, 2)


def all_signals(tracin: TracIn, train_labels: np.ndarray, test_labels: np.ndarray,
                n_classes: int) -> dict[str, np.ndarray]:
    """Every signal of SIGNALS for the training samples, plus `CFRank-kind` and `CNCI-label`."""
    matrix = tracin.matrix(train_labels)
    scores = {
        "SI": tracin.self_influence(train_labels),
        "MAI": marginal_absolute_influence(matrix),
        "MI": marginal_influence(matrix),
        "GD-class": gd_class(matrix, test_labels, n_classes),
    }
    scores["CNCI"], scores["CNCI-label"] = cnci(tracin, matrix, train_labels, test_labels,
                                                n_classes)
    scores["PCID"] = pcid(tracin, matrix, test_labels, n_classes)
    scores["CFRank"], scores["CFRank-kind"] = cfrank(scores["CNCI"], scores["PCID"])
    return scores
