"""The library's layout: three wings beside the papers' algorithms and the small shared modules,
and imports that point one way (cli -> pages -> run -> methods -> the rest)."""

import ast
from pathlib import Path

import glitchbook

PACKAGE = Path(glitchbook.__file__).resolve().parent
LAYERS = {"cli": 4, "pages": 3, "run": 2, "methods": 1}  # every other module: 0


def _layer(module: str) -> int:
    """The layer of `glitchbook.<part>...` by its first part."""
    return LAYERS.get(module.split(".")[1] if "." in module else "", 0)


def _imports(path: Path) -> set[str]:
    """The glitchbook modules `path` imports (`from glitchbook import x` as glitchbook.x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                "glitchbook"):
            names = [f"{node.module}.{a.name}" for a in node.names] if (
                node.module == "glitchbook") else [node.module]
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("glitchbook"))
    return found


def test_the_library_has_three_wings_and_a_small_top_level():
    assert {"datasets", "run", "pages"} <= {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    assert len(list(PACKAGE.glob("*.py"))) <= 15


def test_imports_point_one_way_and_the_run_wing_never_imports_a_page():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = "glitchbook." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for imported in _imports(path):
            if _layer(imported) > _layer(module):
                upward.append(f"{module} imports {imported}")
    assert not upward
    assert _layer("glitchbook.run.plan") < _layer("glitchbook.pages.results")  # the rule itself


def test_the_published_runs_stay_small_and_keep_no_weights():
    published = PACKAGE.parents[1] / "book/published"
    files = [p for p in published.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 20 * 2**20
    assert not [p for p in files if p.suffix in (".pt", ".pth", ".ckpt")]
