"""Results pages: verdicts over seeds, the rivals a claim is judged against, the departures box."""

import json

import pytest

from glitchbook import methods, papers
from glitchbook.methods import arae
from glitchbook.pages.results import comparison_figure, method_page
from glitchbook.pages.status import changed_settings
from glitchbook.pages.tables import Held, by_setting, merge_seeds
from glitchbook.pages.verdicts import claim_verdict
from glitchbook.run.records import RunRecord, duration


def _record(method: str, seed: int, models: dict, **extra) -> RunRecord:
    return RunRecord(method=method, dataset="mnist-5k", profile="default", seed=seed,
                     device="cpu", config={"dataset": "mnist-5k", "seed": seed},
                     config_hash="x", metrics={"compared": models, **extra})


def test_a_claim_over_three_seeds_holds_only_when_it_holds_in_every_seed():
    seeds = [{"7v1 nf2": {"claim_holds": v}} for v in (True, False, True)]
    merged = merge_seeds(seeds)
    assert merged["7v1 nf2"]["claim_holds"] == Held(2, 3)
    assert not merged["7v1 nf2"]["claim_holds"]
    assert str(merged["7v1 nf2"]["claim_holds"]) == "in 2 of 3 seeds"
    records = [_record("ambiguity", s, m) for s, m in enumerate(seeds)]
    ((record, used),) = by_setting(records)
    verdict, detail = claim_verdict(record, papers.load("ambiguity"))
    assert used == [0, 1, 2] and verdict == "no" and "in 2 of 3 seeds" in detail
    always = [_record("ambiguity", s, {"7v1 nf2": {"claim_holds": True}}) for s in range(3)]
    assert claim_verdict(by_setting(always)[0][0], papers.load("ambiguity"))[0] == "yes"


def test_influence_claims_are_judged_against_the_papers_rivals_not_cleanlab():
    # each new signal beats SI, MAI, MI and GD-class on its glitch kind; cleanlab beats all
    rivals = {"SI": 0.3, "MAI": 0.2, "MI": 0.1, "GD-class": 0.25}
    models = {name: dict.fromkeys(("f1_uniform", "f1_class", "f1_anomaly", "f1_mixed"), v)
              for name, v in rivals.items()}
    models["CNCI"] = {"f1_uniform": 0.6, "f1_class": 0.6, "f1_anomaly": 0.0, "f1_mixed": 0.0}
    models["PCID"] = {"f1_uniform": 0.0, "f1_class": 0.0, "f1_anomaly": 0.6, "f1_mixed": 0.0}
    models["CFRank"] = {"f1_uniform": 0.7, "f1_class": 0.7, "f1_anomaly": 0.7, "f1_mixed": 0.6}
    models["cleanlab"] = dict.fromkeys(models["SI"], 0.9)
    verdict, detail = claim_verdict(_record("influence", 0, models), papers.load("influence"))
    assert verdict == "yes", detail  # CFRank's higher F1 on mislabels is no rival of CNCI's
    assert "cleanlab" not in detail and "CFRank" in detail


def test_clsvae_claim_leaves_the_no_repair_row_out():
    models = {"CLSVAE": {"avpr_row": 0.9, "smse_dirty": 0.5},
              "VAE": {"avpr_row": 0.8, "smse_dirty": 0.9},
              "no repair": {"smse_dirty": 0.1}}
    verdict, _ = claim_verdict(_record("clsvae", 0, models), papers.load("clsvae"))
    assert verdict == "yes"


def test_a_tie_for_first_place_counts_for_the_claimed_model():
    # both perfect AVPR, as on Synthetic Shapes: listed first or not, CLSVAE is not beaten
    models = {"CCVAE": {"avpr_row": 0.9999999999999999, "smse_dirty": 0.0075},
              "CLSVAE": {"avpr_row": 1.0, "smse_dirty": 0.0044},
              "VAE": {"avpr_row": 0.96, "smse_dirty": 0.04}}
    verdict, detail = claim_verdict(_record("clsvae", 0, models), papers.load("clsvae"))
    assert verdict == "yes", detail
    assert "CLSVAE (1.0000; tied with CCVAE)" in detail
    models["CCVAE"]["avpr_row"] = 1.0
    models["CLSVAE"]["avpr_row"] = 0.999
    assert claim_verdict(_record("clsvae", 0, models), papers.load("clsvae"))[0] == "partly"


