import gzip
import struct

import numpy as np
import pytest

from glitchbook import ChecksumError, ConfigError, DatasetUnavailable, datasets
from glitchbook.datasets import registry
from glitchbook.datasets.shapes import shape_templates


@pytest.mark.parametrize("name,shape,classes", [
    ("digits", (1, 8, 8), 10), ("mnist-5k", (1, 28, 28), 10), ("shapes", (1, 28, 28), 4)])
def test_bundled_datasets_have_the_documented_form(name, shape, classes):
    data = datasets.load(name)
    assert data.images.dtype == np.float32 and data.labels.dtype == np.int64
    assert data.shape == shape and data.images.ndim == 4
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert data.images.max() > 0.5  # not all black
    assert len(data.class_names) == classes == len(np.unique(data.labels))
    assert data.name == name


def test_mnist_5k_is_500_real_digits_a_class():
    data = datasets.load("mnist-5k")
    assert len(data) == 5000
    assert (np.bincount(data.labels) == 500).all()


def test_shapes_are_the_authors_templates_moved_by_whole_pixels():
    a, b = datasets.load("shapes", n=200, seed=3), datasets.load("shapes", n=200, seed=3)
    c = datasets.load("shapes", n=200, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    assert a.is_binary and (np.bincount(a.labels) == 50).all()
    # skimage.draw's rasters of the authors' shapes (checked against scikit-image 0.26):
    # rectangle (1,1)-(12,6), triangle (0,3) (17,0) (6,15), disk r 8, ellipse 4 x 10 at 3 pi / 4
    templates = shape_templates()
    assert templates.sum((1, 2)).tolist() == [72, 116, 193, 125]
    assert templates[1][0, 3] and templates[1][17, 0] and templates[1][6, 15]  # corners count
    for label, template in enumerate(templates):
        for image in a.images[a.labels == label][:10, 0]:
            rows, cols = np.nonzero(image)
            shifted = np.roll(template, (rows.min() - np.nonzero(template)[0].min(),
                                         cols.min() - np.nonzero(template)[1].min()), (0, 1))
            np.testing.assert_array_equal(image, shifted)
    assert a.images[:, 0, -1].max() == 0 and a.images[:, 0, :, -1].max() == 0


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="known datasets: mnist-5k"):
        datasets.load("imagenet")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "frey-faces", "coil-100"])
def test_download_only_datasets_fail_offline_with_one_clear_message(name, tmp_path):
    with pytest.raises(DatasetUnavailable) as info:
        datasets.load(name, root=tmp_path)
    message = str(info.value)
    assert name in message and str(tmp_path) in message
    assert "mnist-5k, digits, shapes" in message
    assert not datasets.is_available(name, tmp_path)


def _write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_a_local_copy_in_the_real_idx_format_loads_offline(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 5)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    assert datasets.is_available("fashion-mnist", tmp_path)
    data = datasets.load("fashion-mnist", root=tmp_path)
    assert len(data) == 17 and data.shape == (1, 28, 28)
    assert data.class_names[0] == "T-shirt/top"
    assert 0.0 <= data.images.min() <= data.images.max() <= 1.0


def test_a_corrupted_frey_faces_file_is_refused(tmp_path):
    path = tmp_path / "frey-faces" / "frey_rawface.mat"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"not a mat file"))
    with pytest.raises(ChecksumError, match="frey-faces"):
        datasets.load("frey-faces", root=tmp_path)


def test_a_frey_faces_file_of_the_right_form_loads(tmp_path):
    from scipy.io import savemat

    path = tmp_path / "frey-faces" / "frey_rawface.mat"
    path.parent.mkdir(parents=True)
    savemat(path, {"ff": np.random.default_rng(0).integers(0, 256, registry.FREY_SHAPE,
                                                             dtype=np.uint8)})
    data = datasets.load("frey-faces", root=tmp_path)
    assert data.images.shape == (1965, 1, 28, 20)


def test_datasets_command_lists_every_dataset_and_its_availability(capsys):
    from glitchbook.cli import main

    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in datasets.REGISTRY:
        assert name in out
    assert "bundled" in out and "glitchbook fetch fashion-mnist" in out
    assert "FashionMNIST)" in out  # where it will land


def test_an_image_folder_loads_with_one_class_a_subfolder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, n in (("cats", 3), ("dogs", 2)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (10, 12), dtype=np.uint8)).save(
                tmp_path / cls / f"{i}.png")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    name = f"folder:{tmp_path}"
    assert datasets.is_available(name)
    data = datasets.load(name)
    assert data.images.shape == (5, 1, 10, 12)
    assert data.class_names == ("cats", "dogs") and list(data.labels) == [0, 0, 0, 1, 1]
    assert datasets.load(name, size=8).shape == (1, 8, 8)
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ChecksumError, match="broken.png"):
        datasets.load(name)
    with pytest.raises(ConfigError, match="does not exist"):
        datasets.load(f"folder:{tmp_path / 'missing'}")


def test_a_coil100_archive_that_is_not_a_zip_is_refused(tmp_path):
    archive = tmp_path / "coil-100" / "coil-100.zip"
    archive.parent.mkdir()
    archive.write_bytes(b"truncated download")
    with pytest.raises(ChecksumError, match="not a valid zip"):
        datasets.load("coil-100", root=tmp_path)


def test_an_incomplete_coil100_copy_is_refused(tmp_path):
    from PIL import Image

    folder = tmp_path / "coil-100" / "coil-100"
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "obj1__0.png")
    with pytest.raises(ChecksumError, match="found 1 images"):
        datasets.load("coil-100", root=tmp_path)
