"""A sweep's progress: a rich bar on stderr, or plain lines where no one watches a bar."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console

__all__ = ["Progress"]


class Progress:
    """A rich progress bar on stderr; plain lines when stderr is not a terminal or in CI.

    Called as `progress(done, total, failing)`, the sweep's progress callback."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.plain = not sys.stderr.isatty() or bool(os.environ.get("CI"))
        self.next_pct = 10
        self._bar: Any = None
        self._task: Any = None
        self.label = label
        if not self.plain:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failing]} failing"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                transient=True,
            )
            self._task = self._bar.add_task(label, total=total, failing=0)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def __call__(self, done: int, total: int, failing: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, failing=failing)
            return
        pct = 100 * done // max(1, total)
        if pct >= self.next_pct or done == total:
            print(
                f"{self.label}: {done}/{total} schedules ({pct}%), {failing} failing",
                file=sys.stderr,
                flush=True,
            )
            self.next_pct = (pct // 10 + 1) * 10
