import json
import os

import pytest

from glitchbook.run import records
from glitchbook.run.records import RunRecord


def _record(**kw):
    base = dict(method="clsvae", dataset="digits", profile="smoke", seed=0, device="cpu",
                config={"epochs": 3}, config_hash="abc", metrics={"compared": {"VAE": {"x": 1.0}}})
    return RunRecord(**{**base, **kw})


def test_round_trip_and_schema(tmp_path):
    path = records.write(tmp_path / "run", _record())
    data = json.loads(path.read_text())
    for key in ("method", "dataset", "profile", "seed", "device", "config", "config_hash",
                "metrics", "timings", "versions", "status", "error", "created"):
        assert key in data
    assert data["versions"]["torch"] and data["versions"]["python"]
    assert records.load(tmp_path / "run") == records.load(path)
    assert records.load_all(tmp_path)[0].dataset == "digits"


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="status"):
        _record(status="done")


def test_a_crash_mid_write_keeps_the_old_record(tmp_path, monkeypatch):
    records.write(tmp_path, _record(seed=1))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # killed between writing the temporary file and the rename

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        records.write(tmp_path, _record(seed=2))
    monkeypatch.undo()
    assert records.load(tmp_path).seed == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]  # no temp left


def test_values_that_json_cannot_hold_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store"):
        records.write(tmp_path, _record(metrics={"bad": object()}))
    assert not (tmp_path / "record.json").exists()


@pytest.mark.parametrize("text", ['{"method": "clsvae", "datas', '{"unexpected": 1}', "\xff"])
def test_an_unreadable_record_is_reported_and_skipped(tmp_path, capsys, text):
    from glitchbook import UnreadableRecord
    from glitchbook.cli import main
    from glitchbook.pages import results

    runs = tmp_path / "book/runs"
    records.write(runs / "clsvae/digits", _record())
    torn = runs / "clsvae/shapes/record.json"
    torn.parent.mkdir(parents=True)
    torn.write_text(text)
    with pytest.raises(UnreadableRecord, match="shapes/record.json is unreadable"):
        records.load(torn)
    unreadable: list[str] = []
    assert [r.dataset for r in records.load_all(runs, unreadable=unreadable)] == ["digits"]
    assert len(unreadable) == 1 and "--force" in unreadable[0]
    results.write_pages(tmp_path)
    page = (tmp_path / "book/runs/results/clsvae.md").read_text()
    assert "Unreadable records" in page and "shapes/record.json" in page
    table = (tmp_path / "book/runs/results/clsvae.csv").read_text().splitlines()
    assert table[0].startswith("setting,dataset,profile,published,seeds,model,metric,ours")
    assert len(table) > 1
    assert all(row.startswith("digits (smoke),digits,smoke") for row in table[1:])
    status = (tmp_path / "book/runs/results/status.md").read_text()
    assert "| clsvae | digits | smoke |" in status and "shapes/record.json" in status
    assert main(["status", "--root", str(tmp_path)]) == 1  # reported, not hidden
    out = capsys.readouterr().out
    assert "| clsvae | digits | smoke | epochs=3 | 0 | ok |" in out and "unreadable:" in out
