"""Merge the JSON reports of disjoint sweeps (`--shard I/N`, `--seed-range`) into one.

The merged report is the one a single machine would have written for the union of the seeds
(apart from `timing`): counters are sums, failures and failing seeds are kept in (scenario,
seed) order up to the sweep's caps (a shard keeps its own first ones, so the first ones of
the union are among them), the groups are recomputed from the merged failures by the
sweep's own rule (`mfm_sim.report.groups`), coverage counts add up and a recovery path is
missing only if it is missing everywhere. That holds because a sweep's report is
order-independent by construction (`mfm_sim.explore.sweep`): it never depends on which
process ran which seed.

A merged report is partial if any shard's is (its reasons, joined); the seeds not run, the
worker deaths and the signal that interrupted a shard are carried over.

Reports are refused, with one line naming the file, unless they come from the same mfm-sim
and Python versions, the same options and scenarios, and ran disjoint seeds. The shards are
expected to start from the same failure database (a CI checkout): its replays, the same in
every shard, are counted once.

One case is approximate: when the sweep failed more than `MAX_FAILURES` schedules and some
of them were already in the failure database, the single machine would have kept a few
fewer failures in full (the counts are exact either way).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from mfm_sim.explore.sweep import MAX_FAILURES, MAX_LISTED_SEEDS, seed_count
from mfm_sim.invariants import invariant_names
from mfm_sim.report.groups import cost, cover, signatures_of
from mfm_sim.report.summary import JSON_FORMAT, failing_seeds_json, group_json

__all__ = ["MergeError", "Shard", "merge_reports", "seeds_of", "shared_seed"]

_SPEC = re.compile(r"^(?:shard (\d+)/(\d+) of )?(-?\d+)\.\.(-?\d+)$")
# Top-level fields with a merge rule of their own; any other field must be equal everywhere.
_MERGED = frozenset(
    {
        "ok",
        "partial",
        "partial_reason",
        "seeds",
        "schedules",
        "faults",
        "faults_by_kind",
        "crashes",
        "resumes",
        "store_calls",
        "incarnations",
        "virtual_ns",
        "failing",
        "sweep_failing",
        "failure_db_failing",
        "found_by_both",
        "violations_by_invariant",
        "per_scenario",
        "failures",
        "failures_omitted",
        "groups",
        "failing_seeds",
        "failing_seeds_omitted",
        "failure_db",
        "coverage",
        "coverage_missing",
        "timing",
    }
)
_SUMMED = ("schedules", "faults", "crashes", "resumes", "store_calls", "incarnations")
_SUMMED += ("virtual_ns", "sweep_failing", "found_by_both")
# The fields of `seeds` with a merge rule of their own (`_seeds`); any other must be equal.
_SEEDS_MERGED = frozenset(
    {
        "spec",
        "planned",
        "run",
        "first",
        "last",
        "budget_exhausted",
        "stopped_on_failures",
        "interrupted_by",
        "not_run",
        "worker_deaths",
    }
)


class MergeError(ValueError):
    """The reports cannot be merged; the message is one line naming the file at fault."""


@attrs.frozen
class Shard:
    """One report to merge and the file it came from (for messages)."""

    name: str
    report: dict[str, Any]


def seeds_of(spec: str) -> range:
    """The seeds a report's `seeds.spec` names (`0..999`, `shard 2/4 of 0..999`)."""
    m = _SPEC.match(spec.strip())
    if m is None:
        raise ValueError(f"seed spec {spec!r} is not `A..B` or `shard I/N of A..B`")
    first, last = int(m.group(3)), int(m.group(4))
    seeds = range(first, last + 1)
    if m.group(1) is not None:
        i, n = int(m.group(1)), int(m.group(2))
        if not 1 <= i <= n:
            raise ValueError(f"seed spec {spec!r} names an impossible shard")
        seeds = seeds[i - 1 :: n]
    return seeds


