"""state_error_filled: a StateError raised without a state id is given its attempt's state."""

from __future__ import annotations

import attrs

from mfm_sim.faults.journal import HandlerAttempt
from mfm_sim.invariants.state_error_filled import check_state_error_filled
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import RUN_ID, S1, clean_observation


def _with(ids, ended: str = "error:flaky", attempt: int = 0):
    """The clean run (S1's attempt 0 failed with `flaky`), its handler having raised that."""
    h = HandlerAttempt(0, RUN_ID, S1, attempt, False, (), ended, True, ids)
    return attrs.evolve(clean_observation(), handler_journal=(h,))


def test_a_filled_or_preset_state_id_passes():
    assert check_state_error_filled(clean_observation()) == []
    assert check_state_error_filled(_with((None, S1))) == []
    assert check_state_error_filled(_with(("demo.s.other", "demo.s.other"))) == []


def test_an_unfilled_state_id_fires():
    (v,) = fired(_with((None, None)), "state_error_filled")
    assert v.run_id == str(RUN_ID) and v.seqs == (3,)
    assert v.message == (
        f"the StateError {S1} attempt 0 raised with state id None was left with None, not '{S1}'"
    )


def test_a_preset_state_id_overwritten_fires():
    (v,) = fired(_with(("demo.s.other", S1)), "state_error_filled")
    assert v.message.endswith(f"was left with '{S1}', not 'demo.s.other'")


def test_an_attempt_not_closed_by_this_error_is_not_judged():
    # Another code (an orphan's recovery closed it), or an attempt never failed.
    assert check_state_error_filled(_with((None, None), ended="error:other")) == []
    assert check_state_error_filled(_with((None, None), attempt=1)) == []
