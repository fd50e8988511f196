"""Counts in messages read as English: "1 frame", "1 frame was", "2 frames were"."""

from __future__ import annotations

from media import make_clip

from vsr.cli import main
from vsr.counted import counted, were


def test_one_is_singular_and_every_other_count_plural():
    assert [counted(n, "frame") for n in (0, 1, 2)] == ["0 frames", "1 frame", "2 frames"]
    assert counted(1, "film frame") == "1 film frame"
    assert counted(3, "index", "indices") == "3 indices"
    assert counted(None, "frame") == "None frames"  # an old report's missing count, as given
    assert [were(n, "frame") for n in (1, 4)] == ["1 frame was", "4 frames were"]


def test_a_one_frame_clip_is_said_as_one_frame(tmp_path, weights, capsys):
    # A still made into a one-frame clip was summed up as "vsr: 1 frames 32x18 -> 64x36".
    clip, out = tmp_path / "still.mp4", tmp_path / "out.mp4"
    make_clip(clip, 32, 18, frames=1, audio=False)
    assert main(["run", str(clip), str(out), "--weights", str(weights)]) == 0
    summary = capsys.readouterr().err.splitlines()[-1]
    assert summary.startswith("vsr: 1 frame 32x18 -> 64x36 in "), summary
