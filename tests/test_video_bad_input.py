"""Damaged and wrong input, wrong output paths: clear VsrErrors, counted losses, no debris."""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import (
    _video_packet_spans,
    corrupt_middle_packets,
    corrupt_packets,
    make_audio_only,
    make_clip,
    make_clip_with_sound,
    truncate,
)
from test_image_sequences import make_sequence

from vsr.cli import main
from vsr.errors import VsrError
from vsr.video import ffmpeg_pipe
from vsr.video.reader import VideoReader
from vsr.video.trim import TimeRange
from vsr.video.writer import EncodeSettings, VideoWriter, temp_path_for


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.mkv"
    make_clip(path, 64, 48, 12, codec="ffv1")
    return path


def read(path):
    with VideoReader(path) as reader:
        frames = list(reader.frames())
    return reader, frames


# -- reader ---------------------------------------------------------------------------


def test_corrupt_packets_in_the_middle_are_skipped_and_counted(clip):
    damaged = corrupt_middle_packets(clip, count=2)
    reader, frames = read(clip)
    assert reader.lost_frames == 2
    assert reader.decoded_frames == len(frames) == 10
    assert any("could not be decoded" in w for w in reader.warnings)
    # The survivors keep their own timestamps: the gap is where the damage was.
    expected = [40 * i for i in range(12) if i not in damaged]
    assert [f.pts for f in frames] == expected
    assert [f.index for f in frames] == list(range(10))


@pytest.mark.parametrize("from_the_end", [2, 3, 4])
def test_a_damaged_packet_among_the_last_few_loses_only_its_own_frame(clip, from_the_end):
    # FFV1's frame threads report the damage only in the final flush, which PyAV then
    # gave up, and the good frames after it, still in the decoder, went too: 10 of 12
    # frames, "2 frame(s) could not be decoded", for the packet before the last.
    damaged = 12 - from_the_end
    corrupt_packets(clip, [damaged])
    reader, frames = read(clip)
    assert [f.pts for f in frames] == [40 * i for i in range(12) if i != damaged]
    assert reader.lost_frames == 1 and reader.decoded_frames == 11


def test_a_damaged_file_near_the_end_of_a_sequence_loses_only_itself(tmp_path):
    # With f_6 of 8 cut in half, the good f_7 was lost with it in the flush.
    pattern = make_sequence(tmp_path / "scan", range(8), name="f_{:d}.png")
    damaged = tmp_path / "scan" / "f_6.png"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    reader, frames = read(pattern)
    assert [f.pts for f in frames] == [0, 1, 2, 3, 4, 5, 7]
    assert reader.lost_frames == 1
    assert "1 frame(s) could not be decoded" in reader.warnings


def test_a_sequence_whose_demuxing_fails_still_gives_every_frame_read_before(tmp_path):
    # f_5 a folder: the demuxer stops with "Is a directory". The last frames read, still
    # in the frame-threaded decoder then (f_3 and f_4 here), come only from its flush.
    pattern = make_sequence(tmp_path / "scan", range(8), name="f_{:d}.png")
    (tmp_path / "scan" / "f_5.png").unlink()
    (tmp_path / "scan" / "f_5.png").mkdir()
    reader, frames = read(pattern)
    assert [f.pts for f in frames] == [0, 1, 2, 3, 4]
    assert reader.lost_frames == 3
    assert any("looks truncated" in w for w in reader.warnings)


def test_a_cut_of_a_sequence_whose_demuxing_fails_counts_what_it_lost(tmp_path):
    # Read whole, f_5-f_7 are 3 lost frames; a cut from f_1 on said nothing of them.
    pattern = make_sequence(tmp_path / "scan", range(8), name="f_{:d}.png")
    (tmp_path / "scan" / "f_5.png").unlink()
    (tmp_path / "scan" / "f_5.png").mkdir()
    with VideoReader(pattern, TimeRange(Fraction(1, 25), None)) as reader:
        frames = list(reader.frames())
    assert [f.pts for f in frames] == [0, 1, 2, 3]  # f_1-f_4, from the cut's start
    assert reader.lost_frames == 3
    assert reader.warnings[0] == "3 frame(s) could not be decoded"
    assert any("looks truncated" in w for w in reader.warnings)


