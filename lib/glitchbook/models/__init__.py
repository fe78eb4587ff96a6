"""Torch models; each module names its paper. Training lives in `glitchbook.training.fit`."""

from glitchbook.models.vaes import CCVAE, CLSVAE, CVAE, MODELS, VAE, VAEGMM, ImageVAE

__all__ = ["CCVAE", "CLSVAE", "CVAE", "MODELS", "VAE", "VAEGMM", "ImageVAE"]
