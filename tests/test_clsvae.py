"""The CLSVAE chapter's pipeline on a small real case."""

import numpy as np
import pytest

from glitchbook import metrics
from glitchbook.methods import clsvae


@pytest.fixture(scope="module")
def smoke_run():
    config = clsvae.Config.for_run("digits", "smoke", models=("VAE", "CLSVAE"))
    prepared = clsvae.prepare(config)
    trained = clsvae.train(config, prepared, device="cpu", progress=False)
    return config, prepared, trained


def test_clsvae_beats_chance_at_detection_and_repairs_towards_clean(smoke_run):
    _, prepared, trained = smoke_run
    result = clsvae.evaluate(trained["CLSVAE"][0], prepared)
    dirty_share = prepared.corruption.is_outlier[prepared.test].mean()
    assert result.metrics["avpr_row"] > dirty_share + 0.2
    no_repair = metrics.repair_error_of(clsvae.no_repair_terms(prepared))
    assert result.metrics["smse_dirty"] < no_repair


def test_evaluation_reports_every_metric_for_every_model(smoke_run):
    _, prepared, trained = smoke_run
    for name, (model, _) in trained.items():
        m = clsvae.evaluate(model, prepared).metrics
        for key in ("auroc_row", "avpr_row", "auroc_cell", "avpr_cell", "smse_dirty",
                    "smse_clean", "mse_dirty"):
            assert np.isfinite(m[key]), (name, key)


def test_a_seed_fixes_the_numbers_on_cpu():
    def numbers():
        config = clsvae.Config.for_run("digits", "smoke", epochs=3, models=("CLSVAE",))
        prepared = clsvae.prepare(config)
        (model, _), = clsvae.train(config, prepared, device="cpu", progress=False).values()
        return clsvae.evaluate(model, prepared).metrics

    assert numbers() == numbers()


def test_a_model_trains_the_same_whichever_others_train_with_it(smoke_run):
    import dataclasses

    import torch

    config, prepared, trained = smoke_run
    alone = dataclasses.replace(config, models=("CLSVAE",))
    (model, _), = clsvae.train(alone, prepared, device="cpu", progress=False).values()
    with_vae = trained["CLSVAE"][0].state_dict()
    assert all(torch.equal(v, with_vae[k]) for k, v in model.state_dict().items())


def test_the_trusted_set_comes_from_the_training_split(smoke_run):
    _, prepared, _ = smoke_run
    assert set(prepared.trusted.index) <= set(prepared.train)
    assert not set(prepared.train) & set(prepared.test)


@pytest.mark.parametrize("dataset", ["shapes", "mnist-5k"])
def test_the_test_split_is_as_dirty_as_the_data(dataset):
    # corruption, split and trusted set come from independent streams of one seed; on shapes
    # every pattern changes its image, on digits a black pattern on a black corner may not
    for seed in range(3):
        config = clsvae.Config.for_run(dataset, "default", seed=seed)
        prepared = clsvae.prepare(config)
        dirty = prepared.corruption.is_outlier
        assert abs(dirty[prepared.test].mean() - dirty.mean()) <= 0.03
        if dataset == "shapes":
            assert dirty.mean() == pytest.approx(config.corruption)


def test_grey_images_are_standardised_by_the_dirty_datas_mean_and_sd(smoke_run):
    _, prepared, _ = smoke_run
    dirty = prepared.corruption.images
    assert prepared.mean == pytest.approx(dirty.mean(), rel=1e-5)
    assert prepared.sd == pytest.approx(dirty.std(ddof=1), rel=1e-5)
    z = prepared.standardise(dirty)
    assert z.mean() == pytest.approx(0, abs=1e-5) and z.std(ddof=1) == pytest.approx(1, abs=1e-4)
