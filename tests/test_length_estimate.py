"""The frames a clip that states no count is expected to hold: its video's own length at its
rate (VideoInfo.frames_to_expect), for progress and for the CPU's choice to compile."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from vsr.ops.compile_policy import auto_compile_for
from vsr.video.reader import VideoReader


def matroska(path, frames: int, video_start: float, audio_start: float, audio_seconds: float):
    """An FFV1 Matroska at 25 fps whose video starts at `video_start` s, with PCM sound from
    `audio_start` s for `audio_seconds`."""
    rate = 48000
    with av.open(str(path), "w") as container:
        video = container.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 64, 36, "yuv420p"
        audio = container.add_stream("pcm_s16le", rate=rate)
        audio.layout = "mono"
        for index in range(frames):
            picture = np.full((36, 64, 3), 6 * index, np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, "rgb24")
            frame.pts, frame.time_base = round(video_start * 25) + index, Fraction(1, 25)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        samples = round(audio_seconds * rate)
        sound = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.int16), "s16", "mono")
        sound.sample_rate, sound.time_base = rate, Fraction(1, rate)
        sound.pts = round(audio_start * rate)
        container.mux(audio.encode(sound))
        container.mux(audio.encode(None))
    return path


@pytest.mark.parametrize(
    "frames, video_start, audio_start, audio_seconds",
    [
        (20, 36000, 36000, 0.8),  # a recording whose clock starts at 10 h: ~900017
        (10, 0, 0, 3.0),  # sound that outlasts the picture: ~76
        (25, 0.5, 0, 1.5),  # sound that starts before the picture: ~38
    ],
)
def test_a_matroska_is_expected_to_hold_its_videos_own_length(
    tmp_path, frames, video_start, audio_start, audio_seconds
):
    # The container's duration was taken for the video's: in Matroska it is where the file
    # ends, its start and its sound included.
    path = matroska(tmp_path / "clip.mkv", frames, video_start, audio_start, audio_seconds)
    with VideoReader(path) as reader:
        expected, estimated = reader.info.frames_to_expect()
        assert len(list(reader.frames())) == frames
    assert estimated and abs(expected - frames) <= 1


def test_a_late_clock_does_not_make_a_short_clip_worth_compiling(tmp_path):
    # vsr run compiled 20 frames ("the clip is long enough to repay it"), 118 s of build.
    path = matroska(tmp_path / "late.mkv", 20, 36000, 36000, 0.8)
    with VideoReader(path) as reader:
        expected = reader.info.frames_to_expect()[0]
    assert auto_compile_for(expected, 36, 64) != "auto"
    assert auto_compile_for(900017, 36, 64) == "auto"  # what it was told before
