#!/usr/bin/env python3
"""The CI gate: tests, the regression corpus, then a seed sweep. Exit 0 only if all pass.

    python ci/gate.py [--time-budget S] [--seeds N] [--seed-start N] [--scenario all]
                      [--jobs N] [--require-coverage] [--junit FILE] [--issue-body FILE]
                      [--save-failures DIR] [--skip-tests] [--corpus DIR]

1. The test suite (`python -m pytest -n 2 -q`), unless `--skip-tests`.
2. Every schedule in `ci/corpus/*.json` replays on the engine with no violation. A corpus
   file may name the `variant` (a deliberately broken engine) and `invariant` it was found
   with; if that variant is available, the gate also checks that the schedule still breaks
   that invariant under it (a canary: the checks can still fail).
3. A sweep of new seeds over the scenario mix, using `mfm_sim.simulate` directly. The seeds
   are `seed-start, seed-start + 1, ...`; `--seed-start` defaults to a number derived from
   the git commit (`git rev-parse HEAD`), so the same commit sweeps the same seeds, never
   from the date or the wall clock. `--seeds N` runs exactly N seeds (bounded by
   `--time-budget` as a safety net); without `--seeds` the sweep runs seeds until the time
   budget is spent (the seeds run are then a prefix of the same deterministic sequence).

Outputs: a summary on stdout; `--junit FILE` (JUnit XML); on failure, `--issue-body FILE`
(a ready issue: seed, commit, Python, invariant, replay command, shrunk schedule JSON) and
`--save-failures DIR` (the shrunk schedules as files, ready to be committed to the corpus).
`--require-coverage` fails the gate if a recovery path the swept scenarios can fire
(`mfm_sim.explore.coverage.expected_paths`) never fired.

Exit status: 0 all passed; 1 a test, corpus schedule, sweep or coverage requirement failed;
2 bad input (unknown scenario, malformed corpus file); 3 the harness itself crashed
(never reported as an engine violation).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python ci/gate.py` without an installed package
    sys.path.insert(1, str(ROOT))
CORPUS = ROOT / "ci" / "corpus"
DEFAULT_BUDGET = 60.0
CHUNK = 16  # seeds per worker task
MAX_ISSUE_FAILURES = 10
MAX_SAVED = 100  # failing schedules written by --save-failures

# ------------------------------------------------------------------------------ variants


def variant_available(name: str) -> bool:
    from mfm_sim.selfcheck.variants import VARIANTS

    return name in VARIANTS


# ------------------------------------------------------------------------------ report


@attrs.define
class Case:
    classname: str
    name: str
    seconds: float = 0.0
    failure: str | None = None  # message; the body goes to `detail`
    error: str | None = None
    skipped: str | None = None
    detail: str = ""
    out: str = ""


@attrs.define
class Failure:
    scenario: str
    seed: int
    invariant: str
    message: str
    schedule: dict[str, Any]
    violations: list[str]
    variant: str | None = None  # the engine variant it failed under (None: the real engine)
    schedule_file: str | None = None  # a corpus file (None: the seed's own random schedule)


@attrs.define
class Gate:
    cases: list[Case] = attrs.Factory(list)
    failures: list[Failure] = attrs.Factory(list)
    harness_errors: list[str] = attrs.Factory(list)
    failed: bool = False

    def add(self, case: Case) -> None:
        self.cases.append(case)
        if case.failure is not None or case.error is not None:
            self.failed = True


def write_junit(gate: Gate, path: str | os.PathLike[str]) -> None:
    suites = ET.Element("testsuites", name="mfm-sim-gate")
    by_class: dict[str, list[Case]] = {}
    for case in gate.cases:
        by_class.setdefault(case.classname.split(".")[0], []).append(case)
    for suite_name, cases in by_class.items():
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=suite_name,
            tests=str(len(cases)),
            failures=str(sum(c.failure is not None for c in cases)),
            errors=str(sum(c.error is not None for c in cases)),
            skipped=str(sum(c.skipped is not None for c in cases)),
            time=f"{sum(c.seconds for c in cases):.3f}",
        )
        for c in cases:
            el = ET.SubElement(
                suite, "testcase", classname=c.classname, name=c.name, time=f"{c.seconds:.3f}"
            )
            if c.failure is not None:
                ET.SubElement(el, "failure", message=c.failure).text = c.detail
            if c.error is not None:
                ET.SubElement(el, "error", message=c.error).text = c.detail
            if c.skipped is not None:
                ET.SubElement(el, "skipped", message=c.skipped)
            if c.out:
                ET.SubElement(el, "system-out").text = c.out
    tree = ET.ElementTree(suites)
    ET.indent(tree)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)


# ------------------------------------------------------------------------------ context


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and text else None


def default_seed_start(commit: str | None) -> int:
    """A deterministic start for the sweep: the commit's first 64 bits (0 without git)."""
    if commit is None:
        return 0
    try:
        return int(commit[:16], 16)
    except ValueError:
        return int.from_bytes(hashlib.sha256(commit.encode()).digest()[:8], "big")


