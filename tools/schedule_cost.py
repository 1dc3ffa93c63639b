"""Where a whole schedule's cost goes: instructions per schedule of `mfm-sim bench`'s overhead
case (`bench.OVERHEAD_CASE`, faults off), with one part of the harness switched off at a time.

    python tools/schedule_cost.py [--runs 100] [--parts whole,checks,checks+journal,...]
    python tools/schedule_cost.py --wall [--repeats 200] [--parts ...]
    python tools/schedule_cost.py --checks [--runs 300]

Needs valgrind: callgrind counts instructions, which, unlike wall time, do not drift with the
machine. Each part is measured by running this file's `--child` mode under callgrind twice
(0 and `--runs` schedules after the same warm-up, `PYTHONHASHSEED=0`) and dividing the
difference by `--runs`. `stock` is the stock engine's run of the same plan (the bench's
denominator). A part switched off changes what a schedule does (a check that never runs
judges nothing): this measures cost, never verdicts.

`--wall` measures in the unit the bench's target is set in instead: `overhead_full_schedule`
(a whole schedule / one stock run, both timed in the same process by `bench.overhead`) with
the parts switched off, each row in a fresh process; `+` joins parts, so a list such as
`whole,checks,checks+journal` shows what each further part adds. `--checks` prints each
check's wall time per schedule of the same case, in registry order as `check` runs them (the
first to ask pays for what the checks derive and share), and again on the same observation,
with all of that remembered: the check's own walk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 100


def _off_checks() -> None:
    from mfm_sim.invariants import registry

    registry.CHECKS = {name: (lambda obs: []) for name in registry.CHECKS}


def _off_attempt_verdicts() -> None:
    from mfm_sim.invariants import attempt_verdicts

    attempt_verdicts._walk = lambda obs: ([], [], [])


def _off_idempotent_resume() -> None:
    from mfm_sim.run import incarnations

    init = incarnations.Simulation.__init__

    def no_check(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        init(self, *args, **kwargs)
        self.check_idempotent = False

    incarnations.Simulation.__init__ = no_check  # type: ignore[method-assign]


def _off_journal() -> None:
    from mfm_sim.faults import handlers, journal

    def bare(entries, incarnation, state, ctx, io, events):  # type: ignore[no-untyped-def]
        entry = journal.JournalEntry(incarnation, state, io)
        entries.append(entry)
        return entry, ctx, io, events

    handlers.journal_proxies = bare


def _off_transport_recording() -> None:
    from mfm_sim.run import incarnations

    incarnations.RecordingTransportFactory = lambda inner, uses, number: inner  # type: ignore


def _off_store_wrappers() -> None:
    from mfm_sim.run import incarnations

    incarnations.FaultyArtifactStore = lambda inner, handle: inner  # type: ignore
    incarnations.FaultyEventStore = lambda inner, handle: inner  # type: ignore


# Each part, and how to switch it off (None: the whole schedule, or the stock run). Parts
# joined by "+" are switched off together: the journal feeds the promise checks, so with
# them on, a journal switched off alone costs more (they report what it no longer holds).
PARTS: dict[str, Callable[[], None] | None] = {
    "whole": None,
    "checks": _off_checks,
    "attempt_verdicts": _off_attempt_verdicts,
    "idempotent_resume": _off_idempotent_resume,
    "journal": _off_journal,  # measure it as checks+journal, against checks
    "transport_recording": _off_transport_recording,
    "store_wrappers": _off_store_wrappers,
    "stock": None,
}


# What a plain run measures: every part, the journal together with the checks it feeds.
DEFAULT_PARTS = (
    "whole,checks,attempt_verdicts,idempotent_resume,checks+journal,transport_recording,"
    "store_wrappers,stock"
)


def _switched_off(part: str) -> tuple[Any, int]:
    """Switch `part`'s pieces off; the overhead case's scenario and seed."""
    from mfm_sim.run.scenario import get_scenario
    from mfm_sim.selfcheck.bench import OVERHEAD_CASE

    for name in part.split("+"):
        off = PARTS[name]
        if off is not None:
            off()
    name, seed = OVERHEAD_CASE
    return get_scenario(name), seed


def child(part: str, runs: int, built: int) -> None:
    """Warm up, then run `runs` schedules (or stock runs) of the overhead case. A stock run's
    scenario instances (`built` of them, as many in the baseline as in the measured run) are
    built first, as the bench builds them outside the timed part."""
    from mfm_engine.hashing import artifact_id_for_bytes, canonical_json_bytes

    from mfm_sim.explore.sweep import tune_collector
    from mfm_sim.run.simulate import simulate
    from mfm_sim.run.world import World
    from mfm_sim.selfcheck.bench import _stock_run

    scenario, seed = _switched_off(part)
    if part == "stock":

        def build():  # type: ignore[no-untyped-def]
            return scenario.build(World(seed, None, keep_trace=False).streams.stream("scenario"))

        manifest = build().manifest()
        data = canonical_json_bytes(manifest.to_json())
        manifest_id = artifact_id_for_bytes(data)
        loop = asyncio.new_event_loop()
        for _ in range(WARM_UP):
            loop.run_until_complete(_stock_run(build(), manifest, manifest_id, data))
        tune_collector()
        instances = [build() for _ in range(max(runs, built))]
        for inst in instances[:runs]:
            loop.run_until_complete(_stock_run(inst, manifest, manifest_id, data))
        return
    for _ in range(WARM_UP):
        simulate(scenario, seed, faults=(), keep_trace=False)
    tune_collector()
    for _ in range(runs):
        simulate(scenario, seed, faults=(), keep_trace=False)


# What `--wall` measures by default: each further part switched off on top of the ones before.
WALL_PARTS = (
    "whole,checks,checks+journal,checks+journal+idempotent_resume,"
    "checks+journal+idempotent_resume+transport_recording+store_wrappers"
)


def wall_child(part: str, repeats: int) -> None:
    """Print `bench.overhead`'s ratios for the overhead case with `part` switched off, after
    the bench's own warm-up and collector tuning."""
    import json

    from mfm_sim.explore.sweep import tune_collector
    from mfm_sim.run.simulate import simulate
    from mfm_sim.selfcheck.bench import overhead

    scenario, seed = _switched_off(part)
    for i in range(WARM_UP):
        simulate(scenario, 10_000_000 + i, keep_trace=False)
    tune_collector()
    print(json.dumps(overhead(scenario, seed, repeats)))


