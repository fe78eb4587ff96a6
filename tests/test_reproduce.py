"""The reproduce box: commands that make a run again, and what it ran on."""

import shlex
from pathlib import Path

import nbformat

from glitchbook.run import plan, reproduce
from glitchbook.run.records import RunRecord

ROOT = Path(__file__).resolve().parents[1]


def _record(**extra) -> RunRecord:
    return RunRecord(method="ambiguity", dataset="mnist", profile="paper", seed=0,
                     device="cpu", config={}, config_hash="83dfc3cf448d492d",
                     timings={"wall_seconds": 1780.19, "kernel_peak_rss_mb": 1629.0},
                     commit="01b9fe0c0a66", machine="x86_64, 2 CPU cores",
                     options={"pair": "5v3", "nf": 1}, **extra)


def test_the_commands_name_the_run_its_seeds_and_its_parameters():
    record = _record()
    assert reproduce.run_command(record, [0, 1]) == (
        "glitchbook run --methods ambiguity --datasets mnist --profile paper --seeds 0,1 "
        "--device cpu -p pair=5v3 -p nf=1")
    words = shlex.split(reproduce.papermill_command(record))
    assert words[:3] == ["papermill", "notebooks/ambiguity.ipynb",
                         "book/runs/ambiguity/mnist_nf-1_pair-5v3.ipynb"]
    given = dict(zip(words[4::3], words[5::3], strict=True))
    assert given == {"dataset": "mnist", "profile": "paper", "device": "cpu", "seed": "0",
                     "run_dir": "book/runs/ambiguity/mnist_nf-1_pair-5v3", "pair": "5v3",
                     "nf": "1"}
    assert set(given) <= set(plan.notebook_parameters(ROOT / "notebooks/ambiguity.ipynb"))


def test_the_box_is_a_collapsed_admonition_with_what_the_run_ran_on():
    box = reproduce.box(_record())
    assert box.startswith("````{admonition} Reproduce this run\n:class: dropdown\n")
    assert box.rstrip().endswith("````")
    for text in ("commit: `01b9fe0c0a66`", "config hash: `83dfc3cf448d492d`",
                 "device: `cpu` (x86_64, 2 CPU cores)", "wall time: 29 min 40 s",
                 "kernel: 1.6 GB", "torch "):
        assert text in box
    several = reproduce.box(_record(), seeds=[0, 1, 2])
    assert "Reproduce these runs" in several and "--seeds 0,1,2" in several
    assert "`-p seed N` for 0, 1, 2" in several


def test_launch_links_and_every_templates_install_cell_name_the_books_repository(tmp_path):
    links = reproduce.launch_links(ROOT, "arae")
    assert set(links) == {"Binder", "Colab"}
    assert links["Colab"].endswith("/blob/main/notebooks/arae.ipynb")
    slug = links["Binder"].split("/gh/")[1].split("/")[:2]
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        install = nbformat.read(notebook, as_version=4).cells[1]
        assert "install" in install.metadata.get("tags", []), notebook.name
        assert f"git+https://github.com/{'/'.join(slug)}" in install.source, notebook.name
    (tmp_path / "_config.yml").write_text("title: x\n")
    assert reproduce.launch_links(tmp_path, "arae") == {}  # no repository: no links


def test_the_citation_file_and_the_intro_agree_on_version_and_repository():
    import tomllib

    import yaml

    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert citation["version"] == version and citation["cff-version"] == "1.2.0"
    assert citation["repository-code"] == yaml.safe_load(
        (ROOT / "_config.yml").read_text())["repository"]["url"]
    intro = (ROOT / "book/intro.md").read_text()
    assert "## How to cite" in intro and f"version = {{{version}}}" in intro
