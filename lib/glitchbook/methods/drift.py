"""The drift chapter's experiment (uncleDecart/data_drift): three convolutional autoencoders
(small AE, embedding 8; big AE, 32; VAE, 32) trained without labels on one good class. Their
embeddings of good and new-class images are projected with PCA and clustered (k by silhouette);
their reconstruction error flags anomalies of the good class ("camera problems"); and on a
stream of windows four detectors look for the change: the silhouette-k jump, the
reconstruction-error rate, and two-sample tests (MMD, per-dimension KS) on the embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy import stats
from sklearn.metrics import f1_score, roc_auc_score
from tqdm import tqdm

from glitchbook import datasets, drift_analysis, intervals, metrics
from glitchbook.checks import (
    check_choice,
    check_choices,
    check_classes,
    check_fraction,
    check_positive,
    check_range,
)
from glitchbook.config import MethodConfig
from glitchbook.corruption import CAMERA_FAULTS, camera_faults
from glitchbook.errors import ConfigError
from glitchbook.models.conv_autoencoders import DRIFT_MODELS, ConvAE, build
from glitchbook.training import (
    History,
    fit,
    in_batches,
    progress_interval,
    seeded,
    tensor_dataset,
)

DETECTORS = ("silhouette k", "error rate", "MMD", "KS")
# The authors' DBSCAN settings (eps, min_samples) for the 8- and 32-dimensional codes.
DBSCAN = {"small": dict(eps=2.5, min_samples=10), "big": dict(eps=5.0, min_samples=20),
          "vae": dict(eps=5.0, min_samples=20)}
STREAMS = {"new class": drift_analysis.NEW, "anomalies": drift_analysis.ANOMALY}


@dataclass(frozen=True)
class Config(MethodConfig):
    """One drift-chapter run: one dataset, one good class and one new class, every model."""

    method: ClassVar[str] = "drift"
    models: tuple[str, ...] = tuple(DRIFT_MODELS)
    good_class: int = 1
    new_class: int = 7
    image_size: int = 0  # resize to this (MVTec); 0 = as loaded
    # training, on the good class only
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-5
    train_fraction: float = 0.6  # of the good class; the rest is split into calibration/stream
    # clustering and the anomaly threshold
    k_max: int = drift_analysis.K_MAX
    percentile: float = 99.0  # of the calibration images' errors
    fault: str = "mixed"  # the generated camera faults
    strength: float = 1.0
    # the stream and its detectors
    windows: int = 20
    window_size: int = 50
    change_at: int = 10
    share: float = 0.3  # of each window's images drifted from `change_at` on
    alpha: float = 0.05
    permutations: int = 200

    @classmethod
    def presets(cls, dataset: str, options: dict[str, Any]) -> dict[str, dict]:
        mvtec = datasets.entry(dataset).source == "mvtec"
        return {"smoke": dict(epochs=3, windows=8, change_at=4, window_size=30,
                              permutations=50, k_max=4),
                "default": dict(windows=12, change_at=6),
                "paper": dict(epochs=200, image_size=64 if mvtec else 0)}

    def check(self, info: datasets.DatasetInfo) -> None:
        check_choices(self.models, tuple(DRIFT_MODELS), "model")
        check_classes((self.good_class, self.new_class), info.n_classes, self.dataset)
        if self.good_class == self.new_class:
            raise ConfigError("good_class and new_class must differ")
        check_positive(epochs=self.epochs, windows=self.windows, window_size=self.window_size)
        check_fraction(self.train_fraction, "train_fraction")
        check_fraction(self.share, "share")
        check_fraction(self.alpha, "alpha")
        check_range(self.percentile, 0, 100, "percentile")
        check_range(self.change_at, 1, self.windows - 1, "change_at")
        check_choice(self.fault, ("mixed", *CAMERA_FAULTS), "camera fault")
        check_positive(strength=self.strength, permutations=self.permutations)


def from_parameters(dataset: str, profile: str = "default", seed: int = 0, *,
                    model: str | None = None, good_class: int | None = None,
                    new_class: int | None = None, epochs: int | None = None) -> Config:
    """The config of a notebook run from its parameters (`model` one of small, big, vae;
    None: all three, or the profile's preset)."""
    return Config.for_run(dataset, profile, seed, models=None if model is None else (model,),
                          good_class=good_class, new_class=new_class, epochs=epochs)


@dataclass(frozen=True)
class Prepared:
    """The good class split three ways, the new class, and the anomalies of the good class."""

    train: np.ndarray
    calibration: np.ndarray  # threshold and reference sample of the good class
    good: np.ndarray  # held-out good images: evaluation and stream
    new: np.ndarray
    anomalies: np.ndarray
    class_names: tuple[str, str]


def prepare(config: Config) -> Prepared:
    """Load the dataset, split the good class (seeded) and make its anomalies: MVTec's own
    defect images when the dataset is MVTec AD, else generated camera faults."""
    options = {"size": config.image_size} if config.image_size else {}
    data = datasets.load(config.dataset, **options)
    rng = np.random.default_rng(config.seed)
    good = data.images[data.labels == config.good_class]
    good = good[rng.permutation(len(good))]
    n_train = int(config.train_fraction * len(good))
    n_cal = (len(good) - n_train) // 2
    held_out = good[n_train + n_cal:]
    anomalies = datasets.defects(config.dataset, data.class_names[config.good_class],
                                 size=data.shape[-1])
    if anomalies is None:
        anomalies = camera_faults(held_out, config.fault, strength=config.strength,
                                  seed=config.seed)
    return Prepared(good[:n_train], good[n_train:n_train + n_cal], held_out,
                    data.images[data.labels == config.new_class], anomalies,
                    (data.class_names[config.good_class], data.class_names[config.new_class]))


@dataclass
class ModelResult:
    """One autoencoder: its metrics, and what the figures show."""

    name: str
    model: ConvAE
    history: History
    metrics: dict[str, float]
    projection: drift_analysis.Projection  # of the held-out good and new-class images
    truth: np.ndarray  # 0 good, 1 new class, for the projection's points
    clusters: np.ndarray
    silhouettes: dict[int, float]
    threshold: float
    errors: dict[str, np.ndarray]  # good / new class / anomalies
    streams: dict[str, dict] = field(default_factory=dict)  # per stream: statistics and alarms


def run_model(config: Config, prepared: Prepared, name: str, *, device: str = "auto",
              progress: bool = True) -> ModelResult:
    """Train one autoencoder and measure it: clustering, anomaly flags, stream detectors."""
    model = seeded(lambda: build(name, prepared.train.shape[1:]), config.seed)
    history = fit(model, tensor_dataset(prepared.train), epochs=config.epochs,
                  batch_size=config.batch_size, lr=config.lr,
                  weight_decay=config.weight_decay, device=device, seed=config.seed,
                  name=f"{name} {type(model).__name__}", progress=progress)
    new = prepared.new[:len(prepared.good)]
    embeddings = in_batches(model.embed, np.concatenate([prepared.good, new]), device=device)
    truth = np.r_[np.zeros(len(prepared.good), int), np.ones(len(new), int)]
    projection = drift_analysis.project(embeddings)
    k, silhouettes, clusters = drift_analysis.silhouette_k(projection, config.k_max,
                                                           seed=config.seed)
    sets = {"calibration": prepared.calibration, "good": prepared.good, "new class": new,
            "anomalies": prepared.anomalies}
    errors = {part: in_batches(model.outlier_scores, images, device=device)
              for part, images in sets.items()}
    threshold = drift_analysis.error_threshold(errors.pop("calibration"), config.percentile)
    is_anomaly = np.r_[np.zeros(len(errors["good"])), np.ones(len(errors["anomalies"]))]
    scores = np.r_[errors["good"], errors["anomalies"]]
    found = {
        "explained_variance": projection.explained_variance,
        "k_silhouette": k, "k_true": 2,
        "k_bic": drift_analysis.bic_k(projection.points, config.k_max, seed=config.seed),
        "k_dbscan": drift_analysis.dbscan_k(projection.scaled, **DBSCAN[name]),
        "anomaly_f1": float(f1_score(is_anomaly, scores > threshold)),
        "anomaly_auroc": float(roc_auc_score(is_anomaly, scores)),
        "good_error": float(errors["good"].mean()),
        "final_loss": history.losses[-1],
    }
    result = ModelResult(name, model, history, found, projection, truth, clusters, silhouettes,
                         threshold, errors)
    reference = in_batches(model.embed, prepared.calibration, device=device)
    for stream_name, kind in STREAMS.items():
        pool = prepared.new if kind == drift_analysis.NEW else prepared.anomalies
        stream = drift_analysis.make_stream(prepared.good, pool, kind, windows=config.windows,
                                   size=config.window_size, change_at=config.change_at,
                                   share=config.share, seed=config.seed)
        result.streams[stream_name] = monitor(model, stream, reference, threshold, config,
                                              device=device, progress=progress,
                                              name=f"{name}, {stream_name}")
        for detector in DETECTORS:
            delay, false_alarms = drift_analysis.delay_and_false_alarms(
                result.streams[stream_name]["alarms"][detector], stream.change_at)
            found[detector_key("delay", stream_name, detector)] = delay
            found[detector_key("false_alarms", stream_name, detector)] = false_alarms
    model.cpu()  # the notebook reads it on the CPU, as the other chapters leave their models
    return result


def detector_key(measure: str, stream: str, detector: str) -> str:
    """The record's name for a detector's `delay` or `false_alarms` on a stream."""
    return f"{measure}_{stream}_{detector}".replace(" ", "_")


def monitor(model: ConvAE, stream: drift_analysis.Stream, reference: np.ndarray, threshold: float,
            config: Config, *, device: str = "auto", progress: bool = True,
            name: str = "stream") -> dict:
    """Each detector's statistic and alarm on every window of `stream`: the number of
    clusters by silhouette on the reference plus the window (alarm when it changes from the
    previous window, as the authors), the share of windows' images above the error threshold
    (alarm when a binomial test rejects the expected 1 - percentile share), and the p-values of
    MMD and KS tests of the window's embeddings against the reference (alarm below alpha)."""
    expected = 1 - config.percentile / 100
    statistics = {d: [] for d in DETECTORS}
    for images in tqdm(stream.images, desc=name, unit="window", disable=not progress,
                       mininterval=progress_interval()):
        embedded = in_batches(model.embed, images, device=device)
        joint = drift_analysis.project(np.concatenate([reference, embedded]))
        statistics["silhouette k"].append(drift_analysis.silhouette_k(joint, config.k_max,
                                                             seed=config.seed)[0])
        flagged = int((in_batches(model.outlier_scores, images, device=device) > threshold).sum())
        statistics["error rate"].append(stats.binomtest(flagged, len(images), expected,
                                                        alternative="greater").pvalue)
        statistics["MMD"].append(drift_analysis.mmd_test(reference, embedded,
                                                permutations=config.permutations,
                                                seed=config.seed))
        statistics["KS"].append(drift_analysis.ks_test(reference, embedded))
    ks = np.array(statistics["silhouette k"])
    alarms = {"silhouette k": np.r_[False, ks[1:] != ks[:-1]]}
    for detector in DETECTORS[1:]:
        alarms[detector] = np.array(statistics[detector]) < config.alpha
    return {"statistics": {d: np.array(v) for d, v in statistics.items()}, "alarms": alarms,
            "change_at": stream.change_at, "kinds": stream.kinds}


@dataclass
class Results:
    """Every autoencoder of the run, trained and measured."""

    config: Config
    per_model: list[ModelResult]

    @property
    def histories(self) -> list[History]:
        return [r.history for r in self.per_model]

    @property
    def per_image(self) -> dict[str, np.ndarray]:
        """Each model's reconstruction error of each held-out good, new-class and anomalous
        image."""
        return {f"{r.name}/{part}": e for r in self.per_model for part, e in r.errors.items()}


def run(config: Config, prepared: Prepared, *, device: str = "auto",
        progress: bool = True) -> Results:
    """Every model of `config` in turn (`run_model`)."""
    return Results(config, [run_model(config, prepared, name, device=device, progress=progress)
                            for name in config.models])


def summarise(results: Results) -> dict:
    """The record's metrics: per model, its metrics; and each claim of the reference (`judge`)."""
    return {"compared": {r.name: r.metrics for r in results.per_model},
            "claims": judge(results)}


def judge(results: Results) -> dict[str, dict]:
    """The reference's claims (`papers/drift.yaml`), checked on these runs: those about every
    model per model; anomaly AUROC against chance and the big AE's error on unseen good images
    against the small one's with the intervals of a paired bootstrap of the images."""
    by, seed = {r.name: r for r in results.per_model}, results.config.seed
    auroc = intervals.undefined_as_nan(metrics.auroc)
    found: dict[str, dict] = {key: {} for key in (
        "pca_keeps_most_variance", "silhouette_finds_the_new_class", "error_flags_anomalies",
        "dbscan_worse_than_kmeans")}
    for name, r in by.items():
        m = r.metrics
        found["pca_keeps_most_variance"][name] = intervals.check(
            m["explained_variance"] >= 0.7, f"{m['explained_variance']:.0%} kept")
        found["silhouette_finds_the_new_class"][name] = intervals.check(
            m["k_silhouette"] == m["k_true"], f"k = {m['k_silhouette']} (truth {m['k_true']})")
        found["dbscan_worse_than_kmeans"][name] = intervals.check(
            abs(m["k_dbscan"] - m["k_true"]) >= abs(m["k_silhouette"] - m["k_true"]),
            f"DBSCAN {m['k_dbscan']}, k-means {m['k_silhouette']}")
        truth = np.r_[np.zeros(len(r.errors["good"])), np.ones(len(r.errors["anomalies"]))]
        scores = np.r_[r.errors["good"], r.errors["anomalies"]]
        spread = intervals.resampled(lambda rows, t=truth, s=scores: auroc(t[rows], s[rows]),
                                   intervals.bootstrap_indices(len(truth), seed=seed))
        found["error_flags_anomalies"][name] = intervals.compare(
            {name: auroc(truth, scores), "chance": 0.5},
            {name: spread, "chance": np.full(len(spread), 0.5)}, name, ["chance"],
            better="higher", chance=None)
    if {"small", "big"} <= by.keys():
        found["big_generalises_better_than_small"] = {"": intervals.paired_claim(
            {n: (by[n].errors["good"],) for n in ("big", "small")}, np.mean, "big", ["small"],
            better="lower", chance=None, seed=seed)}
    if {"big", "vae"} <= by.keys():
        big, vae = by["big"].metrics, by["vae"].metrics
        gap = abs(vae["anomaly_auroc"] - big["anomaly_auroc"])
        found["vae_like_big"] = {"": intervals.check(
            vae["k_silhouette"] == big["k_silhouette"] and gap < 0.05,
            f"k {vae['k_silhouette']} and {big['k_silhouette']}; AUROC gap {gap:.3f}")}
    return found
