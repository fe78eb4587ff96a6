"""The glitch bench: each kind injected as its generator defines it, the table's ranks and
recommendation computed from the numbers, and its refusals."""

import numpy as np
import pytest

from glitchbook import ConfigError
from glitchbook.methods import bench
from glitchbook.pages import bench as bench_page


@pytest.fixture(scope="module")
def smoke():
    config = bench.Config.for_run("mnist-5k", "smoke")
    return config, bench.prepare(config)


@pytest.mark.parametrize("kind", ["systematic", "uniform", "class", "camera", "anomaly"])
def test_each_kind_makes_bad_exactly_what_its_truth_says(smoke, kind):
    config, prepared = smoke
    case = bench.inject(config, prepared, kind)
    n = len(prepared.train)
    bad = case.is_glitch
    assert 0 < bad.sum() <= int(config.rate * n) + 1
    if kind in ("uniform", "class"):  # the labels change, the images do not
        np.testing.assert_array_equal(case.images, prepared.train.images)
        np.testing.assert_array_equal(case.labels != prepared.train.labels, bad)
    elif kind in ("systematic", "camera"):  # the images change, the labels do not
        changed = (case.images != prepared.train.images).reshape(n, -1).any(1)
        np.testing.assert_array_equal(changed, bad)
        np.testing.assert_array_equal(case.labels, prepared.train.labels)
    else:  # appended, with an in-distribution label
        assert len(case.images) == n + bad.sum() and bad[n:].all() and not bad[:n].any()
        assert set(case.labels[n:]) <= set(range(10))
    assert ((case.stratum >= 0) == bad).all()
    again = bench.inject(config, prepared, kind)
    np.testing.assert_array_equal(again.images, case.images)  # seeded


def test_ambiguous_images_come_from_gasten_labelled_by_its_classifier(smoke):
    config, prepared = smoke
    case = bench.inject(config, prepared, "ambiguous", device="cpu", progress=False)
    n, added = len(prepared.train), int(case.is_glitch.sum())
    assert added == int(config.rate * n) and case.images.shape[1:] == (1, 28, 28)
    assert set(case.labels[n:]) <= {7, 1}  # the pair 7v1
    assert 0 <= case.images[n:].min() and case.images[n:].max() <= 1


def _results(scores_by_kind: dict[str, dict[str, np.ndarray]], truth: np.ndarray):
    cases = {k: bench.Case(k, np.zeros((len(truth), 1, 2, 2), np.float32),
                           np.zeros(len(truth), int), truth)
             for k in scores_by_kind}
    scores = {k: {d: s.get(d, np.zeros(len(truth))) for d in bench.DETECTORS}
              for k, s in scores_by_kind.items()}
    config = bench.Config.for_run("mnist-5k", "smoke")
    return bench.Results(config, cases, scores, dict.fromkeys(bench.DETECTORS, 1.0))


def test_the_table_names_a_leader_only_beyond_its_interval_and_above_chance():
    truth = np.tile([True, False, False, True, False, False], 4)
    perfect, inverted = truth.astype(float), (~truth).astype(float)
    # camera: KNN perfect; uniform: CNCI and SI both perfect (a tie); class: nothing above
    # chance; every other detector scores 0 (ties)
    metrics = bench.summarise(_results({
        "camera": {"KNN (PyOD)": perfect, "CNCI": inverted},
        "uniform": {"CNCI": perfect, "TracIn SI": perfect}, "class": {}}, truth))
    models = metrics["compared"]
    assert models["KNN (PyOD)"]["avpr_camera"] == 1.0
    assert models["KNN (PyOD)"]["auroc_camera"] == 1.0 and models["CNCI"]["auroc_camera"] == 0.0
    # a constant score, or one that puts every bad image last: AVPR is the share of bad ones
    assert models["VAE error"]["avpr_camera"] == models["CNCI"]["avpr_camera"] == 1 / 3
    assert models["KNN (PyOD)"]["f1_camera"] == 1.0
    # ranks by AVPR, ties sharing their mean
    assert models["KNN (PyOD)"]["mean_rank"] < models["VAE error"]["mean_rank"]
    camera, uniform, noise = bench_page.recommendation(metrics)[:3]
    assert camera.startswith("- **camera**: KNN (PyOD) (AVPR 1 [1, 1]), ahead of every")
    assert "not separated from TracIn SI" in uniform or "not separated from CNCI" in uniform
    assert noise.startswith("- **class**: no detector beats chance")
    assert "**1 [1, 1]**" in bench_page.tables(metrics)  # the separated leader, in bold
    assert bench_page.tables(metrics).count("**1 [1, 1]**") == 1  # not the tied ones


def test_bad_values_are_refused_before_anything_runs():
    with pytest.raises(ConfigError, match="unknown glitch kind"):
        bench.from_parameters("mnist-5k", "smoke", kind="typos")
    with pytest.raises(ConfigError, match="rate must lie strictly between 0 and 1"):
        bench.from_parameters("mnist-5k", "smoke", rate=1.5)
    with pytest.raises(ConfigError, match="more than a rate of 0.01 makes bad"):
        bench.from_parameters("mnist-5k", "default", rate=0.01)
    with pytest.raises(ConfigError, match="1 x 28 x 28"):
        bench.from_parameters("digits", "smoke")
    assert bench.from_parameters("digits", "smoke", kind="uniform").kinds == ("uniform",)