def replay_command(scenario: str, seed: int, schedule_file: str | None = None) -> str:
    cmd = f"mfm-sim replay {seed} --scenario {scenario}"
    if schedule_file:
        cmd += f" --schedule {shlex.quote(schedule_file)}"
    return cmd


def python_replay(
    scenario: str, seed: int, variant: str | None = None, schedule_file: str | None = None
) -> str:
    extra = f", variant={json.dumps(variant)}" if variant else ""
    if schedule_file:
        extra += f", schedule=Schedule.load({json.dumps(schedule_file)})"
    code = (
        "from mfm_sim import simulate, get_scenario, Schedule; "
        f"r = simulate(get_scenario({json.dumps(scenario)}), {seed}{extra}); "
        'print(*(v.describe() for v in r.violations), sep="\\n")'
    )
    return f"python -c {shlex.quote(code)}"


# ------------------------------------------------------------------------------ steps


def run_tests(gate: Gate, args: argparse.Namespace) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-n",
        str(args.test_jobs),
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-40:]
    case = Case("tests", "pytest", time.monotonic() - t0, out="\n".join(tail))
    if proc.returncode != 0:
        case.failure = f"test suite failed (exit {proc.returncode})"
        case.detail = "\n".join(tail)
    gate.add(case)
    last = tail[-1] if tail else ""
    print(f"tests: {'ok' if proc.returncode == 0 else 'FAILED'}  {last}")


