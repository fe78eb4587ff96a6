"""Results pages: verdicts over seeds, the rivals a claim is judged against, the departures box."""

import json

import numpy as np
import pytest

from glitchbook import intervals, methods, papers
from glitchbook.methods import arae
from glitchbook.pages.results import comparison_figure, method_page
from glitchbook.pages.status import changed_settings
from glitchbook.pages.tables import by_setting
from glitchbook.run.records import RunRecord, duration


def _record(method: str, seed: int, models: dict, **extra) -> RunRecord:
    return RunRecord(method=method, dataset="mnist-5k", profile="default", seed=seed,
                     device="cpu", config={"dataset": "mnist-5k", "seed": seed},
                     config_hash="x", metrics={"compared": models, **extra})


def _claims(claimed: float, rivals: dict[str, float | None], *, spread: float = 0.01,
            better: str = "higher", chance: float | None = 0.5, name: str = "ours") -> dict:
    """A hand-made claim as a run records it: each value with an interval of +- `spread`, each
    difference with the difference of the intervals' widths (None: a rival not run)."""
    def side(value: float) -> dict:
        return {"value": value, "interval": [value - spread, value + spread]}

    claim = {"claimed": name, **side(claimed), "better": better, "chance": chance,
             "rivals": {}}
    for name, value in rivals.items():
        claim["rivals"][name] = None if value is None else {
            **side(value), "difference": claimed - value,
            "difference_interval": [claimed - value - 2 * spread, claimed - value + 2 * spread]}
    return claim


def test_the_verdict_needs_an_interval_clear_of_zero_and_of_chance():
    assert intervals.verdict(_claims(0.90, {"a": 0.80, "b": 0.70}))[0] == "holds"
    assert intervals.verdict(_claims(0.80, {"a": 0.90, "b": 0.70})) == ("does not hold",
                                                                      "a better")
    assert intervals.verdict(_claims(0.80, {"a": 0.80}))[0] == "not separated"  # an exact tie
    assert intervals.verdict(_claims(0.80, {"a": 0.79}))[0] == "not separated"  # within noise
    assert intervals.verdict(_claims(0.80, {"a": 0.70, "b": None})) == ("not tested",
                                                                      "no result for b")
    # every method at chance (AUROC 0.5), even if the claimed one is a hair ahead
    assert intervals.verdict(_claims(0.51, {"a": 0.49}, spread=0.02))[0] == "not tested"
    # F1 of 0 for every signal: below chance (the share of glitches) is not a win either
    assert intervals.verdict(_claims(0.0, {"a": 0.0, "b": 0.0}, chance=0.1))[0] == "not tested"
    # lower is better: a repair error below the rivals' holds; none better than no repair
    assert intervals.verdict(_claims(0.2, {"a": 0.4}, better="lower", chance=1.0))[0] == "holds"
    assert intervals.verdict(_claims(5.0, {"a": 4.0}, better="lower", chance=1.0))[0] == (
        "not tested")
    assert intervals.verdict(intervals.check(True, "k = 2"))[0] == "holds"
    assert intervals.verdict(intervals.check(False, "k = 3"))[0] == "does not hold"


def test_a_bootstrap_interval_by_hand_with_fixed_resamples():
    # three items, four resamples given by hand: the mean of the resampled values
    values = np.array([1.0, 2.0, 6.0])
    indices = np.array([[0, 0, 0], [0, 1, 2], [1, 2, 2], [2, 2, 2]])
    spread = intervals.resampled(lambda rows: values[rows].mean(), indices)
    np.testing.assert_allclose(spread, [1.0, 3.0, 14 / 3, 6.0])
    # the central 50 %: linear percentiles 25 and 75 of the sorted means (1, 3, 14/3, 6),
    # at positions 0.75 and 2.25: 1 + 0.75 x 2 and 14/3 + 0.25 x 4/3
    assert intervals.percentile_interval(spread, level=0.5) == pytest.approx([2.5, 5.0])
    # paired: the same resample for both methods, so a constant gap has a zero-width interval
    claim = intervals.compare({"a": 2.0, "b": 1.0}, {"a": spread + 1, "b": spread}, "a", ["b"],
                            better="higher", chance=None)
    assert claim["rivals"]["b"]["difference_interval"] == [1.0, 1.0]
    assert intervals.verdict(claim)[0] == "holds"


