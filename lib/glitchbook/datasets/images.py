"""The image dataset type every loader returns, its info, its splits, and reading image files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glitchbook.errors import ChecksumError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")


@dataclass(frozen=True)
class DatasetInfo:
    """What the checks need to know of a dataset before loading it: its size, classes, image
    shape (C, H, W) and the size of its smallest class."""

    n_images: int
    n_classes: int
    shape: tuple[int, int, int]
    smallest_class: int


@dataclass(frozen=True)
class ImageDataset:
    """Images (float32, N x C x H x W, in [0, 1]) with int64 labels and their class names;
    `is_test` marks the official test images of a dataset that has an official split."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    name: str
    is_test: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.float32:
            raise ValueError(f"{self.name}: images must be float32 N x C x H x W")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.images)} images, {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def is_binary(self) -> bool:
        """True when every pixel is 0 or 1 (the likelihood is then Bernoulli)."""
        return bool(np.isin(self.images, (0.0, 1.0)).all())

    def subset(self, index: np.ndarray) -> ImageDataset:
        """The images at `index` (an int array or a boolean mask)."""
        return ImageDataset(self.images[index], self.labels[index], self.class_names, self.name,
                            None if self.is_test is None else self.is_test[index])


def subsample(data: ImageDataset, size: int, rng: np.random.Generator) -> ImageDataset:
    """At most `size` images of `data`, drawn with `rng` and kept in order (0 = all)."""
    if not size or len(data) <= size:
        return data
    return data.subset(np.sort(rng.permutation(len(data))[:size]))


def random_split(n: int, test_fraction: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) sorted indices of a seeded split of n items, `test_fraction` for testing."""
    order = rng.permutation(n)
    n_test = int(round(test_fraction * n))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def train_test(data: ImageDataset, test_fraction: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: the dataset's official split when it has one (MNIST's, say),
    else a seeded random split with `test_fraction` for testing."""
    if data.is_test is not None:
        return np.flatnonzero(~data.is_test), np.flatnonzero(data.is_test)
    return random_split(len(data), test_fraction, rng)


def to_dataset(images: np.ndarray, labels: np.ndarray, names, name: str) -> ImageDataset:
    """An ImageDataset from images (N x H x W or N x C x H x W) and labels."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[:, None]
    return ImageDataset(np.ascontiguousarray(images), np.asarray(labels, np.int64),
                        tuple(names), name)


def open_image(path: Path, *, decode: bool = True):
    """The image at `path`, decoded, or with its header only (mode and size) when `decode` is
    False; a file that is not a readable image is named in a ChecksumError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if not decode:
                return img
            img.load()
            return img.copy()
    except (OSError, UnidentifiedImageError) as err:
        raise ChecksumError(f"cannot read image {path}: {err}") from err


def to_array(images: list, *, size: tuple[int, int], mode: str) -> np.ndarray:
    """PIL images -> N x C x H x W floats in [0, 1], converted to `mode` and resized."""
    out = []
    for img in images:
        array = np.asarray(img.convert(mode).resize(size), np.float32) / 255.0
        out.append(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))
    return np.stack(out)
