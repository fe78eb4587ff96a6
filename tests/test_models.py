import numpy as np
import pytest
import torch

from glitchbook.models import MODELS
from glitchbook.models.blocks import distance_correlation, kl_normal, warmup
from glitchbook.training import fit, tensor_dataset


def _batch(n=32, shape=(1, 8, 8), seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g)
    y = (torch.rand(n, generator=g) > 0.3).float()
    labelled = torch.rand(n, generator=g) > 0.5
    return x, y, labelled


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_forward_shapes_and_finite_loss(name, likelihood):
    torch.manual_seed(0)
    model = MODELS[name]((1, 8, 8), likelihood=likelihood)
    batch = _batch()
    if likelihood == "bernoulli":
        batch = (batch[0].round(), *batch[1:])
    loss = model.training_loss(batch, epoch=1, epochs=5)
    assert loss.ndim == 0 and torch.isfinite(loss)
    x = batch[0]
    for kind in model.score_kinds:
        assert model.outlier_scores(x, kind).shape == (32,)
    assert model.cell_scores(x).shape == x.shape
    repaired = model.repair(x)
    assert repaired.shape == x.shape and torch.isfinite(repaired).all()
    if likelihood == "bernoulli":  # probabilities; grey-level repairs stay on the data's scale
        assert repaired.min() >= 0 and repaired.max() <= 1


@pytest.mark.parametrize("name", list(MODELS))
def test_a_few_steps_reduce_the_loss(name, digits):
    torch.manual_seed(0)
    x = digits.images[:256]
    data = tensor_dataset(x, np.ones(256, np.float32), np.arange(256) % 4 == 0)
    # CLSVAE's independence penalty switches on after the first epoch, which raises the total:
    # this checks the rest of its loss
    model = MODELS[name](digits.shape, **({"independence": 0.0} if name == "CLSVAE" else {}))
    history = fit(model, data, epochs=8, batch_size=64, device="cpu", seed=0, progress=False)
    assert history.losses[-1] < history.losses[0]


def test_unknown_score_kind_is_refused():
    model = MODELS["VAE"]((1, 8, 8))
    with pytest.raises(ValueError, match="q_y"):
        model.outlier_scores(torch.rand(2, 1, 8, 8), "q_y")


def test_blocks_against_closed_forms():
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, np.log(4.0)]])
    # KL(N(1,1)||N(0,1)) = 0.5; KL(N(0,4)||N(0,1)) = 0.5 (4 - 1 - ln 4)
    expected = 0.5 + 0.5 * (4 - 1 - np.log(4))
    assert kl_normal(mu, logvar).item() == pytest.approx(expected, rel=1e-5)
    a = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
    assert distance_correlation(a, a).item() == pytest.approx(1.0, abs=1e-3)
    b = torch.randn(200, 2, generator=torch.Generator().manual_seed(1))
    assert distance_correlation(a, b).item() < 0.3
    assert [warmup(e, 10, 0.2, 0.5) for e in (1, 2, 3, 5, 7, 10)] == [0, 0, 0, 0.5, 1, 1]


def test_codes_cannot_overflow_and_a_constant_code_keeps_gradients_finite():
    from glitchbook.models.blocks import LOGVAR_RANGE, GaussianEncoder

    encoder = GaussianEncoder(4, (8,), 2)
    _, logvar = encoder(torch.full((3, 4), 1e6))
    assert logvar.max() <= LOGVAR_RANGE[1] and logvar.min() >= LOGVAR_RANGE[0]
    a = torch.randn(16, 3, requires_grad=True)
    constant = torch.zeros(16, 2, requires_grad=True)
    distance_correlation(a, constant).backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(constant.grad).all()


def test_clsvae_kl_of_the_dirty_code_is_not_gated_by_q_y():
    # the authors' loss: KL(q(z_c|x) || N(0, 0.5^2)) + KL(q(z_d|x) || N(0, 5^2)) on every row,
    # plus -log q(y=clean|x) on a trusted row (KL(q(y|x) || p(y)) on an unlabelled one)
    model = MODELS["CLSVAE"]((1, 8, 8), clean_prior_scale=0.5, dirty_prior_scale=5.0,
                             clean_prior=0.6)
    mu_c, logvar_c = torch.zeros(1, 10), torch.full((1, 10), np.log(0.25))  # = the prior
    mu_d, logvar_d = torch.tensor([[1.0, 0, 0, 0, 0]]), torch.zeros(1, 5)
    kl_d = 0.5 * (np.log(25) + 2 / 25 - 1) + 4 * 0.5 * (np.log(25) + 1 / 25 - 1)  # 5.6672
    for logit in (-4.0, 0.0, 4.0):  # q(clean) from 0.018 to 0.982: the z_d term is the same
        q = 1 / (1 + np.exp(-logit))
        trusted = model.kl_terms(mu_c, logvar_c, mu_d, logvar_d, torch.tensor([logit]),
                                 torch.tensor([True]))
        assert trusted.item() == pytest.approx(kl_d - np.log(q), rel=1e-5)
        unlabelled = model.kl_terms(mu_c, logvar_c, mu_d, logvar_d, torch.tensor([logit]),
                                    torch.tensor([False]))
        kl_y = q * np.log(q / 0.6) + (1 - q) * np.log((1 - q) / 0.4)
        assert unlabelled.item() == pytest.approx(kl_d + kl_y, rel=1e-4)


def test_cvae_is_scored_with_each_images_true_flag_and_repaired_as_clean():
    torch.manual_seed(0)
    model = MODELS["CVAE"]((1, 8, 8)).eval()
    x = torch.rand(6, 1, 8, 8)
    flags = torch.tensor([1.0, 0, 1, 0, 0, 1])
    as_given = model.outlier_scores(x, "nll", clean=flags)
    as_clean = model.outlier_scores(x, "nll_as_clean", clean=flags)
    ones = torch.ones(6)
    assert torch.allclose(as_clean, model.outlier_scores(x, "nll", clean=ones))
    assert torch.allclose(as_given[flags == 1], as_clean[flags == 1])
    assert not torch.allclose(as_given[flags == 0], as_clean[flags == 0])
    # repair: the code of (x, true flag), decoded with y = clean
    z = model._code(model.flat(x), flags)[0]
    expected = model._decode(z, ones).reshape(x.shape)
    assert torch.allclose(model.repair(x, flags), expected)
