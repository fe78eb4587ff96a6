"""Synthetic Shapes, the CLSVAE paper's generated dataset, drawn as the authors draw it."""

from __future__ import annotations

import numpy as np

from glitchbook.datasets.images import ImageDataset, to_dataset

SHAPE_NAMES = ("rectangle", "triangle", "disk", "ellipse")


def load_shapes(*, n: int = 5000, seed: int = 0, **_) -> ImageDataset:
    """The CLSVAE paper's Synthetic Shapes, as the authors' `SimpleShapesWithStripes` draws them:
    binary 28x28 images of one of four fixed shapes (a quarter of the images each, the rest
    spread at random) moved by a random whole-pixel shift that keeps it off the right and
    bottom borders, in random order."""
    rng = np.random.default_rng(seed)
    templates = shape_templates()
    counts = np.full(len(templates), n // len(templates))
    counts[rng.choice(len(templates), n - counts.sum(), replace=False)] += 1
    images, labels = [], []
    for label, (template, count) in enumerate(zip(templates, counts, strict=True)):
        rows, cols = np.nonzero(template)
        shift_r = rng.integers(27 - rows.max(), size=count)[:, None]  # the authors' ranges
        shift_c = rng.integers(27 - cols.max(), size=count)[:, None]
        drawn = np.zeros((count, 28, 28), np.float32)
        drawn[np.arange(count)[:, None], rows + shift_r, cols + shift_c] = 1.0
        images.append(drawn)
        labels.append(np.full(count, label))
    order = rng.permutation(n)
    return to_dataset(np.concatenate(images)[order], np.concatenate(labels)[order],
                       SHAPE_NAMES, "shapes")


def shape_templates() -> np.ndarray:
    """The four 28x28 base shapes of Synthetic Shapes (4 x 28 x 28 bool), drawn with
    scikit-image's rules as the authors do: a rectangle from (1, 1) to (12, 6) (row, column),
    a triangle with corners (0, 3), (17, 0), (6, 15) (inside or on an edge), a disk of radius 8
    and an ellipse of radii 4 and 10 turned by 3 pi / 4, both centred at (8, 8)."""
    rows, cols = np.mgrid[0:28, 0:28].astype(float)
    rectangle = (rows >= 1) & (rows <= 12) & (cols >= 1) & (cols <= 6)
    return np.stack([rectangle, polygon_mask([(0, 3), (17, 0), (6, 15)], (28, 28)),
                     _ellipse_mask(rows - 8, cols - 8, (8.0, 8.0), 0.0),
                     _ellipse_mask(rows - 8, cols - 8, (4.0, 10.0), 3 * np.pi / 4)])


def polygon_mask(vertices, shape: tuple[int, int]) -> np.ndarray:
    """Pixels (row, column) inside the polygon or on its edges, as skimage.draw.polygon."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    inside = np.zeros(shape, bool)
    edge = np.zeros(shape, bool)
    corners = np.asarray(vertices, float)
    for (r0, c0), (r1, c1) in zip(corners, np.roll(corners, -1, 0), strict=True):
        spans = (r0 <= rows) & (rows < r1) | (r1 <= rows) & (rows < r0)
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing = (c1 - c0) * (rows - r0) / (r1 - r0) + c0
        inside ^= spans & (cols < crossing)
        between = ((rows >= min(r0, r1)) & (rows <= max(r0, r1))
                   & (cols >= min(c0, c1)) & (cols <= max(c0, c1)))
        edge |= between & ((r1 - r0) * (cols - c0) == (c1 - c0) * (rows - r0))
    return inside | edge


def _ellipse_mask(dr: np.ndarray, dc: np.ndarray, radii: tuple[float, float],
                  rotation: float) -> np.ndarray:
    s, c = np.sin(rotation % np.pi), np.cos(rotation % np.pi)
    return ((dr * c + dc * s) / radii[0]) ** 2 + ((dr * s - dc * c) / radii[1]) ** 2 < 1
