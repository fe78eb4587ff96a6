"""Image datasets: the registry of named datasets (`registry`), the one dataset type and its
splits (`images`), your own image folders and MVTec AD (`folders`), the download sources
(`sources`) and the generated Synthetic Shapes (`shapes`). `from glitchbook import datasets`
gives the public API of all of them."""

from glitchbook.datasets.images import (
    DatasetInfo,
    ImageDataset,
    random_split,
    subsample,
    train_test,
)
from glitchbook.datasets.registry import (
    REGISTRY,
    DatasetEntry,
    data_dir,
    defects,
    disk_size,
    ensure_available,
    entry,
    fetch,
    info,
    is_available,
    load,
    load_sample,
    local_folder,
    offline,
    provenance,
)

__all__ = [
    "REGISTRY", "DatasetEntry", "DatasetInfo", "ImageDataset", "data_dir", "defects", "disk_size",
    "ensure_available", "entry", "fetch", "info", "is_available", "load", "load_sample",
    "local_folder", "offline", "provenance", "random_split", "subsample", "train_test",
]
