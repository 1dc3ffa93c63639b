"""The JSON-lines event store: conformance on a real file, torn tails, damage, its variant."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mfm_engine.conformance import EVENT_CHECKS, RUN_A, RUN_B, make_envelope, run_check
from mfm_engine.errors import StorageError, StorageErrorKind
from mfm_engine.file_log import JsonlEventStore, decode_line, encode_line
from mfm_engine.files import OsFile, OsFileSystem

_N = itertools.count()


def _batch(first: int, count: int, run: Any = RUN_A) -> list[Any]:
    return [make_envelope(run, seq) for seq in range(first, first + count)]


def _open(path: Path, **kwargs: Any) -> JsonlEventStore:
    return JsonlEventStore(str(path), inline=True, **kwargs)


async def _appended(path: Path, *batches: tuple[int, list[Any]], **kwargs: Any) -> None:
    store = _open(path, **kwargs)
    try:
        for expected, batch in batches:
            await store.append(RUN_A, expected, batch)
    finally:
        store.close()


async def _read(path: Path, **kwargs: Any) -> list[Any]:
    store = _open(path, **kwargs)
    try:
        return await store.read_range(RUN_A, 1)
    finally:
        store.close()


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "thread"])
@pytest.mark.parametrize(("name", "check"), EVENT_CHECKS, ids=[n for n, _ in EVENT_CHECKS])
def test_conforms_on_a_real_file(
    tmp_path: Path, name: str, check: Callable[..., Any], inline: bool
) -> None:
    asyncio.run(
        run_check(
            name, check, lambda: JsonlEventStore(str(tmp_path / f"{next(_N)}.jsonl"), inline=inline)
        )
    )


def test_line_round_trip_and_every_damage_is_refused() -> None:
    batch = _batch(1, 3)
    line = encode_line(batch)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_line(line[:-1]) == batch
    body = line[:-1]
    for cut in range(len(body)):
        assert decode_line(body[:cut]) is None, f"a prefix of {cut} bytes decoded"
    for at in range(len(body)):
        flipped = bytearray(body)
        flipped[at] ^= 0x04
        assert decode_line(bytes(flipped)) is None, f"a flipped bit at byte {at} decoded"
    assert decode_line(b"\x00" * len(body)) is None


def test_appends_are_durable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    asyncio.run(_appended(path, (0, _batch(1, 2)), (2, _batch(3, 1))))
    assert asyncio.run(_read(path)) == _batch(1, 3)
    assert (path.read_bytes()).count(b"\n") == 2  # one line per append


@pytest.mark.parametrize("keep", [1, 10, 40, -1])
def test_a_torn_tail_is_truncated_and_the_next_append_survives(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "log.jsonl"
    asyncio.run(_appended(path, (0, _batch(1, 2))))
    acknowledged = path.read_bytes()
    torn = encode_line(_batch(3, 2))[:keep]  # keep=-1: all but the newline
    path.write_bytes(acknowledged + torn)

    async def reopen_and_append() -> list[Any]:
        store = _open(path)
        try:
            assert await store.head_seq(RUN_A) == 2
            assert path.read_bytes() == acknowledged, "the torn tail was not cut on open"
            await store.append(RUN_A, 2, _batch(3, 1))
            return await store.read_range(RUN_A, 1)
        finally:
            store.close()

    assert asyncio.run(reopen_and_append()) == _batch(1, 3)
    assert asyncio.run(_read(path)) == _batch(1, 3)


def test_a_complete_last_line_with_a_bad_crc_is_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    asyncio.run(_appended(path, (0, _batch(1, 1))))
    good = path.read_bytes()
    # A torn write at sector granularity: the line's end (with its newline) arrived, a middle
    # sector did not.
    line = bytearray(encode_line(_batch(2, 3)))
    line[20:30] = b"\x00" * 10
    path.write_bytes(good + bytes(line))
    assert asyncio.run(_read(path)) == _batch(1, 1)
    assert path.read_bytes() == good


def test_a_damaged_line_before_intact_ones_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    asyncio.run(_appended(path, (0, _batch(1, 1)), (1, _batch(2, 1)), (2, _batch(3, 1))))
    data = bytearray(path.read_bytes())
    data[data.index(b"\n") + 30] ^= 0x01  # a bit flip in the second (synced) line
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError) as raised:
        asyncio.run(_read(path))
    assert raised.value.kind is StorageErrorKind.CORRUPTION
    assert raised.value.info.code == "event_log_damaged"
    assert path.read_bytes() == bytes(data), "a refused log was changed"


def test_an_intact_line_out_of_order_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(encode_line(_batch(1, 1)) + encode_line(_batch(3, 1)))
    with pytest.raises(StorageError) as raised:
        asyncio.run(_read(path))
    assert raised.value.info.code == "event_log_out_of_order"
    # Another run's line in between is fine.
    path.write_bytes(
        encode_line(_batch(1, 1)) + encode_line(_batch(1, 2, RUN_B)) + encode_line(_batch(2, 1))
    )
    assert asyncio.run(_read(path)) == _batch(1, 2)


def test_the_variant_without_torn_tail_repair_loses_an_acknowledged_append(
    tmp_path: Path,
) -> None:
    """What a crash sweep on the simulated disk must catch: the correct store keeps the
    append acknowledged after a torn tail; the variant glues it to the garbage and loses it."""
    for repair, survives in ((True, True), (False, False)):
        path = tmp_path / f"log-{repair}.jsonl"
        asyncio.run(_appended(path, (0, _batch(1, 1))))
        path.write_bytes(path.read_bytes() + encode_line(_batch(2, 1))[:25])
        # The second incarnation: opens over the torn tail and appends; the append is acked.
        asyncio.run(_appended(path, (1, _batch(2, 1)), repair_torn_tail=repair))
        got = asyncio.run(_read(path, repair_torn_tail=repair))
        assert (got == _batch(1, 2)) is survives, f"repair={repair}: read back {got}"


class _SyncFails(OsFile):
    """A real file whose next `fails` syncs raise, as a disk reporting EIO would."""

    def __init__(self, fd: int, fails: int) -> None:
        super().__init__(fd)
        self.fails = fails

    def sync(self) -> None:
        if self.fails > 0:
            self.fails -= 1
            raise OSError(5, "Input/output error")
        super().sync()


class _FailingFs(OsFileSystem):
    def __init__(self, fails: int) -> None:
        self.fails = fails

    def open(self, path: str) -> OsFile:
        real = super().open(path)
        return _SyncFails(real._fd, self.fails)


def test_a_failed_sync_undoes_the_line_and_the_store_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"

    async def main() -> list[Any]:
        store = JsonlEventStore(str(path), _FailingFs(1), inline=True)
        try:
            with pytest.raises(StorageError) as raised:
                await store.append(RUN_A, 0, _batch(1, 1))
            assert raised.value.info.code == "event_log_write_failed"
            assert path.read_bytes() == b"", "the failed append's line was left in the file"
            assert await store.head_seq(RUN_A) == 0
            await store.append(RUN_A, 0, _batch(1, 2))
            return await store.read_range(RUN_A, 1)
        finally:
            store.close()

    assert asyncio.run(main()) == _batch(1, 2)
    assert asyncio.run(_read(path)) == _batch(1, 2)


def test_a_store_that_cannot_undo_refuses_every_later_call(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"

    async def main() -> None:
        store = JsonlEventStore(str(path), _FailingFs(2), inline=True)
        try:
            with pytest.raises(StorageError) as raised:
                await store.append(RUN_A, 0, _batch(1, 1))
            assert raised.value.info.code == "event_log_unusable"
            with pytest.raises(StorageError) as again:
                await store.head_seq(RUN_A)
            assert again.value.info.code == "event_log_unusable"
        finally:
            store.close()

    asyncio.run(main())


def test_a_closed_log_refuses_every_later_call_and_run_ids_opens(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    asyncio.run(_appended(path, (0, _batch(1, 1))))
    store = _open(path)
    assert store.run_ids() == [RUN_A]  # opens the file to answer
    store.close()
    store.close()
    with pytest.raises(StorageError) as raised:
        asyncio.run(store.head_seq(RUN_A))
    assert raised.value.info.code == "event_log_closed"


def test_a_log_that_cannot_be_opened_is_a_storage_error(tmp_path: Path) -> None:
    store = _open(tmp_path / "no-such-dir" / "log.jsonl")
    with pytest.raises(StorageError) as raised:
        asyncio.run(store.head_seq(RUN_A))
    assert raised.value.info.code == "event_log_io_error"
    store.close()