def _wall_ratio(part: str, repeats: int) -> dict[str, float]:
    import json

    cmd = [sys.executable, __file__, "--child", part, "--wall", "--repeats", str(repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"error: the wall-time run failed for {part}: {last[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def wall(parts: list[str], repeats: int) -> None:
    print(f"{'part off (+: together)':<72} {'full / stock':>12} {'saved':>7}")
    whole: float | None = None
    for part in parts:
        ratio = _wall_ratio(part, repeats)["simulate_ratio"]
        if part == "whole":
            whole = ratio
        saved = "" if whole is None or part == "whole" else f"{whole - ratio:.2f}"
        print(f"{part:<72} {ratio:>12.2f} {saved:>7}")


def check_times(runs: int) -> None:
    """Each check's microseconds per schedule of the overhead case: `first`, as `check` runs
    them after the schedule; `again`, a second time on the same observation (what each
    derives and shares is then remembered, so this is the check's own walk)."""
    import time

    from mfm_sim.explore.sweep import tune_collector
    from mfm_sim.invariants import registry
    from mfm_sim.run import simulate as simulate_module

    seen: list[Any] = []
    simulate_module.check = lambda obs, only=None: seen.append(obs) or []  # type: ignore
    scenario, seed = _switched_off("whole")
    for _ in range(WARM_UP + runs):
        simulate_module.simulate(scenario, seed, faults=(), keep_trace=False)
    tune_collector()
    names = registry.invariant_names()
    first = dict.fromkeys(names, 0.0)
    again = dict.fromkeys(names, 0.0)
    clock = time.perf_counter
    for obs in seen[WARM_UP:]:
        for times in (first, again):
            for check in names:
                start = clock()
                registry.CHECKS[check](obs)
                times[check] += clock() - start
    print(f"{'check (costliest first)':<28} {'first us':>9} {'again us':>9}")
    for check in sorted(names, key=lambda n: -first[n]):
        print(f"{check:<28} {first[check] / runs * 1e6:>9.1f} {again[check] / runs * 1e6:>9.1f}")
    total_first, total_again = sum(first.values()) / runs, sum(again.values()) / runs
    print(f"{'all':<28} {total_first * 1e6:>9.1f} {total_again * 1e6:>9.1f}")


def _instructions(part: str, runs: int, built: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={tmp}/out",
            sys.executable,
            __file__,
            "--child",
            part,
            "--runs",
            str(runs),
            "--built",
            str(built),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"error: callgrind failed for {part}: {last[0]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--parts", default=None)
    parser.add_argument("--wall", action="store_true", help="bench ratios in wall time")
    parser.add_argument("--repeats", type=int, default=200, help="runs per --wall timing")
    parser.add_argument("--checks", action="store_true", help="each check's wall time")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--built", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:  # the measuring side: 0 runs is its baseline
        if args.wall:
            wall_child(args.child, args.repeats)
        else:
            child(args.child, args.runs, args.built)
        return 0
    if args.runs < 1 or args.repeats < 1:
        print("error: --runs and --repeats must be at least 1", file=sys.stderr)
        return 2
    if args.checks:
        check_times(args.runs)
        return 0
    spec = args.parts if args.parts is not None else WALL_PARTS if args.wall else DEFAULT_PARTS
    parts = [p for p in spec.split(",") if p]
    known = [p for p in PARTS if not (args.wall and p == "stock")]
    unknown = [name for p in parts for name in p.split("+") if name not in known]
    if unknown:
        print(f"error: unknown part {unknown[0]!r}; one of {', '.join(known)}", file=sys.stderr)
        return 2
    if args.wall:  # a ratio to the stock run already: `stock` is not a part here
        wall(parts, args.repeats)
        return 0
    if shutil.which("valgrind") is None:
        print("error: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    per: dict[str, int] = {}
    for part in parts:
        made = _instructions(part, args.runs, args.runs) - _instructions(part, 0, args.runs)
        per[part] = made // args.runs
    whole = per.get("whole")
    print(f"{'part (+: together)':<28} {'per schedule':>14} {'saved when off':>15}")
    for part, count in per.items():
        saved = "" if whole is None or part in ("whole", "stock") else f"{whole - count:,}"
        print(f"{part:<28} {count:>14,} {saved:>15}")
    if whole is not None and "stock" in per:
        print(f"whole / stock = {whole / per['stock']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
