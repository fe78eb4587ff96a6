"""Torch models; each module names its paper. Training lives in `glitchbook.training.fit`."""

from glitchbook.models.autoencoders import AE, ARAE, AUTOENCODERS, DAE, latent_attack
from glitchbook.models.vaes import CCVAE, CLSVAE, CVAE, MODELS, VAE, VAEGMM, ImageVAE

__all__ = ["AE", "ARAE", "AUTOENCODERS", "CCVAE", "CLSVAE", "CVAE", "DAE", "MODELS", "VAE",
           "VAEGMM", "ImageVAE", "latent_attack"]
