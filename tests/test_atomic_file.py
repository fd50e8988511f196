"""Outputs appear whole or not at all, with the permissions an ordinary open() gives."""

import os

import pytest

from vsr.atomic_file import atomic_output


def test_the_file_appears_complete_with_the_umask_mode(tmp_path):
    previous = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "out.txt", "w") as stream:
            stream.write("done")
            assert not (tmp_path / "out.txt").exists()  # nothing under the name until the end
    finally:
        os.umask(previous)
    assert (tmp_path / "out.txt").read_text() == "done"
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o640  # not mkstemp's 0600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    (tmp_path / "out.bin").write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "out.bin") as stream:
        stream.write(b"half")
        raise RuntimeError("interrupted")
    assert (tmp_path / "out.bin").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
