"""Round trips through VideoReader and VideoWriter: frames, timestamps, pixels, other streams."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import make_clip, make_slide_show, picture_planes

from vsr.video.reader import Frame, VideoReader
from vsr.video.trim import TimeRange
from vsr.video.writer import EncodeSettings, VideoWriter


def decode_all(path: Path) -> tuple[VideoReader, list[Frame]]:
    with VideoReader(path) as reader:
        frames = list(reader.frames())
    return reader, frames


def transcode(
    source: Path, target: Path, settings: EncodeSettings
) -> tuple[list[Frame], list[str]]:
    """Decode `source` and encode every frame unchanged into `target` (same size)."""
    with VideoReader(source) as reader:
        info = reader.info
        with VideoWriter(target, info, info.width, info.height, settings) as writer:
            frames = []
            for frame in reader.frames():
                writer.write(frame.planes, frame.pts)
                frames.append(frame)
    return frames, writer.notes


def packets(path: Path, kind: str) -> list[tuple[bytes, float]]:
    """(payload, pts in seconds) of every non-empty packet of the first stream of a kind."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [(bytes(p), float(p.pts * p.time_base)) for p in container.demux(stream) if p.size]


def seconds(frames: list[Frame], time_base: Fraction) -> list[Fraction]:
    return [frame.pts * time_base for frame in frames]


def test_ffv1_round_trip_is_lossless_and_keeps_everything(tmp_path):
    source = tmp_path / "odd.mkv"
    made = make_clip(
        source, 101, 57, 6, codec="ffv1", vfr=True, rotation=90, subtitles=True, audio=True
    )
    decoded, notes = transcode(source, tmp_path / "out.mkv", EncodeSettings(codec="ffv1"))

    # The reader hands out exactly what the encoder was given (ffv1 is lossless).
    assert [f.pts for f in decoded] == [m.pts for m in made] == [0, 40, 80, 140, 160, 260]
    for frame, original in zip(decoded, made, strict=True):
        for plane, expected in zip(frame.planes, original.planes, strict=True):
            assert plane.flags.c_contiguous and plane.dtype == np.uint8
            np.testing.assert_array_equal(plane, expected)

    reader, output = decode_all(tmp_path / "out.mkv")
    assert (reader.info.width, reader.info.height) == (101, 57)
    assert reader.info.pix_fmt == "yuv420p"  # ffv1 takes odd sizes at 4:2:0
    assert reader.info.rotation == 90
    assert [f.pts for f in output] == [m.pts for m in made]
    for frame, original in zip(output, made, strict=True):
        for plane, expected in zip(frame.planes, original.planes, strict=True):
            np.testing.assert_array_equal(plane, expected)
    assert reader.lost_frames == 0 and reader.decoded_frames == 6
    assert packets(tmp_path / "out.mkv", "audio") == packets(source, "audio")
    assert packets(tmp_path / "out.mkv", "subtitles") == packets(source, "subtitles")
    assert not any("odd" in note for note in notes)


def test_h264_mp4_keeps_timestamps_audio_colour_and_metadata(tmp_path):
    source = tmp_path / "in.mp4"
    bt709 = (1, 1, 1, 1)  # matrix, range (tv), primaries, transfer
    make_clip(source, 64, 48, 8, colors=bt709)
    with av.open(str(source)) as container:
        source_tb = container.streams.video[0].time_base
    # Give the source container a title to carry over (remux it with one).
    titled = tmp_path / "titled.mp4"
    with av.open(str(source)) as src, av.open(str(titled), "w") as dst:
        dst.metadata["title"] = "round trip"
        mapping = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.size:
                packet.stream = mapping[packet.stream.index]
                dst.mux(packet)

    settings = EncodeSettings(codec="libx264", crf=12, preset="ultrafast")
    decoded, _ = transcode(titled, tmp_path / "out.mp4", settings)
    reader, output = decode_all(tmp_path / "out.mp4")

    assert len(output) == len(decoded) == 8
    assert seconds(output, reader.info.time_base) == seconds(decoded, source_tb)
    info = reader.info
    assert (info.color_matrix, info.color_range, info.color_primaries, info.color_trc) == (
        "bt709",
        "tv",
        "bt709",
        "bt709",
    )
    assert not info.color_matrix_guessed
    assert packets(tmp_path / "out.mp4", "audio") == packets(titled, "audio")
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.metadata.get("title") == "round trip"
    # Lossy but close: the mean error of the luma plane stays small at crf 12.
    error = np.mean(
        [
            np.abs(a.planes[0].astype(int) - b.planes[0]).mean()
            for a, b in zip(decoded, output, strict=True)
        ]
    )
    assert error < 2.0


