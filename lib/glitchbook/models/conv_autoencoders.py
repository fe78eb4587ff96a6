"""Convolutional autoencoders of the drift work (uncleDecart/data_drift): an AE with a small (8)
or big (32) embedding and a VAE (32), trained without labels on one good class. The encoder is
the authors' (`models/architectures.py`, `CNN_Encoder`): five 3x3 convolutions of 16, 32, 64,
128 and 256 channels, the first keeping the size and each next halving it, batch norm from the
second, LeakyReLU 0.2, then a linear layer to the embedding. Their decoder (kernel-30 transposed
convolutions sized for 150 x 150 images) is replaced by the mirror of the encoder, which
undoes each halving exactly, so any image size works."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from glitchbook.models.blocks import LOGVAR_RANGE, kl_normal, sample

WIDTHS = (16, 32, 64, 128, 256)


def halved(size: int) -> int:
    """Side after a 3x3, stride-2, padding-1 convolution."""
    return (size - 1) // 2 + 1


class ConvEncoder(nn.Module):
    """Image -> flattened feature map (N x out_dim)."""

    def __init__(self, channels: int, image_size: int, widths: Sequence[int] = WIDTHS):
        super().__init__()
        layers: list[nn.Module] = []
        previous, self.sides = channels, [image_size]
        for i, width in enumerate(widths):
            layers.append(nn.Conv2d(previous, width, 3, 1 if i == 0 else 2, 1))
            if i:
                layers.append(nn.BatchNorm2d(width))
                self.sides.append(halved(self.sides[-1]))
            layers.append(nn.LeakyReLU(0.2))
            previous = width
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.side = self.sides[-1]
        self.out_dim = widths[-1] * self.side**2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ConvDecoder(nn.Module):
    """Embedding -> image in [0, 1]: a linear layer to the encoder's last map, then 3x3
    stride-2 transposed convolutions back through the encoder's sides (`sides`, largest first)
    and a 3x3 convolution with a sigmoid."""

    def __init__(self, embedding: int, channels: int, sides: Sequence[int],
                 widths: Sequence[int] = WIDTHS):
        super().__init__()
        widths, sides = list(widths)[::-1], list(sides)[::-1]
        self.shape = (widths[0], sides[0], sides[0])
        size = widths[0] * sides[0] ** 2
        self.project = nn.Sequential(nn.Linear(embedding, size), nn.BatchNorm1d(size), nn.ReLU())
        layers: list[nn.Module] = []
        for (a, b), (small, large) in zip(zip(widths[:-1], widths[1:], strict=True),
                                          zip(sides[:-1], sides[1:], strict=True), strict=True):
            extra = large - (2 * small - 1)  # output_padding that lands on the encoder's side
            layers += [nn.ConvTranspose2d(a, b, 3, 2, 1, output_padding=extra),
                       nn.BatchNorm2d(b), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).view(len(z), *self.shape))


class ConvAE(nn.Module):
    """Autoencoder with an `embedding`-dimensional code; loss: squared error summed over pixels
    (mean over the batch), as the authors'."""

    def __init__(self, image_shape: Sequence[int], *, embedding: int = 32,
                 widths: Sequence[int] = WIDTHS):
        super().__init__()
        channels, size = image_shape[0], image_shape[-1]
        self.encoder = ConvEncoder(channels, size, widths)
        self.head = nn.Sequential(nn.Linear(self.encoder.out_dim, embedding),
                                  nn.BatchNorm1d(embedding), nn.LeakyReLU(0.2))
        self.decoder = ConvDecoder(embedding, channels, self.encoder.sides, widths)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.embed(x))

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x = batch[0]
        return F.mse_loss(self.reconstruct(x), x, reduction="sum") / len(x)

    def outlier_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image mean squared reconstruction error, the anomaly score."""
        return ((self.reconstruct(x) - x) ** 2).flatten(1).mean(1)


class ConvVAE(ConvAE):
    """Variational autoencoder with the same encoder; the embedding is the posterior mean.
    Loss: binary cross-entropy summed over pixels plus the KL term (the authors')."""

    def __init__(self, image_shape: Sequence[int], *, embedding: int = 32,
                 widths: Sequence[int] = WIDTHS):
        super().__init__(image_shape, embedding=embedding, widths=widths)
        self.head = nn.Linear(self.encoder.out_dim, 2 * embedding)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x = batch[0]
        mu, logvar = self.posterior(x)
        recon = F.binary_cross_entropy(self.decoder(sample(mu, logvar)), x, reduction="sum")
        return (recon + kl_normal(mu, logvar).sum()) / len(x)


DRIFT_MODELS = {"small": (ConvAE, 8), "big": (ConvAE, 32), "vae": (ConvVAE, 32)}


def build(name: str, image_shape: Sequence[int]) -> ConvAE:
    """The drift work's model `name`: small (AE, 8), big (AE, 32) or vae (VAE, 32)."""
    cls, embedding = DRIFT_MODELS[name]
    return cls(image_shape, embedding=embedding)
