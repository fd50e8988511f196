"""Encoders that count time their own way (vsr.video.encoder_time_base): MPEG-1/2 in
frames, MPEG-4 Part 2 in at most 65535 ticks a second. Each refused ordinary sources."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import av
import pytest
from media import make_clip, make_ts_recording, picture_planes

from vsr.cli import main
from vsr.errors import VsrError
from vsr.video.encoder_time_base import FrameGrid, encoder_time_base
from vsr.video.reader import VideoReader
from vsr.video.writer import EncodeSettings, VideoWriter


def _source(path):
    with VideoReader(path) as reader:
        return reader.info


def _times(path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [float(frame.pts * frame.time_base) for frame in container.decode(stream)]


def _write(source, output, codec: str, times_ms: list[int]) -> VideoWriter:
    """Frames at `times_ms` (the source's time base must be 1/1000) through `codec`."""
    assert source.time_base == Fraction(1, 1000)
    writer = VideoWriter(output, source, 32, 24, EncodeSettings(codec=codec))
    with writer:
        for index, pts in enumerate(times_ms):
            writer.write(picture_planes(32, 24, index), pts)
    return writer


@pytest.mark.parametrize("codec", ["mpeg1video", "mpeg2video"])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_mpeg1_and_mpeg2_encode_an_ordinary_clip_at_its_times(tmp_path, codec, suffix):
    # Were "MPEG-1/2 does not support 12800/1 fps": the encoder got the container's clock.
    make_clip(tmp_path / "in.mp4", 16, 16, frames=4, audio=False)
    out = tmp_path / f"out{suffix}"
    assert (
        main(["run", str(tmp_path / "in.mp4"), str(out), "--codec", codec, "--device", "cpu"]) == 0
    )
    assert _times(out) == pytest.approx(_times(tmp_path / "in.mp4"), abs=0.001)
    assert _times(out) == pytest.approx([0, 0.04, 0.08, 0.12], abs=0.001)


def test_an_uneven_clip_goes_onto_the_steady_rate_in_order_with_a_note(tmp_path):
    # Two frames 4 ms apart fell on one 25 fps frame, which the encoder refused
    # (a traceback from avcodec_send_frame).
    make_clip(tmp_path / "in.mkv", 32, 24, frames=3, audio=False, codec="ffv1")
    writer = _write(
        _source(tmp_path / "in.mkv"), tmp_path / "out.mkv", "mpeg2video", [0, 4, 80, 120]
    )
    assert _times(tmp_path / "out.mkv") == pytest.approx([0, 0.04, 0.08, 0.12], abs=0.001)
    moved = [n for n in writer.notes if "keeps one steady rate (25 fps)" in n]
    assert moved and "1 frame(s)" in moved[0]
    assert not any("non-increasing" in n for n in writer.notes)  # the source's times rose


def test_a_steady_clip_moves_no_frame(tmp_path):
    make_clip(tmp_path / "in.mkv", 32, 24, frames=3, audio=False, codec="ffv1")
    writer = _write(_source(tmp_path / "in.mkv"), tmp_path / "out.mkv", "mpeg2video", [0, 40, 80])
    assert _times(tmp_path / "out.mkv") == pytest.approx([0, 0.04, 0.08], abs=0.001)
    assert not any("steady rate" in n for n in writer.notes)


@pytest.mark.parametrize("codec", ["mpeg1video", "mpeg2video"])
def test_a_rate_the_mpeg_standards_lack_is_refused_in_words(tmp_path, codec):
    make_clip(tmp_path / "in.mkv", 32, 24, frames=2, audio=False, codec="ffv1", rate=7)
    with pytest.raises(VsrError, match=rf"^{codec} holds the frame rates of its standard") as e:
        VideoWriter(
            tmp_path / "out.mkv", _source(tmp_path / "in.mkv"), 32, 24, EncodeSettings(codec)
        )
    assert "not this clip's 7 fps" in str(e.value) and "libx264" in str(e.value)
    assert not (tmp_path / "out.mkv").exists()


def test_mpeg4_encodes_a_transport_stream_at_its_times(tmp_path):
    # Was "timebase 1/90000 not supported by MPEG 4 standard": every .ts source.
    make_ts_recording(tmp_path / "in.ts", frames=3, start=126000)  # 1.4 s, as tuners do
    out = tmp_path / "out.mp4"
    assert (
        main(["run", str(tmp_path / "in.ts"), str(out), "--codec", "mpeg4", "--device", "cpu"]) == 0
    )
    written, given = _times(out), _times(tmp_path / "in.ts")
    assert len(written) == len(given) == 3
    # The output starts near 0 (vsr shifts a stream's start there); the steps are kept.
    steps = [b - a for a, b in pairwise(written)]
    assert steps == pytest.approx([b - a for a, b in pairwise(given)], abs=1e-4)


def test_the_time_bases_chosen():
    rate = Fraction(30000, 1001)
    assert encoder_time_base("mpeg2video", Fraction(1, 90000), rate) == 1 / rate
    assert encoder_time_base("mpeg2video", Fraction(1, 90000), None) == Fraction(1, 90000)
    assert encoder_time_base("mpeg4", Fraction(1, 90000), rate) == Fraction(1, 45000)
    assert encoder_time_base("mpeg4", Fraction(1001, 120000), rate) == Fraction(1001, 60000)
    assert encoder_time_base("mpeg4", Fraction(1, 12800), rate) == Fraction(1, 12800)
    # MPEG-4 takes 65535 ticks a second itself; a tick no whole number of which fits (a
    # prime count of them a second) gives way to the finest it takes.
    assert encoder_time_base("mpeg4", Fraction(1, 65535), rate) == Fraction(1, 65535)
    assert encoder_time_base("mpeg4", Fraction(1, 1000003), rate) == Fraction(1, 65535)
    assert encoder_time_base("libx264", Fraction(1, 90000), rate) == Fraction(1, 90000)


def test_the_grid_keeps_times_on_it_and_rising():
    grid = FrameGrid(Fraction(1001, 30))  # 29.97 fps in milliseconds: 33.37 each
    assert [grid.place(t) for t in (0, 33, 67, 100)] == [0, 33, 67, 100]
    assert grid.moved == 0
    assert grid.place(101) == 133 and grid.moved == 1  # one frame later, not on 100 again
    # A time half-way between two frames is as near one as the other: placed, not moved.
    grid = FrameGrid(Fraction(40))
    assert [grid.place(t) for t in (0, 60)] == [0, 80] and grid.moved == 0
