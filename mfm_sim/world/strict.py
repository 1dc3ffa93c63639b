"""Strict mode: a handler that reads the wall clock or an unseeded random source is an error.

A simulation is deterministic only if handlers take time and randomness from the world
(`io.now_millis()`, `io.random_bytes(n)`, recorded as facts). Inside `strict_mode()`, a
handler that calls `time.time()`, `random.random()`, `uuid.uuid4()`, `os.urandom()` (and
their relatives) gets a `NondeterminismError("nondeterminism: handler X called time.time()
...")`; every such call is also recorded on the strict log, so a handler that swallows the
error is still reported.

Strict mode patches the module attributes (`time.time`, `random.randint`, ...) and the
global `random` instance's `random`/`getrandbits` for the duration of the `with` block. A
patched function raises only when called while a handler runs (the task is inside a
`handler_scope`, or the stack holds the runner's state wrapper) and the first caller frame
outside the standard library belongs to neither the engine (`mfm_engine`) nor the harness
(`mfm_sim`), told by module name (`frames.package_of`). Everything else (the harness,
pytest, Hypothesis, the engine's own defaults, which a simulation never uses) calls
straight through. Limits: a name bound before strict mode began (`from time import time`)
and C-level calls (`datetime.now()`) are not seen; use `io.now_millis()` and
`io.random_bytes(n)`, which record facts.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import sys
import sysconfig
import time
import uuid
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import attrs

from mfm_sim.world.frames import ENGINE, HARNESS, package_of
from mfm_sim.world.scope import current_handler

__all__ = ["NondeterminismError", "StrictLog", "StrictRecord", "strict_mode"]

_EXEMPT_PACKAGES = (ENGINE, HARNESS)
_STDLIB_DIRS = tuple(
    sorted(
        {
            os.path.abspath(p) + os.sep
            for k, p in sysconfig.get_paths().items()
            if k in ("stdlib", "platstdlib")
        }
    )
)


# Stdlib modules that read the clock for bookkeeping only.
_BENIGN_STDLIB = frozenset({"logging"})


class NondeterminismError(RuntimeError):
    """A handler reached the wall clock, the global random generator, uuid4 or os.urandom."""

    def __init__(self, record: StrictRecord) -> None:
        super().__init__(record.message())
        self.record = record


@attrs.frozen
class StrictRecord:
    """One forbidden call: which handler, which function, from where in the user's code."""

    handler: str
    call: str  # e.g. "time.time"
    filename: str
    lineno: int
    function: str

    def where(self) -> str:
        path = self.filename
        with contextlib.suppress(ValueError):
            rel = os.path.relpath(path)
            if not rel.startswith(".."):
                path = rel
        return f"{path}:{self.lineno}"

    def message(self) -> str:
        return (
            f"nondeterminism: handler {self.handler} called {self.call}() "
            f"in {self.function} at {self.where()}; a handler must be deterministic: "
            f"use io.now_millis() / io.random_bytes(n) (recorded facts) instead"
        )


class StrictLog:
    """What one `strict_mode()` block saw."""

    def __init__(self) -> None:
        self.records: list[StrictRecord] = []

    def clear(self) -> None:
        self.records.clear()

    @property
    def first(self) -> StrictRecord | None:
        return self.records[0] if self.records else None


_LOGS: list[StrictLog] = []
_SAVED: list[tuple[Any, str, Any]] = []
_STDLIB_CACHE: dict[str, bool] = {}


def _is_stdlib(filename: str) -> bool:
    cached = _STDLIB_CACHE.get(filename)
    if cached is None:
        if filename.startswith("<"):
            cached = True  # frozen modules, <string>
        else:
            path = os.path.abspath(filename)
            cached = (
                path.startswith(_STDLIB_DIRS)
                and "site-packages" not in path
                and "dist-packages" not in path
            )
        _STDLIB_CACHE[filename] = cached
    return cached


