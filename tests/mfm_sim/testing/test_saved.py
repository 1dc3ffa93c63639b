"""`.mfm-sim/`: a failing schedule is saved under the check's name, replayed, then forgotten."""

from __future__ import annotations

from pathlib import Path

from mfm_sim.run.scenario import get_scenario
from mfm_sim.run.simulate import simulate
from mfm_sim.testing.saved import SavedFailures


def test_save_list_and_forget(tmp_path: Path) -> None:
    result = simulate(get_scenario("linear"), 3)
    saved = SavedFailures(tmp_path)
    check = "test_x.py::test_y[a b]"
    timeline = saved.save(check, result, "the report")
    assert saved.seeds(check) == (3,)
    assert saved.seeds("test_x.py::test_other") == ()
    assert timeline.suffix == ".html" and timeline.parent == tmp_path / "reports"
    assert "<!DOCTYPE html>" in timeline.read_text()
    assert timeline.with_suffix(".txt").read_text() == "the report\n"
    saved.forget(check, 3)
    assert saved.seeds(check) == ()
    saved.forget(check, 3)  # forgetting twice is fine
