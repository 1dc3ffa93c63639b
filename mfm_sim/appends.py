"""Which append call made each event durable, recorded once per call and indexed on demand.

An append call is the unit the store sees, so it is what gets recorded: (incarnation, step
of the call, task that made it, run, envelopes). The per-event indexes the invariants look
up, `(run, seq) -> (incarnation, step)` and `(run, seq) -> task`, are built only when first
read: most schedules never read them, and every event of every schedule would pay for them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from engine.events import EventEnvelope

# (incarnation, step of the call, task name, run id, the envelopes it made durable)
Batch = tuple[int, int, str, uuid.UUID, Sequence[EventEnvelope]]
SeqKey = tuple[uuid.UUID, int]


def appended_events(batches: Sequence[Batch]) -> list[SeqKey]:
    """Every (run, seq) the batches made durable, in append order."""
    return [(run_id, env.seq) for _, _, _, run_id, envs in batches for env in envs]


class SeqIndex(Mapping[SeqKey, Any]):
    """`(run, seq) -> (incarnation, step)` (``"step"``) or `-> task` (``"task"``) over a list
    of batches that may still grow; (re)built when read after a new batch arrived."""

    __slots__ = ("_batches", "_built_at", "_data", "_what")

    def __init__(self, batches: list[Batch], what: str) -> None:
        if what not in ("step", "task"):
            raise ValueError(f"unknown index {what!r}; use 'step' or 'task'")
        self._batches = batches
        self._what = what
        self._data: dict[SeqKey, Any] = {}
        self._built_at = 0

    def _built(self) -> dict[SeqKey, Any]:
        batches = self._batches
        if self._built_at != len(batches):
            if self._what == "step":
                self._data = {
                    (run_id, env.seq): (number, step)
                    for number, step, _, run_id, envs in batches
                    for env in envs
                }
            else:
                self._data = {
                    (run_id, env.seq): task for _, _, task, run_id, envs in batches for env in envs
                }
            self._built_at = len(batches)
        return self._data

    def __getitem__(self, key: SeqKey) -> Any:
        return self._built()[key]

    def get(self, key: SeqKey, default: Any = None) -> Any:
        return self._built().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._built()

    def __iter__(self) -> Iterator[SeqKey]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())

    def __repr__(self) -> str:
        return f"SeqIndex({self._what}, {self._built()!r})"


__all__ = ["Batch", "SeqIndex", "SeqKey", "appended_events"]
