"""The glitch bench's detectors, grouped by what they are given: the images alone (the VAE by
the CLSVAE chapter's recipe, DAE, ARAE, the drift chapter's autoencoder, PyOD's k-NN and
Isolation Forest), the images and a trusted set (CLSVAE), the images and their labels with a
clean held-out split (the influence signals, cleanlab). Each scores every image of a case,
higher = more suspicious, and reports its seconds and the training of its models."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from glitchbook import corruption
from glitchbook.methods import clsvae, influence
from glitchbook.models import AUTOENCODERS
from glitchbook.models.conv_autoencoders import build as build_conv_ae
from glitchbook.training import History, fit, in_batches, seeded, tensor_dataset

if TYPE_CHECKING:
    from glitchbook.methods.bench import Case, Config, Prepared

IMAGE_DETECTORS = ("VAE error", "DAE error", "ARAE error", "AE error (drift)", "KNN (PyOD)",
                   "IForest (PyOD)")
CLSVAE_DETECTORS = ("CLSVAE q(dirty)", "CLSVAE NLL")
LABEL_DETECTORS = ("TracIn SI", "GD-class", "CNCI", "PCID", "CFRank", "cleanlab")
DETECTORS = (*CLSVAE_DETECTORS, *IMAGE_DETECTORS, *LABEL_DETECTORS)
SIGNAL_NAMES = {"TracIn SI": "SI", **{s: s for s in ("GD-class", "CNCI", "PCID", "CFRank")}}


@dataclass
class Scores:
    """Detectors' scores of one case's images, their seconds, their models' training."""

    scores: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    histories: list[History] = field(default_factory=list)


def image_scores(config: Config, images: np.ndarray, *, device: str,
                 progress: bool) -> Scores:
    """The detectors that see the images alone: reconstruction errors of a VAE (the CLSVAE
    chapter's recipe), DAE, ARAE and the drift chapter's convolutional AE (each trained on
    these images), and PyOD's k-NN and Isolation Forest on the pixels."""
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN

    started = time.perf_counter()
    none = np.zeros(len(images), bool)
    (vae,), history = clsvae.fit_and_score("VAE", config.vae_recipe, images, none, none,
                                           seed=config.seed, device=device, progress=progress)
    found = Scores({"VAE error": vae}, {"VAE error": time.perf_counter() - started}, [history])
    x = torch.from_numpy(images)
    builders = {"DAE error": lambda: AUTOENCODERS["DAE"](images.shape[1:]),
                "ARAE error": lambda: AUTOENCODERS["ARAE"](images.shape[1:],
                                                           steps=config.arae_steps),
                "AE error (drift)": lambda: build_conv_ae("big", images.shape[1:])}
    for offset, (name, build) in enumerate(builders.items(), 1):
        started = time.perf_counter()
        model = seeded(build, config.seed + offset)
        found.histories.append(fit(model, tensor_dataset(images), epochs=config.ae_epochs,
                                   batch_size=64, device=device, seed=config.seed + offset,
                                   name=name, progress=progress))
        found.scores[name] = in_batches(model.outlier_scores, x, device=device)
        found.seconds[name] = time.perf_counter() - started
    flat = images.reshape(len(images), -1)
    for name, detector in (("KNN (PyOD)", KNN()), ("IForest (PyOD)",
                                                   IForest(random_state=config.seed))):
        started = time.perf_counter()
        found.scores[name] = detector.fit(flat).decision_scores_
        found.seconds[name] = time.perf_counter() - started
    return found


def clsvae_scores(config: Config, case: Case, *, device: str, progress: bool) -> Scores:
    """CLSVAE with its paper's help, a trusted set of `config.trusted` images per stratum
    (each clean class, each kind of bad): q(dirty|x) and the NLL of its clean path."""
    started = time.perf_counter()
    trusted = corruption.trusted_set(case.labels, case.stratum, per_class=config.trusted,
                                     seed=config.seed)
    labelled = np.isin(np.arange(len(case.labels)), trusted.index)
    (q_y, nll), history = clsvae.fit_and_score(
        "CLSVAE", config.vae_recipe, case.images, labelled, case.is_glitch, seed=config.seed,
        dirty_weight=clsvae.dirty_weight(trusted), device=device, progress=progress)
    seconds = time.perf_counter() - started
    return Scores({"CLSVAE q(dirty)": q_y, "CLSVAE NLL": nll},
                  dict.fromkeys(CLSVAE_DETECTORS, seconds), [history])


def label_scores(config: Config, case: Case, prepared: Prepared, *, device: str,
                 progress: bool) -> Scores:
    """The influence signals (TracIn over the checkpoints of the influence chapter's
    classifier, trained on the given labels, against the clean held-out split) and cleanlab's
    label quality on out-of-sample probabilities."""
    setting = influence.Config.for_run(config.dataset, "default", config.seed,
                                       epochs=config.classifier_epochs,
                                       cleanlab_folds=config.cleanlab_folds)
    glitches = corruption.Glitches(case.images, case.labels, case.is_glitch.astype(np.int8),
                                   case.labels)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as checkpoints:
        traced = influence.trace(setting, glitches, prepared.test, name="classifier",
                                 checkpoint_dir=checkpoints, device=device, progress=progress)
    found = Scores({name: traced.scores[signal] for name, signal in SIGNAL_NAMES.items()},
                   dict.fromkeys(SIGNAL_NAMES, time.perf_counter() - started), [traced.history])
    started = time.perf_counter()
    probs, folds = influence.out_of_sample_probs(setting, glitches, case.images.shape[1:],
                                                 len(prepared.train.class_names),
                                                 device=device, progress=progress)
    found.scores["cleanlab"] = influence.label_issues(case.labels, probs)[0]
    found.seconds["cleanlab"] = time.perf_counter() - started
    found.histories += folds
    return found
