"""Shrink a failing schedule to a minimal one that still breaks the same invariant.

A schedule is data (SPEC §5): the faults that fired, each at a fault-point step and site.
Shrinking works on that list only; the seed (and so the scenario's knobs and plan) is kept.
The passes, each repeated until nothing changes (or the run budget is spent):

1. **Delta debugging** (Zeller's ddmin) over the fault list: first the empty schedule, then
   drop chunks of halving size, then single faults.
2. **Cheaper kinds**: replace each fault by a simpler one at the same step: a crash after
   the effect by a crash before it, a torn append by a crash before it (or a shorter
   prefix), a crash after a handler by a crash before it, an ambiguous error by a transient
   one, a long latency by 1 ms.
3. **Earlier steps**: move each fault to an earlier step of the same site. The run is
   identical up to the step a fault moves to, so the site map of the current schedule's run
   (`simulate(..., record_sites=True)`) tells which earlier steps have the same site; for the
   first fault that map is the fault-free run's.

A candidate is kept iff replaying it (scripted: exactly those faults at those steps) still
violates the same invariant. Every candidate costs one simulation; results are memoized, and
the number of simulations is bounded (`max_runs`). Everything is deterministic: the same
schedule shrinks to the same result.

Not done: shrinking the scenario itself (a smaller plan or initial context); the seed's plan
is kept as drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from mfm_sim.faults.kinds import FAULTS, SITE_KINDS, Fault
from mfm_sim.invariants import Violation
from mfm_sim.run.result import SimResult
from mfm_sim.run.scenario import Scenario
from mfm_sim.run.schedule import Schedule
from mfm_sim.run.simulate import simulate

MAX_RUNS = 500
_Key = tuple[tuple[int, str, str, int], ...]


@attrs.frozen
class ShrinkResult:
    """The minimal schedule found, the replay of it, and how many simulations it took."""

    schedule: Schedule
    runs: int
    result: SimResult
    invariant: str
    original_faults: int
    reproduced: bool = True  # False: the given schedule did not break `invariant` at all
    exhausted: bool = False  # True: stopped at the run budget, perhaps before a fixpoint

    @property
    def violation(self) -> Violation | None:
        return next((v for v in self.result.violations if v.invariant == self.invariant), None)

    def describe(self) -> str:
        if not self.reproduced:
            return (
                f"the schedule (seed {self.schedule.seed}, {self.original_faults} faults) does not "
                f"violate {self.invariant}; nothing to shrink"
            )
        budget = " (run budget spent)" if self.exhausted else ""
        return (
            f"shrunk {self.original_faults} -> {len(self.schedule.faults)} faults in "
            f"{self.runs} runs{budget}; still violates {self.invariant}"
        )


def _key(faults: Sequence[Fault]) -> _Key:
    return tuple((f.step, f.kind.value, f.site, f.arg) for f in faults)


def _sorted(faults: Sequence[Fault]) -> tuple[Fault, ...]:
    return tuple(sorted(faults, key=lambda f: (f.step, f.kind.value, f.site, f.arg)))


def _bare(f: Fault) -> Fault:
    return Fault(f.step, f.kind, f.site, f.arg)


def cheaper(fault: Fault) -> list[Fault]:
    """Simpler faults at the same step and site, simplest first (the table's `simpler`)."""
    kinds = SITE_KINDS.get(fault.site, ())
    return [
        Fault(fault.step, kind, fault.site, arg)
        for kind, arg in FAULTS[fault.kind].simpler
        if kind in kinds and (kind is not fault.kind or arg < fault.arg)
    ]


class _Shrinker:
    def __init__(
        self,
        scenario: Scenario,
        base: Schedule,
        invariant: str | None,
        variant: str | None,
        max_runs: int,
    ) -> None:
        self.scenario = scenario
        self.base = base
        self.invariant = invariant
        self.variant = variant
        self.max_runs = max_runs
        self.runs = 0
        self.memo: dict[_Key, bool] = {}
        self.sites: dict[_Key, tuple[str, ...]] = {}

    @property
    def spent(self) -> bool:
        return self.runs >= self.max_runs

    def _schedule(self, faults: Sequence[Fault]) -> Schedule:
        return attrs.evolve(self.base, faults=_sorted(faults))

    def run(self, faults: Sequence[Fault], *, keep_trace: bool = False) -> SimResult:
        self.runs += 1
        result = simulate(
            self.scenario,
            self.base.seed,
            schedule=self._schedule(faults),
            variant=self.variant,
            keep_trace=keep_trace,
            record_sites=True,
        )
        self.sites[_key(_sorted(faults))] = result.sites or ()
        return result

    def fails(self, faults: Sequence[Fault]) -> bool:
        """Whether this candidate still breaks the invariant (memoized; False once spent)."""
        key = _key(_sorted(faults))
        if key in self.memo:
            return self.memo[key]
        if self.spent:
            return False
        result = self.run(faults)
        ok = any(v.invariant == self.invariant for v in result.violations)
        self.memo[key] = ok
        return ok

    # ---------------------------------------------------------------- passes

    def ddmin(self, faults: tuple[Fault, ...]) -> tuple[Fault, ...]:
        if faults and self.fails(()):
            return ()
        n = 2
        while len(faults) >= 2 and not self.spent:
            chunk = -(-len(faults) // n)
            chunks = [faults[i : i + chunk] for i in range(0, len(faults), chunk)]
            reduced = False
            for i in range(len(chunks)):
                rest = tuple(f for j, c in enumerate(chunks) if j != i for f in c)
                if self.fails(rest):
                    faults = rest
                    n = max(n - 1, 2)
                    reduced = True
                    break
            if not reduced:
                if n >= len(faults):
                    break
                n = min(2 * n, len(faults))
        return faults

    def singles(self, faults: tuple[Fault, ...]) -> tuple[Fault, ...]:
        i = 0
        while i < len(faults) and not self.spent:
            rest = faults[:i] + faults[i + 1 :]
            if self.fails(rest):
                faults = rest
            else:
                i += 1
        return faults

    def simplify_kinds(self, faults: tuple[Fault, ...]) -> tuple[Fault, ...]:
        for i in range(len(faults)):
            for alt in cheaper(faults[i]):
                if self.spent:
                    return faults
                candidate = (*faults[:i], alt, *faults[i + 1 :])
                if self.fails(candidate):
                    faults = candidate
                    break
        return faults

    def earlier_steps(self, faults: tuple[Fault, ...]) -> tuple[Fault, ...]:
        i = 0
        while i < len(faults) and not self.spent:
            f = faults[i]
            sites = self._sites(faults)
            lower = faults[i - 1].step if i > 0 else 0
            # Steps strictly between the previous fault and this one, earliest first: the run
            # up to there is the current run, so the site map is exact.
            moved = False
            for step in range(lower + 1, f.step):
                if step - 1 >= len(sites) or sites[step - 1] != f.site:
                    continue
                if self.spent:
                    break
                candidate = (*faults[:i], attrs.evolve(f, step=step), *faults[i + 1 :])
                if self.fails(candidate):
                    faults = _sorted(candidate)
                    moved = True
                    break
            if not moved:
                i += 1
        return faults

    def _sites(self, faults: tuple[Fault, ...]) -> tuple[str, ...]:
        key = _key(faults)
        if key not in self.sites:
            self.run(faults)
        return self.sites[key]


def shrink(
    scenario: Scenario,
    schedule: Schedule,
    invariant: str | Violation | None,
    *,
    variant: str | None = None,
    max_runs: int = MAX_RUNS,
) -> ShrinkResult:
    """The smallest schedule found that still violates `invariant` (a name or a Violation;
    None: the first invariant the given schedule violates)."""
    name = invariant.invariant if isinstance(invariant, Violation) else invariant
    faults = _sorted([_bare(f) for f in schedule.faults])
    base = attrs.evolve(schedule, faults=faults)
    sh = _Shrinker(scenario, base, name, variant, max_runs)
    first = sh.run(faults, keep_trace=True)
    if name is None:
        name = first.violations[0].invariant if first.violations else "any"
        sh.invariant = name
    reproduced = any(v.invariant == name for v in first.violations)
    sh.memo[_key(faults)] = reproduced
    if not reproduced:
        return ShrinkResult(schedule, sh.runs, first, name, len(faults), reproduced=False)

    passes: tuple[Callable[[tuple[Fault, ...]], tuple[Fault, ...]], ...] = (
        sh.ddmin,
        sh.singles,
        sh.simplify_kinds,
        sh.earlier_steps,
    )
    current = faults
    while not sh.spent:
        before = _key(current)
        for p in passes:
            current = p(current)
        if _key(current) == before:
            break

    # Replay the winner once more: only the faults that actually fired, with their full detail.
    final = sh.run(current, keep_trace=True)
    fired = _sorted(final.schedule.faults)
    if _key(fired) != _key(current):
        trimmed = sh.run(fired, keep_trace=True)
        if any(v.invariant == name for v in trimmed.violations):
            final = trimmed
    out = attrs.evolve(final.schedule, faults=_sorted(final.schedule.faults))
    return ShrinkResult(out, sh.runs, final, name, len(faults), reproduced=True, exhausted=sh.spent)


__all__ = ["MAX_RUNS", "ShrinkResult", "cheaper", "shrink"]
