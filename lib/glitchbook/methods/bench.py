"""The glitch bench: every detector of the book on every kind of bad data, one table. Each
kind of glitch is injected, at one rate, into its own copy of the training split with the
chapters' generators: systematic corruption (CLSVAE's), uniform and class-based label noise,
out-of-distribution anomalies (the influence work's), ambiguous images (GASTeN's, labelled by
the classifier it stressed) and camera faults (the drift chapter's). Every detector scores every
training image (higher = more suspicious) with what its paper gives it: CLSVAE a trusted set,
the influence signals and cleanlab the given labels and a clean held-out split, the rest the
images alone, trained once per set of images (the two kinds of label noise share theirs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy.stats import rankdata

from glitchbook import corruption, datasets, intervals, metrics
from glitchbook.checks import check_choices, check_fraction, check_positive
from glitchbook.config import MethodConfig
from glitchbook.errors import ConfigError
from glitchbook.methods import ambiguity, clsvae, influence
from glitchbook.methods.bench_detectors import (
    DETECTORS,
    Scores,
    clsvae_scores,
    image_scores,
    label_scores,
)
from glitchbook.training import History, independent_rngs

KINDS = ("systematic", "uniform", "class", "anomaly", "ambiguous", "camera")


@dataclass(frozen=True)
class Config(MethodConfig):
    """One bench run: one dataset, every kind of glitch, every detector."""

    method: ClassVar[str] = "bench"
    kinds: tuple[str, ...] = KINDS
    rate: float = 0.1  # share of the training split made bad, for every kind
    max_images: int = 0  # 0 = all
    test_fraction: float = 0.2  # the clean held-out split the influence signals compare with
    # image detectors: the VAE family (CLSVAE's settings) and the autoencoders
    vae_epochs: int = 100
    ae_epochs: int = 100
    arae_steps: int = 5
    trusted: int = 10  # CLSVAE's labelled images per stratum (clean class, or bad)
    # label detectors: the influence chapter's classifier, TracIn and cleanlab
    classifier_epochs: int = 7
    cleanlab_folds: int = 2
    # ambiguous images: GASTeN on one pair
    pair: str = "7v1"
    gan_epochs: tuple[int, int] = (5, 10)  # plain GAN (step 1), then GASTeN's stress (step 2)
    nf: int = 2  # width of the classifier GASTeN stresses

    @classmethod
    def presets(cls, dataset: str, options: dict[str, Any]) -> dict[str, dict]:
        return {"smoke": dict(max_images=400, vae_epochs=2, ae_epochs=2, arae_steps=1,
                              classifier_epochs=1, gan_epochs=(1, 1), trusted=2),
                "default": dict(max_images=1000, vae_epochs=10, ae_epochs=6, arae_steps=2,
                                classifier_epochs=3, gan_epochs=(3, 3)),
                "paper": dict(max_images=10000, gan_epochs=ambiguity.PAPER_EPOCHS.get(
                    ambiguity.family(dataset), ambiguity.PAPER_EPOCHS["mnist"]))}

    @property
    def vae_recipe(self) -> clsvae.Config:
        """The CLSVAE chapter's recipe for the VAE family on this dataset (the authors'
        settings), trained `vae_epochs`."""
        return clsvae.Config(dataset=self.dataset, profile=self.profile, seed=self.seed,
                             epochs=self.vae_epochs, settings=clsvae.model_settings(self.dataset))

    def check(self, info: datasets.DatasetInfo) -> None:
        check_choices(self.kinds, KINDS, "glitch kind")
        check_fraction(self.rate, "rate")
        check_fraction(self.test_fraction, "test_fraction")
        check_positive(vae_epochs=self.vae_epochs, ae_epochs=self.ae_epochs,
                       arae_steps=self.arae_steps, trusted=self.trusted,
                       classifier_epochs=self.classifier_epochs, nf=self.nf)
        train = min(self.max_images or info.n_images, info.n_images) * (1 - self.test_fraction)
        most = corruption.trusted_capacity(train, self.rate, 1, info)  # the bad: one stratum
        if self.trusted > most:
            raise ConfigError(f"trusted={self.trusted} images per stratum is more than a rate "
                              f"of {self.rate} makes bad: at least {most} can be counted on")
        if "ambiguous" in self.kinds:
            ambiguity.Config.for_run(self.dataset, self.profile, self.seed,
                                     pairs=(self.pair,), nfs=(self.nf,))


def from_parameters(dataset: str, profile: str = "default", seed: int = 0, *,
                    rate: float | None = None, kind: str | None = None) -> Config:
    """The config of a notebook run from its parameters (`kind` one kind of glitch; None:
    every kind, or the profile's preset)."""
    return Config.for_run(dataset, profile, seed, rate=rate,
                          kinds=None if kind is None else (kind,))


@dataclass
class Case:
    """One kind of glitch in its copy of the training split: images, given labels, which are
    bad, and the training of any model that made them (GASTeN's)."""

    kind: str
    images: np.ndarray
    labels: np.ndarray
    is_glitch: np.ndarray
    histories: list[History] = field(default_factory=list)

    @property
    def stratum(self) -> np.ndarray:
        """CLSVAE's trusted-set strata: the bad one (0), the clean by label (-1 here)."""
        return np.where(self.is_glitch, 0, -1)


@dataclass(frozen=True)
class Prepared:
    """The clean training and held-out splits of the dataset."""

    train: datasets.ImageDataset
    test: datasets.ImageDataset
    ood: np.ndarray  # out-of-distribution images for the anomalies


def prepare(config: Config) -> Prepared:
    """Load the dataset (a seeded subsample when `max_images` is set), split it, and pick the
    out-of-distribution images as the influence chapter does."""
    sample, split = independent_rngs(config.seed, 2)
    data = datasets.load_sample(config.dataset, config.max_images, sample, seed=config.seed)
    train, test = datasets.train_test(data, config.test_fraction, split)
    ood = influence.ood_images(config.dataset, data.shape, sample, config.seed)
    return Prepared(data.subset(train), data.subset(test), ood)


def inject(config: Config, prepared: Prepared, kind: str, *, device: str = "auto",
           progress: bool = True) -> Case:
    """The training split with glitches of `kind` at `config.rate`, from the kind's own
    random stream of `config.seed`."""
    seed = config.seed + 1 + KINDS.index(kind)
    images, labels = prepared.train.images, prepared.train.labels
    n_classes = len(prepared.train.class_names)
    count = int(config.rate * len(labels))
    if kind == "systematic":
        patterns, mode = corruption.recipe(config.dataset)
        c = corruption.systematic_outliers(images, fraction=config.rate, patterns=patterns,
                                           mode=mode, seed=seed)
        return Case(kind, c.images, labels.copy(), c.is_outlier)
    if kind in ("uniform", "class"):  # class: every class, so that the rate is the same
        noisy = (corruption.uniform_label_noise(labels, n_classes, rate=config.rate, seed=seed)
                 if kind == "uniform" else corruption.class_label_noise(
                     labels, n_classes, rate=config.rate, seed=seed, classes=n_classes))
        return Case(kind, images.copy(), noisy[0], noisy[1])
    if kind == "camera":
        chosen = np.random.default_rng(seed).choice(len(labels), count, replace=False)
        faulty = images.copy()
        faulty[chosen] = corruption.camera_faults(images[chosen], "mixed", seed=seed)
        bad = (faulty != images).reshape(len(labels), -1).any(1)  # a fault can change nothing
        return Case(kind, faulty, labels.copy(), bad)
    if kind == "anomaly":
        g = corruption.inject_glitches(images, labels, n_classes, kind="anomaly",
                                       rate=config.rate, ood_images=prepared.ood, seed=seed)
        return Case(kind, g.images, g.labels, g.is_glitch)
    extra, extra_labels, histories = ambiguous_images(config, prepared, count, device=device,
                                                      progress=progress)
    bad = np.r_[np.zeros(len(labels), bool), np.ones(len(extra), bool)]
    return Case(kind, np.concatenate([images, extra]), np.r_[labels, extra_labels], bad,
                histories)


def ambiguous_images(config: Config, prepared: Prepared, count: int, *, device: str,
                     progress: bool) -> tuple[np.ndarray, np.ndarray, list[History]]:
    """`count` images GASTeN made for the pair (`ambiguity.stress_test`), the closest to its
    classifier's boundary, in [0, 1], each labelled with the class the classifier leans to;
    and the training of the GAN and the classifier."""
    setting = ambiguity.Config.for_run(
        config.dataset, config.profile, config.seed, pairs=(config.pair,), nfs=(config.nf,),
        step1_epochs=config.gan_epochs[0], step2_epochs=config.gan_epochs[1],
        n_generated=max(4 * count, 500))
    pos, neg = ambiguity.parse_pair(config.pair)
    pair = ambiguity.load_pair(prepared.train, config.pair, config.test_fraction, config.seed)
    (result,) = ambiguity.stress_test(setting, pair, device=device, progress=progress)
    closest = np.argsort(np.abs(result.synthetic_probs - 0.5), kind="stable")[:count]
    labels = np.where(result.synthetic_probs[closest] > 0.5, pos, neg)
    return (result.synthetic[closest] + 1) / 2, labels, list(result.histories.values())


@dataclass
class Results:
    """Every case, every detector's scores of it, each detector's seconds in all, and the
    training of every model the run trained."""

    config: Config
    cases: dict[str, Case]
    scores: dict[str, dict[str, np.ndarray]]
    seconds: dict[str, float]
    histories: list[History] = field(default_factory=list)

    @property
    def per_image(self) -> dict[str, np.ndarray]:
        """Per kind, every detector's score of each training image and which are bad."""
        return {f"{kind}/{name}": s for kind, found in self.scores.items()
                for name, s in {"truth": self.cases[kind].is_glitch, **found}.items()}


def run(config: Config, prepared: Prepared, *, device: str = "auto",
        progress: bool = True) -> Results:
    """Inject each kind, score each case with every detector; the image detectors run once
    for the two kinds of label noise, whose images are the clean ones."""
    results = Results(config, {}, {}, dict.fromkeys(DETECTORS, 0.0))
    by_images: dict[str, Scores] = {}
    for kind in config.kinds:
        case = inject(config, prepared, kind, device=device, progress=progress)
        images = "clean" if kind in ("uniform", "class") else kind
        parts = [clsvae_scores(config, case, device=device, progress=progress),
                 label_scores(config, case, prepared, device=device, progress=progress)]
        if images not in by_images:
            by_images[images] = image_scores(config, case.images, device=device,
                                             progress=progress)
            parts.append(by_images[images])
        results.cases[kind] = case
        results.scores[kind] = {**by_images[images].scores,
                                **{k: v for part in parts for k, v in part.scores.items()}}
        results.histories += case.histories
        for part in parts:
            results.histories += part.histories
            for name, spent in part.seconds.items():
                results.seconds[name] += spent
    return results


def summarise(results: Results) -> dict:
    """The record's metrics: per detector, AUROC, AVPR and F1 at the true count on each kind
    (`avpr_<kind>`, ...), its seconds in all, and its mean rank by AVPR over the kinds; per
    kind, the leader by AVPR and its lead over each other detector with their intervals
    (`intervals.leader`); a detector whose scores of a kind are not all finite gets NaN there,
    and `missing` says so (`"<detector> on <kind>"`: the reason)."""
    table: dict[str, dict[str, float]] = {d: {} for d in DETECTORS}
    missing, leaders = {}, {}
    for kind, case in results.cases.items():
        leaders[kind] = intervals.leader(
            case.is_glitch, {d: s for d, s in results.scores[kind].items()
                             if d in DETECTORS and np.isfinite(s).all()},
            seed=results.config.seed)
        for name in DETECTORS:
            s = results.scores[kind][name]
            if not np.isfinite(s).all():
                missing[f"{name} on {kind}"] = f"{int((~np.isfinite(s)).sum())} scores not finite"
                table[name].update(dict.fromkeys((f"auroc_{kind}", f"avpr_{kind}",
                                                  f"f1_{kind}"), float("nan")))
                continue
            table[name].update({f"auroc_{kind}": metrics.auroc(case.is_glitch, s),
                                f"avpr_{kind}": metrics.avpr(case.is_glitch, s),
                                f"f1_{kind}": metrics.f1_at_contamination(case.is_glitch, s)})
    ranks = np.mean([rankdata([-np.nan_to_num(table[d][f"avpr_{kind}"], nan=-1.0)
                               for d in DETECTORS])
                     for kind in results.cases], axis=0)  # ties share their mean rank
    for name, rank in zip(DETECTORS, ranks, strict=True):
        table[name].update(mean_rank=float(rank), seconds=results.seconds[name])
    return {"compared": table, "kinds": list(results.cases), "missing": missing,
            "leaders": leaders,
            "glitches": {k: int(c.is_glitch.sum()) for k, c in results.cases.items()}}
