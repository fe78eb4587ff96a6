"""The VAE family of the CLSVAE paper (Eduardo et al., "Repairing Systematic Outliers by Learning
Clean Subspaces in VAEs", arXiv 2207.08050, sections 3-5): VAE, CVAE, VAE-GMM, CCVAE and CLSVAE,
each as the authors' code (`sfme/clsvae-error-repair`, `src/repair_syserr_models`) defines it.
CLSVAE itself is in `clean_subspace`.

All share the authors' MLP encoder (D -> 200 -> 100 -> 50) and decoder (latent -> 50 -> 100 ->
200 -> D), a 15-dimensional latent space and a per-pixel likelihood. Training batches are
`(x, y, labelled)`: images N x C x H x W, y = 1 for a clean image, and whether y is known (the
trusted set; every image for CVAE). Losses are means over the batch where the authors sum: the
same optimum, and with Adam the same steps, once batch-summed weight decay is divided by the
batch size (the chapter's configuration does).

Every model offers `outlier_scores(x, kind)` (higher = more suspicious), `cell_scores(x)`
(N x C x H x W per-pixel NLL) and `repair(x)` (N x C x H x W), all at the posterior means as the
authors evaluate. `clean` (each image's true flag) is what the authors' evaluation hands every
model; only CVAE uses it.
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
    kl_bernoulli,
    kl_normal,
    mlp,
    sample,
    warmup,
)

HIDDEN = (200, 100, 50)
LATENT_DIM = 15
EPS = 1e-8  # the authors' offset inside their logarithms


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

    def nll(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per image (N) of flat x under decoder output `out`."""
        return self.likelihood.cells(x, out).sum(1)

    # Subclasses define training_loss; they may override reconstruct (decoder output of the
    # path used for scoring) and repair_output (decoder output of the repair path).
    def reconstruct(self, x: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder output at the posterior mean of q(z|x)."""
        return self.decoder(self.encoder(self.flat(x))[0])

    def repair_output(self, x: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        return self.reconstruct(x, clean)

    def clean_probability(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no q(y|x)")

    @torch.no_grad()
    def cell_scores(self, x: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        """Per-pixel negative log-likelihood of x under its reconstruction, N x C x H x W."""
        cells = self.likelihood.cells(self.flat(x), self.reconstruct(x, clean))
        return cells.reshape(-1, *self.image_shape)

    @torch.no_grad()
    def outlier_scores(self, x: torch.Tensor, kind: str | None = None,
                       clean: torch.Tensor | None = None) -> torch.Tensor:
        """Row scores, higher = more suspicious: `nll` (sum of cell NLLs) or `q_y`
        (-log q(y=clean|x), for the semi-supervised models). Default: the model's first kind."""
        kind = kind or self.score_kinds[0]
        if kind not in self.score_kinds:
            raise ValueError(f"{type(self).__name__} scores {self.score_kinds}, not {kind!r}")
        if kind == "q_y":
            return -torch.log(self.clean_probability(x).clamp_min(1e-12))
        given = None if kind == "nll_as_clean" else clean
        return self.cell_scores(x, given).reshape(len(x), -1).sum(1)

    @torch.no_grad()
    def repair(self, x: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        """The model's clean version of each image, N x C x H x W, on the data's scale."""
        out = self.likelihood.mean(self.repair_output(x, clean))
        return out.reshape(-1, *self.image_shape)


class VAE(ImageVAE):
    """Plain VAE with a N(0, I) prior; the paper's baseline is regularised by weight decay
    (`VAE-L2`)."""

    def __init__(self, image_shape: Sequence[int], **kw):
        super().__init__(image_shape, **kw)
        self.encoder = GaussianEncoder(self.dim, self.hidden, self.latent_dim)

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x = self.flat(batch[0])
        mu, logvar = self.encoder(x)
        nll = self.nll(x, self.decoder(sample(mu, logvar)))
        return (nll + self.beta(epoch, epochs) * kl_normal(mu, logvar)).mean()


class CVAE(ImageVAE):
    """Conditional VAE on the clean/dirty flag y, given for every training image (the authors'
    fully supervised `full_y_CVAE` with q(z|x, y) and a N(0, prior_scale^2) prior). Evaluated as
    the authors do: scored with each image's true flag (so a dirty image is explained by the
    dirty decoder), repaired by decoding its code with y = clean. Score `nll_as_clean` is ours:
    every image scored as if clean."""

    score_kinds = ("nll", "nll_as_clean")

    def __init__(self, image_shape: Sequence[int], *, prior_scale: float = 1.0, **kw):
        super().__init__(image_shape, decoder_extra=1, **kw)
        self.encoder = GaussianEncoder(self.dim + 1, self.hidden, self.latent_dim)
        self.prior_logvar = 2 * math.log(prior_scale)

    def _code(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(torch.cat([x, y.reshape(-1, 1).to(x.dtype)], 1))

    def _decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, y.reshape(-1, 1).to(z.dtype)], 1))

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x, y = self.flat(batch[0]), batch[1]
        mu, logvar = self._code(x, y)
        nll = self.nll(x, self._decode(sample(mu, logvar), y))
        kl = kl_normal(mu, logvar, 0.0, self.prior_logvar)
        return (nll + self.beta(epoch, epochs) * kl).mean()

    def _flags(self, x: torch.Tensor, clean: torch.Tensor | None) -> torch.Tensor:
        return torch.ones(len(x), device=x.device) if clean is None else clean.to(x.device)

    def reconstruct(self, x: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        x, y = self.flat(x), self._flags(x, clean)
        return self._decode(self._code(x, y)[0], y)

    def repair_output(self, x: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        x, y = self.flat(x), self._flags(x, clean)
        return self._decode(self._code(x, y)[0], torch.ones_like(y))


class SemiSupervised(ImageVAE):
    """Common parts of the models that learn q(y|x) from the trusted set."""

    score_kinds = ("q_y", "nll")

    def __init__(self, image_shape: Sequence[int], *, supervision: float = 1.0,
                 clean_prior: float = 0.6, **kw):
        super().__init__(image_shape, **kw)
        self.supervision, self.clean_prior = supervision, clean_prior

    def label_term(self, logit: torch.Tensor, labelled: torch.Tensor) -> torch.Tensor:
        """The ELBO's term in y: KL(q(y|x) || p(y)) on unlabelled rows; on trusted rows
        -log q(y = clean | x) whatever the label, as the authors' loss writes it."""
        q_clean = torch.sigmoid(logit)
        return torch.where(labelled, -torch.log(q_clean + EPS),
                           kl_bernoulli(q_clean, self.clean_prior))

    def supervised_term(self, logit: torch.Tensor, y: torch.Tensor, labelled: torch.Tensor,
                        dirty_weight: float = 1.0) -> torch.Tensor:
        """`supervision` x the mean cross-entropy of q(y|x) over the batch's trusted rows, a
        dirty row's term weighted by `dirty_weight` (the authors' scaling by B / n_trusted)."""
        if not labelled.any():
            return logit.new_zeros(())
        q, t = torch.sigmoid(logit[labelled]), y[labelled].to(logit.dtype)
        ce = -(t * torch.log(q + EPS) + dirty_weight * (1 - t) * torch.log(1 - q + EPS))
        return self.supervision * ce.mean()


class VAEGMM(SemiSupervised):
    """VAE with a two-component Gaussian-mixture prior p(z|y) = N(0, clean_scale^2) for clean
    and N(0, dirty_scale^2) for dirty images (the authors' `semi_y_VAE_GMM`): q(y|x) from the
    image, q(z|x, y) from the image and y, each y-path decoded and weighted by q(y|x). Scoring
    and repair use the clean path z ~ q(z|x, y = 1)."""

    def __init__(self, image_shape: Sequence[int], *, clean_scale: float = 0.5,
                 dirty_scale: float = 5.0, **kw):
        super().__init__(image_shape, **kw)
        self.label_encoder = nn.Sequential(mlp([self.dim, *self.hidden]),
                                           nn.Linear(self.hidden[-1], 1))
        self.encoder = GaussianEncoder(self.dim + 1, self.hidden, self.latent_dim)
        self.logvars = (2 * math.log(dirty_scale), 2 * math.log(clean_scale))  # y = 0, 1

    def _code(self, x: torch.Tensor, y: float) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(torch.cat([x, x.new_full((len(x), 1), y)], 1))

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x, y, labelled = self.flat(batch[0]), batch[1].float(), batch[2].bool()
        logit = self.label_encoder(x).squeeze(1)
        weight = torch.where(labelled, y, torch.sigmoid(logit))  # of the clean path
        nll, kl_z = 0.0, 0.0
        for flag, share in ((1.0, weight), (0.0, 1 - weight)):
            mu, logvar = self._code(x, flag)
            nll = nll + share * self.nll(x, self.decoder(sample(mu, logvar)))
            kl_z = kl_z + share * kl_normal(mu, logvar, 0.0, self.logvars[int(flag)])
        elbo = nll + self.beta(epoch, epochs) * (kl_z + self.label_term(logit, labelled))
        return elbo.mean() + self.supervised_term(logit, y, labelled)

    def reconstruct(self, x: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self._code(self.flat(x), 1.0)[0])

    def clean_probability(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.label_encoder(self.flat(x)).squeeze(1))


class CCVAE(SemiSupervised):
    """Characteristic-capturing VAE (Joy et al., ICLR 2021) as the CLSVAE authors adapt it
    (`semi_y_CCVAE`): a latent_dim + 1 code whose first coordinate z_c alone predicts y (a
    scaled logit) and has a learnt conditional prior p(z_c|y); unlabelled rows sample y from
    q(y|z_c), trusted rows weight their ELBO by q(y|z_c) / q(y|x) and add `supervision` x
    log q(y|x) (estimated from 100 draws of z_c). Scoring and repair decode the code with z_c
    set to the clean prior's mean."""

    def __init__(self, image_shape: Sequence[int], *, latent_dim: int = LATENT_DIM, **kw):
        super().__init__(image_shape, latent_dim=latent_dim + 1, **kw)
        self.body = mlp([self.dim, *self.hidden])
        self.loc = nn.Linear(self.hidden[-1], self.latent_dim)
        self.scale = nn.Linear(self.hidden[-1], self.latent_dim)
        self.classifier_weight = nn.Parameter(torch.ones(1))
        self.classifier_bias = nn.Parameter(torch.zeros(1))
        self.prior_loc = nn.Parameter(torch.zeros(2))  # y = 0, 1
        self.prior_scale = nn.Parameter(torch.ones(2))

    def _posterior(self, x: torch.Tensor) -> torch.distributions.Normal:
        h = self.body(x)
        return torch.distributions.Normal(self.loc(h), F.softplus(self.scale(h)).clamp_min(1e-3))

    def _logit(self, z_c: torch.Tensor) -> torch.Tensor:
        return z_c * self.classifier_weight + self.classifier_bias

    def _kl(self, q: torch.distributions.Normal, y: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z_c|y) N(0, I)) per row."""
        loc = torch.zeros_like(q.loc)
        scale = torch.ones_like(q.scale)
        loc[:, 0] = y * self.prior_loc[1] + (1 - y) * self.prior_loc[0]
        scale[:, 0] = F.softplus(y * self.prior_scale[1]
                                 + (1 - y) * self.prior_scale[0]).clamp_min(1e-3)
        return torch.distributions.kl_divergence(q, torch.distributions.Normal(loc, scale)).sum(1)

    def _log_q_y(self, z_c: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(self._logit(z_c), y, reduction="none")

    def _log_prior(self, y: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.where(y > 0.5, self.clean_prior, 1 - self.clean_prior))

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        x, y, labelled = self.flat(batch[0]), batch[1].float(), batch[2].bool()
        q = self._posterior(x)
        z = q.rsample()
        log_px = -self.nll(x, self.decoder(z))
        # unlabelled rows: y drawn from q(y|z_c)
        drawn = torch.bernoulli(torch.sigmoid(self._logit(z[:, 0]))).detach()
        elbo = (log_px + self._log_prior(drawn) - self._kl(q, drawn)
                - self._log_q_y(z[:, 0], drawn))
        if labelled.any():  # trusted rows: weight q(y|z_c) / q(y|x), and the classifier term
            t = labelled
            q_t = torch.distributions.Normal(q.loc[t], q.scale[t])
            draws = q_t.rsample((100,))[..., 0]
            log_q_yx = (torch.logsumexp(self._log_q_y(draws, y[t].expand_as(draws)), 0)
                        - math.log(100))
            weight = torch.exp(self._log_q_y(z[t, 0].detach(), y[t]) - log_q_yx)
            trusted = (weight * (log_px[t] - self._kl(q_t, y[t]) - self._log_q_y(z[t, 0], y[t]))
                       + self._log_prior(y[t]) + self.supervision * log_q_yx)
            elbo = elbo.masked_scatter(t, trusted)
        return -elbo.mean()

    def _clean_code(self, x: torch.Tensor) -> torch.Tensor:
        z = self._posterior(self.flat(x)).loc.clone()
        z[:, 0] = self.prior_loc[1]
        return z

    def reconstruct(self, x: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self._clean_code(x))

    def clean_probability(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self._logit(self._posterior(self.flat(x)).loc[:, 0]))
