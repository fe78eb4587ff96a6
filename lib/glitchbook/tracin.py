"""TracIn over checkpoints: the influence matrices and self-influence the glitch signals
(`glitchbook.signals`) are computed from.

TracIn (Pruthi et al. 2020) scores how much training sample i helped test sample j as
    I_ij = sum_k lr_k * grad l(z_i; w_k) . grad l(z_j; w_k)
over the checkpoints w_k. The fast variant restricts the gradient to the final linear layer:
for cross-entropy its gradient is e h^T, with e = softmax(logits) - onehot(y) and h the layer's
input, so grad_i . grad_j = (e_i . e_j)(h_i . h_j) - the same quantity captum's TracInCPFast
computes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.fx.experimental.optimization import fuse

from glitchbook.errors import ChecksumError, ConfigError


@dataclass(frozen=True)
class CheckpointOutputs:
    """What fast TracIn needs from one checkpoint: its learning rate, and for the training and
    test samples the softmax probabilities (N x C) and the final layer's inputs (N x d)."""

    lr: float
    train_probs: np.ndarray
    train_features: np.ndarray
    test_probs: np.ndarray
    test_features: np.ndarray


def load_checkpoint(model: nn.Module, path: str | Path) -> float:
    """Load a `training.fit` checkpoint into `model` (on the CPU) and return its learning rate;
    the signature of captum's `checkpoints_load_func`."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a damaged file
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if found:  # weights_only=True refused an object: unpickling it could run code
            raise ChecksumError(f"checkpoint {path} holds a {found.group(1)} object, not only "
                                f"weights, so it is not loaded (weights_only=True: unpickling "
                                f"it could run code); re-create it with training.fit") from err
        raise ChecksumError(f"checkpoint {path} is not a readable torch file; delete it and "
                            f"train again") from err
    model.load_state_dict(saved["model"])
    return float(saved["lr"])


class _Features(nn.Module):
    """`model.features` as a module's forward, so torch.fx can trace and fuse it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)


def inference_features(model: nn.Module) -> nn.Module:
    """`model.features` for inference in eval mode: with batch norm folded into the convolution
    before it (torch.fx), which makes a ResNet's forward pass about a fifth faster on a CPU."""
    features = _Features(model.eval())
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        # a traced copy of the module tree; the fused convolutions are new modules, so `model`
        # itself is left as it was
        return fuse(torch.fx.symbolic_trace(features), inplace=True, no_trace=True)
    return features


@torch.inference_mode()
def checkpoint_outputs(model: nn.Module, checkpoints: Sequence[str | Path],
                       train_images: np.ndarray, test_images: np.ndarray, *,
                       batch_size: int = 128, device: str = "cpu") -> list[CheckpointOutputs]:
    """Load each checkpoint (`training.fit`'s files: weights and lr) into `model`, which must
    offer `features(x)` and a final linear layer `fc`, and collect its outputs. Only forward
    passes, with no autograd graph: small batches keep the activations in the CPU's cache."""
    outputs = []
    for path in checkpoints:
        lr = load_checkpoint(model, path)
        features = inference_features(model.to(device))
        train = _probs_and_features(features, model.fc, train_images, batch_size, device)
        test = _probs_and_features(features, model.fc, test_images, batch_size, device)
        outputs.append(CheckpointOutputs(lr, *train, *test))
    model.cpu()
    return outputs


