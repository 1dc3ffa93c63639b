"""The engine's real durable stores, built on the simulated disk for a disk backend: SQLite
(`mfm_engine.sqlite_stores`, through an apsw VFS over the disk) and the JSON-lines file log
(`mfm_engine.file_log`, on the disk as a `FileSystem`), each also in its flawed variants.

Every factory builds one incarnation's stores, inline (no worker thread: the simulated loop
runs store calls to their end). The engine modules, and apsw, load on the first build only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mfm_engine.stores import InMemoryArtifactStore, Stores

from mfm_sim.run.store_names import STORE_FLAWS

if TYPE_CHECKING:
    from mfm_sim.run.backends import DiskEnv

__all__ = ["DB_PATH", "LOG_PATH", "REAL_STORES", "jsonl_stores", "sqlite_on_disk"]

DB_PATH = "/mfm/runs.db"
LOG_PATH = "/mfm/events.jsonl"


def sqlite_on_disk(env: DiskEnv, flaw: str | None = None) -> Stores:
    """Both SQLite stores on one connection to one database on the disk's VFS; exclusive
    locking, as apsw gives a Python VFS no shared-memory methods for WAL's index."""
    from mfm_engine.sqlite_stores import sqlite_stores

    return sqlite_stores(DB_PATH, vfs=env.vfs_name, inline=True, exclusive=True, flaw=flaw)


def jsonl_stores(env: DiskEnv, flaw: str | None = None) -> Stores:
    """The file log on the disk; its artifacts in a memory store that lives as long as the
    backend (the file log holds events only), so every incarnation finds what earlier ones
    put."""
    from mfm_engine.file_log import JsonlEventStore

    artifacts = env.kept.setdefault("artifacts", InMemoryArtifactStore())
    repair = flaw != "no_torn_tail_repair"
    events = JsonlEventStore(LOG_PATH, env.disk, inline=True, repair_torn_tail=repair)
    return Stores(artifacts, events)


def _bind(
    build: Callable[[DiskEnv, str | None], Stores], flaw: str | None
) -> Callable[[DiskEnv], Stores]:
    return lambda env: build(env, flaw)


_BUILDERS: dict[str, Callable[[DiskEnv, str | None], Stores]] = {
    "sqlite": sqlite_on_disk,
    "jsonl": jsonl_stores,
}

# Every disk store `store=` can name: each store, and each with one of its flaws.
REAL_STORES: dict[str, Callable[[DiskEnv], Stores]] = {
    f"{name}:{flaw}" if flaw else name: _bind(build, flaw)
    for name, build in _BUILDERS.items()
    for flaw in (None, *STORE_FLAWS[name])
}
