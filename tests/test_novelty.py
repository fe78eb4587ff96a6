import numpy as np
import pytest

from glitchbook import ConfigError, metrics
from glitchbook.methods import arae
from glitchbook.novelty import novelty_split, pixel_baseline


def test_p2_trains_on_the_normal_class_and_tests_on_the_whole_test_split(digits):
    split = novelty_split(digits, (3,), protocol="p2", test_fraction=0.2, seed=0)
    assert len(split.test) == pytest.approx(0.2 * len(digits), abs=10)
    assert set(np.unique(split.test_labels)) == set(range(10))
    np.testing.assert_array_equal(split.test_is_novel, split.test_labels != 3)
    n_threes = (digits.labels == 3).sum()
    assert len(split.train) + (split.test_labels == 3).sum() == n_threes


def test_p1_mixes_the_requested_share_of_novelties(digits):
    split = novelty_split(digits, (1, 4, 7), protocol="p1", anomaly_fraction=0.25, seed=0)
    assert split.anomaly_fraction == pytest.approx(0.25, abs=0.01)
    assert set(np.unique(split.test_labels[~split.test_is_novel])) == {1, 4, 7}
    n_normal = np.isin(digits.labels, (1, 4, 7)).sum()
    assert len(split.train) == int(0.6 * n_normal)
    # a validation split like the test split (other images) chooses the F1 threshold
    assert split.validation_is_novel.mean() == pytest.approx(0.25, abs=0.01)
    flat = lambda a: {x.tobytes() for x in a}  # noqa: E731
    assert not flat(split.validation) & flat(split.test)
    assert not flat(split.validation) & flat(split.train)
    assert len(novelty_split(digits, (1,), protocol="p2").validation) == 0


def test_splits_are_seeded(digits):
    a, b = novelty_split(digits, (0,), seed=1), novelty_split(digits, (0,), seed=1)
    np.testing.assert_array_equal(a.test, b.test)


@pytest.mark.parametrize("kwargs,match", [
    (dict(normal_classes=(11,)), "is not a class of digits"),
    (dict(normal_classes=tuple(range(10))), "novel"),
    (dict(normal_classes=(1,), protocol="p3"), "protocol"),
    (dict(normal_classes=(1,), protocol="p1", anomaly_fraction=1.0), "between 0 and 1")])
def test_bad_arguments_give_clear_errors(digits, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        novelty_split(digits, **kwargs)


def test_config_refuses_a_negative_epsilon():
    with pytest.raises(ConfigError, match="epsilon"):
        arae.Config.for_run("digits", "smoke", epsilon=-0.1)


def test_knn_baseline_beats_chance(digits):
    split = novelty_split(digits, (0,), seed=0)
    assert metrics.auroc(split.test_is_novel, pixel_baseline(split.train, split.test)) > 0.9


def test_dae_and_arae_beat_chance_on_a_small_real_case():
    config = arae.Config.for_run("digits", "smoke", classes=(0,))
    results = arae.run(config, arae.prepare(config), device="cpu", progress=False)
    (result,) = results.per_normal_set
    for name in ("DAE", "ARAE"):
        assert result.metrics[name]["auroc"] > 0.6, name
    summary = arae.summarise(results)["compared"]
    assert summary["ARAE"]["auroc_class_0"] == summary["ARAE"]["auroc_mean"]
    assert arae.training_time_ratio(results) > 1.0  # the attack costs time
    assert len(results.histories) == 3  # AE, DAE and ARAE