def load_corpus(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    from mfm_sim.run.schedule import Schedule, ScheduleError

    out = []
    for path in sorted(directory.glob("*.json")):
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ScheduleError(f"corpus file {path}: {exc}") from None
        Schedule.from_json(raw)  # validates; raises ScheduleError naming the problem
        out.append((path, raw))
    return out


def replay_corpus(gate: Gate, directory: Path) -> None:
    from mfm_sim import get_scenario, simulate
    from mfm_sim.run.schedule import Schedule

    entries = load_corpus(directory)
    for path, raw in entries:
        schedule = Schedule.from_json(raw)
        scenario = get_scenario(schedule.scenario)
        t0 = time.monotonic()
        result = simulate(scenario, schedule.seed, schedule=schedule, keep_trace=False)
        case = Case("corpus", path.name, time.monotonic() - t0)
        if result.violations:
            v = result.violations[0]
            case.failure = f"{v.invariant}: {v.message}"
            case.detail = "\n".join(x.describe() for x in result.violations)
            gate.failures.append(
                Failure(
                    scenario.name,
                    schedule.seed,
                    v.invariant,
                    v.message,
                    schedule.to_json(),
                    [x.describe() for x in result.violations],
                    schedule_file=str(path),
                )
            )
        gate.add(case)
        print(f"corpus {path.name}: {'FAILED ' + case.failure if case.failure else 'ok'}")
        variant, invariant = raw.get("variant"), raw.get("invariant")
        if not variant:
            continue
        canary = Case("corpus", f"{path.name}[{variant}]")
        if not variant_available(variant):
            canary.skipped = f"variant {variant!r} is not available"
        else:
            t0 = time.monotonic()
            broken = simulate(
                scenario, schedule.seed, schedule=schedule, variant=variant, keep_trace=False
            )
            canary.seconds = time.monotonic() - t0
            if not any(v.invariant == invariant for v in broken.violations):
                got = ", ".join(sorted({v.invariant for v in broken.violations})) or "none"
                canary.failure = (
                    f"under variant {variant} the schedule no longer breaks {invariant} "
                    f"(violations: {got}); a check may have gone blind, or the scenario "
                    f"changed so the schedule's steps moved"
                )
        gate.add(canary)
    if not entries:
        print(f"corpus: no schedules in {directory}")


def _sweep_chunk(
    names: Sequence[str], seeds: Sequence[int], variant: str | None = None
) -> list[dict[str, Any]]:
    """Worker: every (seed, scenario) of a chunk; only what the parent needs comes back."""
    from mfm_sim import get_scenario, simulate
    from mfm_sim.explore.coverage import coverage_of
    from mfm_sim.run.simulate import HarnessError

    out = []
    for seed in seeds:
        for name in names:
            row: dict[str, Any] = {"scenario": name, "seed": seed}
            try:
                r = simulate(
                    get_scenario(name),
                    seed,
                    keep_trace=False,
                    keep_observation=True,
                    variant=variant,
                )
            except HarnessError as exc:
                row["harness_error"] = str(exc)
                out.append(row)
                continue
            row["faults"] = len(r.schedule.faults)
            row["paths"] = sorted(coverage_of(r.observation)) if r.observation else []
            if r.violations:
                row["violations"] = [(v.invariant, v.message, v.describe()) for v in r.violations]
                row["schedule"] = r.schedule.to_json()
            out.append(row)
    return out


def sweep(gate: Gate, args: argparse.Namespace, names: list[str]) -> tuple[int, dict[str, int]]:
    """Run seeds until `--seeds` or the time budget; returns (seeds run, path counts)."""
    budget = args.time_budget
    deadline = time.monotonic() + budget if budget is not None else None
    start = args.seed_start
    total = args.seeds
    rows: list[dict[str, Any]] = []

    def chunks() -> Iterator[list[int]]:
        i = 0
        while total is None or i < total:
            n = CHUNK if total is None else min(CHUNK, total - i)
            yield [(start + i + k) % 2**64 for k in range(n)]
            i += n

    def over() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    t0 = time.monotonic()
    seeds_run = 0
    gen = chunks()
    if args.jobs <= 1:
        for chunk in gen:
            if over():
                break
            rows.extend(_sweep_chunk(names, chunk, args.variant))
            seeds_run += len(chunk)
    else:
        with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
            pending: list[concurrent.futures.Future[list[dict[str, Any]]]] = []
            exhausted = False
            results: list[list[dict[str, Any]]] = []
            while True:
                while not exhausted and len(pending) < 2 * args.jobs and not over():
                    chunk = next(gen, None)
                    if chunk is None:
                        exhausted = True
                        break
                    pending.append(pool.submit(_sweep_chunk, names, chunk, args.variant))
                if not pending:
                    break
                head = pending.pop(0)  # in submission order: the output order is the seed order
                results.append(head.result())
                if over():
                    exhausted = True
            for part in results:
                rows.extend(part)
            seeds_run = len({r["seed"] for r in rows})
    elapsed = time.monotonic() - t0

    counts: dict[str, int] = {}
    per_scenario: dict[str, dict[str, int]] = {
        n: {"schedules": 0, "faults": 0, "failed": 0} for n in names
    }
    for row in rows:
        stats = per_scenario[row["scenario"]]
        stats["schedules"] += 1
        stats["faults"] += row.get("faults", 0)
        for p in row.get("paths", ()):
            counts[p] = counts.get(p, 0) + 1
        if "harness_error" in row:
            gate.harness_errors.append(row["harness_error"])
            gate.add(
                Case(
                    f"sweep.{row['scenario']}",
                    f"seed-{row['seed']}",
                    error="harness error (not an engine violation)",
                    detail=row["harness_error"],
                )
            )
            continue
        if "violations" in row:
            stats["failed"] += 1
            inv, msg, _ = row["violations"][0]
            detail = "\n".join(d for _, _, d in row["violations"])
            detail += f"\nreplay: {replay_command(row['scenario'], row['seed'])}"
            gate.add(
                Case(
                    f"sweep.{row['scenario']}",
                    f"seed-{row['seed']}",
                    failure=f"{inv}: {msg}",
                    detail=detail,
                )
            )
            gate.failures.append(
                Failure(
                    row["scenario"],
                    row["seed"],
                    inv,
                    msg,
                    row["schedule"],
                    [d for _, _, d in row["violations"]],
                    args.variant,
                )
            )
    for name in names:
        s = per_scenario[name]
        gate.add(
            Case(
                f"sweep.{name}",
                "summary",
                elapsed / max(1, len(names)),
                out=f"{s['schedules']} schedules, {s['faults']} faults, {s['failed']} failing",
            )
        )
    n_sched = sum(s["schedules"] for s in per_scenario.values())
    n_bad = sum(s["failed"] for s in per_scenario.values())
    last = (start + seeds_run - 1) % 2**64 if seeds_run else start
    print(
        f"sweep: seeds {start}..{last} ({seeds_run} seeds x {len(names)} scenarios = "
        f"{n_sched} schedules) in {elapsed:.1f}s; {n_bad} failing"
    )
    return seeds_run, counts


def check_coverage(gate: Gate, counts: dict[str, int], names: list[str], required: bool) -> None:
    from mfm_sim import get_scenario
    from mfm_sim.explore.coverage import expected_paths

    expected = expected_paths([get_scenario(n) for n in names])
    missing = [p for p in expected if not counts.get(p)]
    rows = "\n".join(f"{p:50} {counts.get(p, 0)}" for p in expected)
    case = Case("coverage", "recovery-paths", out=rows)
    if missing:
        msg = f"{len(missing)} recovery path(s) never fired: {', '.join(missing)}"
        if required:
            case.failure = msg
            case.detail = rows
        print(f"coverage: {msg}{'' if required else ' (not required)'}")
    else:
        print(f"coverage: all {len(expected)} expected recovery paths fired")
    gate.add(case)


# ------------------------------------------------------------------------------ triage


def shrink_failure(f: Failure, variant: str | None = None) -> tuple[dict[str, Any], str]:
    """The shrunk schedule (JSON) and a note on how shrinking went."""
    from mfm_sim import get_scenario
    from mfm_sim.explore.shrink import shrink
    from mfm_sim.run.schedule import Schedule

    schedule = Schedule.from_json(f.schedule)
    try:
        res = shrink(get_scenario(f.scenario), schedule, f.invariant, variant=variant)
    except Exception as exc:
        return f.schedule, f"shrinking failed: {type(exc).__name__}: {exc}"
    if not res.reproduced:
        return f.schedule, "the scripted replay did not reproduce the violation; unshrunk"
    return res.schedule.to_json(), res.describe()


def issue_body(
    gate: Gate, args: argparse.Namespace, commit: str | None, shrunk: dict[str, Any], note: str
) -> str:
    import mfm_sim

    f = gate.failures[0]
    py = f"{platform.python_implementation()} {platform.python_version()}"
    lines = [
        f"## mfm-sim gate: `{f.invariant}` violated in `{f.scenario}` (seed {f.seed})",
        "",
        "| | |",
        "| --- | --- |",
        f"| seed | `{f.seed}` |",
        f"| scenario | `{f.scenario}` |",
        f"| invariant | `{f.invariant}` |",
        f"| commit | `{commit or 'unknown'}` |",
        f"| Python | {py} |",
        f"| mfm-sim | {mfm_sim.__version__} |",
        *([f"| engine variant | `{f.variant}` (deliberately broken) |"] if f.variant else []),
        f"| sweep | seeds from `{args.seed_start}` |",
        "",
        "### Violation",
        "",
        "```",
        *f.violations,
        "```",
        "",
        "### Reproduce",
        "",
        "```sh",
        replay_command(f.scenario, f.seed, f.schedule_file),
        f"{replay_command(f.scenario, f.seed, 'shrunk.json')} --timeline",
        python_replay(f.scenario, f.seed, f.variant, f.schedule_file),
        "```",
        "",
        f"### Shrunk schedule ({note})",
        "",
        "Save as `shrunk.json` (or commit it to `ci/corpus/` once fixed):",
        "",
        "```json",
        json.dumps(shrunk, indent=2, sort_keys=True),
        "```",
    ]
    others = gate.failures[1:MAX_ISSUE_FAILURES]
    if others:
        lines += ["", "### Other failures in this sweep", ""]
        lines += [f"- `{o.scenario}` seed `{o.seed}`: `{o.invariant}`: {o.message}" for o in others]
        if len(gate.failures) > MAX_ISSUE_FAILURES:
            lines.append(f"- ... and {len(gate.failures) - MAX_ISSUE_FAILURES} more")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ci/gate.py", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help=f"seconds for the sweep (default {DEFAULT_BUDGET:g} without --seeds)",
    )
    p.add_argument("--seeds", type=int, default=None, help="sweep exactly N seeds")
    p.add_argument(
        "--seed-start",
        type=int,
        default=None,
        help="first seed (default: derived from the git commit)",
    )
    p.add_argument("--scenario", default="all", help="scenario name(s), default or all")
    p.add_argument("--jobs", type=int, default=1, help="worker processes for the sweep")
    p.add_argument("--test-jobs", type=int, default=2, help="pytest -n for the test suite")
    p.add_argument(
        "--require-coverage",
        action="store_true",
        help="fail if an expected recovery path never fired",
    )
    p.add_argument("--junit", default=None, help="write a JUnit XML report here")
    p.add_argument("--issue-body", default=None, help="on failure, write an issue body here")
    p.add_argument("--save-failures", default=None, help="on failure, write shrunk schedules here")
    p.add_argument("--skip-tests", action="store_true", help="do not run the test suite")
    p.add_argument("--no-shrink", action="store_true", help="do not shrink the first failure")
    p.add_argument("--corpus", default=str(CORPUS), help="directory of regression schedules")
    p.add_argument(
        "--variant",
        default=None,
        help="sweep a deliberately broken engine variant (to see the gate fail)",
    )
    args = p.parse_args(argv)
    if args.seeds is not None and args.seeds < 0:
        p.error("--seeds must be >= 0")
    if args.time_budget is not None and args.time_budget < 0:
        p.error("--time-budget must be >= 0")
    if args.jobs < 1:
        p.error("--jobs must be >= 1")
    if args.seed_start is not None and not 0 <= args.seed_start < 2**64:
        p.error("--seed-start must be in 0..2**64-1")
    if args.seeds is None and args.time_budget is None:
        args.time_budget = DEFAULT_BUDGET
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from mfm_sim.run.scenario import UnknownScenario, resolve_names
    from mfm_sim.run.schedule import ScheduleError
    from mfm_sim.run.simulate import HarnessError

    commit = git_commit()
    if args.seed_start is None:
        args.seed_start = default_seed_start(commit)
    try:
        names = [s.name for s in resolve_names(args.scenario)]
    except UnknownScenario as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if args.variant is not None:
        from mfm_sim.selfcheck.variants import VARIANTS

        if args.variant not in VARIANTS:
            known = ", ".join(sorted(VARIANTS)) or "none"
            print(
                f"error: unknown engine variant {args.variant!r}; known: {known}", file=sys.stderr
            )
            return 2

    gate = Gate()
    print(
        f"mfm-sim gate: commit {commit or 'unknown'}, Python {platform.python_version()}, "
        f"scenarios {', '.join(names)}"
    )
    try:
        if not args.skip_tests:
            run_tests(gate, args)
        replay_corpus(gate, Path(args.corpus))
        _, counts = sweep(gate, args, names)
        check_coverage(gate, counts, names, args.require_coverage)
    except (ScheduleError, UnknownScenario) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except HarnessError as exc:
        gate.harness_errors.append(str(exc))
        gate.add(
            Case(
                "harness", "error", error="harness error (not an engine violation)", detail=str(exc)
            )
        )

    if gate.failures:
        first = gate.failures[0]
        if args.no_shrink:
            shrunk, note = first.schedule, "not shrunk"
        else:
            shrunk, note = shrink_failure(first, first.variant)
        print(f"FAILED: {first.scenario} seed {first.seed}: {first.invariant}: {first.message}")
        print(f"  replay: {replay_command(first.scenario, first.seed, first.schedule_file)}")
        print(f"  shrunk: {note}")
        if args.issue_body:
            Path(args.issue_body).parent.mkdir(parents=True, exist_ok=True)
            Path(args.issue_body).write_text(issue_body(gate, args, commit, shrunk, note))
            print(f"  issue body: {args.issue_body}")
        if args.save_failures:
            out = Path(args.save_failures)
            out.mkdir(parents=True, exist_ok=True)
            for i, f in enumerate(gate.failures[:MAX_SAVED]):
                data = shrunk if i == 0 else f.schedule
                meta = {"invariant": f.invariant, **({"variant": f.variant} if f.variant else {})}
                target = out / f"{f.scenario}-{f.seed}-{f.invariant}.json"
                target.write_text(json.dumps({**data, **meta}, indent=2, sort_keys=True) + "\n")
            print(
                f"  schedules: {out} ({min(len(gate.failures), MAX_SAVED)} files; the first shrunk)"
            )
    if args.junit:
        write_junit(gate, args.junit)
        print(f"junit: {args.junit}")
    if gate.harness_errors:
        print(f"HARNESS ERROR (not an engine violation): {gate.harness_errors[0]}")
        return 3
    if gate.failed:
        print("gate: FAILED")
        return 1
    print("gate: ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
