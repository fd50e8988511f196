"""Raw elementary video streams (.h264, .hevc, .m2v ...): timed by the rate they state, as
ffmpeg times them, from zero; cut and resumed frame-exact; --input-rate for those whose
headers give none (vsr.video.raw_stream)."""

from __future__ import annotations

import gc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import make_clip, make_raw_stream, make_soft_telecined_clip, raw_stream_level
from test_resume import interrupt_after, stream_packets

import vsr.video.parallel_writer as parallel_writer
from vsr.cli import main
from vsr.errors import VsrError
from vsr.runner import upscale_video
from vsr.video.raw_losses import RawStreamLosses
from vsr.video.raw_stream import RawTiming, parse_rate
from vsr.video.reader import VideoReader
from vsr.video.trim import TimeRange
from vsr.video.writer import EncodeSettings

NTSC = Fraction(30000, 1001)


LOSSLESS = EncodeSettings("ffv1")  # a frame upscaled alike is stored alike: comparable


def output_timing(path: Path) -> tuple[Fraction, list[Fraction], list[bytes]]:
    """The declared rate, each frame's time in seconds, and each frame's picture."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times, pictures = [], []
        for frame in container.decode(stream):
            times.append(frame.pts * stream.time_base)
            pictures.append(frame.to_ndarray(format="gray").tobytes())
        return stream.average_rate, times, pictures


@pytest.mark.parametrize(
    ("name", "fmt", "codec", "rate"),
    [
        ("a.h264", "h264", "libx264", NTSC),
        ("b.h264", "h264", "libx264", Fraction(50)),
        ("c.hevc", "hevc", "libx265", Fraction(24)),
        ("d.m2v", "mpeg2video", "mpeg2video", NTSC),
        # MPEG-4 part 2 states its clock's 30000 ticks a second, not its 29.97 frames.
        ("e.m4v", "m4v", "mpeg4", NTSC),
    ],
)
def test_a_raw_stream_is_timed_by_the_rate_it_states_from_zero(
    name, fmt, codec, rate, weights, tmp_path
):
    # The raw demuxer's average rate is its -framerate default, 25: H.264 and HEVC came out
    # at 25 fps, and MPEG-2 (whose parser times it from one frame on) started at 0.033 s,
    # declared 25 fps in Matroska.
    source = tmp_path / name
    make_raw_stream(source, fmt, codec, rate, frames=6)
    for output in (tmp_path / "out.mp4", tmp_path / "out.mkv"):
        upscale_video(source, output, weights=weights, progress=False)
        declared, times, _ = output_timing(output)
        assert declared == rate
        if output.suffix == ".mp4":  # the source's own time base: exact
            assert times == [n / rate for n in range(6)]
        else:  # Matroska's milliseconds
            assert times == [Fraction(round(1000 * n / rate), 1000) for n in range(6)]


def test_a_soft_telecined_raw_stream_keeps_its_film_frames_lengths(weights, tmp_path):
    # A DVD's film demuxed to .m2v states 29.97 fps and holds 23.976 frames a second, shown
    # 3 and 2 fields alternately: stamped a 29.97 frame apart, it played 25% fast.
    source = tmp_path / "film.m2v"
    make_soft_telecined_clip(source, film_frames=8)
    output = tmp_path / "out.mp4"
    upscale_video(source, output, weights=weights, progress=False)
    _, times, _ = output_timing(output)
    lengths = [Fraction(3, 2) / NTSC, 1 / NTSC] * 4  # 3 fields, 2 fields, ...
    assert times == [sum(lengths[:n], Fraction(0)) for n in range(8)]


def test_a_frame_is_never_timed_shorter_than_its_two_fields():
    # A field-coded picture's packet may be one field long; the decoded frame holds both.
    timing = RawTiming(NTSC, Fraction(1, 1200000), parser_rate=NTSC)
    frames = [av.VideoFrame(16, 16, "yuv420p") for _ in range(3)]
    for frame, ticks in zip(frames, (20020, 60060, 40040), strict=True):
        frame.duration = ticks  # a field, three fields, a frame
    stamped = list(timing.stamped(iter(frames)))
    assert [frame.pts for frame in stamped] == [0, 40040, 100100]


def test_a_packet_is_counted_as_long_as_its_fields_up_to_a_tripled_frame():
    # A field-coded picture's packet is one field; MPEG-2's progressive frame tripling shows
    # a frame for six, the most there is.
    timing = RawTiming(NTSC, Fraction(1, 1200000), parser_rate=NTSC)
    lengths = []
    for fields in (1, 2, 3, 6, 8):
        packet = av.Packet(b"\0")
        packet.duration = 20020 * fields
        lengths.append(timing.packet_frames(packet))
    assert lengths == [Fraction(1, 2), 1, Fraction(3, 2), 3, 3]


def test_a_cut_of_a_raw_stream_keeps_exactly_the_frames_in_it(weights, tmp_path):
    # --start and --end failed: "frames without timestamps".
    source, whole, output = tmp_path / "in.h264", tmp_path / "whole.mkv", tmp_path / "cut.mkv"
    make_raw_stream(source, frames=10)
    options = dict(weights=weights, progress=False, settings=LOSSLESS)
    upscale_video(source, whole, **options)
    report = upscale_video(source, output, start=0.1, end=0.25, **options)
    declared, times, pictures = output_timing(output)
    every = output_timing(whole)[2]
    assert len(set(every)) == 10  # each frame told apart
    # Frame k is at k * 1001/30000 s: 3 (0.1001 s) to 7 (0.2336 s) lie in [0.1, 0.25).
    assert pictures == every[3:8] and report.frames == 5
    assert times == [Fraction(round(1000 * n / NTSC), 1000) for n in range(5)]
    assert declared == NTSC


def test_a_cut_of_a_raw_mpeg2_stream_starts_at_its_first_kept_frame(weights, tmp_path):
    source, whole, output = tmp_path / "in.m2v", tmp_path / "whole.mkv", tmp_path / "cut.mkv"
    make_raw_stream(source, "mpeg2video", "mpeg2video", frames=10)
    options = dict(weights=weights, progress=False, settings=LOSSLESS)
    upscale_video(source, whole, **options)
    upscale_video(source, output, start="0.2", duration="0.1", **options)
    declared, times, pictures = output_timing(output)
    assert pictures == output_timing(whole)[2][6:9]  # 0.2002 s to 0.2669 s
    assert times[0] == 0 and declared == NTSC


def test_a_resumed_raw_stream_is_byte_for_byte_the_uninterrupted_one(
    weights, tmp_path, monkeypatch
):
    monkeypatch.setattr(parallel_writer, "JOURNAL_CHUNK_SECONDS", 1)  # 30 frames a chunk
    source = tmp_path / "in.h264"
    make_raw_stream(source, frames=45)
    whole, resumed = tmp_path / "whole.mp4", tmp_path / "resumed.mp4"
    settings = EncodeSettings(options={"x264-params": "mbtree=0"})  # see test_resume
    options = dict(weights=weights, progress=False, resume=True, settings=settings)
    upscale_video(source, whole, **options)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(source, resumed, on_frames=interrupt_after(32, resumed, 1), **options)
    report = upscale_video(source, resumed, **options)
    assert (report.resumed_frames, report.frames) == (30, 45)
    assert resumed.read_bytes() == whole.read_bytes()
    assert output_timing(resumed)[1] == [n / NTSC for n in range(45)]


def test_a_resume_at_another_input_rate_is_refused_and_at_the_stated_one_continues(
    weights, tmp_path, monkeypatch
):
    monkeypatch.setattr(parallel_writer, "JOURNAL_CHUNK_SECONDS", 1)
    source, output = tmp_path / "in.h264", tmp_path / "out.mkv"
    make_raw_stream(source, frames=45)
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(source, output, on_frames=interrupt_after(32, output, 1), **options)
    # The stream's own rate, given: the same output, so the kept chunks serve.
    with pytest.raises(KeyboardInterrupt):
        upscale_video(
            source,
            output,
            input_rate="29.97",
            on_frames=interrupt_after(3, output, 1),
            **options,
        )
    with pytest.raises(VsrError, match=r"other settings \(input rate\)"):
        upscale_video(source, output, input_rate=25, **options)
    report = upscale_video(source, output, **options)
    assert (report.resumed_frames, report.frames) == (30, 45)


def test_a_resumed_mkv_of_a_raw_stream_keeps_every_packet(weights, tmp_path, monkeypatch):
    monkeypatch.setattr(parallel_writer, "JOURNAL_CHUNK_SECONDS", 1)
    source = tmp_path / "in.m2v"
    make_raw_stream(source, "mpeg2video", "mpeg2video", frames=40)
    whole, resumed = tmp_path / "whole.mkv", tmp_path / "resumed.mkv"
    options = dict(weights=weights, progress=False, settings=LOSSLESS)
    everything = tmp_path / "everything.mkv"
    upscale_video(source, everything, **options)
    options.update(resume=True, start=0.1)
    upscale_video(source, whole, **options)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(source, resumed, on_frames=interrupt_after(32, resumed, 1), **options)
    report = upscale_video(source, resumed, **options)
    assert (report.resumed_frames, report.frames) == (30, 37)  # frames 3 ... 39
    assert stream_packets(resumed) == stream_packets(whole)
    assert output_timing(resumed)[2] == output_timing(everything)[2][3:]


def test_each_field_of_a_raw_stream_is_timed_at_twice_its_rate(weights, tmp_path):
    source, output = tmp_path / "in.h264", tmp_path / "fields.mp4"
    make_raw_stream(source, frames=4)
    upscale_video(source, output, weights=weights, progress=False, field_rate=True)
    declared, times, _ = output_timing(output)
    assert declared == 2 * NTSC and times == [n / (2 * NTSC) for n in range(8)]


def test_a_stream_stating_no_rate_is_timed_at_25_fps_with_a_note_or_at_the_rate_given(
    weights, tmp_path
):
    source = tmp_path / "in.mjpeg"
    make_raw_stream(source, "mjpeg", "mjpeg", 30, frames=4, pix_fmt="yuvj420p")
    report = upscale_video(source, tmp_path / "a.mp4", weights=weights, progress=False)
    assert output_timing(tmp_path / "a.mp4")[:2] == (25, [n / Fraction(25) for n in range(4)])
    assert (
        "the raw stream states no frame rate: timed at 25 fps, as ffmpeg does "
        "(input_rate sets its rate)"
    ) in report.notes
    report = upscale_video(
        source, tmp_path / "b.mkv", weights=weights, progress=False, input_rate="29.97"
    )
    declared, times, _ = output_timing(tmp_path / "b.mkv")
    assert declared == NTSC
    assert times == [Fraction(round(1000 * n / NTSC), 1000) for n in range(4)]
    assert "the raw stream states no frame rate; timed at 29.97 fps (input_rate)" in report.notes


def test_input_rate_retimes_a_raw_stream_whose_rate_is_wrong(weights, tmp_path, capsys):
    source, output = tmp_path / "in.hevc", tmp_path / "out.mp4"
    make_raw_stream(source, "hevc", "libx265", 24, frames=3)
    args = ["run", str(source), str(output), "--weights", str(weights), "--input-rate", "25"]
    assert main(args) == 0
    assert output_timing(output)[:2] == (25, [Fraction(0), Fraction(1, 25), Fraction(2, 25)])
    assert "vsr: note: the raw stream states 24 fps; timed at 25 fps (--input-rate)" in (
        capsys.readouterr().err
    )


def test_input_rate_is_refused_for_a_file_that_times_its_own_frames(weights, tmp_path, capsys):
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2)
    args = ["run", str(source), str(tmp_path / "out.mp4"), "--weights", str(weights)]
    assert main([*args, "--input-rate", "30"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vsr: error: ") and len(err.strip().splitlines()) == 1
    assert "--input-rate is for raw video streams" in err and "sound" in err
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("text", ["0", "-5", "abc", "1/0", "30/", "2000", "nan", ""])
def test_a_bad_input_rate_is_one_line_before_anything_is_opened(text, tmp_path, capsys):
    args = ["run", str(tmp_path / "missing.h264"), str(tmp_path / "out.mp4")]
    assert main([*args, f"--input-rate={text}"]) == 2
    err = capsys.readouterr().err
    said = f"--input-rate '{text}': " if text else "--input-rate is empty (an unset variable?)"
    assert err.startswith(f"vsr: error: {said}") and err.count("\n") == 1


def test_rates_are_read_exactly_and_rounded_ntsc_rates_are_theirs():
    assert parse_rate("30000/1001") == parse_rate("29.97") == parse_rate(29.97) == NTSC
    assert parse_rate("23.976") == Fraction(24000, 1001)
    assert parse_rate("59.94") == Fraction(60000, 1001)
    assert parse_rate("25") == 25 and parse_rate("12.5") == Fraction(25, 2)
    assert parse_rate(Fraction(48)) == 48 and parse_rate("29.9") == Fraction(299, 10)
    assert parse_rate("2997/100") == Fraction(2997, 100)  # a fraction is taken as written
    assert parse_rate("1000") == 1000  # the fastest there is
    with pytest.raises(VsrError, match="input_rate must be a frame rate"):
        parse_rate(True, "input_rate")


def test_an_input_rate_of_25_for_a_stream_stating_none_is_no_retiming(tmp_path):
    # 25 fps is the rate such a stream is timed at anyway: the same output, so a run
    # resumed with it or without it continues.
    source = tmp_path / "in.mjpeg"
    make_raw_stream(source, "mjpeg", "mjpeg", 30, frames=2, pix_fmt="yuvj420p")
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        assert RawTiming.of(stream, Fraction(25)) == RawTiming.of(stream, None)


def test_segment_mode_refuses_a_raw_stream_in_words(tmp_path):
    from vsr.cluster_segments import run_split

    source, output = tmp_path / "in.h264", tmp_path / "out.mkv"
    make_raw_stream(source, frames=4)
    with pytest.raises(VsrError, match="a raw video stream has no index to split it at"):
        run_split(source, output, count=2)
    assert not output.exists()


def test_segment_mode_refuses_a_raw_stream_before_counting_its_frames(tmp_path, monkeypatch):
    # The refusal came after the reader had read the whole stream to count its frames for
    # progress (vsr.video.raw_length): a full read of a long capture, then thrown away.
    import vsr.video.reader
    from vsr.cluster_segments import run_split

    counted = []
    real_count = vsr.video.reader.raw_stream_seconds

    def count_seen(*args):
        counted.append(args)
        return real_count(*args)

    monkeypatch.setattr(vsr.video.reader, "raw_stream_seconds", count_seen)
    source = tmp_path / "in.h264"
    make_raw_stream(source, frames=4)
    with pytest.raises(VsrError, match="a raw video stream has no index to split it at"):
        run_split(source, tmp_path / "out.mkv", count=2)
    assert counted == []
    # The patch sees the count where one is made: progress asks a reader for it.
    with vsr.video.reader.VideoReader(source) as reader:
        assert reader.info.frames_to_expect() == (4, True) and len(counted) == 1


def test_a_folders_input_rate_times_its_raw_streams_and_leaves_timed_clips_as_they_are(
    weights, tmp_path, capsys
):
    # A folder of camera .mp4 clips and broadcast .h264 streams: --input-rate failed every
    # clip that times its own frames ("--input-rate is for raw video streams"), exit 1.
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    make_raw_stream(folder / "raw.h264", frames=3)
    make_clip(folder / "timed.mp4", frames=3, audio=False)
    args = ["run", str(folder), str(out), "--weights", str(weights), "--input-rate", "25"]
    assert main(args) == 0
    assert output_timing(out / "raw.mkv")[:2] == (25, [Fraction(n, 25) for n in range(3)])
    assert output_timing(out / "timed.mp4")[:2] == output_timing(folder / "timed.mp4")[:2]
    err = capsys.readouterr().err
    assert (
        "vsr: timed.mp4: note: --input-rate was not applied: this clip times its own frames "
        "(it is for raw video streams, .h264, .hevc, .m2v ...)"
    ) in err
    assert "vsr: raw.h264: note: the raw stream states 29.97 fps; timed at 25 fps" in err


def test_segment_mode_refuses_input_rate_for_a_timed_clip_before_ray_starts(tmp_path, monkeypatch):
    # Each segment (a lossless Matroska cut) was refused it in turn, on the workers.
    import vsr.cluster_segments as cluster_segments

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(cluster_segments, "connect", no_ray)
    source, output = tmp_path / "in.mp4", tmp_path / "out.mkv"
    make_clip(source, frames=4)
    with pytest.raises(VsrError, match="input_rate is for raw video streams"):
        cluster_segments.run_split(source, output, count=2, engine_options={"input_rate": 25})
    assert not output.exists()


def _damaged_h264(source: Path) -> Path:
    """A 12-frame raw .h264 whose 7th packet keeps its start code and header but no
    readable slice data: that frame does not decode."""
    make_raw_stream(source, frames=12)
    with av.open(str(source)) as container:
        packets = [bytes(packet) for packet in container.demux(video=0) if packet.size]
    start_code_and_header = 5
    kept = packets[6][:start_code_and_header]
    packets[6] = kept + b"\xff" * (len(packets[6]) - len(kept))  # slice data unreadable
    source.write_bytes(b"".join(packets))
    return source


def test_a_cut_of_a_damaged_raw_stream_counts_the_frames_it_lost(weights, tmp_path):
    # Its packets have no times to tell the cut's from: the whole run said "1 frame(s) could
    # not be decoded", a cut holding the damage said nothing.
    source = _damaged_h264(tmp_path / "damaged.h264")
    options = dict(weights=weights, progress=False)
    whole = upscale_video(source, tmp_path / "whole.mkv", **options)
    cut = upscale_video(source, tmp_path / "cut.mkv", start=0.1, **options)
    assert (whole.frames, whole.lost_frames) == (11, 1)
    assert (cut.frames, cut.lost_frames) == (8, 1)
    assert "1 frame(s) could not be decoded" in cut.notes


def test_a_raw_streams_progress_expects_about_its_counted_frames(weights, tmp_path):
    # A raw stream states no length nor count: a two-hour .h264 showed no total, share or
    # time left. Its packets, demuxed, tell it; the soft-telecined .m2v's 8 film frames are
    # 10 frames of its stated 29.97 long, and a cut keeps its share of them.
    h264, film = tmp_path / "a.h264", tmp_path / "film.m2v"
    make_raw_stream(h264, frames=30)
    make_soft_telecined_clip(film, film_frames=8)
    with VideoReader(h264) as reader:
        assert reader.info.frames_to_expect() == (30, True)  # about: never a promise
        assert reader.info.frame_count is None
    with VideoReader(h264, time_range=TimeRange(Fraction(1001, 3000))) as reader:
        assert reader.info.frames_to_expect() == (20, True)  # 1/3 s in: frames 10 to 29
    with VideoReader(h264, field_rate=True) as reader:
        assert reader.info.frames_to_expect() == (60, True)
    with VideoReader(film) as reader:
        assert reader.info.frames_to_expect() == (8, True)


def test_the_progress_of_a_raw_stream_says_about_how_many_frames(tmp_path, weights, capsys, monkeypatch):  # fmt: skip
    import vsr.progress
    import vsr.runner

    source = tmp_path / "a.h264"
    make_raw_stream(source, frames=8)
    args = ["run", str(source), str(tmp_path / "out.mkv"), "--weights", str(weights)]
    monkeypatch.setattr(vsr.progress, "LOG_INTERVAL_S", 0.0)
    assert main(args) == 0  # stderr is a log: plain lines
    lines = [line for line in capsys.readouterr().err.splitlines() if ": frame " in line]
    assert lines[0].startswith("vsr: a.h264: frame 1 of ~8 (12%), ")
    monkeypatch.setattr(vsr.runner, "on_a_terminal", lambda: True)  # a bar, on stderr
    assert main([*args, "--overwrite"]) == 0
    assert "| 0/~8 [" in capsys.readouterr().err  # an estimate is not shown as a count


def test_a_frame_freed_late_from_an_earlier_decode_leaves_the_packet_numbers_alone(tmp_path):
    # PyAV keeps a packet's opaque number under its id(): an earlier decode's frames,
    # freed by the garbage collector during the next decode, took that decode's numbers
    # 0 to 256 (one object each) with them, and frames that decoded read as lost.
    source = tmp_path / "a.h264"
    make_raw_stream(source, frames=12)

    def numbered_packets(container: av.container.InputContainer) -> list[av.Packet]:
        losses = RawStreamLosses(container.streams.video[0])
        packets = [packet for packet in container.demux(video=0) if packet.size]
        for packet in packets:
            losses.number(packet)
        return packets

    with av.open(str(source)) as earlier, av.open(str(source)) as later:
        decoder = earlier.streams.video[0]
        earlier_frames = [f for p in numbered_packets(earlier) for f in decoder.decode(p)]
        packets = numbered_packets(later)
        del earlier_frames  # as the garbage collector may, at any moment
        gc.collect()
        stream = later.streams.video[0]
        frames = [frame for packet in [*packets, None] for frame in stream.decode(packet)]
        assert [frame.opaque for frame in frames] == list(range(12))


def test_the_frames_after_a_lost_one_of_a_raw_stream_keep_their_times(weights, tmp_path):
    # Frames were stamped as they decoded: the 7th packet unreadable, frames 7 to 11 came
    # out at 6 to 10, a frame early, and a cut from 0.1 s lost its place with them.
    source = _damaged_h264(tmp_path / "damaged.h264")  # I and P frames: in their own order
    shown = [n for n in range(12) if n != 6]
    for start, first in ((None, 0), (0.1, 3)):  # 0.1 s: from frame 3 (at 0.1001 s)
        output = tmp_path / f"from{first}.mp4"
        report = upscale_video(source, output, weights=weights, progress=False, start=start)
        assert report.lost_frames == 1
        _, times, _ = output_timing(output)
        assert times == [(n - first) / NTSC for n in shown if n >= first]


def test_a_raw_stream_with_b_frames_is_timed_in_its_frames_order(tmp_path):
    # Its decoder delivers pictures out of their packets' order: no number skipped there
    # is taken for a lost frame (every frame one frame after the one before).
    source = tmp_path / "b.h264"
    with av.open(str(source), "w", format="h264") as out:
        options = {"preset": "medium", "bframes": "3", "b-pyramid": "normal", "keyint": "12"}
        stream = out.add_stream("libx264", rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(24):
            grey = np.full((48, 64, 3), raw_stream_level(index), np.uint8)
            frame = av.VideoFrame.from_ndarray(grey, format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with VideoReader(source) as reader:
        step = round(1 / (25 * reader.info.time_base))
        assert [frame.pts for frame in reader.frames()] == [n * step for n in range(24)]
        assert reader.lost_frames == 0


def test_a_raw_streams_length_is_counted_only_for_a_run_that_asks_for_it(
    weights, tmp_path, monkeypatch
):
    # The reader read the whole stream at every opening to count its frames for progress:
    # an API run with progress=False and compile=False read a 9 GB capture whole for
    # nothing (about a minute from a disk). Now it is counted when asked for, once a reader.
    import vsr.video.reader

    counted = []
    count = vsr.video.reader.raw_stream_seconds

    def counting(*args):
        counted.append(args)
        return count(*args)

    monkeypatch.setattr(vsr.video.reader, "raw_stream_seconds", counting)
    source = tmp_path / "a.h264"
    make_raw_stream(source, frames=6)
    options = dict(weights=weights, progress=False, compile=False)
    assert upscale_video(source, tmp_path / "quiet.mkv", **options).frames == 6
    assert counted == []
    options.update(progress=True, compile="auto")  # both ask: one count between them
    assert upscale_video(source, tmp_path / "shown.mkv", **options).frames == 6
    assert len(counted) == 1
    with VideoReader(source, field_rate=True) as reader:
        assert len(counted) == 1  # opened: nothing counted yet
        assert reader.info.frames_to_expect() == (12, True)
        assert reader.info.frames_to_expect() == (12, True)
    assert len(counted) == 2


def _numbered_frame(number: int) -> av.VideoFrame:
    """A frame as the decoder hands it on, carrying its packet's number."""
    frame = av.VideoFrame(16, 16, "yuv420p")
    frame.opaque = number
    return frame


