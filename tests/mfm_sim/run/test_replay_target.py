"""A schedule file as a replay target: read, and checked against the seed and scenario given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfm_sim.run.replay_target import TargetError, schedule_for

SCHEDULE = {"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "linear", "faults": []}


def _file(tmp_path: Path, content: str) -> str:
    path = tmp_path / "s.json"
    path.write_text(content)
    return str(path)


def test_the_files_schedule_when_nothing_contradicts_it(tmp_path: Path) -> None:
    path = _file(tmp_path, json.dumps(SCHEDULE))
    for seed, scenario in ((None, None), (1, None), (None, "linear"), (1, "linear")):
        schedule = schedule_for(path, seed, scenario)
        assert (schedule.seed, schedule.scenario, schedule.faults) == (1, "linear", ())


@pytest.mark.parametrize(
    ("content", "seed", "scenario", "part"),
    [
        (None, None, None, "schedule"),
        ("{not json", None, None, "schedule"),
        (json.dumps(SCHEDULE), 2, None, "seed"),
        (json.dumps(SCHEDULE), None, "retry_heavy", "scenario"),
    ],
    ids=["missing", "not-json", "other-seed", "other-scenario"],
)
def test_the_part_at_fault_is_named(
    tmp_path: Path, content: str | None, seed: int | None, scenario: str | None, part: str
) -> None:
    path = _file(tmp_path, content) if content is not None else str(tmp_path / "none.json")
    with pytest.raises(TargetError) as caught:
        schedule_for(path, seed, scenario)
    assert caught.value.part == part
    assert "\n" not in str(caught.value)
    if part == "schedule":
        assert path in str(caught.value)  # which file, even when the reason does not say
