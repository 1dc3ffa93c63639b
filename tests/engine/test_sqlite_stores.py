"""The SQLite stores on a real database file: conformance, durability, schema versions, flaws,
and the engine running on them across a crash."""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

apsw = pytest.importorskip("apsw")

from mfm_engine import RunPhase  # noqa: E402
from mfm_engine.conformance import (  # noqa: E402
    ARTIFACT_CHECKS,
    EVENT_CHECKS,
    RUN_A,
    check_event_store,
    make_envelope,
    run_check,
)
from mfm_engine.errors import StorageError, StorageErrorKind  # noqa: E402
from mfm_engine.sqlite_stores import (  # noqa: E402
    SCHEMA_VERSION,
    SQLITE_FLAWS,
    SqliteArtifactStore,
    SqliteDatabase,
    SqliteEventStore,
    sqlite_stores,
)
from mfm_engine.stores import ArtifactKind  # noqa: E402

from tests.engine.helpers import S1, S2, Crash, make_engine, plan, read_stream, start  # noqa: E402

_N = itertools.count()


def _db(tmp_path: Path, **kwargs: Any) -> SqliteDatabase:
    return SqliteDatabase(str(tmp_path / f"{next(_N)}.db"), **kwargs)


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "thread"])
@pytest.mark.parametrize(("name", "check"), ARTIFACT_CHECKS, ids=[n for n, _ in ARTIFACT_CHECKS])
def test_artifact_store_conforms(
    tmp_path: Path, name: str, check: Callable[..., Any], inline: bool
) -> None:
    asyncio.run(run_check(name, check, lambda: SqliteArtifactStore(_db(tmp_path, inline=inline))))


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "thread"])
@pytest.mark.parametrize(("name", "check"), EVENT_CHECKS, ids=[n for n, _ in EVENT_CHECKS])
def test_event_store_conforms(
    tmp_path: Path, name: str, check: Callable[..., Any], inline: bool
) -> None:
    asyncio.run(run_check(name, check, lambda: SqliteEventStore(_db(tmp_path, inline=inline))))


def test_event_store_conforms_in_exclusive_locking_mode(tmp_path: Path) -> None:
    asyncio.run(
        check_event_store(lambda: SqliteEventStore(_db(tmp_path, inline=True, exclusive=True)))
    )


def test_the_database_is_wal_with_full_sync_and_durable_across_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "runs.db")
    envs = [make_envelope(RUN_A, seq) for seq in (1, 2, 3)]

    async def write() -> str:
        stores = sqlite_stores(path)
        try:
            await stores.events.append(RUN_A, 0, envs)
            conn = stores.events.db.connection()
            assert conn.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
            assert conn.execute("PRAGMA synchronous").fetchall() == [(2,)]  # FULL
            return await stores.artifacts.put(ArtifactKind.OUTPUT, b"kept")
        finally:
            stores.events.close()

    aid = asyncio.run(write())
    assert (tmp_path / "runs.db-wal").exists() or (tmp_path / "runs.db").stat().st_size > 0

    async def read() -> tuple[list[Any], bytes, list[uuid.UUID]]:
        stores = sqlite_stores(path)
        try:
            got = await stores.events.read_range(RUN_A, 1)
            return got, await stores.artifacts.get(aid), stores.events.run_ids()
        finally:
            stores.artifacts.close()

    got, data, runs = asyncio.run(read())
    assert got == envs
    assert data == b"kept"
    assert runs == [RUN_A]


def _refused(path: str) -> StorageError:
    async def open_it() -> None:
        store = SqliteEventStore(SqliteDatabase(path, inline=True))
        try:
            await store.head_seq(RUN_A)
        finally:
            store.close()

    with pytest.raises(StorageError) as raised:
        asyncio.run(open_it())
    return raised.value


def test_a_database_of_another_schema_version_is_refused_unchanged(tmp_path: Path) -> None:
    path = str(tmp_path / "runs.db")
    db = SqliteDatabase(path, inline=True)
    db.connection().execute("UPDATE mfm_schema SET version = ?", (SCHEMA_VERSION + 1,))
    db.close()
    err = _refused(path)
    assert err.info.code == "sqlite_schema_version"
    assert f"schema version {SCHEMA_VERSION + 1}" in err.info.message
    assert f"reads version {SCHEMA_VERSION}" in err.info.message
    conn = apsw.Connection(path)
    assert conn.execute("SELECT version FROM mfm_schema").fetchall() == [(SCHEMA_VERSION + 1,)]
    conn.close()


def test_an_older_version_without_a_migration_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "runs.db")
    db = SqliteDatabase(path, inline=True)
    db.connection().execute("UPDATE mfm_schema SET version = 0")
    db.close()
    err = _refused(path)
    assert "cannot be migrated" in err.info.message


def test_a_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "other.db")
    conn = apsw.Connection(path)
    conn.execute("CREATE TABLE things (x)")
    conn.close()
    err = _refused(path)
    assert err.info.code == "sqlite_schema_version"
    assert "not an mfm-sim store" in err.info.message


