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
    if cause is None or not hasattr(cause, "info"):
        return RaisedError(getattr(exc, "kind", None), exc.info)
    return RaisedError(
        getattr(exc, "kind", None), exc.info, type(cause).__name__, getattr(cause, "kind", None)
    )
