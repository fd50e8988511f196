"""A link planted under a name vsr is about to write (its temp file, a resume folder's lock)
in a shared output folder must not make vsr write into the file the link points to."""

import os

import pytest
from media import make_clip

import vsr
from vsr.errors import VsrError
from vsr.video.writer import temp_path_for


def test_a_link_planted_as_the_temp_file_is_not_written_through(tmp_path, weights):
    make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    victim = tmp_path / "victim.txt"
    victim.write_text("important=1\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "out.mp4"
    temp_path_for(target).symlink_to(victim)  # the pid is this process's: predictable
    report = vsr.upscale_video(tmp_path / "in.mp4", target, weights=weights)
    assert victim.read_text() == "important=1\n"
    assert not target.is_symlink() and target.is_file()
    assert report.frames == 2
    assert not os.path.lexists(temp_path_for(target))


def test_a_lock_planted_as_a_link_is_refused_and_its_target_kept(tmp_path, weights):
    make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    victim = tmp_path / "victim.txt"
    victim.write_text("important=1\n")
    folder = tmp_path / "out" / ".out.mkv.vsr-resume"
    folder.mkdir(parents=True)
    (folder / "lock").symlink_to(victim)
    with pytest.raises(VsrError, match="lock"):
        vsr.upscale_video(
            tmp_path / "in.mp4", tmp_path / "out" / "out.mkv", weights=weights, resume=True
        )
    assert victim.read_text() == "important=1\n"


def test_a_lock_that_cannot_be_made_is_said_as_such_not_as_a_planted_link(
    tmp_path, weights, monkeypatch
):
    import errno

    import vsr.resume_folder as resume_folder

    make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    real_open = os.open

    def read_only_disk(path, flags, mode=0o777):
        if os.fspath(path).endswith("lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_open(path, flags, mode)

    (tmp_path / "out").mkdir()
    monkeypatch.setattr(resume_folder.os, "open", read_only_disk)
    with pytest.raises(VsrError, match=r"cannot keep chunks there \(Read-only file system\)"):
        vsr.upscale_video(
            tmp_path / "in.mp4", tmp_path / "out" / "out.mkv", weights=weights, resume=True
        )


def test_a_link_to_nothing_at_the_output_is_a_name_taken(tmp_path, weights):
    # It was replaced by the video without --overwrite, as if the name were free.
    make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    (tmp_path / "out.mp4").symlink_to(tmp_path / "elsewhere" / "x.mp4")
    with pytest.raises(VsrError, match="out.mp4 already exists"):
        vsr.upscale_video(tmp_path / "in.mp4", tmp_path / "out.mp4", weights=weights)
    assert (tmp_path / "out.mp4").is_symlink()
