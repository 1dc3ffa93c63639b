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
        Fault(0, K.CORRUPTED_ARTIFACT, "manifest.put"),
        Fault(3, K.CRASH_MID_APPEND, "events.append", 2),
        Fault(7, K.LATENCY, "artifacts.get", 800),
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
    assert value["faults"][1] == {
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
    del value["faults"][0]["arg"]  # a kind whose argument is 0
    value["recoverable"] = False
    got = Schedule.from_json(value)
    assert got.interleave is False
    assert got.faults[0].arg == 0
    del value["recoverable"]
    assert Schedule.from_json(value).recoverable is True


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


# ------------------------------------------------------------------ strict and semantic checks


def _fault(step: int, kind: str, site: str, arg: int = 0) -> dict[str, Any]:
    return {"step": step, "kind": kind, "site": site, "arg": arg}


def _crashes(n: int) -> list[dict[str, Any]]:
    return [_fault(i, "crash_before_effect", "events.append") for i in range(1, n + 1)]


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"seed": 1.5}, "seed must be an integer, not 1.5"),
        ({"seed": True}, "seed must be an integer"),
        ({"seed": "7"}, "seed must be an integer"),
        ({"recoverable": "no"}, "recoverable must be true or false, not 'no'"),
        ({"interleave": 1}, "interleave must be true or false"),
        ({"scenario": 3}, "scenario must be a string"),
        ({"faults": [_fault(1.0, "latency", "handler")]}, "step must be an integer"),  # type: ignore[arg-type]
        ({"faults": [_fault(1, "latency", "artifacts.get", 10**30)]}, "not in 1..800"),
        ({"faults": [_fault(1, "latency", "artifacts.get", 0)]}, "not in 1..800"),
        ({"faults": [_fault(1, "handler_failure", "handler", 2)]}, "not in 0..1"),
        ({"faults": [_fault(1, "crash_mid_append", "events.append", 0)]}, "events persisted"),
        ({"faults": [_fault(1, "lie_seq_gap", "events.read_range", 2**40)]}, "lie_seq_gap"),
        ({"faults": [_fault(1, "dropped_write", "events.append")]}, "cannot happen at site"),
        ({"faults": [_fault(1, "latency", "handler", 5)]}, "cannot happen at site"),
        ({"faults": [_fault(1, "buggify", "buggify:")]}, "buggify:<name>"),
        ({"faults": [_fault(0, "latency", "artifacts.get", 5)]}, "setup"),
        ({"faults": [_fault(4, "corrupted_artifact", "manifest.put")]}, "setup"),
        ({"faults": [_fault(-3, "latency", "artifacts.get", 5)]}, "is not in 0.."),
        ({"faults": [_fault(2**40, "latency", "artifacts.get", 5)]}, "is not in 0.."),
        (
            {"faults": [_fault(5, "latency", "service", 5), _fault(2, "latency", "service", 5)]},
            "steps must increase",
        ),
        (
            {"faults": [_fault(5, "latency", "service", 5), _fault(5, "latency", "service", 6)]},
            "steps must increase",
        ),
        ({"recoverable": True, "faults": _crashes(4999)}, "at most the fault budget"),
        ({"recoverable": False, "faults": _crashes(5000)}, "at most 4096"),
        ({"variant": 3}, "variant must be a string"),
    ],
)  # fmt: skip
def test_semantically_invalid_files_are_refused(changes: dict[str, Any], needle: str) -> None:
    from mfm_sim.run.schedule import ScheduleFile

    with pytest.raises(ScheduleError) as exc:
        ScheduleFile.from_json(_valid(**changes))
    assert needle in _one_line_error(exc)


def test_every_table_row_at_its_sites_and_argument_bounds_is_accepted() -> None:
    from mfm_sim.faults.kinds import FAULTS

    step = 0
    for kind, spec in FAULTS.items():
        for site in spec.sites:
            site = "buggify:mine" if kind is K.BUGGIFY else site
            for arg in {spec.args.low, spec.args.high if not spec.args.sized else 5}:
                value = _fault(0, kind.value, site, arg)
                if site != "manifest.put":
                    step += 1
                    value["step"] = step
                got = Schedule.from_json(_valid(recoverable=False, faults=[value]))
                assert got.faults[0] == Fault(value["step"], kind, site, arg)


def test_the_budget_of_a_recoverable_schedule_is_the_swarms() -> None:
    from mfm_sim.faults.swarm import MAX_BUDGET

    most = _valid(recoverable=True, faults=_crashes(MAX_BUDGET))
    assert len(Schedule.from_json(most).faults) == MAX_BUDGET
    with pytest.raises(ScheduleError):
        Schedule.from_json(_valid(recoverable=True, faults=_crashes(MAX_BUDGET + 1)))


def test_a_file_past_the_size_cap_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    from mfm_sim.run.schedule import MAX_FILE_BYTES

    path = tmp_path / "big.json"
    path.write_text(" " * (MAX_FILE_BYTES + 1))
    with pytest.raises(ScheduleError) as exc:
        Schedule.load(path)
    assert "larger than" in _one_line_error(exc)
    with pytest.raises(ScheduleError) as exc:
        Schedule.load("/dev/zero")  # endless: read with a cap, never whole
    assert "larger than" in _one_line_error(exc)


def test_deep_nesting_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    depth = 100_000  # json.loads would raise RecursionError
    path.write_text('{"format": "mfm-sim-schedule/1", "faults": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(ScheduleError) as exc:
        Schedule.load(path)
    assert "nests deeper than" in _one_line_error(exc)
    # Brackets inside strings are not nesting.
    path.write_text(json.dumps(_valid(scenario="[[[[[[[[[[[[[[")))
    assert Schedule.load(path).scenario == "[[[[[[[[[[[[[["


def test_a_huge_number_in_a_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(_valid()).replace(str(SCHEDULE.seed), "7" * 5000))
    with pytest.raises(ScheduleError) as exc:
        Schedule.load(path)
    assert len(_one_line_error(exc)) < 300


def test_schedule_file_keeps_what_it_recorded(tmp_path: Path) -> None:
    from mfm_sim.run.schedule import ScheduleFile

    path = tmp_path / "f.json"
    ScheduleFile(SCHEDULE, "unfixed_orphan", "liveness", "ab" * 32).dump(path)
    got = ScheduleFile.load(path)
    assert got == ScheduleFile(SCHEDULE, "unfixed_orphan", "liveness", "ab" * 32)
    assert Schedule.load(path) == SCHEDULE  # a plain reader ignores the extra keys


@pytest.mark.parametrize("recoverable", [True, False])
def test_every_schedule_the_harness_writes_passes_the_checks(recoverable: bool) -> None:
    """No false refusals: what a sweep records (the faults that fired) is a valid file."""
    from mfm_sim import get_scenario, simulate

    fired = 0
    for name in ("crash_loop", "corruption", "child_runs"):
        for seed in range(15):
            r = simulate(get_scenario(name), seed, recoverable=recoverable, keep_trace=False)
            data = json.loads(json.dumps(r.schedule.to_json()))
            assert Schedule.from_json(data).to_json() == data
            fired += len(r.schedule.faults)
    assert fired > 0


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


def test_a_schedule_records_one_store_never_the_mix() -> None:
    with pytest.raises(ScheduleError, match="corrupt schedule: store 'mix' is not one store"):
        Schedule.from_json({**Schedule(5, "linear", ()).to_json(), "store": "mix"})