def test_resamples_are_drawn_from_the_seed_and_within_groups():
    a = intervals.bootstrap_indices(6, resamples=5, seed=3)
    assert a.shape == (5, 6) and (a == intervals.bootstrap_indices(6, resamples=5, seed=3)).all()
    groups = np.array([0, 0, 0, 1, 1, 1])
    b = intervals.bootstrap_indices(6, resamples=50, seed=0, groups=groups)
    assert (groups[b] == groups).all()  # each item's slot drawn from its own group


def test_the_seeds_interval_is_a_t_interval_of_the_seeds_differences():
    low, high = intervals.seeds_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / np.sqrt(3)  # t(2) at 97.5 %, sd 1
    assert (low, high) == pytest.approx((2 - half, 2 + half))
    runs = [{"c": {"": _claims(v, {"a": 0.5})}} for v in (0.7, 0.8, 0.9)]
    merged = intervals.merge_claims(runs)["c"][""]
    assert merged["value"] == pytest.approx(0.8) and merged["seeds"] == 3
    assert merged["rivals"]["a"]["difference_interval"] == pytest.approx(
        intervals.seeds_interval([0.2, 0.3, 0.4]))
    checks = [{"c": {"x": intervals.check(v, "")}} for v in (True, False, True)]
    assert intervals.verdict(intervals.merge_claims(checks)["c"]["x"]) == (
        "not separated", "held in 2 of 3 seeds")


def test_a_results_page_opens_with_its_claim_cards():
    claims = {"beats_dae": {"": _claims(0.95, {"DAE": 0.90}, name="ARAE")}}
    record = _record("arae", 0, {"ARAE": {"auroc_mean": 0.95}, "DAE": {"auroc_mean": 0.9}},
                     claims=claims)
    page = method_page("arae", [record])
    assert page.startswith("## The paper's claims")
    assert "**Claim 1.** ARAE detects novelties" in page and "**holds**" in page
    assert "ARAE 0.95 [0.94, 0.96]" in page and "− DAE: 0.05 [0.03, 0.07]" in page
    old = _record("arae", 0, {"ARAE": {"auroc_mean": 0.95}}, claims={"x": True})
    assert "**not tested** | – | the record has no intervals" in method_page("arae", [old])


def test_a_default_run_shows_the_published_runs_verdict_and_why_they_differ():
    default = _record("arae", 0, {}, claims={"beats_dae": {"": _claims(0.8, {"DAE": 0.9},
                                                                        name="ARAE")}})
    published = _record("arae", 0, {}, claims={"beats_dae": {"": _claims(0.97, {"DAE": 0.9},
                                                                          name="ARAE")}})
    published.dataset, published.profile, published.published = "mnist", "paper", "2026-12-02"
    page = method_page("arae", [default, published])
    row = next(line for line in page.splitlines() if line.startswith("| mnist-5k (default)"))
    assert "**does not hold** | **holds** |" in row
    assert "the published run: holds (the published run trains on all of MNIST" in row
    published_row = next(line for line in page.splitlines()
                         if line.startswith("| mnist (paper, published)"))
    assert "**holds** | – |" in published_row  # a published run has no twin


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


def test_the_opening_figure_shows_each_claim_with_its_interval_and_the_papers_mark():
    claims = {"detects": {"": _claims(0.9, {"VAE": 0.7}, name="CLSVAE")},
              "repairs": {"": _claims(0.01, {"VAE": 0.05}, spread=0.005, better="lower",
                                      chance=0.1, name="CLSVAE")}}
    record = _record("clsvae", 0, {}, claims=claims)
    record.dataset = "shapes"  # the paper has Synthetic Shapes: its values are marked
    figure = comparison_figure("clsvae", [record])
    detection, repair = figure.axes[:2]
    assert detection.get_xlabel().startswith("Claim 1: AVPR") and "no repair" in (
        repair.get_xlabel())
    marks = [c for c in detection.collections if c.get_label() == "paper"]
    reported = papers.load("clsvae")["datasets"]["shapes"]["values"]
    assert sorted(marks[0].get_offsets()[:, 0]) == sorted(
        [reported["CLSVAE"]["avpr_row"], reported["VAE"]["avpr_row"]])
    # the repair error as the share of no repair's left: 0.01 of 0.1, with its interval
    lines = [line.get_xdata() for line in repair.get_lines() if len(line.get_xdata()) == 2]
    assert any(np.allclose(sorted(x), [0.05, 0.15]) for x in lines)
    record.metrics.pop("claims")  # a record from before the intervals: no figure
    assert comparison_figure("clsvae", [record]) is None and comparison_figure("clsvae",
                                                                                 []) is None


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
    assert "| mnist-5k (default, published) | – | – |  | **not tested** |" in page
