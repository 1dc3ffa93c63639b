"""Every printed command reproduces (issue 17, Deliver 1): the replay commands `mfm-sim run`
prints, writes to its JSON and its JUnit, and those `mfm-sim gate` prints, writes to its JUnit
and to its issue body, are collected from a failing variant sweep and each is run: each must
give the digest recorded beside it, and fail the same way."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.mfm_sim.cli.support import VARIANT, invoke, needs_variant

pytestmark = needs_variant

_REPLAY = re.compile(r"mfm-sim replay [^\n]*")
_DIGEST = re.compile(r"digest:? ([0-9a-f]{64})")


def _commands_with_digests(text: str) -> list[tuple[str, str]]:
    """(replay command, the digest printed in the same failure block) from `text`."""
    out: list[tuple[str, str]] = []
    digest: str | None = None
    for line in text.splitlines():
        if (m := _DIGEST.search(line)) is not None:
            digest = m.group(1)
        if (m := _REPLAY.search(line)) is not None and digest is not None:
            out.append((m.group(0).strip(), digest))
            digest = None
    return out


def _replay(command: str, cwd: Path) -> tuple[int, str]:
    """Run a printed `mfm-sim replay ...` command (in-process, from `cwd`); its exit code
    and digest."""
    argv = shlex.split(command)
    assert argv[:2] == ["mfm-sim", "replay"], command
    import os

    here = Path.cwd()
    os.chdir(cwd)
    try:
        res = invoke(argv[1:])
    finally:
        os.chdir(here)
    m = _DIGEST.search(res.stdout)
    assert m is not None, res.output
    assert "DIGEST MISMATCH" not in res.stdout, (command, res.stdout)
    return res.exit_code, m.group(1)


def _junit_text(path: Path) -> str:
    return "\n".join(el.text or "" for el in ET.parse(path).getroot().iter() if el.text)


SWEEP_OPTIONS = [
    [],
    ["--faults", "crash_before_effect,crash_after_effect", "--no-swarm", "--unrestricted"],
]


@pytest.mark.parametrize("options", SWEEP_OPTIONS, ids=["defaults", "faults-noswarm-unrestricted"])
def test_every_command_run_prints_reproduces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["run", "--scenario", "linear", "--engine-variant", VARIANT, *options]
    args += ["--json", "r.json", "--junit", "r.xml", "--failures-dir", "db"]
    first = invoke([*args, "--seeds", "6"])
    assert first.exit_code == 1, first.output
    # More seeds: the failure database's schedules are replayed first (commands naming the
    # file), then the sweep finds new ones (commands naming the seed).
    res = invoke([*args, "--seeds", "14"])
    assert res.exit_code == 1, res.output

    printed = _commands_with_digests(res.stdout)
    data = json.loads((tmp_path / "r.json").read_text())
    in_json = [(f["replay"], f["digest"]) for f in data["failures"]]
    in_junit = _commands_with_digests(_junit_text(tmp_path / "r.xml"))
    assert printed and in_json and in_junit
    assert any("--schedule" in c for c, _ in in_json)  # the failure database's
    assert any("--schedule" not in c for c, _ in in_json)  # the sweep's, by seed
    if options:
        assert all("--no-swarm" in c for c, _ in in_json if "--schedule" not in c)

    commands = dict(printed + in_json + in_junit)  # one run per distinct command
    for command, digest in commands.items():
        assert f"--engine-variant {VARIANT}" in command
        code, got = _replay(command, tmp_path)
        assert (code, got) == (1, digest), command

    # The check can fail: a command that dropped the variant (the bug this guards against)
    # replays another schedule.
    command, digest = next((c, d) for c, d in in_json if "--schedule" not in c)
    dropped = command.replace(f" --engine-variant {VARIANT}", "")
    assert _replay(dropped, tmp_path) != (1, digest)


def test_every_command_the_gate_prints_reproduces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus").mkdir()
    res = invoke(
        ["gate", "--skip-tests", "--seeds", "8", "--seed-start", "0", "--scenario", "linear",
         "--variant", VARIANT, "--corpus", "corpus", "--junit", "g.xml",
         "--issue-body", "issue.md", "--save-failures", "saved"]
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    printed = _commands_with_digests(res.stdout)
    in_junit = _commands_with_digests(_junit_text(tmp_path / "g.xml"))
    issue = (tmp_path / "issue.md").read_text()
    table_digest = re.search(r"\| digest \| `([0-9a-f]{64})` \|", issue)
    assert printed and in_junit and table_digest is not None

    # The issue body: the shrunk schedule, saved as it says, and its three commands.
    shrunk = re.search(r"```json\n(.*?)\n```", issue, re.S)
    assert shrunk is not None
    (tmp_path / "shrunk.json").write_text(shrunk.group(1))
    recorded = json.loads(shrunk.group(1))
    assert recorded["variant"] == VARIANT and recorded["digest"]
    block = re.search(r"```sh\n(.*?)\n```", issue, re.S)
    assert block is not None
    by_seed, by_file, python = block.group(1).splitlines()
    assert by_file.endswith(" --timeline")

    checks = [*printed, *in_junit, (by_seed, table_digest.group(1))]
    checks.append((by_file.removesuffix(" --timeline"), recorded["digest"]))
    for command, digest in dict(checks).items():
        assert f"--engine-variant {VARIANT}" in command, command
        code, got = _replay(command, tmp_path)
        assert (code, got) == (1, digest), command

    # The `python -c` line needs nothing but the package: first line, the digest.
    argv = shlex.split(python)
    assert argv[0] == "python"
    out = subprocess.run(
        [sys.executable, *argv[1:]], cwd=tmp_path, capture_output=True, text=True, check=True,
        timeout=120,
    )  # fmt: skip
    assert out.stdout.splitlines()[0] == table_digest.group(1)
    assert len(out.stdout.splitlines()) > 1  # and the violations

    # The saved schedules replay under their recorded variant and digest.
    for path in sorted((tmp_path / "saved").glob("*.json"))[:3]:
        code, got = _replay(f"mfm-sim replay --schedule {path}", tmp_path)
        assert (code, got) == (1, json.loads(path.read_text())["digest"])


def test_emitted_regression_test_names_a_reproducing_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    res = invoke(
        ["replay", "3", "--scenario", "linear", "--engine-variant", VARIANT, "--shrink",
         "--out-dir", "min", "--emit-test", "test_regression.py"]
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    source = (tmp_path / "test_regression.py").read_text()
    (command,) = re.findall(r"^ +(mfm-sim replay \d.*)$", source, re.M)
    digest = re.search(r"RECORDED_DIGEST = '([0-9a-f]{64})'", source)
    assert digest is not None and "--schedule min/linear-3.min.json" in command
    assert _replay(command, tmp_path) == (1, digest.group(1))


def test_every_command_explore_prints_reproduces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    res = invoke(
        ["explore", "--scenario", "linear", "--crash-points", "--engine-variant", VARIANT,
         "--failures-dir", "db"]
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    commands = [ln.split("replay: ", 1)[1] for ln in res.stdout.splitlines() if "replay: " in ln]
    assert commands
    for command in commands[:3]:
        assert "--schedule" in command  # the saved file records the variant and the digest
        argv = shlex.split(command)
        replayed = invoke(argv[1:])
        assert replayed.exit_code == 1, replayed.output
        assert "recorded digest: reproduced" in replayed.stdout
