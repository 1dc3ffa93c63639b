"""The `mfm-sim` command line, driven through click's CliRunner."""

from __future__ import annotations

import gc
import json
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner, Result

from mfm_sim.cli import main as cli_mod
from mfm_sim.cli.main import cli
from mfm_sim.errors import HarnessError
from mfm_sim.explore import sweep as sweep_mod
from mfm_sim.faults.kinds import FAULTS
from mfm_sim.selfcheck.variants import VARIANTS

VARIANT = "unfixed_orphan"
needs_variant = pytest.mark.skipif(VARIANT not in VARIANTS, reason="variant not registered")


@pytest.fixture(autouse=True)
def _restore_collector() -> object:
    # `mfm-sim run` tunes the collector of its own process, here the test runner's.
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _json(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    data.pop("timing")
    return data


def _db(tmp_path: Path, name: str = "db") -> list[str]:
    return ["--failures-dir", str(tmp_path / name)]


# ------------------------------------------------------------------------------ run


def test_run_small_sweep_passes(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    junit = tmp_path / "r.xml"
    res = invoke(
        ["run", "--seeds", "20", "--json", str(out), "--junit", str(junit), *_db(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert "ok: 140 schedules, no violations" in res.stdout
    for word in ("schedules", "crashes", "resumes", "virtual time simulated", "schedules/s"):
        assert word in res.stdout
    assert "sweep: 140/140 schedules (100%)" in res.stderr  # plain progress: not a TTY
    data = _json(out)
    assert data["ok"] is True and data["schedules"] == 140 and data["failures"] == []
    assert data["seeds"]["first"] == 0 and data["seeds"]["last"] == 19  # type: ignore[index]
    root = ET.parse(junit).getroot()
    assert len(root.findall(".//testcase")) == 7 and not root.findall(".//failure")
    assert not (tmp_path / "db").exists() or not list((tmp_path / "db").iterdir())


@needs_variant
def test_jobs_1_and_2_give_identical_json(tmp_path: Path) -> None:
    results = []
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}.json"
        res = invoke(
            [
                "run", "--scenario", "linear,retry_heavy", "--seed-range", "3..22",
                "--jobs", jobs, "--json", str(out), "--engine-variant", VARIANT,
                *_db(tmp_path, f"db{jobs}"),
            ]
        )  # fmt: skip
        assert res.exit_code == 1, res.output
        results.append(_json(out))
    one, two = results
    for f in one["failures"] + two["failures"]:  # type: ignore[operator]
        f["schedule_file"] = Path(f["schedule_file"]).name
    assert one == two
    assert one["failing"] and one["violations_by_invariant"]
    assert one["seeds"]["first"] == 3 and one["seeds"]["last"] == 22  # type: ignore[index]


@needs_variant
def test_violation_exits_1_with_a_replay_command_that_reproduces_it(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    res = invoke(
        [
            "run", "--scenario", "linear", "--seed-range", "4..18", "--engine-variant", VARIANT,
            "--json", str(out), *_db(tmp_path),
        ]
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    assert "FAILED:" in res.stdout
    assert re.search(r"replay key: seed=\d+ mfm-sim=\S+ python=\d", res.stdout)
    assert "invariant attempt_envelopes" in res.stdout
    commands = re.findall(r"^  replay: (.*)$", res.stdout, flags=re.M)
    assert commands and all(f"--engine-variant {VARIANT}" in c for c in commands)
    data = json.loads(out.read_text())
    first = data["failures"][0]
    assert first["replay"] == commands[0]
    assert first["seqs"] and first["invariant"]

    argv = shlex.split(commands[0])
    assert argv[:2] == ["mfm-sim", "replay"]
    again = invoke(argv[1:])
    assert again.exit_code == 1
    assert f"digest: {first['digest']}" in again.stdout
    assert first["invariant"] in again.stdout

    # The failure was saved; replaying its file is bit for bit the same.
    saved = Path(first["schedule_file"])
    assert saved.name == f"linear-{first['seed']}.json" and saved.exists()
    from_file = invoke(["replay", "--schedule", str(saved), "--engine-variant", VARIANT])
    assert f"digest: {first['digest']}" in from_file.stdout


@needs_variant
def test_failure_database_is_replayed_first_and_fixed_ones_reported(tmp_path: Path) -> None:
    db = tmp_path / "db"
    args = ["run", "--scenario", "linear", "--seeds", "4", "--failures-dir", str(db)]
    first = invoke([*args, "--engine-variant", VARIANT])
    assert first.exit_code == 1
    files = sorted(p.name for p in db.iterdir())
    assert files and all(re.fullmatch(r"linear-\d+\.json", f) for f in files)

    again = invoke([*args, "--engine-variant", VARIANT])
    assert again.exit_code == 1
    assert "(from the failure database)" in again.stdout
    assert f"{len(files)} replayed, {len(files)} still failing" in again.stdout

    # Pretend the engine was fixed: the files now claim the real engine.
    for p in db.iterdir():
        data = json.loads(p.read_text())
        data["variant"] = None
        p.write_text(json.dumps(data))
    (db / "junk-1.json").write_text("{")
    fixed = invoke(args)
    assert fixed.exit_code == 0, fixed.output
    assert f"{len(files)} replayed, 0 still failing, {len(files)} fixed" in fixed.stdout
    assert "no longer fails" in fixed.stderr and "unreadable" in fixed.stderr
    assert len(list(db.glob("linear-*.json"))) == len(files)  # kept ...
    pruned = invoke([*args, "--prune"])
    assert pruned.exit_code == 0
    assert list(db.glob("linear-*.json")) == []  # ... unless --prune


def test_shards_partition_the_seeds(tmp_path: Path) -> None:
    counts = []
    for i in (1, 2, 3):
        out = tmp_path / f"s{i}.json"
        res = invoke(
            ["run", "--scenario", "linear", "--seeds", "10", "--shard", f"{i}/3",
             "--json", str(out), *_db(tmp_path)]
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        counts.append(json.loads(out.read_text())["schedules"])
    assert counts == [4, 3, 3]


def test_time_budget_run(tmp_path: Path) -> None:
    res = invoke(
        ["run", "--scenario", "linear", "--seeds", "100000", "--time-budget", "0.2",
         *_db(tmp_path)]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "time budget spent" in res.stdout


# ------------------------------------------------------------------------------ bad input


BAD_INPUT: list[list[str]] = [
    ["run", "--scenario", "no_such_scenario"],
    ["run", "--seed-range", "5..2"],
    ["run", "--seed-range", "abc"],
    ["run", "--seed-range", "1..x"],
    ["run", "--seeds", "abc"],
    ["run", "--seeds", "0"],
    ["run", "--seeds", "5", "--seed-range", "0..4"],
    ["run", "--shard", "3/2"],
    ["run", "--shard", "half"],
    ["run", "--seeds", "2", "--shard", "3/4"],
    ["run", "--jobs", "0"],
    ["run", "--faults", "meteor_strike"],
    ["run", "--time-budget", "0"],
    ["run", "--engine-variant", "no_such_variant"],
    ["run", "--no-such-option"],
    ["replay", "abc", "--scenario", "linear"],
    ["replay", "0x1g", "--scenario", "linear"],
    ["replay", "18446744073709551616", "--scenario", "linear"],
    ["replay", "5"],
    ["replay"],
    ["replay", "5", "--scenario", "no_such_scenario"],
    ["explore", "--scenario", "linear"],
    ["explore", "--scenario", "nope", "--crash-points"],
    ["check-determinism", "--seeds", "2", "--seed-range", "0..1"],
    ["run", "--seeds", "1", "--json", "/no/such/dir/out.json"],
    ["run", "--seeds", "1", "--junit", "."],
    ["replay", "1", "--scenario", "linear", "--html", "/no/such/dir/t.html"],
    ["no-such-command"],
]


@pytest.mark.parametrize("args", BAD_INPUT, ids=lambda a: " ".join(a))
def test_bad_input_is_one_line_and_exit_2(args: list[str], tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, [*args], catch_exceptions=False)
    assert res.exit_code == 2, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("mfm-sim: error: ")
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    "content",
    [None, "{not json", json.dumps({"format": "something else"}), json.dumps(
        {"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "linear",
         "faults": [{"step": 1, "kind": "meteor", "site": "x"}]}
    ), json.dumps({"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "no_such",
                   "faults": []})],
    ids=["missing", "not-json", "not-a-schedule", "bad-fault", "unknown-scenario"],
)  # fmt: skip
def test_bad_schedule_file_is_one_line_and_exit_2(content: str | None, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    if content is not None:
        path.write_text(content)
    res = CliRunner().invoke(cli, ["replay", "--schedule", str(path)], catch_exceptions=False)
    assert res.exit_code == 2, res.output
    assert len(res.stderr.splitlines()) == 1 and res.stderr.startswith("mfm-sim: error: ")


def test_schedule_file_contradicting_seed_or_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps({"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "linear", "faults": []})
    )
    for extra in (["2"], ["--scenario", "retry_heavy"]):
        res = invoke(["replay", "--schedule", str(path), *extra])
        assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1


def test_harness_crash_exits_3_not_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise HarnessError("the simulated loop lost a timer")

    monkeypatch.setattr(cli_mod, "simulate", boom)
    res = CliRunner().invoke(cli, ["replay", "1", "--scenario", "linear"])
    assert res.exit_code == 3
    assert "harness bug" in res.stderr and "not an engine violation" in res.stderr
    assert "Traceback" not in res.output

    def other(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(sweep_mod, "simulate", other)
    res = CliRunner().invoke(cli, ["run", "--seeds", "2", "--scenario", "linear", *_db(tmp_path)])
    assert res.exit_code == 3
    assert "harness bug" in res.stderr


# ------------------------------------------------------------------------------ replay


@needs_variant
def test_replay_timeline_html_and_emit_test(tmp_path: Path) -> None:
    html = tmp_path / "t.html"
    test_file = tmp_path / "test_regression.py"
    res = invoke(
        ["replay", "3", "--scenario", "linear", "--engine-variant", VARIANT, "--timeline",
         "--html", str(html), "--emit-test", str(test_file)]
    )  # fmt: skip
    assert res.exit_code == 1
    assert "FAIL" in res.stdout and "digest: " in res.stdout
    assert "timeline of linear seed 3" in res.stdout and "StateEntered" in res.stdout
    assert html.read_text().startswith("<!DOCTYPE html>")
    source = test_file.read_text()
    compile(source, str(test_file), "exec")
    assert "assert not result.violations" in source

    passing = invoke(["replay", "3", "--scenario", "linear"])
    assert passing.exit_code == 0 and "PASS" in passing.stdout


@needs_variant
def test_replay_shrink_writes_the_minimal_schedule(tmp_path: Path) -> None:
    pytest.importorskip("mfm_sim.explore.shrink")
    test_file = tmp_path / "test_min.py"
    res = invoke(
        ["replay", "3", "--scenario", "linear", "--engine-variant", VARIANT, "--shrink",
         "--out-dir", str(tmp_path), "--emit-test", str(test_file)]
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    path = tmp_path / "linear-3.min.json"
    assert path.exists() and str(path) in res.stdout
    cmd = re.search(r"replay it with: (.*)$", res.stdout, flags=re.M)
    assert cmd is not None
    again = invoke(shlex.split(cmd.group(1))[1:])
    assert again.exit_code == 1
    assert "from the shrunk schedule" in test_file.read_text()


# ------------------------------------------------------------------------------ other commands


def test_list_names_everything() -> None:
    res = invoke(["list"])
    assert res.exit_code == 0
    for word in ("linear", "crash_before_effect", "attempt_envelopes", "liveness"):
        assert word in res.stdout
    for name in VARIANTS:
        assert name in res.stdout


def test_list_gives_each_fault_kind_its_meaning_from_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = {k: attrs.evolve(s, meaning=f"means-{i}") for i, (k, s) in enumerate(FAULTS.items())}
    monkeypatch.setattr(cli_mod, "FAULTS", table)
    res = invoke(["list"])
    assert res.exit_code == 0
    section = res.stdout.split("fault kinds", 1)[1].split("invariants", 1)[0]
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in section.splitlines()]
    kinds = {k.value for k in FAULTS}
    assert [r for r in rows if r and r[0] in kinds] == [
        [k.value, f"means-{i}"] for i, k in enumerate(FAULTS)
    ]
    assert any(r and r[0] == "lying-log (group)" for r in rows)  # the names --faults also takes


@needs_variant
def test_explore_crash_points(tmp_path: Path) -> None:
    pytest.importorskip("mfm_sim.explore.crash_points")
    ok = invoke(["explore", "--scenario", "linear", "--crash-points", "--single", *_db(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert "crash points" in ok.stdout
    bad = invoke(
        ["explore", "--scenario", "linear", "--crash-points", "--single", "--engine-variant",
         VARIANT, *_db(tmp_path)]
    )  # fmt: skip
    assert bad.exit_code == 1
    cmd = re.search(r"^  replay: (.*)$", bad.stdout, flags=re.M)
    assert cmd is not None and "--schedule" in cmd.group(1)
    assert invoke(shlex.split(cmd.group(1))[1:]).exit_code == 1


def test_check_determinism() -> None:
    pytest.importorskip("mfm_sim.explore.determinism")
    res = invoke(["check-determinism", "--seeds", "2", "--scenario", "linear"])
    assert res.exit_code == 0, res.output
    assert "ok: deterministic" in res.stdout


def test_main_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_mod.main(["run", "--jobs", "0"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("mfm-sim: error: ")


def test_run_tunes_the_collector_of_its_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(sweep_mod, "tune_collector", lambda: calls.append(True))
    res = CliRunner().invoke(cli, ["run", "--seeds", "1", "--scenario", "linear", *_db(tmp_path)])
    assert res.exit_code == 0, res.output
    assert calls == [True]
