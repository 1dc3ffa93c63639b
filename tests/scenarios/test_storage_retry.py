"""Calls that retry a transient store failure: drawn in live runs with services, leading the
first entered state, and every keyed call of the programs made careful."""

from __future__ import annotations

from mfm_engine.config import IoMode
from mfm_scenarios.generated import draw
from mfm_scenarios.inspect_kinds import first_entered
from mfm_scenarios.program import CALL
from mfm_scenarios.storage_retry import FEATURE

from mfm_sim.world.rng import Streams


def test_drawn_only_live_and_leading_the_first_entered_state() -> None:
    drawn = 0
    for seed in range(120):
        d = draw(Streams(seed).stream("scenario"))
        ops = [op for node in d.plan.graph.states for op in node.state.program.ops]
        if FEATURE not in d.features:
            assert not any(op.retry_storage for op in ops)
            continue
        drawn += 1
        assert d.run_config.io_mode is IoMode.LIVE
        programs = [node.state.program for node in sorted(d.plan.graph.states, key=_index)]
        first = first_entered(d.plan, programs, d.run_config)
        if first is None:
            continue
        lead = programs[_index_of(first)].ops[0]
        assert lead.kind == CALL and lead.retry_storage and lead.fact_key is not None
        for op in ops:
            if op.kind == CALL and op.fact_key is not None and op.twin is None:
                assert op.retry_storage
    assert drawn > 20


def _index_of(state_id: str) -> int:
    return int(state_id.split(".")[1][1:])


def _index(node: object) -> int:
    return _index_of(node.id)  # type: ignore[attr-defined]