def test_ten_bit_stays_ten_bit(tmp_path):
    source = tmp_path / "ten.mp4"
    make_clip(source, 64, 48, 4, pix_fmt="yuv420p10le", audio=False)
    decoded, _ = transcode(source, tmp_path / "out.mkv", EncodeSettings(crf=10))
    assert decoded[0].planes[0].dtype == np.uint16
    assert decoded[0].planes[0].max() > 255  # real 10-bit values, not 8-bit in 16
    reader, output = decode_all(tmp_path / "out.mkv")
    assert (reader.info.pix_fmt, reader.info.bit_depth) == ("yuv420p10le", 10)
    assert output[0].planes[0].dtype == np.uint16
    assert np.abs(output[0].planes[0].astype(int) - decoded[0].planes[0]).mean() < 8


@pytest.mark.parametrize(("width", "height"), [(101, 57), (100, 57)])  # odd height alone
def test_odd_size_with_libx264_keeps_the_exact_size(tmp_path, width, height):
    """libx264 refuses odd sizes at 4:2:0; the writer switches to 4:4:4 and says so."""
    source = tmp_path / "odd.mkv"
    made = make_clip(source, width, height, 3, codec="ffv1", audio=False)
    with VideoReader(source) as reader:
        info = reader.info
        with VideoWriter(tmp_path / "out.mp4", info, width, height, EncodeSettings()) as writer:
            assert (writer.pix_fmt, writer.chroma_shift) == ("yuv444p", (0, 0))
            assert any(f"odd size {width}x{height}" in note for note in writer.notes)
            for frame in reader.frames():
                y, u, v = frame.planes
                # The engine would convert to 4:4:4; here chroma is simply repeated.
                full = [np.repeat(np.repeat(c, 2, 0), 2, 1)[:height, :width] for c in (u, v)]
                writer.write((y, full[0], full[1]), frame.pts)
    reader, output = decode_all(tmp_path / "out.mp4")
    assert (reader.info.width, reader.info.height) == (width, height)
    assert reader.info.pix_fmt == "yuv444p"
    assert len(output) == len(made)


def test_854x480_doubled_gives_exactly_twice_the_size(tmp_path):
    source = tmp_path / "wide.mp4"
    make_clip(source, 854, 480, 2)
    with VideoReader(source) as reader:
        info = reader.info
        settings = EncodeSettings(preset="ultrafast")
        with VideoWriter(tmp_path / "out.mp4", info, 1708, 960, settings) as writer:
            for frame in reader.frames():
                planes = tuple(np.repeat(np.repeat(p, 2, 0), 2, 1) for p in frame.planes)
                writer.write(planes, frame.pts)
    reader, output = decode_all(tmp_path / "out.mp4")
    assert (reader.info.width, reader.info.height) == (1708, 960)
    assert [f.pts for f in output] == [0, 512]
    assert reader.info.color_matrix == "bt601"  # 480 rows, untagged: guessed and kept
    assert packets(tmp_path / "out.mp4", "audio") == packets(source, "audio")


@pytest.mark.parametrize(("size", "matrix"), [((1280, 544), "bt709"), ((1024, 576), "bt601")])
def test_an_untagged_clip_is_hd_by_its_width_too(tmp_path, size, matrix):
    # 720p cropped to 2.39:1 was taken for SD (BT.601) by its 544 rows, where mpv and
    # libplacebo show it as HD (BT.709): converted and tagged so, its colours shifted.
    make_clip(tmp_path / "in.mp4", *size, 1, audio=False)
    with VideoReader(tmp_path / "in.mp4") as reader:
        assert reader.info.color_matrix_tag is None
        assert reader.info.color_matrix == matrix


def test_an_hlg_clip_names_its_transfer_as_ffmpeg_does(tmp_path):
    # The name goes into the report and, by name, to ffmpeg's -color_trc: it must be the one
    # FFmpeg knows (av_color_transfer_name), not only one that maps back to code 18.
    make_clip(tmp_path / "in.mp4", 64, 36, 1, audio=False, colors=(9, 1, 9, 18))
    with VideoReader(tmp_path / "in.mp4") as reader:
        assert reader.info.color_trc == "arib-std-b67"


