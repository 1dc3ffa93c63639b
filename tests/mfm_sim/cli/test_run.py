"""`mfm-sim run`: sweeps, the failure database, shards, time budgets, JSON and JUnit."""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from mfm_sim.cli.main import cli
from mfm_sim.explore import sweep as sweep_mod
from tests.mfm_sim.cli.support import VARIANT, db_args, invoke, needs_variant


def _json(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    data.pop("timing")
    return data


def test_run_small_sweep_passes(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    junit = tmp_path / "r.xml"
    res = invoke(
        ["run", "--seeds", "20", "--json", str(out), "--junit", str(junit), *db_args(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert "ok: 160 schedules, no violations" in res.stdout
    for word in ("schedules", "crashes", "resumes", "virtual time simulated", "schedules/s"):
        assert word in res.stdout
    assert "sweep: 160/160 schedules (100%)" in res.stderr  # plain progress: not a TTY
    data = _json(out)
    assert data["ok"] is True and data["schedules"] == 160 and data["failures"] == []
    assert data["seeds"]["first"] == 0 and data["seeds"]["last"] == 19  # type: ignore[index]
    root = ET.parse(junit).getroot()
    assert len(root.findall(".//testcase")) == 8 and not root.findall(".//failure")
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
                *db_args(tmp_path, f"db{jobs}"),
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
            "--json", str(out), *db_args(tmp_path),
        ]
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    assert "FAILED:" in res.stdout
    assert re.search(r"replay key: seed=\d+ mfm-sim=\S+ python=\d", res.stdout)
    assert "invariant attempt_envelopes" in res.stdout
    commands = re.findall(r"^  replay: (.*)$", res.stdout, flags=re.M)
    assert commands and all(f"--engine-variant {VARIANT}" in c for c in commands)
    data = json.loads(out.read_text())
    # Printed by group (fastest seed first), so the first printed is found by its command.
    first = next(f for f in data["failures"] if f["replay"] == commands[0])
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
             "--json", str(out), *db_args(tmp_path)]
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        counts.append(json.loads(out.read_text())["schedules"])
    assert counts == [4, 3, 3]


def test_time_budget_run(tmp_path: Path) -> None:
    res = invoke(
        ["run", "--scenario", "linear", "--seeds", "100000", "--time-budget", "0.2",
         *db_args(tmp_path)]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "time budget spent" in res.stdout


def test_run_tunes_the_collector_of_its_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(sweep_mod, "tune_collector", lambda: calls.append(True))
    res = CliRunner().invoke(
        cli, ["run", "--seeds", "1", "--scenario", "linear", *db_args(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert calls == [True]


# ---------------------------------------------------------------- triage (issue 17)

ORPHAN = ["run", "--scenario", "linear", "--engine-variant", VARIANT]


@needs_variant
def test_incarnation_repeats_print_once_in_terminal_and_junit(tmp_path: Path) -> None:
    junit = tmp_path / "r.xml"
    res = invoke([*ORPHAN, "--seed-range", "3..3", "--junit", str(junit), *db_args(tmp_path)])
    assert res.exit_code == 1, res.output
    own = [ln for ln in res.stdout.splitlines() if "failed on its own" in ln]
    assert len(own) == 1 and re.search(r"\(x\d+, incarnations \d+-\d+\)$", own[0])
    body = ET.parse(junit).getroot().find(".//failure")
    assert body is not None and body.text is not None
    assert body.text.count("failed on its own") == 1


@needs_variant
def test_failures_grouped_table_after_and_final_verdict(tmp_path: Path) -> None:
    res = invoke([*ORPHAN, "--seeds", "30", *db_args(tmp_path)])
    assert res.exit_code == 1, res.output
    out = res.stdout
    last = out.rstrip().splitlines()[-1]
    m = re.match(r"FAILED: (\d+) failing schedules in (\d+) groups?: (.+)$", last)
    assert m, last
    groups = int(m.group(2))
    assert out.count("GROUP ") == min(groups, 10)
    assert sum(int(n) for n in re.findall(r"\((\d+)\)", m.group(3))) == int(m.group(1))
    assert out.index("GROUP 1/") < out.index("mfm-sim run") < out.index("FAILED:")
    # The printed replay command of the first group reproduces its digest.
    command = re.search(r"^  replay: (.*)$", out, flags=re.M)
    digest = re.search(r"^  digest (\w+)$", out, flags=re.M)
    assert command and digest
    again = invoke(shlex.split(command.group(1))[1:])
    assert again.exit_code == 1 and f"digest: {digest.group(1)}" in again.stdout


def _junit_of(tmp_path: Path, seeds: str) -> ET.Element:
    junit = tmp_path / f"{seeds}.xml"
    invoke([*ORPHAN, "--seeds", seeds, "--junit", str(junit), *db_args(tmp_path, seeds)])
    return ET.parse(junit).getroot()


def _props(case: ET.Element) -> dict[str | None, str | None]:
    return {p.get("name"): p.get("value") for p in case.iter("property")}


@needs_variant
def test_junit_case_names_do_not_depend_on_seeds(tmp_path: Path) -> None:
    names = []
    for n in ("5", "12"):
        case = _junit_of(tmp_path, n).find(".//testsuite[@name='mfm-sim.sweep']/testcase")
        assert case is not None
        props = _props(case)
        assert props["schedules"] == n and int(props["failing"] or 0) > 0
        names.append(case.get("name"))
    assert names == ["linear", "linear"]


@needs_variant
def test_exitfirst_and_maxfail_stop_dispatching_and_keep_what_was_found(tmp_path: Path) -> None:
    for flag, limit in ((["-x"], 1), (["--maxfail", "3"], 3)):
        out = tmp_path / f"{limit}.json"
        args = [*ORPHAN, "--seeds", "200", *flag, "--json", str(out)]
        res = invoke([*args, *db_args(tmp_path, str(limit))])
        assert res.exit_code == 1, res.output
        data = json.loads(out.read_text())
        assert data["failing"] == limit and len(data["failures"]) == limit
        assert data["seeds"]["run"] < 200 and data["seeds"]["stopped_on_failures"]
        assert "stopped at --maxfail" in res.stdout
        assert f"FAILED: {limit} failing schedules" in res.stdout


@needs_variant
def test_maxfail_with_jobs_keeps_a_prefix(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    res = invoke(
        [*ORPHAN, "--seeds", "400", "--jobs", "2", "--maxfail", "2", "--json", str(out),
         *db_args(tmp_path)]
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    data = json.loads(out.read_text())
    assert data["failing"] >= 2 and data["seeds"]["run"] < 400


def test_maxfail_must_be_positive(tmp_path: Path) -> None:
    res = invoke(["run", "--seeds", "3", "--maxfail", "0", *db_args(tmp_path)])
    assert res.exit_code == 2 and "Traceback" not in res.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--seeds", str(10**30)], "--seeds"),
        (["--seed-range", "0.." + "7" * 5000], "too large"),
        (["--seed-range", "7" * 5000 + "..9"], "too large"),
    ],
    ids=["seeds-1e30", "range-5000-digits", "start-5000-digits"],
)
def test_huge_seed_input_is_one_line_exit_2(args: list[str], needle: str) -> None:
    res = invoke(["run", "--scenario", "linear", *args])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and len(res.stderr.splitlines()) == 1
    assert "harness bug" not in res.stderr and len(res.stderr) < 400


def test_the_whole_u64_seed_range_is_legal(tmp_path: Path) -> None:
    res = invoke(
        ["run", "--scenario", "linear", "--seed-range", f"0..{2**64 - 1}", "--maxfail", "1",
         "--time-budget", "0.5", "--json", str(tmp_path / "r.json"), *db_args(tmp_path)]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "ok: " in res.stdout and "harness bug" not in res.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["seeds"]["spec"] == f"0..{2**64 - 1}" and data["seeds"]["run"] >= 1
    assert data["seeds"]["planned"] == 2**64  # exact, though no len() can say it
    assert f"of {2**64} seeds run" in res.stdout
    top = invoke(["run", "--scenario", "linear", "--seed-range", f"{2**64 - 2}..{2**64 - 1}",
                  *db_args(tmp_path)])  # fmt: skip
    assert top.exit_code == 0 and "ok: 2 schedules" in top.stdout


@needs_variant
def test_json_lists_every_failing_seed_and_the_groups(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    res = invoke([*ORPHAN[:2], "all", *ORPHAN[3:], "--seeds", "30", "--json", str(out),
                  *db_args(tmp_path)])  # fmt: skip
    assert res.exit_code == 1, res.output
    data = json.loads(out.read_text())
    listed = sum(len(seeds) for seeds in data["failing_seeds"].values())
    assert data["sweep_failing"] > len(data["failures"])  # more failures than are kept in full
    assert listed == data["sweep_failing"] and data["failing_seeds_omitted"] == 0
    assert all("schedule" in f for f in data["failures"])  # the kept ones in full
    kept = {(f["scenario"], f["seed"]) for f in data["failures"]}
    assert kept <= {(sc, s) for sc, seeds in data["failing_seeds"].items() for s in seeds}
    # One bug, one group; its fastest failure's replay command.
    (group,) = data["groups"]
    assert group["invariant"] == "attempt_envelopes" and group["count"] == len(kept)
    assert group["replay"].startswith("mfm-sim replay ") and VARIANT in group["replay"]


@needs_variant
def test_json_dash_writes_to_stdout_and_the_rest_to_stderr(tmp_path: Path) -> None:
    res = invoke([*ORPHAN, "--seeds", "10", "--json", "-", *db_args(tmp_path)])
    assert res.exit_code == 1
    data = json.loads(res.stdout)  # stdout is the JSON alone
    assert data["failing"] > 0 and not data["ok"]
    assert "FAILED:" in res.stderr and "GROUP 1/" in res.stderr
    assert not (tmp_path / "-").exists() and not Path("-").exists()


@needs_variant
def test_quiet_and_verbose(tmp_path: Path) -> None:
    quiet = invoke([*ORPHAN, "--seeds", "10", "-q", *db_args(tmp_path, "q")])
    assert quiet.exit_code == 1
    lines = quiet.stdout.strip().splitlines()
    assert lines[-1].startswith("FAILED: ") and "GROUP" not in quiet.stdout
    assert "mfm-sim run" not in quiet.stdout  # no table
    assert all(" x attempt_envelopes: " in ln and "mfm-sim replay" in ln for ln in lines[:-1])
    verbose = invoke([*ORPHAN, "--seeds", "10", "-v", *db_args(tmp_path, "v")])
    failing = int(re.search(r"FAILED: (\d+)", verbose.stdout).group(1))  # type: ignore[union-attr]
    assert verbose.stdout.count("\nFAIL linear seed") + verbose.stdout.startswith("FAIL") >= failing
    both = invoke([*ORPHAN, "--seeds", "1", "-q", "-v"])
    assert both.exit_code == 2 and len(both.stderr.splitlines()) == 1


@needs_variant
def test_end_of_run_recaps_each_group_with_its_replay_command(tmp_path: Path) -> None:
    res = invoke([*ORPHAN, "--seeds", "10", *db_args(tmp_path)])
    tail = res.stdout.strip().splitlines()[-2:]
    assert tail[1].startswith("FAILED: ")
    assert " x attempt_envelopes: " in tail[0] and "mfm-sim replay" in tail[0]


@needs_variant
def test_junit_signature_cases_and_real_skipped_count(tmp_path: Path) -> None:
    names = []
    for n in ("5", "12"):
        cases = _junit_of(tmp_path, n).iter("testcase")
        failing = [c for c in cases if c.find("failure") is not None]
        names.append([c.get("name") for c in failing])
        for c in failing:
            props = _props(c)
            assert "mfm-sim replay" in (props["replay"] or "") and int(props["count"] or 0) > 0
    assert names[0] == names[1]  # named by signature: the same for any --seeds
    # A scenario whose every schedule failed has no passing part: skipped, and counted.
    junit = tmp_path / "all.xml"
    invoke([*ORPHAN, "--seed-range", "3..3", "--junit", str(junit), *db_args(tmp_path, "x")])
    root = ET.parse(junit).getroot()
    linear = root.find(".//testcase[@name='linear']")
    assert linear is not None and linear.find("skipped") is not None
    assert root.get("skipped") == "1"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scenario", "x" * 100_000], "unknown scenario 'xxx"),
        (["--shard", "1/" + "9" * 5000], "is not of the form I/N"),
        (["--shard", "1/\u00b2"], "is not of the form I/N"),
    ],
    ids=["long-scenario", "5000-digit-shard", "unicode-digit-shard"],
)
def test_overlong_or_odd_values_are_one_short_line(args: list[str], needle: str) -> None:
    res = invoke(["run", "--seeds", "1", *args])
    assert res.exit_code == 2 and needle in res.stderr
    assert len(res.stderr.splitlines()) == 1 and len(res.stderr) < 600


def test_a_huge_or_deep_failure_database_file_never_stops_a_run(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.mkdir()
    depth = 100_000  # json.loads would raise RecursionError
    (db / "deep.json").write_text('{"faults": ' + "[" * depth + "]" * depth + "}")
    (db / "huge.json").write_bytes(b" " * (2 << 20))
    (db / "float-seed.json").write_text(
        '{"format": "mfm-sim-schedule/1", "seed": 1.5, "scenario": "linear", "faults": []}'
    )
    res = invoke(["run", "--scenario", "linear", "--seeds", "2", "--failures-dir", str(db)])
    assert res.exit_code == 0, res.output
    assert "ok: 2 schedules" in res.stdout and "harness bug" not in res.stderr
    warned = [ln for ln in res.stderr.splitlines() if "skipping unreadable" in ln]
    assert len(warned) == 3
    assert any("nests deeper" in w for w in warned) and any("larger than" in w for w in warned)