@pytest.mark.parametrize("fraction", [0.35, 0.7])
def test_truncated_matroska_decodes_what_it_can_and_counts_the_rest(clip, tmp_path, fraction):
    cut = truncate(clip, fraction, tmp_path / "cut.mkv")
    reader, frames = read(cut)
    assert 0 < len(frames) < 12
    assert reader.decoded_frames == len(frames)
    assert reader.lost_frames == 12 - len(frames)
    assert any("truncated" in w for w in reader.warnings)


@pytest.mark.parametrize("missing", [1, 2])
def test_a_matroska_cut_short_by_a_frame_or_two_counts_them(clip, tmp_path, missing):
    # A single missing frame is 0.04 s of 0.48: no less a loss than a long tail (a
    # tolerance of more than a frame, or a count rounded down, said nothing).
    cut_at, _ = _video_packet_spans(clip)[-missing]
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(clip.read_bytes()[: cut_at - 8])  # before that block's header
    reader, frames = read(cut)
    assert [f.pts for f in frames] == [40 * i for i in range(12 - missing)]
    assert reader.lost_frames == missing
    assert reader.warnings[0] == f"{missing} frame(s) could not be decoded"
    assert any("looks truncated" in w for w in reader.warnings)


def late_start_matroska(path, frames: int = 30, first_pts: int = 50):
    """An FFV1 Matroska whose video starts at first_pts / 25 s, as a clip cut from a longer
    one does (its DURATION tag then says where the stream ends, not how long it is)."""

    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 8 * i, np.uint8), "rgb24")
            frame.pts, frame.time_base = first_pts + i, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def gapped_ts_recording(path: Path, start: int) -> Path:
    """An MPEG-TS at 25 fps whose clock starts at `start` (1/90000 s) and whose picture
    drops out for a second: frames 0-24 and 50-74."""

    import av
    import numpy as np

    tick = Fraction(1, 90000)
    with av.open(str(path), "w", format="mpegts") as container:
        video = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = video.time_base = tick
        for index in [*range(25), *range(50, 75)]:
            picture = np.full((48, 64, 3), 5 * index % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = start + 3600 * index, tick
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return path


@pytest.mark.parametrize("start", [0, 126000])
def test_a_dropout_in_a_late_starting_recording_is_no_loss(tmp_path, start):
    # Moved to zero as a whole (a clock at 1.4 s, as ffmpeg writes TS), it was read as a
    # cut, whose frame estimate (length x rate) was then taken as a promised count:
    # "25 frame(s) could not be decoded".
    reader, frames = read(gapped_ts_recording(tmp_path / "gap.ts", start))
    assert len(frames) == 50 and reader.lost_frames == 0 and reader.warnings == []
    assert reader.info.frame_count is None  # the file states none


def test_a_truncated_mp4_is_told_with_a_range_too(tmp_path):
    # With an MP4's sample count taking over from its declared length, a cut or a resume,
    # which do not count every sample, lost sight of a truncation (1 frame lost, not 44).

    make_clip(tmp_path / "whole.mp4", frames=100, faststart=True, audio=False)
    cut_short = truncate(tmp_path / "whole.mp4", 0.6, tmp_path / "short.mp4")
    with VideoReader(cut_short, TimeRange(Fraction(1, 5), None)) as reader:
        frames = list(reader.frames())
    assert len(frames) + reader.lost_frames == 95  # the range holds frames 5-99
    assert reader.lost_frames > 30 and any("truncated" in w for w in reader.warnings)


def test_a_matroska_stream_that_starts_late_is_not_called_truncated(tmp_path):
    reader, frames = read(late_start_matroska(tmp_path / "late.mkv"))
    # Moved back by the file's start (2 s), as every stream of it is.
    assert len(frames) == 30 and frames[0].pts == 0 and reader.info.cut.offset == 2
    assert reader.lost_frames == 0 and reader.warnings == []

    cut = truncate(tmp_path / "late.mkv", 0.5, tmp_path / "cut.mkv")
    reader, frames = read(cut)
    assert 0 < len(frames) < 30
    assert reader.lost_frames == 30 - len(frames)
    assert any("truncated" in w for w in reader.warnings)


def test_a_cut_past_the_end_of_a_late_starting_matroska_says_where_the_clip_ends(tmp_path):
    # Its end, 2 s + 30 frames less the 2 s start, came out 2e-16 s short of its DURATION
    # in floats, which was taken as a missing tail and silenced the note.
    path = late_start_matroska(tmp_path / "late.mkv")
    with VideoReader(path, TimeRange(Fraction(1), Fraction(2))) as reader:
        frames = list(reader.frames())
    assert [f.pts for f in frames] == [0, 40, 80, 120, 160]  # from the cut's start
    assert reader.lost_frames == 0
    assert reader.warnings == ["the clip ends at 1.200 s, before the requested end (2.000 s)"]
    with pytest.raises(VsrError, match=r"to the end \(the clip is 1\.200 s long\)$"):
        VideoReader(path, TimeRange(Fraction(3), None))


def test_sound_past_the_video_of_a_file_that_states_no_video_length_is_no_loss(tmp_path):
    # FLV states the whole file's length (1 s, its sound's), not its video's (0.2 s). Taken
    # as the video's, the 0.8 s past the pictures were 20 frames that "could not be decoded".
    path = tmp_path / "clip.flv"
    silence = np.zeros((1, 1024), np.float32)  # AAC's frame
    make_clip_with_sound(path, 5, "aac", silence, "fltp", 47)
    with av.open(str(path)) as container:
        assert container.streams.video[0].duration is None and container.duration > 900_000
    reader, frames = read(path)
    assert len(frames) == 5 and reader.lost_frames == 0
    # Nor is it a cut file: the sound's packets run to the stated length.
    assert reader.warnings == []

    # Cut short, the same file is called so (its sound ends before the stated 1 s).
    reader, frames = read(truncate(path, 0.6, tmp_path / "cut.flv"))
    assert any("the file looks truncated" in w for w in reader.warnings)


def test_truncated_mp4_with_index_first_counts_lost_frames(tmp_path):
    path = tmp_path / "fast.mp4"
    make_clip(path, 64, 48, 12, faststart=True)
    cut = truncate(path, 0.6, tmp_path / "cut.mp4")
    reader, frames = read(cut)
    assert 0 < len(frames) < 12
    assert reader.lost_frames == 12 - len(frames)


def avi_with_dropped_frames(path: Path, frames: int, dropped: set[int]) -> Path:
    """An FFV1 AVI at 25 fps whose capture dropped the frames numbered in `dropped`: libav's
    muxer writes an empty chunk for each, as VirtualDub does, which the header counts."""

    import av
    import numpy as np

    noise = np.random.default_rng(3)  # pictures that do not compress: a truncation hits frames
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in sorted(set(range(frames)) - dropped):
            picture = noise.integers(0, 256, (48, 64, 3), np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, "rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_an_avi_whose_capture_dropped_frames_is_not_called_damaged(tmp_path):
    # The header counts the dropped frames' empty chunks: 2 of 10 were "lost", and vsr run
    # called the clip damaged and its output shorter than the clip.
    reader, frames = read(avi_with_dropped_frames(tmp_path / "drops.avi", 10, {4, 8}))
    assert reader.info.frame_count == 10
    assert [f.pts for f in frames] == [0, 1, 2, 3, 5, 6, 7, 9]  # each at its own time
    assert reader.lost_frames == 0 and reader.warnings == []


def test_a_truncated_avi_with_dropped_frames_counts_what_the_cut_lost(tmp_path):
    path = avi_with_dropped_frames(tmp_path / "drops.avi", 40, {4, 8})
    reader, frames = read(truncate(path, 0.5, tmp_path / "cut.avi"))
    assert 8 < len(frames) < 30
    # Every frame after the last one read is lost; the two dropped before it are not.
    assert reader.lost_frames == 40 - (frames[-1].pts + 1)
    assert len(frames) + reader.lost_frames == 38
    assert any("could not be decoded" in w for w in reader.warnings)


def test_an_avi_on_a_millisecond_clock_is_read_at_its_pictures_rate(tmp_path):
    # A muxer given times on a 1/1000 clock (remuxed VFR) states 1000 fps and writes an
    # empty chunk per tick between pictures, the last picture's span included: 40 pictures
    # at 25 fps read as 1600 frames at 1000 fps, "39 frame(s) could not be decoded", and the
    # output was declared 1000 fps.

    import av
    import numpy as np

    path = tmp_path / "ms.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        for index in range(40):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 5, np.uint8), "rgb24")
            frame.pts, frame.time_base = index * 40, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    reader, frames = read(path)
    assert (reader.info.average_rate, reader.info.frame_count) == (25, 40)
    assert [f.pts for f in frames] == [index * 40 for index in range(40)]
    assert reader.lost_frames == 0 and reader.warnings == []


def test_truncated_mp4_without_its_index_is_a_clear_error(tmp_path):
    path = tmp_path / "plain.mp4"
    make_clip(path, 64, 48, 6)  # the index (moov) is written last
    cut = truncate(path, 0.5, tmp_path / "cut.mp4")
    with pytest.raises(VsrError, match="not a readable media file"):
        VideoReader(cut)


def test_missing_file(tmp_path):
    with pytest.raises(VsrError, match="no such file"):
        VideoReader(tmp_path / "nothing.mp4")


def test_empty_file(tmp_path):
    # Was "not a readable media file (truncated or damaged?)".
    (tmp_path / "empty.mp4").touch()
    with pytest.raises(VsrError, match=r"empty.mp4: an empty file$"):
        VideoReader(tmp_path / "empty.mp4")


def test_text_file_named_mp4(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    with pytest.raises(VsrError, match="not a readable media file"):
        VideoReader(fake)


def test_audio_only_file(tmp_path):
    path = tmp_path / "sound.mp4"
    make_audio_only(path)
    with pytest.raises(VsrError, match="no video stream"):
        VideoReader(path)


# -- writer -----------------------------------------------------------------------------


def writer_for(clip, output, **kwargs):
    with VideoReader(clip) as reader:
        info = reader.info
    settings = kwargs.pop("settings", EncodeSettings(codec="ffv1"))
    return VideoWriter(output, info, info.width, info.height, settings, **kwargs)


def test_output_equal_to_input(clip):
    with pytest.raises(VsrError, match="output is the input"):
        writer_for(clip, clip, overwrite=True)


def test_existing_output_needs_overwrite(clip, tmp_path):
    existing = tmp_path / "done.mkv"
    existing.write_bytes(b"old")
    with pytest.raises(VsrError, match="already exists"):
        writer_for(clip, existing)
    writer_for(clip, existing, overwrite=True).abort()
    assert existing.read_bytes() == b"old"  # aborting never touches the target


def test_missing_output_folder(clip, tmp_path):
    with pytest.raises(VsrError, match="does not exist"):
        writer_for(clip, tmp_path / "no" / "such" / "out.mkv")


def test_unwritable_output_folder(clip, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:
        # Root may write anywhere, so the system says yes; say what it says to a user.
        allowed = os.access
        monkeypatch.setattr(
            os, "access", lambda path, mode: allowed(path, mode) and Path(path) != locked
        )
    try:
        with pytest.raises(VsrError, match="not writable"):
            writer_for(clip, locked / "out.mkv")
    finally:
        locked.chmod(0o755)


def test_output_folder_that_is_a_file(clip, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VsrError, match="not a folder"):
        writer_for(clip, blocker / "out.mkv")


def test_unknown_codec_lists_the_available_ones(clip, tmp_path):
    with pytest.raises(VsrError, match="unknown video codec 'nope'.*libx264"):
        writer_for(clip, tmp_path / "out.mkv", settings=EncodeSettings(codec="nope"))


def test_codec_the_container_cannot_hold(clip, tmp_path):
    with pytest.raises(VsrError, match="cannot be stored in .webm"):
        writer_for(clip, tmp_path / "out.webm", settings=EncodeSettings(codec="libx264"))
    assert list(tmp_path.iterdir()) == [clip]  # no temporary file left behind


def test_a_default_codec_the_container_cannot_hold_gives_way_to_its_own(clip, tmp_path):
    """No --codec, a folder of .webm clips: each is written as WebM can hold it."""
    default = EncodeSettings(codec="libx264", crf=30, preset="medium", codec_is_default=True)
    writer = writer_for(clip, tmp_path / "out.webm", settings=default)
    writer.abort()
    assert writer.codec.name == "libvpx-vp9"
    assert writer.notes[0] == (
        "libx264 cannot go into .webm files: encoding with libvpx-vp9 (choose another with "
        "settings=EncodeSettings(codec=...)); its settings preset=medium do not apply"
    )
    assert writer.settings.crf == 30 and writer.settings.preset is None  # x264's preset names


def test_options_given_go_to_the_codec_the_container_takes_in_place_of_the_default(clip, tmp_path):
    """-e crf=45 and -e cpu-used=8 to .webm without --codec were dropped with x264's preset,
    and the note called them libx264's: they now go to VP9, a pipeline preset's own options
    are still dropped, and an option VP9 lacks is refused rather than dropped."""
    settings = EncodeSettings(
        preset="medium",
        options={"crf": "45", "cpu-used": "8", "x265-params": "log-level=error"},
        preset_option_names={"x265-params"},
    )
    writer = writer_for(clip, tmp_path / "out.webm", settings=settings)
    writer.abort()
    assert writer.codec.name == "libvpx-vp9"
    assert writer.notes[0] == (
        "libx264 cannot go into .webm files: encoding with libvpx-vp9 (choose another with "
        "settings=EncodeSettings(codec=...)) and the options given, crf=45, cpu-used=8; its "
        "settings x265-params=log-level=error, preset=medium do not apply"
    )
    assert writer.settings.options == {"cpu-used": "8", "row-mt": "1", "crf": "45"}
    typo = EncodeSettings(options={"x264-params": "ref=2"})
    with pytest.raises(VsrError, match=r"libvpx-vp9, which vsr encodes them with, has no option"):
        writer_for(clip, tmp_path / "typo.webm", settings=typo)
    with pytest.raises(VsrError, match=r"libvpx-vp9 \(vsr's encoder for .webm files\) rejected"):
        writer_for(clip, tmp_path / "tune.webm", settings=EncodeSettings(options={"tune": "film"}))


def test_unknown_container(clip, tmp_path):
    with pytest.raises(VsrError, match="unknown output container"):
        writer_for(clip, tmp_path / "out.avi")
    # Was "unknown output container ''".
    with pytest.raises(VsrError, match=r"out: the output needs a file type \(.m4v, .mkv"):
        writer_for(clip, tmp_path / "out")


def test_pix_fmt_the_codec_cannot_take(clip, tmp_path):
    settings = EncodeSettings(codec="libsvtav1", pix_fmt="yuv444p")
    with pytest.raises(VsrError, match="libsvtav1 takes"):
        writer_for(clip, tmp_path / "out.mkv", settings=settings)


def test_temp_file_is_hidden_beside_the_target_and_renamed_at_the_end(clip, tmp_path):
    output = tmp_path / "out.mkv"
    with VideoReader(clip) as reader, writer_for(clip, output) as writer:
        temp = temp_path_for(output)
        assert writer.temp_path == temp and temp.parent == tmp_path
        assert temp.name.startswith(".") and temp.suffix == ".mkv"
        for frame in reader.frames():
            writer.write(frame.planes, frame.pts)
        assert temp.exists() and not output.exists()
    assert output.exists() and not temp.exists()


def test_an_exception_inside_the_writer_removes_the_temp_file(clip, tmp_path):
    output = tmp_path / "out.mkv"
    with (
        pytest.raises(KeyboardInterrupt),
        VideoReader(clip) as reader,
        writer_for(clip, output) as writer,
    ):
        for frame in reader.frames():
            writer.write(frame.planes, frame.pts)
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv"]


def test_wrong_plane_shape_is_refused(clip, tmp_path):
    with VideoReader(clip) as reader, writer_for(clip, tmp_path / "out.mkv") as writer:
        frame = next(reader.frames())
        y, u, v = frame.planes
        with pytest.raises(ValueError, match="plane of shape"):
            writer.write((y[:-2], u, v), frame.pts)
        writer.abort()


def test_video_stream_without_frames(tmp_path):
    path = tmp_path / "empty.mkv"
    make_clip(path, 64, 48, 0, codec="ffv1")
    with pytest.raises(VsrError, match="no decodable video frame"):
        VideoReader(path)


def test_wrong_plane_depth_is_refused(clip, tmp_path):
    with VideoReader(clip) as reader, writer_for(clip, tmp_path / "out.mkv") as writer:
        frame = next(reader.frames())
        with pytest.raises(ValueError, match="expected uint8"):
            writer.write(tuple(p.astype("uint16") for p in frame.planes), frame.pts)
        writer.abort()


def test_damage_the_decoder_conceals_is_reported_too(tmp_path):
    """H.264 conceals broken slices instead of failing: the frames come out, flagged."""
    path = tmp_path / "h264.mp4"
    make_clip(path, 64, 48, 12, audio=False)
    corrupt_middle_packets(path, count=3)
    reader, frames = read(path)
    assert len(frames) + reader.lost_frames == 12
    assert reader.damaged_frames + reader.lost_frames >= 3
    assert reader.warnings


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (EncodeSettings(options={"profile": "bogus"}), r"profile=bogus \(Invalid argument\)"),
        # A crf out of range, -e crf=... too, is refused before the trial open
        # (vsr.video.encoder_choice.check_crf); other numbers go to the encoder as given.
        (EncodeSettings(options={"qp": "-5"}), r"qp=-5 \(Numerical result out of range\)"),
        (EncodeSettings(crf=20, preset="fast", options={"bf": "-7"}), r"bf=-7 \(Numerical"),
        (EncodeSettings(codec="libx265", options={"profile": "x"}), r"profile=x \("),
        # Two bad values: no single removal helps, so each is tried alone.
        (EncodeSettings(options={"qp": "-5", "profile": "bogus"}), r"qp=-5 \(Numerical"),
    ],
    ids=["profile", "qp", "-e", "x265", "two"],
)
def test_a_value_the_encoder_refuses_is_named(clip, tmp_path, monkeypatch, settings, message):
    # An ffmpeg binary would not help (it refuses the same value): no fallback to it.
    monkeypatch.setattr(ffmpeg_pipe, "ffmpeg_available", lambda: True)
    with pytest.raises(VsrError, match=rf"^{settings.codec} rejected {message}"):
        writer_for(clip, tmp_path / "out.mp4", settings=settings)
    assert list(tmp_path.iterdir()) == [clip]


def test_a_refused_preset_is_one_error_line_from_vsr_run(clip, tmp_path, weights, capsys):
    out = tmp_path / "out.mp4"
    status = main(
        ["run", str(clip), str(out), "--preset", "ultrafastest", "--weights", str(weights)]
    )
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "vsr: error: libx264 has no preset 'ultrafastest'; its presets: ultrafast, superfast, "
        "veryfast, faster, fast, medium, slow, slower, veryslow, placebo"
    ]
    assert list(tmp_path.iterdir()) == [clip]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (EncodeSettings(codec="libx265", preset="x"), "libx265 has no preset 'x'; its presets: "),
        (EncodeSettings(options={"preset": "nope"}), "libx264 has no preset 'nope'"),
        (EncodeSettings(options={"tune": "film,nope"}), "libx264 has no tune 'nope'; its tunes:"),
        (EncodeSettings(codec="libx265", options={"tune": "film"}), "libx265 has no tune 'film'"),
        (EncodeSettings(codec="libx265", crf=52), "crf 52: libx265 takes 0 to 51"),
    ],
)
def test_names_x264_and_x265_do_not_know_are_told_before_they_print_their_own(
    clip, tmp_path, settings, message
):
    # x264 and x265 print "x264 [error]: invalid preset" to the terminal themselves, above
    # vsr's line, which could only say "rejected (Invalid argument)".
    with pytest.raises(VsrError, match=f"^{re.escape(message)}"):
        writer_for(clip, tmp_path / "out.mp4", settings=settings)
    assert list(tmp_path.iterdir()) == [clip]


