"""Autoencoders for novelty detection (Salehi et al., "ARAE: Adversarially Robust Training of
Autoencoders Improves Novelty Detection", Neural Networks 144, 2021, section 3): a plain AE, a
denoising AE (DAE) and the adversarially robust AE (ARAE), which learns a latent code that small
input perturbations cannot move, so that novel inputs are reconstructed as normal-looking images.

All share the authors' MLP: D -> 512 -> 256 -> 128 (code) -> 256 -> 512 -> D, sigmoid activations
and Glorot-normal initialisation (their main Keras model). The novelty score is the squared
reconstruction error (higher = more novel). Training batches are `(x, ...)`; only x is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from glitchbook.checks import check_choice, check_choices, check_positive, check_range
from glitchbook.models.blocks import mlp

HIDDEN = (512, 256)
CODE_DIM = 128
ATTACKS = ("linf", "l2", "spatial")


class AE(nn.Module):
    """Plain autoencoder trained to reconstruct its input."""

    def __init__(self, image_shape: Sequence[int], *, hidden: Sequence[int] = HIDDEN,
                 code_dim: int = CODE_DIM, activation: type[nn.Module] = nn.Sigmoid):
        super().__init__()
        self.image_shape = tuple(image_shape)
        dim = math.prod(self.image_shape)
        self.encoder = mlp([dim, *hidden, code_dim], activation)
        self.decoder = nn.Sequential(mlp([code_dim, *reversed(hidden)], activation),
                                     nn.Linear(hidden[0], dim), nn.Sigmoid())
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight)
                nn.init.zeros_(layer.bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.reshape(len(x), -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x)).reshape(-1, *self.image_shape)

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x = batch[0]
        return F.mse_loss(self(x), x)

    @torch.no_grad()
    def outlier_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Squared reconstruction error per image (higher = more novel)."""
        self.eval()
        return ((self(x) - x) ** 2).reshape(len(x), -1).sum(1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        self.eval()
        return self(x)


class DAE(AE):
    """Denoising autoencoder: reconstructs x from x + N(0, noise^2), clipped to [0, 1]."""

    def __init__(self, image_shape: Sequence[int], *, noise: float = 0.2, **kw):
        super().__init__(image_shape, **kw)
        check_positive(noise=noise)
        self.noise = noise

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x = batch[0]
        noisy = (x + self.noise * torch.randn_like(x)).clamp(0.0, 1.0)
        return F.mse_loss(self(noisy), x)


def latent_attack(encode, x: torch.Tensor, *, epsilon: float, steps: int,
                  step_size: float | None = None, norm: str = "linf") -> torch.Tensor:
    """Projected gradient ascent on the latent distance ||E(x + delta) - E(x)||^2.

    Args:
        encode: the encoder, images N x C x H x W -> codes N x K.
        x: images in [0, 1]; the result x + delta stays in [0, 1] with ||delta|| <= epsilon
            (L-infinity or L2 per image, by `norm`).
        step_size: default 2.5 epsilon / steps, as the authors.
    Returns the adversarial images, detached.
    """
    check_positive(epsilon=epsilon, steps=steps)
    check_choice(norm, ("linf", "l2"), "attack norm")
    alpha = step_size if step_size is not None else 2.5 * epsilon / steps
    with torch.no_grad():
        target = encode(x)
    if norm == "linf":
        delta = torch.empty_like(x).uniform_(-epsilon, epsilon)
    else:
        delta = _project_l2(torch.randn_like(x) * 1e-3, epsilon)
    delta = ((x + delta).clamp(0, 1) - x).requires_grad_(True)
    for _ in range(steps):
        distance = ((encode(x + delta) - target) ** 2).sum()
        (grad,) = torch.autograd.grad(distance, delta)
        with torch.no_grad():
            if norm == "linf":
                delta += alpha * grad.sign()
                delta.clamp_(-epsilon, epsilon)
            else:
                norms = grad.reshape(len(x), -1).norm(dim=1).clamp_min(1e-12)
                delta += alpha * grad / norms.reshape(-1, *[1] * (x.dim() - 1))
                delta.copy_(_project_l2(delta, epsilon))
            delta.copy_((x + delta).clamp(0, 1) - x)
    return (x + delta).detach()


def _project_l2(delta: torch.Tensor, epsilon: float) -> torch.Tensor:
    norms = delta.reshape(len(delta), -1).norm(dim=1).clamp_min(1e-12)
    factor = (epsilon / norms).clamp(max=1.0)
    return delta * factor.reshape(-1, *[1] * (delta.dim() - 1))


def spatial_attack(encode, x: torch.Tensor, *, max_angle: float = 30.0, angles: int = 31,
                   shift: float = 4 / 28) -> torch.Tensor:
    """The rotation and translation (angles in [-max_angle, max_angle] degrees, shifts in
    {-shift, 0, shift} of the image side on each axis) that moves each image's code most."""
    with torch.no_grad():
        target = encode(x)
        best, best_distance = x.clone(), torch.full((len(x),), -1.0, device=x.device)
        for angle in torch.linspace(-max_angle, max_angle, angles).tolist():
            for dx in (-shift, 0.0, shift):
                for dy in (-shift, 0.0, shift):
                    moved = _affine(x, math.radians(angle), 2 * dx, 2 * dy)
                    distance = ((encode(moved) - target) ** 2).reshape(len(x), -1).sum(1)
                    better = distance > best_distance
                    best[better], best_distance[better] = moved[better], distance[better]
    return best


def _affine(x: torch.Tensor, angle: float, dx: float, dy: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    theta = torch.tensor([[c, -s, dx], [s, c, dy]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


class ARAE(AE):
    """Adversarially robust AE: each batch, craft x_adv near x that moves the code most, then
    minimise ||D(E(x_adv)) - x||^2 + gamma ||E(x) - E(x_adv)||^2 (means over dimensions).

    `attacks=("linf",)` is the paper's main model; `("l2", "linf", "spatial")` its union model
    (MNIST-union), whose reconstruction term covers the three adversarial batches. The union
    uses the authors' L2 budget (`l2_epsilon`, `l2_steps`, step 0.1) and the spatial grid."""

    def __init__(self, image_shape: Sequence[int], *, epsilon: float = 0.2, steps: int = 40,
                 step_size: float | None = None, gamma: float = 0.1,
                 attacks: Sequence[str] = ("linf",), l2_epsilon: float = 5.0,
                 l2_steps: int = 100, **kw):
        super().__init__(image_shape, **kw)
        check_positive(epsilon=epsilon, steps=steps)
        check_range(gamma, 0, float("inf"), "gamma")
        check_choices(attacks, ATTACKS, "attack")
        self.epsilon, self.steps, self.step_size, self.gamma = epsilon, steps, step_size, gamma
        self.attacks, self.l2_epsilon, self.l2_steps = tuple(attacks), l2_epsilon, l2_steps

    def adversarial(self, x: torch.Tensor) -> torch.Tensor:
        """The adversarial batch (the attacks' batches concatenated, in `self.attacks` order)."""
        was_training = self.training
        self.eval()
        batches = []
        for attack in self.attacks:
            if attack == "linf":
                batches.append(latent_attack(self.encode, x, epsilon=self.epsilon,
                                             steps=self.steps, step_size=self.step_size))
            elif attack == "l2":
                batches.append(latent_attack(self.encode, x, epsilon=self.l2_epsilon,
                                             steps=self.l2_steps, step_size=0.1, norm="l2"))
            else:
                batches.append(spatial_attack(self.encode, x))
        self.train(was_training)
        return torch.cat(batches)

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x = batch[0]
        x_adv = self.adversarial(x)
        clean = x.repeat(len(self.attacks), *[1] * (x.dim() - 1))
        code_adv = self.encode(x_adv)
        reconstruction = F.mse_loss(self.decoder(code_adv).reshape_as(clean), clean)
        stability = F.mse_loss(self.encode(clean), code_adv)
        return reconstruction + self.gamma * stability


AUTOENCODERS: dict[str, type[AE]] = {"AE": AE, "DAE": DAE, "ARAE": ARAE}
