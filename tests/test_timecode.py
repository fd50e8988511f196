"""SMPTE timecodes moved by whole frames, drop-frame included, and carried through a cut."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import gop_header_timecodes

from vsr.runner import upscale_video
from vsr.video.timecode import moved_timecode

NTSC = Fraction(30000, 1001)


@pytest.mark.parametrize(
    ("timecode", "frames", "rate", "moved"),
    [
        ("01:00:00:00", 250, Fraction(25), "01:00:10:00"),
        ("00:00:59:29", 1, Fraction(30), "00:01:00:00"),
        ("00:00:00:00", 1, Fraction(24000, 1001), "00:00:00:01"),  # 23.976: 24 a second
        ("23:59:59:24", 1, Fraction(25), "00:00:00:00"),  # past midnight, as clocks do
        # Drop-frame: labels ;00 and ;01 are skipped each minute but every tenth.
        ("00:00:59;29", 1, NTSC, "00:01:00;02"),
        ("00:09:59;29", 1, NTSC, "00:10:00;00"),
        ("00:00:00;00", 17982, NTSC, "00:10:00;00"),  # ten minutes of 29.97
        ("00:01:00;02", -1, NTSC, "00:00:59;29"),
        ("00:00:59;59", 1, Fraction(60000, 1001), "00:01:00;04"),  # 59.94 drops four
        # "." marks drop-frame too (SMPTE 12M's other spelling; libav reads any mark but ":").
        ("00:00:59.29", 1, NTSC, "00:01:00.02"),
    ],
)
def test_timecodes_count_whole_frames(timecode, frames, rate, moved):
    assert moved_timecode(timecode, frames, rate) == moved


@pytest.mark.parametrize(
    ("timecode", "rate"),
    [("1:00:00:00", Fraction(25)), ("00:00:00;00", Fraction(25)), ("00:00:00:00", None)],
)
def test_a_timecode_it_cannot_move_is_none_not_a_guess(timecode, rate):
    assert moved_timecode(timecode, 10, rate) is None


def _clip_with_timecode(
    path: Path,
    timecode: str,
    key: str = "timecode",
    rate: int = 25,
    reel: str | None = None,
    first_frame: int = 0,
) -> None:
    """20 frames from frame `first_frame` on the file's clock, tagged `timecode`."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate, options={"g": "5"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.metadata[key] = timecode  # MOV writes it as a timecode track too
        if reel is not None:
            video.metadata["reel_name"] = reel  # which MOV puts on that track
        for index in range(20):
            rgb = np.full((48, 64, 3), index * 10, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = first_frame + index, Fraction(1, rate)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))


def test_a_cut_of_a_late_starting_video_moves_its_timecode_by_the_frames_cut(tmp_path, weights):
    # The video starts at 1 s on the file's clock; --start 0.2 counts from there: 5 frames
    # in. The timecode was moved by the first kept frame's file time, 1.2 s (30 frames).
    source, part = tmp_path / "late.mkv", tmp_path / "part.mkv"
    _clip_with_timecode(source, "01:00:00:00", key="TIMECODE", first_frame=25)
    upscale_video(source, part, weights=weights, progress=False, start=0.2)
    assert _timecodes(part) == ["01:00:00:05"]


def test_a_cut_starts_at_its_first_frames_timecode(tmp_path, weights):
    source, whole, part = tmp_path / "tc.mov", tmp_path / "whole.mov", tmp_path / "part.mov"
    _clip_with_timecode(source, "10:00:00:00")
    report = upscale_video(source, whole, weights=weights, progress=False)
    assert not [n for n in report.notes if "data stream" in n]  # the timecode track is kept
    report = upscale_video(source, part, weights=weights, progress=False, start=0.3)
    assert report.cut["first_frame_s"] == 0.32
    for path, timecode in ((whole, "10:00:00:00"), (part, "10:00:00:08")):  # frame 8
        with av.open(str(path)) as container:
            data = [s for s in container.streams if s.type == "data"]
            assert container.streams.video[0].metadata["timecode"] == timecode
            assert [s.metadata["timecode"] for s in data] == [timecode]


