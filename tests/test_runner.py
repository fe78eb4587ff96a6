"""The papermill runner, resume rule, failures, the CLI and a smoke build of the book."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from glitchbook import ConfigError, intervals, methods, papers
from glitchbook.cli import main
from glitchbook.methods import bench
from glitchbook.pages import verdicts
from glitchbook.run import execute, matrix, plan, records

pytestmark = pytest.mark.slow


PAPERS = [name for name, entry in methods.METHODS.items() if entry.paper]


def _planned(spec: plan.RunSpec, root: Path) -> plan.PlannedRun:
    """A run located as the plan locates it, without the checks (for runs made by hand)."""
    notebook, run_dir = plan.paths(spec, root)
    return plan.PlannedRun(spec, methods.get(spec.method).module.Config(), root,
                           root / methods.get(spec.method).notebook, notebook, run_dir, "key",
                           plan.run_title(spec))


def test_a_run_executes_the_notebook_and_writes_its_record(smoke_matrix):
    outcome = smoke_matrix["clsvae/digits"]
    assert outcome.status == "ok", outcome.error
    out, run_dir = outcome.run.notebook, outcome.run.run_dir
    record = records.load(run_dir)
    assert record.status == "ok" and record.run_key and record.device == "cpu"
    assert set(record.metrics["compared"]) == {"VAE", "CVAE", "VAE-GMM", "CCVAE", "CLSVAE",
                                               "no repair"}
    assert record.timings["wall_seconds"] > 0 and record.timings["kernel_peak_rss_mb"] > 0
    notebook = nbformat.read(out, as_version=4)
    assert notebook.cells[0].source.startswith("# CLSVAE on digits (smoke profile)")
    box = notebook.cells[1].source  # the reproduce box, under the title
    assert box.startswith("````{admonition} Reproduce this run") and record.commit in box
    assert "glitchbook run --methods clsvae --datasets digits --profile smoke" in box
    assert any(o.get("output_type") == "display_data" for c in notebook.cells
               for o in c.get("outputs", []))  # figures are in the executed notebook
    assert {p.name for p in (run_dir / "figures").iterdir()} >= {"repairs.png", "patterns.png"}
    streams = [o["text"] for c in notebook.cells for o in c.get("outputs", [])
               if o.get("output_type") == "stream"]
    assert streams and not any("\r" in text for text in streams)  # progress bars settled


@pytest.mark.parametrize("name", list(methods.METHODS))
def test_papermill_reads_every_parameter_of_each_notebook(root, name):
    import papermill

    cell = next(c for c in nbformat.read(root / f"notebooks/{name}.ipynb", as_version=4).cells
                if "parameters" in c.get("metadata", {}).get("tags", []))
    declared = {line.split("=")[0].strip() for line in cell.source.splitlines()
                if "=" in line and not line.startswith("#")}
    assert set(papermill.inspect_notebook(str(root / f"notebooks/{name}.ipynb"))) == declared


def test_jobs_auto_gives_each_run_two_cores():
    assert [matrix.auto_jobs(cores) for cores in (1, 2, 3, 4, 16)] == [1, 1, 1, 2, 8]
    assert matrix.auto_jobs(16, runs=3) == 3  # never more workers than runs


def test_settled_streams_keep_a_progress_bars_last_state():
    outputs = [nbformat.v4.new_output("stream", name="stderr", text="\rfit:  0%"),
               nbformat.v4.new_output("stream", name="stderr", text="\rfit: 50%\rfit: 100%\n"),
               nbformat.v4.new_output("display_data", data={"text/plain": "figure"}),
               nbformat.v4.new_output("stream", name="stdout", text="done\r\nnext\n")]
    settled = execute.settle_streams(outputs)
    assert [o["text"] for o in settled if o["output_type"] == "stream"] == [
        "fit: 100%\n", "done\nnext\n"]
    assert len(settled) == 3


def test_the_live_line_is_the_latest_line_a_notebook_wrote():
    shown = []
    stream = execute._LastLine(shown.append)
    for text in ("loading\n", "\rfit:  10%", "\rfit:  50%|##   | 5/10\r", "\n", "done\r\n"):
        stream.write(text)
    assert shown == ["loading", "fit:  10%", "fit:  50%|##   | 5/10", "done"]


def test_every_run_judges_its_papers_claims_and_keeps_its_per_image_scores(smoke_matrix):
    for label, outcome in smoke_matrix.items():
        method = outcome.spec.method
        assert outcome.status == "ok", (label, outcome.error)
        scores = records.read_scores(outcome.run.run_dir)
        assert scores and all(len(v) for v in scores.values()), label
        if not methods.get(method).paper:
            continue
        claims = records.load(outcome.run.run_dir).metrics["claims"]
        judged = verdicts.judge(papers.load(method), claims)
        assert {j.claim["id"] for j in judged} == {c["id"] for c in papers.load(method)["claims"]}
        assert all(j.verdict in intervals.VERDICTS and j.reason for j in judged), label
    clsvae = records.read_scores(smoke_matrix["clsvae/digits"].run.run_dir)
    assert clsvae["truth"].dtype == bool and clsvae["CLSVAE/q_y"].dtype == np.float32


def test_the_report_lists_every_claim_of_the_five_papers(built_book):
    html = (built_book / "_build/html/book/report.html").read_text()
    for method in PAPERS:
        for number, claim in enumerate(papers.load(method)["claims"], 1):
            assert f"Claim {number}." in html and claim["text"][:40] in html.replace(
                "&#8217;", "'").replace("’", "'"), (method, number)
    intro = (built_book / "_build/html/book/intro.html").read_text().replace("’", "'")
    count = (built_book / "book/runs/results/verdicts.md").read_text().strip()
    assert count.startswith("Of the ") and count.split(",")[0] in intro


def test_the_arae_notebook_runs_every_model_and_the_baseline(smoke_matrix):
    outcome = smoke_matrix["arae/digits"]
    assert outcome.status == "ok", outcome.error
    record = records.load(outcome.run.run_dir)
    assert set(record.metrics["compared"]) == {"AE", "DAE", "ARAE", "KNN (PyOD)"}
    assert record.metrics["arae_dae_time_ratio"] > 1
    for model in record.metrics["compared"].values():
        assert 0.5 < model["auroc_mean"] <= 1.0


def test_the_influence_notebook_scores_every_signal_for_every_glitch_type(smoke_matrix):
    outcome = smoke_matrix["influence/digits"]
    assert outcome.status == "ok", outcome.error
    record = records.load(outcome.run.run_dir)
    assert set(record.metrics["compared"]) >= {"SI", "CNCI", "PCID", "CFRank", "cleanlab",
                                               "cleanlab, own k", "cleanlab, in-sample"}
    for scores in record.metrics["compared"].values():
        assert set(scores) == {"f1_uniform", "f1_class", "f1_anomaly", "f1_mixed"}
    assert 0 <= record.metrics["characterisation"]["mixed"] <= 1


def test_the_ambiguity_notebook_measures_and_clusters_each_setting(smoke_matrix):
    outcome = smoke_matrix["ambiguity/mnist-5k"]
    assert outcome.status == "ok", outcome.error
    run_dir = outcome.run.run_dir
    record = records.load(run_dir)
    setting = record.metrics["compared"]["7v1 nf1"]
    assert 0 <= setting["acd_synthetic"] <= 0.5 and setting["fid_all"] >= 0
    assert setting["gmm_k"] in (3, 4) and -1 <= setting["silhouette"] <= 1
    assert {p.name for p in (run_dir / "figures").iterdir()} >= {
        "confidence_7v1_nf1.png", "ambiguous_7v1_nf1.png", "prototypes_7v1_nf1.png"}


def test_the_drift_notebook_runs_three_autoencoders_and_checks_the_claims(smoke_matrix):
    outcome = smoke_matrix["drift/mnist-5k"]
    assert outcome.status == "ok", outcome.error
    run_dir = outcome.run.run_dir
    record = records.load(run_dir)
    assert set(record.metrics["compared"]) == {"small", "big", "vae"}
    assert set(record.metrics["claims"]) >= {"silhouette_finds_the_new_class",
                                             "big_generalises_better_than_small"}
    assert set(record.metrics["claims"]["error_flags_anomalies"]) == {"small", "big", "vae"}
    assert {p.name for p in (run_dir / "figures").iterdir()} >= {
        "reconstructions.png", "pca_big.png", "silhouette.png", "stream_new_class_vae.png"}


def test_the_bench_notebook_scores_every_kind_with_every_detector(smoke_matrix):
    outcome = smoke_matrix["bench/mnist-5k"]
    assert outcome.status == "ok", outcome.error
    record = records.load(outcome.run.run_dir)
    assert record.metrics["kinds"] == list(bench.KINDS) == record.config["kinds"]
    assert set(record.metrics["compared"]) == set(bench.DETECTORS)
    missing = record.metrics["missing"]
    for detector, row in record.metrics["compared"].items():
        for kind in bench.KINDS:
            for measure in ("auroc", "avpr", "f1"):
                value = row.get(f"{measure}_{kind}")
                assert value is not None, f"{detector}: no {measure} on {kind}"
                assert math.isfinite(value) or missing.get(f"{detector} on {kind}"), (
                    f"{detector} on {kind}: {measure} {value} with no reason given")
    assert record.timings["train_seconds"] > 0  # every model's training is in the record


def test_completed_runs_are_skipped_unless_forced(smoke_matrix, book_root, monkeypatch):
    spec = smoke_matrix["clsvae/digits"].spec
    (run,) = plan.plan([spec], book_root)
    assert run == smoke_matrix["clsvae/digits"].run  # planned again: the same run and key
    assert execute.execute(run).status == "skipped" and plan.is_done(run)
    monkeypatch.setattr(plan, "library_fingerprint", lambda: "a changed library")
    assert not plan.is_done(plan.plan([spec], book_root)[0])
    monkeypatch.undo()
    changed = plan.RunSpec(spec.method, spec.dataset, spec.profile, seed=1, device="cpu")
    assert plan.is_done(plan.plan([changed], book_root)[0]) is False


def test_the_run_key_covers_every_wing_of_the_library(monkeypatch, tmp_path):
    import glitchbook

    package = tmp_path / "glitchbook"
    for wing in ("run", "pages", "datasets", "methods"):
        (package / wing).mkdir(parents=True)
        (package / wing / "module.py").write_text("x = 1\n")
    (package / "__init__.py").write_text("")
    monkeypatch.setattr(glitchbook, "__file__", str(package / "__init__.py"))
    before = plan.library_fingerprint()
    for wing in ("run", "pages", "datasets", "methods"):
        (package / wing / "module.py").write_text("x = 2\n")
        assert plan.library_fingerprint() != before, wing
        before = plan.library_fingerprint()


def test_a_cell_past_its_time_limit_becomes_a_failed_record(book_root, monkeypatch):
    monkeypatch.setitem(execute.CELL_TIMEOUT, "smoke", 1)
    (run,) = plan.plan([plan.RunSpec("clsvae", "shapes", "smoke", device="cpu")], book_root)
    outcome = execute.execute(run)
    assert outcome.status == "failed" and "Timeout" in outcome.error
    assert records.load(run.run_dir).status == "failed"
    shutil.rmtree(run.run_dir)
    run.notebook.unlink(missing_ok=True)


def test_unknown_parameters_are_refused_before_anything_runs(book_root):
    spec = plan.RunSpec("clsvae", "digits", "smoke", options={"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="unknown parameter.*learning_rate"):
        matrix.run_matrix([spec], book_root, progress=False)


def test_a_second_seed_is_a_run_and_a_page_of_its_own(smoke_matrix, book_root, capfd):
    code = main(["run", "--methods", "drift", "--profile", "smoke", "--seeds", "0,1",
                 "--device", "cpu", "--root", str(book_root), "--quiet"])
    printed = capfd.readouterr()
    assert code == 0 and "1 ok, 1 skipped, 0 failed" in printed.out
    assert "Kernel is running" not in printed.err  # the kernel's start-up notices stay quiet
    out, run_dir = plan.paths(plan.RunSpec("drift", "mnist-5k", "smoke", seed=1), book_root)
    assert out.name == "mnist-5k_seed1.ipynb" and records.load(run_dir).seed == 1
    assert nbformat.read(out, as_version=4).cells[0].source.startswith(
        "# Drift on mnist-5k (smoke profile, seed 1)")
    page = (book_root / "book/runs/results/drift.md").read_text()
    assert "mean ± sd over seeds 0, 1" in page and " ± " in page.split("seeds 0, 1")[1]


def test_smoke_book_build_contains_the_results_table(smoke_matrix, built_book):
    book_root = built_book
    html = (book_root / "_build/html/book/clsvae/results.html").read_text()
    assert "AVPR (image)" in html and "CLSVAE" in html and "Claim 2." in html
    assert "<table" in html
    run_page = (book_root / "_build/html/book/runs/influence/digits.html").read_text()
    assert "<table" in run_page and "cleanlab, own k" in run_page  # tables in cell outputs
    arae_html = (book_root / "_build/html/book/arae/results.html").read_text()
    assert "AUROC per normal class" in arae_html and "KNN (PyOD)" in arae_html
    influence_html = (book_root / "_build/html/book/influence/results.html").read_text()
    assert "F1 anomalies" in influence_html and "CFRank" in influence_html
    ambiguity_html = (book_root / "_build/html/book/ambiguity/results.html").read_text()
    assert "Table 3" in ambiguity_html and "7v1 nf1" in ambiguity_html
    assert "paper FID (Inception)" in ambiguity_html  # never in our FD column
    drift_html = (book_root / "_build/html/book/drift/results.html").read_text()
    assert "detection delay" in drift_html and "Claim 6." in drift_html
    summary = records.load(smoke_matrix["clsvae/digits"].run.run_dir)
    best = max(summary.metrics["compared"].values(), key=lambda m: m.get("avpr_row", 0))
    assert f"{best['avpr_row']:.4f}" in html  # the page shows the recorded numbers
    assert "no repair" in html  # the error of leaving the dirty pixels as they are
    for method in PAPERS:
        page = (book_root / f"_build/html/book/{method}/results.html").read_text()
        assert "Where we depart from the paper" in page and "admonition" in page, method


def test_no_path_of_the_build_machine_reaches_the_built_book(built_book, root):
    prefixes = {str(built_book), str(root), sys.prefix}
    leaks = [f"{path.relative_to(built_book)}: {prefix}"
             for path in (built_book / "_build/html").rglob("*")
             if path.suffix in (".html", ".ipynb", ".md", ".txt", ".js", ".csv")
             for prefix in prefixes if prefix in path.read_text(errors="replace")]
    assert not leaks


def test_a_published_run_keeps_notebook_record_and_figures_and_shows_in_the_book(built_book):
    folder = built_book / "book/published/drift"
    record = records.load(folder / "mnist-5k")
    assert record.published and record.machine and record.device == "cpu"
    assert record.commit == records.git_commit(Path(matrix.__file__).parent)  # a copied root
    assert record.timings["wall_seconds"] > 0
    assert (folder / "mnist-5k.ipynb").exists()
    kept = {p.suffix for p in (folder / "mnist-5k").rglob("*") if p.is_file()}
    assert ".png" in kept
    page = (built_book / "book/runs/results/drift.md").read_text()
    assert "## mnist-5k (smoke, published)\n" in page
    assert f"commit `{record.commit}`, device `cpu`" in page
    html = built_book / "_build/html/book/published/drift/mnist-5k.html"
    assert html.exists() and "<table" in html.read_text()


def test_publishing_leaves_checkpoints_behind_and_refuses_a_failed_run(tmp_path):
    run = _planned(plan.RunSpec("influence", "digits", "paper"), tmp_path)
    out, run_dir = run.notebook, run.run_dir
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints/checkpoint-1.pt").write_bytes(b"weights")
    (run_dir / "figures").mkdir()
    (run_dir / "figures/ranks.png").write_bytes(b"png")
    out.write_text(json.dumps({"run_dir": str(run_dir.resolve())}))
    records.write(run_dir, records.RunRecord("influence", "digits", "paper", 0, "cuda", {}, "h",
                                             commit="abc", machine="x86_64, 16 CPU cores"))
    dest = execute.publish(run)
    assert dest == tmp_path / "book/published/influence/digits"
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "figures/ranks.png", "record.json"]
    assert json.loads((dest.parent / "digits.ipynb").read_text()) == {
        "run_dir": "book/runs/influence/digits"}  # no path of the machine that made it
    assert records.load(dest).published and records.load(dest).device == "cuda"
    records.write(run_dir, records.RunRecord("influence", "digits", "paper", 0, "cpu", {}, "h",
                                             status="failed", error="boom"))
    with pytest.raises(ConfigError, match="no completed run to publish: boom"):
        execute.publish(run)


def test_a_run_with_extra_parameters_gets_a_name_and_title_of_its_own(tmp_path):
    spec = plan.RunSpec("ambiguity", "mnist", "paper", seed=2, options={"pair": "5v3", "nf": 1})
    out, run_dir = plan.paths(spec, tmp_path)
    assert run_dir == tmp_path / "book/runs/ambiguity/mnist_nf-1_pair-5v3_seed2"
    assert out.name == "mnist_nf-1_pair-5v3_seed2.ipynb"
    assert plan.run_title(spec) == "Ambiguity on mnist (paper profile, seed 2, nf=1, pair=5v3)"
    plain = plan.RunSpec("ambiguity", "mnist", "paper")
    assert plan.paths(plain, tmp_path)[1].name == "mnist"


def test_a_folder_dataset_gets_a_file_name_of_its_own(tmp_path):
    spec = plan.RunSpec("arae", "folder:/data/my scans", "smoke")
    out, run_dir = plan.paths(spec, tmp_path)
    assert out.name == "folder__data_my_scans.ipynb" and run_dir.name == "folder__data_my_scans"


def test_failures_are_classified_by_their_type_not_their_text(tmp_path):
    run = _planned(plan.RunSpec("drift", "mnist-5k", "smoke"), tmp_path)
    assert execute.Outcome(run, "failed", error="no prefix here", kind="ConfigError").bad_input
    assert execute.Outcome(run, "failed", error="ConfigError: x", kind="ValueError"
                           ).bad_input is False
    assert execute.describe(ConfigError("a value")) == ("ConfigError", "a value")
    assert execute.describe(ValueError("boom")) == ("ValueError", "ValueError: boom")
