"""The oracle's model of a handler's staged context (ENGINE.md, "One attempt", step 3): the
context starts as the attempt's base snapshot; writes and deletes go to a staged overlay that
reads see first; a completed attempt's snapshot is the base with the overlay applied.

`replay_ops` walks one journal entry's context ops over its base and says where a read (or a
dump) saw something other than the model, and what the overlay makes of the base at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mfm_sim.invariants.attempt_spans import strict_equal
from mfm_sim.run.observation import REQUIRED

__all__ = ["replay_ops"]

_ABSENT = object()
# Scalar types equal to themselves by value (not float: NaN is not).
_EXACT = frozenset((bool, int, str, type(None)))


def replay_ops(
    base: dict[str, Any], ops: Sequence[tuple[Any, ...]]
) -> tuple[dict[str, Any], list[str]]:
    """The staged context after `ops`, and a line for every read that disagreed with it."""
    model = dict(base)
    wrong: list[str] = []
    for op in ops:
        name = op[0]
        if name == "write":
            model[op[1]] = op[2]
        elif name == "delete":
            model.pop(op[1], None)
        elif name == "read":
            key, got, default = op[1], op[2], op[3]
            want = model.get(key, _ABSENT)
            if want is _ABSENT:
                if default == REQUIRED:
                    wrong.append(f"require({key!r}) returned {got!r} for a key the context lacks")
                elif not strict_equal(got, default):
                    wrong.append(
                        f"read({key!r}) returned {got!r} for an absent key, not its default"
                    )
            elif (
                got != want  # two scalars of one exact type: `==` decides, no call
                if type(got) is type(want) and type(got) in _EXACT
                else not strict_equal(got, want)
            ):
                wrong.append(f"read({key!r}) returned {got!r}, the staged context holds {want!r}")
        elif name == "missing" and op[1] in model:
            wrong.append(f"require({op[1]!r}) failed for a key the context holds")
        elif name == "dump" and not strict_equal(op[1], model):
            wrong.append(f"dump() returned {op[1]!r}, the staged context is {model!r}")
    return model, wrong
