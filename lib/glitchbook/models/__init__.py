"""Torch models; each module names its paper. Training lives in `glitchbook.training.fit`."""

from glitchbook.models.autoencoders import AE, ARAE, AUTOENCODERS, DAE, latent_attack
from glitchbook.models.clean_subspace import CLSVAE
from glitchbook.models.vaes import CCVAE, CVAE, VAE, VAEGMM, ImageVAE

# The CLSVAE paper's five models, by the names its tables use.
MODELS: dict[str, type[ImageVAE]] = {
    "VAE": VAE, "CVAE": CVAE, "VAE-GMM": VAEGMM, "CCVAE": CCVAE, "CLSVAE": CLSVAE,
}

__all__ = ["AE", "ARAE", "AUTOENCODERS", "CCVAE", "CLSVAE", "CVAE", "DAE", "MODELS", "VAE",
           "VAEGMM", "ImageVAE", "latent_attack"]
