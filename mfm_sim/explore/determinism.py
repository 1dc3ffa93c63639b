"""Determinism self-check (SPEC §4): same seed, same trace, in any process, under any hash seed.

`check_determinism(scenarios, seeds)` runs every (scenario, seed) in `processes` separate
Python processes, each with its own `PYTHONHASHSEED` (0, 12345, then `random`), and compares
their trace digests. `PYTHONHASHSEED` changes the iteration order of sets of strings (and
`hash()` of strings), the most common way for nondeterminism to sneak into Python code; a
separate process also rules out anything left over in memory. On the first mismatch the
seed is re-run in both processes (the same hash seeds) with full traces, written to files,
and the report names the first differing trace entry with its virtual time, like madsim's
"non-determinism detected at {time}".

`leak_check(scenario, seed_a, seed_b)` runs A, B, A in one process and compares the two
digests of A: state that outlives a simulation (module-level caches, class attributes,
counters) shows up as A's second run differing from its first.

The worker is this module: `python -m mfm_sim.explore.determinism --worker` reads a JSON job from
stdin and writes JSON to stdout. A scenario that is not in the registry under its name (a
test's throwaway scenario, say) is sent as a reference to its build function
(`module:qualname`), which the worker imports; the parent's `sys.path` is passed along.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.run.scenario import Scenario, get_scenario
from mfm_sim.run.simulate import simulate
from mfm_sim.run.trace import format_entry

HASH_SEEDS: tuple[str, ...] = ("0", "12345", "random")
BATCH_PAIRS = 2000  # (scenario, seed) pairs per set of worker processes

Entry = tuple[int, int, str, str]


# ------------------------------------------------------------------------------ reports


@attrs.frozen
class Divergence:
    """Two processes disagreed on one (scenario, seed)."""

    scenario: str
    seed: int
    hash_seeds: tuple[str, str]
    digests: tuple[str, str]
    index: int | None = None  # first differing trace entry (0-based); None: traces matched
    vt_ns: int | None = None
    entries: tuple[Entry | None, Entry | None] = (None, None)
    trace_files: tuple[str, str] | None = None

    def describe(self) -> str:
        a, b = self.hash_seeds
        head = (
            f"non-determinism: {self.scenario} seed {self.seed}: digest "
            f"{self.digests[0][:12]} (PYTHONHASHSEED={a}) != {self.digests[1][:12]} "
            f"(PYTHONHASHSEED={b})"
        )
        lines = [head]
        if self.index is None:
            lines.append(
                "  the traced re-run did not diverge again (flaky, or it depends on the random "
                "hash seed)"
            )
        else:
            vt = f"{(self.vt_ns or 0) / 1e9:.3f}s"
            lines.append(f"  first difference at trace entry {self.index}, virtual time {vt}:")
            for label, entry in zip((a, b), self.entries, strict=True):
                text = format_entry(entry) if entry is not None else "<trace ended>"
                lines.append(f"    [{label:>6}] {text}")
        if self.trace_files:
            lines.append(f"  traces: {self.trace_files[0]}")
            lines.append(f"          {self.trace_files[1]}")
        return "\n".join(lines)


@attrs.frozen
class DeterminismReport:
    ok: bool
    checked: int  # (scenario, seed) pairs compared
    processes: int
    hash_seeds: tuple[str, ...]
    divergence: Divergence | None = None
    mismatches: int = 0  # pairs whose digests differed (the first is `divergence`)
    out_dir: str | None = None

    def describe(self) -> str:
        hs = ", ".join(self.hash_seeds)
        if self.ok:
            return (
                f"deterministic: {self.checked} schedules agree across {self.processes} "
                f"processes (PYTHONHASHSEED {hs})"
            )
        assert self.divergence is not None
        return (
            f"{self.mismatches} of {self.checked} schedules diverged across {self.processes} "
            f"processes (PYTHONHASHSEED {hs})\n{self.divergence.describe()}"
        )


@attrs.frozen
class LeakReport:
    ok: bool
    scenario: str
    seed_a: int
    seed_b: int
    digests: tuple[str, str]  # A's digest before and after B ran
    index: int | None = None
    vt_ns: int | None = None
    entries: tuple[Entry | None, Entry | None] = (None, None)

    def describe(self) -> str:
        if self.ok:
            return (
                f"no leak: {self.scenario} seed {self.seed_a} gives digest {self.digests[0][:12]} "
                f"before and after seed {self.seed_b} ran in the same process"
            )
        lines = [
            f"state leaks between simulations: {self.scenario} seed {self.seed_a} gave digest "
            f"{self.digests[0][:12]}, then {self.digests[1][:12]} after seed {self.seed_b} ran "
            f"in the same process (module-level caches? class attributes?)"
        ]
        if self.index is not None:
            vt = f"{(self.vt_ns or 0) / 1e9:.3f}s"
            lines.append(f"  first difference at trace entry {self.index}, virtual time {vt}:")
            for label, entry in zip(("first", "second"), self.entries, strict=True):
                text = format_entry(entry) if entry is not None else "<trace ended>"
                lines.append(f"    [{label:>6}] {text}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------ helpers


def first_difference(
    a: Sequence[Entry], b: Sequence[Entry]
) -> tuple[int, int, tuple[Entry | None, Entry | None]] | None:
    """(index, virtual time, (entry_a, entry_b)) of the first differing entry, or None."""
    for i in range(max(len(a), len(b))):
        ea = tuple(a[i]) if i < len(a) else None
        eb = tuple(b[i]) if i < len(b) else None
        if ea != eb:
            vt = (ea or eb)[0]  # type: ignore[index]
            return i, int(vt), (ea, eb)  # type: ignore[return-value]
    return None


def _scenario_spec(scenario: Scenario | str) -> dict[str, Any]:
    if isinstance(scenario, str):
        return {"name": scenario}
    try:
        registered = get_scenario(scenario.name)
    except ValueError:
        registered = None
    if registered is scenario:
        return {"name": scenario.name}
    build = scenario.build
    ref = f"{build.__module__}:{build.__qualname__}"
    if "<" in ref:
        raise ValueError(
            f"scenario {scenario.name!r} is not registered and its build function ({ref}) cannot "
            f"be imported by a worker process; define it at module level"
        )
    return {
        "name": scenario.name,
        "build": ref,
        "description": scenario.description,
        "faults": [k.value for k in scenario.faults],
    }


def _load_scenario(spec: dict[str, Any]) -> Scenario:
    if "build" not in spec:
        return get_scenario(spec["name"])
    module, _, qualname = spec["build"].partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return Scenario(
        spec["name"],
        spec.get("description", ""),
        obj,
        tuple(FaultKind(k) for k in spec.get("faults", [k.value for k in FaultKind])),
    )


def _trace_name(scenario: str, seed: int, hash_seed: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in scenario)
    return f"{safe}-{seed}-hash{hash_seed}.trace.jsonl"


# ------------------------------------------------------------------------------ worker


def run_jobs(job: dict[str, Any]) -> dict[str, Any]:
    """The worker's work: digest every (scenario, seed); with `trace_dir`, write full traces."""
    for entry in reversed(job.get("sys_path", [])):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    specs = [dict(s) for s in job["scenarios"]]
    loaded = [_load_scenario(s) for s in specs]
    trace_dir = job.get("trace_dir")
    tag = job.get("tag", "")
    out: list[list[Any]] = []
    for idx, seed in job["pairs"]:
        scenario = loaded[idx]
        result = simulate(scenario, int(seed), keep_trace=trace_dir is not None)
        row: list[Any] = [idx, int(seed), result.digest]
        if trace_dir is not None:
            path = Path(trace_dir) / _trace_name(scenario.name, int(seed), tag)
            with path.open("w") as fh:
                for e in result.trace:
                    fh.write(json.dumps(list(e)) + "\n")
            row.append(str(path))
        out.append(row)
    return {"results": out, "hash_randomization": sys.flags.hash_randomization}


