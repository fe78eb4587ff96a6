"""The ambiguity chapter's experiment (GASTeN, then "Finding Patterns in Ambiguity"): for each
pair of classes, train the binary classifiers under test (one per width `nf`) and a DCGAN (step
1), continue the GAN with the stress term that pulls each classifier's output to 0.5 (step 2),
and measure how close to the boundary and how realistic the synthetic images are. The ambiguous
ones (|C(x) - 0.5| < band) are embedded, reduced with UMAP, clustered with a Gaussian mixture,
and each cluster is shown by its prototype. Realism is GASTeN's FOCD: the Fréchet distance on
the classifier under test's penultimate features, real statistics from the pair's training
images (the original GASTeN); Inception's weights cannot be fetched offline."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from glitchbook import datasets, intervals, metrics, patterns
from glitchbook.checks import check_fraction
from glitchbook.config import MethodConfig
from glitchbook.errors import ConfigError
from glitchbook.models.classifiers import BinaryCNN
from glitchbook.models.gan import GAN, fit_gan
from glitchbook.training import History, fit, in_batches, seeded, tensor_dataset

# The paper's pairs (positive class first) and classifier widths, per dataset family.
PAIRS = {"mnist": ("5v3", "7v1", "8v0"), "fashion-mnist": ("3v0", "5v7")}
WIDTHS = {"mnist": (1, 2, 4), "fashion-mnist": (4, 8, 16)}
# Plain-GAN (step 1) and stress-test (step 2) epochs of the workshop paper.
PAPER_EPOCHS = {"mnist": (5, 10), "fashion-mnist": (10, 15)}


def family(dataset: str) -> str:
    """The dataset `dataset` is a version of (`mnist` for MNIST and its bundled subset), which
    names the paper's pairs, widths and epochs."""
    return datasets.entry(dataset).family


def parse_pair(pair: str, n_classes: int = 10) -> tuple[int, int]:
    """'7v1' -> (7, 1): positive class, then negative; a clear error for anything else."""
    match = re.fullmatch(r"(\d+)v(\d+)", pair)
    if not match:
        raise ConfigError(f"pair {pair!r} is not '<positive>v<negative>', e.g. '7v1'")
    pos, neg = int(match[1]), int(match[2])
    if pos == neg or max(pos, neg) >= n_classes:
        raise ConfigError(f"pair {pair!r} needs two different classes below {n_classes}")
    return pos, neg


@dataclass(frozen=True)
class Config(MethodConfig):
    """One ambiguity-chapter run: one dataset, every pair x classifier width of it."""

    method: ClassVar[str] = "ambiguity"
    pairs: tuple[str, ...] = PAIRS["mnist"]
    nfs: tuple[int, ...] = (2,)  # widths of the classifiers under test
    test_fraction: float = 0.2  # of a random split; a dataset with an official split keeps it
    max_images: int = 0  # 0 = all
    # the classifier under test
    classifier_epochs: int = 30
    classifier_lr: float = 5e-4
    batch_size: int = 64
    # the DCGAN (step 1) and GASTeN's stress term (step 2)
    gan_filters: int = 32
    z_dim: int = 64
    gan_lr: float = 2e-4
    step1_epochs: int = 40
    step2_epochs: int = 20
    weight: float = 25.0  # of the stress term
    n_generated: int = 15000
    # ambiguity, realism and the search for patterns (UMAP x GMM)
    band: float = 0.1  # ambiguous: |C(x) - 0.5| < band
    min_fid_images: int = 500
    max_cluster_images: int = 2000
    umap_neighbors: tuple[int, ...] = (5, 15)
    umap_min_dist: tuple[float, ...] = (0.01,)
    umap_components: tuple[int, ...] = (5, 10)
    gmm_k: tuple[int, ...] = (3, 5, 8, 12, 15)

    @classmethod
    def presets(cls, dataset: str, options: dict[str, Any]) -> dict[str, dict]:
        fam = family(dataset)
        pairs, widths = PAIRS.get(fam, PAIRS["mnist"]), WIDTHS.get(fam, WIDTHS["mnist"])
        step1, step2 = PAPER_EPOCHS.get(fam, PAPER_EPOCHS["mnist"])
        return {
            "smoke": dict(pairs=pairs[1:2], nfs=widths[:1], max_images=2500, gan_filters=16,
                          step1_epochs=2, step2_epochs=2, n_generated=1500,
                          min_fid_images=100, max_cluster_images=300, umap_neighbors=(5,),
                          umap_min_dist=(0.01,), umap_components=(5,), gmm_k=(3, 4)),
            "default": dict(pairs=pairs, nfs=widths[1:2], step1_epochs=20, step2_epochs=10,
                            classifier_epochs=15, umap_neighbors=(15,), n_generated=6000),
            "paper": dict(pairs=pairs, nfs=widths, gan_filters=64, step1_epochs=step1,
                          step2_epochs=step2, classifier_epochs=5,
                          umap_neighbors=(5, 10, 25), umap_min_dist=(0.01, 0.1, 0.25),
                          umap_components=(5, 20, 60), max_cluster_images=5000),
        }

    def check(self, info: datasets.DatasetInfo) -> None:
        if info.shape != (1, 28, 28):
            raise ConfigError(f"GASTeN's DCGAN makes 1 x 28 x 28 images; {self.dataset} has "
                              f"{info.shape}")
        for pair in self.pairs:
            parse_pair(pair, info.n_classes)
        widths = WIDTHS.get(family(self.dataset), WIDTHS["mnist"])
        bad = [nf for nf in self.nfs if not isinstance(nf, int) or nf < 1]
        if bad or not self.nfs:
            raise ConfigError(f"nf must be positive integers (the paper: {widths}), got {bad}")
        if not 0 < self.band < 0.5:
            raise ConfigError(f"band must be between 0 and 0.5, got {self.band}")
        check_fraction(self.test_fraction, "test_fraction")

    @property
    def space(self) -> patterns.SearchSpace:
        return patterns.SearchSpace(self.umap_neighbors, self.umap_min_dist,
                                    self.umap_components, self.gmm_k)


