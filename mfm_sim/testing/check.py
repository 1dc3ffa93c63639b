"""What the `mfm_sim` fixture is: `MfmSim.check` runs a plan under seeded fault schedules.

The pytest plugin (`mfm_sim.testing.pytest_plugin`) only registers options and hands out an
`MfmSim`; everything that imports the engine and the harness lives here, so pytest start-up
pays for none of it until a test asks for the fixture.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import pytest
from mfm_engine.config import RunConfig
from mfm_engine.plan import ExecutionPlan

from mfm_sim.errors import HarnessError, InvalidScenario
from mfm_sim.faults.kinds import Fault, FaultKind
from mfm_sim.run.result import SimResult
from mfm_sim.run.scenario import Scenario
from mfm_sim.run.simulate import simulate
from mfm_sim.testing.diagnostics import diagnose, format_report
from mfm_sim.testing.pytest_plugin import DEFAULT_SEEDS
from mfm_sim.testing.services import ServiceSpec
from mfm_sim.testing.userplan import captured_worlds, clear_captured, user_scenario
from mfm_sim.world.strict import StrictLog, strict_mode

__all__ = [
    "SHRINK_RUNS",
    "CheckFailure",
    "CheckResult",
    "MfmSim",
    "describe_fault",
]

SHRINK_RUNS = 200


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


@attrs.frozen
class CheckFailure:
    """A failing check, with the report `pytest.fail` shows."""

    seed: int
    invariant: str
    handlers: tuple[str, ...]
    report: str
    result: SimResult


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
        sink: list[tuple[str, CheckResult]] | None = None,
    ) -> None:
        self.nodeid = nodeid
        self.sink = sink
        self.cli_seeds = seeds
        self.only_seed = only_seed
        self.ini_seeds = ini_seeds
        self._checks = 0
        self.last: CheckResult | CheckFailure | None = None

    # --------------------------------------------------------------------- inputs

    def seeds_for(self, seeds: int | Iterable[int] | None) -> tuple[int, ...]:
        if self.only_seed is not None:
            return (self.only_seed,)
        if self.cli_seeds is not None:
            return tuple(range(self.cli_seeds))
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
        target = self.nodeid or "<test>"
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
    ) -> CheckResult:
        """Run the plan under the fault schedules of every seed; fail the test on the first
        seed that breaks an invariant (or, with `strict`, whose handlers are nondeterministic).

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
            )
        except InvalidScenario as exc:
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
    ) -> CheckResult | CheckFailure:
        """Like `check`, but returns the failure instead of failing the test."""
        scenario = self.scenario_for(
            plan_or_scenario,
            initial_context=initial_context,
            run_config=run_config,
            services=services,
            model=model,
            transparent=transparent,
            name=name,
        )
        kinds = _kinds(faults)
        chosen = self.seeds_for(seeds)
        guard = strict_mode() if strict else contextlib.nullcontext(StrictLog())
        total_faults = crashes = resumes = 0
        with guard as log:
            for seed in chosen:
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
                    failure = self._explain(scenario, seed, kinds, result, log, shrink)
                    self.last = failure
                    return failure
                total_faults += sum(n for _, n in result.stats.faults_by_kind)
                crashes += result.stats.crashes
                resumes += result.stats.resumes
        done = CheckResult(_display(scenario.name), chosen, total_faults, crashes, resumes)
        self.last = done
        if self.sink is not None:
            self.sink.append((self.nodeid, done))
        return done

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
        from mfm_sim.faults.injector import parse_kinds

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
