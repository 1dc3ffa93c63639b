"""Recorded answers (invariant 13): a keyed call that answered has its fact in the run's log;
an answer with no record fires, and an engine that keeps a rolled-back binding is caught."""

from __future__ import annotations

import functools

import attrs
import pytest
from mfm_scenarios.generated import SCENARIO

from mfm_sim import simulate
from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.recorded_answers import check_recorded_answers
from mfm_sim.run.observation import Observation
from mfm_sim.selfcheck.patch import Edit, FunctionPatch, patched
from mfm_sim.selfcheck.variants import VARIANTS, Variant

# Seed 54 of `generated`: a transient error fails the append of a retrying call's fact.
SEED = 54


def _judge(obs: Observation) -> list[str]:
    out = Out("model_agreement", obs)
    check_recorded_answers(obs, out)
    return [v.message for v in out.items]


def _observed(seed: int = SEED) -> Observation:
    result = simulate(SCENARIO, seed, keep_observation=True)
    assert result.observation is not None
    return result.observation


def _answered(obs: Observation) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i, entry in enumerate(obs.handler_journal)
        for j, op in enumerate(entry.ops)
        if op[0] == "call" and op[2] is not None and op[4] is None
    ]


def test_every_answer_of_the_correct_engine_is_recorded() -> None:
    obs = _observed()
    assert _answered(obs)
    assert _judge(obs) == []


def _with_unrecorded_answer(obs: Observation) -> Observation:
    i, j = _answered(obs)[0]
    entry = obs.handler_journal[i]
    op = entry.ops[j]
    ops = (*entry.ops[:j], (op[0], op[1], "never_recorded", op[3], op[4]), *entry.ops[j + 1 :])
    journal = list(obs.handler_journal)
    journal[i] = attrs.evolve(entry, ops=ops)
    return attrs.evolve(obs, handler_journal=tuple(journal))


def test_an_answer_the_log_never_recorded_fires() -> None:
    messages = _judge(_with_unrecorded_answer(_observed()))
    assert len(messages) == 1 and "'never_recorded'" in messages[0]


def test_a_lie_about_the_log_or_a_disk_store_is_not_judged() -> None:
    obs = _with_unrecorded_answer(_observed())
    lie = attrs.evolve(obs.faults[0], kind=FaultKind.LIE_REWRITTEN_HISTORY)
    assert _judge(attrs.evolve(obs, faults=(*obs.faults, lie))) == []
    assert _judge(attrs.evolve(obs, durable_store="sqlite")) == []


@pytest.mark.parametrize(
    ("qualname", "old", "new"),
    [
        ("FactIndex.bind", "return True", "return False"),
        ("FactIndex.unbind", "self._bindings.pop(key, None)", "self._bindings.pop(None, None)"),
    ],
)
def test_an_engine_that_keeps_a_rolled_back_binding_is_caught(
    monkeypatch: pytest.MonkeyPatch, qualname: str, old: str, new: str
) -> None:
    name = f"test_kept_binding_{qualname}"
    patches = (FunctionPatch("mfm_engine.live_io", qualname, (Edit(old, new),)),)
    monkeypatch.setitem(
        VARIANTS, name, Variant(name, name, functools.partial(patched, name, patches), patches)
    )
    violations = simulate(SCENARIO, SEED, variant=name).violations
    assert any("never recorded" in v.message for v in violations), violations