def from_parameters(dataset: str, profile: str = "default", seed: int = 0, *,
                    pair: str | None = None, nf: int | None = None) -> Config:
    """The config of a notebook run from its parameters (`pair` e.g. "7v1", `nf` a classifier
    width; None: the profile's pairs and widths)."""
    return Config.for_run(dataset, profile, seed, pairs=None if pair is None else (pair,),
                          nfs=None if nf is None else (nf,))


@dataclass(frozen=True)
class Pair:
    """A binary subset in [-1, 1] (label 1 = positive class), split into train and test."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, str]


@dataclass(frozen=True)
class Prepared:
    """Each pair of classes of the run, by name ('7v1')."""

    pairs: dict[str, Pair]


def prepare(config: Config) -> Prepared:
    """Each pair of `config` from the dataset (a seeded subsample of `max_images` when set)."""
    data = datasets.load_sample(config.dataset, config.max_images,
                                np.random.default_rng(config.seed), seed=config.seed)
    return Prepared({name: load_pair(data, name, config.test_fraction, config.seed)
                     for name in config.pairs})


def load_pair(data: datasets.ImageDataset, pair: str, test_fraction: float,
              seed: int) -> Pair:
    """The images of the pair's two classes, scaled to [-1, 1] (the GAN's range); the dataset's
    official split when it has one, else a seeded one."""
    pos, neg = parse_pair(pair, len(data.class_names))
    keep = np.flatnonzero((data.labels == pos) | (data.labels == neg))
    train, test = datasets.train_test(data.subset(keep), test_fraction,
                                      np.random.default_rng(seed))
    images, labels = data.images[keep] * 2 - 1, (data.labels[keep] == pos).astype(np.int64)
    return Pair(pair, images[train], labels[train], images[test], labels[test],
                (data.class_names[pos], data.class_names[neg]))


@dataclass
class SettingResult:
    """One pair x nf: the metrics of the record and what the figures show."""

    pair: str
    nf: int
    classifier: BinaryCNN
    metrics: dict[str, float]
    test_probs: np.ndarray
    step1_probs: np.ndarray
    synthetic: np.ndarray  # step-2 images, N x 1 x 28 x 28 in [-1, 1]
    synthetic_probs: np.ndarray
    control_probs: np.ndarray  # of the plain GAN trained as long (α = 0)
    histories: dict[str, History]
    clustered: np.ndarray = field(default_factory=lambda: np.array([], int))  # into `synthetic`
    clustering: patterns.Clustering | None = None
    prototypes: dict[int, int] = field(default_factory=dict)  # cluster -> index into clustered

    @property
    def key(self) -> str:
        return f"{self.pair} nf{self.nf}"


@dataclass
class Results:
    """Every setting of the run, stress-tested and searched for patterns."""

    config: Config
    per_setting: list[SettingResult]

    @property
    def per_image(self) -> dict[str, np.ndarray]:
        """Per setting, the classifier's output on each test and generated image."""
        found = {}
        for r in self.per_setting:
            found.update({f"{r.key}/test": r.test_probs, f"{r.key}/step 1": r.step1_probs,
                          f"{r.key}/plain GAN": r.control_probs,
                          f"{r.key}/GASTeN": r.synthetic_probs})
        return found

    @property
    def histories(self) -> list[History]:
        """Every model's training, once (a pair's step 1 serves each of its widths)."""
        found = {id(h): h for r in self.per_setting for h in r.histories.values()}
        return list(found.values())