def test_the_reel_name_of_a_timecode_track_is_kept_where_the_output_can_hold_it(tmp_path, weights):
    # The output's timecode track was made from the timecode alone: a camera's reel name
    # (A001C003), by which conform and EDL work match clips, was lost without a word.
    source = tmp_path / "reel.mov"
    _clip_with_timecode(source, "01:00:00:00", reel="A001C003")
    with av.open(str(source)) as container:
        assert [s.metadata.get("reel_name") for s in container.streams.data] == ["A001C003"]
    reels = {}
    notes = {}
    for suffix in (".mov", ".mkv", ".mp4"):
        out = tmp_path / f"out{suffix}"
        report = upscale_video(source, out, weights=weights, progress=False)
        notes[suffix] = [n for n in report.notes if "reel" in n]
        with av.open(str(out)) as container:
            tags = [s.metadata for s in container.streams]
            reels[suffix] = [v for t in tags for k, v in t.items() if k.lower() == "reel_name"]
    assert reels == {".mov": ["A001C003"], ".mkv": ["A001C003"], ".mp4": []}
    assert notes[".mov"] == notes[".mkv"] == []
    assert notes[".mp4"] == [
        "the timecode track's reel name (A001C003) is not kept: libav writes it in .mov "
        "files only (.mov and .mkv keep it)"
    ]


def _timecodes(path: Path) -> list[str]:
    """Every timecode in the file: the container's, each stream's, any case."""
    with av.open(str(path)) as container:
        tags = [container.metadata, *(s.metadata for s in container.streams)]
        return [v for t in tags for k, v in t.items() if k.lower() == "timecode"]


def test_every_timecode_moves_the_containers_and_matroskas_too(tmp_path, weights):
    """MP4/MOV muxers prefer a container-level timecode to the video's; Matroska spells
    the tag TIMECODE."""
    mkv, cut_mkv, cut_mov = tmp_path / "tc.mkv", tmp_path / "cut.mkv", tmp_path / "cut.mov"
    _clip_with_timecode(mkv, "01:00:00:00", key="TIMECODE")
    upscale_video(mkv, cut_mkv, weights=weights, progress=False, start=0.4)
    upscale_video(mkv, cut_mov, weights=weights, progress=False, start=0.4)
    assert _timecodes(cut_mkv) == ["01:00:00:10"]
    assert set(_timecodes(cut_mov)) == {"01:00:00:10"}

    mov, cut = tmp_path / "both.mov", tmp_path / "both_cut.mp4"
    _clip_with_timecode(mov, "01:00:00:00")
    with av.open(str(mov)) as source, av.open(str(tmp_path / "tagged.mov"), "w") as tagged:
        tagged.metadata["timecode"] = "01:00:00:00"  # on the container as well
        stream = tagged.add_stream_from_template(source.streams.video[0])
        stream.metadata["timecode"] = "01:00:00:00"
        for packet in source.demux(source.streams.video[0]):
            if packet.size:
                packet.stream = stream
                tagged.mux(packet)
    upscale_video(tmp_path / "tagged.mov", cut, weights=weights, progress=False, start=0.4)
    assert set(_timecodes(cut)) == {"01:00:00:10"}


def test_a_timecode_mp4_cannot_count_is_dropped_with_a_note(tmp_path, weights):
    # A timecode track counts at most 255 frames a second: for a 300 fps slow-motion clip
    # the muxer refused the file as it was finished, after all the upscaling (a traceback).
    source, out = tmp_path / "fast.mkv", tmp_path / "fast.mp4"
    _clip_with_timecode(source, "01:00:00:00", key="TIMECODE", rate=300)
    report = upscale_video(source, out, weights=weights, progress=False)
    assert (
        "the timecode 01:00:00:00 is dropped: .mp4 timecode tracks count at most 255 frames "
        "a second, and the video has 300" in report.notes
    )
    assert _timecodes(out) == []
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 20


@pytest.mark.parametrize(
    ("timecode", "why"),
    [
        (
            "10:00:00;00",
            "a drop-frame one (';') runs only at 29.97 or 59.94 frames a second, not 25",
        ),
        ("10h00m00s", "this is no hh:mm:ss:ff time"),
    ],
)
def test_a_timecode_the_mp4_muxer_would_leave_out_is_named(tmp_path, weights, timecode, why):
    # libav's MP4 and MOV muxers write no timecode track for these and say nothing: a
    # 25 fps clip's Matroska TIMECODE tag "10:00:00;00" was lost without a note.
    source, out = tmp_path / "pal.mkv", tmp_path / "pal.mp4"
    _clip_with_timecode(source, timecode, key="TIMECODE")
    report = upscale_video(source, out, weights=weights, progress=False)
    assert f"the timecode {timecode} is dropped: .mp4 keeps a timecode as a track, and {why}" in (
        report.notes
    )
    assert _timecodes(out) == []
    # One libav takes is kept as before, a timecode track with it.
    _clip_with_timecode(source, "10:00:00:00", key="TIMECODE")
    report = upscale_video(source, out, weights=weights, progress=False, overwrite=True)
    assert set(_timecodes(out)) == {"10:00:00:00"}
    assert not [note for note in report.notes if "timecode" in note]


