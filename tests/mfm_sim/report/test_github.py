"""What a GitHub job shows of a gate run: annotations, the step summary, one issue per failure
signature; unit by unit, and as `mfm-sim gate` writes them for a broken engine."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from mfm_sim import get_scenario, simulate
from mfm_sim.cli.main import cli
from mfm_sim.explore.sweep import sweep
from mfm_sim.invariants import Violation
from mfm_sim.report.github import (
    annotations,
    marker,
    signature_id,
    signature_issues,
    step_summary,
)
from mfm_sim.report.groups import FailureGroup, group_failures
from mfm_sim.report.issue import IssueContext
from mfm_sim.report.junit import Case, Suite
from mfm_sim.report.summary import Failure, ReplayOptions
from mfm_sim.selfcheck.variants import VARIANTS

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "ci" / "corpus"
VARIANT = "unfixed_orphan"
pytestmark = pytest.mark.skipif(VARIANT not in VARIANTS, reason="variant not registered")


@pytest.fixture(scope="module")
def groups() -> list[FailureGroup]:
    sw = sweep([get_scenario("linear")], range(30), variant=VARIANT)
    options = ReplayOptions(VARIANT)
    return group_failures(
        [Failure("sweep", r, options.command(r.scenario, r.seed)) for r in sw.failures]
    )


# ------------------------------------------------------------------------------ signature ids


def test_a_signature_id_is_the_same_for_every_seed_of_a_group(groups: list[FailureGroup]) -> None:
    big = next(g for g in groups if g.count > 1)
    ids = {signature_id(group_failures([f])[0].signature) for f in big.failures}
    assert ids == {signature_id(big.signature)}
    assert len({signature_id(g.signature) for g in groups}) == len(groups)
    assert re.fullmatch(r"[0-9a-f]{12}", signature_id(big.signature))


def test_a_signature_id_does_not_depend_on_the_process() -> None:
    code = (
        "from mfm_sim.report.github import signature_id; "
        "print(signature_id(('order', 'state N entered early')))"
    )
    got = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert got == {signature_id(("order", "state N entered early"))}


# ------------------------------------------------------------------------------ annotations


def test_annotations_are_one_line_each_with_the_replay_command(groups: list[FailureGroup]) -> None:
    text = annotations(groups)
    lines = text.splitlines()
    assert len(lines) == min(len(groups), 10)
    for g, line in zip(groups, lines, strict=False):
        assert line.startswith("::error title=mfm-sim%3A ")
        assert f"%0Areplay: {g.first.replay}%0A" in line
        assert signature_id(g.signature) in line


def test_annotation_messages_and_titles_are_escaped(groups: list[FailureGroup]) -> None:
    g = groups[0]
    r = g.first.result
    hostile = Violation("order", None, (), "100% broken\nsecond line, with: colons", r.seed)
    failure = attrs.evolve(g.first, result=attrs.evolve(r, violations=(hostile,)))
    group = FailureGroup(("order", hostile.message), (failure,))
    (line,) = annotations([group]).splitlines()
    assert "100%25 broken%0Asecond line, with: colons" in line
    title = line.split("::", 2)[1].removeprefix("error title=")
    assert ":" not in title and title.startswith("mfm-sim%3A order (1 failing schedule)")


def test_no_failure_no_annotation() -> None:
    assert annotations([]) == ""


# ------------------------------------------------------------------------------ step summary


def test_the_step_summary_tables_the_steps_and_the_groups(groups: list[FailureGroup]) -> None:
    suites = [
        Suite("mfm-sim.corpus", (Case("c", "a"), Case("c", "b", skipped="no variant"))),
        Suite("mfm-sim.sweep", (Case("s", "linear", failure="boom"),)),
    ]
    first = groups[0].first.result
    text = step_summary("FAILED", suites, groups, {(first.scenario, first.seed): "t.html"}, 99)
    assert text.startswith("## :x: mfm-sim gate: FAILED")
    assert "| `mfm-sim.corpus` | 2 | 0 | 1 |" in text
    assert "| `mfm-sim.sweep` | 1 | 1 | 0 |" in text
    n = len(groups)
    assert f"### 99 failing schedules in {n} group{'s' if n != 1 else ''}" in text
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \| `", line)]
    assert len(rows) == len(groups)
    assert "`t.html`" in rows[0] and rows[0].count(" | ") == 5
    assert groups[0].first.replay in rows[0]


def test_a_passing_step_summary_says_ok() -> None:
    text = step_summary("ok", [Suite("mfm-sim.sweep", (Case("s", "linear"),))], [], {}, 0)
    assert text.startswith("## :white_check_mark: mfm-sim gate: ok")
    assert "failing" not in text


# ------------------------------------------------------------------------------ issues


def test_one_marked_issue_per_signature(groups: list[FailureGroup]) -> None:
    contexts = [IssueContext("abc", 0, VARIANT)] * len(groups)
    issues = signature_issues(groups, contexts)
    assert [i.sig_id for i in issues] == [signature_id(g.signature) for g in groups]
    for g, issue in zip(groups, issues, strict=True):
        assert issue.body.startswith(marker(issue.sig_id))
        assert f"[{issue.sig_id}]" in issue.title and g.name in issue.title
        assert g.first.replay in issue.body
        assert f"| seed | `{g.first.result.seed}` |" in issue.body


# ------------------------------------------------------------------------------ the gate


def _gate(tmp_path: Path, *args: str) -> tuple[int, str]:
    out = tmp_path / "reports"
    res = CliRunner().invoke(
        cli,
        [
            "gate",
            "--corpus",
            str(CORPUS),
            "--skip-tests",
            "--no-shrink",
            "--seed-start",
            "0",
            "--scenario",
            "linear",
            "--annotations",
            str(tmp_path / "annotations.txt"),
            "--step-summary",
            str(tmp_path / "summary.md"),
            "--html-dir",
            str(out / "timelines"),
            "--issues-dir",
            str(out / "issues"),
            *args,
        ],
    )
    return res.exit_code, res.output


def test_the_gate_writes_what_the_workflow_shows(tmp_path: Path) -> None:
    code, output = _gate(tmp_path, "--seeds", "12", "--engine-variant", VARIANT)
    assert code == 1, output
    lines = (tmp_path / "annotations.txt").read_text().splitlines()
    assert lines and all(line.startswith("::error title=") for line in lines)
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## :x: mfm-sim gate: FAILED")
    pages = sorted((tmp_path / "reports" / "timelines").glob("*.html"))
    assert len(pages) == len(lines)  # one timeline per group (fewer than 10 here)
    for page in pages:
        assert page.name in summary
        text = page.read_text()
        assert 'class="span ' in text and "--engine-variant unfixed_orphan" in text
    index = (tmp_path / "reports" / "issues" / "index.tsv").read_text().splitlines()
    assert len(index) == len(lines)
    for entry in index:
        sig, title = entry.split("\t")
        assert title.endswith(f"[{sig}]")
        assert (tmp_path / "reports" / "issues" / f"{sig}.md").read_text().startswith(marker(sig))

    # The replay command of each annotation reproduces the failure it names.
    for line in lines[:2]:
        command = re.search(r"%0Areplay: (.*?)%0A", line)
        assert command is not None
        argv = shlex.split(command.group(1))
        seed = int(argv[2])
        expected = simulate(get_scenario("linear"), seed, variant=VARIANT).digest
        replayed = CliRunner().invoke(cli, argv[1:])
        assert replayed.exit_code == 1 and f"digest: {expected}" in replayed.output


def test_a_passing_gate_writes_an_ok_summary_and_no_issue(tmp_path: Path) -> None:
    code, output = _gate(tmp_path, "--seeds", "3")
    assert code == 0, output
    assert (tmp_path / "annotations.txt").read_text() == ""
    assert (tmp_path / "summary.md").read_text().startswith("## :white_check_mark:")
    assert not (tmp_path / "reports").exists()


def test_an_output_directory_under_a_file_is_bad_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = CliRunner().invoke(
        cli, ["gate", "--skip-tests", "--seeds", "1", "--html-dir", str(blocker / "sub")]
    )
    assert res.exit_code == 2
    assert "--html-dir" in res.output and "is a file" in res.output
    assert "Traceback" not in res.output
