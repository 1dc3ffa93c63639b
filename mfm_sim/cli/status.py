"""The exit statuses of every `mfm-sim` command (documented in `mfm_sim.cli.main`)."""

from __future__ import annotations

__all__ = ["EXIT_BAD_INPUT", "EXIT_HARNESS", "EXIT_INTERRUPTED", "EXIT_VIOLATION"]

EXIT_VIOLATION = 1  # an invariant was violated, or a check (determinism, gate) failed
EXIT_BAD_INPUT = 2
EXIT_HARNESS = 3  # the harness itself crashed: never reported as an engine violation
EXIT_INTERRUPTED = 130
