import numpy as np
import pytest
from sklearn.decomposition import PCA

from glitchbook import ConfigError, DatasetUnavailable, datasets
from glitchbook import drift_analysis as analysis
from glitchbook.corruption import CAMERA_FAULTS, camera_faults
from glitchbook.datasets import folders
from glitchbook.methods import drift as method


def test_silhouette_picks_the_true_k_on_well_separated_real_images():
    digits = datasets.load("mnist-5k")
    shapes = datasets.load("shapes", n=400, seed=0)
    groups = [digits.images[digits.labels == 1][:400], shapes.images[:400],
              digits.images[digits.labels == 0][:400]]
    pixels = np.concatenate([g.reshape(len(g), -1) for g in groups])
    embeddings = PCA(3, random_state=0).fit_transform(pixels)  # a compact code of each image
    k, scores, labels = analysis.silhouette_k(analysis.project(embeddings), 6)
    assert k == 3 and set(scores) == {2, 3, 4, 5, 6} and len(np.unique(labels)) == 3


def test_silhouette_scores_the_standardised_embeddings_with_labels_from_pca_space():
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    # six points in 3-D; by hand: standardised, the two PCA components, k-means there, and the
    # silhouette of those labels on the standardised embeddings (the authors' rule)
    embeddings = np.array([[0, 0, 0], [0.2, 0.1, 3], [0.1, 0.2, -3],
                           [5, 5, 0.1], [5.2, 5.1, 2.9], [5.1, 4.9, -3.1]])
    projection = analysis.project(embeddings)
    scaled = (embeddings - embeddings.mean(0)) / embeddings.std(0)
    np.testing.assert_allclose(projection.scaled, scaled)
    labels = KMeans(2, n_init=10, random_state=0).fit_predict(projection.points)
    _, scores, chosen = analysis.silhouette_k(projection, 3)
    assert scores[2] == pytest.approx(silhouette_score(scaled, labels))
    assert scores[2] != pytest.approx(silhouette_score(projection.points, labels))
    assert set(scores) == {2, 3}


@pytest.fixture(scope="module")
def big_model():
    config = method.Config.for_run("mnist-5k", "smoke", models=("big",), epochs=8)
    prepared = method.prepare(config)
    return config, prepared, method.run_model(config, prepared, "big", device="cpu",
                                              progress=False)


def test_the_error_threshold_flags_injected_anomalies_above_chance(big_model):
    _, prepared, result = big_model
    flagged_anomalies = (result.errors["anomalies"] > result.threshold).mean()
    flagged_good = (result.errors["good"] > result.threshold).mean()
    assert flagged_anomalies > flagged_good + 0.2
    assert result.metrics["anomaly_auroc"] > 0.6
    assert result.projection.points.shape == (2 * len(prepared.good), 2)


def test_every_detector_reports_every_window(big_model):
    config, _, result = big_model
    for watched in result.streams.values():
        for detector in method.DETECTORS:
            assert len(watched["statistics"][detector]) == config.windows
            assert watched["alarms"][detector].dtype == bool
    assert "delay_new_class_MMD" in result.metrics and "false_alarms_anomalies_KS" in result.metrics


def test_the_stream_has_the_documented_composition():
    good, other = np.zeros((30, 1, 4, 4), np.float32), np.ones((30, 1, 4, 4), np.float32)
    stream = analysis.make_stream(good, other, analysis.NEW, windows=6, size=10, change_at=2,
                               share=0.3, seed=1)
    assert stream.images.shape == (6, 10, 1, 4, 4) and stream.change_at == 2
    assert (stream.kinds[:2] == analysis.GOOD).all()
    assert ((stream.kinds[2:] == analysis.NEW).sum(1) == 3).all()
    np.testing.assert_array_equal(stream.images[..., 0, 0, 0] == 1, stream.kinds == analysis.NEW)
    again = analysis.make_stream(good, other, analysis.NEW, windows=6, size=10, change_at=2,
                              share=0.3, seed=1)
    np.testing.assert_array_equal(stream.kinds, again.kinds)
    with pytest.raises(ConfigError, match="change_at"):
        analysis.make_stream(good, other, analysis.NEW, windows=6, change_at=6)


def test_delay_and_false_alarms():
    alarms = np.array([False, True, False, False, False, True, True])
    assert analysis.delay_and_false_alarms(alarms, 3) == (2, 1)
    assert analysis.delay_and_false_alarms(np.zeros(5, bool), 2) == (None, 0)


def test_two_sample_tests_tell_a_shift_from_the_same_distribution():
    rng = np.random.default_rng(0)
    a, same, shifted = (rng.normal(size=(80, 4)), rng.normal(size=(40, 4)),
                        rng.normal(0.8, 1, size=(40, 4)))
    assert analysis.mmd_test(a, same) > 0.05 and analysis.mmd_test(a, shifted) < 0.05
    assert analysis.ks_test(a, same) > 0.05 and analysis.ks_test(a, shifted) < 0.05


@pytest.mark.parametrize("kind", [*CAMERA_FAULTS, "mixed"])
def test_camera_faults_change_the_images_and_stay_in_range(kind):
    images = datasets.load("mnist-5k").images[:20]
    faulty = camera_faults(images, kind, seed=0)
    assert faulty.shape == images.shape and faulty.min() >= 0 and faulty.max() <= 1
    assert (np.abs(faulty - images).reshape(20, -1).max(1) > 0.1).all()


def test_bad_fault_and_classes_give_clear_errors():
    with pytest.raises(ConfigError, match="unknown camera fault"):
        camera_faults(np.zeros((1, 1, 4, 4), np.float32), "fog")
    with pytest.raises(ConfigError, match="must differ"):
        method.Config.for_run("mnist-5k", good_class=3, new_class=3)
    with pytest.raises(ConfigError, match="unknown model"):
        method.Config.for_run("mnist-5k", models=("huge",))


def test_a_missing_mvtec_folder_says_where_to_get_it_and_the_layout(tmp_path):
    with pytest.raises(DatasetUnavailable, match="mvtec-ad.*train/good"):
        datasets.load(f"mvtec:{tmp_path / 'nowhere'}")
    assert not datasets.is_available(f"mvtec:{tmp_path / 'nowhere'}")


def test_mvtec_layout_is_read_with_its_defects(tmp_path):
    from PIL import Image

    for category in ("bottle", "transistor"):
        for split, kind in (("train", "good"), ("test", "good"), ("test", "broken")):
            folder = tmp_path / category / split / kind
            folder.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (20, 20), (40 * i, 80, 120)).save(folder / f"{i:03d}.png")
    data = datasets.load(f"mvtec:{tmp_path}", size=16)
    assert data.class_names == ("bottle", "transistor") and data.images.shape == (8, 3, 16, 16)
    defects = folders.load_mvtec_defects(tmp_path, "bottle", size=16)
    assert defects.shape == (2, 3, 16, 16)
