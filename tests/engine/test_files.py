"""The file API's OS implementation: appends read back at once, truncate cuts, open creates."""

from __future__ import annotations

from pathlib import Path

from mfm_engine.files import File, FileSystem, OsFile, OsFileSystem


def test_open_creates_an_empty_file_and_exists_sees_it(tmp_path: Path) -> None:
    fs = OsFileSystem()
    path = str(tmp_path / "log")
    assert not fs.exists(path)
    file = fs.open(path)
    try:
        assert file.size() == 0
        assert file.read(0, 10) == b""
    finally:
        file.close()
    assert fs.exists(path)
    assert (tmp_path / "log").read_bytes() == b""


def test_appends_go_to_the_end_and_read_back(tmp_path: Path) -> None:
    fs = OsFileSystem()
    file = fs.open(str(tmp_path / "log"))
    try:
        file.append(b"hello ")
        file.append(b"world\n")
        file.sync()
        assert file.size() == 12
        assert file.read(0, 100) == b"hello world\n"
        assert file.read(6, 5) == b"world"
        assert file.read(12, 5) == b""
        assert file.read(50, 5) == b""
    finally:
        file.close()
    assert (tmp_path / "log").read_bytes() == b"hello world\n"


def test_reopen_appends_after_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "log").write_bytes(b"old\n")
    file = OsFileSystem().open(str(tmp_path / "log"))
    try:
        assert file.read(0, file.size()) == b"old\n"
        file.append(b"new\n")
    finally:
        file.close()
    assert (tmp_path / "log").read_bytes() == b"old\nnew\n"


def test_truncate_cuts_and_never_grows(tmp_path: Path) -> None:
    file = OsFileSystem().open(str(tmp_path / "log"))
    try:
        file.append(b"0123456789")
        file.truncate(4)
        file.sync()
        assert file.size() == 4
        file.truncate(100)
        assert file.size() == 4
        file.append(b"X")  # O_APPEND: after the cut, not at the old end
        assert file.read(0, 10) == b"0123X"
    finally:
        file.close()


def test_close_twice_is_harmless(tmp_path: Path) -> None:
    file = OsFileSystem().open(str(tmp_path / "log"))
    file.close()
    file.close()


def test_the_os_implementation_satisfies_the_protocols(tmp_path: Path) -> None:
    fs = OsFileSystem()
    assert isinstance(fs, FileSystem)
    file = fs.open(str(tmp_path / "log"))
    try:
        assert isinstance(file, File)
        assert isinstance(file, OsFile)
    finally:
        file.close()
