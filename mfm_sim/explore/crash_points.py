"""Systematic crash-point enumeration (CrashMonkey / ALICE style; SPEC §5).

Instead of waiting for a random schedule to crash at an interesting place, crash at every
place, once each:

1. Run the fault-free schedule of (scenario, seed) with `record_sites=True`: the site of
   every fault point (store call, handler entry, service call) in order.
2. **Single crashes**: for every step whose site can crash, one scripted schedule holding
   exactly that crash: each kind the fault table marks for enumeration (`faults.kinds`), at
   every value of its argument: `crash_before_effect` and `crash_after_effect` where the site
   has them, `crash_in_handler` before (arg 0) and after (arg 1) the handler, and (with
   `torn=True`) every torn prefix `crash_mid_append` 1..n-1 of an append of n >= 2 events
   (n is read from the fault-free run's log).
3. **Double crashes** (`double=True`): for every single-crash schedule, run it with
   `record_sites=True` and crash again at every crash point of the first recovery
   incarnation (every step after the first crash, up to the end of the incarnation that
   follows it): the process dies while recovering.

Every schedule runs in recoverable mode without interleaving, and is judged by every
invariant. Steps of the harness's final `idempotent_resume` probe are never crash points
(faults are paused there).

Bounds: a plan of n fault points has O(n) single points and O(n^2) double points. The
number of double points is capped by `max_double` (default 5,000; about 10 s at the
simulator's usual speed); when the cap bites, the double points are spread evenly over
the single crashes (each single crash gets its first points, in step order) and
`ExploreResult.capped` is True. The enumeration and its order are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from mfm_sim.faults.kinds import ENUMERATED_KINDS, FAULTS, Fault
from mfm_sim.run.observation import Observation
from mfm_sim.run.result import SimResult
from mfm_sim.run.scenario import Scenario
from mfm_sim.run.schedule import Schedule
from mfm_sim.run.simulate import simulate

MAX_DOUBLE = 5_000


@attrs.frozen
class ExploreResult:
    scenario: str
    seed: int
    points: int  # schedules run (single + double crash points)
    single: int
    double: int
    failures: list[SimResult]
    by_kind: dict[str, int]  # crash points by the kind of the (last) crash injected
    steps: int  # fault points of the fault-free run
    capped: bool = False  # the double-crash points were cut at max_double

    @property
    def ok(self) -> bool:
        return not self.failures

    def violations_by_invariant(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.failures:
            for v in r.violations:
                out[v.invariant] = out.get(v.invariant, 0) + 1
        return dict(sorted(out.items()))

    def describe(self) -> str:
        cap = " (double points capped)" if self.capped else ""
        kinds = ", ".join(f"{k}={n}" for k, n in self.by_kind.items())
        head = (
            f"{self.scenario} seed {self.seed}: {self.points} crash points "
            f"({self.single} single, {self.double} double{cap}) over {self.steps} fault points; "
            f"{kinds}"
        )
        if not self.failures:
            return head + "; no violations"
        bad = ", ".join(f"{k}={n}" for k, n in self.violations_by_invariant().items())
        return head + f"; {len(self.failures)} failing schedules ({bad})"


def crash_faults(step: int, site: str, *, append_size: int = 1, torn: bool = True) -> list[Fault]:
    """Every crash that can be injected at this fault point, in a fixed order: each kind the
    table enumerates, at every value of its argument (`torn=False`: none bounded by the call's
    size, the torn prefixes of an append)."""
    out: list[Fault] = []
    for kind in ENUMERATED_KINDS:
        spec = FAULTS[kind]
        if site in spec.sites and (torn or not spec.args.sized):
            out.extend(Fault(step, kind, site, arg) for arg in spec.args.values(append_size))
    return out


def _append_sizes(obs: Observation | None) -> dict[int, int]:
    """Events made durable per step (an append's size, when it succeeded whole)."""
    sizes: dict[int, int] = {}
    if obs is None:
        return sizes
    for _, step in obs.seq_step.values():
        sizes[step] = sizes.get(step, 0) + 1
    return sizes


def _probe_steps(obs: Observation | None) -> set[int]:
    """Steps of incarnations where faults are paused (the idempotent-resume probe)."""
    out: set[int] = set()
    if obs is None:
        return out
    for inc in obs.incarnations:
        if inc.call == "idempotent_resume":
            out.update(range(inc.first_step + 1, inc.last_step + 1))
    return out


def _points(result: SimResult, first: int, last: int, torn: bool) -> Iterator[Fault]:
    sites = result.sites or ()
    sizes = _append_sizes(result.observation)
    paused = _probe_steps(result.observation)
    for step in range(first, min(last, len(sites)) + 1):
        if step in paused:
            continue
        yield from crash_faults(step, sites[step - 1], append_size=sizes.get(step, 1), torn=torn)


def _recovery_window(result: SimResult, crash_step: int) -> tuple[int, int]:
    """Steps after the first crash, up to the end of the incarnation that follows it."""
    obs = result.observation
    assert obs is not None
    last = crash_step
    for inc in obs.incarnations:
        if inc.first_step >= crash_step and inc.call != "idempotent_resume":
            last = inc.last_step
            break
    return crash_step + 1, last


def crash_points(
    scenario: Scenario,
    seed: int,
    *,
    double: bool = True,
    variant: str | None = None,
    max_double: int = MAX_DOUBLE,
    torn: bool = True,
    store: str = "memory",
) -> ExploreResult:
    """Crash at every crash point of the fault-free run (and, with `double`, again at every
    crash point of the first recovery); return counts and the failing schedules. On a real
    `store` every disk write and sync is a crash point too (`disk_crash_unsynced`)."""

    def run(faults: list[Fault], *, sites: bool = False) -> SimResult:
        sched = Schedule(
            seed, scenario.name, tuple(faults), recoverable=True, interleave=False, store=store
        )
        return simulate(
            scenario,
            seed,
            schedule=sched,
            variant=variant,
            keep_trace=False,
            record_sites=sites,
            keep_observation=sites,
            store=store,
        )

    base = run([], sites=True)
    failures: list[SimResult] = []
    by_kind: dict[str, int] = {}
    if base.violations:
        failures.append(base)

    def count(fault: Fault) -> None:
        by_kind[fault.kind.value] = by_kind.get(fault.kind.value, 0) + 1

    singles: list[tuple[Fault, SimResult]] = []
    for fault in _points(base, 1, len(base.sites or ()), torn):
        result = run([fault], sites=double)
        count(fault)
        if result.violations:
            failures.append(result)
        if double and result.schedule.faults:
            singles.append((fault, result))

    n_double = 0
    capped = False
    if double:
        plans: list[list[Fault]] = []
        for fault, result in singles:
            first, last = _recovery_window(result, fault.step)
            plans.append(list(_points(result, first, last, torn)))
        total = sum(len(p) for p in plans)
        if total > max_double:
            capped = True
            plans = _spread(plans, max_double)
        for (fault, _), seconds in zip(singles, plans, strict=True):
            for second in seconds:
                result = run([fault, second])
                count(second)
                n_double += 1
                if result.violations:
                    failures.append(result)

    single = sum(by_kind.values()) - n_double
    return ExploreResult(
        scenario=scenario.name,
        seed=seed,
        points=single + n_double,
        single=single,
        double=n_double,
        failures=failures,
        by_kind=dict(sorted(by_kind.items())),
        steps=len(base.sites or ()),
        capped=capped,
    )


def _spread(plans: list[list[Fault]], cap: int) -> list[list[Fault]]:
    """At most `cap` points in all, shared as evenly as possible (round-robin quota)."""
    quota = [0] * len(plans)
    left = cap
    while left > 0:
        progressed = False
        for i, p in enumerate(plans):
            if left and quota[i] < len(p):
                quota[i] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return [p[: quota[i]] for i, p in enumerate(plans)]


__all__ = ["MAX_DOUBLE", "ExploreResult", "crash_faults", "crash_points"]
