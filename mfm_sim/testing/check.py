"""What the `mfm_sim` fixture is: `MfmSim.check` runs a plan under seeded fault schedules.

The pytest plugin (`mfm_sim.testing.pytest_plugin`) only registers options and hands out an
`MfmSim`; everything that imports the engine and the harness lives here, so pytest start-up
pays for none of it until a test asks for the fixture.

A check first runs its first seed without faults and fails unless that run reaches the
expected status (`mfm_sim.testing.completion`); then it replays the seeds that failed last
time (`mfm_sim.testing.saved`), then its own. Outcomes go to the test's `user_properties`,
which pytest hands to the terminal summary, to `--junitxml` and, under xdist, to the
controller.
"""

from __future__ import annotations

import contextlib
import platform
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import pytest
from mfm_engine.config import RunConfig
from mfm_engine.events import RunPhase
from mfm_engine.plan import ExecutionPlan

from mfm_sim.errors import HarnessError, InvalidScenario
from mfm_sim.faults.kinds import Fault, FaultKind, parse_kinds
from mfm_sim.run.result import SimResult
from mfm_sim.run.scenario import Scenario
from mfm_sim.run.simulate import simulate
from mfm_sim.testing.completion import explain_incomplete, parse_status
from mfm_sim.testing.diagnostics import diagnose, format_report
from mfm_sim.testing.pytest_plugin import DEFAULT_SEEDS
from mfm_sim.testing.saved import SavedFailures
from mfm_sim.testing.services import SERVICE_MAKERS, ServiceSpec
from mfm_sim.testing.userplan import (
    captured_errors,
    captured_worlds,
    clear_captured,
    user_scenario,
)
from mfm_sim.world.strict import StrictLog, strict_mode

__all__ = [
    "FAULT_FREE_STATUS",
    "SHRINK_RUNS",
    "SUMMARY_PROPERTY",
    "CheckFailure",
    "CheckInputError",
    "CheckResult",
    "MfmSim",
    "describe_fault",
]

SHRINK_RUNS = 200
# The name a failure gets when the fault-free run itself does not end as expected.
FAULT_FREE_STATUS = "fault_free_status"
# A test's user property that carries one passing check's line of the terminal summary.
SUMMARY_PROPERTY = "mfm_sim"


@attrs.frozen
class CheckResult:
    """A passing check: which seeds ran and what they went through."""

    scenario: str
    seeds: tuple[int, ...]
    faults: int
    crashes: int
    resumes: int

    def __str__(self) -> str:
        return (
            f"{len(self.seeds)} schedules of {self.scenario}: {self.faults} faults, "
            f"{self.crashes} crashes, {self.resumes} resumes, no violation"
        )

    def counts(self) -> str:
        """The line of the `mfm-sim` terminal summary (after the test's node id)."""
        return (
            f"{len(self.seeds)} schedules, {self.faults} faults, {self.crashes} crashes, "
            f"{self.resumes} resumes: no violation"
        )


@attrs.frozen
class CheckFailure:
    """A failing check, with the report `pytest.fail` shows."""

    seed: int
    invariant: str
    handlers: tuple[str, ...]
    report: str
    result: SimResult
    timeline: str | None = None  # the HTML timeline written under `.mfm-sim/reports/`


class CheckInputError(ValueError):
    """An argument of `check` that names nothing: an unknown service, fault kind, status."""


def describe_fault(f: Fault) -> str:
    target = f" ({f.target})" if f.target else ""
    return (
        f"step={f.step} {f.kind.value} at {f.site}{target} arg={f.arg} incarnation={f.incarnation}"
    )


