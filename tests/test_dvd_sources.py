"""DVD and SD broadcast sources: MPEG-2 in MPEG-PS (VOB) with AC-3 sound, bitmap
subtitles and a pixel shape that changes mid-stream."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from media import make_vob

from vsr import upscale_video
from vsr.video.pixel_shape_watch import PixelShapeWatch


def _subtitles(path: Path) -> list[tuple[Fraction, Fraction, bytes]]:
    """(start s from the file's start, duration s, bytes) of each subtitle packet."""
    with av.open(str(path)) as container:
        start = Fraction(container.start_time or 0, av.time_base)
        stream = container.streams.subtitles[0]
        return [
            (p.pts * p.time_base - start, p.duration * p.time_base, bytes(p))
            for p in container.demux(stream)
            if p.size
        ]


def test_the_last_dvd_subtitle_of_a_vob_is_kept_in_mp4(tmp_path, weights):
    source, out = tmp_path / "film.vob", tmp_path / "film.mp4"
    make_vob(source, [(Fraction(16, 9), 48)], subtitles=[0.1, 0.2])  # 1.6 s
    upscale_video(source, out, weights=weights, progress=False)
    shown, kept = _subtitles(source), _subtitles(out)
    assert [data for *_, data in kept] == [data for *_, data in shown]  # both, as they were
    # At their times (MP4 counts in milliseconds here); the last for its picture's own
    # 1137 ms (its stop command), the first until the next starts, as MP4 keeps it.
    for (at, _, _), (was_at, _, _) in zip(kept, shown, strict=True):
        assert abs(at - was_at) <= Fraction(1, 1000)
    assert [round(length * 1000) for _, length, _ in kept] == [100, 1137]


def test_a_dvd_subtitle_given_its_own_length_ends_with_the_source(tmp_path, weights):
    # Shown 1137 ms from 0.4 s of 0.8 s of picture: the MP4 lasted 1.58 s, its last 0.8 s
    # a still frame.
    source, out = tmp_path / "film.vob", tmp_path / "film.mp4"
    make_vob(source, [(Fraction(16, 9), 24)], subtitles=[0.4])
    upscale_video(source, out, weights=weights, progress=False)
    ((at, length, _),) = _subtitles(out)
    with av.open(str(source)) as container:
        source_seconds = Fraction(container.duration, av.time_base)
    assert abs(at + length - source_seconds) <= Fraction(1, 1000)
    with av.open(str(out)) as container:
        assert container.duration / av.time_base <= source_seconds + Fraction(1, 1000)


def test_a_dvd_subtitle_given_its_own_length_ends_with_the_cut(tmp_path, weights):
    source, out = tmp_path / "film.vob", tmp_path / "part.mp4"
    make_vob(source, [(Fraction(16, 9), 12)], subtitles=[0.2])
    upscale_video(source, out, weights=weights, progress=False, start=0.1, end=0.3)
    # Times from the first frame: the cut's first frame is the one at 0.1001 s (3 frames of
    # 3003/90000 s), so its end at 0.3 s is at 0.1999 s in the output, and the subtitle's
    # 1137 ms end there (MP4 counts in milliseconds here).
    ((at, length, _),) = _subtitles(out)
    assert abs(at + length - (Fraction(3, 10) - Fraction(3 * 3003, 90000))) <= Fraction(1, 1000)


def _shape(path: Path) -> Fraction | None:
    with av.open(str(path)) as container:
        return container.streams.video[0].sample_aspect_ratio


@pytest.mark.parametrize(("end", "duration"), [(1500, 135000), (2**32 - 1, 0), (0, 0)])
def test_a_dvd_subtitle_takes_only_a_stop_time_that_comes(end, duration):
    # A stop command that never comes reads as a huge count (or none as 0): no length to
    # give, where it made the subtitle last 49 days and the MP4 as long.
    from types import SimpleNamespace

    from vsr.video.remux import _give_its_own_length

    shown = SimpleNamespace(end_display_time=end)
    decoder = SimpleNamespace(is_open=True, decode2=lambda packet: shown)
    packet = SimpleNamespace(
        stream=SimpleNamespace(codec_context=decoder), time_base=Fraction(1, 90000), duration=0
    )
    _give_its_own_length(packet)
    assert packet.duration == duration


def test_a_cut_into_the_16_9_film_after_a_4_3_trailer_is_tagged_16_9(tmp_path, weights):
    source, out = tmp_path / "disc.vob", tmp_path / "film.mp4"
    make_vob(source, [(Fraction(4, 3), 6), (Fraction(16, 9), 6)])  # 72x48: 8:9, then 32:27
    report = upscale_video(source, out, weights=weights, progress=False, start=0.25)
    assert report.frames == 4
    assert _shape(out) == Fraction(32, 27)


def test_a_pixel_shape_that_changes_mid_stream_is_named_where_it_changes(tmp_path, weights):
    source = tmp_path / "disc.vob"
    make_vob(source, [(Fraction(4, 3), 6), (Fraction(16, 9), 6)])
    report = upscale_video(source, tmp_path / "all.mkv", weights=weights, progress=False)
    assert _shape(tmp_path / "all.mkv") == Fraction(8, 9)  # one shape: the first frame's
    (told,) = [note for note in report.notes if "pixel shape changes" in note]
    # The 16:9 part starts at its keyframe, the 7th frame (6 x 3003/90000 s = 0.2002 s).
    assert "to 32:27, a 16:9 picture, at 0.200 s" in told and "(4:3)" in told
    assert told.endswith("(start='0.200') to keep its shape")  # the keyword, to the API
    # The part the note points at comes out whole, in its own shape.
    part = tmp_path / "part.mkv"
    report = upscale_video(source, part, weights=weights, progress=False, start=0.2)
    assert report.frames == 6 and _shape(part) == Fraction(32, 27)
    assert not any("pixel shape changes" in note for note in report.notes)


def test_a_container_shape_other_than_the_bitstreams_is_no_change_mid_stream():
    # An MP4's pasp says 8:9 where the H.264 stream says nothing (square): the output takes
    # the container's, and the decoder's square pixels at the next keyframes are no change.
    notes: list[str] = []
    watch = PixelShapeWatch(Fraction(8, 9), (72, 48), lambda: None, float, notes)
    keyframe = av.VideoFrame(72, 48, "yuv420p")
    keyframe.pts, keyframe.key_frame = 3003, True
    watch(keyframe)
    assert notes == []
