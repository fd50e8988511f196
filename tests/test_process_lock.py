"""The lock file a watch, or the kept work of an output, is held by (vsr.process_lock)."""

from __future__ import annotations

import os

import pytest

from vsr import process_lock
from vsr.errors import VsrError
from vsr.process_lock import HeldByAnother, hold_lock_file, live_holder


def test_a_lock_file_gets_the_modes_the_umask_gives(tmp_path):
    # Made 0o644 whatever the umask: in a group's shared output folder (umask 002, as the
    # record beside it), every later member's watch was refused "Permission denied".
    old = os.umask(0o002)
    try:
        handle, _ = hold_lock_file(tmp_path / "a.lock")
    finally:
        os.umask(old)
    handle.close()
    assert (tmp_path / "a.lock").stat().st_mode & 0o777 == 0o664


def test_another_user_s_lock_file_is_held_without_writing_it(tmp_path, monkeypatch):
    # Made by another user under umask 022, it cannot be opened to write: flock needs no
    # write access, so the lock is held all the same (the process id goes unwritten).
    lock = tmp_path / "a.lock"
    lock.write_text("123")
    real_open = os.open

    def open_as_another_user(path, flags, *mode):
        if flags & os.O_RDWR:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *mode)

    monkeypatch.setattr(process_lock.os, "open", open_as_another_user)
    handle, last = hold_lock_file(lock)
    assert last == "123" and lock.read_text() == "123"
    monkeypatch.undo()
    with pytest.raises(HeldByAnother):  # held, as a second holder finds
        hold_lock_file(lock)
    handle.close()
    second, _ = hold_lock_file(lock)
    second.close()


def test_a_link_in_place_of_the_lock_file_is_refused_and_its_target_left_alone(tmp_path):
    # Followed, the link's target (any file the user may write) would be emptied and get
    # the process id in place of its contents.
    target = tmp_path / "notes.txt"
    target.write_text("kept\n")
    (tmp_path / "a.lock").symlink_to(target)
    with pytest.raises(VsrError, match=r"a\.lock: not a lock file of vsr's"):
        hold_lock_file(tmp_path / "a.lock")
    assert target.read_text() == "kept\n"


def test_the_lock_file_holds_the_id_of_its_holder_alone(tmp_path):
    # An ended holder's id is replaced, not added to: a refusal names the live holder.
    lock = tmp_path / "a.lock"
    lock.write_text("4000000")
    handle, last = hold_lock_file(lock)
    try:
        assert last == "4000000"
        assert lock.read_text() == str(os.getpid())
        with pytest.raises(HeldByAnother) as refused:
            hold_lock_file(lock)
        assert refused.value.holder == str(os.getpid())
    finally:
        handle.close()


def test_the_live_holder_is_named_without_taking_or_rewriting_the_lock(tmp_path):
    lock = tmp_path / "lock"
    assert live_holder(lock) is None  # missing
    handle, _ = hold_lock_file(lock)
    assert live_holder(lock) == str(os.getpid())
    handle.close()
    assert live_holder(lock) is None  # let go: the id stays for the next holder
    assert lock.read_text() == str(os.getpid())
