"""A durable `EventStore` in one JSON-lines file, written through the `mfm_engine.files` API.

Each append writes one line, then syncs, then acknowledges. The line holds the whole batch and
a CRC-32 of it, so a batch is durable entirely or not at all::

    {"crc":"1a2b3c4d","batch":[{...envelope...},{...}]}\\n

The `batch` text is the exact bytes the CRC covers; the line is still plain JSON, so
`jq` and friends read the file.

**Opening** reads the whole file once and indexes every run's envelopes in memory. A crash
while an append was being written leaves a *torn tail*: a last line with no newline, or a
complete-looking one whose CRC does not match. The tail is truncated away (and the truncation
synced) before anything else is written, so no half-written line is ever read as an event and
the next append never lands glued to garbage. A damaged line followed by intact ones is not a
torn tail (only the last append can be in flight at a crash, since every append syncs before
it returns): the store then refuses to open with a `CORRUPTION` storage error instead of
guessing. A bad line that is the last one is taken for a torn tail even if a bit flip made it
(a disk that changes synced bytes lies, and no log format can undo that).

**Concurrency.** One store object per file and one writer process. Within the process, calls
run one at a time (`mfm_engine.blocking`), so the head check and the write of an append are
atomic with respect to every other call on the store.

`repair_torn_tail=False` selects a deliberately broken variant (the harness's self-check uses
it): it skips a line it cannot read instead of truncating it, so the next append is written
after the garbage and lost at the following open.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Sequence

from mfm_engine.blocking import BlockingCalls
from mfm_engine.errors import RunError, StorageError, StorageErrorKind, corruption, storage
from mfm_engine.events import EventEnvelope
from mfm_engine.files import File, FileSystem, OsFileSystem
from mfm_engine.stores import check_append, seq_window

__all__ = ["JsonlEventStore", "decode_line", "encode_line"]

_PREFIX = b'{"crc":"'
_MIDDLE = b'","batch":'
_CRC_END = len(_PREFIX) + 8
_BATCH_START = _CRC_END + len(_MIDDLE)


def encode_line(envelopes: Sequence[EventEnvelope]) -> bytes:
    """One append's line, newline included."""
    batch = json.dumps(
        [env.to_json() for env in envelopes], sort_keys=True, separators=(",", ":")
    ).encode()
    crc = f"{zlib.crc32(batch):08x}".encode()
    return _PREFIX + crc + _MIDDLE + batch + b"}\n"


def decode_line(line: bytes) -> list[EventEnvelope] | None:
    """The batch a line (without its newline) holds, or None if the line is not an intact one."""
    if (
        len(line) <= _BATCH_START
        or not line.startswith(_PREFIX)
        or line[_CRC_END:_BATCH_START] != _MIDDLE
        or not line.endswith(b"}")
    ):
        return None
    batch = line[_BATCH_START:-1]
    try:
        if int(line[len(_PREFIX) : _CRC_END], 16) != zlib.crc32(batch):
            return None
        values = json.loads(batch)
        if not isinstance(values, list) or not values:
            return None
        return [EventEnvelope.from_json(value) for value in values]
    except (ValueError, RunError):
        # A CRC that matches over bytes that do not decode is no line this store wrote.
        return None


