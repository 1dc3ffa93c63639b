"""pytest plugin: run a user's plan under fault schedules (`mfm_sim` fixture, --mfm-seed[s]).

    def test_charge_is_crash_safe(mfm_sim):
        mfm_sim.check(build_plan, initial_context={"order": {"id": "o1", "amount": 10}})

`check` runs the plan under N seeded fault schedules (crashes, torn appends, transient and
ambiguous store and service errors, lost writes, latency, handler failures; a swarm of them
per seed) and checks every invariant after each. The first failing seed fails the test with
the seed, the broken invariant, the handler at fault, the offending events and a timeline
excerpt, a shrunk schedule, and the command that reproduces it:
`pytest <nodeid> --mfm-seed S`.

How many seeds: `--mfm-seed S` runs only S; otherwise `--mfm-seeds N` on the command line,
else `check(..., seeds=N)` (an int, or an iterable of seeds), else the ini option
`mfm_seeds`, else 100. Seeds are 0..N-1, so a run is the same everywhere.

pytest loads this module in every session of every project where mfm-sim is installed, so it
imports nothing but pytest at module level: the engine, the harness, Hypothesis, rich and click
are imported by the fixture, in `mfm_sim.testing.check`, when a test first asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mfm_sim.testing.check import CheckResult, MfmSim

__all__ = ["DEFAULT_SEEDS", "mfm_sim", "pytest_addoption", "pytest_terminal_summary"]

# Schedules per check when neither the command line, the call nor the ini file says.
DEFAULT_SEEDS = 100

# The checks that passed in this session, for the terminal summary.
_PASSED = pytest.StashKey[list[tuple[str, "CheckResult"]]]()

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
    group.addoption(
        "--mfm-seeds", type=int, default=None, help="schedules per mfm_sim check (ini: mfm_seeds)"
    )
    group.addoption("--mfm-seed", default=None, help="reproduce one schedule by its seed")
    parser.addini("mfm_seeds", "schedules per mfm_sim check", default=str(DEFAULT_SEEDS))


@pytest.fixture
def mfm_sim(request: pytest.FixtureRequest) -> MfmSim:
    """Run a plan under seeded fault schedules: `mfm_sim.check(plan, initial_context=...)`."""
    from mfm_sim.testing.check import MfmSim
    from mfm_sim.world.rng import parse_seed

    config = request.config
    raw_seed = config.getoption("--mfm-seed")
    only = None
    if raw_seed is not None:
        try:
            only = parse_seed(str(raw_seed))
        except ValueError as exc:
            raise pytest.UsageError(f"--mfm-seed: {exc}") from None
    seeds = config.getoption("--mfm-seeds")
    if seeds is not None and seeds < 1:
        raise pytest.UsageError("--mfm-seeds must be at least 1")
    try:
        ini = int(config.getini("mfm_seeds") or DEFAULT_SEEDS)
    except ValueError:
        raise pytest.UsageError("ini option mfm_seeds must be an integer") from None
    sink = config.stash.setdefault(_PASSED, [])
    return MfmSim(nodeid=request.node.nodeid, seeds=seeds, only_seed=only, ini_seeds=ini, sink=sink)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    passed = config.stash.get(_PASSED, [])
    if not passed:
        return
    terminalreporter.section("mfm-sim")
    for nodeid, c in passed:
        terminalreporter.write_line(
            f"{nodeid}: {len(c.seeds)} schedules, {c.faults} faults, {c.crashes} crashes, "
            f"{c.resumes} resumes: no violation"
        )
