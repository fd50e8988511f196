"""Sources are read as plain files: not as FFmpeg protocols (a name with a colon), and not
as playlists or concat lists that make FFmpeg open other files of the machine."""

from pathlib import Path

import pytest
from media import make_clip

from vsr.errors import VsrError
from vsr.video.reader import VideoReader


def _frames(path: Path) -> int:
    with VideoReader(path) as reader:
        return sum(1 for _ in reader.frames())


def test_a_concat_list_named_like_a_clip_does_not_read_its_neighbours(tmp_path):
    make_clip(tmp_path / "someone_elses.mp4", frames=3, audio=False)
    upload = tmp_path / "upload.mp4"
    upload.write_text("ffconcat version 1.0\nfile someone_elses.mp4\n")
    with pytest.raises(VsrError, match="upload.mp4"):
        _frames(upload)


def test_a_playlist_does_not_read_files_elsewhere(tmp_path):
    elsewhere = tmp_path / "private"
    elsewhere.mkdir()
    make_clip(elsewhere / "secret.mp4", frames=3, audio=False)
    upload = tmp_path / "uploads" / "upload.m3u8"
    upload.parent.mkdir()
    upload.write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{elsewhere / 'secret.mp4'}\n"
        "#EXT-X-ENDLIST\n"
    )
    with pytest.raises(VsrError, match="upload.m3u8"):
        _frames(upload)


@pytest.mark.parametrize("name", ["12:30 meeting.mp4", "concat:clip.mp4"])
def test_a_name_with_a_colon_is_a_file_not_a_protocol(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "clip.mp4", frames=2, audio=False)
    make_clip(tmp_path / name, frames=4, audio=False)
    assert _frames(Path(name)) == 4
