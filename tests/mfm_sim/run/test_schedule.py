"""mfm_sim.run.schedule: a schedule as data; JSON round trip; one clear error per bad file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mfm_sim.faults.kinds import Fault, FaultKind
from mfm_sim.run.schedule import SCHEDULE_FORMAT, Schedule, ScheduleError

K = FaultKind

SCHEDULE = Schedule(
    seed=2**64 - 1,
    scenario="linear",
    faults=(
        Fault(3, K.CRASH_MID_APPEND, "events.append", 2),
        Fault(7, K.LATENCY, "artifacts.get", 800),
        Fault(0, K.CORRUPTED_ARTIFACT, "manifest.put"),
    ),
    recoverable=False,
    interleave=True,
)


def _valid(**changes: Any) -> dict[str, Any]:
    value = SCHEDULE.to_json()
    value.update(changes)
    return value


def _one_line_error(exc: pytest.ExceptionInfo[ScheduleError]) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg
    return msg


def test_json_round_trip() -> None:
    value = SCHEDULE.to_json()
    assert value["format"] == SCHEDULE_FORMAT
    assert value["faults"][0] == {
        "step": 3,
        "kind": "crash_mid_append",
        "site": "events.append",
        "arg": 2,
    }
    again = Schedule.from_json(json.loads(json.dumps(value)))
    assert again == SCHEDULE


def test_round_trip_keeps_only_what_replay_needs() -> None:
    fired = Fault(4, K.TRANSIENT_ERROR, "service", 0, incarnation=2, vt_ns=99, target="ledger")
    again = Schedule.from_json(Schedule(1, "x", (fired,)).to_json())
    f = again.faults[0]
    assert (f.step, f.kind, f.site, f.arg) == (4, K.TRANSIENT_ERROR, "service", 0)
    assert (f.incarnation, f.vt_ns, f.target) == (0, 0, None)


def test_defaults_for_optional_fields() -> None:
    value = _valid()
    del value["recoverable"], value["interleave"]
    for f in value["faults"]:
        del f["arg"]
    got = Schedule.from_json(value)
    assert got.recoverable is True and got.interleave is False
    assert all(f.arg == 0 for f in got.faults)


def test_dump_and_load(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    SCHEDULE.dump(path)
    text = path.read_text()
    assert text.endswith("\n")
    assert json.loads(text)["format"] == SCHEDULE_FORMAT
    assert Schedule.load(path) == SCHEDULE
    assert Schedule.load(str(path)) == SCHEDULE


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ([], "not an mfm-sim schedule"),
        ("text", "not an mfm-sim schedule"),
        ({"seed": 1, "scenario": "x", "faults": []}, "not an mfm-sim schedule"),
        (_valid(format="mfm-sim-schedule/0"), SCHEDULE_FORMAT),
        ({"format": SCHEDULE_FORMAT, "scenario": "x", "faults": []}, "seed"),
        ({"format": SCHEDULE_FORMAT, "seed": 1, "faults": []}, "scenario"),
        ({"format": SCHEDULE_FORMAT, "seed": 1, "scenario": "x"}, "faults"),
        (_valid(seed=-1), "seed out of range"),
        (_valid(seed=2**64), "seed out of range"),
        (_valid(seed="forty-two"), "corrupt schedule"),
        (_valid(seed=None), "corrupt schedule"),
        (_valid(faults=None), "corrupt schedule"),
        (_valid(faults=[1]), "corrupt schedule"),
        (_valid(faults=[{"step": 1, "kind": "meteor_strike", "site": "handler"}]), "meteor_strike"),
        (_valid(faults=[{"step": 1, "kind": "latency"}]), "site"),
        (_valid(faults=[{"step": "x", "kind": "latency", "site": "handler"}]), "corrupt schedule"),
    ],
)
def test_corrupt_values_are_one_clear_line(value: Any, needle: str) -> None:
    with pytest.raises(ScheduleError) as exc:
        Schedule.from_json(value)
    assert needle in _one_line_error(exc)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ScheduleError) as exc:
        Schedule.load(path)
    msg = _one_line_error(exc)
    assert msg == f"cannot read schedule file {path}: No such file or directory"


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError) as exc:
        Schedule.load(tmp_path)
    assert _one_line_error(exc) == f"cannot read schedule file {tmp_path}: Is a directory"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "is not JSON: Expecting value at line 1"),
        ('{"format": "mfm-sim-schedule/1",\n  "seed": 1,,}', "is not JSON"),
        ("[1, 2", "is not JSON"),
    ],
)
def test_not_json(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ScheduleError) as exc:
        Schedule.load(path)
    msg = _one_line_error(exc)
    assert needle in msg and str(path) in msg


def test_json_but_not_a_schedule(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"hello": "world"}')
    with pytest.raises(ScheduleError) as exc:
        Schedule.load(path)
    assert "not an mfm-sim schedule" in _one_line_error(exc)


def test_schedule_error_is_a_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)


def test_non_utf8_file_is_a_schedule_error(tmp_path: Path) -> None:
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ScheduleError) as exc:
        Schedule.load(path)
    assert str(path) in _one_line_error(exc)


@pytest.mark.parametrize("where", ["seed", "step"])
def test_infinite_numbers_are_a_schedule_error(tmp_path: Path, where: str) -> None:
    text = json.dumps(SCHEDULE.to_json())
    if where == "seed":
        text = text.replace(str(SCHEDULE.seed), "Infinity")
    else:
        text = text.replace('"step": 3', '"step": Infinity')
    assert "Infinity" in text
    path = tmp_path / "inf.json"
    path.write_text(text)
    with pytest.raises(ScheduleError):
        Schedule.load(path)


def test_the_store_is_written_only_when_not_memory_and_read_back(tmp_path: Path) -> None:
    memory = Schedule(5, "linear", ())
    assert "store" not in memory.to_json()  # schedules from before the store stay as they were
    assert Schedule.from_json(memory.to_json()).store == "memory"
    disk = Schedule(5, "linear", (), store="sqlite:synchronous_off")
    assert disk.to_json()["store"] == "sqlite:synchronous_off"
    path = tmp_path / "s.json"
    disk.dump(path)
    assert Schedule.load(path) == disk
    for bad in ("floppy", 3, "jsonl:nope"):
        with pytest.raises(ScheduleError, match=r"corrupt schedule: .*store"):
            Schedule.from_json({**memory.to_json(), "store": bad})