class MfmSim:
    """The `mfm_sim` fixture: `check(plan_or_scenario, ...)` under many fault schedules."""

    def __init__(
        self,
        *,
        nodeid: str = "",
        seeds: int | None = None,
        only_seed: int | None = None,
        ini_seeds: int = DEFAULT_SEEDS,
        marker_seeds: int | Iterable[int] | None = None,
        marker_faults: Sequence[FaultKind] | str | None = None,
        saved: SavedFailures | None = None,
        properties: list[tuple[str, object]] | None = None,
    ) -> None:
        self.nodeid = nodeid
        self.cli_seeds = seeds
        self.only_seed = only_seed
        self.ini_seeds = ini_seeds
        self.marker_seeds = marker_seeds
        self.marker_faults = marker_faults
        self.saved = saved
        self.properties = properties
        self._checks = 0
        self.last: CheckResult | CheckFailure | None = None

    # --------------------------------------------------------------------- inputs

    def seeds_for(self, seeds: int | Iterable[int] | None) -> tuple[int, ...]:
        """--mfm-seed, else --mfm-seeds, else `check(seeds=)`, else the test's
        `@pytest.mark.mfm_sim(seeds=)`, else the ini option, else 100."""
        if self.only_seed is not None:
            return (self.only_seed,)
        if self.cli_seeds is not None:
            return tuple(range(self.cli_seeds))
        if seeds is None:
            seeds = self.marker_seeds
        if seeds is None:
            return tuple(range(self.ini_seeds))
        if isinstance(seeds, int):
            return tuple(range(seeds))
        return tuple(int(s) for s in seeds)

    def scenario_for(
        self,
        plan_or_scenario: Scenario | ExecutionPlan | Any,
        *,
        initial_context: Mapping[str, Any] | Any,
        run_config: RunConfig | Any,
        services: ServiceSpec,
        model: Any,
        transparent: bool,
        name: str | None,
    ) -> Scenario:
        if isinstance(plan_or_scenario, Scenario):
            given = [
                n
                for n, v in (
                    ("initial_context", initial_context),
                    ("run_config", run_config),
                    ("model", model),
                )
                if v is not None
            ]
            if given:
                raise ValueError(
                    f"check() got a Scenario and {', '.join(given)}: a Scenario carries its "
                    f"own; pass a plan instead, or build the scenario with user_scenario()"
                )
            return plan_or_scenario
        self._checks += 1
        label = name or self.nodeid or "mfm_sim.check"
        if self._checks > 1 and name is None:
            label = f"{label}#{self._checks}"
        return user_scenario(
            label,
            plan_or_scenario,
            run_config=run_config,
            initial_context=initial_context,
            services=services,
            model=model,
            transparent=transparent,
        )

    def reproduce_command(self, seed: int) -> str:
        """A command to paste into a shell: the node id is quoted (parametrized ids have
        brackets and may have spaces)."""
        target = shlex.quote(self.nodeid) if self.nodeid else "<test>"
        return f"pytest {target} --mfm-seed {seed}"

    # --------------------------------------------------------------------- running

    def check(
        self,
        plan_or_scenario: Scenario | ExecutionPlan | Any,
        *,
        initial_context: Mapping[str, Any] | Any = None,
        run_config: RunConfig | Any = None,
        seeds: int | Iterable[int] | None = None,
        faults: Sequence[FaultKind] | str | None = None,
        services: ServiceSpec = ("ledger",),
        model: Any = None,
        transparent: bool = True,
        strict: bool = True,
        shrink: bool = True,
        name: str | None = None,
        expect_status: RunPhase | str = RunPhase.COMPLETED,
    ) -> CheckResult:
        """Run the plan under the fault schedules of every seed; fail the test on the first
        seed that breaks an invariant (or, with `strict`, whose handlers are nondeterministic),
        or at once when the fault-free run does not end in `expect_status`.

        `plan_or_scenario`: an `ExecutionPlan`, a builder (see `mfm_sim.testing.userplan`), or a
        `Scenario`. `faults` limits the fault kinds (names or FaultKinds)."""
        try:
            outcome = self.run(
                plan_or_scenario,
                initial_context=initial_context,
                run_config=run_config,
                seeds=seeds,
                faults=faults,
                services=services,
                model=model,
                transparent=transparent,
                strict=strict,
                shrink=shrink,
                name=name,
                expect_status=expect_status,
            )
        except (InvalidScenario, CheckInputError) as exc:
            pytest.fail(f"mfm-sim: {exc}", pytrace=False)
        if isinstance(outcome, CheckFailure):
            pytest.fail(outcome.report, pytrace=False)
        return outcome

    def run(
        self,
        plan_or_scenario: Scenario | ExecutionPlan | Any,
        *,
        initial_context: Mapping[str, Any] | Any = None,
        run_config: RunConfig | Any = None,
        seeds: int | Iterable[int] | None = None,
        faults: Sequence[FaultKind] | str | None = None,
        services: ServiceSpec = ("ledger",),
        model: Any = None,
        transparent: bool = True,
        strict: bool = True,
        shrink: bool = True,
        name: str | None = None,
        expect_status: RunPhase | str = RunPhase.COMPLETED,
    ) -> CheckResult | CheckFailure:
        """Like `check`, but returns the failure instead of failing the test.

        Raises `CheckInputError` for arguments that name nothing (a service, a fault kind,
        a status), which `check` turns into one line."""
        try:
            scenario = self.scenario_for(
                plan_or_scenario,
                initial_context=initial_context,
                run_config=run_config,
                services=services,
                model=model,
                transparent=transparent,
                name=name,
            )
            kinds = _kinds(faults if faults is not None else self.marker_faults)
            expected = parse_status(expect_status)
        except (TypeError, ValueError) as exc:
            raise CheckInputError(str(exc)) from None
        chosen = self.seeds_for(seeds)
        if not chosen:
            raise CheckInputError("check() got no seeds to run (seeds=[])")
        incomplete = self._fault_free(scenario, chosen[0], expected, services)
        if incomplete is not None:
            return self._failed(scenario, incomplete)
        label = _display(scenario.name)
        again = self.saved.seeds(label) if self.saved and self.only_seed is None else ()
        order = again + tuple(s for s in chosen if s not in again)
        guard = strict_mode() if strict else contextlib.nullcontext(StrictLog())
        total_faults = crashes = resumes = 0
        with guard as log:
            for seed in order:
                log.clear()
                try:
                    result = simulate(scenario, seed, faults=kinds, keep_trace=False)
                except HarnessError as exc:
                    pytest.fail(
                        f"mfm-sim harness error (a bug in mfm_sim, not in your handler) at seed "
                        f"{seed}: {exc}\n  reproduce: {self.reproduce_command(seed)}",
                        pytrace=False,
                    )
                if log.records or not result.ok:
                    return self._failed(
                        scenario, self._explain(scenario, seed, kinds, result, log, shrink)
                    )
                if seed in again and self.saved is not None:
                    self.saved.forget(label, seed)
                total_faults += sum(n for _, n in result.stats.faults_by_kind)
                crashes += result.stats.crashes
                resumes += result.stats.resumes
        done = CheckResult(label, order, total_faults, crashes, resumes)
        self.last = done
        self._property(SUMMARY_PROPERTY, done.counts())
        for key, value in (
            ("schedules", len(order)),
            ("faults", total_faults),
            ("crashes", crashes),
            ("resumes", resumes),
        ):
            self._property(f"mfm_sim_{key}", value)
        return done

    def _property(self, name: str, value: object) -> None:
        if self.properties is not None:
            self.properties.append((name, value))

    def _fault_free(
        self, scenario: Scenario, seed: int, expected: RunPhase, services: ServiceSpec
    ) -> CheckFailure | None:
        """The failure when the seed's run without faults does not end in `expected`."""
        clear_captured(scenario)
        result = simulate(scenario, seed, schedule=[], interleave=False, keep_observation=True)
        given = services.keys() if isinstance(services, Mapping) else services
        incomplete = explain_incomplete(
            result,
            expected,
            captured_errors(scenario),
            scenario=_display(scenario.name),
            services=[str(s) for s in given],
            builtin=SERVICE_MAKERS,
            reproduce=self.reproduce_command(seed),
        )
        if incomplete is None:
            return None
        return CheckFailure(seed, FAULT_FREE_STATUS, incomplete.handlers, incomplete.report, result)

    def _failed(self, scenario: Scenario, failure: CheckFailure) -> CheckFailure:
        """Save the failure for the next run, note it in the test's properties, keep it."""
        if self.saved is not None:
            timeline = self.saved.save(_display(scenario.name), failure.result, failure.report)
            failure = attrs.evolve(
                failure,
                timeline=str(timeline),
                report=f"{failure.report}\n  timeline:  {timeline} (HTML)",
            )
        self._property("mfm_sim_seed", failure.seed)
        self._property("mfm_sim_invariant", failure.invariant)
        self._property("mfm_sim_reproduce", self.reproduce_command(failure.seed))
        if failure.timeline is not None:
            self._property("mfm_sim_timeline", failure.timeline)
        self.last = failure
        return failure

    def _explain(
        self,
        scenario: Scenario,
        seed: int,
        kinds: tuple[FaultKind, ...] | None,
        first: SimResult,
        log: StrictLog,
        shrink: bool,
    ) -> CheckFailure:
        clear_captured(scenario)
        log.clear()
        result = simulate(scenario, seed, faults=kinds, keep_trace=True, keep_observation=True)
        records = list(log.records)
        worlds = captured_worlds(scenario)
        world = worlds[0] if worlds else None
        reference = simulate(
            scenario, seed, schedule=[], interleave=False, keep_observation=True
        ).observation
        diagnosis = diagnose(result, world=world, reference=reference, strict_records=records)
        extra: list[str] = []
        if result.digest != first.digest:
            extra.append(
                "  warning:   replaying the seed gave another trace: something in the "
                "handlers is not deterministic (global state, wall clock, randomness)"
            )
        schedule_lines = [describe_fault(f) for f in result.schedule.faults] or [
            "(no faults fired)"
        ]
        if shrink and result.violations and not records and result.schedule.faults:
            schedule_lines += self._shrunk(scenario, result)
        extra.append(
            f"  replay key: seed {seed}, mfm-sim {_version()}, Python {platform.python_version()}"
        )
        report = format_report(
            diagnosis,
            reproduce=self.reproduce_command(seed),
            scenario=f"{_display(scenario.name)} (faults: {_kinds_text(kinds, scenario)})",
            schedule_lines=schedule_lines,
            extra=extra,
        )
        return CheckFailure(seed, diagnosis.invariant, diagnosis.handlers, report, result)

    def _shrunk(self, scenario: Scenario, result: SimResult) -> list[str]:
        from mfm_sim.explore.shrink import shrink as shrink_schedule

        lead = result.violations[0]
        for v in result.violations:
            if v.invariant in ("effects_at_most_once", "crash_transparency", "model_agreement"):
                lead = v
                break
        try:
            shrunk = shrink_schedule(
                scenario, result.schedule, lead.invariant, max_runs=SHRINK_RUNS
            )
        except HarnessError:
            return []
        if not shrunk.reproduced or len(shrunk.schedule.faults) >= len(result.schedule.faults):
            return []
        return [f"minimal schedule ({shrunk.describe()}):"] + [
            f"  {describe_fault(f)}" for f in shrunk.schedule.faults
        ]


def _kinds(faults: Sequence[FaultKind] | str | None) -> tuple[FaultKind, ...] | None:
    if faults is None:
        return None
    if isinstance(faults, str):
        return parse_kinds(faults)
    return tuple(k if isinstance(k, FaultKind) else FaultKind(k) for k in faults)


def _kinds_text(kinds: tuple[FaultKind, ...] | None, scenario: Scenario) -> str:
    chosen = kinds if kinds is not None else scenario.faults
    if set(chosen) == set(FaultKind):
        return "all"
    return ",".join(k.value for k in chosen) or "none"


def _display(name: str) -> str:
    """A scenario's name without the suffix `user_scenario` adds to keep names unique."""
    base, sep, n = name.rpartition("~")
    return base if sep and n.isdigit() else name


def _version() -> str:
    from mfm_sim import __version__

    return __version__
