"""A minimal real SQLite store pair (apsw, WAL, synchronous=FULL) for testing the runner's disk
seam end to end, with the broken variant the durability invariant must catch (`synchronous=OFF`).

The product's SQLite stores come with issue 19's stores work (`mfm_engine`); until they are
merged, this one shows that the seam builds stores per incarnation over the simulated disk,
resets the disk at a crash and reads back what survived. It is a store, not a stand-in: real
SQLite, real transactions, the head checked inside the append's transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import apsw
from mfm_engine.errors import StorageErrorKind, storage
from mfm_engine.events import EventEnvelope
from mfm_engine.hashing import artifact_id_for_bytes
from mfm_engine.stores import ArtifactKind, Stores, artifact_not_found, check_append

from mfm_sim.run.backends import DiskEnv
from mfm_sim.world.disk_vfs import EXCLUSIVE_PRAGMAS

__all__ = ["MinimalSqlite", "minimal_sqlite_stores"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS artifacts(id TEXT PRIMARY KEY, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events(run TEXT, seq INTEGER, body TEXT, PRIMARY KEY(run, seq))",
)


def _failed(exc: apsw.Error) -> BaseException:
    kind = (
        StorageErrorKind.CORRUPTION
        if isinstance(exc, apsw.CorruptError)
        else StorageErrorKind.OTHER
    )
    return storage(kind, "sqlite_error", str(exc))


class MinimalSqlite:
    """Both stores on one connection; `synchronous` "OFF" is the broken variant."""

    def __init__(self, vfs_name: str, synchronous: str = "FULL") -> None:
        self.conn = apsw.Connection("/mfm.db", vfs=vfs_name)
        try:
            for pragma in EXCLUSIVE_PRAGMAS:
                self.conn.execute(pragma)
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            with self.conn:
                for statement in _SCHEMA:
                    self.conn.execute(statement)
        except apsw.Error as exc:
            self.conn.close(True)  # not left to the garbage collector
            raise _failed(exc) from exc

    # -- ArtifactStore --
    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        artifact_id = artifact_id_for_bytes(data)
        try:
            with self.conn:
                self.conn.execute(
                    "INSERT OR IGNORE INTO artifacts VALUES (?, ?)", (artifact_id, bytes(data))
                )
        except apsw.Error as exc:
            raise _failed(exc) from exc
        return artifact_id

    async def get(self, artifact_id: str) -> bytes:
        try:
            row = self.conn.execute(
                "SELECT data FROM artifacts WHERE id = ?", (artifact_id,)
            ).fetchone()
        except apsw.Error as exc:
            raise _failed(exc) from exc
        if row is None:
            raise artifact_not_found(artifact_id)
        if not isinstance(row[0], bytes):  # a page the disk garbled
            raise storage(StorageErrorKind.CORRUPTION, "sqlite_corrupt", "artifact row garbled")
        return row[0]

    async def exists(self, artifact_id: str) -> bool:
        try:
            row = self.conn.execute("SELECT 1 FROM artifacts WHERE id = ?", (artifact_id,))
            return row.fetchone() is not None
        except apsw.Error as exc:
            raise _failed(exc) from exc

    # -- EventStore --
    def _head(self, run_id: uuid.UUID) -> int:
        row = self.conn.execute("SELECT max(seq) FROM events WHERE run = ?", (str(run_id),))
        value = row.fetchone()[0]
        return int(value) if value is not None else 0

    async def head_seq(self, run_id: uuid.UUID) -> int:
        try:
            return self._head(run_id)
        except apsw.Error as exc:
            raise _failed(exc) from exc

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        try:
            with self.conn:  # one transaction: the head is checked inside it
                check_append(run_id, self._head(run_id), expected_seq, envelopes)
                for env in envelopes:
                    self.conn.execute(
                        "INSERT INTO events VALUES (?, ?, ?)",
                        (str(run_id), env.seq, json.dumps(env.to_json(), sort_keys=True)),
                    )
        except apsw.Error as exc:
            raise _failed(exc) from exc
        return expected_seq + len(envelopes)

    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        last = to_seq if to_seq is not None else 2**62
        try:
            rows = self.conn.execute(
                "SELECT body FROM events WHERE run = ? AND seq >= ? AND seq <= ? ORDER BY seq",
                (str(run_id), from_seq, last),
            ).fetchall()
        except apsw.Error as exc:
            raise _failed(exc) from exc
        try:
            return [EventEnvelope.from_json(json.loads(body)) for (body,) in rows]
        except (ValueError, KeyError, TypeError) as exc:  # a row the disk garbled
            raise storage(StorageErrorKind.CORRUPTION, "sqlite_corrupt", str(exc)) from exc

    def close(self) -> None:
        self.conn.close()


def minimal_sqlite_stores(synchronous: str = "FULL"):  # type: ignore[no-untyped-def]
    """A `DiskStoreFactory`: one connection per incarnation, both stores on it."""

    def factory(env: DiskEnv) -> Stores:
        both = MinimalSqlite(env.vfs_name, synchronous)
        return Stores(both, both)  # type: ignore[arg-type]

    return factory
