"""The errors the harness raises to its callers: bad input, and its own bugs.

Each is bad input (exit 2 at the command line, one clear line) except `HarnessError`, a bug
in mfm-sim itself (exit 3), which is never reported as a violation of the engine.
"""

from __future__ import annotations

__all__ = ["HarnessError", "InvalidScenario"]


class HarnessError(RuntimeError):
    """A bug in mfm_sim itself; never reported as an engine violation."""


class InvalidScenario(ValueError):
    """The scenario's input (plan, manifest, initial context) is invalid: bad input, not a
    violation. The engine's refusal to start such a run is correct behaviour."""

    def __init__(self, scenario: str, code: str, message: str) -> None:
        super().__init__(
            f"scenario {scenario!r} is invalid: the engine refused to start it: {code}: {message}"
        )
        self.code = code
