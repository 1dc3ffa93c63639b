"""pytest plugin: run a user's plan under fault schedules (`mfm_sim` fixture, --mfm-seed[s]).

    def test_charge_is_crash_safe(mfm_sim):
        mfm_sim.check(build_plan, initial_context={"order": {"id": "o1", "amount": 10}})

`check` first runs the plan without faults and fails unless that run completes (or ends in
`expect_status=`); then it runs the plan under N seeded fault schedules (crashes, torn
appends, transient and ambiguous store and service errors, lost writes, latency, handler
failures; a swarm of them per seed) and checks every invariant after each. The first failing
seed fails the test with the seed, the broken invariant, the handler at fault, the offending
events and a timeline excerpt, a shrunk schedule, and the command that reproduces it:
`pytest '<nodeid>' --mfm-seed S` (shell-quoted).

How many seeds: `--mfm-seed S` runs only S; otherwise `--mfm-seeds N` on the command line,
else `check(..., seeds=N)` (an int, or an iterable of seeds), else the test's marker
`@pytest.mark.mfm_sim(seeds=N, faults="...")`, else the ini option `mfm_seeds`, else 100.
Seeds are 0..N-1, so a run is the same everywhere. Options are checked at start-up: a bad
one is a usage error (exit status 4), not a failure of every test.

A failing seed's schedule is saved under `<rootdir>/.mfm-sim/failures/` (ini `mfm_sim_dir`
moves `.mfm-sim/`) and replayed first
by the next run of the same test (until it passes); the report and an HTML timeline go to
`.mfm-sim/reports/`. Each check's outcome goes to the test's `user_properties`: the
`mfm-sim` terminal summary reads it from the test reports, so it works under xdist (the
controller gets the reports), and `--junitxml` carries the seed and counts.

pytest loads this module in every session of every project where mfm-sim is installed, so it
imports nothing but pytest at module level: the engine, the harness, Hypothesis, rich and click
are imported by the fixture, in `mfm_sim.testing.check`, when a test first asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

if TYPE_CHECKING:
    from mfm_sim.testing.check import MfmSim

__all__ = [
    "DEFAULT_SEEDS",
    "MARKER",
    "Options",
    "mfm_sim",
    "pytest_addoption",
    "pytest_configure",
]

# Schedules per check when neither the command line, the call, the marker nor the ini says.
DEFAULT_SEEDS = 100
MARKER = "mfm_sim"
# The user property a passing check leaves (`mfm_sim.testing.check.SUMMARY_PROPERTY`).
_SUMMARY = "mfm_sim"
# Where failing schedules, reports and timelines go, under the rootdir.
_DIR = ".mfm-sim"


class Options(NamedTuple):
    """The plugin's options, validated once at start-up."""

    only_seed: int | None
    seeds: int | None
    ini_seeds: int


_OPTIONS = pytest.StashKey[Options]()

# Names that used to be defined here; they live in `mfm_sim.testing.check` and are still
# importable from this module, without being imported by it up front.
_MOVED = frozenset({"CheckFailure", "CheckResult", "MfmSim", "SHRINK_RUNS", "describe_fault"})


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from mfm_sim.testing import check

        return getattr(check, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mfm-sim", "deterministic simulation of mfm engine runs")
    group.addoption("--mfm-seeds", default=None, help="schedules per mfm_sim check")
    group.addoption("--mfm-seed", default=None, help="reproduce one schedule by its seed")
    parser.addini("mfm_seeds", "schedules per mfm_sim check", default=str(DEFAULT_SEEDS))
    parser.addini(
        "mfm_sim_dir",
        "where failing schedules, reports and timelines go (relative to the rootdir)",
        default=_DIR,
    )


def _options(config: pytest.Config) -> Options:
    only = None
    raw_seed = config.getoption("--mfm-seed", None)
    if raw_seed is not None:
        from mfm_sim.world.rng import parse_seed  # light: no engine, no harness

        try:
            only = parse_seed(str(raw_seed))
        except ValueError as exc:
            raise pytest.UsageError(f"--mfm-seed: {exc}") from None
    ini = _count(config.getini("mfm_seeds") or DEFAULT_SEEDS, "ini option mfm_seeds")
    assert ini is not None  # a default is given
    return Options(only, _count(config.getoption("--mfm-seeds", None), "--mfm-seeds"), ini)


def _count(raw: Any, name: str) -> int | None:
    """A seed count: a whole number, at least 1."""
    if raw is None:
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise pytest.UsageError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise pytest.UsageError(f"{name} must be at least 1, got {value}")
    return value


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(seeds=None, faults=None): defaults for this test's mfm_sim checks "
        "(seeds: a count or a list; faults: fault kinds such as 'crash_in_handler,latency')",
    )
    options = config.stash[_OPTIONS] = _options(config)
    # Validated once: `getoption("--mfm-seeds")` is the count from here on, not the text.
    config.option.mfm_seeds = options.seeds
    config.pluginmanager.register(_Summary(), "mfm_sim-summary")


def _marker(request: pytest.FixtureRequest) -> tuple[Any, Any]:
    mark = request.node.get_closest_marker(MARKER)
    if mark is None:
        return None, None
    unknown = sorted(set(mark.kwargs) - {"seeds", "faults"})
    if mark.args or unknown:
        given = ", ".join([repr(a) for a in mark.args] + unknown)
        pytest.fail(
            f"mfm-sim: @pytest.mark.{MARKER} takes seeds= and faults= only, got {given}",
            pytrace=False,
        )
    return mark.kwargs.get("seeds"), mark.kwargs.get("faults")


@pytest.fixture
def mfm_sim(request: pytest.FixtureRequest) -> MfmSim:
    """Run a plan under seeded fault schedules: `mfm_sim.check(plan, initial_context=...)`."""
    from mfm_sim.testing.check import MfmSim
    from mfm_sim.testing.saved import SavedFailures

    config = request.config
    options = config.stash.get(_OPTIONS, None) or _options(config)
    seeds, faults = _marker(request)
    return MfmSim(
        nodeid=request.node.nodeid,
        seeds=options.seeds,
        only_seed=options.only_seed,
        ini_seeds=options.ini_seeds,
        marker_seeds=seeds,
        marker_faults=faults,
        saved=SavedFailures(config.rootpath / (config.getini("mfm_sim_dir") or _DIR)),
        properties=request.node.user_properties,
    )


class _Summary:
    """The `mfm-sim` terminal section: one line per passing check, read from the test
    reports' `user_properties` (under xdist, the controller receives the workers' reports)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.passed:
            self.lines += [
                f"{report.nodeid}: {v}" for k, v in report.user_properties if k == _SUMMARY
            ]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("mfm-sim")
            for line in self.lines:
                terminalreporter.write_line(line)
