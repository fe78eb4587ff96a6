"""The influence chapter's experiment: inject one kind of glitch into a training split, train
ResNet-20 with `training.fit` (a checkpoint each epoch), compute every TracIn signal on a held-out
split, and flag the top-k samples (k = the true number of glitches). cleanlab is the
non-influence baseline, on out-of-sample probabilities from a cross-validation of the same
model. Settings are the authors' (SGD, batch 128; for ResNet-20 lr 0.01 and 7 epochs) except
momentum 0.9, which training from scratch needs (see `Config.momentum`), and BatchNorm statistics
recomputed at every checkpoint (`training.recompute_batchnorm`); anomalies are appended,
one class of the paper's partner dataset when available offline, else of generated shapes.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from glitchbook import datasets, intervals, metrics, papers, signals, tracin
from glitchbook.checks import (
    check_choice,
    check_choices,
    check_fraction,
    check_positive,
    check_range,
)
from glitchbook.config import MethodConfig
from glitchbook.corruption import GLITCH_KINDS, Glitches, inject_glitches
from glitchbook.errors import ConfigError
from glitchbook.models.classifiers import CLASSIFIERS
from glitchbook.training import History, fit, seeded, tensor_dataset

CLEANLAB = "cleanlab"  # its label-quality ranking, top-k flagged like the signals
CLEANLAB_OWN = "cleanlab, own k"  # find_label_issues: confident learning picks how many to flag
CLEANLAB_IN_SAMPLE = "cleanlab, in-sample"  # the ranking on the influence model's own outputs
CLEANLAB_NAMES = (CLEANLAB, CLEANLAB_OWN, CLEANLAB_IN_SAMPLE)
# The authors' training table (learning rate, epochs) for MNIST; they fine-tune pretrained
# models, ours learn from scratch.
MODEL_SETTINGS = {"resnet20": (0.01, 7), "vit": (0.1, 2), "convnext": (0.05, 2)}
GRADIENTS = ("fast", "full")
OOD_SOURCE = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}  # the authors' pairs


@dataclass(frozen=True)
class Config(MethodConfig):
    """One influence-chapter run: one dataset, each glitch type of `glitches` in turn."""

    method: ClassVar[str] = "influence"
    model: str = "resnet20"
    glitches: tuple[str, ...] = GLITCH_KINDS
    rate: float = 0.1
    noisy_classes: int = 1  # class-based noise: classes contaminated (the authors' 1; 10 = all)
    epochs: int = 7
    batch_size: int = 128
    lr: float = 0.01
    # The authors use plain SGD on a pretrained model. From scratch, plain SGD leaves the held-out
    # accuracy swinging from one checkpoint to the next under label noise; 0 gives theirs.
    momentum: float = 0.9
    test_fraction: float = 0.2  # of a random split; a dataset with an official split keeps it
    max_images: int = 0  # 0 = all
    # cross-validation folds for cleanlab's out-of-sample probabilities; 0: in-sample, the
    # probabilities of the model the signals use (no model more to train)
    cleanlab_folds: int = 2
    gradients: str = "fast"  # fast: last layer (checkpoint outputs); full: layer3.2 and fc

    @classmethod
    def presets(cls, dataset: str, options: dict[str, Any]) -> dict[str, dict]:
        """Learning rate and epochs follow the model (`MODEL_SETTINGS`), but for smoke runs."""
        model = check_choice(options.get("model", cls.model), tuple(CLASSIFIERS), "model")
        lr, epochs = MODEL_SETTINGS[model]
        return {"smoke": dict(epochs=3, max_images=800, lr=0.05),
                "default": dict(lr=lr, epochs=epochs, max_images=2000, cleanlab_folds=0),
                "paper": dict(lr=lr, epochs=epochs, max_images=7000, cleanlab_folds=5)}

    def check(self, info: datasets.DatasetInfo) -> None:
        check_fraction(self.rate, "glitch rate")
        check_positive(epochs=self.epochs)
        check_choice(self.gradients, GRADIENTS, "gradients")
        if self.gradients == "full" and self.model != "resnet20":
            raise ConfigError("full gradients name ResNet-20's layers; use gradients='fast' for "
                              f"{self.model}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must lie in [0, 1), got {self.momentum}")
        check_range(self.noisy_classes, 1, info.n_classes, "noisy_classes")
        if self.cleanlab_folds:
            check_range(self.cleanlab_folds, 2, info.smallest_class, "cleanlab_folds")
        check_choices(self.glitches, GLITCH_KINDS, "glitch type")


def from_parameters(dataset: str, profile: str = "default", seed: int = 0, *,
                    model: str | None = None, glitch: str | None = None,
                    rate: float | None = None, gradients: str | None = None,
                    epochs: int | None = None, cleanlab_folds: int | None = None) -> Config:
    """The config of a notebook run from its parameters (`glitch` one kind, None: each in turn;
    None elsewhere: the profile's preset)."""
    return Config.for_run(dataset, profile, seed, model=model,
                          glitches=None if glitch is None else (glitch,), rate=rate,
                          gradients=gradients, epochs=epochs, cleanlab_folds=cleanlab_folds)


@dataclass(frozen=True)
class Prepared:
    data: datasets.ImageDataset
    train: np.ndarray
    test: np.ndarray
    ood: np.ndarray


def prepare(config: Config) -> Prepared:
    """Load and split the data (seeded), and pick the out-of-distribution images: one class of
    the paper's partner dataset when available, else one class of generated shapes."""
    rng = np.random.default_rng(config.seed)
    data = datasets.load_sample(config.dataset, config.max_images, rng, seed=config.seed)
    train, test = datasets.train_test(data, config.test_fraction, rng)
    return Prepared(data, train, test, ood_images(config.dataset, data.shape, rng, config.seed))


def ood_images(dataset: str, shape: tuple[int, int, int], rng: np.random.Generator,
               seed: int = 0) -> np.ndarray:
    """Out-of-distribution images for `dataset` (of its image `shape`): one class, drawn with
    `rng`, of the paper's partner dataset when available, else of generated shapes."""
    source = OOD_SOURCE.get(dataset)
    if source and datasets.is_available(source):
        other = datasets.load(source)
    else:
        c, h, w = shape
        other = datasets.load("shapes", n=2000, seed=seed)
        if (h, w) != other.shape[1:]:
            other = _resize(other, h, w)
        if c > 1:
            other = datasets.ImageDataset(np.repeat(other.images, c, 1), other.labels,
                                          other.class_names, other.name)
    ood_class = int(rng.integers(len(other.class_names)))
    return other.images[other.labels == ood_class]


def _resize(data: datasets.ImageDataset, h: int, w: int) -> datasets.ImageDataset:
    images = torch.nn.functional.interpolate(torch.from_numpy(data.images), size=(h, w))
    return datasets.ImageDataset(images.numpy(), data.labels, data.class_names, data.name)


@dataclass
class GlitchResult:
    """One glitch type: the injected data, the training of the model under test and of
    cleanlab's fold models, the model's accuracy, every score."""

    kind: str
    glitches: Glitches
    history: History
    fold_histories: list[History]
    test_accuracy: float
    scores: dict[str, np.ndarray]
    f1: dict[str, float]
    characterisation: float | None  # mixed only: flagged true glitches given the right type


def run_glitch(config: Config, prepared: Prepared, kind: str, *, checkpoint_dir,
               device: str = "auto", progress: bool = True) -> GlitchResult:
    """Inject `kind`, train, compute the signals and cleanlab's score, and their F1."""
    data, n_classes = prepared.data, len(prepared.data.class_names)
    glitches = inject_glitches(data.images[prepared.train], data.labels[prepared.train],
                               n_classes, kind=kind, rate=config.rate, ood_images=prepared.ood,
                               noisy_classes=config.noisy_classes, seed=config.seed)
    test_labels = data.labels[prepared.test]
    traced = trace(config, glitches, data.subset(prepared.test), name=f"{config.model} ({kind})",
                   checkpoint_dir=checkpoint_dir, device=device, progress=progress)
    history, outputs, scores = traced.history, traced.outputs, traced.scores
    probs, folds = (outputs[-1].train_probs, []) if not config.cleanlab_folds else (
        out_of_sample_probs(config, glitches, data.shape, n_classes, device=device,
                            progress=progress))
    scores[CLEANLAB], own_flags = label_issues(glitches.labels, probs)
    scores[CLEANLAB_IN_SAMPLE] = label_issues(glitches.labels, outputs[-1].train_probs)[0]
    accuracy = float((outputs[-1].test_probs.argmax(1) == test_labels).mean())
    f1 = {name: metrics.f1_at_contamination(glitches.is_glitch, scores[name])
          for name in (*signals.SIGNALS, CLEANLAB, CLEANLAB_IN_SAMPLE)}
    f1[CLEANLAB_OWN] = float(f1_score(glitches.is_glitch, own_flags))
    return GlitchResult(kind, glitches, history, folds, accuracy, scores, f1,
                        characterisation(glitches, scores) if kind == "mixed" else None)


@dataclass(frozen=True)
class Traced:
    """The classifier's training, its outputs at every checkpoint and every signal."""

    history: History
    outputs: list
    scores: dict[str, np.ndarray]


def trace(config: Config, glitches: Glitches, test: datasets.ImageDataset, *, name: str,
          checkpoint_dir, device: str = "auto", progress: bool = True) -> Traced:
    """Train the classifier on the given labels (a checkpoint each epoch into
    `checkpoint_dir`) and compute every TracIn signal against the held-out `test` images."""
    n_classes = len(test.class_names)
    model = seeded(lambda: build_classifier(config.model, test.shape, n_classes), config.seed)
    history = fit(model, tensor_dataset(glitches.images, glitches.labels), epochs=config.epochs,
                  batch_size=config.batch_size, lr=config.lr, optimizer="sgd",
                  momentum=config.momentum, precise_bn=True, device=device,
                  seed=config.seed, name=name, checkpoint_dir=checkpoint_dir, progress=progress)
    outputs = tracin.checkpoint_outputs(model, history.checkpoints, glitches.images,
                                        test.images, device=str(history.device))
    influence = (tracin.FastTracIn(outputs, test.labels) if config.gradients == "fast" else
                 tracin.FullTracIn(model, history.checkpoints, glitches.images, test.images,
                                   test.labels, device=str(history.device)))
    return Traced(history, outputs,
                  signals.all_signals(influence, glitches.labels, test.labels, n_classes))


def build_classifier(name: str, shape: tuple[int, int, int], n_classes: int) -> torch.nn.Module:
    """Classifier `name` for images of `shape` (C, H, W)."""
    if name == "vit":
        size = shape[1]
        return CLASSIFIERS[name](shape[0], n_classes, image_size=size,
                                 patch=4 if size % 4 == 0 else 2)
    return CLASSIFIERS[name](shape[0], n_classes)


def out_of_sample_probs(config: Config, glitches: Glitches, shape: tuple[int, int, int],
                        n_classes: int, *, device: str,
                        progress: bool) -> tuple[np.ndarray, list[History]]:
    """Each training sample's predicted probabilities from a model that did not see it, as
    cleanlab asks: stratified `config.cleanlab_folds`-fold cross-validation (seeded), each fold
    trained with the run's settings (seed offsets 1, 2, ...); and each fold's training."""
    images, labels = glitches.images, glitches.labels
    probs = np.zeros((len(labels), n_classes), np.float32)
    folds = StratifiedKFold(config.cleanlab_folds, shuffle=True, random_state=config.seed)
    histories = []
    for k, (seen, held_out) in enumerate(folds.split(images, labels)):
        model = seeded(lambda: build_classifier(config.model, shape, n_classes),
                       config.seed + 1 + k)
        history = fit(model, tensor_dataset(images[seen], labels[seen]), epochs=config.epochs,
                      batch_size=config.batch_size, lr=config.lr, optimizer="sgd",
                      momentum=config.momentum, precise_bn=True, device=device,
                      seed=config.seed + 1 + k, progress=progress,
                      name=f"{config.model} for cleanlab, fold {k + 1}/{config.cleanlab_folds}")
        probs[held_out] = tracin.predict(model, images[held_out], device=str(history.device))[0]
        histories.append(history)
    return probs, histories


def label_issues(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab on out-of-sample probabilities: the self-confidence label quality turned round
    (higher = more suspicious), and `find_label_issues`' own flags (confident learning)."""
    import warnings

    from tqdm import TqdmWarning

    with warnings.catch_warnings():  # cleanlab imports tqdm.auto, which warns without ipywidgets
        warnings.simplefilter("ignore", TqdmWarning)
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores
    return 1.0 - get_label_quality_scores(labels, probs), find_label_issues(labels, probs)


def characterisation(glitches: Glitches, scores: dict[str, np.ndarray]) -> float:
    """Among CFRank's top-k flags (k = number of glitches) that are true glitches, the share
    whose type (mislabel or anomaly, by the larger rank) is right."""
    k = int(glitches.is_glitch.sum())
    top = np.argsort(-scores["CFRank"], kind="stable")[:k]
    hits = top[glitches.is_glitch[top]]
    if len(hits) == 0:
        return float("nan")
    return float((scores["CFRank-kind"][hits] == glitches.kind[hits]).mean())


@dataclass
class Results:
    """Every glitch type of the run, injected, trained on and scored."""

    config: Config
    per_kind: list[GlitchResult]

    @property
    def histories(self) -> list[History]:
        return [h for r in self.per_kind for h in (r.history, *r.fold_histories)]

    @property
    def per_image(self) -> dict[str, np.ndarray]:
        """Per glitch type, every signal's score of each training sample, which are glitches
        and of which kind (0 clean, 1 mislabelled, 2 anomaly)."""
        found = {}
        for r in self.per_kind:
            found.update({f"{r.kind}/truth": r.glitches.is_glitch,
                          f"{r.kind}/glitch kind": r.glitches.kind})
            found.update({f"{r.kind}/{name}": s for name, s in r.scores.items()})
        return found


def run(config: Config, prepared: Prepared, *, device: str = "auto", progress: bool = True,
        checkpoint_dir: str | Path | None = None) -> Results:
    """Every glitch type of `config` in turn (`run_glitch`); the checkpoints go under
    `checkpoint_dir`/<type> (default: a temporary folder, removed at the end)."""
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(checkpoint_dir or temporary)
        return Results(config, [run_glitch(config, prepared, kind,
                                           checkpoint_dir=folder / kind, device=device,
                                           progress=progress) for kind in config.glitches])


def summarise(results: Results) -> dict:
    """The record's metrics: per signal, F1 for each glitch type (`f1_<kind>`); the held-out
    accuracy per type; CFRank's characterisation of mixed errors."""
    table: dict[str, dict[str, float]] = {}
    for r in results.per_kind:
        for name, value in r.f1.items():
            table.setdefault(name, {})[f"f1_{r.kind}"] = value
    return {"compared": table,
            "test_accuracy": {r.kind: r.test_accuracy for r in results.per_kind},
            "characterisation": {r.kind: r.characterisation for r in results.per_kind
                                 if r.characterisation is not None},
            "claims": judge(results)}


def judge(results: Results) -> dict[str, dict]:
    """Each claim of the paper (`papers/influence.yaml`) whose glitch type the run has: F1 of
    flagging the top k, with the intervals of one paired bootstrap of the training samples
    (chance: the share of glitches, a random ranking's F1)."""
    paper, by_kind = papers.load("influence"), {r.kind: r for r in results.per_kind}
    f1 = intervals.undefined_as_nan(metrics.f1_at_contamination)
    found = {}
    for claim in paper["claims"]:
        result = by_kind.get(claim["metric"].removeprefix("f1_"))
        if result is None:
            continue
        truth = result.glitches.is_glitch
        arrays = {name: (truth, result.scores[name])
                  for name in (claim["claimed"], *claim["rivals"]) if name in result.scores}
        found[claim["id"]] = {"": intervals.paired_claim(
            arrays, f1, claim["claimed"], claim["rivals"], better="higher",
            chance=float(truth.mean()), seed=results.config.seed)}
    return found
