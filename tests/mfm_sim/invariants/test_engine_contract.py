"""The engine contract: breaches the simulation recorded become violations, first of all."""

from __future__ import annotations

import attrs

from mfm_sim.invariants.engine_contract import check_engine_contract
from mfm_sim.invariants.registry import check
from mfm_sim.run.observation import Breach, ContractBreach
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import RUN_ID, SEED, clean_builder, clean_observation

BREACHES = (
    ContractBreach(Breach.UNTYPED, RUN_ID, 0, "start", "untyped", "KeyError", "'bookkeeping'"),
    ContractBreach(Breach.OWN_FAILURE, RUN_ID, 2, "resume", "plan", "invalid_attempt_envelopes"),
    ContractBreach(Breach.REFUSED_VALID_RUN, None, 0, "start", "plan", "manifest_id_mismatch"),
)


def test_a_clean_observation_breaks_no_contract():
    assert clean_observation().contract_breaches == ()
    assert check_engine_contract(clean_observation()) == []


def test_each_breach_is_worded_as_the_runner_always_worded_it():
    obs = attrs.evolve(clean_observation(), contract_breaches=BREACHES)
    found = fired(obs, "engine_contract")
    assert [(v.run_id, v.seqs, v.seed) for v in found] == [
        (str(RUN_ID), (), SEED),
        (str(RUN_ID), (), SEED),
        (None, (), SEED),
    ]
    assert [v.message for v in found] == [
        "the engine raised an untyped KeyError: 'bookkeeping'",
        "incarnation 2 (resume) failed on its own, not because of a fault: "
        "plan invalid_attempt_envelopes",
        "the engine refused a valid run: plan manifest_id_mismatch",
    ]


def test_engine_contract_fires_through_check_before_every_other_invariant():
    b = clean_builder()
    obs = b.observation(effects={"charge:1": 2})  # and effects_at_most_once breaks too
    obs = attrs.evolve(obs, contract_breaches=BREACHES[1:2])
    everything = check(obs)
    assert [v.invariant for v in everything] == ["engine_contract", "effects_at_most_once"]
    assert "failed on its own" in everything[0].message
    assert check(obs, only=["engine_contract"]) == everything[:1]
    assert check(obs, only=["effects_at_most_once"]) == everything[1:]


def test_a_missing_code_is_worded_as_none():
    breach = ContractBreach(Breach.OWN_FAILURE, RUN_ID, 1, "resume", "state", None)
    obs = attrs.evolve(clean_observation(), contract_breaches=(breach,))
    (only,) = check_engine_contract(obs)
    assert only.message.endswith(": state None")
