"""Standard output that may fail: a closed pipe (`mfm-sim list | head -1`) or a full disk
(`mfm-sim list > /dev/full`) must not turn a finished command into a crash.

`GuardedStdout` stands in for `sys.stdout` while a command runs. The first failed write or
flush is remembered and later output is dropped, so the command goes on to its verdict;
`settle()` then says what happened: nothing for a closed pipe (the reader wanted no more),
one warning line for any other error. Standard output's descriptor is then pointed at
/dev/null, so the interpreter's last flush at exit cannot fail again.
"""

from __future__ import annotations

import errno
import os
from typing import Any, TextIO

__all__ = ["GuardedStdout"]


class GuardedStdout:
    """A text stream that forwards to `inner` until a write fails (see the module docstring)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.error: OSError | None = None

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                return self.inner.write(text)
            except OSError as exc:
                self.error = exc
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self.inner.flush()
            except OSError as exc:
                self.error = exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def settle(self) -> str | None:
        """Flush; the warning to print (None: all written, or the reader closed the pipe)."""
        self.flush()
        if self.error is None:
            return None
        try:
            fd = self.inner.fileno()
        except (OSError, ValueError, AttributeError):
            fd = None
        if fd is not None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
        if self.error.errno == errno.EPIPE:
            return None
        return f"cannot write standard output: {self.error.strerror or self.error}"