def test_aac_is_reencoded_for_webm(tmp_path):
    source = tmp_path / "in.mp4"
    make_clip(source, 64, 48, 3)
    settings = EncodeSettings(codec="libvpx-vp9", options={"deadline": "realtime"})
    _, notes = transcode(source, tmp_path / "out.webm", settings)
    assert any("re-encoded to libopus" in note for note in notes)
    reader, output = decode_all(tmp_path / "out.webm")
    assert len(output) == 3
    with av.open(str(tmp_path / "out.webm")) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
    assert packets(tmp_path / "out.webm", "audio")


def test_vfr_h264_in_mkv_keeps_pts_and_rotation(tmp_path):
    source = tmp_path / "vfr.mkv"
    made = make_clip(source, 64, 48, 7, vfr=True, rotation=270)
    _, _ = transcode(source, tmp_path / "out.mkv", EncodeSettings())
    reader, output = decode_all(tmp_path / "out.mkv")
    assert [f.pts for f in output] == [m.pts for m in made]
    assert reader.info.time_base == Fraction(1, 1000)
    assert reader.info.rotation == 270


@pytest.mark.parametrize(
    ("codec", "stored_as", "expected", "color_range"),
    [
        ("ffv1", "bgr0", "yuv444p", "pc"),  # RGB: full chroma, full range
        ("ffv1", "gray", "yuv420p", "pc"),
        ("ffv1", "gray10le", "yuv420p10le", "pc"),
        ("mjpeg", "yuvj420p", "yuv420p", "pc"),  # JPEG range tagged, not rescaled
        ("ffv1", "yuv422p", "yuv422p", "tv"),
    ],
)
def test_any_source_format_becomes_planar_yuv(tmp_path, codec, stored_as, expected, color_range):
    source = tmp_path / "src.mkv"
    make_clip(source, 48, 32, 2, codec=codec, source_format=stored_as, audio=False)
    reader, frames = decode_all(source)
    assert reader.info.source_pix_fmt == stored_as
    assert (reader.info.pix_fmt, reader.info.color_range) == (expected, color_range)
    depth, (sx, sy) = reader.info.bit_depth, reader.info.chroma_shift
    y, u, v = frames[0].planes
    assert y.shape == (32, 48) and u.shape == v.shape == (32 >> sy, 48 >> sx)
    assert y.dtype == (np.uint8 if depth == 8 else np.uint16)
    assert int(y.max()) < (1 << depth)


def test_audio_is_copied_alongside_the_video_not_all_at_once(tmp_path):
    """Bounded memory: audio is pulled from the source only as far as the video has got."""
    source = tmp_path / "long.mkv"
    make_clip(source, 32, 32, 75, codec="ffv1")  # 3 s of video, 150 audio packets
    total = len(packets(source, "audio"))
    with VideoReader(source) as reader:
        info = reader.info
        with VideoWriter(tmp_path / "out.mkv", info, 32, 32, EncodeSettings("ffv1")) as writer:
            frames = reader.frames()
            first = next(frames)
            writer.write(first.planes, first.pts)
            early = writer._copier.copied_packets
            for frame in frames:
                writer.write(frame.planes, frame.pts)
    assert 0 < early < total / 2  # about LEAD_SECONDS worth, not the whole track
    assert packets(tmp_path / "out.mkv", "audio") == packets(source, "audio")
    # The file is interleaved: in file order, audio never runs far ahead of video.
    with av.open(str(tmp_path / "out.mkv")) as container:
        latest = {"video": 0.0, "audio": 0.0}
        for packet in container.demux():
            if packet.size and packet.pts is not None:
                latest[packet.stream.type] = float(packet.pts * packet.time_base)
                assert abs(latest["audio"] - latest["video"]) < 1.5