def _user_frame(frame: FrameType | None) -> FrameType | None:
    """The first caller frame outside this module and the stdlib, unless it is exempt.

    Exempt: the engine and the harness, and calls made on the handler's behalf by stdlib
    modules whose use of the clock cannot reach a result (`logging` timestamps records)."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if frame.f_globals.get("__name__") == __name__:
            frame = frame.f_back
            continue
        if _is_stdlib(filename):
            module = frame.f_globals.get("__name__", "")
            if module.split(".", 1)[0] in _BENIGN_STDLIB:
                return None
            frame = frame.f_back
            continue
        if package_of(frame) in _EXEMPT_PACKAGES:
            return None
        return frame
    return None


# The runner's state wrapper, told by module and qualified name (frames are never told by
# file path); the world layer names it rather than import the fault layer above it. A test
# in tests/mfm_sim/world/test_strict.py fails if the wrapper moves or is renamed.
_WRAPPER = ("mfm_sim.faults.handlers", "FaultyState.handle")


def _handler_on_stack(frame: FrameType | None) -> str | None:
    """The state id of the runner's state wrapper on the stack (scenarios outside userplan)."""
    while frame is not None:
        code = frame.f_code
        if (
            getattr(code, "co_qualname", "") == _WRAPPER[1]
            and frame.f_globals.get("__name__") == _WRAPPER[0]
        ):
            state_id = getattr(frame.f_locals.get("self"), "_state_id", None)
            if isinstance(state_id, str):
                return state_id
        frame = frame.f_back
    return None


def _guard(label: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _LOGS:
            caller = sys._getframe(1)
            handler = current_handler() or _handler_on_stack(caller)
            if handler is not None:
                user = _user_frame(caller)
                if user is not None:
                    code = user.f_code
                    record = StrictRecord(
                        handler,
                        label,
                        code.co_filename,
                        user.f_lineno,
                        getattr(code, "co_qualname", code.co_name),
                    )
                    for log in _LOGS:
                        log.records.append(record)
                    raise NondeterminismError(record)
        return original(*args, **kwargs)

    guarded.__name__ = getattr(original, "__name__", label)
    guarded.__qualname__ = guarded.__name__
    guarded.__doc__ = getattr(original, "__doc__", None)
    return guarded


_TIME = ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns")
_RANDOM = (
    "random",
    "randint",
    "randrange",
    "choice",
    "choices",
    "shuffle",
    "sample",
    "uniform",
    "getrandbits",
    "randbytes",
    "gauss",
    "normalvariate",
    "lognormvariate",
    "expovariate",
    "vonmisesvariate",
    "gammavariate",
    "triangular",
    "betavariate",
    "paretovariate",
    "weibullvariate",
    "binomialvariate",
)
_SECRETS = ("token_bytes", "token_hex", "token_urlsafe", "randbelow", "randbits", "choice")


def _targets() -> list[tuple[Any, str, str]]:
    out: list[tuple[Any, str, str]] = []
    out += [(time, n, f"time.{n}") for n in _TIME]
    out += [(random, n, f"random.{n}") for n in _RANDOM if hasattr(random, n)]
    out += [(uuid, n, f"uuid.{n}") for n in ("uuid1", "uuid4")]
    out += [(os, "urandom", "os.urandom")]
    out += [(secrets, n, f"secrets.{n}") for n in _SECRETS if hasattr(secrets, n)]
    return out


def _install() -> None:
    for module, name, label in _targets():
        original = getattr(module, name)
        _SAVED.append((module, name, original))
        setattr(module, name, _guard(label, original))
    # Names bound before strict mode (`from random import randint`) still reach the global
    # instance's `random`/`getrandbits` through attribute lookup on the instance.
    inst = random._inst  # type: ignore[attr-defined]
    for name in ("random", "getrandbits"):
        _SAVED.append((inst, name, None))
        setattr(inst, name, _guard(f"random.{name}", getattr(type(inst), name).__get__(inst)))


def _uninstall() -> None:
    while _SAVED:
        target, name, original = _SAVED.pop()
        if original is None:
            with contextlib.suppress(AttributeError):
                delattr(target, name)
        else:
            setattr(target, name, original)


@contextlib.contextmanager
def strict_mode() -> Iterator[StrictLog]:
    """Within the block, a handler's use of wall clock, global random, uuid4 or urandom is an
    error (`NondeterminismError`) and is recorded on the yielded `StrictLog`. Re-entrant."""
    log = StrictLog()
    if not _LOGS:
        _install()
    _LOGS.append(log)
    try:
        yield log
    finally:
        _LOGS.remove(log)
        if not _LOGS:
            _uninstall()
