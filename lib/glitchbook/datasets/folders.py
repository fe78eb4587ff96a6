"""Your own images: a folder with one subfolder a class, or MVTec AD's layout. Both are checked
(folder, classes, readable image files) before any run starts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from glitchbook.datasets.images import (
    IMAGE_SUFFIXES,
    DatasetInfo,
    ImageDataset,
    open_image,
    to_array,
    to_dataset,
)
from glitchbook.errors import ConfigError, DatasetUnavailable

GREY_MODES = ("L", "1", "I", "I;16")


def _folder_files(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """The class names (subfolders) of an image folder and its image files with their class."""
    if not root.is_dir():
        raise ConfigError(f"image folder {root} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).iterdir())
             if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ConfigError(f"no images found in {root}/<class>/ "
                          f"(suffixes {', '.join(IMAGE_SUFFIXES)})")
    return classes, files


def folder_info(path: str | os.PathLike) -> DatasetInfo:
    """Size, classes and image shape of an image folder, from each file's header: a missing
    folder, one without images, or a file that is not a readable image is an error here."""
    classes, files = _folder_files(Path(path).expanduser())
    headers = [open_image(f, decode=False) for f, _ in files]
    channels = 1 if all(img.mode in GREY_MODES for img in headers) else 3
    width, height = headers[0].size
    counts = np.bincount([i for _, i in files], minlength=len(classes))
    return DatasetInfo(len(files), len(classes), (channels, height, width), int(counts.min()))


def load_folder(path: str | os.PathLike, *, size: int | None = None, **_) -> ImageDataset:
    """Images in `path/<class name>/*`, one subfolder a class (torchvision's ImageFolder layout),
    resized to `size` x `size` (default: the first image's size); grey unless any is in colour."""
    root = Path(path).expanduser()
    classes, files = _folder_files(root)
    opened = [open_image(f) for f, _ in files]
    grey = all(img.mode in GREY_MODES for img in opened)
    images = to_array(opened, size=(size, size) if size else opened[0].size,
                      mode="L" if grey else "RGB")
    return to_dataset(images, [i for _, i in files], classes, f"folder:{root}")


MVTEC_URL = "https://www.mvtec.com/company/research/datasets/mvtec-ad"


def mvtec_categories(root: Path) -> list[str]:
    """The categories under an MVTec AD folder; a DatasetUnavailable saying how to get it."""
    found = (sorted(p.name for p in root.iterdir() if (p / "train" / "good").is_dir())
             if root.is_dir() else [])
    if not found:
        raise DatasetUnavailable(
            f"MVTec AD not found under {root}. It cannot be downloaded automatically: get it "
            f"from {MVTEC_URL} (free), unpack it, and name the folder that holds "
            f"<category>/train/good/*.png and <category>/test/<defect>/*.png, e.g. "
            f"mvtec:~/data/mvtec_anomaly_detection")
    return found


def load_mvtec(path: str | os.PathLike, *, size: int = 64, **_) -> ImageDataset:
    """MVTec AD's defect-free images (train/good and test/good), one class a category (bottle,
    transistor, ...), resized to `size` x `size` RGB."""
    root = Path(path).expanduser()
    categories = mvtec_categories(root)
    files = [(f, i) for i, c in enumerate(categories) for f in _mvtec_good(root, c)]
    images = to_array([open_image(f) for f, _ in files], size=(size, size), mode="RGB")
    return to_dataset(images, [i for _, i in files], categories, f"mvtec:{root}")


def _mvtec_good(root: Path, category: str) -> list[Path]:
    """A category's defect-free images: train/good, then test/good."""
    return [f for split in ("train", "test")
            for f in sorted((root / category / split / "good").glob("*.png"))]


def mvtec_info(path: str | os.PathLike, *, size: int = 64) -> DatasetInfo:
    """Size and categories of MVTec AD's defect-free images, each file's header checked."""
    root = Path(path).expanduser()
    counts = []
    for category in mvtec_categories(root):
        files = _mvtec_good(root, category)
        for f in files:
            open_image(f, decode=False)
        counts.append(len(files))
    return DatasetInfo(sum(counts), len(counts), (3, size, size), min(counts))


def load_mvtec_defects(path: str | os.PathLike, category: str, *, size: int = 64) -> np.ndarray:
    """MVTec AD's defective test images of one category (every defect type), N x 3 x size^2."""
    root = Path(path).expanduser()
    if category not in mvtec_categories(root):
        raise ConfigError(f"no MVTec category {category!r} under {root}")
    files = sorted(f for d in (root / category / "test").iterdir() if d.name != "good"
                   for f in d.glob("*.png"))
    return to_array([open_image(f) for f in files], size=(size, size), mode="RGB")