def test_the_second_field_of_a_frame_before_a_lost_one_is_no_loss(tmp_path):
    # A field-coded picture's two fields are two packets, half a frame long each, and one
    # frame carrying the first's number: after frame 0 (packets 0 and 1), packets 2 and 3
    # gave no frame, and frame 4 starts one frame later, not one and a half.
    source = tmp_path / "a.h264"
    make_raw_stream(source, frames=2)
    with av.open(str(source)) as container:
        losses = RawStreamLosses(container.streams.video[0], lambda packet: Fraction(1, 2))
        for _ in range(6):
            losses.number(av.Packet(b"\0"))
        gaps = [losses.gap_before(_numbered_frame(number)) for number in (0, 4)]
    assert gaps == [0, 1]


def test_a_frame_lost_among_frames_delivered_out_of_their_packets_order_is_counted(tmp_path):
    # B-frames come out before the P-frame decoded ahead of them: packets 3 (P), 4 and 5
    # (B) are shown 4, 5, 3; with 4 lost, 5 then 3 are kept, and 4 lies between them.
    source = tmp_path / "a.h264"
    make_raw_stream(source, frames=2)
    with av.open(str(source)) as container:
        losses = RawStreamLosses(container.streams.video[0])
        for number in (5, 3):
            frame = _numbered_frame(number)
            losses.decoded(frame)
            losses.kept(frame)
    assert losses.lost() == 1
