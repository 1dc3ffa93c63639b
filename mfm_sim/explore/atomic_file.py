"""Writing a file so that a reader never sees it half written.

`write_atomic` writes to a unique temporary name in the target's directory and renames it
over the target: a full disk, a signal or a concurrent writer leaves either the old file or
the new one, never a truncated one, and two writers of one directory never share a
temporary name. A target that is not a regular file (`/dev/stdout`, `/dev/full`, a pipe) is
written in place: renaming over it would replace the device, and it holds no old content.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write `data` to `path` through a unique temporary name (see the module docstring).
    Raises OSError as `open` and `write` do; the temporary file is then removed."""
    target = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        with target.open("wb") as fh:
            fh.write(raw)
        return
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        if mode is not None:
            os.chmod(tmp, stat.S_IMODE(mode))  # an overwritten file keeps its permissions
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    # The only way to read the umask is to set it; set it straight back.
    current = os.umask(0o022)
    os.umask(current)
    return current