class JsonlEventStore:
    """Every run's events in one JSON-lines file at `path` on `fs` (the OS by default)."""

    def __init__(
        self,
        path: str,
        fs: FileSystem | None = None,
        *,
        inline: bool = False,
        repair_torn_tail: bool = True,
    ) -> None:
        self.path = path
        self._fs: FileSystem = fs if fs is not None else OsFileSystem()
        self._calls = BlockingCalls(inline=inline, name="mfm-jsonl")
        self._repair = repair_torn_tail
        self._file: File | None = None
        self._streams: dict[uuid.UUID, list[EventEnvelope]] = {}
        self._end = 0  # the length of the intact lines: where the next append goes
        self._failed: StorageError | None = None

    # ------------------------------------------------------------------ blocking side

    def _opened(self) -> File:
        if self._failed is not None:
            raise self._failed
        if self._file is None:
            try:
                file = self._fs.open(self.path)
            except OSError as exc:
                raise storage(
                    StorageErrorKind.OTHER,
                    "event_log_io_error",
                    f"event log {self.path}: cannot open: {exc}",
                    retryable=True,
                ) from exc
            try:
                self._load(file)
            except OSError as exc:
                file.close()
                raise storage(
                    StorageErrorKind.OTHER,
                    "event_log_io_error",
                    f"event log {self.path}: cannot read: {exc}",
                    retryable=True,
                ) from exc
            except BaseException:
                file.close()
                raise
            self._file = file
        return self._file

    def _load(self, file: File) -> None:
        data = file.read(0, file.size())
        streams: dict[uuid.UUID, list[EventEnvelope]] = {}
        pos = 0
        bad_at: int | None = None
        while pos < len(data):
            newline = data.find(b"\n", pos)
            end = len(data) if newline < 0 else newline
            batch = decode_line(data[pos:end]) if newline >= 0 else None
            if batch is None:
                if self._repair and bad_at is None:
                    bad_at = pos
            elif bad_at is not None:
                raise corruption(
                    "event_log_damaged",
                    f"event log {self.path}: the line at byte {bad_at} is damaged but later"
                    " lines are intact",
                )
            else:
                _index(streams, batch, pos, self.path)
            pos = end + 1
        self._streams = streams
        self._end = len(data)
        if bad_at is not None:
            # The torn tail of an append that was never acknowledged: cut it, durably, before
            # anything is written after it.
            file.truncate(bad_at)
            file.sync()
            self._end = bad_at

    def _head(self, run_id: uuid.UUID) -> int:
        self._opened()
        stream = self._streams.get(run_id)
        return len(stream) if stream else 0

    def _append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: tuple[EventEnvelope, ...]
    ) -> int:
        file = self._opened()
        stream = self._streams.get(run_id)
        head = len(stream) if stream else 0
        check_append(run_id, head, expected_seq, envelopes)
        if not envelopes:
            return head
        line = encode_line(envelopes)
        try:
            file.append(line)
            file.sync()
        except OSError as exc:
            self._undo(file, exc)
        self._end += len(line)
        if stream is None:
            stream = self._streams[run_id] = []
        stream.extend(envelopes)
        return len(stream)

    def _undo(self, file: File, exc: OSError) -> None:
        """A write or sync failed: cut the line back off so the log stays as acknowledged; if
        even that fails, the file's state is unknown and the store refuses every later call."""
        try:
            file.truncate(self._end)
            file.sync()
        except OSError as again:
            self._failed = storage(
                StorageErrorKind.OTHER,
                "event_log_unusable",
                f"event log {self.path}: an append failed ({exc}) and could not be undone"
                f" ({again}); reopen the store",
            )
            raise self._failed from exc
        raise storage(
            StorageErrorKind.OTHER,
            "event_log_write_failed",
            f"event log {self.path}: append failed: {exc}",
            retryable=True,
        ) from exc

    def _read(self, run_id: uuid.UUID, from_seq: int, to_seq: int | None) -> list[EventEnvelope]:
        self._opened()
        return seq_window(self._streams.get(run_id), from_seq, to_seq)

    def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    # --------------------------------------------------------------------- the protocol

    async def head_seq(self, run_id: uuid.UUID) -> int:
        return await self._calls.run(self._head, run_id)

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        # A tuple: the caller may change its list while the worker thread writes it.
        return await self._calls.run(self._append, run_id, expected_seq, tuple(envelopes))

    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        return await self._calls.run(self._read, run_id, from_seq, to_seq)

    def run_ids(self) -> list[uuid.UUID]:
        """Every run with events, in the order each first appears in the file."""
        self._calls.run_now(self._opened)
        return list(self._streams)

    def close(self) -> None:
        """Close the file (idempotent); every later call raises `event_log_closed`."""
        if self._failed is None:
            self._failed = storage(
                StorageErrorKind.OTHER, "event_log_closed", f"event log {self.path} is closed"
            )
        self._calls.run_now(self._close)
        self._calls.shutdown()


def _index(
    streams: dict[uuid.UUID, list[EventEnvelope]],
    batch: list[EventEnvelope],
    pos: int,
    path: str,
) -> None:
    """Add one intact line's batch to its run's stream; it must continue that stream."""
    run_id = batch[0].run_id
    stream = streams.setdefault(run_id, [])
    for offset, env in enumerate(batch, start=1):
        if env.run_id != run_id or env.seq != len(stream) + offset:
            raise corruption(
                "event_log_out_of_order",
                f"event log {path}: the line at byte {pos} holds run {env.run_id} seq {env.seq}"
                f" where run {run_id} seq {len(stream) + offset} was expected",
            )
    stream.extend(batch)
