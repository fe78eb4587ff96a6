import numpy as np
import pytest
import torch

from glitchbook import ConfigError, datasets, metrics, patterns
from glitchbook.methods import ambiguity as method
from glitchbook.models.classifiers import BinaryCNN
from glitchbook.models.gan import GAN, Discriminator, Generator, fit_gan
from glitchbook.training import fit, tensor_dataset


@pytest.fixture(scope="module")
def pair() -> method.Pair:
    data = datasets.load("mnist-5k")
    return method.load_pair(data, "7v1", 0.2, seed=0)


@pytest.fixture(scope="module")
def classifier(pair) -> BinaryCNN:
    torch.manual_seed(0)
    model = BinaryCNN(2)
    fit(model, tensor_dataset(pair.train_images, pair.train_labels), epochs=8, batch_size=64,
        lr=5e-4, device="cpu", progress=False)
    return model


def test_a_pair_is_two_classes_in_the_gans_range(pair):
    assert pair.class_names == ("7", "1")
    assert set(np.unique(pair.train_labels)) == {0, 1}
    assert pair.train_images.min() >= -1 and pair.train_images.max() <= 1
    assert pair.train_images.shape[1:] == (1, 28, 28) and len(pair.test_images) > 100


def test_the_classifier_beats_chance_on_a_real_pair(pair, classifier):
    with torch.no_grad():
        probs = classifier(torch.from_numpy(pair.test_images)).numpy()
    assert probs.shape == (len(pair.test_labels),)
    assert ((probs > 0.5) == pair.test_labels).mean() > 0.85
    assert classifier.features(torch.from_numpy(pair.test_images[:3])).shape == (3, 7 * 7 * 4)


def test_dcgan_shapes_and_range():
    z = torch.randn(5, 64)
    images = Generator(filters=8)(z)
    assert images.shape == (5, 1, 28, 28) and images.abs().max() <= 1
    assert Discriminator(filters=8)(images).shape == (5,)


def test_the_gasten_term_lowers_acd_against_step_1(pair, classifier):
    gan = GAN.create(filters=16, seed=0)
    step1 = fit_gan(gan, pair.train_images, epochs=3, device="cpu", progress=False)
    assert set(step1.curves) == {"G", "D"}
    noise = torch.randn(1000, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = metrics.acd(classifier(gan.sample(noise)).numpy())
    step2 = fit_gan(gan, pair.train_images, epochs=2, classifier=classifier, weight=25.0,
                    device="cpu", progress=False)
    assert "ACD" in step2.curves
    with torch.no_grad():
        after = metrics.acd(classifier(gan.sample(noise)).numpy())
    assert after < before


def test_frechet_distance_is_zero_to_itself_and_matches_torch_fidelity():
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 12)), rng.normal(0.5, 1.3, size=(300, 12))
    assert abs(metrics.frechet_distance(a, a)) < 1e-6
    stats = [{"mu": x.mean(0), "sigma": np.cov(x, rowvar=False)} for x in (a, b)]
    theirs = fid_statistics_to_metric(*stats, False)["frechet_inception_distance"]
    assert metrics.frechet_distance(a, b) == pytest.approx(theirs, rel=1e-6)
    with pytest.raises(ValueError, match="at least two"):
        metrics.frechet_distance(a[:1], b)


def test_acd_and_the_band():
    probs = np.array([0.5, 0.45, 0.61, 0.0, 1.0])
    assert metrics.acd(probs) == pytest.approx((0 + 0.05 + 0.11 + 0.5 + 0.5) / 5)
    np.testing.assert_array_equal(metrics.in_band(probs), [True, True, False, False, False])


def test_clustering_returns_labels_scores_and_one_prototype_per_cluster():
    from sklearn.datasets import make_blobs

    features, _ = make_blobs(300, n_features=16, centers=4, random_state=0)
    space = patterns.SearchSpace(n_neighbors=(10,), min_dist=(0.01,), n_components=(4,),
                                 k=(3, 4, 5))
    found = patterns.search(features, space, progress=False)
    assert found.labels.shape == (300,) and found.k in (3, 4, 5)
    assert -1 <= found.silhouette <= 1 and found.davies_bouldin > 0
    assert len(found.tried) == 3 and found.silhouette == max(t["silhouette"] for t in found.tried)
    protos = patterns.prototypes(found.reduced, found.labels)
    assert sorted(protos) == sorted(np.unique(found.labels))
    assert all(found.labels[i] == c for c, i in protos.items())
    with pytest.raises(ConfigError, match="too few"):
        patterns.search(features[:5], space, progress=False)


def test_umap_with_the_distances_computed_once_is_bit_for_bit_umap_alone():
    rng = np.random.default_rng(0)
    features = np.abs(rng.normal(size=(150, 12))).astype(np.float32)
    features[:50] += 1.0
    distances = patterns.cosine_distances(features)
    for n_neighbors in (5, 15):
        alone = patterns.reduce(features, n_neighbors=n_neighbors, min_dist=0.01, n_components=3)
        shared = patterns.reduce(features, n_neighbors=n_neighbors, min_dist=0.01,
                                 n_components=3, distances=distances)
        np.testing.assert_array_equal(alone, shared)
    assert patterns.cosine_distances(np.ones((patterns.EXACT_NEIGHBOURS, 2))) is None


@pytest.mark.parametrize("overrides,match", [(dict(pairs=("7v7",)), "two different classes"),
                                             (dict(pairs=("seven",)), "positive"),
                                             (dict(nfs=(0,)), "nf must be positive"),
                                             (dict(band=0.7), "band")])
def test_invalid_pair_nf_or_band_gives_a_clear_error(overrides, match):
    with pytest.raises(ConfigError, match=match):
        method.Config.for_run("mnist-5k", **overrides)


def test_binary_cnn_refuses_a_bad_width():
    with pytest.raises(ConfigError, match="positive integer"):
        BinaryCNN(0)


def test_default_profile_takes_the_papers_pairs_and_one_width():
    config = method.Config.for_run("mnist-5k")
    assert config.pairs == ("5v3", "7v1", "8v0") and config.nfs == (2,)
    paper = method.Config.for_run("fashion-mnist", "paper")
    assert paper.pairs == ("3v0", "5v7") and paper.nfs == (4, 8, 16)
    assert (paper.step1_epochs, paper.step2_epochs) == (10, 15)
