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

from mfm_engine.events import EventEnvelope

# (incarnation, step of the call, task name, run id, the envelopes it made durable)
Batch = tuple[int, int, str, uuid.UUID, Sequence[EventEnvelope]]
SeqKey = tuple[uuid.UUID, int]

# Lookups `get` answers by a scan of the batches before it builds the index: a schedule that
# asks about a few records (a fault-free one asks where its RunCompleted came from) never
# pays for an index of every event.
_SCANS = 4
_MISSING = object()


def appended_events(batches: Sequence[Batch]) -> list[SeqKey]:
    """Every (run, seq) the batches made durable, in append order."""
    return [(run_id, env.seq) for _, _, _, run_id, envs in batches for env in envs]


class SeqIndex(Mapping[SeqKey, Any]):
    """`(run, seq) -> (incarnation, step)` (``"step"``) or `-> task` (``"task"``) over a list
    of batches that may still grow; (re)built when read after a new batch arrived.

    Held as run -> seq -> value: a run id is hashed once per batch, not once per event.
    """

    __slots__ = ("_batches", "_built_at", "_by_run", "_scans", "_what")

    def __init__(self, batches: list[Batch], what: str) -> None:
        if what not in ("step", "task"):
            raise ValueError(f"unknown index {what!r}; use 'step' or 'task'")
        self._batches = batches
        self._what = what
        self._by_run: dict[uuid.UUID, dict[int, Any]] = {}
        self._built_at = 0
        self._scans = 0  # lookups answered by `_scan` so far

    def _built(self) -> dict[uuid.UUID, dict[int, Any]]:
        batches = self._batches
        if self._built_at != len(batches):
            by_run: dict[uuid.UUID, dict[int, Any]] = {}
            step = self._what == "step"
            # Consecutive batches are mostly one run's: the same id object is not hashed again
            # (a UUID's hash is Python-level).
            last: uuid.UUID | None = None
            seqs: dict[int, Any] = {}
            for number, at, task, run_id, envs in batches:
                if run_id is not last:
                    last = run_id
                    got = by_run.get(run_id)
                    seqs = by_run[run_id] = {} if got is None else got
                value = (number, at) if step else task
                for env in envs:
                    seqs[env.seq] = value
            self._by_run = by_run
            self._built_at = len(batches)
        return self._by_run

    def _scan(self, run_id: uuid.UUID, seq: int) -> Any:
        """What the index would hold under (run_id, seq), found from the last batch back (the
        last call to append a record is the one the index keeps), or `_MISSING`."""
        step = self._what == "step"
        for number, at, task, rid, envs in reversed(self._batches):
            if rid is run_id or rid == run_id:
                for env in reversed(envs):
                    if env.seq == seq:
                        return (number, at) if step else task
        return _MISSING

    def __getitem__(self, key: SeqKey) -> Any:
        if type(key) is not tuple or len(key) != 2:
            raise KeyError(key)
        return self._built()[key[0]][key[1]]

    def get(self, key: SeqKey, default: Any = None) -> Any:
        if type(key) is not tuple or len(key) != 2:
            return default
        run_id, seq = key
        # Only a key of a run id and a seq is scanned for: `==` then finds what the index's
        # lookup would (any other key takes the index, which answers it as a dict does).
        if (
            self._scans < _SCANS
            and type(seq) is int
            and type(run_id) is uuid.UUID
            and self._built_at != len(self._batches)
        ):
            self._scans += 1
            found = self._scan(run_id, seq)
            return default if found is _MISSING else found
        seqs = self._built().get(run_id)
        return default if seqs is None else seqs.get(seq, default)

    def __contains__(self, key: object) -> bool:
        if type(key) is not tuple or len(key) != 2:
            return False
        seqs = self._built().get(key[0])
        return seqs is not None and key[1] in seqs

    def __reduce__(self) -> tuple[Any, ...]:
        return (SeqIndex, (list(self._batches), self._what))

    def __iter__(self) -> Iterator[SeqKey]:
        for run_id, seqs in self._built().items():
            for seq in seqs:
                yield run_id, seq

    def __len__(self) -> int:
        return sum(len(seqs) for seqs in self._built().values())

    def __repr__(self) -> str:
        return f"SeqIndex({self._what}, {dict(self)!r})"


__all__ = ["Batch", "SeqIndex", "SeqKey", "appended_events"]