def _run_many(job: dict[str, Any], hash_seeds: Sequence[str]) -> list[dict[str, Any]]:
    """Run the job in one worker process per hash seed, all at once."""
    with tempfile.TemporaryDirectory(prefix="mfm-sim-jobs-") as tmp:
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for i, hash_seed in enumerate(hash_seeds):
                path = Path(tmp) / f"job{i}.json"
                path.write_text(json.dumps(dict(job, tag=hash_seed)))
                env = dict(os.environ)
                env["PYTHONHASHSEED"] = hash_seed
                with path.open("rb") as stdin:
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "mfm_sim.explore.determinism", "--worker"],
                            stdin=stdin,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env=env,
                        )
                    )
            answers = []
            for proc, hash_seed in zip(procs, hash_seeds, strict=True):
                out, err = proc.communicate()
                if proc.returncode != 0:
                    tail = err.decode(errors="replace").strip()[-2000:]
                    raise RuntimeError(
                        f"determinism worker (PYTHONHASHSEED={hash_seed}) exited "
                        f"{proc.returncode}: {tail}"
                    )
                answers.append(json.loads(out))
            return answers
        finally:
            # Interrupted (Ctrl-C, SIGTERM) or failed: no worker outlives the check.
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


def _read_trace(path: str) -> list[Entry]:
    with open(path) as fh:
        return [tuple(json.loads(line)) for line in fh if line.strip()]  # type: ignore[misc]


