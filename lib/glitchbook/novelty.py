"""Novelty-detection protocols of the ARAE paper (Salehi et al. 2021, section 4.1) and a classical
baseline on the same split.

- `p1`: one (or several) normal classes; 60 % of their images train, 20 % validate, 20 % test;
  images of the other classes are added to the test and the validation set (different ones)
  until they make up `anomaly_fraction` of each; the F1 threshold is chosen on the validation
  set (the authors' `prepare.protocol1` and `test.find_f1`).
- `p2`: the normal classes' images of a training split train; the whole test split tests, every
  other class being novel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glitchbook.checks import check_choice, check_fraction, check_normal_classes
from glitchbook.datasets.images import ImageDataset
from glitchbook.errors import ConfigError

PROTOCOLS = ("p1", "p2")


@dataclass(frozen=True)
class NoveltySplit:
    """Training images (normal only), test images with their novelty truth and labels, and
    (p1 only; empty for p2) validation images with their novelty truth."""

    train: np.ndarray
    test: np.ndarray
    test_is_novel: np.ndarray
    test_labels: np.ndarray
    normal_classes: tuple[int, ...]
    protocol: str
    validation: np.ndarray
    validation_is_novel: np.ndarray

    @property
    def anomaly_fraction(self) -> float:
        return float(self.test_is_novel.mean())


def novelty_split(data: ImageDataset, normal_classes, *, protocol: str = "p2",
                  anomaly_fraction: float = 0.5, test_fraction: float = 0.2,
                  seed: int = 0) -> NoveltySplit:
    """Build the train/test split of `protocol` for `normal_classes` of `data` (seeded).

    For p2, the test split is the dataset's official one when it has one (MNIST's, as the
    authors), else a seeded `test_fraction` of every class; for p1, `anomaly_fraction` sets
    the test set's share of novelties.
    """
    check_choice(protocol, PROTOCOLS, "protocol")
    normal = check_normal_classes(normal_classes, len(data.class_names), data.name)
    rng = np.random.default_rng(seed)
    is_normal = np.isin(data.labels, normal)
    if protocol == "p2" and data.is_test is not None:
        test = data.is_test
        train_rows, test_rows = np.flatnonzero(is_normal & ~test), np.flatnonzero(test)
        val_rows = np.array([], int)
    elif protocol == "p2":
        check_fraction(test_fraction, "test_fraction")
        test = np.zeros(len(data), bool)
        for c in np.unique(data.labels):
            rows = rng.permutation(np.flatnonzero(data.labels == c))
            test[rows[: int(round(test_fraction * len(rows)))]] = True
        train_rows, test_rows = np.flatnonzero(is_normal & ~test), np.flatnonzero(test)
        val_rows = np.array([], int)
    else:
        check_fraction(anomaly_fraction, "anomaly_fraction")
        normals = rng.permutation(np.flatnonzero(is_normal))
        n_train, n_val = int(0.6 * len(normals)), int(0.2 * len(normals))
        train_rows, test_normals = normals[:n_train], normals[n_train + n_val:]
        val_normals = normals[n_train:n_train + n_val][:len(test_normals)]
        n_novel = int(round(len(test_normals) * anomaly_fraction / (1 - anomaly_fraction)))
        novel_pool = np.flatnonzero(~is_normal)
        if 2 * n_novel > len(novel_pool):
            raise ConfigError(f"anomaly_fraction {anomaly_fraction} needs 2 x {n_novel} novel "
                              f"images (test and validation); {data.name} has {len(novel_pool)}")
        novel = rng.choice(novel_pool, 2 * n_novel, replace=False)
        test_rows = np.concatenate([test_normals, novel[:n_novel]])
        val_rows = np.sort(np.concatenate([val_normals, novel[n_novel:]]))
    test_rows = np.sort(test_rows)
    return NoveltySplit(train=data.images[np.sort(train_rows)], test=data.images[test_rows],
                        test_is_novel=~is_normal[test_rows], test_labels=data.labels[test_rows],
                        normal_classes=normal, protocol=protocol,
                        validation=data.images[val_rows],
                        validation_is_novel=~is_normal[val_rows])


def pixel_baseline(train: np.ndarray, test: np.ndarray, *, neighbours: int = 5) -> np.ndarray:
    """PyOD's k-nearest-neighbour detector on raw pixels: fitted on `train`, scores for `test`
    (higher = more novel)."""
    from pyod.models.knn import KNN

    detector = KNN(n_neighbors=min(neighbours, len(train) - 1))
    detector.fit(train.reshape(len(train), -1))
    return detector.decision_function(test.reshape(len(test), -1))
