"""Where a whole schedule's cost goes: instructions per schedule of `mfm-sim bench`'s overhead
case (`bench.OVERHEAD_CASE`, faults off), with one part of the harness switched off at a time.

    python tools/schedule_cost.py [--runs 100] [--parts whole,checks,checks+journal,...]

Needs valgrind: callgrind counts instructions, which, unlike wall time, do not drift with the
machine. Each part is measured by running this file's `--child` mode under callgrind twice
(0 and `--runs` schedules after the same warm-up, `PYTHONHASHSEED=0`) and dividing the
difference by `--runs`. `stock` is the stock engine's run of the same plan (the bench's
denominator). A part switched off changes what a schedule does (a check that never runs
judges nothing): this measures cost, never verdicts.
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


def child(part: str, runs: int, built: int) -> None:
    """Warm up, then run `runs` schedules (or stock runs) of the overhead case. A stock run's
    scenario instances (`built` of them, as many in the baseline as in the measured run) are
    built first, as the bench builds them outside the timed part."""
    from mfm_engine.hashing import artifact_id_for_bytes, canonical_json_bytes

    from mfm_sim.explore.sweep import tune_collector
    from mfm_sim.run.scenario import get_scenario
    from mfm_sim.run.simulate import simulate
    from mfm_sim.run.world import World
    from mfm_sim.selfcheck.bench import OVERHEAD_CASE, _stock_run

    for name in part.split("+"):
        off = PARTS[name]
        if off is not None:
            off()
    name, seed = OVERHEAD_CASE
    scenario = get_scenario(name)
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
    parser.add_argument("--parts", default=DEFAULT_PARTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--built", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:  # the measuring side: 0 runs is its baseline
        child(args.child, args.runs, args.built)
        return 0
    if args.runs < 1:
        print("error: --runs must be at least 1", file=sys.stderr)
        return 2
    parts = [p for p in args.parts.split(",") if p]
    unknown = [name for p in parts for name in p.split("+") if name not in PARTS]
    if unknown:
        print(f"error: unknown part {unknown[0]!r}; one of {', '.join(PARTS)}", file=sys.stderr)
        return 2
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