@torch.inference_mode()
def predict(model: nn.Module, images: np.ndarray, *, batch_size: int = 128,
            device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """`model`'s softmax probabilities (N x C) and final-layer inputs (N x d), in eval mode."""
    features = inference_features(model.to(device))
    return _probs_and_features(features, model.fc, images, batch_size, device)


def _probs_and_features(features: nn.Module, fc: nn.Module, images: np.ndarray, batch_size: int,
                        device: str) -> tuple[np.ndarray, np.ndarray]:
    probs, feats = [], []
    for start in range(0, max(len(images), 1), batch_size):  # no images: one empty batch
        h = features(torch.from_numpy(images[start:start + batch_size]).to(device))
        probs.append(torch.softmax(fc(h), 1).cpu().numpy())
        feats.append(h.cpu().numpy())
    return np.concatenate(probs), np.concatenate(feats)


def _errors(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """dLoss/dlogits of cross-entropy: softmax minus the one-hot label, N x C."""
    e = probs.astype(np.float64).copy()
    e[np.arange(len(labels)), labels] -= 1.0
    return e


def influence_matrix(outputs: Sequence[CheckpointOutputs], train_labels: np.ndarray,
                     test_labels: np.ndarray, *, chunk: int = 2048) -> np.ndarray:
    """TracIn influence of each training sample on each test sample, n x m:
    I_ij = sum_k lr_k (e_i . e_j)(h_i . h_j), computed `chunk` training rows at a time."""
    if not outputs:
        raise ConfigError("TracIn needs at least one checkpoint")
    n, m = len(train_labels), len(test_labels)
    result = np.zeros((n, m))
    for out in outputs:
        e_test, h_test = _errors(out.test_probs, test_labels), out.test_features.astype(np.float64)
        e_train = _errors(out.train_probs, train_labels)
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            result[rows] += out.lr * (e_train[rows] @ e_test.T) * (
                out.train_features[rows].astype(np.float64) @ h_test.T)
    return result


def self_influence(outputs: Sequence[CheckpointOutputs], train_labels: np.ndarray) -> np.ndarray:
    """SI(i) = I_ii = sum_k lr_k ||e_i||^2 ||h_i||^2: how much a sample pulls the model towards
    itself; mislabelled and odd samples stay hard, so their gradients stay large."""
    total = np.zeros(len(train_labels))
    for out in outputs:
        e = _errors(out.train_probs, train_labels)
        h = out.train_features.astype(np.float64)
        total += out.lr * (e**2).sum(1) * (h**2).sum(1)
    return total


TUNED_LAYERS = ("layer3.2", "fc")  # the authors' TracIn layers for ResNet-20 ("2layer_tune")


def layer_parameters(model: nn.Module, layers: Sequence[str] = TUNED_LAYERS) -> list[str]:
    """Names of every trainable parameter inside the named layers (weights, biases, batch-norm
    scales), as captum's TracInCP takes a layer's parameters."""
    names = [n for n, p in model.named_parameters() if p.requires_grad
             and any(n == layer or n.startswith(layer + ".") for layer in layers)]
    if not names:
        raise ConfigError(f"no parameters in layer(s) {list(layers)} of {type(model).__name__}")
    return names


def per_sample_gradients(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                         params: Sequence[str]) -> torch.Tensor:
    """Flattened gradients of each sample's cross-entropy w.r.t. the named parameters, N x P
    (torch.func: one vectorised backward pass a batch)."""
    from torch.func import functional_call, grad, vmap

    named = dict(model.named_parameters())
    unknown = sorted(set(params) - set(named))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown}; e.g. {', '.join(list(named)[-4:])}")
    chosen = {name: named[name].detach() for name in params}
    frozen = {k: v.detach() for k, v in model.state_dict().items() if k not in chosen}

    def loss(weights, x, y):
        logits = functional_call(model, {**frozen, **weights}, (x[None],))
        return torch.nn.functional.cross_entropy(logits, y[None])

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(chosen, images, labels)
    return torch.cat([grads[name].reshape(len(images), -1) for name in params], 1)


def _gradient_batches(model: nn.Module, images: np.ndarray, labels: np.ndarray,
                      params: Sequence[str], batch_size: int, device: str):
    """(rows, N x P float64 gradients) for `batch_size` samples at a time, at the loaded weights."""
    for start in range(0, len(labels), batch_size):
        rows = slice(start, start + batch_size)
        x = torch.from_numpy(images[rows]).to(device)
        y = torch.from_numpy(np.asarray(labels[rows])).to(device)
        yield rows, per_sample_gradients(model, x, y, params).double()


def influence_matrix_full(model: nn.Module, checkpoints: Sequence[str | Path],
                          train_images: np.ndarray, train_labels: np.ndarray,
                          test_images: np.ndarray, test_labels: np.ndarray, *,
                          params: Sequence[str] | None = None, batch_size: int = 256,
                          device: str = "cpu") -> np.ndarray:
    """TracIn with the full gradients of the named parameters (default: every parameter of
    TUNED_LAYERS): I_ij = sum_k lr_k g_i(w_k) .
    g_j(w_k), n x m. A checkpoint's test gradients are held in memory (m x P); training
    gradients are streamed `batch_size` at a time."""
    result = np.zeros((len(train_labels), len(test_labels)))
    params = params or layer_parameters(model)
    for path in checkpoints:
        lr = load_checkpoint(model, path)
        model.to(device).eval()
        test = torch.cat([g for _, g in _gradient_batches(model, test_images, test_labels, params,
                                                          batch_size, device)])
        for rows, g in _gradient_batches(model, train_images, train_labels, params, batch_size,
                                         device):
            result[rows] += lr * (g @ test.T).cpu().numpy()
    model.cpu()
    return result


def self_influence_full(model: nn.Module, checkpoints: Sequence[str | Path],
                        train_images: np.ndarray, train_labels: np.ndarray, *,
                        params: Sequence[str] | None = None, batch_size: int = 256,
                        device: str = "cpu") -> np.ndarray:
    """SI(i) = sum_k lr_k ||g_i(w_k)||^2 with the full gradients of the named parameters
    (default: every parameter of TUNED_LAYERS)."""
    total = np.zeros(len(train_labels))
    params = params or layer_parameters(model)
    for path in checkpoints:
        lr = load_checkpoint(model, path)
        model.to(device).eval()
        for rows, g in _gradient_batches(model, train_images, train_labels, params, batch_size,
                                         device):
            total[rows] += lr * (g**2).sum(1).cpu().numpy()
    model.cpu()
    return total


class TracIn(Protocol):
    """What the signals ask of TracIn: the training x held-out influence matrix for given
    training labels (over every checkpoint, or the last one only) and self-influence."""

    def matrix(self, train_labels: np.ndarray, *, last_only: bool = False) -> np.ndarray: ...

    def self_influence(self, train_labels: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class FastTracIn:
    """Last-layer TracIn from `checkpoint_outputs`: the default, one forward pass a checkpoint."""

    outputs: Sequence[CheckpointOutputs]
    test_labels: np.ndarray

    def matrix(self, train_labels: np.ndarray, *, last_only: bool = False) -> np.ndarray:
        outputs = self.outputs[-1:] if last_only else self.outputs
        return influence_matrix(outputs, train_labels, self.test_labels)

    def self_influence(self, train_labels: np.ndarray) -> np.ndarray:
        return self_influence(self.outputs, train_labels)


@dataclass(frozen=True)
class FullTracIn:
    """TracIn with per-sample gradients of the named parameters (default: every parameter of
    the authors' layers, `layer3.2` and `fc`) at every checkpoint: slower (a backward pass a
    sample), the authors' setting for ResNet-20 (`fast_cp: false`)."""

    model: nn.Module
    checkpoints: Sequence[str | Path]
    train_images: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    params: Sequence[str] | None = None
    device: str = "cpu"

    def matrix(self, train_labels: np.ndarray, *, last_only: bool = False) -> np.ndarray:
        checkpoints = self.checkpoints[-1:] if last_only else self.checkpoints
        return influence_matrix_full(self.model, checkpoints, self.train_images, train_labels,
                                     self.test_images, self.test_labels, params=self.params,
                                     device=self.device)

    def self_influence(self, train_labels: np.ndarray) -> np.ndarray:
        return self_influence_full(self.model, self.checkpoints, self.train_images, train_labels,
                                   params=self.params, device=self.device)
