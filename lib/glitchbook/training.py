"""The one training loop every model uses, and the one place device and seed are resolved.

Randomness has one rule. A run's seed gives numpy streams (`independent_rngs`, one per step that
draws, or `np.random.default_rng(seed)` where a chapter draws its steps from one stream in turn)
and, for each model the run trains, one number: the run's seed plus the model's fixed offset in
the run. That number seeds the model's initial weights (`seeded`) and its training (`fit`'s
`seed`: batch order, sampling), so a model trains the same whichever others train beside it."""

from __future__ import annotations

import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, TensorDataset
from tqdm import tqdm

from glitchbook.checks import check_choice, check_device, check_positive
from glitchbook.errors import ConfigError, NonFiniteLossError


class Trainable(Protocol):
    """A module that knows its own loss: a scalar to minimise for one batch."""

    def training_loss(self, batch: tuple[torch.Tensor, ...], *, epoch: int,
                      epochs: int) -> torch.Tensor: ...


@dataclass
class History:
    """What one training run did: mean loss per epoch, time, throughput, checkpoints."""

    name: str
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    samples_per_second: float = 0.0
    device: str = "cpu"
    checkpoints: list[Path] = field(default_factory=list)
    curves: dict[str, list[float]] = field(default_factory=dict)  # every named loss per epoch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto` is CUDA when available, else CPU; `cuda` without a GPU is an error."""
    name = check_device(str(device))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is visible; "
                          "use 'auto' or 'cpu'")
    return torch.device(name)


def device_name(device: str | torch.device = "auto") -> str:
    """The resolved device as a person reads it, for records: `cpu` or `cuda (<GPU name>)`."""
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(resolved)})"
    return "cpu"


def progress_interval() -> float:
    """Seconds between progress-bar updates: frequent on a terminal; rare where the output is
    stored (a notebook executed by papermill keeps every update). $TQDM_MININTERVAL wins."""
    default = 0.5 if sys.stderr.isatty() else 10.0
    return float(os.environ.get("TQDM_MININTERVAL", default))


M = TypeVar("M")


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU generator for data order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def seeded(build: Callable[[], M], seed: int) -> M:
    """What `build` makes (a model) with torch's generator set to `seed` first: its initial
    weights come from the seed, whatever was drawn before."""
    torch.manual_seed(seed)
    return build()


def independent_rngs(seed: int, count: int) -> list[np.random.Generator]:
    """`count` independent random streams from one seed (numpy's `SeedSequence.spawn`): draws
    made from one seed for different purposes (a corruption, a split) must not be correlated."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]


def tensor_dataset(*arrays: np.ndarray) -> TensorDataset:
    """A TensorDataset of float32 / int64 / bool tensors from numpy arrays."""
    return TensorDataset(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays))


@torch.no_grad()
def in_batches(function: Callable[[torch.Tensor], torch.Tensor],
               images: np.ndarray | torch.Tensor, *, device: str | torch.device = "auto",
               batch_size: int = 1024) -> np.ndarray:
    """`function` (a module, or a method of one: `model.embed`) over `images` on `device`, in
    eval mode, `batch_size` at a time, as one numpy array; the module stays where it was."""
    module = getattr(function, "__self__", function)
    target = resolve_device(device)
    home = next(module.parameters()).device
    was_training = module.training
    module.to(target).eval()
    try:
        batches = torch.as_tensor(images).split(batch_size)
        return torch.cat([function(b.to(target)).cpu() for b in batches]).numpy()
    finally:
        module.to(home).train(was_training)


def to_device(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move `module` to `device` with its convolution weights channels-last (NHWC): the same
    arithmetic, laid out so oneDNN's (and cuDNN's) kernels run it faster (10 to 40 % a training
    step on a CPU for the book's convolutional models, measured); modules without 4-D weights
    are only moved."""
    return module.to(device, memory_format=torch.channels_last)