def run(config: Config, prepared: Prepared, *, device: str = "auto",
        progress: bool = True) -> Results:
    """Every pair of `prepared` in turn: GASTeN's stress test of each width (`stress_test`),
    then the search for patterns in each setting's ambiguous images (`find_patterns`)."""
    settings = []
    for pair in prepared.pairs.values():
        for result in stress_test(config, pair, device=device, progress=progress):
            find_patterns(result, config, device=device, progress=progress)
            settings.append(result)
    return Results(config, settings)


def stress_test(config: Config, pair: Pair, *, device: str = "auto",
                progress: bool = True) -> list[SettingResult]:
    """Step 1 once for the pair, and its control: the same GAN trained on for step 2's epochs
    without the stress term (α = 0, the paper's baseline); then per width the classifier,
    step 2, and how ambiguous and how realistic each set of generated images is."""
    noise = torch.randn(config.n_generated, config.z_dim,
                        generator=torch.Generator().manual_seed(config.seed + 1))
    gan = GAN.create(z_dim=config.z_dim, filters=config.gan_filters, lr=config.gan_lr,
                     seed=config.seed)
    step1 = fit_gan(gan, pair.train_images, epochs=config.step1_epochs,
                    batch_size=config.batch_size, device=device, seed=config.seed,
                    name=f"{pair.name} GAN, step 1", progress=progress)
    control = copy.deepcopy(gan)
    plain = fit_gan(control, pair.train_images, epochs=config.step2_epochs,
                    batch_size=config.batch_size, device=device, seed=config.seed + 1,
                    name=f"{pair.name} plain GAN (α = 0)", progress=progress)
    generated = {"step1": gan.sample(noise).numpy(), "control": control.sample(noise).numpy()}
    results = []
    for nf in config.nfs:
        classifier = seeded(lambda nf=nf: BinaryCNN(nf), config.seed)
        trained = fit(classifier, tensor_dataset(pair.train_images, pair.train_labels),
                      epochs=config.classifier_epochs, batch_size=config.batch_size,
                      lr=config.classifier_lr, device=device, seed=config.seed,
                      name=f"{pair.name} classifier nf={nf}", progress=progress)
        stressed = copy.deepcopy(gan)
        step2 = fit_gan(stressed, pair.train_images, epochs=config.step2_epochs,
                        batch_size=config.batch_size, classifier=classifier,
                        weight=config.weight, device=device, seed=config.seed + 1,
                        name=f"{pair.name} GASTeN nf={nf}, step 2", progress=progress)
        images = {**generated, "synthetic": stressed.sample(noise).numpy()}
        probs = {name: in_batches(classifier, x, device=device) for name, x in images.items()}
        test_probs = in_batches(classifier, pair.test_images, device=device)
        found = _measure(config, classifier, pair, test_probs, images, probs, device)
        found["gan_iterations_per_second"] = (step1.samples_per_second
                                              + step2.samples_per_second) / 2 / config.batch_size
        results.append(SettingResult(
            pair.name, nf, classifier, found, test_probs, probs["step1"], images["synthetic"],
            probs["synthetic"], probs["control"],
            {"classifier": trained, "step1": step1, "control": plain, "step2": step2}))
    return results


