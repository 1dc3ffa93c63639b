"""The small file API a file-backed store is written against, and its OS implementation.

A store that persists to files (the JSON-lines event log, `mfm_engine.file_log`) touches the
disk only through `FileSystem` and `File`, so the same store code runs on the real OS
(`OsFileSystem`) and on any other implementation of these two protocols, e.g. an in-memory
disk that decides at a crash which unsynced writes survive.

The contract every implementation keeps:

- `FileSystem.open(path)` opens a file for reading and appending, creating it empty if it
  does not exist; creating it is made durable before `open` returns (the OS implementation
  syncs the parent directory), so a synced file never vanishes at a crash.
- `File.append(data)` writes `data` at the end of the file. The bytes read back at once, but
  are *not durable* until `sync()` returns: a crash may drop them, keep them, or keep a torn
  prefix of them.
- `File.sync()` makes every write and truncate before it durable (fsync).
- `File.truncate(size)` cuts the file to `size` bytes (never grows it); durable after `sync()`.
- `File.read(offset, size)` returns up to `size` bytes from `offset` (fewer at the end of
  the file, `b""` past it).
- `File.size()` is the current length, written-but-unsynced bytes included.
- `File.close()` releases the handle; closing does not sync.

Every call is blocking and synchronous: a store that must not block an event loop runs them
in a worker thread, and a simulation runs them inline.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

__all__ = ["File", "FileSystem", "OsFile", "OsFileSystem"]


@runtime_checkable
class File(Protocol):
    """One open file: read anywhere, write only at the end, durable only after `sync`."""

    def size(self) -> int: ...

    def read(self, offset: int, size: int) -> bytes: ...

    def append(self, data: bytes) -> None: ...

    def sync(self) -> None: ...

    def truncate(self, size: int) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class FileSystem(Protocol):
    """Where files are opened; paths are plain strings in the implementation's namespace."""

    def open(self, path: str) -> File: ...

    def exists(self, path: str) -> bool: ...


class OsFile:
    """A real file descriptor opened with O_APPEND; `sync` is `os.fsync`."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def read(self, offset: int, size: int) -> bytes:
        chunks: list[bytes] = []
        while size > 0:
            chunk = os.pread(self._fd, size, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            # A short write is legal for os.write; loop until every byte is handed over.
            written = os.write(self._fd, view)
            view = view[written:]

    def sync(self) -> None:
        os.fsync(self._fd)

    def truncate(self, size: int) -> None:
        if size < self.size():
            os.ftruncate(self._fd, size)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _sync_directory(path: str) -> None:
    """fsync a directory so a file just created in it survives a power loss (POSIX only)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return  # platforms (Windows) that cannot open a directory have no directory fsync
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; nothing more can be done
    finally:
        os.close(fd)


class OsFileSystem:
    """The real file system; relative paths resolve against the process's working directory."""

    def open(self, path: str) -> OsFile:
        existed = os.path.exists(path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o644)
        if not existed:
            _sync_directory(os.path.dirname(os.path.abspath(path)))
        return OsFile(fd)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)