def test_a_setting_changed_from_the_profile_is_named_on_the_page():
    config = json.loads(json.dumps(arae.from_parameters("mnist-5k", "default", 3).as_dict()))
    record = _record("arae", 3, {"ARAE": {"auroc_mean": 0.9}})
    record.config = config
    assert changed_settings(record) == {}
    assert "Changed from" not in method_page("arae", [record])
    record.config = {**config, "steps": 10, "classes": [1, 8]}
    assert changed_settings(record) == {"steps": (10, 5), "classes": ([1, 8], [])}
    assert ("*Changed from the `default` profile: `steps` 10 (preset 5), `classes` [1, 8] "
            "(preset []).*") in method_page("arae", [record])


def test_the_opening_figure_marks_the_papers_value_on_our_bar():
    models = {"CLSVAE": {"avpr_row": 0.9, "smse_dirty": 0.01},
              "VAE": {"avpr_row": 0.7, "smse_dirty": 0.05}}
    record = _record("clsvae", 0, models)
    record.dataset = "shapes"  # the paper has Synthetic Shapes: its values are marked
    figure = comparison_figure("clsvae", [record])
    avpr, smse = figure.axes
    assert [round(b.get_height(), 4) for b in avpr.patches] == [0.9, 0.7]
    (marks,) = avpr.collections  # the paper's CLSVAE and VAE AVPR, as black bars
    reported = papers.load("clsvae")["datasets"]["shapes"]["values"]
    assert sorted(seg[0][1] for seg in marks.get_segments()) == sorted(
        [reported["CLSVAE"]["avpr_row"], reported["VAE"]["avpr_row"]])
    record.dataset = "digits"  # no paper value: bars only
    assert not comparison_figure("clsvae", [record]).axes[0].collections
    assert comparison_figure("clsvae", []) is None
    page = method_page("clsvae", [record], "/book/runs/results/clsvae.png")
    assert page.startswith("```{figure} /book/runs/results/clsvae.png\n")


def test_wall_times_read_as_a_person_says_them():
    assert [duration(s) for s in (None, 0.4, 41.49, 402.3316, 3599.6, 7500)] == [
        "–", "0 s", "41 s", "6 min 42 s", "1 h 00 min", "2 h 05 min"]


@pytest.mark.parametrize("method", [m for m, entry in methods.METHODS.items() if entry.paper])
def test_every_results_page_opens_with_the_departures_box(method):
    paper = papers.load(method)
    assert paper["departures"] and all({"what", "why", "effect"} <= set(d)
                                       for d in paper["departures"])
    page = method_page(method, [])
    assert "```{admonition} Where we depart from the paper" in page
    assert paper["departures"][0]["what"] in page


def test_a_published_run_is_its_own_setting_with_where_and_how_it_ran():
    models = {"AE": {"auroc_mean": 0.9}, "DAE": {"auroc_mean": 0.95}, "ARAE": {"auroc_mean": 0.8}}
    local = _record("arae", 0, models)
    published = _record("arae", 0, models)
    published.published, published.commit = "2026-11-30", "0123456789ab"
    published.machine, published.device = "x86_64, 16 CPU cores, NVIDIA H200", "cuda"
    published.timings["wall_seconds"] = 7200.0
    assert len(by_setting([local, published])) == 2
    page = method_page("arae", [local, published])
    assert "## mnist-5k (default)\n" in page and "## mnist-5k (default, published)\n" in page
    assert page.count("*Ours: profile `default`, seed 0 · paper: ") == 2
    assert page.count("````{admonition} Reproduce this run") == 2
    assert "glitchbook run --methods arae --datasets mnist-5k --profile default --seeds 0" in page
    assert ("*Published run 2026-11-30: commit `0123456789ab`, device `cuda`, x86_64, 16 CPU "
            "cores, NVIDIA H200, 2 h 00 min;") in page
    assert "| mnist-5k (default, published) | no |" in page
