"""The failure database: corrupt entries quarantined (never blocking a run), files written
through unique temporary names so that concurrent runs never collide."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from mfm_sim import get_scenario, simulate
from mfm_sim.explore.faildb import MAX_ENTRY_BYTES, QUARANTINE, FailureDB
from mfm_sim.run.result import SimResult
from tests.mfm_sim.cli.support import db_args, invoke


@pytest.fixture(scope="module")
def result() -> SimResult:
    return simulate(get_scenario("linear"), 3)


def _corrupt(db: Path, good: dict[str, object]) -> dict[str, str]:
    """One file of each kind of damage; name -> what its warning must say."""
    huge_seed = json.dumps(good).replace('"seed": 3', '"seed": ' + "7" * 5000)
    files = {
        "bad-json.json": ("{", "not JSON"),
        "deep.json": ("[" * 100_000 + "]" * 100_000, "nests deeper"),
        "huge-seed.json": (huge_seed, "digits"),
        "wrong-types.json": (json.dumps({**good, "faults": "none"}), "corrupt schedule"),
        "not-object.json": ("[1, 2]", "not a JSON object"),
        "binary.json": ("\udcff", "not UTF-8"),
        "too-big.json": (" " * (MAX_ENTRY_BYTES + 1), "larger than"),
    }
    for name, (text, _) in files.items():
        (db / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    return {name: why for name, (_, why) in files.items()}


def test_corrupt_entries_are_quarantined_once_and_good_ones_kept(
    tmp_path: Path, result: SimResult
) -> None:
    db = FailureDB(tmp_path)
    good = db.save(result)
    expected = _corrupt(tmp_path, json.loads(good.read_text()))
    assert len(FailureDB(tmp_path).entries()) == len(expected) + 1  # without: left in place
    entries = db.entries(quarantine=True)
    readable = [e for e in entries if e.schedule is not None]
    assert [e.path for e in readable] == [good]
    errors = {p.name: why for p, why in db.errors}
    assert sorted(errors) == sorted(expected)
    for name, why in expected.items():
        assert why in errors[name].lower() or why in errors[name], (name, errors[name])
        assert errors[name].endswith(f"moved to {tmp_path / QUARANTINE / name}")
        assert "\n" not in errors[name] and len(errors[name]) < 400
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [good.name]
    assert db.entries(quarantine=True) and db.errors == []  # warned once, then gone


def test_a_second_corrupt_file_of_one_name_does_not_overwrite_the_first(tmp_path: Path) -> None:
    db = FailureDB(tmp_path)
    for text in ("{", "["):
        (tmp_path / "x.json").write_text(text)
        db.entries(quarantine=True)
    kept = sorted((tmp_path / QUARANTINE).iterdir())
    assert [p.name for p in kept] == ["x.1.json", "x.json"]
    assert {p.read_text() for p in kept} == {"{", "["}


def test_a_corrupt_entry_never_blocks_a_run(tmp_path: Path, result: SimResult) -> None:
    good = FailureDB(tmp_path / "db").save(result)
    _corrupt(tmp_path / "db", json.loads(good.read_text()))
    res = invoke(["run", "--scenario", "linear", "--seeds", "3", *db_args(tmp_path)])
    assert res.exit_code == 0 and "ok: 3 schedules" in res.stdout, res.output
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("mfm-sim: warning:")]
    assert len(warnings) == 7 and all("moved to" in w for w in warnings)
    res = invoke(["run", "--scenario", "linear", "--seeds", "3", *db_args(tmp_path)])
    assert res.exit_code == 0 and "warning" not in res.stderr, res.output


def _save_many(directory: str, result: SimResult, n: int) -> None:
    db = FailureDB(directory)
    for _ in range(n):
        db.save(result)


def test_concurrent_writers_of_one_directory_never_collide(
    tmp_path: Path, result: SimResult
) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_save_many, args=(str(tmp_path), result, 150)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    files = list(tmp_path.iterdir())
    assert [p.name for p in files] == ["linear-3.json"], "a temporary file was left behind"
    assert json.loads(files[0].read_text())["seed"] == 3


@pytest.mark.parametrize("command", [["run", "--seeds", "1"], ["explore", "--crash-points"]])
def test_a_failures_dir_under_a_file_is_bad_input(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "afile").write_text("")
    for where in ("afile", "afile/db", "afile/a/b"):
        args = [*command, "--scenario", "linear", "--failures-dir", str(tmp_path / where)]
        res = invoke(args)
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "--failures-dir" in lines[0] and "file" in lines[0], lines