def _measure(config: Config, classifier: BinaryCNN, pair: Pair, test_probs: np.ndarray,
             images: dict[str, np.ndarray], probs: dict[str, np.ndarray],
             device: str) -> dict[str, float]:
    """The classifier's accuracy and loss on the real test images; the ACD of the real test
    images and of each set of generated `images` (step 1, its α = 0 control, GASTeN's
    "synthetic"; `probs`: the classifier's outputs on them), how many of them lie in the band,
    and the FOCD of each set (GASTeN's ambiguous images too) to the real training images."""
    real = in_batches(classifier.features, pair.train_images, device=device)
    band = metrics.in_band(probs["synthetic"], config.band)
    return {
        "accuracy": float(((test_probs > 0.5) == pair.test_labels).mean()),
        "loss": float(torch.nn.functional.binary_cross_entropy(
            torch.from_numpy(test_probs).double(),
            torch.from_numpy(pair.test_labels).double())),
        "acd_test": metrics.acd(test_probs),
        "n_test": int(metrics.in_band(test_probs, config.band).sum()),
        "n_synthetic": int(band.sum()),
        "acd_step1": metrics.acd(probs["step1"]),
        "acd_control": metrics.acd(probs["control"]),
        "acd_synthetic": metrics.acd(probs["synthetic"]),
        "fid_step1": focd(classifier, images["step1"], real, device),
        "fid_control": focd(classifier, images["control"], real, device),
        "fid_all": focd(classifier, images["synthetic"], real, device),
        "fid_borderline": (focd(classifier, images["synthetic"][band], real, device)
                           if band.sum() >= config.min_fid_images else float("nan")),
    }


def focd(classifier: BinaryCNN, images: np.ndarray, real_features: np.ndarray,
         device: str = "auto") -> float:
    """GASTeN's FOCD: the Fréchet distance between `images` and the real images on the
    classifier's penultimate features (`real_features`, of the pair's training images)."""
    return metrics.frechet_distance(in_batches(classifier.features, images, device=device),
                                    real_features)


def find_patterns(result: SettingResult, config: Config, *, device: str = "auto",
                  progress: bool = True) -> None:
    """Embed the setting's ambiguous synthetic images with its classifier, search UMAP x GMM,
    and keep the best clustering and its prototypes (a seeded sample of at most
    max_cluster_images) in `result`."""
    ambiguous = np.flatnonzero(metrics.in_band(result.synthetic_probs, config.band))
    rng = np.random.default_rng(config.seed)
    if len(ambiguous) > config.max_cluster_images:
        ambiguous = np.sort(rng.choice(ambiguous, config.max_cluster_images, replace=False))
    result.clustered = ambiguous
    empty = {"umap_n_neighbors": None, "umap_min_dist": None, "umap_n_components": None,
             "gmm_k": None, "silhouette": float("nan"), "davies_bouldin": float("nan")}
    try:
        embedding = in_batches(result.classifier.features, result.synthetic[ambiguous],
                               device=device)
        clustering = patterns.search(embedding, config.space, seed=config.seed,
                                     progress=progress)
    except ConfigError as err:  # too few ambiguous images: reported, not hidden
        result.metrics.update(empty, clustering_note=str(err))
        return
    result.clustering = clustering
    result.prototypes = patterns.prototypes(clustering.reduced, clustering.labels)
    result.metrics.update(clustering.settings, silhouette=clustering.silhouette,
                          davies_bouldin=clustering.davies_bouldin)


def summarise(results: Results) -> dict:
    """The record's metrics: per setting ('7v1 nf2'), its metrics; the claims (`judge`)."""
    return {"compared": {r.key: r.metrics for r in results.per_setting},
            "claims": judge(results)}


def judge(results: Results) -> dict[str, dict]:
    """The claims (`papers/ambiguity.yaml`) per setting: GASTeN's ACD against the plain GAN's
    (α = 0) on the same noise, with the intervals of one paired bootstrap of the generated
    images; and our realism threshold, FOCD at most twice the plain GAN's."""
    found: dict[str, dict] = {"closer_to_boundary": {}, "stays_realistic": {}}
    for r in results.per_setting:
        found["closer_to_boundary"][r.key] = intervals.paired_claim(
            {"GASTeN": (r.synthetic_probs,), "plain GAN": (r.control_probs,)}, metrics.acd,
            "GASTeN", ["plain GAN"], better="lower", chance=None, seed=results.config.seed)
        focd_all, control = r.metrics["fid_all"], r.metrics["fid_control"]
        found["stays_realistic"][r.key] = intervals.check(
            focd_all <= 2 * control, f"FOCD {focd_all:.3g}; twice the plain GAN's "
            f"{2 * control:.3g}")
    return found
