"""`dse.files.write_atomic`: the permissions of a written file, and no process-wide side effect
(threads, e.g. Dask's, write files at the same time)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dse.files import write_atomic


def test_written_file_has_the_mode_of_an_ordinary_new_file(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    path = write_atomic(tmp_path / "a.txt", "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600
    assert path.read_text() == "x"


def test_write_does_not_touch_the_process_umask(tmp_path: Path, monkeypatch) -> None:
    """Setting the umask to 0, even briefly, lets another thread create a world-writable
    file; so a write may read it once, never set it per call."""
    write_atomic(tmp_path / "first.txt", "x")  # may read the umask once

    def umask(_mask: int) -> int:
        raise AssertionError("os.umask called during a write")

    monkeypatch.setattr(os, "umask", umask)
    write_atomic(tmp_path / "b.txt", b"y")
    write_atomic(tmp_path / "c.txt", lambda p: p.write_text("z"))
    assert (tmp_path / "c.txt").read_text() == "z"


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "t.txt", "old")

    def fail(p: Path) -> None:
        p.write_text("partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(Exception, match="no space left on device"):
        write_atomic(target, fail)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]
