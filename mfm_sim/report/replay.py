"""The printed verdict of one replayed schedule: digest, final phase, faults, violations."""

from __future__ import annotations

from mfm_sim.report.collapse import collapse
from mfm_sim.report.summary import human_ns, replay_key
from mfm_sim.run.result import SimResult

__all__ = ["result_lines"]


def result_lines(result: SimResult, *, label: str = "replay") -> list[str]:
    """`label: scenario seed N: PASS|FAIL`, then the replay key, digest, phase, faults and stats,
    and one line per distinct violation with the events that break it."""
    st = result.stats
    verdict = (
        f"FAIL ({len(result.violations)} violations)"
        if result.violations
        else "PASS (no violations)"
    )
    phase = result.final_phase.value if result.final_phase is not None else "unfinished"
    faults = ", ".join(f"{k}={n}" for k, n in st.faults_by_kind) or "none"
    lines = [
        f"{label}: {result.scenario} seed {result.seed}: {verdict}",
        f"  replay key: {replay_key(result.seed)}",
        f"  digest: {result.digest}",
        f"  final phase: {phase}",
        f"  faults: {len(result.schedule.faults)} ({faults}); crashes {st.crashes}, resumes "
        f"{st.resumes}, incarnations {st.incarnations}, fault points {st.store_calls}, "
        f"virtual time {human_ns(st.virtual_ns)}, trace entries {st.trace_entries}",
    ]
    # Repeats (one per crash-and-resume cycle) folded into one line with their count.
    lines += [c.line() for c in collapse(result.violations)]
    return lines