def test_a_file_that_is_not_a_database_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not an SQLite database, not even close" * 100)
    err = _refused(str(path))
    assert err.kind is StorageErrorKind.CORRUPTION


def test_an_unknown_flaw_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown SQLite store flaw"):
        _db(tmp_path, flaw="nope")


@pytest.mark.parametrize(
    ("flaw", "failing"),
    [
        ("append_two_transactions", {"wrong_run_id_refused", "non_contiguous_seqs_refused"}),
        ("head_outside_transaction", {"concurrent_appends_one_wins"}),
    ],
)
def test_the_conformance_suite_catches_the_atomicity_flaws(
    tmp_path: Path, flaw: str, failing: set[str]
) -> None:
    failed = set()
    for name, check in EVENT_CHECKS:
        try:
            asyncio.run(run_check(name, check, lambda: SqliteEventStore(_db(tmp_path, flaw=flaw))))
        except AssertionError:
            failed.add(name)
    assert failed == failing


def test_synchronous_off_is_what_the_flaw_sets(tmp_path: Path) -> None:
    """Only a crash can show this flaw (a sweep on the simulated disk); here: the setting."""
    db = _db(tmp_path, inline=True, flaw="synchronous_off")
    try:
        assert db.connection().execute("PRAGMA synchronous").fetchall() == [(0,)]
    finally:
        db.close()
    assert set(SQLITE_FLAWS) == {
        "append_two_transactions",
        "synchronous_off",
        "head_outside_transaction",
    }


def test_the_engine_runs_and_resumes_after_a_crash_on_a_real_database(tmp_path: Path) -> None:
    path = str(tmp_path / "runs.db")
    calls: list[str] = []

    async def crash_first(ctx: Any, io: Any, ev: Any) -> None:
        calls.append("s2")
        if len(calls) == 1:
            raise Crash("the process dies in s2")
        ctx.write("b", 2)

    async def write_a(ctx: Any, io: Any, ev: Any) -> None:
        ctx.write("a", 1)

    p = plan((S1, write_a), (S2, crash_first))

    async def first() -> uuid.UUID:
        stores = sqlite_stores(path)
        try:
            with pytest.raises(Crash):
                await start(stores, p)
            return stores.events.run_ids()[0]
        finally:
            stores.events.close()

    run_id = asyncio.run(first())

    async def second() -> tuple[Any, list[Any]]:
        stores = sqlite_stores(path)  # a restarted process: a fresh connection and engine
        try:
            result = await make_engine(p).resume(stores, run_id)
            return result, await read_stream(stores, run_id)
        finally:
            stores.events.close()

    result, stream = asyncio.run(second())
    assert result.phase is RunPhase.COMPLETED
    assert calls == ["s2", "s2"]
    assert [e.seq for e in stream] == list(range(1, len(stream) + 1))


def test_mfm_engine_imports_without_apsw_and_opening_says_what_to_install(
    tmp_path: Path,
) -> None:
    code = (
        "import sys; sys.modules['apsw'] = None\n"
        "import asyncio, uuid, mfm_engine, mfm_engine.sqlite_stores as s\n"
        "from mfm_engine.errors import StorageError\n"
        f"st = s.sqlite_stores({str(tmp_path / 'x.db')!r}, inline=True)\n"
        "try:\n"
        "    asyncio.run(st.events.head_seq(uuid.uuid4()))\n"
        "except StorageError as e:\n"
        "    print(e.info.code, e.info.message)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "sqlite_unavailable" in done.stdout
    assert "mfm-sim[sqlite]" in done.stdout


def test_the_readme_example_runs_on_a_real_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", readme, re.S | re.M)
    example = [b for b in blocks if "sqlite_stores(path)" in b]
    assert len(example) == 1, "the README's SQLite example is missing or repeated"
    monkeypatch.chdir(tmp_path)
    exec(compile(example[0], "README.md", "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out.strip() == "RunPhase.COMPLETED"
    conn = apsw.Connection(str(tmp_path / "runs.db"))
    try:
        rows = conn.execute("SELECT envelope FROM events ORDER BY seq").fetchall()
        assert rows, "the example's run left no events in the database"
        assert '"type":"run_completed"' in rows[-1][0]
    finally:
        conn.close()


def test_a_closed_database_refuses_every_later_call(tmp_path: Path) -> None:
    stores = sqlite_stores(str(tmp_path / "runs.db"), inline=True)
    aid = asyncio.run(stores.artifacts.put(ArtifactKind.OTHER, b"x"))
    assert stores.artifacts.all_artifacts() == {aid: b"x"}  # type: ignore[attr-defined]
    stores.events.close()
    stores.events.close()
    with pytest.raises(StorageError) as raised:
        asyncio.run(stores.events.head_seq(RUN_A))
    assert raised.value.info.code == "sqlite_closed"
