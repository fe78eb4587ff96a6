"""Building blocks shared by the models: MLPs, Gaussian heads, likelihoods, KL terms, schedules."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

LOGVAR_RANGE = (-30.0, 20.0)
LOGVAR_X = (-10.0, 3.0)  # the authors' clamp of the decoder's log-variance
BERNOULLI_EPS = 1e-8  # the authors' offset when they turn probabilities back into logits


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU,
        last_activation: bool = True) -> nn.Sequential:
    """Linear layers of the given sizes with `activation` between (and after, if asked)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class GaussianEncoder(nn.Module):
    """x (N x D) -> mean and log-variance (N x latent) of a diagonal Gaussian q(z|x).

    The log-variance is clipped to LOGVAR_RANGE: a code the loss barely constrains (CLSVAE's
    dirty code on clean images) can otherwise drift until exp(logvar) overflows float32."""

    def __init__(self, in_dim: int, hidden: Sequence[int], latent_dim: int):
        super().__init__()
        self.body = mlp([in_dim, *hidden])
        self.mu = nn.Linear(hidden[-1], latent_dim)
        self.logvar = nn.Linear(hidden[-1], latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h).clamp(*LOGVAR_RANGE)


def sample(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Reparameterised draw from N(mu, exp(logvar))."""
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor, prior_mu: torch.Tensor | float = 0.0,
              prior_logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    """KL(N(mu, e^logvar) || N(prior_mu, e^prior_logvar)) summed over the last axis."""
    prior_mu = torch.as_tensor(prior_mu, dtype=mu.dtype, device=mu.device)
    prior_logvar = torch.as_tensor(prior_logvar, dtype=mu.dtype, device=mu.device)
    kl = prior_logvar - logvar + (logvar.exp() + (mu - prior_mu) ** 2) / prior_logvar.exp() - 1
    return 0.5 * kl.sum(-1)


def kl_bernoulli(prob: torch.Tensor, prior: float) -> torch.Tensor:
    """KL(Bernoulli(prob) || Bernoulli(prior)), elementwise."""
    p = prob.clamp(1e-6, 1 - 1e-6)
    return p * (p / prior).log() + (1 - p) * ((1 - p) / (1 - prior)).log()


class Likelihood(nn.Module):
    """Per-pixel negative log-likelihood, as the CLSVAE authors' decoders: Gaussian with one
    learned log-variance shared by every pixel (clamped to LOGVAR_X, for standardised data), or
    Bernoulli on logits for binary images."""

    def __init__(self, dim: int, kind: str = "gaussian"):
        super().__init__()
        if kind not in ("gaussian", "bernoulli"):
            raise ValueError(f"unknown likelihood {kind!r}")
        self.kind = kind
        self.logvar = nn.Parameter(torch.zeros(1)) if kind == "gaussian" else None

    def cells(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """N x D negative log-likelihood of x under the decoder output `out` (constants dropped)."""
        if self.logvar is None:  # the authors' decoder gives sigmoid(out), their NLL takes
            p = torch.sigmoid(out)  # its logit back with an offset: confident pixels saturate
            logit = torch.log(p + BERNOULLI_EPS) - torch.log(1 - p + BERNOULLI_EPS)
            return F.binary_cross_entropy_with_logits(logit, x, reduction="none")
        logvar = self.logvar.clamp(*LOGVAR_X)
        return 0.5 * logvar + (x - out) ** 2 / (2 * logvar.exp())

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """The image the decoder output stands for: probabilities for binary images, else the
        output itself (on the scale of the data the model was trained on)."""
        return torch.sigmoid(out) if self.logvar is None else out


def warmup(epoch: int, epochs: int, delay: float, ratio: float) -> float:
    """Linear warm-up weight in [0, 1]: 0 for the first `delay` share of epochs, then rising
    to 1 over `ratio` of the remaining epochs (the authors' KL and regulariser schedules)."""
    start = round(delay * epochs)
    if epochs <= start + 1:
        return 1.0
    span = max(1.0, ratio * (epochs - start))
    return float(min(1.0, max(0.0, (epoch - start - 1) / span)))


def distance_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sample distance correlation between the rows of a (N x p) and b (N x q), in [0, 1]."""

    def centred(x: torch.Tensor) -> torch.Tensor:
        d = torch.sqrt(((x[:, None] - x[None]) ** 2).sum(-1) + 1e-9)
        return d - d.mean(0, keepdim=True) - d.mean(1, keepdim=True) + d.mean()

    A, B = centred(a), centred(b)
    dcov = (A * B).mean().clamp_min(0)
    # every square root gets an offset: a code that collapses to a constant has dVar = 0, where
    # the root's gradient is infinite (and 0 x inf = NaN)
    dvar = torch.sqrt((A * A).mean() * (B * B).mean() + 1e-12)
    return torch.sqrt(dcov / (dvar + 1e-9) + 1e-12)
