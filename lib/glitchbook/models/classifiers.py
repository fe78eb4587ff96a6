"""Image classifiers for the influence part: ResNet-20 (He et al., "Deep Residual Learning for
Image Recognition", CVPR 2016, section 4.2), the main model of "Data Glitches Discovery using
Influence-based Model Explanation". Layer names follow the common CIFAR implementation
(`layer1`..`layer3`, `fc`), so the authors' "train layer3.2 and fc" split can be named.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from glitchbook.errors import ConfigError


class _Classifier(nn.Module):
    """Shared head: `features(x)` (N x d, the final layer's input) then the linear `fc`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        return F.cross_entropy(self(batch[0]), batch[1])


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet20(_Classifier):
    """ResNet-20: a 16-channel stem, three stages of three blocks (16, 32, 64 channels), global
    average pooling and a linear layer. Works on 1- or 3-channel images of any size >= 8."""

    def __init__(self, in_channels: int = 1, n_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, 16, 1)
        self.layer2 = self._stage(16, 32, 2)
        self.layer3 = self._stage(32, 64, 2)
        self.fc = nn.Linear(64, n_classes)

    @staticmethod
    def _stage(in_channels: int, channels: int, stride: int) -> nn.Sequential:
        return nn.Sequential(BasicBlock(in_channels, channels, stride),
                             BasicBlock(channels, channels), BasicBlock(channels, channels))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 64-dimensional input of the final linear layer, N x 64."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


class SmallViT(_Classifier):
    """A small Vision Transformer (Dosovitskiy et al., ICLR 2021): non-overlapping patches,
    a class token, `depth` pre-norm encoder layers; the class token's output feeds `fc`. The
    paper fine-tunes an ImageNet ViT-B/16; this is the offline, from-scratch stand-in."""

    def __init__(self, in_channels: int = 1, n_classes: int = 10, *, image_size: int = 28,
                 patch: int = 4, dim: int = 64, depth: int = 4, heads: int = 4):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image size {image_size} is not a multiple of the patch {patch}")
        self.embed = nn.Conv2d(in_channels, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.position = nn.Parameter(torch.randn(1, (image_size // patch) ** 2 + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], 1) + self.position
        return self.norm(self.encoder(tokens)[:, 0])


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 convolution, layer norm, and an inverted-bottleneck MLP, with a residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.depthwise = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(x).permute(0, 2, 3, 1)
        return x + self.mlp(self.norm(y)).permute(0, 3, 1, 2)


class SmallConvNeXt(_Classifier):
    """A small ConvNeXt (Liu et al., CVPR 2022): a 2x2 patch stem and two stages of ConvNeXt
    blocks; the paper fine-tunes an ImageNet ConvNeXt-T, this is the from-scratch stand-in."""

    def __init__(self, in_channels: int = 1, n_classes: int = 10, *, dims=(32, 64),
                 depths=(2, 2)):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, dims[0], 2, 2)]
        for i, (dim, depth) in enumerate(zip(dims, depths, strict=True)):
            if i:
                layers.append(nn.Conv2d(dims[i - 1], dim, 2, 2))
            layers += [ConvNeXtBlock(dim) for _ in range(depth)]
        self.body = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dims[-1])
        self.fc = nn.Linear(dims[-1], n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.body(x).mean((2, 3)))


CLASSIFIERS: dict[str, type[nn.Module]] = {"resnet20": ResNet20, "vit": SmallViT,
                                           "convnext": SmallConvNeXt}


class BinaryCNN(nn.Module):
    """GASTeN's model under test: a 3x3 convolution with `nf` filters, 2x2 max-pooling, a 3x3
    convolution with 2 nf filters, max-pooling, and a linear layer to P(positive class). As in
    the authors' code there is no nonlinearity between the convolutions. `features(x)` is the
    flattened pooled map (7 x 7 x 2 nf for 28 x 28 images), the embedding of the patterns."""

    def __init__(self, nf: int, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        if not isinstance(nf, int) or isinstance(nf, bool) or nf < 1:
            raise ConfigError(f"nf (the classifier's width) must be a positive integer, got {nf!r}")
        self.nf = nf
        self.body = nn.Sequential(nn.Conv2d(in_channels, nf, 3, padding=1), nn.MaxPool2d(2),
                                  nn.Conv2d(nf, 2 * nf, 3, padding=1), nn.MaxPool2d(2),
                                  nn.Flatten())
        self.fc = nn.Linear(2 * nf * (image_size // 4) ** 2, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(self.features(x))).squeeze(1)

    def training_loss(self, batch, *, epoch: int, epochs: int) -> torch.Tensor:
        return F.binary_cross_entropy(self(batch[0]), batch[1].float())
