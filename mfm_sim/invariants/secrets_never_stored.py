"""Promise: no stored byte holds a secret (ENGINE.md, "Canonical JSON and hashing", "Events",
"Facts", and the original's tests 1-4), and the engine refuses what it must.

- No artifact, as written, decodes to JSON holding a secret; no event's domain name or payload
  holds one; a `StateFailed` error carries no details and no secret in its message (redaction).
- A domain event whose name or payload holds a secret is refused (`secrets_detected`), and one
  that holds none is not refused for secrets.
- Live IO never hands a handler a secret it recorded as a fact: a keyed call whose transport
  answered with a secret fails with `secrets_detected`.

Detection is the oracle's own (`invariants/secret_words.py`), from ENGINE.md's rule.
"""

from __future__ import annotations

from mfm_sim.invariants.derive import DOMAIN, FACT, FAILED, Out, derive, each_run
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.secret_words import json_has_secret, string_is_secret, value_has_secret
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_secrets_never_stored"]

_REFUSED = "secrets_detected"
_JUDGED = frozenset(("emit", "call"))  # the journal ops `_refusals` judges


def _stored(obs: Observation, out: Out) -> None:
    for artifact_id in sorted(obs.pristine):
        if json_has_secret(obs.pristine[artifact_id]):
            out.add(obs.main_run_id, (), f"artifact {artifact_id[:12]} holds a secret")
    for log in each_run(obs):
        for code, env, ev in log.rows:
            if code in (DOMAIN, FACT):
                if string_is_secret(ev.name) or value_has_secret(ev.payload):
                    out.add(log.run_id, (env.seq,), f"domain event {ev.name!r} holds a secret")
            elif code == FAILED:
                error = ev.error
                if error.details is not None:
                    out.add(log.run_id, (env.seq,), "StateFailed kept the error's details")
                if string_is_secret(error.message):
                    out.add(log.run_id, (env.seq,), "StateFailed's message holds a secret")


def _secret_fact(op: tuple[object, ...], replay: bool) -> bool:
    """A keyed live call that handed its handler a secret (recorded, or it would be refused)."""
    return (
        op[0] == "call" and op[2] is not None and op[3] is not None and not replay
    ) and value_has_secret(op[3])


def _refusals(obs: Observation, out: Out) -> None:
    if derive(obs).op_names.isdisjoint(_JUDGED):
        return  # no emit and no call in the journal: nothing refused or handed over
    for entry in obs.handler_journal:
        for op in entry.ops:
            if op[0] == "emit":
                secret = string_is_secret(op[1]) or value_has_secret(op[2])
                refused = op[3] == _REFUSED
                if secret and not refused:
                    out.add(
                        entry.run_id,
                        (),
                        f"{entry.state_id} attempt {entry.attempt}: a domain event {op[1]!r} "
                        "holding a secret was accepted",
                    )
                elif refused and not secret:
                    out.add(
                        entry.run_id,
                        (),
                        f"{entry.state_id} attempt {entry.attempt}: a domain event {op[1]!r} "
                        "with no secret was refused as one",
                    )
            elif op[0] == "call" and _secret_fact(op, entry.replay):
                out.add(
                    entry.run_id,
                    (),
                    f"{entry.state_id} attempt {entry.attempt}: live IO for fact "
                    f"{op[2]!r} returned a secret payload instead of refusing it",
                )


def check_secrets_never_stored(obs: Observation) -> list[Violation]:
    """Nothing stored holds a secret, and secret domain events and facts are refused."""
    out = Out(INVARIANT.name, obs)
    _stored(obs, out)
    _refusals(obs, out)
    return out.items


INVARIANT = Invariant(
    "secrets_never_stored",
    None,
    "no artifact or event holds a secret; secret domain events and fact payloads are refused",
    check_secrets_never_stored,
)