def test_a_repeated_source_time_moves_one_tick_and_the_frames_after_it_none(tmp_path):
    # The repeat was moved a whole frame on, and every frame after it with it (0 40 80 120
    # 160 ms): the picture drifted from the sound by a frame.
    source, out = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(source, 32, 32, frames=5, codec="ffv1", audio=False, vfr=True)  # 1 ms ticks
    with VideoReader(source) as reader:
        info = reader.info
    with VideoWriter(out, info, 32, 32, EncodeSettings("ffv1")) as writer:
        for pts in (0, 40, 40, 80, 120):
            writer.write(picture_planes(32, 32, pts), pts)
    assert writer.notes == ["non-increasing timestamps in the source were renumbered"]
    with VideoReader(out) as reader:
        assert [f.pts for f in reader.frames()] == [0, 40, 41, 80, 120]


def test_text_subtitles_are_converted_where_the_container_needs_it(tmp_path):
    source = tmp_path / "subs.mkv"
    make_clip(source, 32, 32, 5, codec="ffv1", audio=False, subtitles=True)
    _, notes = transcode(source, tmp_path / "out.mp4", EncodeSettings(preset="ultrafast"))
    assert any("converted to mov_text" in note for note in notes)
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.subtitles[0]
        assert stream.codec_context.name == "mov_text"
        texts = [(bytes(p)[2:], p.pts * p.time_base) for p in container.demux(stream) if p.size]
    # mov_text samples are a 2-byte length and the text; the muxer fills gaps with empties.
    assert [(t, s) for t, s in texts if t] == [
        (b"first line", 0),
        (b"second line", Fraction(1, 10)),
    ]


def _cues(path: Path) -> list[tuple[bytes, int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        return [(bytes(p), p.pts, p.duration) for p in container.demux(stream) if p.size]


@pytest.mark.parametrize("to", [".mp4", ".mkv"])
def test_mp4_text_cues_are_copied_once_and_their_gaps_not_converted(tmp_path, to):
    # The muxer's empty gap cues were copied as cues, and the muxer added its own: each
    # gap came twice. Converted for Matroska, a gap must not become a subtitle either.
    source = tmp_path / "subs.mkv"
    make_clip(source, 32, 32, 5, codec="ffv1", audio=False, subtitles=True)
    settings = EncodeSettings(preset="ultrafast")
    transcode(source, tmp_path / "once.mp4", settings)
    transcode(tmp_path / "once.mp4", tmp_path / f"twice{to}", settings)
    if to == ".mp4":
        assert _cues(tmp_path / "twice.mp4") == _cues(tmp_path / "once.mp4")
    else:
        assert [text for text, _, _ in _cues(tmp_path / "twice.mkv")] == [
            b"first line",
            b"second line",
        ]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_long_last_frame_is_not_a_truncation(tmp_path, suffix):
    # A slide show: frames at 0, 1 and 2 s, the last one shown for 5 s (7 s in all). Taken
    # as lasting one average frame, its length read as missing frames of a cut file.
    path = make_slide_show(tmp_path / f"slides{suffix}")
    with VideoReader(path) as reader:
        frames = list(reader.frames())
        assert len(frames) == 3
        assert (reader.lost_frames, reader.warnings) == (0, [])
    with VideoReader(path) as reader:  # resumed after the last frame: nothing missing
        reader.resume_after(frames[-1].pts, 1)
        assert list(reader.frames()) == []
        assert (reader.lost_frames, reader.warnings) == (0, [])
    # --end 6 lies within the last slide; --end 8 past the clip's end.
    for end, warnings in ((6, []), (8, ["the clip ends at 7.000 s, before the requested end"])):
        with VideoReader(path, time_range=TimeRange(Fraction(0), Fraction(end))) as reader:
            assert len(list(reader.frames())) == 3
            assert [w[: len(w) - len(" (8.000 s)")] for w in reader.warnings] == warnings


def test_transparency_that_the_output_cannot_keep_is_named(tmp_path):
    # An alpha channel alone is no reason for a note (GIFs decode with one); transparent
    # pixels are.
    for name, alpha in (("see-through.mkv", 0), ("opaque.mkv", 255)):
        path = tmp_path / name
        out = av.open(str(path), "w")
        video = out.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuva420p"
        rgba = np.full((48, 64, 4), 200, np.uint8)
        rgba[..., 3] = 255
        rgba[:, :32, 3] = alpha
        frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="yuva420p")
        frame.pts = 0
        out.mux(video.encode(frame))
        out.mux(video.encode(None))
        out.close()
        with VideoReader(path) as reader:
            told = [w for w in reader.warnings if "transparent parts" in w]
            assert len(told) == (alpha < 255), name