def fit(model: torch.nn.Module, data: Dataset, *, epochs: int, batch_size: int = 128,
        lr: float = 1e-3, weight_decay: float = 0.0, device: str | torch.device = "auto",
        seed: int = 0, name: str | None = None, checkpoint_dir: str | Path | None = None,
        optimizer: str = "adam", momentum: float = 0.0, precise_bn: bool = False,
        progress: bool = True) -> History:
    """Train `model` (a `Trainable`) on `data` in place and return its History.

    Args:
        data: a Dataset whose items are tuples of tensors; batches go to `training_loss`.
        checkpoint_dir: if given, `checkpoint-<epoch>.pt` is saved after every epoch with the
            weights, the epoch and the learning rate (what TracIn needs).
        optimizer: `adam` or `sgd` (stochastic gradient descent, plain unless `momentum` > 0).
        precise_bn: recompute BatchNorm's running statistics over `data`
            (`recompute_batchnorm`) before each checkpoint is saved, and at the end, so that each
            checkpoint and the trained model evaluate as their weights do.
    Raises:
        NonFiniteLossError: a NaN or infinite loss, naming the model, epoch and batch.
    """
    check_positive(epochs=epochs, batch_size=batch_size, lr=lr)
    target = resolve_device(device)
    to_device(model, target).train()
    params = [p for p in model.parameters() if p.requires_grad]
    # fused: the whole update in one kernel (a quarter to a third of a small model's step on
    # the CPU went to the per-tensor updates of `foreach`)
    if check_choice(optimizer, ("adam", "sgd"), "optimizer") == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay,
                                                      fused=True)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                              fused=True)
    folder = Path(checkpoint_dir) if checkpoint_dir else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)

    def step(batch: tuple[torch.Tensor, ...], epoch: int) -> dict[str, torch.Tensor]:
        loss = model.training_loss(batch, epoch=epoch, epochs=epochs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss}

    def end_of_epoch(epoch: int, history: History) -> None:
        if precise_bn and (folder or epoch == epochs):  # the statistics no one reads: skipped
            recompute_batchnorm(model, data, batch_size=batch_size, device=target)
        if folder:
            path = folder / f"checkpoint-{epoch}.pt"
            torch.save({"model": model.state_dict(), "epoch": epoch, "lr": lr}, path)
            history.checkpoints.append(path)

    history = run_epochs(step, data, epochs=epochs, batch_size=batch_size, device=target,
                         seed=seed, name=name or type(model).__name__, progress=progress,
                         end_of_epoch=end_of_epoch, hint=f"try a lower learning rate (now {lr})")
    model.eval()
    return history


def recompute_batchnorm(model: torch.nn.Module, data: Dataset, *, batch_size: int = 256,
                        device: str | torch.device = "cpu") -> None:
    """Set every BatchNorm layer's running mean and variance to their averages over `data`
    (its first tensor, the model's input) under the current weights ("precise BN"). The running
    averages kept during training lag the weights; when the weights move fast, a model in
    eval mode can then score far below what it does with these statistics."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return
    was_training, momenta = model.training, [m.momentum for m in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for batch in DataLoader(data, batch_size=batch_size):
            model(batch[0].to(device))
    for layer, m in zip(layers, momenta, strict=True):
        layer.momentum = m
    model.train(was_training)


def shuffled_batches(data: Dataset, batch_size: int,
                     generator: torch.Generator) -> DataLoader:
    """Batches in a seeded random order each epoch. A TensorDataset is indexed once a batch
    rather than once an item, which is several times faster to draw."""
    if isinstance(data, TensorDataset):
        sampler = BatchSampler(RandomSampler(data, generator=generator), batch_size, False)
        return DataLoader(data, sampler=sampler, batch_size=None)
    return DataLoader(data, batch_size=batch_size, shuffle=True, generator=generator)


def run_epochs(step: Callable[[tuple[torch.Tensor, ...], int], dict[str, torch.Tensor]],
               data: Dataset, *, epochs: int, batch_size: int, device: torch.device, seed: int,
               name: str, progress: bool = True,
               end_of_epoch: Callable[[int, History], None] | None = None,
               hint: str = "") -> History:
    """The loop `fit` and `gan.fit_gan` share: seeded shuffled batches on `device`, `step`
    (which updates the weights and returns its named losses) for each batch, a progress bar,
    the NaN guard, and the per-epoch mean of each loss in `History.curves` (the first one is
    also `History.losses`)."""
    generator = seed_everything(seed)
    loader = shuffled_batches(data, batch_size, generator)
    history = History(name=name, device=str(device))
    start, seen = time.perf_counter(), 0
    bar = tqdm(range(1, epochs + 1), desc=name, unit="epoch", disable=not progress,
               mininterval=progress_interval())
    for epoch in bar:
        totals: dict[str, float] = {}
        count = 0
        for index, batch in enumerate(loader):
            batch = tuple(t.to(device, non_blocking=True) for t in batch)
            for key, loss in step(batch, epoch).items():
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise NonFiniteLossError(f"{name}: {key} became {value} at epoch {epoch}, "
                                             f"batch {index}; {hint or 'check the input'}")
                totals[key] = totals.get(key, 0.0) + value * len(batch[0])
            count += len(batch[0])
        seen += count
        for key, total in totals.items():
            history.curves.setdefault(key, []).append(total / max(count, 1))
        history.losses.append(next(iter(history.curves.values()))[-1])
        bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.curves.items()})
        if end_of_epoch:
            end_of_epoch(epoch, history)
    history.seconds = time.perf_counter() - start
    history.samples_per_second = seen / history.seconds if history.seconds else 0.0
    return history
