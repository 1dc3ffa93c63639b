"""entropy_source: the random facts recorded number at most the given source's draws."""

from __future__ import annotations

import attrs
from mfm_engine.events import FACT_RECORDED, DomainEvent

from mfm_sim.invariants.entropy_source import RANDOM_PREFIX, check_entropy_source
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import RUN_ID, clean_observation


def _with_random_facts(n: int, *, seeded: bool = False, draws: int | None = 0):
    obs = clean_observation()
    view = obs.runs[RUN_ID]
    stream = list(view.stream)
    last = stream[-1]
    for k in range(n):
        key = f"{RANDOM_PREFIX}run:{RUN_ID}|state:demo.s.one|attempt:0|ord:{k}"
        event = DomainEvent(FACT_RECORDED, {"key": key, "payload_id": "0" * 64, "meta": {}})
        stream.append(attrs.evolve(last, seq=last.seq + 1 + k, event=event))
    marks = frozenset((RUN_ID, env.seq) for env in stream[len(view.stream) :]) if seeded else None
    runs = {**obs.runs, RUN_ID: attrs.evolve(view, stream=tuple(stream))}
    obs = attrs.evolve(obs, runs=runs, entropy_draws=draws)
    return attrs.evolve(obs, seeded=marks) if marks else obs


def test_random_facts_within_the_draws_pass():
    assert check_entropy_source(clean_observation()) == []  # not recorded: not judged
    assert check_entropy_source(_with_random_facts(2, draws=2)) == []
    assert check_entropy_source(_with_random_facts(2, draws=3)) == []


def test_random_facts_the_source_never_gave_fire():
    (v,) = fired(_with_random_facts(2, draws=1), "entropy_source")
    assert v.message == (
        "2 random_bytes facts were recorded, but the engine's entropy source was drawn 1 times"
    )


def test_a_recorded_logs_random_facts_are_not_counted():
    assert check_entropy_source(_with_random_facts(2, seeded=True, draws=0)) == []
