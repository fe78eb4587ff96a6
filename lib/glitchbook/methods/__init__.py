"""The book's methods: for each, its notebook, its datasets per profile and its paper's numbers.

A chapter plugs in by adding its entry here; the runner, results pages and CLI read this table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from glitchbook.errors import ConfigError


@dataclass(frozen=True)
class Method:
    """A chapter's method: `notebooks/<name>.ipynb`, `papers/<name>.yaml` (when it has a
    paper), its dataset matrix."""

    name: str
    title: str
    datasets: dict[str, tuple[str, ...]]  # profile -> datasets of the matrix
    paper: bool = True  # False: no paper to compare with (the bench), no papers/<name>.yaml

    @property
    def notebook(self) -> str:
        return f"notebooks/{self.name}.ipynb"

    @property
    def module(self) -> ModuleType:
        """`glitchbook.methods.<name>`: its `from_parameters` turns the notebook's parameters
        into the checked config."""
        return importlib.import_module(f"glitchbook.methods.{self.name}")


MNIST_5K = {"smoke": ("mnist-5k",), "default": ("mnist-5k",)}  # the bundled MNIST digits
PAPERS_DATA = ("mnist", "fashion-mnist")

METHODS: dict[str, Method] = {method.name: method for method in (
    Method("clsvae", "CLSVAE: repairing systematic outliers",
           {"smoke": ("digits", "shapes"), "default": ("mnist-5k", "shapes"),
            "paper": ("fashion-mnist", "frey-faces", "shapes")}),
    Method("arae", "ARAE: adversarially robust autoencoders for novelty detection",
           {"smoke": ("digits",), "default": ("mnist-5k",), "paper": PAPERS_DATA}),
    Method("ambiguity", "Ambiguity: GASTeN and patterns at the decision boundary",
           {**MNIST_5K, "paper": PAPERS_DATA}),
    Method("drift", "Drift: autoencoder embeddings for new classes and anomalies",
           {**MNIST_5K, "paper": ("fashion-mnist",)}),
    Method("influence", "Influence: glitch discovery with TracIn signals",
           {"smoke": ("digits",), "default": ("mnist-5k",), "paper": PAPERS_DATA}),
    Method("bench", "The glitch bench: every detector on every kind of bad data",
           {**MNIST_5K, "paper": ("fashion-mnist", "mnist")}, paper=False),
)}


def get(name: str) -> Method:
    """The method called `name`, or a ConfigError listing the known ones."""
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; known methods: {', '.join(METHODS)}")
    return METHODS[name]
