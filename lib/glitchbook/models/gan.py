"""GASTeN's networks (Cunha et al., "GASTeN: Generative Adversarial Stress Test Networks",
IDA 2023): the DCGAN generator and discriminator for 28 x 28 single-channel images in [-1, 1],
and the generator's loss with the stress-test term that pulls a frozen binary classifier's
output towards 0.5. Architecture and initialisation as in the authors' `dcgan.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from glitchbook.checks import check_positive
from glitchbook.training import (
    History,
    resolve_device,
    run_epochs,
    seeded,
    tensor_dataset,
    to_device,
)


def _init(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) weights, N(1, 0.02) batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z (N x z_dim) -> image (N x 1 x 28 x 28, tanh): a linear layer to 4 x 4 x 4f, then three
    5x5 stride-2 transposed convolutions 4 -> 7 -> 14 -> 28 (batch norm and ReLU between)."""

    def __init__(self, z_dim: int = 64, filters: int = 64, channels: int = 1):
        super().__init__()
        self.z_dim = z_dim
        self.project = nn.Sequential(nn.Linear(z_dim, 4 * filters * 4 * 4, bias=False),
                                     nn.BatchNorm1d(4 * filters * 4 * 4), nn.ReLU())
        self.body = nn.Sequential(
            nn.ConvTranspose2d(4 * filters, 2 * filters, 5, 2, 2, bias=False),  # 4 -> 7
            nn.BatchNorm2d(2 * filters), nn.ReLU(),
            nn.ConvTranspose2d(2 * filters, filters, 5, 2, 2, 1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(filters), nn.ReLU(),
            nn.ConvTranspose2d(filters, channels, 5, 2, 2, 1, bias=False),  # 14 -> 28
            nn.Tanh())
        self.apply(_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).view(len(z), -1, 4, 4))


class Discriminator(nn.Module):
    """image -> probability it is real: three 5x5 stride-2 convolutions 28 -> 14 -> 7 -> 4
    (LeakyReLU 0.2; batch norm after the first), a linear layer and a sigmoid."""

    def __init__(self, filters: int = 64, channels: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, filters, 5, 2, 2), nn.LeakyReLU(0.2),
            nn.Conv2d(filters, 2 * filters, 5, 2, 2, bias=False), nn.BatchNorm2d(2 * filters),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * filters, 4 * filters, 5, 2, 2, bias=False),
            nn.BatchNorm2d(4 * filters), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(4 * filters * 4 * 4, 1), nn.Sigmoid())
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)


def confusion_distance(probs: torch.Tensor) -> torch.Tensor:
    """GASTeN's second term: mean |0.5 - C(G(z))|, 0 when every image sits on the boundary."""
    return (0.5 - probs).abs().mean()


def discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN: BCE(D(x), 1) + BCE(D(G(z)), 0)."""
    return (F.binary_cross_entropy(real, torch.ones_like(real))
            + F.binary_cross_entropy(fake, torch.zeros_like(fake)))


def generator_loss(fake: torch.Tensor, classifier_probs: torch.Tensor | None = None,
                   weight: float = 25.0) -> torch.Tensor:
    """BCE(D(G(z)), 1), plus `weight` x the confusion distance in GASTeN's step 2."""
    loss = F.binary_cross_entropy(fake, torch.ones_like(fake))
    if classifier_probs is not None:
        loss = loss + weight * confusion_distance(classifier_probs)
    return loss


@dataclass
class GAN:
    """A generator, its discriminator and their Adam optimisers (kept across GASTeN's steps)."""

    generator: Generator
    discriminator: Discriminator
    g_optimizer: torch.optim.Optimizer
    d_optimizer: torch.optim.Optimizer

    @classmethod
    def create(cls, *, z_dim: int = 64, filters: int = 64, lr: float = 2e-4,
               betas: tuple[float, float] = (0.5, 0.999), seed: int = 0) -> GAN:
        """A freshly initialised DCGAN with the authors' optimiser settings."""
        g, d = seeded(lambda: (Generator(z_dim, filters), Discriminator(filters)), seed)
        return cls(g, d, torch.optim.Adam(g.parameters(), lr, betas=betas, fused=True),
                   torch.optim.Adam(d.parameters(), lr, betas=betas, fused=True))

    @torch.no_grad()
    def sample(self, noise: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
        """Generated images for fixed `noise` (N x z_dim), in eval mode, on the CPU."""
        self.generator.eval()
        device = next(self.generator.parameters()).device
        images = [self.generator(z.to(device)).cpu() for z in noise.split(batch_size)]
        return torch.cat(images)


def fit_gan(gan: GAN, images: torch.Tensor | np.ndarray, *, epochs: int, batch_size: int = 64,
            classifier: nn.Module | None = None, weight: float = 25.0,
            device: str | torch.device = "auto", seed: int = 0, name: str = "GAN",
            progress: bool = True) -> History:
    """Train `gan` on real `images` in [-1, 1]: for each batch one discriminator update, then
    one generator update. With `classifier` (a frozen binary classifier giving probabilities)
    the generator's loss gains `weight` x the confusion distance: GASTeN's step 2. The sibling
    of `training.fit` for two-player updates; both run on `training.run_epochs`. History.curves
    holds the generator ("G") and discriminator ("D") losses and, in step 2, the batch ACD."""
    check_positive(epochs=epochs, batch_size=batch_size)
    target = resolve_device(device)
    g, d = to_device(gan.generator, target).train(), to_device(gan.discriminator, target).train()
    _move_optimizer(gan.g_optimizer, target)
    _move_optimizer(gan.d_optimizer, target)
    if classifier is not None:
        to_device(classifier, target).eval().requires_grad_(False)

    def step(batch: tuple[torch.Tensor, ...], epoch: int) -> dict[str, torch.Tensor]:
        real = batch[0]
        fake = g(torch.randn(len(real), g.z_dim, device=target))
        d_loss = discriminator_loss(d(real), d(fake.detach()))
        gan.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        gan.d_optimizer.step()
        fake = g(torch.randn(len(real), g.z_dim, device=target))
        probs = classifier(fake) if classifier is not None else None
        g_loss = generator_loss(d(fake), probs, weight)
        gan.g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        gan.g_optimizer.step()
        losses = {"G": g_loss, "D": d_loss}
        if probs is not None:
            losses["ACD"] = confusion_distance(probs)
        return losses

    data = tensor_dataset(np.asarray(images, np.float32))
    history = run_epochs(step, data, epochs=epochs, batch_size=batch_size, device=target,
                         seed=seed, name=name, progress=progress,
                         hint="GAN training diverged; try a lower learning rate")
    g.eval()
    d.eval()
    return history


def _move_optimizer(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):  # fused Adam keeps its step count there too
                state[key] = value.to(device)
