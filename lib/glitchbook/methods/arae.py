"""The ARAE chapter's experiment: for each normal class (or one set of normal classes), split by
the protocol, train AE, DAE and ARAE with `training.fit`, score the test split by reconstruction
error, and run PyOD's k-NN on the same pixels. Defaults are the authors' (methods.md, section 2);
profiles shorten training and the attack's inner loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from glitchbook import datasets, intervals, metrics, novelty, papers
from glitchbook.checks import (
    check_choice,
    check_classes,
    check_fraction,
    check_normal_classes,
    check_positive,
)
from glitchbook.config import MethodConfig
from glitchbook.models.autoencoders import AE, AUTOENCODERS
from glitchbook.training import History, fit, seeded, tensor_dataset

MODEL_NAMES = tuple(AUTOENCODERS)
BASELINE = "KNN (PyOD)"
EPSILON = {"fashion-mnist": 0.05}  # the authors' L-infinity budget by family; 0.2 for MNIST


@dataclass(frozen=True)
class Config(MethodConfig):
    """One ARAE-chapter run. `normal_classes` empty = each class in turn is the normal class;
    otherwise one run with those classes normal (the paper's multi-class setting)."""

    method: ClassVar[str] = "arae"
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
    def presets(cls, dataset: str, options: dict[str, Any]) -> dict[str, dict]:
        epsilon = EPSILON.get(datasets.entry(dataset).family, 0.2)
        return {"smoke": dict(epochs=15, steps=2, max_images=1500, classes=(1, 8), batch_size=64,
                              epsilon=epsilon),
                # 400 images a class: a batch of 256 would give 2 steps an epoch
                "default": dict(batch_size=64, epsilon=epsilon, epochs=50),
                "paper": dict(epochs=500, steps=40, test_fraction=1 / 7, epsilon=epsilon)}

    def check(self, info: datasets.DatasetInfo) -> None:
        check_choice(self.protocol, novelty.PROTOCOLS, "protocol")
        check_fraction(self.anomaly_fraction, "anomaly_fraction")
        check_fraction(self.test_fraction, "test_fraction")
        check_positive(epochs=self.epochs, epsilon=self.epsilon, steps=self.steps)
        if self.normal_classes:
            check_normal_classes(self.normal_classes, info.n_classes, self.dataset)
        check_classes(self.classes, info.n_classes, self.dataset)


def from_parameters(dataset: str, profile: str = "default", seed: int = 0, *,
                    protocol: str | None = None, normal_classes: list[int] | None = None,
                    anomaly_fraction: float | None = None, epsilon: float | None = None,
                    epochs: int | None = None, steps: int | None = None) -> Config:
    """The config of a notebook run from its parameters (`normal_classes` None: each class in
    turn; None elsewhere: the profile's preset)."""
    return Config.for_run(dataset, profile, seed, protocol=protocol,
                          normal_classes=normal_classes, anomaly_fraction=anomaly_fraction,
                          epsilon=epsilon, epochs=epochs, steps=steps)


@dataclass(frozen=True)
class Prepared:
    """The dataset (subsampled when `max_images` is set) and the normal sets to run."""

    data: datasets.ImageDataset
    normal_sets: list[tuple[int, ...]]


def prepare(config: Config) -> Prepared:
    """Load the dataset (a seeded subsample of `max_images` when set) and list the normal sets:
    each class in turn, or the one given set."""
    data = datasets.load_sample(config.dataset, config.max_images,
                                np.random.default_rng(config.seed), seed=config.seed)
    if config.normal_classes:
        return Prepared(data, [check_normal_classes(config.normal_classes,
                                                    len(data.class_names), data.name)])
    classes = config.classes or tuple(np.unique(data.labels).tolist())
    return Prepared(data, [(c,) for c in classes])


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


@dataclass
class Results:
    """Every normal set of the run, trained and scored."""

    config: Config
    per_normal_set: list[ClassResult]

    @property
    def histories(self) -> list[History]:
        return [h for r in self.per_normal_set for h in r.histories.values()]

    @property
    def per_image(self) -> dict[str, np.ndarray]:
        """Per normal set, each model's score of each test image and which are novel."""
        found = {}
        for r in self.per_normal_set:
            key = "normal " + "-".join(map(str, r.normal))
            found[f"{key}/truth"] = r.split.test_is_novel
            found.update({f"{key}/{name}": s for name, s in r.scores.items()})
        return found


def run(config: Config, prepared: Prepared, *, device: str = "auto",
        progress: bool = True) -> Results:
    """Every normal set of `prepared` in turn (`run_normal_set`)."""
    return Results(config, [run_normal_set(config, prepared.data, normal, device=device,
                                           progress=progress)
                            for normal in prepared.normal_sets])


def run_normal_set(config: Config, data: datasets.ImageDataset, normal: tuple[int, ...], *,
                   device: str = "auto", progress: bool = True) -> ClassResult:
    """Train and score every model (and the PyOD baseline) for one normal set."""
    split = novelty.novelty_split(data, normal, protocol=config.protocol,
                                  anomaly_fraction=config.anomaly_fraction,
                                  test_fraction=config.test_fraction, seed=config.seed)
    models, histories, scores, validation = {}, {}, {}, {}
    x_test, x_val = torch.from_numpy(split.test), torch.from_numpy(split.validation)
    for i, name in enumerate(MODEL_NAMES):
        model = seeded(lambda name=name: build(name, config, data.shape), config.seed + i)
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


def summarise(results: Results) -> dict:
    """The record's metrics: per model, the AUROC of each normal set (`auroc_class_<c>`),
    their mean, and F1 likewise under protocol p1; ARAE's training time over DAE's."""
    table: dict[str, dict[str, float]] = {}
    for r in results.per_normal_set:
        key = "-".join(map(str, r.normal))
        for name, found in r.metrics.items():
            row = table.setdefault(name, {})
            row.update({f"{metric}_class_{key}": value for metric, value in found.items()})
    for row in table.values():
        for metric in ("auroc", "f1"):
            values = [v for k, v in row.items() if k.startswith(f"{metric}_class_")]
            if values:
                row[f"{metric}_mean"] = float(np.mean(values))
    protocol = results.per_normal_set[0].split.protocol if results.per_normal_set else ""
    return {"compared": table, "arae_dae_time_ratio": training_time_ratio(results),
            "protocol": protocol, "claims": judge(results)}


def judge(results: Results) -> dict[str, dict]:
    """The paper's claim (`papers/arae.yaml`): mean test AUROC over the normal sets, with the
    intervals of one paired bootstrap that resamples each normal set's test images within it
    (chance: 0.5)."""
    paper, sets = papers.load("arae"), results.per_normal_set
    truth = np.concatenate([r.split.test_is_novel for r in sets])
    groups = np.concatenate([np.full(len(r.split.test), i) for i, r in enumerate(sets)])
    auroc = intervals.undefined_as_nan(metrics.auroc)

    def mean_auroc(truth: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
        return float(np.mean([auroc(truth[groups == g], scores[groups == g])
                              for g in np.unique(groups)]))

    found = {}
    for claim in paper["claims"]:
        compared = [claim["claimed"], *claim["rivals"]]
        arrays = {name: (truth, np.concatenate([r.scores[name] for r in sets]), groups)
                  for name in compared if sets and name in sets[0].scores}
        found[claim["id"]] = {"": intervals.paired_claim(
            arrays, mean_auroc, claim["claimed"], claim["rivals"], better="higher", chance=0.5,
            seed=results.config.seed, groups=groups)}
    return found


def training_time_ratio(results: Results, numerator: str = "ARAE",
                     denominator: str = "DAE") -> float:
    """Training time of `numerator` over `denominator`, summed over the normal sets."""
    top = sum(r.histories[numerator].seconds for r in results.per_normal_set)
    bottom = sum(r.histories[denominator].seconds for r in results.per_normal_set)
    return top / bottom if bottom else float("nan")