def _mpeg2_with_gop_timecode(path: Path, timecode: str, rate: Fraction, frames: int = 12) -> None:
    """Intra-only MPEG-2 (every frame its own GOP, as I-frame-only masters are), its GOP
    headers counting from `timecode`."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg2video", rate=rate, options={"gop_timecode": timecode})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.gop_size = 1
        for index in range(frames):
            rgb = np.full((48, 64, 3), 16 + 10 * index, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))


@pytest.mark.parametrize(
    ("name", "timecode", "rate"),
    [("a.m2v", "10:00:00:00", Fraction(25)), ("b.ts", "00:00:59;28", NTSC)],
)
def test_an_mpeg2_timecode_is_its_first_gop_headers_not_the_next_frames(
    name, timecode, rate, tmp_path, weights
):
    # libavcodec labels a frame with the GOP header read in the packet it is handed out
    # from, one packet late: the first frame said 10:00:00:01, and so did the output.
    source = tmp_path / name
    _mpeg2_with_gop_timecode(source, timecode, rate, frames=16)
    headers = gop_header_timecodes(source)
    assert headers[0] == timecode and len(headers) == 16
    for start in (Fraction(0), Fraction(2, 5)):  # 0.4 s: frame 10 at 25 fps, 12 at 29.97
        first_kept = math.ceil(start * rate)
        output = tmp_path / f"out{first_kept}.mkv"
        cut = {"start": float(start)} if start else {}
        upscale_video(source, output, weights=weights, progress=False, **cut)
        assert _timecodes(output) == [headers[first_kept]]


def _grey_ramp_mpeg2(
    path: Path, fmt: str, frames: int, options: dict[str, str], bit_rate: int | None = None
) -> None:
    """`frames` pictures of MPEG-2 at 25 fps, 64x48, picture n a flat grey of 16 + 8n,
    encoded with the encoder `options` (a GOP timecode, B-frames)."""
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("mpeg2video", rate=25, options=options)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        if bit_rate is not None:
            video.bit_rate = bit_rate
        for index in range(frames):
            rgb = np.full((48, 64, 3), 16 + 8 * index, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))


def _recording_from_its_second_gop(path: Path, fmt: str, timecode: str) -> None:
    """MPEG-2 with B-frames in open GOPs (I B B I B B ..., as broadcasts and DVDs code it),
    at 25 fps, its GOP headers counting from `timecode`, kept from its second GOP on: what a
    capture that starts mid-stream holds. That GOP's header names its leading B-pictures'
    time (display frame 1), which refer to a picture left out."""
    whole = path.with_name(f"whole{path.suffix}")
    _grey_ramp_mpeg2(whole, fmt, 24, {"gop_timecode": timecode, "bf": "2"})
    with av.open(str(whole)) as source, av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream_from_template(source.streams.video[0])
        headers = 0
        for packet in source.demux(video=0):
            headers += b"\x00\x00\x01\xb8" in bytes(packet)
            if packet.size and headers >= 2:
                packet.stream = video
                out.mux(packet)


@pytest.mark.parametrize(
    ("name", "fmt"), [("capture.ts", "mpegts"), ("cut.vob", "vob"), ("cut.m2v", "mpeg2video")]
)
def test_a_recording_that_opens_with_an_open_gop_is_timed_from_its_first_shown_frame(
    name, fmt, tmp_path, weights
):
    # Its first GOP header's time code is its leading B-pictures', which the decoder drops:
    # the first frame shown, the I-picture two pictures later, was labelled 10:00:00:01.
    source = tmp_path / name
    _recording_from_its_second_gop(source, fmt, "10:00:00:00")
    assert gop_header_timecodes(source)[:2] == ["10:00:00:01", "10:00:00:04"]
    with av.open(str(source)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 21  # B-pictures 1 and 2 dropped
    for start, expected in ((0, "10:00:00:03"), (0.4, "10:00:00:13")):  # 0.4 s: 10 frames on
        output = tmp_path / f"from{start}.mkv"
        cut = {"start": start} if start else {}
        upscale_video(source, output, weights=weights, progress=False, **cut)
        assert _timecodes(output) == [expected]


def _first_shown(source: Path, output: Path) -> int:
    """Which picture of _capture_from_mid_gop's `source` (by its grey, 16 + 8 a picture)
    the first frame of `output`, which runs to the source's end, is."""
    with av.open(str(source)) as container:
        greys = [f.to_ndarray(format="gray").mean() for f in container.decode(video=0)]
    with av.open(str(output)) as container:
        kept = sum(1 for _ in container.decode(video=0))
    return round((float(greys[len(greys) - kept]) - 16) / 8)


