"""The shared parsers: each refuses bad input as `BadInput` naming the option at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfm_sim.cli.options import (
    BadInput,
    check_writable,
    parse_faults,
    parse_scenarios,
    parse_seed_arg,
    parse_seed_range,
    parse_seeds,
    parse_store,
    parse_variant,
    write_output,
)
from mfm_sim.faults.kinds import ALL_KINDS, FaultKind
from tests.mfm_sim.cli.support import invoke


def test_scenarios_are_listed_once_each_in_order() -> None:
    names = [sc.name for sc in parse_scenarios("linear,retry_heavy,linear")]
    assert names == ["linear", "retry_heavy"]
    with pytest.raises(BadInput, match=r"^--scenario: "):
        parse_scenarios("no_such_scenario")


def test_seeds() -> None:
    assert parse_seed_arg("0x10") == 16
    with pytest.raises(BadInput, match=r"^--seed: "):
        parse_seed_arg("abc", "--seed")
    assert parse_seed_range("3..5").seeds == range(3, 6)
    for bad in ("5..2", "abc", "1..x"):
        with pytest.raises(BadInput, match=r"^--seed-range: "):
            parse_seed_range(bad)
    for args, seeds, desc in (
        ((None, None, 7), range(7), "0..6"),
        ((3, None, 7), range(3), "0..2"),
        ((None, "4..6", 7), range(4, 7), "4..6"),
    ):
        span, shown = parse_seeds(*args)
        assert (span.seeds, shown) == (seeds, desc)
    with pytest.raises(BadInput, match="cannot be used together"):
        parse_seeds(3, "0..2", 7)


def test_faults_every_kind_is_the_default() -> None:
    assert parse_faults(None) is None
    assert parse_faults("all") is None
    one = next(iter(FaultKind))
    assert parse_faults(one.value) == (one,)
    assert len(ALL_KINDS) > 1
    with pytest.raises(BadInput, match=r"^--faults: "):
        parse_faults("meteor_strike")


def test_variant() -> None:
    assert parse_variant(None) is None
    with pytest.raises(BadInput, match=r"^--engine-variant: unknown engine variant"):
        parse_variant("no_such_variant")


def test_output_files_are_checked_before_work_and_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check_writable(None, "--json")
    check_writable(str(tmp_path / "out.json"), "--json")
    with pytest.raises(BadInput, match=r"^--json: .* is a directory"):
        check_writable(str(tmp_path), "--json")
    with pytest.raises(BadInput, match=r"^--junit: .* does not exist"):
        check_writable(str(tmp_path / "no" / "out.xml"), "--junit")
    write_output(str(tmp_path / "a.txt"), "text", "--json")
    write_output(str(tmp_path / "b.bin"), b"\x00", "--junit")
    assert (tmp_path / "a.txt").read_text() == "text"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00"
    # A write that fails is a warning, not an error: the command still gives its verdict.
    assert write_output(str(tmp_path / "no" / "t.html"), "x", "--html") is False
    err = capsys.readouterr().err
    assert err.startswith("mfm-sim: warning: --html: cannot write ") and err.count("\n") == 1
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["explore", "--scenario", "linear", "--crash-points", "--failures-dir", "{f}/sub"],
        ["run", "--scenario", "linear", "--seeds", "1", "--failures-dir", "{f}/sub"],
        ["replay", "3", "--scenario", "linear", "--shrink", "--out-dir", "{f}/x"],
        ["gate", "--skip-tests", "--seeds", "1", "--save-failures", "{f}/x/y"],
    ],
    ids=["explore", "run", "replay", "gate"],
)
def test_a_directory_under_a_file_is_bad_input_before_any_work(
    tmp_path: Path, args: list[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    res = invoke([a.replace("{f}", str(afile)) for a in args])
    assert res.exit_code == 2, res.output
    assert f"{afile} is a file" in res.stderr and len(res.stderr.splitlines()) == 1
    assert "harness bug" not in res.stderr and res.stdout == ""


def test_check_dir_accepts_directories_still_to_be_made(tmp_path: Path) -> None:
    from mfm_sim.cli.options import check_dir

    check_dir(str(tmp_path / "a" / "b" / "c"), "--out-dir")  # made later: fine
    check_dir(None, "--out-dir")
    (tmp_path / "f").write_text("")
    with pytest.raises(BadInput, match="is a file"):
        check_dir(str(tmp_path / "f" / "b"), "--out-dir")


def test_real_names_the_real_engine() -> None:
    assert parse_variant("real") is None and parse_variant(None) is None
    with pytest.raises(BadInput, match="known: real, "):
        parse_variant("no_such_variant")


def test_store() -> None:
    assert parse_store("memory") == "memory"
    assert parse_store(" memory ") == "memory"
    with pytest.raises(BadInput, match=r"^--store: unknown store 'nope'; known: memory, sqlite"):
        parse_store("nope")
    with pytest.raises(BadInput, match=r"^--store: unknown flaw 'nope' of the sqlite store"):
        parse_store("sqlite:nope")
    with pytest.raises(BadInput, match=r"^--store: unknown flaw 'x' of the memory store"):
        parse_store("memory:x")


def test_a_bad_store_is_one_line_and_exit_2(tmp_path: Path) -> None:
    res = invoke(["run", "--scenario", "linear", "--seeds", "1", "--store", "nope"])
    assert res.exit_code == 2
    assert res.output.count("\n") == 1 and "--store: unknown store 'nope'" in res.output
