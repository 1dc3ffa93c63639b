"""Durable `ArtifactStore` and `EventStore` in one SQLite database file, through `apsw`.

The embedded default for real runs (install the extra: `pip install 'mfm-sim[sqlite]'`)::

    stores = sqlite_stores("runs.db")
    engine = DefaultExecutionEngine(stores, ...)
    ...
    stores.events.close()

The database runs in WAL mode with `synchronous=FULL`, so a commit is durable when it returns.
An append reads the run's head and writes its envelopes inside one `BEGIN IMMEDIATE`
transaction: the head check and the write are atomic against every other connection, in this
process or another. Envelopes are stored as the engine's canonical JSON, one row per event,
keyed by `(run_id, seq)`; artifacts are rows keyed by their content id.

**Schema version.** The `mfm_schema` table holds the version this module wrote
(`SCHEMA_VERSION`). Opening a database of another version, or an SQLite file that is not
one of these stores, fails with a clear `StorageError` naming both versions; nothing in the
file is changed. A future version adds its migration to `MIGRATIONS`.

**Threads.** Every SQLite call blocks, so by default a store runs them on one worker thread
(`mfm_engine.blocking`), the same thread for both stores of one database. `inline=True` runs
them on the event loop instead (a simulation on a virtual clock, with no threads).

**VFS.** `vfs=` names the SQLite VFS the connection opens the file through (`None`: the OS
default). A VFS written in Python cannot share WAL memory between connections, so
`exclusive=True` sets `locking_mode=EXCLUSIVE`, under which SQLite keeps the WAL index in the
connection's own memory (one connection per database).

`apsw` is imported when a database is opened, so `mfm_engine` imports without the extra.

`flaw=` selects one of the deliberately broken variants in `SQLITE_FLAWS`, the mistakes real
store code makes; the harness's self-check shows its sweep catches each. Never use one.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from mfm_engine.blocking import BlockingCalls
from mfm_engine.errors import RunError, StorageError, StorageErrorKind, corruption, storage
from mfm_engine.events import EventEnvelope, envelope_from_json_line, envelope_to_json_line
from mfm_engine.hashing import artifact_id_for_bytes
from mfm_engine.stores import ArtifactKind, Stores, artifact_not_found, check_append

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SQLITE_FLAWS",
    "SqliteArtifactStore",
    "SqliteDatabase",
    "SqliteEventStore",
    "sqlite_stores",
]

T = TypeVar("T")

SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE mfm_schema (version INTEGER NOT NULL)",
    "CREATE TABLE artifacts (id TEXT PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL)"
    " WITHOUT ROWID",
    "CREATE TABLE events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, envelope TEXT NOT NULL,"
    " PRIMARY KEY (run_id, seq)) WITHOUT ROWID",
)

# from version -> the statements that bring a database to version + 1; empty while there is
# only version 1.
MIGRATIONS: dict[int, tuple[str, ...]] = {}

SQLITE_FLAWS: dict[str, str] = {
    "append_two_transactions": "an append commits its first envelope and the rest in two"
    " transactions, so a crash between them leaves half a batch",
    "synchronous_off": "synchronous=OFF: a commit returns before the WAL reaches the disk",
    "head_outside_transaction": "an append reads the head in one call and writes in a later"
    " transaction without checking it again",
}

_HEAD_SQL = "SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = ?"
_INSERT_SQL = "INSERT INTO events (run_id, seq, envelope) VALUES (?, ?, ?)"


def _import_apsw() -> Any:
    try:
        import apsw
    except ImportError:
        raise storage(
            StorageErrorKind.OTHER,
            "sqlite_unavailable",
            "the SQLite stores need apsw: pip install 'mfm-sim[sqlite]'",
        ) from None
    return apsw


def _schema_error(path: str, message: str) -> StorageError:
    return storage(StorageErrorKind.OTHER, "sqlite_schema_version", f"database {path}: {message}")


class SqliteDatabase:
    """One SQLite connection and the worker it runs on; the two stores share it."""

    def __init__(
        self,
        path: str,
        *,
        vfs: str | None = None,
        inline: bool = False,
        exclusive: bool = False,
        busy_timeout_ms: int = 5000,
        flaw: str | None = None,
    ) -> None:
        if flaw is not None and flaw not in SQLITE_FLAWS:
            raise ValueError(f"unknown SQLite store flaw {flaw!r}; known: {sorted(SQLITE_FLAWS)}")
        self.path = path
        self.vfs = vfs
        self.flaw = flaw
        self._exclusive = exclusive
        self._busy_timeout_ms = busy_timeout_ms
        self._calls = BlockingCalls(inline=inline, name="mfm-sqlite")
        self._apsw: Any = None
        self._conn: Any = None
        self._failed: StorageError | None = None

    # ------------------------------------------------------------------ blocking side

    def connection(self) -> Any:
        """The open connection (opened, configured and schema-checked on first use)."""
        if self._failed is not None:
            raise self._failed
        if self._conn is None:
            apsw = self._apsw = _import_apsw()
            flags = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
            try:
                conn = apsw.Connection(self.path, flags=flags, vfs=self.vfs)
            except apsw.Error as exc:
                raise self._as_storage_error(exc) from exc
            try:
                self._configure(conn)
                self._check_schema(conn)
            except BaseException as exc:
                # The error that stopped the open is the one to report; a close that fails
                # as well (the disk is gone) must not replace it.
                with contextlib.suppress(apsw.Error):
                    conn.close()
                if isinstance(exc, apsw.Error):
                    raise self._as_storage_error(exc) from exc
                if isinstance(exc, StorageError):
                    # A database of another schema stays refused; no retry can change that.
                    self._failed = exc
                raise
            self._conn = conn
        return self._conn

    def _configure(self, conn: Any) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        if self._exclusive:
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchall()
        if mode != [("wal",)]:
            raise storage(
                StorageErrorKind.OTHER,
                "sqlite_no_wal",
                f"database {self.path}: SQLite refused WAL mode (journal_mode is {mode})",
            )
        sync = "OFF" if self.flaw == "synchronous_off" else "FULL"
        conn.execute(f"PRAGMA synchronous = {sync}")

    def _check_schema(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = {
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "mfm_schema" not in tables:
                if tables:
                    raise _schema_error(
                        self.path,
                        f"not an mfm-sim store (tables {sorted(tables)}, no mfm_schema table)",
                    )
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute("INSERT INTO mfm_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            else:
                self._migrate(conn)
            conn.execute("COMMIT")
        except BaseException:
            self._rollback(conn)
            raise

    def _migrate(self, conn: Any) -> None:
        rows = conn.execute("SELECT version FROM mfm_schema").fetchall()
        if len(rows) != 1 or not isinstance(rows[0][0], int):
            raise _schema_error(self.path, f"the mfm_schema table holds {rows}, not one version")
        version = rows[0][0]
        if version > SCHEMA_VERSION:
            raise _schema_error(
                self.path,
                f"schema version {version} was written by a newer mfm-sim; this one reads"
                f" version {SCHEMA_VERSION}: upgrade mfm-sim",
            )
        while version < SCHEMA_VERSION:
            steps = MIGRATIONS.get(version)
            if steps is None:
                raise _schema_error(
                    self.path,
                    f"schema version {version} cannot be migrated to version {SCHEMA_VERSION}",
                )
            for statement in steps:
                conn.execute(statement)
            version += 1
            conn.execute("UPDATE mfm_schema SET version = ?", (version,))

    def _rollback(self, conn: Any) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def transaction(self, body: Callable[[Any], T]) -> T:
        """Run `body(conn)` inside one `BEGIN IMMEDIATE` transaction, committing if it returns."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(conn)
                conn.execute("COMMIT")
            except Exception:
                self._rollback(conn)
                raise
        except self._apsw.Error as exc:
            raise self._as_storage_error(exc) from exc
        return result

    def query(self, sql: str, bindings: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        conn = self.connection()
        try:
            return conn.execute(sql, bindings).fetchall()
        except self._apsw.Error as exc:
            raise self._as_storage_error(exc) from exc

    def query_now(self, sql: str, bindings: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """`query` from synchronous code, on the worker if there is one."""
        return self._calls.run_now(self.query, sql, bindings)

    def _as_storage_error(self, exc: Exception) -> StorageError:
        apsw = self._apsw
        message = f"database {self.path}: {type(exc).__name__}: {exc}"
        if isinstance(exc, apsw.CorruptError | apsw.NotADBError):
            return corruption("sqlite_corrupt", message)
        if isinstance(exc, apsw.BusyError | apsw.LockedError):
            return storage(StorageErrorKind.OTHER, "sqlite_busy", message, retryable=True)
        return storage(StorageErrorKind.OTHER, "sqlite_error", message)

    def _close(self) -> None:
        # Dropped first: a close that fails (on a dead disk) must not leave a connection that
        # closes again whenever it is garbage collected.
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # ------------------------------------------------------------------------ async side

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await self._calls.run(fn, *args)

    def close(self) -> None:
        """Close the connection (idempotent); every later call raises `sqlite_closed`."""
        if self._failed is None:
            self._failed = storage(
                StorageErrorKind.OTHER, "sqlite_closed", f"database {self.path} is closed"
            )
        self._calls.run_now(self._close)
        self._calls.shutdown()


class SqliteArtifactStore:
    """Content-addressed bytes in the `artifacts` table; the id is the SHA-256 of the bytes."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def _put(self, artifact_id: str, kind: ArtifactKind, data: bytes) -> None:
        self.db.transaction(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO artifacts (id, kind, data) VALUES (?, ?, ?)",
                (artifact_id, kind.value, data),
            )
        )

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        data = bytes(data)
        artifact_id = artifact_id_for_bytes(data)
        await self.db.run(self._put, artifact_id, kind, data)
        return artifact_id

    async def get(self, artifact_id: str) -> bytes:
        rows = await self.db.run(
            self.db.query, "SELECT data FROM artifacts WHERE id = ?", (artifact_id,)
        )
        if not rows:
            raise artifact_not_found(artifact_id)
        return bytes(rows[0][0])

    async def exists(self, artifact_id: str) -> bool:
        rows = await self.db.run(
            self.db.query, "SELECT 1 FROM artifacts WHERE id = ?", (artifact_id,)
        )
        return bool(rows)

    def all_artifacts(self) -> dict[str, bytes]:
        """Every stored artifact by id (blocking; for tools that inspect a database)."""
        rows = self.db.query_now("SELECT id, data FROM artifacts ORDER BY id", ())
        return {artifact_id: bytes(data) for artifact_id, data in rows}

    def close(self) -> None:
        self.db.close()


def _rows(run_id: uuid.UUID, envelopes: Sequence[EventEnvelope]) -> list[tuple[str, int, str]]:
    key = str(run_id)
    return [(key, env.seq, envelope_to_json_line(env)) for env in envelopes]


def _head(conn: Any, run_id: uuid.UUID) -> int:
    return int(conn.execute(_HEAD_SQL, (str(run_id),)).fetchall()[0][0])


class SqliteEventStore:
    """Every run's envelopes in the `events` table, one row per event."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def _append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: tuple[EventEnvelope, ...]
    ) -> int:
        def write(conn: Any, batch: Sequence[EventEnvelope], expected: int) -> int:
            head = _head(conn, run_id)
            check_append(run_id, head, expected, batch)
            conn.executemany(_INSERT_SQL, _rows(run_id, batch))
            return head + len(batch)

        if self.db.flaw == "append_two_transactions" and len(envelopes) > 1:
            self.db.transaction(lambda conn: write(conn, envelopes[:1], expected_seq))
            return self.db.transaction(lambda conn: write(conn, envelopes[1:], expected_seq + 1))
        return self.db.transaction(lambda conn: write(conn, envelopes, expected_seq))

    def _append_unchecked(
        self, run_id: uuid.UUID, head: int, expected_seq: int, envelopes: tuple[EventEnvelope, ...]
    ) -> int:
        # The flaw: `head` was read in an earlier call; another append may have landed since.
        check_append(run_id, head, expected_seq, envelopes)

        def write(conn: Any) -> int:
            conn.executemany(_INSERT_SQL, _rows(run_id, envelopes))
            return head + len(envelopes)

        return self.db.transaction(write)

    def _head_seq(self, run_id: uuid.UUID) -> int:
        return self.db.transaction(lambda conn: _head(conn, run_id))

    def _read(self, run_id: uuid.UUID, from_seq: int, to_seq: int | None) -> list[EventEnvelope]:
        lo = max(from_seq, 1)
        if to_seq is None:
            sql = "SELECT seq, envelope FROM events WHERE run_id = ? AND seq >= ? ORDER BY seq"
            rows = self.db.query(sql, (str(run_id), lo))
        else:
            sql = (
                "SELECT seq, envelope FROM events WHERE run_id = ? AND seq BETWEEN ? AND ?"
                " ORDER BY seq"
            )
            rows = self.db.query(sql, (str(run_id), lo, to_seq))
        return [self._decode(run_id, seq, text) for seq, text in rows]

    def _decode(self, run_id: uuid.UUID, seq: int, text: Any) -> EventEnvelope:
        try:
            env = envelope_from_json_line(text)
        except (RunError, TypeError) as exc:
            raise corruption(
                "sqlite_event_unreadable",
                f"database {self.db.path}: run {run_id} seq {seq} does not decode: {exc}",
            ) from None
        if env.run_id != run_id or env.seq != seq:
            raise corruption(
                "sqlite_event_misplaced",
                f"database {self.db.path}: the row for run {run_id} seq {seq} holds run"
                f" {env.run_id} seq {env.seq}",
            )
        return env

    async def head_seq(self, run_id: uuid.UUID) -> int:
        return await self.db.run(self._head_seq, run_id)

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        batch = tuple(envelopes)
        if self.db.flaw == "head_outside_transaction":
            head = await self.db.run(self._head_seq, run_id)
            await asyncio.sleep(0)  # any await between the read and the write opens the race
            return await self.db.run(self._append_unchecked, run_id, head, expected_seq, batch)
        return await self.db.run(self._append, run_id, expected_seq, batch)

    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        if to_seq is not None and to_seq < max(from_seq, 1):
            return []
        return await self.db.run(self._read, run_id, from_seq, to_seq)

    def run_ids(self) -> list[uuid.UUID]:
        rows = self.db.query_now("SELECT DISTINCT run_id FROM events ORDER BY run_id", ())
        return [uuid.UUID(row[0]) for row in rows]

    def close(self) -> None:
        self.db.close()


def sqlite_stores(
    path: str,
    *,
    vfs: str | None = None,
    inline: bool = False,
    exclusive: bool = False,
    flaw: str | None = None,
) -> Stores:
    """Both stores over one database file at `path` (created with the schema if missing)."""
    db = SqliteDatabase(path, vfs=vfs, inline=inline, exclusive=exclusive, flaw=flaw)
    return Stores(SqliteArtifactStore(db), SqliteEventStore(db))
