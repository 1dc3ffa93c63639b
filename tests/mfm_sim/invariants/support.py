"""What the invariant tests share: the violations of one invariant, and where they point."""

from __future__ import annotations

from mfm_engine.events import EventEnvelope

from mfm_sim.invariants.registry import CHECKS, check
from mfm_sim.invariants.violation import Violation
from tests.mfm_sim.logs import RUN_ID

__all__ = ["fired", "seq_where", "seqs_of", "stream"]


def fired(obs, name: str) -> list[Violation]:
    """The violations of one invariant; they must also be in what `check` reports."""
    found = CHECKS[name](obs)
    everything = check(obs)
    for v in found:
        assert v in everything
        assert v.invariant == name
        assert v.seed == obs.seed
    return found


def seqs_of(violations: list[Violation]) -> list[tuple[int, ...]]:
    return [v.seqs for v in violations]


def stream(obs, run_id=RUN_ID) -> list[EventEnvelope]:
    return list(obs.runs[run_id].stream)


def seq_where(obs, pred, run_id=RUN_ID) -> list[int]:
    return [env.seq for env in obs.runs[run_id].stream if pred(env.event)]