def test_names_in_any_case_and_several_tunes_are_taken(clip, tmp_path):
    settings = EncodeSettings(preset="VeryFast", options={"tune": "film,fastdecode"})
    writer_for(clip, tmp_path / "out.mp4", settings=settings).abort()


def test_a_temporary_file_the_folder_cannot_hold_is_one_clear_error(clip, tmp_path):
    # The output's name fits; its temporary name (the pid added) does not.
    with pytest.raises(VsrError, match=r"cannot write there \(File name too long\)"):
        writer_for(clip, tmp_path / ("o" * 246 + ".mkv"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o")]  # nothing half-made


def test_a_clip_that_cannot_be_read_is_not_called_damaged(clip, monkeypatch):
    # Tests run as root, who reads every file: the refusal is FFmpeg's, stood in for.
    import errno

    import av

    def refused(path, *args, **kwargs):
        raise av.error.PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr("vsr.video.reader.open_source", refused)
    with pytest.raises(VsrError, match=r"clip.mkv: cannot be read \(Permission denied\)$"):
        VideoReader(clip)


def test_an_mp4_cut_before_its_index_is_called_truncated(tmp_path):
    # Its index (moov) comes last, so FFmpeg opens the cut file with no streams at all; it
    # was told "no video stream", as an audio file is.
    make_clip(tmp_path / "whole.mp4", 64, 48, 12, audio=False)
    whole = (tmp_path / "whole.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: whole.index(b"moov") + 24])  # the index's first few bytes
    with pytest.raises(VsrError, match=r"cut.mp4: no streams at all \(truncated or damaged\?\)"):
        VideoReader(cut)


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
def test_the_name_check_agrees_with_the_encoders_themselves(codec):
    # The check refused names the encoders take (presets by number, x265's "zero-latency").

    import av

    from vsr.video.encoder_choice import check_x26x_names

    def opens(options: dict[str, str]) -> bool:
        context = av.CodecContext.create(codec, "w")
        context.width, context.height, context.pix_fmt = 64, 48, "yuv420p"
        context.time_base = Fraction(1, 25)
        quiet = {"x265-params": "log-level=none"} if codec == "libx265" else {}
        context.options = {**options, **quiet}
        try:
            context.open()
        except av.FFmpegError:
            return False
        return True

    def passes(options: dict[str, str]) -> bool:
        try:
            check_x26x_names(codec, None, options)
        except VsrError:
            return False
        return True

    cases = [{"preset": p} for p in ("5", "0", "Medium", "medium", "veryslow", "turbo")]
    tunes = ["zero-latency", "fast-decode", "vmaf", "touhou", "film,fastdecode", "Psnr"]
    cases += [{"tune": t} for t in [*tunes, "zerolatency+fastdecode", "psnr,ssim", "FILM"]]
    for options in cases:
        assert passes(options) == opens(options), options