def _capture_from_mid_gop(path: Path, fmt: str) -> None:
    """MPEG-2 with B-frames at 25 fps, its GOP headers counting from 10:00:00:00, without its
    first two packets: it opens mid-GOP, with B-pictures that have no GOP header before
    them and no picture to refer to, as a capture that starts anywhere does."""
    whole = path.with_name(f"whole{path.suffix}")
    options = {"gop_timecode": "10:00:00:00", "g": "12", "bf": "2"}
    _grey_ramp_mpeg2(whole, fmt, 30, options, bit_rate=8_000_000)  # every picture's own grey
    with av.open(str(whole)) as source, av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream_from_template(source.streams.video[0])
        packets = [packet for packet in source.demux(video=0) if packet.size]
        first = bytes(packets[2])
        assert b"\x00\x00\x01\xb8" not in first  # it opens without a GOP header ...
        picture = first.find(b"\x00\x00\x01\x00")
        assert (first[picture + 5] >> 3) & 7 != 1  # ... and with no I-picture
        for packet in packets[2:]:
            packet.stream = video
            out.mux(packet)


@pytest.mark.parametrize(("name", "fmt"), [("capture.ts", "mpegts"), ("capture.m2v", "mpeg2video")])
def test_a_capture_that_starts_mid_gop_is_timed_from_its_first_i_pictures_gop(
    name, fmt, tmp_path, weights
):
    # Its first pictures have no GOP header before them: the output had no timecode, though
    # the decoder drops those pictures and shows from an I-picture that has one.
    source = tmp_path / name
    _capture_from_mid_gop(source, fmt)
    for start in (0, 0.4):
        output = tmp_path / f"from{start}.mkv"
        cut = {"start": start} if start else {}
        upscale_video(source, output, weights=weights, progress=False, **cut)
        shown = _first_shown(source, output)
        assert _timecodes(output) == [moved_timecode("10:00:00:00", shown, Fraction(25))]


def test_a_raw_m2v_is_opened_once_to_start_its_timecode_read_from_its_own_packets(
    tmp_path, monkeypatch
):
    # A raw .m2v was opened three times as its reader started: for its frames, to count its
    # length for progress, and again for its first GOP header's timecode. Its decode starts
    # at its top, cut or not: the timecode is read from the packets it demuxes.
    import vsr.video.reader
    from vsr.video.reader import VideoReader
    from vsr.video.trim import TimeRange

    opened = []
    open_source = vsr.video.reader.open_source

    def opening(*args):
        opened.append(args[0])
        return open_source(*args)

    monkeypatch.setattr(vsr.video.reader, "open_source", opening)
    source = tmp_path / "a.m2v"
    _mpeg2_with_gop_timecode(source, "10:00:00:00", Fraction(25), frames=16)
    for part, first in ((None, "10:00:00:00"), (TimeRange(Fraction(2, 5)), "10:00:00:10")):
        opened.clear()
        with VideoReader(source, time_range=part) as reader:
            assert reader.info.frame_timecode == first
            assert len(opened) == (1 if part is None else 2)  # a cut decodes from a reopening


def test_a_dv_clips_timecode_moves_by_the_frames_cut(tmp_path, weights):
    # The remuxer took DV's rate as libavformat states it, its time base turned over
    # (60000 fps): a cut of 0.08 s at 25 fps moved 10:00:00:00 to "10:00:00:4800".
    source, output = tmp_path / "in.dv", tmp_path / "out.mkv"
    with av.open(str(source), "w", format="dv") as out:
        out.metadata["timecode"] = "10:00:00:00"
        stream = out.add_stream("dvvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 720, 576, "yuv420p"
        for index in range(4):
            grey = np.full((576, 720, 3), 40 * index, np.uint8)
            frame = av.VideoFrame.from_ndarray(grey, format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    report = upscale_video(source, output, weights=weights, progress=False, start=0.08, end=0.1)
    assert report.frames == 1
    with av.open(str(output)) as container:
        assert container.metadata["TIMECODE"] == "10:00:00:02"
