"""Stopping a sweep from outside: SIGINT, SIGTERM and SIGHUP, and workers that die with it.

`StopSignals` turns the first of those signals into a flag the sweep polls, so the sweep stops
dispatching, kills its workers and returns what it found (saved and reported as partial by
the command). A second signal raises `Interrupted` (a KeyboardInterrupt): a person who presses
Ctrl-C twice gets out at once. Which seeds run depends on when a signal arrives, never what
any seed does. Outside a sweep, `RaiseOnStopSignals` makes SIGTERM and SIGHUP raise
`Interrupted` as Ctrl-C raises KeyboardInterrupt, so cleanup code runs for them too.

`detach_worker()` runs first in every worker process: workers ignore SIGINT (a terminal sends
it to the whole process group; the parent decides), take the default action on SIGTERM and
SIGHUP (the parent kills them with SIGTERM), and on Linux ask the kernel to kill them when
the parent dies (`PR_SET_PDEATHSIG`), so that a `kill -9` of the parent leaves no orphan.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any, Self

__all__ = [
    "STOP_SIGNALS",
    "Interrupted",
    "RaiseOnStopSignals",
    "StopSignals",
    "detach_worker",
    "exit_status",
    "signal_name",
]

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_status(signum: int) -> int:
    """The shell's convention: 128 + the signal's number (130 for SIGINT)."""
    return 128 + signum


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP outside a sweep, raised like Ctrl-C so `finally` blocks (and
    `subprocess.run`, which kills its child) clean up."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal_name(signum)}")
        self.signum = signum


class _Handlers:
    """Installs `_handle` for `signals` while entered, in the main thread only (elsewhere it
    installs nothing and never fires); puts the old handlers back on exit."""

    signals: tuple[signal.Signals, ...] = STOP_SIGNALS

    def __init__(self) -> None:
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                try:
                    self._old[sig] = signal.signal(sig, self._handle)
                except (OSError, ValueError):  # not settable here: leave it as it was
                    continue
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)


class RaiseOnStopSignals(_Handlers):
    """While entered, SIGTERM and SIGHUP raise `Interrupted` (SIGINT raises as it always does)."""

    signals = tuple(sig for sig in STOP_SIGNALS if sig != signal.SIGINT)


class StopSignals(_Handlers):
    """While entered, the first stop signal sets `received`; a second raises `Interrupted`."""

    def __init__(self) -> None:
        super().__init__()
        self.received: int | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise Interrupted(signum)
        self.received = signum


def detach_worker(parent: int) -> None:
    """Set up a freshly started worker process of `parent` (its pid, taken before the worker
    started: if the parent is already gone, the worker exits; see the module docstring)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN if sig == signal.SIGINT else signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the parent still kills us on a signal
            return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
