"""Invariant 5, order: each broken log trips it; an unknown plan skips it."""

from __future__ import annotations

import attrs

from mfm_sim.invariants.order import check_order
from tests.mfm_sim.invariants.support import fired, seqs_of, stream
from tests.mfm_sim.logs import (
    RUN_ID,
    S1,
    S2,
    S3,
    LogBuilder,
    linear_plan,
    with_stream,
)

# ------------------------------------------------------------------- 5 order


def test_order_predecessors_must_complete_first():
    b = LogBuilder()
    b.start()
    early = b.enter(S2)
    b.complete()
    found = fired(b.observation(), "order")
    assert seqs_of(found) == [(early,)]
    assert S1 in found[0].message


def test_order_state_not_in_plan_and_unknown_plan_skips():
    b = LogBuilder(plan=linear_plan((S1, S2)))
    b.start()
    b.run_state(S1)
    b.run_state(S2)
    stranger = b.enter(S3)
    obs = b.observation()
    assert seqs_of(fired(obs, "order")) == [(stranger,)]
    unknown = with_stream(obs, stream(obs))
    runs = {RUN_ID: attrs.evolve(unknown.runs[RUN_ID], plan=None)}
    assert check_order(attrs.evolve(obs, runs=runs)) == []
