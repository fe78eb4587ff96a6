"""The CLSVAE chapter's experiment: corrupt, split, draw a trusted set, train the five models,
score and repair. Hyperparameters are the authors' (their `args_run.json`) unless a profile says
otherwise. Grey-level images are standardised with one mean and one sd of the whole dirty
dataset, as the authors' loader does, and every repair error is computed on that scale."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from glitchbook import datasets, intervals, metrics, papers
from glitchbook.checks import check_choices, check_fraction, check_positive
from glitchbook.config import MethodConfig, override
from glitchbook.corruption import (
    SystematicCorruption,
    TrustedSet,
    recipe,
    systematic_outliers,
    trusted_capacity,
    trusted_set,
)
from glitchbook.errors import ConfigError
from glitchbook.models import MODELS, ImageVAE
from glitchbook.training import History, fit, independent_rngs, seeded, tensor_dataset

MODEL_NAMES = tuple(MODELS)
PAPER_EPOCHS = {"fashion": 100, "frey": 300, "shapes": 200}

# The authors' settings of each model per dataset family (`settings` in papers/clsvae.yaml).
SETTINGS: dict[str, dict[str, dict]] = papers.load("clsvae")["settings"]


def family(dataset: str) -> str:
    """Which of the authors' recipes (settings) a dataset follows: Frey Faces', Synthetic
    Shapes', else Fashion-MNIST's."""
    return {"frey-faces": "frey", "shapes": "shapes"}.get(datasets.entry(dataset).family,
                                                          "fashion")


@dataclass(frozen=True)
class Config(MethodConfig):
    """One CLSVAE-chapter run. `trusted` is the number of labelled images per stratum (each
    clean class and each corruption pattern); `corruption` the share of images corrupted."""

    method: ClassVar[str] = "clsvae"
    corruption: float = 0.35
    trusted: int = 10
    epochs: int = 100
    max_images: int = 0  # 0 = all images of the dataset
    test_fraction: float = 0.2
    batch_size: int = 128
    lr: float = 1e-3
    latent_dim: int = 15
    models: tuple[str, ...] = MODEL_NAMES
    settings: dict = field(default_factory=dict, compare=False)  # per model: the authors'

    @classmethod
    def presets(cls, dataset: str, options: dict[str, Any]) -> dict[str, dict]:
        fam = family(dataset)
        return {"smoke": dict(epochs=20, max_images=800),
                "default": dict(epochs=50),
                "paper": dict(epochs=PAPER_EPOCHS[fam],
                              test_fraction=1 / 7 if fam == "fashion" else 0.1)}

    @classmethod
    def for_run(cls, dataset: str, profile: str = "default", seed: int = 0,
                **overrides) -> Config:
        """The profile's preset, checked overrides, and each model's settings for `dataset`."""
        config = super().for_run(dataset, profile, seed, **overrides)
        if config.settings:
            return config
        return override(config, settings=model_settings(dataset, config.models))

    def check(self, info: datasets.DatasetInfo) -> None:
        check_fraction(self.corruption, "corruption")
        check_fraction(self.test_fraction, "test_fraction")
        check_positive(epochs=self.epochs, trusted=self.trusted)
        check_choices(self.models, MODEL_NAMES, "model")
        train = min(self.max_images or info.n_images, info.n_images) * (1 - self.test_fraction)
        most = trusted_capacity(train, self.corruption, len(recipe(self.dataset)[0]), info)
        if self.trusted > most:
            raise ConfigError(f"trusted={self.trusted} images per stratum is more than the "
                              f"training split of {self.dataset} can be counted on to hold: "
                              f"its smallest stratum (a clean class or a corruption pattern) "
                              f"holds at least about {most}")


def model_settings(dataset: str, models: tuple[str, ...] = MODEL_NAMES) -> dict[str, dict]:
    """The authors' settings of each model for `dataset` (its family's)."""
    return {m: dict(SETTINGS[family(dataset)][m]) for m in models}


def from_parameters(dataset: str, profile: str = "default", seed: int = 0, *,
                    corruption: float | None = None, trusted: int | None = None,
                    epochs: int | None = None) -> Config:
    """The config of a notebook run from its parameters (None: the profile's preset)."""
    return Config.for_run(dataset, profile, seed, corruption=corruption, trusted=trusted,
                          epochs=epochs)


@dataclass(frozen=True)
class Prepared:
    """Clean and dirty images, the ground truth, the train/test split, the trusted set, and the
    standardisation of grey-level images (mean 0 and sd 1 for binary ones: left as they are)."""

    data: datasets.ImageDataset
    corruption: SystematicCorruption
    train: np.ndarray
    test: np.ndarray
    trusted: TrustedSet
    mean: float = 0.0
    sd: float = 1.0

    @property
    def binary(self) -> bool:
        return self.data.is_binary

    def standardise(self, images: np.ndarray) -> np.ndarray:
        """Images on the scale the models see and the repair error is measured on."""
        return ((images - self.mean) / self.sd).astype(np.float32)

    def unstandardise(self, images: np.ndarray) -> np.ndarray:
        """Back to pixel values in [0, 1] (clipped), for figures."""
        return np.clip(images * self.sd + self.mean, 0.0, 1.0)


def prepare(config: Config) -> Prepared:
    """Load the data, corrupt it with the dataset's recipe, split it and draw the trusted set
    from the training split. The subsample, corruption, split and trusted set each come from
    their own random stream of `config.seed`, so the split does not follow the corruption (the
    authors draw them independently)."""
    subsample, corrupt, split, trust = independent_rngs(config.seed, 4)
    data = datasets.load_sample(config.dataset, config.max_images, subsample, seed=config.seed)
    patterns, mode = recipe(config.dataset)
    corruption = systematic_outliers(data.images, fraction=config.corruption, patterns=patterns,
                                     mode=mode, seed=corrupt)
    train, test = datasets.train_test(data, config.test_fraction, split)  # official if any
    trusted = trusted_set(data.labels, corruption.pattern, per_class=config.trusted,
                          candidates=train, seed=trust)
    return Prepared(data, corruption, train, test, trusted, *scale(corruption.images))


def scale(images: np.ndarray) -> tuple[float, float]:
    """(mean, sd) that standardise grey-level images for the VAE family, one of each over all
    the dirty images as the authors' loader has them; (0, 1) for binary images, left as they
    are for their Bernoulli likelihood."""
    if np.isin(images, (0.0, 1.0)).all():
        return 0.0, 1.0
    return float(images.mean()), float(images.std(ddof=1))


def dirty_weight(trusted: TrustedSet) -> float:
    """Weight of a trusted dirty image in CLSVAE's supervised term: max(1, clean / dirty
    images of the trusted set), the authors' `qy_sup_weights`."""
    clean = int(trusted.is_clean.sum())
    return max(1.0, clean / max(1, len(trusted) - clean))


def training_data(name: str, prepared: Prepared) -> torch.utils.data.TensorDataset:
    """(x, y, labelled) for the training split: y = 1 for clean. CVAE sees every image's true
    flag (the authors' fully supervised baseline); the others only the trusted set's."""
    n = len(prepared.data)
    y = (~prepared.corruption.is_outlier).astype(np.float32)
    labelled = np.zeros(n, bool)
    if name == "CVAE":
        labelled[:] = True
    else:
        labelled[prepared.trusted.index] = True
        y = np.where(labelled, y, 0.0).astype(np.float32)
    rows = prepared.train
    return tensor_dataset(prepared.standardise(prepared.corruption.images[rows]), y[rows],
                          labelled[rows])


def fit_model(name: str, config: Config, data: torch.utils.data.TensorDataset, *,
              binary: bool, seed: int, dirty_weight: float = 1.0, device: str = "auto",
              progress: bool = True) -> tuple[ImageVAE, History]:
    """The chapter's recipe for model `name` of the VAE family, which the glitch bench follows
    too: built with the authors' settings (`config.settings`; CLSVAE's trusted dirty images
    weighing `dirty_weight`) and trained with `training.fit` on `data` ((x, y, labelled), x
    on the model's scale), weights and batches from `seed`. The authors' weight decay is
    summed over a batch and our loss is a batch mean, so it is divided by the batch size."""
    settings = dict(config.settings[name])
    weight_decay = settings.pop("l2", 0.0) / config.batch_size
    if name == "CLSVAE":
        settings["dirty_weight"] = dirty_weight
    shape = tuple(data.tensors[0].shape[1:])
    model = seeded(lambda: MODELS[name](shape, latent_dim=config.latent_dim,
                                        likelihood="bernoulli" if binary else "gaussian",
                                        **settings), seed)
    history = fit(model, data, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                  weight_decay=weight_decay, device=device, seed=seed, name=name,
                  progress=progress)
    return model.cpu(), history


def fit_and_score(name: str, config: Config, images: np.ndarray, labelled: np.ndarray,
                  is_glitch: np.ndarray, *, seed: int, dirty_weight: float = 1.0,
                  device: str = "auto", progress: bool = True
                  ) -> tuple[list[np.ndarray], History]:
    """The recipe on a set of `images` of their own (the glitch bench's): standardised as the
    chapter does (`scale`), model `name` trained by `fit_model`, told the flags of the
    `labelled` images (clean unless `is_glitch`); its scores of `images`, one array per score
    kind, and its training."""
    mean, sd = scale(images)
    x = ((images - mean) / sd).astype(np.float32)
    y = np.where(labelled, ~is_glitch, False).astype(np.float32)
    model, history = fit_model(name, config, tensor_dataset(x, y, labelled),
                               binary=bool(np.isin(images, (0.0, 1.0)).all()), seed=seed,
                               dirty_weight=dirty_weight, device=device, progress=progress)
    with torch.no_grad():
        return [model.outlier_scores(torch.from_numpy(x), kind).numpy()
                for kind in model.score_kinds], history


def train(config: Config, prepared: Prepared, *, device: str = "auto",
          progress: bool = True) -> dict[str, tuple[ImageVAE, History]]:
    """Train every model of `config` (`fit_model`); returns name -> (model, history). Each
    model's seed offset is its place in MODEL_NAMES."""
    return {name: fit_model(name, config, training_data(name, prepared),
                            binary=prepared.binary, seed=config.seed + MODEL_NAMES.index(name),
                            dirty_weight=dirty_weight(prepared.trusted), device=device,
                            progress=progress)
            for name in config.models}


@dataclass(frozen=True)
class Evaluation:
    """A model's scores and repairs on one split (repairs as pixel values in [0, 1]), the
    metrics computed from them, and the per-image terms of its repair error on the dirty
    pixels (`metrics.repair_terms`, for the claim's intervals)."""

    scores: dict[str, np.ndarray]
    cell_scores: np.ndarray
    repaired: np.ndarray
    metrics: dict[str, float]
    repair_terms: tuple[np.ndarray, np.ndarray, np.ndarray]


def evaluate(model: ImageVAE, prepared: Prepared) -> Evaluation:
    """Detection (row and cell AUROC/AVPR) and repair (SMSE on the standardised scale, or the
    Brier score on binary data) on `split`, as the authors' evaluation: every model gets each
    image's true flag (only CVAE uses it). `auroc_row`/`avpr_row` use the model's own score
    (q(y|x) if it has one)."""
    rows, c = prepared.test, prepared.corruption
    clean = prepared.standardise(prepared.data.images[rows])
    truth, mask = c.is_outlier[rows], c.mask[rows]
    x = torch.from_numpy(prepared.standardise(c.images[rows]))
    flags = torch.from_numpy((~truth).astype(np.float32))
    model.eval()
    scores = {kind: model.outlier_scores(x, kind, clean=flags).numpy()
              for kind in model.score_kinds}
    cells = model.cell_scores(x, flags).numpy()
    repaired = model.repair(x, flags).numpy()
    result = {"auroc_row": metrics.auroc(truth, scores[model.score_kinds[0]]),
              "avpr_row": metrics.avpr(truth, scores[model.score_kinds[0]])}
    for kind, s in scores.items():
        result[f"auroc_row_{kind}"] = metrics.auroc(truth, s)
        result[f"avpr_row_{kind}"] = metrics.avpr(truth, s)
    result["auroc_cell"] = metrics.cell_scores_metric(mask, cells, metrics.auroc)
    result["avpr_cell"] = metrics.cell_scores_metric(mask, cells, metrics.avpr)
    terms = metrics.repair_terms(clean, repaired, mask, binary=prepared.binary)
    result["smse_dirty"] = metrics.repair_error_of(terms)
    result["smse_clean"] = metrics.repair_error(clean, repaired, ~mask, binary=prepared.binary)
    pixels = prepared.unstandardise(repaired)
    result["mse_dirty"] = float(np.mean((prepared.data.images[rows][mask] - pixels[mask]) ** 2))
    return Evaluation(scores, cells, pixels, result, terms)


def no_repair_terms(prepared: Prepared) -> tuple[np.ndarray, ...]:
    """The repair error's terms (`metrics.repair_terms`) of leaving the dirty test images as
    they are: the authors' upper bound, and the chance level of a repair."""
    rows, c = prepared.test, prepared.corruption
    return metrics.repair_terms(prepared.standardise(prepared.data.images[rows]),
                                prepared.standardise(c.images[rows]), c.mask[rows],
                                binary=prepared.binary)


@dataclass
class Results:
    """Every model trained and evaluated on the test split, and the no-repair baseline."""

    config: Config
    prepared: Prepared
    trained: dict[str, tuple[ImageVAE, History]]
    evaluations: dict[str, Evaluation]
    no_repair_terms: tuple[np.ndarray, ...]

    @property
    def no_repair(self) -> float:
        """The repair error of leaving the dirty pixels as they are."""
        return metrics.repair_error_of(self.no_repair_terms)

    @property
    def histories(self) -> list[History]:
        return [h for _, h in self.trained.values()]

    @property
    def per_image(self) -> dict[str, np.ndarray]:
        """Each model's scores of each test image (`<model>/<score kind>`) and the truth."""
        truth = self.prepared.corruption.is_outlier[self.prepared.test]
        return {"truth": truth, **{f"{name}/{kind}": s for name, e in self.evaluations.items()
                                   for kind, s in e.scores.items()}}


def run(config: Config, prepared: Prepared, *, device: str = "auto",
        progress: bool = True) -> Results:
    """Train every model of `config`, evaluate each on the test split."""
    trained = train(config, prepared, device=device, progress=progress)
    evaluations = {name: evaluate(model, prepared) for name, (model, _) in trained.items()}
    return Results(config, prepared, trained, evaluations, no_repair_terms(prepared))


def summarise(results: Results) -> dict:
    """The record's metrics: each model's and "no repair"'s, the share of dirty images overall
    and in the test split, and the paper's claims (`judge`)."""
    c, test = results.prepared.corruption, results.prepared.test
    return {"compared": {**{n: e.metrics for n, e in results.evaluations.items()},
                         "no repair": {"smse_dirty": results.no_repair}},
            "no_repair_error": results.no_repair, "dirty_share": c.fraction,
            "test_dirty_share": float(c.is_outlier[test].mean()), "claims": judge(results)}


def judge(results: Results) -> dict[str, dict]:
    """Each claim of the paper (`papers/clsvae.yaml`) with the intervals of one paired bootstrap
    of the test images: detection by each model's own score (chance: the share of dirty
    images), repair by the error on the dirty pixels (chance: leaving them dirty)."""
    paper, truth = papers.load("clsvae"), results.prepared.corruption.is_outlier[
        results.prepared.test]
    seed, found = results.config.seed, {}
    for claim in paper["claims"]:
        better = paper["metrics"][claim["metric"]]["better"]
        if claim["metric"] == "avpr_row":
            found[claim["id"]] = {"": intervals.paired_claim(
                {n: (truth, next(iter(e.scores.values()))) for n, e in results.evaluations.items()},
                intervals.undefined_as_nan(metrics.avpr), claim["claimed"], claim["rivals"],
                better=better, chance=float(truth.mean()), seed=seed)}
            continue
        drawn = intervals.counts(intervals.bootstrap_indices(len(truth), seed=seed), len(truth))
        terms = {n: e.repair_terms for n, e in results.evaluations.items()}
        found[claim["id"]] = {"": intervals.compare(
            {n: metrics.repair_error_of(t) for n, t in terms.items()},
            {n: metrics.repair_error_of(t, drawn) for n, t in terms.items()},
            claim["claimed"], claim["rivals"], better=better, chance=results.no_repair)}
    return found