def shared_seed(a: range, b: range) -> int | None:
    """The smallest seed in both ranges (positive steps), or None: the two are disjoint.

    Arithmetic, not sets: a nightly shard holds millions of seeds, a `--seed-range` up to
    2**64.
    """
    if not a or not b:
        return None
    g = math.gcd(a.step, b.step)
    if (b.start - a.start) % g:
        return None
    # x = a.start + a.step * k with x = b.start (mod b.step): solve for k (Chinese remainder).
    m = b.step // g
    k = ((b.start - a.start) // g * pow(a.step // g, -1, m)) % m if m > 1 else 0
    x, period = a.start + a.step * k, a.step * m
    low = max(a.start, b.start)
    if x < low:
        x += -((x - low) // period) * period
    return x if x < min(a.stop, b.stop) else None


def _refuse(shard: Shard, what: str) -> MergeError:
    return MergeError(f"{shard.name}: {what}")


def _check_same(shards: Sequence[Shard]) -> None:
    first = shards[0]
    for s in shards:
        if not isinstance(s.report, dict) or s.report.get("format") != JSON_FORMAT:
            raise _refuse(s, f"not an mfm-sim run report (format {JSON_FORMAT})")
    for s in shards[1:]:
        for key, what in (
            ("version", "mfm-sim version"),
            ("python", "Python version"),
            ("options", "options"),
            ("scenarios", "scenarios"),
        ):
            if s.report.get(key) != first.report.get(key):
                raise _refuse(
                    s,
                    f"{what} {s.report.get(key)!r} differ from {first.name}'s "
                    f"{first.report.get(key)!r}: merge reports of one version and the same "
                    "options",
                )
        for key in sorted(set(s.report) | set(first.report)):
            if key not in _MERGED and s.report.get(key) != first.report.get(key):
                raise _refuse(s, f"field {key!r} differs from {first.name}'s")
        mine, theirs = s.report.get("seeds"), first.report.get("seeds")
        if isinstance(mine, dict) and isinstance(theirs, dict):
            for key in sorted(set(mine) | set(theirs)):
                if key not in _SEEDS_MERGED and mine.get(key) != theirs.get(key):
                    raise _refuse(s, f"field 'seeds.{key}' differs from {first.name}'s")


def _seed_ranges(shards: Sequence[Shard]) -> list[range]:
    ranges = []
    for s in shards:
        try:
            ranges.append(seeds_of(str(s.report["seeds"]["spec"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise _refuse(s, f"unreadable seeds: {exc}") from exc
    for j, (s, r) in enumerate(zip(shards, ranges, strict=True)):
        for t, q in zip(shards[:j], ranges[:j], strict=True):
            both = shared_seed(q, r)
            if both is not None:
                raise _refuse(
                    s,
                    f"seeds overlap {t.name}'s (both ran seed {both}): merge disjoint shards",
                )
    return ranges


def _seeds(shards: Sequence[Shard], ranges: Sequence[range]) -> dict[str, Any]:
    parts = [s.report["seeds"] for s in shards]
    low = min(r.start for r in ranges if r)
    high = max(r[-1] for r in ranges if r)
    # Disjoint, so: no gaps. (`seed_count`: a range of 2**64 seeds has no len().)
    whole = sum(seed_count(r) for r in ranges) == high - low + 1
    runs = [p for p in parts if p.get("run")]
    out = dict(parts[0])
    out.update(
        spec=f"{low}..{high}" if whole else " + ".join(str(p["spec"]) for p in parts),
        planned=sum(p["planned"] for p in parts),
        run=sum(p["run"] for p in parts),
        first=min((p["first"] for p in runs), default=None),
        last=max((p["last"] for p in runs), default=None),
        budget_exhausted=any(p.get("budget_exhausted") for p in parts),
        stopped_on_failures=any(p.get("stopped_on_failures") for p in parts),
        # The first shard's signal: one name, as a sweep's (each reason is in partial_reason).
        interrupted_by=next((p["interrupted_by"] for p in parts if p["interrupted_by"]), None),
        not_run=sorted(
            (u for p in parts for u in p["not_run"]), key=lambda u: (u["seeds"], u["reason"])
        ),
        worker_deaths=sum(p["worker_deaths"] for p in parts),
    )
    return out


def _sum_maps(maps: Iterable[dict[str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for m in maps:
        total.update(m)
    return total


def _unique(items: Iterable[Any], key: Callable[[Any], Any]) -> list[Any]:
    seen: list[Any] = []  # by key; a list because the keys (JSON values) need not hash
    out = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.append(k)
            out.append(item)
    return out


def _failure_db(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "replayed": _unique((e for p in parts for e in p["replayed"]), lambda e: e["file"]),
        "skipped": _unique((f for p in parts for f in p["skipped"]), lambda f: f),
        "unreadable": _unique((e for p in parts for e in p["unreadable"]), lambda e: e["file"]),
        # Each shard pruned its own copy of the same database.
        "pruned": max((p["pruned"] for p in parts), default=0),
    }


def _failures(reports: Sequence[dict[str, Any]], scenarios: Sequence[str]) -> list[Any]:
    every = [f for r in reports for f in r["failures"]]
    db = _unique(
        (f for f in every if f["source"] == "failure-db"),
        lambda f: (f["scenario"], f["seed"], f["schedule_file"], f["digest"]),
    )
    order = {name: i for i, name in enumerate(scenarios)}
    # A sweep keeps its first failures by (scenario, position of the seed); the seeds of a
    # report are increasing, so the seed stands for its position.
    swept = sorted(
        (f for f in every if f["source"] != "failure-db"),
        key=lambda f: (order.get(f["scenario"], len(order)), f["seed"]),
    )
    return db + swept[:MAX_FAILURES]


def _failing_seeds(reports: Sequence[dict[str, Any]], scenarios: Sequence[str]) -> list[Any]:
    order = {name: i for i, name in enumerate(scenarios)}
    pairs = sorted(
        (
            (name, seed)
            for r in reports
            for name, seeds in r["failing_seeds"].items()
            for seed in seeds
        ),
        key=lambda p: (order.get(p[0], len(order)), p[1]),
    )
    return pairs[:MAX_LISTED_SEEDS]


def _groups(failures: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The groups of the merged failures, by the rule a sweep groups its own with."""
    sigs = [
        signatures_of((v["invariant"], v["message"]) for v in f["violations"]) for f in failures
    ]
    costs = [cost(f["virtual_ns"], f["store_calls"], f["seed"]) for f in failures]
    return [
        group_json(sig, [_member(failures[i]) for i in members])
        for sig, members in cover(sigs, costs)
    ]


def _member(f: dict[str, Any]) -> tuple[str, int, str, str]:
    return (f["scenario"], f["seed"], f["replay"], f["digest"])


def _partial_reason(reports: Sequence[dict[str, Any]]) -> str | None:
    reasons = _unique((r["partial_reason"] for r in reports if r["partial_reason"]), lambda x: x)
    return "; ".join(reasons) or None


def _coverage(reports: Sequence[dict[str, Any]]) -> tuple[Any, Any]:
    if any(r.get("coverage") is None for r in reports):
        return None, None
    coverage = dict(sorted(_sum_maps(r["coverage"] for r in reports).items()))
    missing_lists = [r.get("coverage_missing") for r in reports]
    if any(m is None for m in missing_lists):
        return coverage, None
    # Missing from the merged sweep: missing from every shard.
    return coverage, [p for p in missing_lists[0] if all(p in m for m in missing_lists[1:])]


def merge_reports(shards: Sequence[Shard]) -> dict[str, Any]:
    """One report for the union of the shards' seeds; MergeError if they do not fit."""
    if not shards:
        raise MergeError("no reports to merge")
    _check_same(shards)
    ranges = _seed_ranges(shards)
    reports = [s.report for s in shards]
    try:
        return _merged(reports, _seeds(shards, ranges))
    except (KeyError, TypeError, AttributeError) as exc:
        raise MergeError(f"a report lacks a field or has a wrong one: {exc!r}") from exc


def _merged(reports: Sequence[dict[str, Any]], seeds: dict[str, Any]) -> dict[str, Any]:
    out = dict(reports[0])
    scenarios = list(out["scenarios"])
    out["seeds"] = seeds
    for key in _SUMMED:
        out[key] = sum(r[key] for r in reports)
    out["faults_by_kind"] = dict(sorted(_sum_maps(r["faults_by_kind"] for r in reports).items()))
    rank = {name: i for i, name in enumerate(invariant_names())}
    violations = _sum_maps(r["violations_by_invariant"] for r in reports)
    out["violations_by_invariant"] = dict(
        sorted(violations.items(), key=lambda kv: (rank.get(kv[0], 99), kv[0]))
    )
    out["per_scenario"] = {
        name: {
            field: sum(r["per_scenario"].get(name, {}).get(field, 0) for r in reports)
            for field in ("schedules", "failing")
        }
        for name in scenarios
    }
    db = _failure_db([r["failure_db"] for r in reports])
    out["failure_db"] = db
    out["failure_db_failing"] = sum(1 for e in db["replayed"] if not e["fixed"])
    out["failing"] = out["sweep_failing"] + out["failure_db_failing"] - out["found_by_both"]
    out["ok"] = out["failing"] == 0
    out["partial_reason"] = _partial_reason(reports)
    out["partial"] = any(r["partial"] for r in reports)
    out["failures"] = _failures(reports, scenarios)
    out["failures_omitted"] = max(0, out["failing"] - len(out["failures"]))
    out["groups"] = _groups(out["failures"])
    listed = _failing_seeds(reports, scenarios)
    out["failing_seeds"] = failing_seeds_json(listed)
    out["failing_seeds_omitted"] = out["sweep_failing"] - len(listed)
    out["coverage"], out["coverage_missing"] = _coverage(reports)
    # The shards ran side by side: the merged sweep took as long as the slowest.
    wall = max(float(r["timing"]["wall_s"]) for r in reports)
    out["timing"] = {
        "wall_s": round(wall, 3),
        "schedules_per_s": round(out["schedules"] / wall, 1) if wall > 0 else 0.0,
    }
    return out
