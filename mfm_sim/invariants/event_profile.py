"""Promise: the event profile keeps exactly what it should (ENGINE.md, "Events": MINIMAL keeps
only `fact_recorded` of the domain events and drops the rest silently; NORMAL, VERBOSE and
CUSTOM keep them; "One attempt", 3: the recorder is filtered by the profile).

For every handler invocation that returned and whose attempt the durable log closes itself
(not as a recovered orphan), the domain events in the attempt's span, other than
`fact_recorded`, are exactly the events the handler emitted and the engine accepted, in
order, filtered by the run's profile. A failed attempt may keep them or drop them all
(ENGINE.md does not say which), but never keep some or others.
"""

from __future__ import annotations

from mfm_sim.invariants.attempt_verdicts import attempt_verdicts
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_event_profile"]


def check_event_profile(obs: Observation) -> list[Violation]:
    """Each attempt's domain events are its accepted emits, filtered by the run's profile.

    Judged in the one walk over matched attempts (`attempt_verdicts`).
    """
    return list(attempt_verdicts(obs)[2])


INVARIANT = Invariant(
    "event_profile",
    None,
    "each attempt keeps exactly the domain events its profile keeps of those it emitted",
    check_event_profile,
)
