"""What a raised engine error was, recorded as data for the oracle (`RaisedError`).

The runner and the operator keep each `RunError` (and the `ContextError` a `JsonContext`
raises for an operator's bad context) as it was raised, with the typed error it chains: the
kind and info they carry are what a caller reads (ENGINE.md "Ids and values"), so their
types are judged by `invariants/error_shape.py`, not assumed here.
"""

from __future__ import annotations

from typing import Any

from mfm_sim.run.observation import RaisedError

__all__ = ["raised_error"]


def raised_error(exc: Any) -> RaisedError:
    """`exc` (an engine error) and the engine error it was raised from, if any, as data."""
    cause = exc.__cause__
    kind = getattr(exc, "kind", None)
    if cause is None:
        return RaisedError(kind, exc.info)
    if hasattr(cause, "info"):
        return RaisedError(kind, exc.info, type(cause).__name__, getattr(cause, "kind", None))
    # A refusal's reason (no ErrorInfo of its own): what it names, as plain values; a list
    # subject (a cycle's states) as a tuple, so the record stays frozen data.
    subject = getattr(cause, "subject", None)
    return RaisedError(
        kind,
        exc.info,
        type(cause).__name__,
        getattr(cause, "kind", None),
        getattr(cause, "seq", None),
        tuple(subject) if isinstance(subject, list) else subject,
        cause.args[0] if cause.args else None,
    )
