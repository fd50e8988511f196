"""MP4/MOV as players read them: HEVC's sample-entry tag, and the video track's length
when a variable frame rate meets B-frames."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import av
import pytest
from media import make_clip, mp4_video_timing, picture_planes

from vsr.video import writer as writer_module
from vsr.video.mov_timing import LastPacketHold
from vsr.video.parallel_writer import ParallelVideoWriter
from vsr.video.reader import VideoInfo, VideoReader
from vsr.video.writer import EncodeSettings, VideoWriter

W, H = 64, 48
# Milliseconds: slow and fast stretches, so x264's dts (the display-order pts shifted by
# its reorder delay) span less than the pts do. The audit's clip.
VFR_MS = [0, 33, 50, 120, 130, 300, 310, 500]
VFR_STEPS = [b - a for a, b in pairwise(VFR_MS)]
B_FRAMES = EncodeSettings(options={"bf": "3"})


def info_of(path: Path, **clip) -> VideoInfo:
    make_clip(path, W, H, 4, audio=False, **clip)
    with VideoReader(path) as reader:
        return reader.info


def write(target, pts: list[int]) -> None:
    with target as w:
        for index, stamp in enumerate(pts):
            w.write(picture_planes(W, H, index), stamp)


def decoded_seconds(path: Path) -> list[Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [frame.pts * stream.time_base for frame in container.decode(stream)]


# -- HEVC: hvc1, not hev1 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "encoders"), [("out.mp4", 1), ("out.mov", 1), ("out.mp4", 2)], ids=str
)
def test_hevc_in_mp4_and_mov_is_tagged_hvc1_and_decodes(tmp_path, name, encoders):
    info = info_of(tmp_path / "in.mkv", codec="ffv1")
    settings = EncodeSettings(codec="libx265", preset="ultrafast")
    out = tmp_path / name
    target = ParallelVideoWriter(out, info, W, H, settings, encoders=encoders, chunk_frames=5)
    write(target, list(range(12)))
    assert target.encoders == encoders
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "hevc"
        assert stream.codec_context.codec_tag == "hvc1"  # libav's default is hev1
    assert decoded_seconds(out) == [n * info.time_base for n in range(12)]


def test_h264_and_matroska_keep_their_usual_tags(tmp_path):
    info = info_of(tmp_path / "in.mkv", codec="ffv1")
    write(VideoWriter(tmp_path / "h264.mp4", info, W, H, EncodeSettings()), [0, 1, 2])
    hevc = EncodeSettings(codec="libx265", preset="ultrafast")
    write(VideoWriter(tmp_path / "hevc.mkv", info, W, H, hevc), [0, 1, 2])
    with av.open(str(tmp_path / "h264.mp4")) as container:
        assert container.streams.video[0].codec_context.codec_tag == "avc1"
    with av.open(str(tmp_path / "hevc.mkv")) as container:
        assert container.streams.video[0].codec_context.codec_tag != "hvc1"


# -- variable frame rate + B-frames: the declared length covers the last frame --------------


@pytest.mark.parametrize(
    ("name", "encoders", "pts"),
    [
        ("out.mp4", 1, VFR_MS),
        ("out.mov", 1, VFR_MS),
        # Two encoders, three chunks of 6 frames: each chunk starts its own dts run. The
        # clip ends on slower steps than it starts with, as the short example does.
        ("out.mp4", 2, [sum(VFR_STEPS[k % 7] for k in range(n)) for n in range(18)]),
    ],
    ids=["mp4", "mov", "mp4-2-encoders"],
)
def test_vfr_with_b_frames_declares_a_length_that_reaches_the_last_frame(
    tmp_path, name, encoders, pts
):
    info = info_of(tmp_path / "in.mkv", vfr=True)  # time base 1/1000
    assert info.time_base == Fraction(1, 1000)
    out = tmp_path / name
    target = ParallelVideoWriter(out, info, W, H, B_FRAMES, encoders=encoders, chunk_frames=6)
    write(target, pts)

    seconds = [Fraction(p, 1000) for p in pts]
    assert decoded_seconds(out) == seconds  # every frame's display time as given
    timing = mp4_video_timing(out)
    one_frame = 1 / info.average_rate  # what the muxer gives the last frame
    # The edit list (from the pts) was right before; the decode steps now add up to it.
    assert abs(timing.edit_seconds - (seconds[-1] + one_frame)) <= Fraction(1, 1000)
    assert abs(timing.sample_seconds - timing.edit_seconds) <= Fraction(1, 1000)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.duration * stream.time_base == timing.sample_seconds  # as ffprobe says
        assert container.duration / 1e6 > seconds[-1]


def test_constant_frame_rate_mp4_is_byte_for_byte_what_the_muxer_wrote_before(
    tmp_path, monkeypatch
):
    source = tmp_path / "in.mp4"
    make_clip(source, W, H, 24, audio=True)
    with VideoReader(source) as reader:
        info = reader.info
    step = round(1 / (info.average_rate * info.time_base))

    # libavcodec's mpeg4 encoder makes the same packets every time; this build's libx264
    # does not (its mbtree lookahead gives a few bytes more or less from run to run).
    settings = EncodeSettings(codec="mpeg4", options={"bf": "3"})

    def encode(name: str) -> str:
        target = ParallelVideoWriter(tmp_path / name, info, W, H, settings, encoders=2)
        write(target, [n * step for n in range(24)])
        return hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()

    fixed = encode("fixed.mp4")
    monkeypatch.setattr(writer_module, "LastPacketHold", lambda step: None)  # the muxer alone
    assert encode("plain.mp4") == fixed
    with av.open(str(tmp_path / "fixed.mp4")) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    assert any(p.dts < p.pts for p in packets)  # B-frames: the decode steps are not the pts'
    timing = mp4_video_timing(tmp_path / "fixed.mp4")
    assert timing.sample_seconds == timing.edit_seconds == Fraction(24, 25)


def test_a_clip_that_ends_faster_than_it_starts_still_reads_its_true_length(tmp_path):
    # The decode steps then add up to more than the presentation (see vsr.video.mov_timing);
    # the edit list ends it on time, and libav reads the shorter of the two.
    info = info_of(tmp_path / "in.mkv", vfr=True)
    pts = [0, 500, 1000, 1010, 1020, 1030, 1040, 1050]
    out = tmp_path / "out.mp4"
    write(VideoWriter(out, info, W, H, B_FRAMES), pts)
    seconds = [Fraction(p, 1000) for p in pts]
    assert decoded_seconds(out) == seconds
    true_length = seconds[-1] + 1 / info.average_rate
    assert abs(mp4_video_timing(out).edit_seconds - true_length) <= Fraction(1, 1000)
    with av.open(str(out)) as container:
        assert abs(Fraction(container.duration, 10**6) - true_length) <= Fraction(1, 1000)


@pytest.mark.parametrize("name", ["out.mp4", "out.mkv"])
def test_fast_frames_at_the_end_end_where_the_source_does(tmp_path, name):
    # Each packet left without a duration got one average frame from the muxer, and the
    # stream ended at the latest pts + duration: 36 ms past the source's end in the audit.
    info = info_of(tmp_path / "in.mkv", vfr=True)  # time base 1/1000
    step = round(1 / (info.average_rate * info.time_base))
    pts = [0, 200, 400, 600, 800, 1000, 1010, 1020]
    assert step > 10  # the last frames come faster than the average
    out = tmp_path / name
    writer = VideoWriter(out, info, W, H, B_FRAMES)
    for index, stamp in enumerate(pts):
        writer.write(picture_planes(W, H, index), stamp)
    writer.end_at(1030)  # the source's last frame is as short as those before it
    writer.close()
    assert decoded_seconds(out) == [Fraction(p, 1000) for p in pts]
    if name == "out.mp4":
        assert mp4_video_timing(out).edit_seconds == Fraction(1030, 1000)
    with av.open(str(out)) as container:
        assert container.duration == 1_030_000


def test_a_packet_without_times_keeps_its_place_in_decode_order():
    # It overtook the packets held back: the muxer got X1 before I0.
    from vsr.video.final_packet import FinalPacketHold

    def packet(pts: int | None, dts: int) -> av.Packet:
        made = av.Packet(b"x")
        made.pts, made.dts, made.time_base = pts, dts, Fraction(1, 25)
        return made

    hold = FinalPacketHold(frame_step=1)
    order = [packet(0, 0), packet(None, 1), packet(2, 2)]
    muxed = hold.pass_on(order) + hold.last(None)
    assert [p.dts for p in muxed] == [0, 1, 2]


def test_the_b_frames_after_the_last_shown_end_where_it_starts():
    # I0 P50 B40 in decode order, the frames coming faster than the average 40 at the end:
    # the P shown last ends at the source's end (60), and the B shown before it, which the
    # muxer would give an average frame (to 80, past the end), ends where the P starts.
    from vsr.video.final_packet import FinalPacketHold

    order = []
    for pts, dts in ((0, -10), (50, 0), (40, 10)):
        made = av.Packet(b"x")
        made.pts, made.dts, made.time_base = pts, dts, Fraction(1, 1000)
        order.append(made)
    hold = FinalPacketHold(frame_step=40)
    muxed = hold.pass_on(order) + hold.last(None, 60)
    assert [(p.pts, p.duration) for p in muxed] == [(0, 0), (50, 10), (40, 10)]


def test_a_last_packet_shown_last_ends_the_picture_where_the_steps_end():
    # A cut of a variable-rate MPEG-TS, in 1/90000: decode order is display order, and the
    # first two steps (0.1 s: the dts offset) are longer than the last two (0.073 s). The
    # last packet's duration ended its decode step at the cut's end but its picture, and
    # so the edit list, at 0.193 s of 0.22. Its dts moves back, after the one before it.
    tick = Fraction(1, 90000)
    stream = SimpleNamespace(time_base=tick, codec_context=SimpleNamespace(framerate=25))
    times = [(0, -9000), (1530, -7470), (9000, 0), (12600, 1530), (15570, 9000)]
    order = []
    for pts, dts in times:
        made = av.Packet(b"x")
        made.pts, made.dts, made.time_base = pts, dts, tick
        order.append(made)
    hold = LastPacketHold(frame_step=3600)
    muxed = hold.pass_on(order) + hold.last(stream, 19800)
    assert [p.dts for p in muxed] == [-9000, -7470, 0, 1530, 19800 - 9000 - 4230]
    last = muxed[-1]
    assert (last.pts, last.pts + last.duration, last.dts + last.duration) == (15570, 19800, 10800)
