"""Recovery-path coverage, read off observations only."""

from __future__ import annotations

from mfm_sim import Fault, FaultKind, get_scenario, simulate
from mfm_sim.explore.coverage import (
    ALL_PATHS,
    KNOWN_PATHS,
    RESUME_PATHS,
    Coverage,
    coverage_of,
    expected_paths,
)
from mfm_sim.run.result import SimResult

K = FaultKind
SEED = 3


def _run(name: str, faults: list[Fault], seed: int = SEED) -> SimResult:
    return simulate(
        get_scenario(name),
        seed,
        schedule=faults,
        interleave=False,
        record_sites=True,
        keep_observation=True,
    )


def _paths(name: str, faults: list[Fault], seed: int = SEED) -> frozenset[str]:
    r = _run(name, faults, seed)
    assert r.ok, [v.describe() for v in r.violations]
    assert r.observation is not None
    return coverage_of(r.observation)


def _sites(name: str, faults: list[Fault] | None = None) -> list[tuple[int, str]]:
    r = _run(name, faults or [])
    return list(enumerate(r.sites or (), 1))


def _steps(name: str, site: str, faults: list[Fault] | None = None) -> list[int]:
    return [i for i, s in _sites(name, faults) if s == site]


def test_fault_free_run() -> None:
    paths = _paths("linear", [])
    assert "run:completed" in paths
    assert not any(p.startswith(("resume:", "fault:", "detected:")) for p in paths)


def test_resume_branches() -> None:
    handlers = _steps("linear", "handler")
    appends = _steps("linear", "events.append")
    last_run_append = max(a for a in appends if a < _steps("linear", "events.head_seq")[-1])

    orphan = _paths("linear", [Fault(handlers[0], K.CRASH_IN_HANDLER, "handler", 0)])
    assert {"resume:orphan", "fault:crash_in_handler@handler", "retry:backoff"} <= orphan

    # The first state's StateCompleted is durable, the process dies before seeing it.
    completed_append = next(a for a in appends if a > handlers[0])
    nxt = _paths("linear", [Fault(completed_append, K.CRASH_AFTER_EFFECT, "events.append")])
    assert "resume:next_state" in nxt and "resume:orphan" not in nxt

    # Dies before / after the final RunCompleted append.
    done = _paths("linear", [Fault(last_run_append, K.CRASH_BEFORE_EFFECT, "events.append")])
    assert "resume:all_done" in done
    finished = _paths("linear", [Fault(last_run_append, K.CRASH_AFTER_EFFECT, "events.append")])
    assert "resume:already_finished" in finished

    # A retryable handler failure, then a crash before the retry's StateEntered.
    fail = Fault(handlers[0], K.HANDLER_FAILURE, "handler", 1)
    retry_entry = [a for a in _steps("linear", "events.append", [fail]) if a > handlers[0]][1]
    retried = _paths("linear", [fail, Fault(retry_entry, K.CRASH_BEFORE_EFFECT, "events.append")])
    assert "resume:failed_state_retry" in retried
    assert "fault:handler_failure@handler" in retried


def test_fact_replayed_after_a_crash_past_the_charge() -> None:
    handlers = _steps("diamond_io", "handler")
    paths = _paths("diamond_io", [Fault(handlers[1], K.CRASH_IN_HANDLER, "handler", 1)])
    assert "fact:replayed" in paths
    assert "resume:orphan" in paths


def test_detections() -> None:
    puts = _steps("linear", "artifacts.put")
    handlers = _steps("linear", "handler")
    corrupt = _paths("linear", [Fault(puts[0], K.CORRUPTED_ARTIFACT, "artifacts.put")])
    assert "detected:corruption" in corrupt
    # The initial snapshot's write is dropped; a crash loses the process's memory of it.
    lost = _paths(
        "linear",
        [
            Fault(puts[0], K.DROPPED_WRITE, "artifacts.put"),
            Fault(handlers[0], K.CRASH_IN_HANDLER, "handler", 0),
        ],
    )
    assert "detected:lost_write" in lost


def test_child_paths_on_a_child_scenario() -> None:
    try:
        sc = get_scenario("child_runs")
    except ValueError:
        return
    cov = Coverage()
    for seed in range(40):
        r = simulate(sc, seed, keep_trace=False, keep_observation=True)
        assert r.observation is not None
        cov.add(r.observation)
    assert cov.counts["child:spawned"] > 0


def test_aggregate_and_expected_paths() -> None:
    assert set(RESUME_PATHS) <= set(ALL_PATHS)
    assert set(ALL_PATHS) <= set(KNOWN_PATHS)
    assert len(set(ALL_PATHS)) == len(ALL_PATHS)
    cov = Coverage()
    for seed in range(30):
        r = simulate(get_scenario("linear"), seed, keep_trace=False, keep_observation=True)
        assert r.observation is not None
        paths = cov.add(r.observation)
        assert paths <= set(KNOWN_PATHS)
    assert cov.schedules == 30
    assert cov.counts["run:completed"] > 0
    missing = cov.missing()
    assert "child:spawned" in missing  # linear has no child runs
    rows = dict(cov.rows())
    assert set(ALL_PATHS) <= set(rows)
    # Narrowed to what linear can fire: no child runs, no service calls.
    expected = expected_paths([get_scenario("linear")])
    assert "child:spawned" not in expected
    assert not any(p.endswith("@service") for p in expected)
    assert "resume:orphan" in expected
    assert any(p.endswith("@service") for p in expected_paths([get_scenario("diamond_io")]))
