"""The VAE family of the CLSVAE paper (Eduardo et al., "Repairing Systematic Outliers by Learning
Clean Subspaces in VAEs", arXiv 2207.08050, sections 3-5): VAE, CVAE, VAE-GMM, CCVAE and CLSVAE.

All share the authors' MLP encoder (D -> 200 -> 100 -> 50) and decoder (latent -> 50 -> 100 ->
200 -> D), a 15-dimensional latent space and a per-pixel likelihood. Training batches are
`(x, y, labelled)`: images N x C x H x W, y = 1 for a clean image, and whether y is known (the
trusted set). Losses are means over the batch; the authors' batch sums scale their coefficients
by the batch size, which the chapter's configuration accounts for.

Every model offers `outlier_scores(x, kind)` (higher = more suspicious), `cell_scores(x)`
(N x C x H x W per-pixel NLL) and `repair(x)` (N x C x H x W).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from glitchbook.models.blocks import (
    GaussianEncoder,
    Likelihood,
    distance_correlation,
    kl_bernoulli,
    kl_normal,
    log_normal,
    mlp,
    sample,
    warmup,
)

HIDDEN = (200, 100, 50)
LATENT_DIM = 15


class ImageVAE(nn.Module):
    """Shared skeleton: decoder, likelihood, KL warm-up and the scoring/repair interface."""

    score_kinds: tuple[str, ...] = ("nll",)

    def __init__(self, image_shape: Sequence[int], *, latent_dim: int = LATENT_DIM,
                 hidden: Sequence[int] = HIDDEN, likelihood: str = "gaussian",
                 decoder_extra: int = 0, kl_warmup: tuple[float, float] | None = None):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.dim = int(torch.tensor(self.image_shape).prod())
        self.latent_dim, self.hidden = latent_dim, tuple(hidden)
        self.decoder = nn.Sequential(
            mlp([latent_dim + decoder_extra, *reversed(self.hidden)]),
            nn.Linear(self.hidden[0], self.dim))
        self.likelihood = Likelihood(self.dim, likelihood)
        self.kl_warmup = kl_warmup

    def beta(self, epoch: int, epochs: int) -> float:
        """KL weight for this epoch (1 without warm-up)."""
        return 1.0 if self.kl_warmup is None else warmup(epoch, epochs, *self.kl_warmup)

    def flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1)

    def image(self, out: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(out).reshape(-1, *self.image_shape)

    # Subclasses define training_loss; they may override reconstruct (decoder output of the
    # path used for scoring) and repair_output (decoder output of the repair path).
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder output at the posterior mean of q(z|x)."""
        return self.decoder(self.encoder(self.flat(x))[0])

    def repair_output(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)

    def clean_probability(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no q(y|x)")

    @torch.no_grad()
    def cell_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel negative log-likelihood of x under its reconstruction, N x C x H x W."""
        cells = self.likelihood.cells(self.flat(x), self.reconstruct(x))
        return cells.reshape(-1, *self.image_shape)

    @torch.no_grad()
    def outlier_scores(self, x: torch.Tensor, kind: str | None = None) -> torch.Tensor:
        """Row scores, higher = more suspicious: `nll` (sum of cell NLLs) or `q_y`
        (-log q(y=clean|x), for the semi-supervised models). Default: the model's first kind."""
        kind = kind or self.score_kinds[0]
        if kind not in self.score_kinds:
            raise ValueError(f"{type(self).__name__} scores {self.score_kinds}, not {kind!r}")
        if kind == "nll":
            return self.cell_scores(x).reshape(len(x), -1).sum(1)
        return -torch.log(self.clean_probability(x).clamp_min(1e-12))

    @torch.no_grad()
    def repair(self, x: torch.Tensor) -> torch.Tensor:
        """The model's clean version of each image, N x C x H x W in [0, 1]."""
        return self.image(self.repair_output(x))


class VAE(ImageVAE):
    """Plain VAE; the paper's baseline is regularised by weight decay (`VAE-L2`)."""

    def __init__(self, image_shape: Sequence[int], **kw):
        super().__init__(image_shape, **kw)
        self.encoder = GaussianEncoder(self.dim, self.hidden, self.latent_dim)

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x = self.flat(batch[0])
        mu, logvar = self.encoder(x)
        nll = self.likelihood.cells(x, self.decoder(sample(mu, logvar))).sum(1)
        return (nll + self.beta(epoch, epochs) * kl_normal(mu, logvar)).mean()


class CVAE(ImageVAE):
    """Conditional VAE on the clean/dirty flag y, given for every training image (the authors'
    fully supervised `full_y` baseline); scoring and repair condition on y = clean."""

    def __init__(self, image_shape: Sequence[int], **kw):
        super().__init__(image_shape, decoder_extra=1, **kw)
        self.encoder = GaussianEncoder(self.dim + 1, self.hidden, self.latent_dim)

    def _decode(self, x: torch.Tensor, y: torch.Tensor, sampled: bool) -> tuple[torch.Tensor, ...]:
        y = y.reshape(-1, 1).to(x.dtype)
        mu, logvar = self.encoder(torch.cat([x, y], 1))
        z = sample(mu, logvar) if sampled else mu
        return self.decoder(torch.cat([z, y], 1)), mu, logvar

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x, y = self.flat(batch[0]), batch[1]
        out, mu, logvar = self._decode(x, y, sampled=True)
        nll = self.likelihood.cells(x, out).sum(1)
        return (nll + self.beta(epoch, epochs) * kl_normal(mu, logvar)).mean()

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flat(x)
        return self._decode(x, torch.ones(len(x), device=x.device), sampled=False)[0]


class _SemiSupervised(ImageVAE):
    """Common parts of the models that learn q(y|x) from the trusted set."""

    score_kinds = ("q_y", "nll")

    def __init__(self, image_shape: Sequence[int], *, supervision: float = 1.0,
                 clean_prior: float = 0.6, **kw):
        super().__init__(image_shape, **kw)
        self.supervision, self.clean_prior = supervision, clean_prior

    def label_classifier(self) -> nn.Sequential:
        """The authors' q(y|z): an MLP latent -> latent/2 -> latent/3 -> 1 logit (y = clean)."""
        return mlp([self.latent_dim, self.latent_dim // 2, self.latent_dim // 3, 1],
                   last_activation=False)

    def label_term(self, logit: torch.Tensor, y: torch.Tensor,
                   labelled: torch.Tensor) -> torch.Tensor:
        """ELBO term of y: -log p(y) where y is known, KL(q(y|x) || p(y)) elsewhere."""
        prior = torch.full_like(logit, self.clean_prior)
        known = -torch.where(y > 0.5, prior, 1 - prior).log()
        return torch.where(labelled, known, kl_bernoulli(torch.sigmoid(logit), self.clean_prior))

    def supervised_term(self, logit: torch.Tensor, y: torch.Tensor,
                        labelled: torch.Tensor) -> torch.Tensor:
        """`supervision` x mean cross-entropy of q(y|x) on the trusted rows of the batch."""
        if not labelled.any():
            return logit.new_zeros(())
        ce = F.binary_cross_entropy_with_logits(logit[labelled], y[labelled].to(logit.dtype))
        return self.supervision * ce


class VAEGMM(_SemiSupervised):
    """VAE with a two-component Gaussian-mixture prior p(z|y): a narrow component for clean
    images (sigma `clean_scale`) and a standard one for dirty images; q(y|z) learnt from the
    trusted set. Repair decodes the image's own code, so it keeps the corruption."""

    def __init__(self, image_shape: Sequence[int], *, clean_scale: float = 0.5, **kw):
        super().__init__(image_shape, **kw)
        self.encoder = GaussianEncoder(self.dim, self.hidden, self.latent_dim)
        self.classifier = self.label_classifier()
        self.clean_logvar = 2 * math.log(clean_scale)

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x, y, labelled = self.flat(batch[0]), batch[1].float(), batch[2].bool()
        mu, logvar = self.encoder(x)
        z = sample(mu, logvar)
        logit = self.classifier(z).squeeze(1)
        q_clean = torch.where(labelled, y, torch.sigmoid(logit))
        kl_z = (q_clean * kl_normal(mu, logvar, 0.0, self.clean_logvar)
                + (1 - q_clean) * kl_normal(mu, logvar))
        kl_y = self.label_term(logit, y, labelled)
        nll = self.likelihood.cells(x, self.decoder(z)).sum(1)
        elbo = nll + self.beta(epoch, epochs) * (kl_z + kl_y)
        return elbo.mean() + self.supervised_term(logit, y, labelled)

    def clean_probability(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.classifier(self.encoder(self.flat(x))[0]).squeeze(1))


class CCVAE(_SemiSupervised):
    """Characteristic-capturing VAE (Joy et al., ICLR 2021) for the clean/dirty label: the code
    splits into a characteristic part z_c, which alone predicts y and has a learnt conditional
    prior p(z_c|y), and the rest z_s ~ N(0, I). Repair sets z_c to the clean prior's mean."""

    def __init__(self, image_shape: Sequence[int], *, characteristic_dim: int | None = None,
                 **kw):
        super().__init__(image_shape, **kw)
        self.c_dim = characteristic_dim or self.latent_dim // 3
        self.encoder = GaussianEncoder(self.dim, self.hidden, self.latent_dim)
        self.classifier = nn.Linear(self.c_dim, 1)
        self.prior_mu = nn.Parameter(torch.stack([torch.ones(self.c_dim), -torch.ones(self.c_dim)]))
        self.prior_logvar = nn.Parameter(torch.zeros(2, self.c_dim))  # rows: y = 0, y = 1

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x, y, labelled = self.flat(batch[0]), batch[1].float(), batch[2].bool()
        mu, logvar = self.encoder(x)
        z = sample(mu, logvar)
        c = slice(0, self.c_dim)
        logit = self.classifier(z[:, c]).squeeze(1)
        kl_s = kl_normal(mu[:, self.c_dim:], logvar[:, self.c_dim:])
        # trusted rows: KL to p(z_c|y); others: single-sample KL to the mixture sum_y p(y)p(z_c|y)
        yi = y.long()
        kl_c_known = kl_normal(mu[:, c], logvar[:, c], self.prior_mu[yi], self.prior_logvar[yi])
        log_mix = torch.logsumexp(torch.stack([
            log_normal(z[:, c], self.prior_mu[k], self.prior_logvar[k])
            + math.log(p) for k, p in ((0, 1 - self.clean_prior), (1, self.clean_prior))]), 0)
        kl_c_mix = log_normal(z[:, c], mu[:, c], logvar[:, c]) - log_mix
        kl = kl_s + torch.where(labelled, kl_c_known, kl_c_mix)
        nll = self.likelihood.cells(x, self.decoder(z)).sum(1)
        elbo = (nll + self.beta(epoch, epochs) * kl).mean()
        return elbo + self.supervised_term(logit, y, labelled)

    def repair_output(self, x: torch.Tensor) -> torch.Tensor:
        mu = self.encoder(self.flat(x))[0].clone()
        mu[:, : self.c_dim] = self.prior_mu[1]
        return self.decoder(mu)

    def clean_probability(self, x: torch.Tensor) -> torch.Tensor:
        mu = self.encoder(self.flat(x))[0]
        return torch.sigmoid(self.classifier(mu[:, : self.c_dim]).squeeze(1))


class CLSVAE(_SemiSupervised):
    """Clean Subspace VAE (arXiv 2207.08050, section 4): two encoders give a clean code z_c and a
    dirty code z_d. A clean image decodes from [z_c, eps] (eps ~ N(0, sigma_eps^2), no dirty
    information), a dirty one from [z_c, z_d]; q(y|z) sees [stopgrad(z_c), z_d]. A distance-
    correlation penalty keeps z_c and z_d independent. Repair decodes [z_c, 0], the clean
    subspace."""

    def __init__(self, image_shape: Sequence[int], *, clean_prior_scale: float = 0.2,
                 dirty_prior_scale: float = 5.0, eps_scale: float = 0.1,
                 independence: float = 1000.0, independence_warmup: tuple[float, float] = (0, 0),
                 **kw):
        super().__init__(image_shape, **kw)
        self.d_dim = self.latent_dim // 3
        self.c_dim = self.latent_dim - self.d_dim
        self.clean_encoder = GaussianEncoder(self.dim, self.hidden, self.c_dim)
        self.dirty_encoder = GaussianEncoder(self.dim, self.hidden, self.d_dim)
        self.classifier = self.label_classifier()
        self.clean_logvar = 2 * math.log(clean_prior_scale)
        self.dirty_logvar = 2 * math.log(dirty_prior_scale)
        self.eps_logvar = 2 * math.log(eps_scale)
        self.independence, self.independence_warmup = independence, independence_warmup

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x, y, labelled = self.flat(batch[0]), batch[1].float(), batch[2].bool()
        mu_c, logvar_c = self.clean_encoder(x)
        mu_d, logvar_d = self.dirty_encoder(x)
        z_c, z_d = sample(mu_c, logvar_c), sample(mu_d, logvar_d)
        eps = torch.randn_like(z_d) * math.exp(self.eps_logvar / 2)
        logit = self.classifier(torch.cat([z_c.detach(), z_d], 1)).squeeze(1)
        q_clean = torch.where(labelled, y, torch.sigmoid(logit))
        nll_clean = self.likelihood.cells(x, self.decoder(torch.cat([z_c, eps], 1))).sum(1)
        nll_dirty = self.likelihood.cells(x, self.decoder(torch.cat([z_c, z_d], 1))).sum(1)
        nll = q_clean * nll_clean + (1 - q_clean) * nll_dirty
        kl_c = kl_normal(mu_c, logvar_c, 0.0, self.clean_logvar)
        kl_eps = kl_normal(torch.zeros_like(z_d), torch.full_like(z_d, self.eps_logvar),
                           0.0, self.dirty_logvar)
        kl_d = q_clean * kl_eps + (1 - q_clean) * kl_normal(mu_d, logvar_d, 0.0, self.dirty_logvar)
        kl_y = self.label_term(logit, y, labelled)
        elbo = (nll + self.beta(epoch, epochs) * (kl_c + kl_d + kl_y)).mean()
        weight = self.independence * warmup(epoch, epochs, *self.independence_warmup)
        penalty = weight * distance_correlation(z_c, z_d) if weight else 0.0
        return elbo + self.supervised_term(logit, y, labelled) + penalty

    def _codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.flat(x)
        return self.clean_encoder(x)[0], self.dirty_encoder(x)[0]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder output of the clean path [z_c, 0], as the authors score and repair with it:
        pixels the clean subspace cannot explain get a high NLL."""
        z_c, z_d = self._codes(x)
        return self.decoder(torch.cat([z_c, torch.zeros_like(z_d)], 1))

    def clean_probability(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.classifier(torch.cat(self._codes(x), 1)).squeeze(1))


MODELS: dict[str, type[ImageVAE]] = {
    "VAE": VAE, "CVAE": CVAE, "VAE-GMM": VAEGMM, "CCVAE": CCVAE, "CLSVAE": CLSVAE,
}
