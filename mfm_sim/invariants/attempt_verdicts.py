"""One walk over the journal's matched attempts for the three checks that judge each one:
`attempt_reads`, `staged_commit` and `event_profile` (their modules state the promises).

The three read the same attempts (`attempt_spans.matched`), the same base snapshots and the
same replayed context ops; walking them once, with each attempt's base decoded and each
entry's ops replayed once, costs far less per schedule than three walks. Each check's
violations come out as its own walk gave them: in matched order, one list per check.
"""

from __future__ import annotations

import uuid
from typing import Any

from mfm_sim.invariants.attempt_spans import decoded, matched, strict_equal
from mfm_sim.invariants.context_model import replay_ops
from mfm_sim.invariants.derive import ORPHAN_CODE, Out, derive
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["PROFILE", "READS", "STAGED", "attempt_verdicts"]

READS, STAGED, PROFILE = "attempt_reads", "staged_commit", "event_profile"

_WALKED = "attempt_verdicts.walk"  # the key of the three lists in `derive(obs).memo`
_FACT = "fact_recorded"
_NO_CONFIG = (None, False)
_NONE: tuple[list[Violation], list[Violation], list[Violation]] = ([], [], [])


def attempt_verdicts(obs: Observation) -> tuple[list[Violation], ...]:
    """The violations of `attempt_reads`, `staged_commit` and `event_profile`, walked once per
    observation (callers copy or only read the lists)."""
    if not obs.handler_journal:
        return _NONE
    memo = derive(obs).memo
    found = memo.get(_WALKED)
    if found is None:
        found = memo[_WALKED] = _walk(obs)
    return found  # type: ignore[no-any-return]


def _minimal(profile: Any) -> bool:
    # `_name_`, not `.name`: an enum's `name` is a Python-level descriptor.
    return getattr(profile, "_name_", None) == "MINIMAL"


def _same(got: list[Any], want: list[tuple[Any, ...]]) -> bool:
    """The kept domain events are the wanted emits: same names, payloads and payload refs, in
    order."""
    if len(got) != len(want):
        return False
    for ev, op in zip(got, want):  # noqa: B905  # lengths compared above
        if ev.name != op[1] or ev.payload_ref != op[4] or not strict_equal(ev.payload, op[2]):
            return False
    return True


def _walk(obs: Observation) -> tuple[list[Violation], list[Violation], list[Violation]]:
    reads, staged, profile = Out(READS, obs), Out(STAGED, obs), Out(PROFILE, obs)
    found = matched(obs)
    if not found:
        return reads.items, staged.items, profile.items
    # Keyed by the id's number: a UUID's own hash is Python-level. Each run's config with
    # whether its profile is MINIMAL, judged once per run rather than once per attempt.
    configs = {
        log.run_id.int: (
            log.run_config,
            log.run_config is not None and _minimal(log.run_config.event_profile),
        )
        for log in derive(obs).logs
    }
    for (run_id, state, attempt), entries, span in found:
        entered, terminal = span.entered, span.terminal
        base_id = entered.event.base_snapshot_id
        base = decoded(obs, base_id)
        completed = terminal is not None and type(terminal.event).__name__ == "StateCompleted"
        single = len(entries) == 1
        # attempt_reads: every read saw the base under the entry's own staged overlay.
        # staged_commit: a returned, completed attempt's snapshot is that overlay applied.
        if isinstance(base, dict):  # else lost or corrupt: hash integrity and detection judge
            for entry in entries:
                model, wrong = replay_ops(base, entry.ops)
                for line in wrong[:3]:
                    reads.add(run_id, (entered.seq,), f"{state} attempt {attempt}: {line}")
            if completed and single and entries[0].ended == "ok":
                assert terminal is not None
                snapshot = decoded(obs, terminal.event.context_snapshot_id)
                if isinstance(snapshot, dict) and not strict_equal(model, snapshot):
                    where = (entered.seq, terminal.seq)
                    _staged(staged, run_id, where, f"{state} attempt {attempt}", model, snapshot)
        # event_profile: the domain events kept are the accepted emits the profile keeps.
        if terminal is None or not single:
            continue
        cfg, minimal = configs.get(run_id.int, _NO_CONFIG)
        if cfg is None:
            continue
        entry = entries[0]
        if entry.ended is None:
            continue
        # A recovered orphan's attempt is not the handler's.
        if getattr(getattr(terminal.event, "error", None), "code", None) == ORPHAN_CODE:
            continue
        # The accepted emits other than fact_recorded, as ops ("emit", name, payload, None, ref).
        want = []
        if not minimal:
            for op in entry.ops:
                if op[0] == "emit" and op[3] is None and op[1] != _FACT:
                    want.append(op)
        got = []
        for env in span.domain:
            if (ev := env.event).name != _FACT:
                got.append(ev)
        if _same(got, want) or (not completed and not got):
            continue
        profile.add(
            run_id,
            (entered.seq, terminal.seq),
            f"{state} attempt {attempt} under {cfg.event_profile.name}: kept "
            f"{[ev.name for ev in got]}, the profile keeps {[op[1] for op in want]}",
        )
    return reads.items, staged.items, profile.items


def _staged(
    out: Out,
    run_id: uuid.UUID,
    seqs: tuple[int, int],
    attempt: str,
    model: dict[str, Any],
    snapshot: dict[str, Any],
) -> None:
    """A completed snapshot that is not the model: which keys differ, and how."""
    extra = sorted(set(snapshot) - set(model))
    missing = sorted(set(model) - set(snapshot))
    changed = sorted(
        k for k in set(model) & set(snapshot) if not strict_equal(model[k], snapshot[k])
    )
    out.add(
        run_id,
        seqs,
        f"{attempt}: the completed snapshot is not the base with the "
        f"attempt's staged writes and deletes (keys kept after delete or never written: "
        f"{extra}; writes missing: {missing}; values differing: {changed})",
    )
