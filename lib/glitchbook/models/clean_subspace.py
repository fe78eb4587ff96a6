"""CLSVAE, the Clean Subspace VAE of "Repairing Systematic Outliers by Learning Clean Subspaces
in VAEs" (arXiv 2207.08050, section 4), on the VAE family's shared parts (`vaes`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from glitchbook.models.blocks import (
    GaussianEncoder,
    distance_correlation,
    kl_normal,
    mlp,
    sample,
    warmup,
)
from glitchbook.models.vaes import SemiSupervised


class CLSVAE(SemiSupervised):
    """Clean Subspace VAE (arXiv 2207.08050, section 4; the authors' `semi_y_CLSVAE`): two
    encoders give a clean code z_c and a dirty code z_d. A clean image decodes from
    [z_c, eps] (eps ~ N(0, eps_scale^2), no dirty information), a dirty one from [z_c, z_d],
    weighted by q(y|z), which sees [stopgrad(z_c), z_d]. KL terms pull z_c to N(0,
    clean_prior_scale^2) and z_d to N(0, dirty_prior_scale^2) on every row; a distance-
    correlation penalty (warmed up) keeps z_c and z_d independent; trusted dirty rows weigh
    `dirty_weight` in the supervised term. Scoring and repair decode [z_c, 0]."""

    def __init__(self, image_shape: Sequence[int], *, clean_prior_scale: float = 0.2,
                 dirty_prior_scale: float = 5.0, eps_scale: float = 0.1,
                 independence: float = 1000.0, independence_warmup: tuple[float, float] = (0, 0),
                 dirty_weight: float = 1.0, **kw):
        super().__init__(image_shape, **kw)
        self.d_dim = self.latent_dim // 3
        self.c_dim = self.latent_dim - self.d_dim
        self.clean_encoder = GaussianEncoder(self.dim, self.hidden, self.c_dim)
        self.dirty_encoder = GaussianEncoder(self.dim, self.hidden, self.d_dim)
        self.classifier = mlp([self.latent_dim, self.latent_dim // 2, self.latent_dim // 3, 1],
                              last_activation=False)
        self.clean_logvar = 2 * math.log(clean_prior_scale)
        self.dirty_logvar = 2 * math.log(dirty_prior_scale)
        self.eps_scale = eps_scale
        self.independence, self.independence_warmup = independence, independence_warmup
        self.dirty_weight = dirty_weight

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x, y, labelled = self.flat(batch[0]), batch[1].float(), batch[2].bool()
        mu_c, logvar_c = self.clean_encoder(x)
        mu_d, logvar_d = self.dirty_encoder(x)
        z_c, z_d = sample(mu_c, logvar_c), sample(mu_d, logvar_d)
        eps = torch.randn_like(z_d) * self.eps_scale
        logit = self.classifier(torch.cat([z_c.detach(), z_d], 1)).squeeze(1)
        q_clean = torch.where(labelled, y, torch.sigmoid(logit))
        nll = (q_clean * self.nll(x, self.decoder(torch.cat([z_c, eps], 1)))
               + (1 - q_clean) * self.nll(x, self.decoder(torch.cat([z_c, z_d], 1))))
        kl = self.kl_terms(mu_c, logvar_c, mu_d, logvar_d, logit, labelled)
        elbo = (nll + self.beta(epoch, epochs) * kl).mean()
        weight = self.independence * warmup(epoch, epochs, *self.independence_warmup)
        penalty = weight * distance_correlation(z_c, z_d) if weight else 0.0
        return elbo + self.supervised_term(logit, y, labelled, self.dirty_weight) + penalty

    def kl_terms(self, mu_c: torch.Tensor, logvar_c: torch.Tensor, mu_d: torch.Tensor,
                 logvar_d: torch.Tensor, logit: torch.Tensor,
                 labelled: torch.Tensor) -> torch.Tensor:
        """The ELBO's KL terms per row: KL(q(z_c|x) || N(0, clean_prior_scale^2)) +
        KL(q(z_d|x) || N(0, dirty_prior_scale^2)), the latter on every row whatever q(y|x),
        plus the label term."""
        return (kl_normal(mu_c, logvar_c, 0.0, self.clean_logvar)
                + kl_normal(mu_d, logvar_d, 0.0, self.dirty_logvar)
                + self.label_term(logit, labelled))

    def _codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.flat(x)
        return self.clean_encoder(x)[0], self.dirty_encoder(x)[0]

    def reconstruct(self, x: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder output of the clean path [z_c, 0], as the authors score and repair with it:
        pixels the clean subspace cannot explain get a high NLL."""
        z_c, z_d = self._codes(x)
        return self.decoder(torch.cat([z_c, torch.zeros_like(z_d)], 1))

    def clean_probability(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.classifier(torch.cat(self._codes(x), 1)).squeeze(1))
