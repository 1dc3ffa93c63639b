"""Files written whole or not at all, through unique temporary names."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mfm_sim.explore.atomic_file import write_atomic


def test_writes_text_and_bytes_and_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_atomic(target, "one")
    assert target.read_text() == "one"
    os.chmod(target, 0o640)
    write_atomic(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_device_is_written_in_place_not_replaced() -> None:
    write_atomic("/dev/null", "gone")
    assert Path("/dev/null").is_char_device()


def test_a_missing_directory_raises_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "no" / "out.json", "x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="no RLIMIT_FSIZE")
def test_a_write_that_fails_midway_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "out.json").write_text("old")
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "from mfm_sim.explore.atomic_file import write_atomic\n"
        "try:\n"
        "    write_atomic(sys.argv[1], 'x' * 5000)\n"
        "except OSError as exc:\n"
        "    print(exc.strerror)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out.json")], capture_output=True, text=True
    )
    assert done.stdout.strip() == "File too large", done.stderr
    assert (tmp_path / "out.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