def _mismatches(rows: list[list[list[Any]]], n: int) -> list[tuple[int, int, int]]:
    """(pair index, process a, process b) of each pair whose digests differ."""
    out: list[tuple[int, int, int]] = []
    for k in range(n):
        digests = [r[k][2] for r in rows]
        for p in range(1, len(digests)):
            if digests[p] != digests[0]:
                out.append((k, 0, p))
                break
    return out


def check_determinism(
    scenarios: Iterable[Scenario | str],
    seeds: Iterable[int],
    *,
    processes: int = 2,
    out_dir: str | os.PathLike[str] | None = None,
) -> DeterminismReport:
    """Run every (scenario, seed) in `processes` (>= 2) processes with different hash seeds and
    compare digests; on a mismatch, re-run it with full traces and find the first difference.
    Trace files go to `out_dir` (default: a fresh temporary directory, kept)."""
    if processes < 2:
        raise ValueError("check_determinism needs at least 2 processes")
    scs = list(scenarios)
    hash_seeds = tuple(HASH_SEEDS[i] if i < len(HASH_SEEDS) else "random" for i in range(processes))
    specs = [_scenario_spec(s) for s in scs]
    names = [s["name"] for s in specs]
    # Seeds go out in batches (one set of worker processes each), so a huge seed count is
    # never a list: memory stays that of one batch. The first batch with a mismatch is the
    # last one run.
    per_batch = max(1, BATCH_PAIRS // max(1, len(specs)))
    seed_iter = iter(seeds)
    checked = 0
    while batch := [int(s) for s in itertools.islice(seed_iter, per_batch)]:
        pairs = [[i, seed] for i in range(len(specs)) for seed in batch]
        job = {"scenarios": specs, "pairs": pairs, "sys_path": list(sys.path)}
        rows = [a["results"] for a in _run_many(job, hash_seeds)]
        checked += len(pairs)
        mismatched = _mismatches(rows, len(pairs))
        if mismatched:
            break
    else:
        return DeterminismReport(True, checked, processes, hash_seeds)

    k, pa, pb = mismatched[0]
    idx, seed = pairs[k]
    name = names[idx]
    digests = (rows[pa][k][2], rows[pb][k][2])
    directory = (
        Path(out_dir)
        if out_dir is not None
        else Path(tempfile.mkdtemp(prefix="mfm-sim-determinism-"))
    )
    directory.mkdir(parents=True, exist_ok=True)
    trace_job = dict(job, pairs=[[idx, seed]], trace_dir=str(directory))
    pair_seeds = (hash_seeds[pa], hash_seeds[pb])
    traced = _run_many(trace_job, pair_seeds)
    files = (traced[0]["results"][0][3], traced[1]["results"][0][3])
    diff = first_difference(_read_trace(files[0]), _read_trace(files[1]))
    if diff is None:
        div = Divergence(name, seed, pair_seeds, digests, trace_files=files)
    else:
        i, vt, entries = diff
        div = Divergence(name, seed, pair_seeds, digests, i, vt, entries, files)
    return DeterminismReport(
        False, checked, processes, hash_seeds, div, len(mismatched), str(directory)
    )


def leak_check(scenario: Scenario | str, seed_a: int, seed_b: int) -> LeakReport:
    """Run A, B, A in this process; A's two digests must agree."""
    sc = get_scenario(scenario) if isinstance(scenario, str) else scenario
    first = simulate(sc, seed_a)
    simulate(sc, seed_b, keep_trace=False)
    again = simulate(sc, seed_a)
    digests = (first.digest, again.digest)
    if first.digest == again.digest:
        return LeakReport(True, sc.name, seed_a, seed_b, digests)
    diff = first_difference(first.trace, again.trace)
    if diff is None:
        return LeakReport(False, sc.name, seed_a, seed_b, digests)
    i, vt, entries = diff
    return LeakReport(False, sc.name, seed_a, seed_b, digests, i, vt, entries)


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mfm_sim.explore.determinism",
        description="Determinism self-check; --worker reads a JSON job on stdin.",
    )
    parser.add_argument("--worker", action="store_true", help="run a JSON job from stdin")
    parser.add_argument("--scenario", default="default", help="scenario name(s), default, all")
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out-dir", default=None)
    args = parser.parse_args(argv)
    if args.worker:
        job = json.loads(sys.stdin.read())
        real_stdout = sys.stdout
        with contextlib.redirect_stdout(sys.stderr):  # a chatty handler must not break the JSON
            answer = run_jobs(job)
        json.dump(answer, real_stdout)
        return 0
    from mfm_sim.run.scenario import resolve_names

    report = check_determinism(
        resolve_names(args.scenario),
        range(args.seeds),
        processes=args.processes,
        out_dir=args.out_dir,
    )
    print(report.describe())
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "HASH_SEEDS",
    "DeterminismReport",
    "Divergence",
    "LeakReport",
    "check_determinism",
    "first_difference",
    "leak_check",
    "main",
]
