import pytest
import torch

from glitchbook import ConfigError
from glitchbook.models import ARAE, AUTOENCODERS, latent_attack
from glitchbook.models.autoencoders import spatial_attack
from glitchbook.training import fit, tensor_dataset


def _images(n=16, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("norm,epsilon", [("linf", 0.1), ("l2", 1.0)])
def test_the_attack_stays_in_budget_and_moves_the_code(norm, epsilon):
    torch.manual_seed(0)
    model = ARAE((1, 8, 8))
    x = _images()
    x_adv = latent_attack(model.encode, x, epsilon=epsilon, steps=10, norm=norm)
    delta = (x_adv - x).reshape(len(x), -1)
    size = delta.abs().max(1).values if norm == "linf" else delta.norm(dim=1)
    assert (size <= epsilon + 1e-5).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        moved = ((model.encode(x_adv) - model.encode(x)) ** 2).sum(1)
        torch.manual_seed(1)
        noise = torch.randn_like(x)  # a random perturbation of the same size
        if norm == "linf":
            noise = epsilon * noise.sign()
        else:
            noise *= epsilon / noise.reshape(len(x), -1).norm(dim=1).reshape(-1, 1, 1, 1)
        random = (x + noise).clamp(0, 1)
        by_chance = ((model.encode(random) - model.encode(x)) ** 2).sum(1)
    assert moved.mean() > by_chance.mean()


def test_spatial_attack_moves_the_code_at_least_as_much_as_identity():
    model = ARAE((1, 8, 8))
    x = _images()
    moved = spatial_attack(model.encode, x, angles=5)
    with torch.no_grad():
        assert ((model.encode(moved) - model.encode(x)) ** 2).sum() > 0


@pytest.mark.parametrize("name", list(AUTOENCODERS))
def test_shapes_scores_and_training_reduces_the_loss(name, digits):
    torch.manual_seed(0)
    model = AUTOENCODERS[name](digits.shape, **({"steps": 3} if name == "ARAE" else {}))
    x = torch.from_numpy(digits.images[:128])
    assert model(x).shape == x.shape
    assert model.outlier_scores(x).shape == (128,)
    history = fit(model, tensor_dataset(digits.images[:128]), epochs=6, batch_size=32,
                  device="cpu", progress=False)
    assert history.losses[-1] < history.losses[0]


def test_the_union_model_trains_on_three_adversarial_batches():
    model = ARAE((1, 8, 8), attacks=("l2", "linf", "spatial"), steps=2, l2_steps=2)
    x = _images(4)
    assert model.adversarial(x).shape == (12, 1, 8, 8)
    assert torch.isfinite(model.training_loss((x,), epoch=1, epochs=1))


@pytest.mark.parametrize("kwargs", [dict(epsilon=-0.1), dict(steps=0), dict(attacks=("fgsm",)),
                                    dict(gamma=-1.0)])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ConfigError):
        ARAE((1, 8, 8), **kwargs)
