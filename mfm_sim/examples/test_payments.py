"""A user's test: the payments plan under seeded fault schedules (100 per check; --mfm-seeds N)."""

import pytest

from mfm_sim.examples.payments import ORDER, buggy_plan, fixed_plan


def test_charge_is_crash_safe(mfm_sim):
    mfm_sim.check(fixed_plan, initial_context={"order": ORDER})


@pytest.mark.xfail(strict=True, reason="ChargeCard charges twice when retried after a crash")
def test_first_version_double_charges(mfm_sim):
    mfm_sim.check(buggy_plan, initial_context={"order": ORDER})
