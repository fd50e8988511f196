"""A run killed outright leaves its temporary output; the next run for that output removes
it, however new, and never one that a live run holds or may be about to hold."""

from __future__ import annotations

import os
import time

from media import make_clip

from vsr.cli import main
from vsr.video import temp_lock
from vsr.video.writer import temp_path_for


def test_the_next_run_removes_what_a_killed_run_left_and_only_that(tmp_path, weights, capsys):
    source, out = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(source, 32, 24, frames=2, audio=False)
    dead, live, fresh = (temp_path_for(out, pid) for pid in (4000001, 4000002, 4000003))
    for path in (dead, live, fresh):
        path.write_bytes(b"half an encode")
    an_hour_ago = time.time() - 3600
    for path in (dead, live):
        os.utime(path, (an_hour_ago, an_hour_ago))
    other = tmp_path / ".out.4000004.tmp.mp4"  # another output's name: not this run's
    other.write_bytes(b"x")
    os.utime(other, (an_hour_ago, an_hour_ago))
    held = temp_lock.hold(live)  # a run still writing it, as another process would
    assert held is not None
    try:
        args = ["run", str(source), str(out), "--weights", str(weights)]
        assert main(args) == 0
    finally:
        held.close()
    said = "removed 2 temporary file(s) that a killed run left beside the output (.out.40000"
    assert said in capsys.readouterr().err
    # The killed run's file stayed for good, a new one with each kill; one made a moment
    # ago stayed too (a run restarted at once after a kill left it for good).
    assert not dead.exists() and not fresh.exists()
    assert live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.glob(".out.*")) == sorted(p.name for p in (live, other))


def test_the_note_on_one_removed_file_names_it_alone(tmp_path, weights, capsys):
    # ", ..." stands for the files not named: after the only one it said there were more.
    source, out = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(source, 32, 24, frames=2, audio=False)
    dead = temp_path_for(out, 4000001)
    dead.write_bytes(b"half an encode")
    assert main(["run", str(source), str(out), "--weights", str(weights)]) == 0
    said = f"removed 1 temporary file(s) that a killed run left beside the output ({dead.name})\n"
    assert said in capsys.readouterr().err
    assert not dead.exists()


def test_a_temporary_file_is_held_from_the_moment_it_has_its_name(tmp_path):
    # It was made, then locked: a sweep in between could take a live run's file, so files
    # younger than a minute were left alone, the killed run's among them.
    path = tmp_path / ".out.7.tmp.mkv"
    path.symlink_to(tmp_path / "victim")  # planted under the predictable name
    held = temp_lock.create_held(path)
    assert held is not None
    try:
        assert path.is_file() and not path.is_symlink() and not (tmp_path / "victim").exists()
        assert temp_lock.hold(path) is None  # held already, under its own name
        assert temp_lock.remove_dead_temps(tmp_path / "out.mkv", r"\.out\.(\d+)\.tmp\.mkv") == []
    finally:
        held.close()
    assert temp_lock.remove_dead_temps(tmp_path / "out.mkv", r"\.out\.(\d+)\.tmp\.mkv") == [path]
    assert list(tmp_path.iterdir()) == []  # no side file left either


def test_a_temporary_file_is_held_while_it_is_written(tmp_path):
    path = tmp_path / ".out.1.tmp.mkv"
    path.write_bytes(b"")
    first = temp_lock.hold(path)
    assert first is not None
    assert temp_lock.hold(path) is None  # a second holder, as a sweeping run, is refused
    first.close()
    second = temp_lock.hold(path)
    assert second is not None
    second.close()


def test_a_held_work_folder_is_left_and_a_dead_one_removed(tmp_path):
    target = tmp_path / "out.mkv"
    pattern = r"\.out\.mkv\.segments\.(\d+)"
    # A killed run with this process's id: a container's driver has the same one each
    # run, and the next run crashed on its folder (FileExistsError) instead of removing it.
    ours = tmp_path / f".out.mkv.segments.{os.getpid()}"
    live, dead, unlocked = (tmp_path / f".out.mkv.segments.{pid}" for pid in (1, 2, 3))
    for folder in (live, dead, unlocked, ours):
        folder.mkdir()
        (folder / "segment-00000.mkv").write_bytes(b"part")
    held = temp_lock.hold_folder(live)
    for killed in (dead, ours):
        # Its run was killed a moment ago: the lock went with it, and a rerun at once left
        # the folder (its lock file was made, then held, so a new one was taken for live).
        temp_lock.hold_folder(killed).close()
    try:
        removed = temp_lock.remove_dead_temps(target, pattern)
    finally:
        held.close()
    assert sorted(removed) == sorted([dead, ours])
    assert live.exists() and unlocked.exists()  # held; no lock file (an older vsr's): left
