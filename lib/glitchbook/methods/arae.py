"""The ARAE chapter's experiment: for each normal class (or one set of normal classes), split by
the protocol, train AE, DAE and ARAE with `training.fit`, score the test split by reconstruction
error, and run PyOD's k-NN on the same pixels. Defaults are the authors' (methods.md, section 2);
profiles shorten training and the attack's inner loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from glitchbook import datasets, metrics, novelty
from glitchbook.config import check_profile, override
from glitchbook.corruption import check_fraction
from glitchbook.errors import ConfigError
from glitchbook.models.autoencoders import AE, AUTOENCODERS
from glitchbook.training import History, check_positive, fit, tensor_dataset

MODEL_NAMES = tuple(AUTOENCODERS)
BASELINE = "KNN (PyOD)"
EPSILON = {"fashion-mnist": 0.05}  # the authors' L-infinity budget; 0.2 for MNIST-like data


@dataclass(frozen=True)
class Config:
    """One ARAE-chapter run. `normal_classes` empty = each class in turn is the normal class;
    otherwise one run with those classes normal (the paper's multi-class setting)."""

    dataset: str = "mnist-5k"
    profile: str = "default"
    seed: int = 0
    protocol: str = "p2"
    normal_classes: tuple[int, ...] = ()
    anomaly_fraction: float = 0.5
    epsilon: float = 0.2
    steps: int = 5  # PGD steps of the attack (the authors: 40)
    gamma: float = 0.1
    noise: float = 0.2  # DAE's Gaussian input noise
    epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    test_fraction: float = 0.2
    max_images: int = 0  # 0 = all
    classes: tuple[int, ...] = ()  # which classes to run in turn (empty = all)
    union: bool = False  # the paper's union model (L2 + L-infinity + spatial attacks)

    @classmethod
    def for_run(cls, dataset: str, profile: str = "default", **overrides) -> Config:
        """The profile's preset for `dataset`, with overrides checked by name and type."""
        datasets.spec(dataset)
        check_profile(profile)
        preset = {
            "smoke": dict(epochs=15, steps=2, max_images=1500, classes=(1, 8), batch_size=64),
            "default": dict(batch_size=64),  # 400 images a class: 256 would give 2 steps an epoch
            "paper": dict(epochs=500, steps=40, test_fraction=1 / 7),
        }[profile]
        preset["epsilon"] = EPSILON.get(dataset, 0.2)
        config = override(cls(dataset=dataset, profile=profile, **preset), **overrides)
        if config.protocol not in novelty.PROTOCOLS:
            raise ConfigError(f"unknown protocol {config.protocol!r}; use p1 or p2")
        check_fraction(config.anomaly_fraction, "anomaly_fraction")
        check_positive(epochs=config.epochs)
        if config.epsilon <= 0 or config.steps < 1:
            raise ConfigError(f"epsilon must be positive and steps at least 1, got "
                              f"{config.epsilon}, {config.steps}")
        return config

    def as_dict(self) -> dict:
        return asdict(self)


def from_parameters(dataset: str, profile: str = "default", seed: int = 0,
                    normal_classes: str | list[int] = "each", **parameters) -> Config:
    """The config of a notebook run from its papermill parameters (`normal_classes` "each"
    or a list, `protocol`, `anomaly_fraction`, `epsilon`, `epochs`; None keeps the preset)."""
    chosen = () if normal_classes == "each" else tuple(normal_classes)
    return Config.for_run(dataset, profile, seed=seed, normal_classes=chosen, **parameters)


def load(config: Config) -> datasets.ImageDataset:
    """The dataset, subsampled to `max_images` (seeded) when set."""
    return datasets.subsample(datasets.load(config.dataset), config.max_images,
                              np.random.default_rng(config.seed))


def normal_sets(config: Config, data: datasets.ImageDataset) -> list[tuple[int, ...]]:
    """The normal-class sets to run: each class in turn, or the one given set."""
    if config.normal_classes:
        return [novelty.check_classes(data, config.normal_classes)]
    classes = config.classes or tuple(np.unique(data.labels).tolist())
    return [novelty.check_classes(data, (c,)) for c in classes]


def build(name: str, config: Config, shape) -> AE:
    """Model `name` with the run's settings."""
    if name == "DAE":
        return AUTOENCODERS[name](shape, noise=config.noise)
    if name == "ARAE":
        attacks = ("l2", "linf", "spatial") if config.union else ("linf",)
        return AUTOENCODERS[name](shape, epsilon=config.epsilon, steps=config.steps,
                                  gamma=config.gamma, attacks=attacks)
    return AUTOENCODERS[name](shape)


@dataclass
class ClassResult:
    """One normal set: its split, trained models, their histories, scores and metrics."""

    normal: tuple[int, ...]
    split: novelty.NoveltySplit
    models: dict[str, AE]
    histories: dict[str, History]
    scores: dict[str, np.ndarray]
    metrics: dict[str, dict[str, float]]


def run_normal_set(config: Config, data: datasets.ImageDataset, normal: tuple[int, ...], *,
                   device: str = "auto", progress: bool = True) -> ClassResult:
    """Train and score every model (and the PyOD baseline) for one normal set."""
    split = novelty.novelty_split(data, normal, protocol=config.protocol,
                                  anomaly_fraction=config.anomaly_fraction,
                                  test_fraction=config.test_fraction, seed=config.seed)
    models, histories, scores, validation = {}, {}, {}, {}
    x_test, x_val = torch.from_numpy(split.test), torch.from_numpy(split.validation)
    for i, name in enumerate(MODEL_NAMES):
        torch.manual_seed(config.seed + i)
        model = build(name, config, data.shape)
        label = f"{name} (normal {','.join(map(str, normal))})"
        histories[name] = fit(model, tensor_dataset(split.train), epochs=config.epochs,
                              batch_size=config.batch_size, lr=config.lr, device=device,
                              seed=config.seed + i, name=label, progress=progress)
        models[name] = model.cpu()
        scores[name] = model.outlier_scores(x_test).numpy()
        if len(x_val):
            validation[name] = model.outlier_scores(x_val).numpy()
    scores[BASELINE] = novelty.pixel_baseline(split.train, split.test)
    if len(x_val):
        validation[BASELINE] = novelty.pixel_baseline(split.train, split.validation)
    result = {}
    for name, s in scores.items():
        result[name] = {"auroc": metrics.auroc(split.test_is_novel, s)}
        if config.protocol == "p1":  # threshold from the validation split, as the authors
            result[name]["f1"] = metrics.f1_validated_threshold(
                split.validation_is_novel, validation[name], split.test_is_novel, s)
    return ClassResult(normal, split, models, histories, scores, result)


def summarise(results: list[ClassResult], protocol: str) -> dict[str, dict[str, float]]:
    """Per model: AUROC of each normal set (`auroc_class_<c>`), their mean, and F1 for p1."""
    table: dict[str, dict[str, float]] = {}
    for r in results:
        key = "-".join(map(str, r.normal))
        for name, m in r.metrics.items():
            row = table.setdefault(name, {})
            row[f"auroc_class_{key}"] = m["auroc"]
            if protocol == "p1":
                row[f"f1_class_{key}"] = m["f1"]
    for row in table.values():
        for metric in ("auroc", "f1"):
            values = [v for k, v in row.items() if k.startswith(f"{metric}_class_")]
            if values:
                row[f"{metric}_mean"] = float(np.mean(values))
    return table


def epoch_time_ratio(results: list[ClassResult], numerator: str = "ARAE",
                     denominator: str = "DAE") -> float:
    """Training time of `numerator` over `denominator`, summed over the normal sets."""
    top = sum(r.histories[numerator].seconds for r in results)
    bottom = sum(r.histories[denominator].seconds for r in results)
    return top / bottom if bottom else float("nan")
