"""Streams and metadata beyond the pictures: audio a muxer refuses, pixel aspect ratio,
HDR10 static metadata, Matroska attachments, cover pictures."""

from __future__ import annotations

import ctypes
import io
import json
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import (
    frame_from_planes,
    gop_header_timecodes,
    make_bmp_cover_mp4,
    make_clip,
    make_dolby_vision_tagged_clip,
    make_empty_scte35_ts,
    make_gopro_clip,
    make_unregistered_dirac_ts,
    picture_planes,
)
from PIL import Image

from vsr import EncodeSettings, upscale_video
from vsr.cli import main
from vsr.video.hdr import Hdr10, hdr10_of
from vsr.video.subtitle_header import PLAIN_HEADER, header_for_conversion


def vsr(*args: object) -> int:
    return main(["run", *map(str, args), "--quiet"])


def _video(
    path: Path, *, sar=None, x265_params=None, attachment=None, audio=None, title="", hz=48000
) -> Path:
    """64x48, 4 frames; optional SAR, x265 HDR params, an mkv attachment, one audio track
    given as (codec, layout) with 0.16 s of silence at `hz`, and a title for each track
    ("TITLE video", "TITLE audio")."""
    codec = "libx265" if x265_params else "libx264"
    options = {"x265-params": x265_params} if x265_params else {"bf": "0"}
    out = av.open(str(path), "w")
    video = out.add_stream(codec, rate=25, options=options)
    video.width, video.height = 64, 48
    video.pix_fmt = "yuv420p10le" if x265_params else "yuv420p"
    if sar:
        video.codec_context.sample_aspect_ratio = sar
    if x265_params:
        cc = video.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 9, 9, 16, 1
    if attachment:
        out.add_attachment("font.ttf", "application/x-truetype-font", attachment)
    sound = None
    if audio:
        sound = out.add_stream(audio[0], rate=hz)
        sound.layout = audio[1]
    if title:
        video.metadata["title"] = f"{title} video"
        if sound is not None:
            sound.metadata["title"] = f"{title} audio"
    for i in range(4):
        rgb = np.full((48, 64, 3), 40 * i, np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=video.pix_fmt)
        frame.pts = i
        out.mux(video.encode(frame))
    out.mux(video.encode(None))
    if sound is not None:
        fmt = sound.codec_context.format.name
        channels = len(sound.layout.channels)
        chunk_samples = hz // 50
        for k in range(8):
            shape = (
                (channels, chunk_samples) if fmt.endswith("p") else (1, chunk_samples * channels)
            )
            dtype = np.int16 if fmt.startswith("s16") else np.float32
            chunk = av.AudioFrame.from_ndarray(
                np.zeros(shape, dtype), format=fmt, layout=sound.layout
            )
            chunk.sample_rate, chunk.pts = hz, k * chunk_samples
            out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))
    out.close()
    return path


@pytest.mark.parametrize(
    ("name", "audio", "target"),
    [
        ("opus.mkv", ("libopus", "stereo"), "out.mov"),
        ("pcm.mkv", ("pcm_s16le", "2 channels"), "out.mp4"),
    ],
)
def test_audio_the_muxer_refuses_is_reencoded_not_a_traceback(
    tmp_path, weights, name, audio, target
):
    # MOV lists Opus and MP4 lists PCM among their codecs, yet refuse these streams.
    source = _video(tmp_path / name, audio=audio)
    assert vsr(source, tmp_path / target, "--weights", weights) == 0
    with av.open(str(tmp_path / target)) as container:
        assert len(container.streams.audio) == 1
        assert sum(1 for p in container.demux(audio=0) if p.size) > 0


@pytest.mark.parametrize(
    ("audio", "target", "layout"),
    [
        (("ac3", "5.1(side)"), "out.webm", "5.1"),  # what AC-3 and DTS decoders give
        (("pcm_s16le", "3 channels"), "out.webm", "3.0"),
        (("pcm_s16le", "22.2"), "out.mp4", "7.1"),
    ],
)
def test_a_layout_the_audio_encoder_refuses_is_mapped_to_one_it_takes(
    tmp_path, weights, audio, target, layout
):
    # It failed the run, blaming the video codec: "libvpx-vp9 cannot be stored in .webm".
    source = _video(tmp_path / "in.mkv", audio=audio)
    report = upscale_video(source, tmp_path / target, weights=weights, progress=False)
    with av.open(str(tmp_path / target)) as container:
        (stream,) = container.streams.audio
        assert stream.layout.name == layout
        assert sum(1 for p in container.demux(audio=0) if p.size) > 0
    assert any(f"to {layout}, which" in note for note in report.notes), report.notes


def test_a_layout_no_layout_of_its_count_fits_is_downmixed_rather_than_upmixed(monkeypatch):
    # As ffmpeg's CLI does: of the layouts the encoder takes, the nearest with fewer
    # channels, even where one with more is as near.
    from vsr.video import remux

    taken = {"mono", "stereo", "5.1"}
    monkeypatch.setattr(remux, "audio_encoder_takes", lambda codec, rate, name: name in taken)
    assert remux.encoder_layout("aac", 48000, "quad") == "stereo"
    assert remux.encoder_layout("aac", 48000, "5.1(side)") == "5.1"


@pytest.mark.parametrize(
    ("hz", "target", "taken"),
    # The highest Opus takes. PCM went into MP4 as AAC at 96 kHz before: it is now FLAC at
    # 192 kHz there (tests/test_lossless_audio.py), so only a lossy-only WebM resamples it.
    [(192000, "out.webm", 48000), (22050, "out.webm", 48000)],
)
def test_a_sample_rate_the_audio_encoder_refuses_is_resampled_with_a_note(
    tmp_path, weights, hz, target, taken
):
    source = _video(tmp_path / "in.mkv", audio=("pcm_s16le", "stereo"), hz=hz)
    report = upscale_video(source, tmp_path / target, weights=weights, progress=False)
    with av.open(str(tmp_path / target)) as container:
        (stream,) = container.streams.audio
        assert stream.sample_rate == taken
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert abs(samples / taken - 0.16) < 0.03  # the same length (encoder padding aside)
    assert any(f"(resampled from {hz} to {taken} Hz, which" in n for n in report.notes)


def test_a_refused_audio_encoder_is_not_blamed_on_the_video_codec(tmp_path, weights, monkeypatch):
    from vsr.errors import VsrError
    from vsr.video import remux

    monkeypatch.setattr(remux, "encoder_layout", lambda codec, rate, layout: layout)
    source = _video(tmp_path / "in.mkv", audio=("ac3", "5.1(side)"))
    # It named both ("libvpx-vp9 or the audio re-encoded with libopus was refused").
    with pytest.raises(VsrError, match=r"\): the audio re-encoded with libopus was refused"):
        upscale_video(source, tmp_path / "out.webm", weights=weights, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


@pytest.mark.parametrize("codec", ["libvpx-vp9", "libsvtav1"])
def test_a_video_codec_refused_beside_re_encoded_audio_is_the_one_blamed(tmp_path, weights, codec):
    # MOV refuses VP9 and AV1 at its header; with Opus to re-encode as AAC the error said
    # "libvpx-vp9 or the audio re-encoded with aac was refused".
    from vsr.errors import VsrError
    from vsr.video.writer import EncodeSettings

    source = _video(tmp_path / "in.mkv", audio=("libopus", "stereo"))
    settings = EncodeSettings(codec=codec)
    with pytest.raises(VsrError, match=rf"^{codec} cannot be stored in \.mov files \(") as error:
        upscale_video(
            source, tmp_path / "out.mov", weights=weights, settings=settings, progress=False
        )
    assert "audio" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


def test_sample_aspect_ratio_is_kept(tmp_path, weights):
    source = _video(tmp_path / "in.mp4", sar=Fraction(16, 11))
    out = tmp_path / "out.mp4"
    assert vsr(source, out, "--weights", weights) == 0
    with av.open(str(out)) as container:
        assert container.streams.video[0].sample_aspect_ratio == Fraction(16, 11)


def test_a_size_of_another_aspect_reshapes_the_pixels_to_keep_the_picture(tmp_path, weights):
    # 64x48 pixels of 16:11 show 93.1x48. Made 128x66 (--size undoing the squeeze) the
    # pixels are square; made 128x80, 40:33: both still show the source's 64*16/11:48.
    source = _video(tmp_path / "in.mp4", sar=Fraction(16, 11))
    for size, shape in (("128x66", Fraction(1)), ("128x80", Fraction(40, 33))):
        out = tmp_path / f"out{size}.mp4"
        assert vsr(source, out, "--weights", weights, "--size", size) == 0
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == tuple(map(int, size.split("x")))
            assert (stream.sample_aspect_ratio or 1) == shape


def test_an_output_that_cannot_keep_the_pixel_shape_says_so(tmp_path, weights):
    # WebM and Matroska keep non-square pixels only in codecs that store them in their own
    # stream (vsr.video.writer.PIXEL_SHAPE_IN_STREAM); VP9 does not.
    source = _video(tmp_path / "in.mp4", sar=Fraction(16, 11))
    for name, codec, shape in (("out.webm", None, 1), ("out.mkv", "libx264", Fraction(16, 11))):
        settings = EncodeSettings(codec=codec) if codec else None
        report = upscale_video(source, tmp_path / name, weights=weights, progress=False,
                               settings=settings)  # fmt: skip
        told = [n for n in report.notes if "pixels are 16:11" in n]
        with av.open(str(tmp_path / name)) as container:
            assert (container.streams.video[0].sample_aspect_ratio or 1) == shape
        assert len(told) == (shape == 1), report.notes
        assert not any("libx264" in note for note in told)  # WebM cannot take it


def test_track_titles_of_an_mp4_are_kept(tmp_path, weights):
    # libav reads an MP4 track's title back as "name" but writes it from "title": copied
    # under "name" it was lost in MP4 and MOV, and was no track title in Matroska.
    source = _video(tmp_path / "in.mp4", audio=("aac", "stereo"), title="Español")
    with av.open(str(source)) as container:
        assert [s.metadata.get("name") for s in container.streams] == [
            "Español video",
            "Español audio",
        ]
    for name, key in (("out.mp4", "name"), ("out.mov", "name"), ("out.mkv", "title")):
        assert vsr(source, tmp_path / name, "--weights", weights) == 0
        with av.open(str(tmp_path / name)) as container:
            titles = [s.metadata.get(key) for s in container.streams]
            assert titles == ["Español video", "Español audio"], name


def test_a_track_with_a_title_and_a_name_tag_keeps_its_title(tmp_path, weights):
    # Only a "name" without a "title" is an MP4's title read back: a Matroska track with
    # both has its own title, which a NAME tag (a tool's) must not replace.
    source = _video(tmp_path / "in.mkv", audio=("aac", "stereo"))
    tags = {"title": "T {type}", "NAME": "n {type}"}
    tagged = _retagged(source, tmp_path / "tagged.mkv", {}, tags)
    out = tmp_path / "out.mkv"
    assert vsr(tagged, out, "--weights", weights) == 0
    with av.open(str(out)) as container:
        tags = [{k.lower(): v for k, v in s.metadata.items()} for s in container.streams]
    assert [(t.get("title"), t.get("name")) for t in tags] == [
        ("T video", "n video"),
        ("T audio", "n audio"),
    ]


def test_the_matroska_video_track_is_flagged_default(tmp_path, weights):
    # Players pick the tracks flagged default. The source flags none (PyAV's Matroska
    # writes FlagDefault 0): the new video and the copied audio both get it.
    source = _video(tmp_path / "in.mkv", audio=("aac", "stereo"))
    out = tmp_path / "out.mkv"
    assert vsr(source, out, "--weights", weights) == 0
    with av.open(str(out)) as container:
        flags = [s.disposition & av.stream.Disposition.default for s in container.streams]
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert all(flags)


def test_attachments_are_kept_in_matroska(tmp_path, weights):
    source = _video(tmp_path / "in.mkv", attachment=b"fontdata")
    out = tmp_path / "out.mkv"
    assert vsr(source, out, "--weights", weights) == 0
    with av.open(str(out)) as container:
        assert [bytes(a.data) for a in container.streams.attachments] == [b"fontdata"]
    # MP4 cannot hold one: the note names the file, without a "(?)" codec.
    report = upscale_video(source, tmp_path / "out.mp4", weights=weights, progress=False)
    assert "attachment stream #1 font.ttf: dropped, .mp4 cannot hold attachments" in report.notes


HDR = (
    "log-level=error:hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)"
    "WP(15635,16450)L(10000000,1):max-cll=1000,400"
)


def _hdr_side_data(path: Path) -> dict[str, bytes]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return {
            s.type.name: ctypes.string_at(s.buffer_ptr, s.buffer_size)
            for s in frame.side_data
            if s.type.name in ("MASTERING_DISPLAY_METADATA", "CONTENT_LIGHT_LEVEL")
        }


def test_hdr10_static_metadata_is_kept_with_libx265(tmp_path, weights):
    source = _video(tmp_path / "in.mkv", x265_params=HDR)
    out = tmp_path / "out.mkv"
    assert vsr(source, out, "--weights", weights, "--codec", "libx265") == 0
    expected = _hdr_side_data(source)
    assert len(expected) == 2
    assert _hdr_side_data(out) == expected


def test_hdr10_static_metadata_is_kept_with_libsvtav1(tmp_path, weights):
    # AV1 stores the chromaticities in 1/65536 steps and the luminance in its own fixed
    # point, so the values come back as the nearest AV1 can say, not bit for bit.
    source = _video(tmp_path / "in.mkv", x265_params=HDR)
    out = tmp_path / "out.mkv"
    assert vsr(source, out, "--weights", weights, "--codec", "libsvtav1") == 0
    with av.open(str(source)) as container:
        wanted = hdr10_of(next(container.decode(video=0)))
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
        assert container.streams.video[0].codec_context.name in ("av1", "libdav1d", "libaom-av1")
        got = hdr10_of(frame)
    assert wanted.light == got.light == (1000, 400)
    assert wanted.display[0] == (0.265, 0.69)  # G(13250,34500) in 1/50000
    for (wx, wy), (gx, gy) in zip(wanted.display, got.display, strict=True):
        assert abs(wx - gx) < 2e-5 and abs(wy - gy) < 2e-5
    # Peak in 1/256 cd/m² steps, minimum in 1/16384.
    assert got.luminance[1] == wanted.luminance[1] == 1000
    assert abs(got.luminance[0] - wanted.luminance[0]) <= 1 / 16384
    assert (frame.color_primaries, frame.color_trc) == (9, 16)  # BT.2020, PQ


def test_hdr10_is_spelled_as_each_encoder_reads_it():
    hdr = Hdr10(
        ((0.265, 0.69), (0.15, 0.06), (0.68, 0.32), (0.3127, 0.329)), (0.0001, 1000), (1000, 400)
    )
    assert hdr.params_for("libx265") == (
        "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
        ":max-cll=1000,400"
    )
    assert hdr.params_for("libsvtav1") == (
        "mastering-display=G(0.265,0.69)B(0.15,0.06)R(0.68,0.32)WP(0.3127,0.329)L(1000,0.0001)"
        ":content-light=1000,400"
    )
    assert Hdr10(light=(500, 100)).params_for("libsvtav1") == "content-light=500,100"


def test_a_mastering_display_without_a_content_light_level_is_read(tmp_path):
    """Many masters leave MaxCLL/MaxFALL unknown; SVT-AV1 then writes the mastering display
    alone (x265 always writes both), and that half is still HDR10 metadata to keep."""
    path = tmp_path / "in.mkv"
    params = "mastering-display=G(0.265,0.69)B(0.15,0.06)R(0.68,0.32)WP(0.3127,0.329)L(1000,0.0001)"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libsvtav1", rate=25, options={"svtav1-params": params})
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p10le"
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(
                np.zeros((64, 64, 3), np.uint8), format="rgb24"
            ).reformat(format="yuv420p10le")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    with av.open(str(path)) as container:
        hdr = hdr10_of(next(container.decode(video=0)))
    assert hdr is not None and hdr.light is None
    assert hdr.display[0] == pytest.approx((0.265, 0.69), abs=2e-5)
    assert hdr.luminance[1] == 1000


def test_a_mastering_display_stating_only_its_luminance_gives_no_primaries(monkeypatch):
    """AVMasteringDisplayMetadata flags its two halves apart; one that knows the peak but not
    the gamut must not be written as a display whose primaries all sit at (0, 0)."""
    unset_primaries = [0, 1] * 8
    luminance = [1, 10000, 1000, 1]  # 0.0001 to 1000 cd/m²
    mastering = struct.pack("<20i2i", *unset_primaries, *luminance, 0, 1)
    light = struct.pack("<2I", 1000, 400)
    side_data = {"MASTERING_DISPLAY_METADATA": mastering, "CONTENT_LIGHT_LEVEL": light}
    monkeypatch.setattr("vsr.video.hdr._side_data_bytes", lambda frame, name: side_data[name])
    hdr = hdr10_of(None)
    assert (hdr.display, hdr.luminance, hdr.light) == (None, None, (1000, 400))
    assert hdr.params_for("libx265") == "max-cll=1000,400"


def _with_cover(path: Path) -> bytes:
    """An MP4 with a cover picture (a one-packet MJPEG stream marked attached_pic) after
    4 frames of video; returns the picture's bytes."""
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=25)
    video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
    cover = out.add_stream("mjpeg", rate=1)
    cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
    cover.disposition = av.stream.Disposition.attached_pic
    picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 200, np.uint8), format="rgb24")
    packets = cover.encode(picture.reformat(format="yuvj420p")) + cover.encode(None)
    for index in range(4):
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 40, np.uint8), "rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = index, Fraction(1, 25)
        out.mux(video.encode(frame))
    out.mux(video.encode(None))
    data = bytes(packets[0])
    out.mux(packets)
    out.close()
    return data


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_cover_picture_is_kept_and_not_upscaled(tmp_path, weights, suffix):
    source, out = tmp_path / "cover.mp4", tmp_path / f"out{suffix}"
    picture = _with_cover(source)
    assert vsr(source, out, "--weights", weights, "--start", "0.04") == 0  # with a cut, too
    with av.open(str(out)) as container:
        streams = container.streams.video
        covers = [s for s in streams if s.disposition & av.stream.Disposition.attached_pic]
        assert len(streams) == 2 and len(covers) == 1
        assert (streams[0].width, streams[0].height) == (128, 96)  # the video upscaled
        stored = [bytes(p) for p in container.demux(covers[0]) if p.size]
    assert stored == [picture]  # the cover as it was (MP4: its stream; Matroska: attached)


def _upscale_a_bmp_cover(
    source: Path, out: Path, weights: Path, *flags: str
) -> tuple[dict[str, str], list[str]]:
    """Make `source`, a clip whose cover is a two-coloured BMP, and upscale it into `out` with
    `flags`, asking that the cover comes out as one PNG with every pixel as it was; returns
    that cover's stream metadata and the report's notes."""
    picture = np.zeros((16, 24, 3), np.uint8)
    picture[:, :12], picture[:8, 12:] = (200, 10, 30), (5, 250, 90)
    make_bmp_cover_mp4(source, picture)
    report = out.with_suffix(".json")
    assert vsr(source, out, "--weights", weights, *flags, "--report", report) == 0
    with av.open(str(out)) as container:
        covers = [s for s in container.streams.video if s.disposition & 1024]
        assert [s.codec_context.name for s in covers] == ["png"]
        metadata = dict(covers[0].metadata)
        stored = next(container.decode(covers[0])).to_ndarray(format="rgb24")
    assert np.array_equal(stored, picture)
    return metadata, json.loads(report.read_text())["notes"]


def test_a_bmp_cover_goes_into_mp4_as_png_with_its_pixels(tmp_path, weights):
    """MP4 holds BMP covers and libav reads them, but PyAV writes none: it was dropped
    ("cannot hold it"). It is stored as PNG now, every pixel as it was."""
    source = tmp_path / "bmp.mp4"
    _, notes = _upscale_a_bmp_cover(source, tmp_path / "out.mp4", weights, "--start", "0.04")
    with av.open(str(source)) as container:
        assert container.streams.video[1].codec_context.name == "bmp"
    assert (
        "video stream #1 (bmp): the cover picture stored as PNG, its pixels unchanged "
        "(vsr cannot write bmp into .mp4)" in notes
    )


def _tiff_cover_mkv(path: Path, picture: Image.Image | bytes) -> Path:
    """A Matroska file of 4 frames with `picture` (a TIFF file's bytes, or a picture saved
    as one) attached as its cover (libav reads an image/tiff attachment as a cover)."""
    if isinstance(picture, Image.Image):
        tiff = io.BytesIO()
        picture.save(tiff, "TIFF")
        picture = tiff.getvalue()
    return _mkv_with_attachment(path, "cover.tif", "image/tiff", picture)


def _png_cover_of_an_mp4_run(tmp_path: Path, weights, picture: Image.Image | bytes):
    """Upscale a Matroska clip with `picture` as its TIFF cover into .mp4: the cover the
    output holds (stored as PNG, decoded) and the run's notes."""
    source, out, report = tmp_path / "in.mkv", tmp_path / "out.mp4", tmp_path / "r.json"
    _tiff_cover_mkv(source, picture)
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    with av.open(str(out)) as container:
        covers = [s for s in container.streams.video if s.disposition & 1024]
        assert [s.codec_context.name for s in covers] == ["png"]
        stored = next(container.decode(covers[0]))
    return stored, json.loads(report.read_text())["notes"]


def _mkv_with_attachment(path: Path, name: str, mime: str, data: bytes) -> Path:
    """A Matroska file of 4 frames with one attachment."""
    plain = _video(path.with_name("plain.mkv"))
    with av.open(str(path), "w") as target, av.open(str(plain)) as source:
        target.add_attachment(name, mime, data)
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.size:
                packet.stream = stream
                target.mux(packet)
    return path


def test_a_cmyk_tiff_cover_is_converted_to_rgb_as_a_still_is_and_the_note_says_so(
    tmp_path, weights
):
    """A CMYK TIFF cover has no PNG form: libav's decoder converted it to RGB, off by one
    (no ink, 255, read 254), and the note said "its pixels unchanged". It is converted as
    `vsr image` converts a CMYK still, and the note says so."""
    inks = np.zeros((6, 8, 4), np.uint8)
    inks[:, :4, 1] = 255  # magenta
    inks[:3, :, 3] = 128  # half black
    picture = Image.fromarray(inks, "CMYK")
    cover, notes = _png_cover_of_an_mp4_run(tmp_path, weights, picture)
    stored = cover.to_ndarray(format="rgb24")
    np.testing.assert_array_equal(stored, np.asarray(picture.convert("RGB")))
    assert stored[5, 7].tolist() == [255, 255, 255]  # no ink: white
    assert (
        "video stream #1 (tiff): the cover picture stored as PNG, converted from CMYK to RGB "
        "by Pillow's formula (vsr cannot write tiff into .mp4)" in notes
    ), notes


# In a process of its own, its peak RSS (VmHWM) reset once the picture's bytes are read:
# importing vsr (torch) peaks higher than the conversion. The CMYK TIFF is smooth: few bytes.
_CMYK_PEAK = """
import sys
from vsr.video.png_cover import _read_by_pillow

def kib(field):
    lines = open("/proc/self/status").read().splitlines()
    return next(int(line.split()[1]) for line in lines if line.startswith(field))

data = open(sys.argv[1], "rb").read()
with open("/proc/self/clear_refs", "w") as file:
    file.write("5")  # the peak RSS is the RSS from here on
before = kib("VmRSS:")
converted = _read_by_pillow(data, "tiff")
print((kib("VmHWM:") - before) * 1024, converted.frame.width * converted.frame.height * 3)
"""


def test_a_large_cmyk_cover_is_converted_without_four_copies_of_it(tmp_path):
    """Pillow's CMYK picture and its RGB one (4 bytes a pixel each), the RGB's bytes and
    the frame (3) were all held at once: a 3000x3000 cover's conversion peaked 4.8 times
    the RGB picture above the process's memory; a stripe at a time, 2.6 times."""
    y, x = np.mgrid[0:3000, 0:3000]
    inks = np.dstack([x % 256, y % 256, (x + y) % 256, x // 12 % 256]).astype(np.uint8)
    Image.fromarray(inks, "CMYK").save(tmp_path / "cover.tif", compression="tiff_deflate")
    run = subprocess.run(
        [sys.executable, "-c", _CMYK_PEAK, str(tmp_path / "cover.tif")],
        capture_output=True,
        text=True,
        check=True,
    )
    grown, rgb_bytes = map(int, run.stdout.split())
    assert grown < 3.5 * rgb_bytes, (grown / rgb_bytes, run.stderr)


@pytest.mark.parametrize("profiled", [False, True])
def test_a_cmyk_cover_converted_in_stripes_is_as_one_converted_whole(monkeypatch, profiled):
    from test_cmyk import press_profile

    from vsr.cmyk import to_srgb
    from vsr.video import png_cover

    inks = np.random.default_rng(2).integers(0, 256, (11, 8, 4), dtype=np.uint8)
    tiff = io.BytesIO()
    Image.fromarray(inks, "CMYK").save(
        tiff, "TIFF", icc_profile=press_profile() if profiled else None
    )
    monkeypatch.setattr(png_cover, "_STRIPE_PIXELS", 8 * 3)  # 3 rows, the last stripe 2
    converted = png_cover._read_by_pillow(tiff.getvalue(), "tiff")
    with Image.open(tiff) as image:
        whole = np.asarray(to_srgb(image) if profiled else image.convert("RGB"))
    np.testing.assert_array_equal(converted.frame.to_ndarray(format="rgb24"), whole)
    assert converted.how.endswith("its colour profile" if profiled else "Pillow's formula")


def _float_rgb_tiff(samples: np.ndarray) -> bytes:
    """An uncompressed little-endian TIFF of H x W x 3 32-bit float samples (SampleFormat
    3), one strip: Pillow writes no such file (its float TIFFs are grey)."""
    height, width, _ = samples.shape
    data = samples.astype("<f4").tobytes()
    bits_at = 8 + len(data)  # then 3 BitsPerSample and 3 SampleFormat shorts
    directory_at = bits_at + 12
    tags = [
        (256, 4, 1, struct.pack("<I", width)), (257, 4, 1, struct.pack("<I", height)),
        (258, 3, 3, struct.pack("<I", bits_at)), (259, 3, 1, struct.pack("<Hxx", 1)),
        (262, 3, 1, struct.pack("<Hxx", 2)), (273, 4, 1, struct.pack("<I", 8)),
        (277, 3, 1, struct.pack("<Hxx", 3)), (278, 4, 1, struct.pack("<I", height)),
        (279, 4, 1, struct.pack("<I", len(data))), (339, 3, 1, struct.pack("<I", bits_at + 6)),
    ]  # fmt: skip
    entries = b"".join(struct.pack("<HHI", tag, kind, count) + value
                       for tag, kind, count, value in tags)  # fmt: skip
    return (
        b"II*\0" + struct.pack("<I", directory_at) + data + struct.pack("<3H", 32, 32, 32)
        + struct.pack("<3H", 3, 3, 3) + struct.pack("<H", len(tags)) + entries + bytes(4)
    )  # fmt: skip


@pytest.mark.parametrize("layout", ["grey", "rgb"])
def test_a_float_tiff_cover_is_rounded_to_16_bits_and_not_called_damaged(tmp_path, weights, layout):
    """libav decodes no float grey TIFF: such a cover was dropped as "damaged?". A float RGB
    one it decodes, but its conversion to PNG's 16 bits was off by up to 27 codes (white
    read 65532), under a note saying "its pixels unchanged". Both are rounded to 16 bits
    now, which the note says."""
    samples = np.random.default_rng(1).random((6, 8, 3), dtype=np.float32)
    samples[0, 0], samples[0, 1] = 0, 1  # black and white
    if layout == "grey":
        samples = samples[:, :, 0]
        picture: Image.Image | bytes = Image.fromarray(samples, "F")
    else:
        picture = _float_rgb_tiff(samples)
    cover, notes = _png_cover_of_an_mp4_run(tmp_path, weights, picture)
    sixteen = "gray16le" if layout == "grey" else "rgb48le"
    expected = np.round(samples.astype(np.float64) * 65535).astype(np.uint16)
    np.testing.assert_array_equal(cover.to_ndarray(format=sixteen), expected)
    assert (
        "video stream #1 (tiff): the cover picture stored as PNG, rounded from float samples "
        "to 16 bits (vsr cannot write tiff into .mp4)" in notes
    ), notes


def _notes_of_a_run_that_drops_the_cover(source, out, report, weights) -> list[str]:
    """Upscale `source` into `out`, see that the output holds no cover, and give the notes."""
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    with av.open(str(out)) as container:
        assert [s for s in container.streams.video if s.disposition & 1024] == []
    return json.loads(report.read_text())["notes"]


def test_a_float_tiff_cover_outside_0_to_1_is_dropped_for_that_reason(tmp_path, weights):
    """Float samples beyond 1 (HDR, or a 0 to 255 scale) have no one PNG form: the cover is
    dropped, and the note says why, not that it is damaged."""
    samples = np.linspace(0, 2, 48, dtype=np.float32).reshape(6, 8)
    source, out, report = tmp_path / "in.mkv", tmp_path / "out.mp4", tmp_path / "r.json"
    _tiff_cover_mkv(source, Image.fromarray(samples, "F"))
    notes = _notes_of_a_run_that_drops_the_cover(source, out, report, weights)
    assert (
        "video stream #1 (tiff): the cover picture dropped, its tiff picture's float samples "
        "run outside 0 to 1, which PNG cannot hold" in notes
    ), notes


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_damaged_bmp_cover_is_dropped_as_damaged_not_as_one_mp4_cannot_hold(
    tmp_path, weights, capsys, suffix
):
    """A BMP cover that does not decode is dropped, and the note says so: it said ".mp4
    cannot hold it", which MP4 can (as PNG), sending the user to try other containers
    (Matroska, which attaches it as PNG: "no picture vsr can attach")."""
    picture = np.full((16, 24, 3), 90, np.uint8)
    source, out, report = tmp_path / "bmp.mp4", tmp_path / f"out{suffix}", tmp_path / "r.json"
    bmp = make_bmp_cover_mp4(source, picture)
    data = source.read_bytes()
    assert data.count(bmp) == 1
    source.write_bytes(data.replace(bmp, b"XX" + bmp[2:]))  # no "BM": not a BMP
    notes = _notes_of_a_run_that_drops_the_cover(source, out, report, weights)
    assert (
        "video stream #1 (bmp): the cover picture dropped, its bmp picture does not decode "
        "(damaged?)" in notes
    ), notes
    assert not any("cannot hold" in note or "vsr can attach" in note for note in notes), notes
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".mov", ".webm"])
def test_a_cover_the_output_cannot_hold_is_named_in_the_notes(tmp_path, weights, suffix):
    source, out, report = tmp_path / "cover.mp4", tmp_path / f"out{suffix}", tmp_path / "r.json"
    _with_cover(source)
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    notes = json.loads(report.read_text())["notes"]
    assert any(f"the cover picture dropped, {suffix} cannot hold it" in n for n in notes)


def test_of_two_videos_the_one_flagged_default_is_upscaled(tmp_path, weights):
    """A player shows the default video; the first is only the fallback when none is."""
    source, out, report = tmp_path / "two.mkv", tmp_path / "out.mkv", tmp_path / "r.json"
    with av.open(str(source), "w") as container:
        sizes = ((32, 24), (64, 48))
        streams = []
        for width, height in sizes:
            stream = container.add_stream("ffv1", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            streams.append(stream)
        streams[0].disposition = 0
        streams[1].disposition = av.stream.Disposition.default
        for index in range(3):
            for stream, (width, height) in zip(streams, sizes, strict=True):
                rgb = np.full((height, width, 3), 40 * index, np.uint8)
                frame = av.VideoFrame.from_ndarray(rgb, "rgb24").reformat(format="yuv420p")
                frame.pts = index
                container.mux(stream.encode(frame))
        for stream in streams:
            container.mux(stream.encode(None))
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    with av.open(str(out)) as container:
        (video,) = container.streams.video
        assert (video.width, video.height) == (128, 96)  # the second's 64x48, upscaled
    notes = json.loads(report.read_text())["notes"]
    assert "video stream #0 (ffv1): not copied (only the upscaled video stream #1 is kept)" in notes


def test_a_song_with_its_artwork_is_no_video(tmp_path, weights, capsys):
    song = tmp_path / "song.mp4"
    with av.open(str(song), "w") as out:
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "mono"
        cover = out.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 9, np.uint8), format="rgb24")
        out.mux(cover.encode(picture.reformat(format="yuvj420p")) + cover.encode(None))
        tone = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "flt", "mono")
        tone.sample_rate, tone.pts = 48000, 0
        out.mux(sound.encode(tone) + sound.encode(None))
    assert vsr(song, tmp_path / "out.mp4", "--weights", weights) == 2
    assert "no video stream (only a cover picture)" in capsys.readouterr().err


def test_matroska_image_attachments_keep_their_names(tmp_path, weights):
    """libav reads an image attachment back as a cover stream; it goes out again as the
    attachment it was, not renamed to a thumbnail's cover.jpg."""
    source, out = tmp_path / "in.mkv", tmp_path / "out.mkv"
    jpeg = _with_cover(tmp_path / "cover.mp4")
    _mkv_with_attachment(source, "small_cover.jpg", "image/jpeg", jpeg)
    assert vsr(source, out, "--weights", weights) == 0
    with av.open(str(out)) as container:
        covers = [s for s in container.streams.video if s.disposition & 1024]
        assert [s.metadata.get("filename") for s in covers] == ["small_cover.jpg"]
        assert [bytes(p) for p in container.demux(covers[0]) if p.size] == [jpeg]


def test_a_matroska_cover_kept_in_mp4_loses_no_tags_it_had(tmp_path, weights):
    """The file name and type of a Matroska cover, its attachment's, which libav reads back
    as the cover stream's tags, were given to the MP4's cover track, and the note said "the
    track tags filename, mimetype (video #1) are not kept" of a cover that was kept."""
    source, out, report = tmp_path / "in.mkv", tmp_path / "out.mp4", tmp_path / "r.json"
    jpeg = _with_cover(tmp_path / "cover.mp4")
    _mkv_with_attachment(source, "cover.jpg", "image/jpeg", jpeg)
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    with av.open(str(out)) as container:
        covers = [s for s in container.streams.video if s.disposition & 1024]
        assert [bytes(p) for p in container.demux(covers[0]) if p.size] == [jpeg]
    notes = json.loads(report.read_text())["notes"]
    assert [n for n in notes if "tags" in n] == []


def test_a_stream_copier_that_fails_to_start_closes_its_source(tmp_path, monkeypatch):
    import io

    from vsr.video import remux

    source = _video(tmp_path / "in.mkv", audio=("aac", "mono"))
    opened, original_open = [], av.open

    def recording_open(*args, **kwargs):
        container = original_open(*args, **kwargs)
        opened.append(container)
        return container

    def broken(container):
        raise RuntimeError("a stream vsr cannot look at")

    output = av.open(io.BytesIO(), "w", format="matroska")
    monkeypatch.setattr(av, "open", recording_open)
    monkeypatch.setattr(remux, "main_video_stream", broken)
    with pytest.raises(RuntimeError, match="cannot look at"):
        remux.StreamCopier(source, output, notes=[])
    (container,) = opened
    with pytest.raises(AssertionError, match="not open"):
        list(container.demux())  # closed: the writer never held it to close


def _openings_of_the_source(monkeypatch) -> list[Path]:
    """The paths the stream copier opens from now on, one entry per opening."""
    from vsr.video import remux

    opened, original_open = [], remux.open_source
    monkeypatch.setattr(
        remux, "open_source", lambda path: opened.append(path) or original_open(path)
    )
    return opened


def _many_streams(path: Path, add_streams, at_frame) -> None:
    """A 3-frame 64x48 H.264 clip with the streams `add_streams(container)` returns;
    `at_frame(container, those streams, index)` runs after each frame is muxed."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        streams = add_streams(out)
        for index in range(3):
            picture = np.full((48, 64, 3), 60 * index, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(picture, "rgb24")))
            at_frame(out, streams, index)
        out.mux(video.encode(None))


def test_many_subtitle_streams_are_copied_without_reopening_the_source_for_each(
    tmp_path, weights, monkeypatch
):
    source = tmp_path / "many.mkv"

    def cues(out, subtitles, index) -> None:
        if index < 2:
            return  # one cue per track, with the last frame
        for number, stream in enumerate(subtitles):
            packet = av.Packet(f"track {number}".encode())
            packet.stream, packet.time_base = stream, Fraction(1, 1000)
            packet.pts = packet.dts = 0
            packet.duration = 100
            out.mux(packet)

    _many_streams(source, lambda out: [out.add_mux_stream("subrip") for _ in range(40)], cues)
    opened = _openings_of_the_source(monkeypatch)
    assert vsr(source, tmp_path / "out.mkv", "--weights", weights) == 0
    # Each opening parsed all 41 streams again: 40 of them made the run quadratic.
    assert len(opened) <= 2
    with av.open(str(tmp_path / "out.mkv")) as result:
        assert len(result.streams.subtitles) == 40
        texts = [bytes(p) for p in result.demux(*result.streams.subtitles) if p.size]
    assert sorted(texts) == sorted(f"track {n}".encode() for n in range(40))


def test_many_audio_streams_are_probed_from_one_more_opening_of_the_source(
    tmp_path, weights, monkeypatch
):
    source = tmp_path / "many.mkv"

    def sound(out, tracks, index) -> None:
        for number, track in enumerate(tracks):
            samples = np.full((1, 320), 100 * number + index, np.int16)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 8000, 320 * index
            out.mux(track.encode(frame))

    _many_streams(
        source, lambda out: [out.add_stream("pcm_s16le", rate=8000) for _ in range(30)], sound
    )
    opened = _openings_of_the_source(monkeypatch)
    assert vsr(source, tmp_path / "out.mkv", "--weights", weights) == 0
    # The copier's reader and one for the muxer probes' packets (one per stream before).
    assert len(opened) == 2

    def first_packets(path: Path) -> list[bytes]:
        with av.open(str(path)) as container:
            first: dict[int, bytes] = {}
            for packet in container.demux(*container.streams.audio):
                if packet.size:
                    first.setdefault(packet.stream.index, bytes(packet))
        return [first[index] for index in sorted(first)]

    copied = first_packets(tmp_path / "out.mkv")
    assert len(copied) == 30 and len(set(copied)) == 30  # every track, each its own
    assert copied == first_packets(source)


def _small_clip(
    path: Path, tags: dict[str, str] | None = None, codec: str = "ffv1", frames: int = 2
) -> None:
    """32x24 frames at 25 fps growing brighter, with the container tags given."""
    with av.open(str(path), "w") as container:
        container.metadata.update(tags or {})
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for index in range(frames):
            rgb = np.full((24, 32, 3), 50 * index, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, "rgb24").reformat(format="yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_a_phones_quicktime_keys_are_kept_in_mp4_and_mov(tmp_path, weights, suffix):
    # A phone's camera model and location keys vanished from MP4 and MOV without a word.
    source, out, report = tmp_path / "phone.mkv", tmp_path / f"out{suffix}", tmp_path / "r.json"
    tags = {"title": "T", "com.apple.quicktime.model": "iPhone 12", "custom": "c"}
    _small_clip(source, {**tags, "TIMECODE": "01:00:00:00"})  # Matroska's capitals, too
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    with av.open(str(out)) as container:
        kept = {key.lower(): value for key, value in container.metadata.items()}
        assert container.metadata["com.apple.quicktime.model"] == "iPhone 12"  # as phones spell it
        assert container.streams.video[0].metadata["timecode"] == "01:00:00:00"
    assert {key: kept.get(key) for key in tags} == tags
    assert not [n for n in json.loads(report.read_text())["notes"] if n.startswith("the tags ")]


@pytest.mark.parametrize(("suffix", "lost"), [(".mp4", True), (".mkv", False)])
def test_tags_the_muxer_does_not_store_are_named(tmp_path, weights, suffix, lost):
    # Without a phone's keys, MP4 keeps to the tags it has a box for; the others were lost
    # without a word.
    source, out, report = tmp_path / "tagged.mkv", tmp_path / f"out{suffix}", tmp_path / "r.json"
    # A timecode goes into a timecode track's tags: no tag lost.
    _small_clip(source, {"title": "T", "custom": "c", "TIMECODE": "01:00:00:00"})
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    notes = json.loads(report.read_text())["notes"]
    named = [n for n in notes if n.startswith("the tags ")]
    with av.open(str(out)) as container:
        assert container.metadata.get("title", container.metadata.get("TITLE")) == "T"
    if lost:
        assert named == [
            "the tags CUSTOM are not kept: the .mp4 muxer does not store them (.mkv keeps "
            "every tag)"
        ]
    else:
        assert named == []


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_track_tags_the_muxer_does_not_store_are_named(tmp_path, weights, suffix):
    # MP4 and MOV dropped a track's comment and a tool's own keys without a word (the
    # file's tags had a note); its title and language are kept, and not named.
    source = _video(tmp_path / "in.mkv", audio=("aac", "stereo"), title="T")
    with av.open(str(source)) as container:
        tags = {index: dict(s.metadata) for index, s in enumerate(container.streams)}
    remuxed = tmp_path / "tagged.mkv"
    with av.open(str(source)) as container, av.open(str(remuxed), "w") as out:
        for index, stream in enumerate(container.streams):
            copy = out.add_stream_from_template(stream)
            copy.metadata.update({**tags[index], "comment": f"note {index}", "TOOL_KEY": "k"})
        for packet in container.demux():
            if packet.dts is not None:
                packet.stream = out.streams[packet.stream.index]
                out.mux(packet)
    out = tmp_path / f"out{suffix}"
    report = upscale_video(remuxed, out, weights=weights, progress=False)
    named = [n for n in report.notes if n.startswith("the track tags ")]
    with av.open(str(out)) as container:
        kept = [{k.lower(): v for k, v in s.metadata.items()} for s in container.streams]
    assert [k.get("title", k.get("name")) for k in kept[:2]] == ["T video", "T audio"]
    if suffix == ".mkv":
        assert named == []
        assert [(k["comment"], k["tool_key"]) for k in kept] == [("note 0", "k"), ("note 1", "k")]
    else:
        assert named == [
            "the track tags COMMENT, TOOL_KEY (video #0), COMMENT, TOOL_KEY (audio #1) are not "
            f"kept: the {suffix} muxer does not store them (.mkv keeps every tag)"
        ]


def _retagged(source: Path, dest: Path, tags: dict[str, str], track_tags: dict[str, str]) -> Path:
    """`source`'s packets copied into `dest`, given the file tags `tags` and to each track
    `track_tags`, where "{type}" reads as its type."""
    with av.open(str(source)) as container, av.open(str(dest), "w") as out:
        out.metadata.update(tags)
        for stream in container.streams:
            copy = out.add_stream_from_template(stream)
            copy.metadata.update({k: v.format(type=stream.type) for k, v in track_tags.items()})
        for packet in container.demux():
            if packet.dts is not None:
                packet.stream = out.streams[packet.stream.index]
                out.mux(packet)
    return dest


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".mp4"])
def test_matroska_keeps_the_encoder_tag_of_a_track_copied_unchanged(tmp_path, weights, suffix):
    # A copied track's encoder tag (a copied AAC's "Lavc aac") was dropped without a note,
    # as the tag of one vsr encodes anew is. MP4 has no place for it: no note on every
    # ffmpeg-made MKV put in an MP4 either.
    source = _video(tmp_path / "in.mkv", audio=("aac", "stereo"))
    tagged = _retagged(source, tmp_path / "tagged.mkv", {}, {"ENCODER": "old {type}"})
    out = tmp_path / f"out{suffix}"
    report = upscale_video(tagged, out, weights=weights, progress=False)
    with av.open(str(out)) as container:
        tags = [{k.lower(): v for k, v in s.metadata.items()} for s in container.streams]
    # The video is encoded anew, and so is WebM's audio (to Opus): their old encoder goes.
    assert [t.get("encoder") for t in tags] == [None, "old audio" if suffix == ".mkv" else None]
    assert not [n for n in report.notes if "tags" in n]


def test_an_old_rotate_tag_is_not_carried_into_the_output(tmp_path, weights):
    # A "rotate" tag (an old ffmpeg's way to say the picture's turn) describes the source
    # file: the output states a turn in its display matrix, and a stale tag copied onto it,
    # the video track or a copied one, would say a turn the picture does not have.
    source = _video(tmp_path / "in.mkv", audio=("aac", "stereo"))
    tagged = _retagged(source, tmp_path / "tagged.mkv", {"rotate": "90"}, {"rotate": "90"})
    out = tmp_path / "out.mkv"
    report = upscale_video(tagged, out, weights=weights, progress=False)
    with av.open(str(out)) as container:
        tags = [container.metadata, *(stream.metadata for stream in container.streams)]
        assert [[k for k in t if k.lower() == "rotate"] for t in tags] == [[], [], []]
    assert not [n for n in report.notes if "tags" in n]


@pytest.mark.parametrize(("suffix", "kept"), [(".mkv", "old subtitle"), (".webm", None)])
def test_a_text_track_vsr_converts_drops_its_old_encoder_tag(tmp_path, weights, suffix, kept):
    # WebM takes no SubRip: vsr makes the WebVTT track itself, so "old subtitle" no longer
    # says what made it; Matroska copies the track, tag and all.
    def add_subrip(out):
        subtitle = out.add_mux_stream("subrip")
        subtitle.metadata["ENCODER"] = "old subtitle"
        return [subtitle]

    def cue(out, streams, index):
        if index == 0:
            packet = av.Packet(b"hello")
            packet.stream, packet.time_base = streams[0], Fraction(1, 1000)
            packet.pts = packet.dts = 0
            packet.duration = 100
            out.mux(packet)

    source, out = tmp_path / "in.mkv", tmp_path / f"out{suffix}"
    _many_streams(source, add_subrip, cue)
    upscale_video(source, out, weights=weights, progress=False)
    with av.open(str(out)) as container:
        (subtitle,) = container.streams.subtitles
        tags = {k.lower(): v for k, v in subtitle.metadata.items()}
        assert (subtitle.codec_context.name, tags.get("encoder")) == (
            "srt" if suffix == ".mkv" else "webvtt",  # SubRip, copied
            kept,
        )


@pytest.mark.parametrize("suffix", [".mkv", ".webm"])
def test_a_tracks_creation_time_matroska_drops_is_named_without_advising_mkv(
    tmp_path, weights, suffix
):
    # MP4 gives every track the file's creation time; Matroska's muxer stores none on a
    # track, and the note said to use .mkv, the output's own container.
    source = _video(tmp_path / "in.mkv", audio=("aac", "stereo"))
    when = {"creation_time": "2020-01-01T00:00:00.000000Z"}
    tagged = _retagged(source, tmp_path / "tagged.mp4", when, {})
    out = tmp_path / f"out{suffix}"
    report = upscale_video(tagged, out, weights=weights, progress=False)
    assert [n for n in report.notes if n.startswith("the track tags ")] == [
        "the track tags creation_time (video #0), creation_time (audio #1) are not kept: "
        f"the {suffix} muxer does not store them"
    ]


@pytest.mark.parametrize("first_kept", [0, 1])
def test_a_timecode_the_frames_carry_becomes_the_outputs(tmp_path, weights, first_kept):
    # MPEG-2 keeps a timecode in its GOP headers (broadcast TS carry it so, with none in
    # the container); the output had none. With a cut, it is the first kept frame's own
    # (it was moved on once more by the cut's length). Its own is its GOP header's, not
    # libavcodec's label of it (the next frame's, test_an_mpeg2_timecode_is_its_first_...).
    source, out = tmp_path / "gop.mkv", tmp_path / "out.mov"
    _small_clip(source, codec="mpeg2video", frames=3)
    timecodes = gop_header_timecodes(source)
    assert len(timecodes) == 3  # one a frame: frame n's is the n-th
    with av.open(str(source)) as container:
        assert "timecode" not in {k.lower() for k in container.streams.video[0].metadata}
    assert vsr(source, out, "--weights", weights, "--start", first_kept / 25) == 0
    with av.open(str(out)) as container:
        assert container.streams.video[0].metadata["timecode"] == timecodes[first_kept]


def test_a_dolby_vision_track_is_named_as_lost(tmp_path, weights):
    # vsr encodes new frames, which PyAV cannot give Dolby Vision's RPUs: the output is the
    # base layer alone, and nothing said so.
    from vsr.video.dolby_vision import DOLBY_VISION_NOTE

    source, report = tmp_path / "dolby.mp4", tmp_path / "r.json"
    make_dolby_vision_tagged_clip(source)
    with av.open(str(source)) as container:
        assert container.streams.video[0].codec_context.codec_tag == "dvh1"
    assert vsr(source, tmp_path / "out.mp4", "--weights", weights, "--report", report) == 0
    assert DOLBY_VISION_NOTE in json.loads(report.read_text())["notes"]


@pytest.mark.parametrize(
    ("tag", "side_data", "dolby"),
    [
        ("hvc1", ["DOVI_RPU_BUFFER"], True),  # FFmpeg's decoders attach each frame's RPU
        ("hvc1", ["DOVI_METADATA", "MASTERING_DISPLAY_METADATA"], True),  # and its parsed form
        ("dav1", [], True),  # AV1 under a Dolby Vision sample entry
        ("hvc1", ["MASTERING_DISPLAY_METADATA"], False),  # HDR10 alone
        ("", [], False),  # Matroska: no sample entry
    ],
)
def test_dolby_vision_is_told_by_its_sample_entry_or_its_frames_rpu(tag, side_data, dolby):
    # No file with an RPU can be written here (PyAV attaches no side data to a frame it
    # encodes): stand-ins with what PyAV shows of a decoded frame and its stream.
    from types import SimpleNamespace

    from vsr.video.dolby_vision import is_dolby_vision

    stream = SimpleNamespace(codec_context=SimpleNamespace(codec_tag=tag))
    kinds = [SimpleNamespace(type=SimpleNamespace(name=name)) for name in side_data]
    assert is_dolby_vision(stream, SimpleNamespace(side_data=kinds)) == dolby


def test_a_codec_tag_that_is_no_text_is_no_dolby_vision(tmp_path):
    # MPEG-TS gives a stream type as the codec tag, which PyAV reads as ASCII: Dirac's 0xd1
    # raised UnicodeDecodeError from the Dolby Vision test, and the clip could not be read.
    from vsr.video.reader import VideoReader

    source = tmp_path / "dirac.ts"
    make_unregistered_dirac_ts(source)
    with av.open(str(source)) as container, pytest.raises(UnicodeDecodeError):
        container.streams.video[0].codec_context.codec_tag  # noqa: B018 (what the reader met)
    with VideoReader(source) as reader:
        assert reader.info.codec == "dirac"
        assert len(list(reader.frames())) == 3
    assert not [note for note in reader.warnings if "Dolby Vision" in note]


def _ass_without_header(path: Path) -> Path:
    """The 4-frame clip with an ASS track stored without its style header (no
    CodecPrivate): two dialogue lines, at 0 and 80 ms, 40 ms each."""
    _video(path.with_suffix(".plain.mkv"))
    with av.open(str(path.with_suffix(".plain.mkv"))) as plain, av.open(str(path), "w") as out:
        video = out.add_stream_from_template(plain.streams.video[0])
        subtitles = out.add_mux_stream("ass")
        for packet in plain.demux(plain.streams.video[0]):
            if packet.size:
                packet.stream = video
                out.mux(packet)
        for start, text in ((0, "first line"), (80, "second line")):
            packet = av.Packet(f"{start},0,Default,,0,0,0,,{text}".encode())
            packet.stream, packet.time_base = subtitles, Fraction(1, 1000)
            packet.pts = packet.dts = start
            packet.duration = 40
            out.mux(packet)
    return path


@pytest.mark.parametrize(("suffix", "text_format"), [(".mp4", "mov_text"), (".webm", "webvtt")])
def test_an_ass_track_without_a_style_header_is_converted_in_a_plain_style(
    tmp_path, weights, suffix, text_format
):
    # Its conversion refused to open, and the run failed blaming the video codec:
    # "libx264 cannot be stored in .mp4 files (Invalid data found when processing input)".
    source = _ass_without_header(tmp_path / "subs.mkv")
    out, report = tmp_path / f"out{suffix}", tmp_path / "report.json"
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    with av.open(str(out)) as container:
        stream = container.streams.subtitles[0]
        assert stream.codec_context.name == text_format
        cues = [(bytes(p), p.pts * p.time_base) for p in container.demux(stream) if p.size]
    # mov_text samples begin with their text's length; the MP4 muxer adds an empty gap cue.
    texts = [(text[2:] if text_format == "mov_text" else text, at) for text, at in cues]
    assert [(text, at) for text, at in texts if text] == [
        (b"first line", 0),
        (b"second line", Fraction(2, 25)),
    ]
    notes = json.loads(report.read_text())["notes"]
    assert (
        f"subtitle stream #1 (ssa): {suffix} cannot hold ssa; converted to {text_format} "
        "in a plain style, as it has no style header"
    ) in notes


@pytest.mark.parametrize("blank", [None, b"", b"\0", b" \r\n"])
def test_a_style_header_of_blanks_is_converted_with_the_plain_one(blank):
    # Whitespace or NULs alone (a muxer's padding) hold no style either, and get the
    # plain header as a missing one does; a header with styles is kept.
    assert header_for_conversion(blank) == (PLAIN_HEADER.encode(), True)
    styled = b"[Script Info]\nScriptType: v4.00+\n"
    assert header_for_conversion(styled) == (styled, False)


def _telemetry(path: Path) -> tuple[dict[str, str], list[tuple[bytes, Fraction]]]:
    """The data track's tags, and each packet's bytes and start in seconds."""
    with av.open(str(path)) as container:
        (track,) = container.streams.data
        packets = [(bytes(p), p.pts * p.time_base) for p in container.demux(track) if p.size]
        return dict(track.metadata), packets


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_a_gopro_telemetry_track_is_copied_in_time_with_the_video(tmp_path, weights, suffix):
    # It was dropped, even MP4 to MP4: "not copied (vsr does not copy data streams)".
    source, out, report = tmp_path / "gopro.mp4", tmp_path / f"out{suffix}", tmp_path / "r.json"
    make_gopro_clip(source)
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    tags, packets = _telemetry(out)
    assert tags["handler_name"] == "GoPro MET"  # what GoPro's tools look the track up by
    assert (
        packets
        == _telemetry(source)[1]
        == [
            (b"GPMF0000", 0),
            (b"GPMF0004", Fraction(4, 25)),
            (b"GPMF0008", Fraction(8, 25)),
        ]
    )
    assert not [note for note in json.loads(report.read_text())["notes"] if "data" in note]


def test_a_cut_keeps_the_telemetry_that_starts_inside_it_at_its_own_time(tmp_path, weights):
    source, out = tmp_path / "gopro.mp4", tmp_path / "out.mp4"
    make_gopro_clip(source)
    # From the frame at 0.12 s: GPMF0000 (0 to 0.16 s) began before it, and is left out.
    assert vsr(source, out, "--weights", weights, "--start", "0.1", "--duration", "0.3") == 0
    assert _telemetry(out)[1] == [(b"GPMF0004", Fraction(1, 25)), (b"GPMF0008", Fraction(1, 5))]


def test_a_telemetry_track_as_long_as_the_chapters_is_copied_beside_them(tmp_path, weights):
    # Three packets and three chapters at the same times: the telemetry was taken for the
    # chapters' text track (which MP4 also keeps them as) and dropped without a note.
    source, out, report = tmp_path / "gopro.mp4", tmp_path / "out.mp4", tmp_path / "r.json"
    make_gopro_clip(source, chapters=True)
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    with av.open(str(out)) as container:
        (telemetry,) = [
            s for s in container.streams.data if s.metadata["handler_name"] == "GoPro MET"
        ]
        packets = [bytes(p) for p in container.demux(telemetry) if p.size]
        titles = [c["metadata"]["title"] for c in container.chapters()]
    assert packets == [b"GPMF0000", b"GPMF0004", b"GPMF0008"]
    assert titles == ["Mark 0", "Mark 4", "Mark 8"]
    assert not [note for note in json.loads(report.read_text())["notes"] if "data" in note]


def test_a_data_track_the_output_cannot_hold_is_named_in_the_notes(tmp_path, weights):
    source, out, report = tmp_path / "gopro.mp4", tmp_path / "out.mkv", tmp_path / "r.json"
    make_gopro_clip(source)
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    with av.open(str(out)) as container:
        assert not container.streams.data  # Matroska's muxer refuses every data track
    notes = json.loads(report.read_text())["notes"]
    assert "data stream #1 (bin_data): not copied (.mkv cannot hold this data stream)" in notes


def test_a_data_track_the_output_refuses_is_not_read_for_a_first_packet(
    tmp_path, weights, monkeypatch
):
    # Its first packet was looked for all the same: where a track has none (a broadcast
    # TS's SCTE-35 often has none), that read the whole recording before the run began.
    from vsr.video import remux

    asked: list[set[int]] = []
    first_packets = remux._first_packets

    def recorded(source, indexes):
        asked.append(set(indexes))
        return first_packets(source, indexes)

    monkeypatch.setattr(remux, "_first_packets", recorded)
    source = tmp_path / "gopro.mp4"
    make_gopro_clip(source)
    assert vsr(source, tmp_path / "out.mkv", "--weights", weights) == 0
    assert asked and all(1 not in indexes for indexes in asked)  # #1: the telemetry
    asked.clear()
    assert vsr(source, tmp_path / "out.mp4", "--weights", weights) == 0
    assert any(1 in indexes for indexes in asked)  # MP4 takes it: its packet is tried


def _ts_with_klv(path: Path) -> Path:
    """4 frames of H.264 in MPEG-TS with a KLV metadata track (a drone's), a packet a
    frame: a SMPTE universal key, then three bytes and the frame's number."""
    key = bytes.fromhex("060e2b34020b01010e01030101000000")
    with av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "bf": "0"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        klv = out.add_data_stream("klv")
        for index in range(4):
            frame = frame_from_planes(picture_planes(64, 48, index, "yuv420p"), "yuv420p")
            frame.pts = index
            out.mux(video.encode(frame))
            packet = av.Packet(key + bytes([3, 2, 1, index]))
            packet.stream, packet.time_base = klv, Fraction(1, 90000)
            packet.pts = packet.dts = index * 3600
            out.mux(packet)
        out.mux(video.encode(None))
    return path


def test_a_data_track_the_output_writes_as_another_codec_is_named_as_not_held(tmp_path, weights):
    # MOV's header takes a KLV track, but writes it as a track of no codec: only reading
    # the copy back tells, and a copy that is no longer KLV is none.
    source = _ts_with_klv(tmp_path / "klv.ts")
    out, report = tmp_path / "out.mov", tmp_path / "r.json"
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    with av.open(str(out)) as container:
        assert not container.streams.data
    notes = json.loads(report.read_text())["notes"]
    assert "data stream #1 (klv): not copied (.mov cannot hold this data stream)" in notes


def test_an_empty_scte35_track_is_named_as_one_no_output_holds(tmp_path, weights):
    # MOV's header takes the track (registered "CUEI" in its PMT entry) and writes one of no codec: the note
    # was ".mp4 cannot hold this data stream" for .mp4 but "it holds no packets" for .mov,
    # as if a copy into .mov would have kept it.
    source = tmp_path / "cues.ts"
    make_empty_scte35_ts(source)
    with av.open(str(source)) as container:
        (track,) = container.streams.data
        assert track.name == "scte_35"
    for extension in ("mp4", "mov"):
        out, report = tmp_path / f"out.{extension}", tmp_path / f"{extension}.json"
        assert vsr(source, out, "--weights", weights, "--report", report) == 0
        with av.open(str(out)) as container:
            assert not container.streams.data
        notes = json.loads(report.read_text())["notes"]
        held = f"data stream #1 (scte_35): not copied (.{extension} cannot hold this data stream)"
        assert held in notes


def _ts_with_teletext(path: Path) -> Path:
    """12 frames of H.264 in MPEG-TS with a DVB teletext track (as European broadcast
    recordings carry their subtitles), of two packets: a codec libav has no decoder for."""
    with av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "bf": "0"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        teletext = out.add_mux_stream("dvb_teletext")
        teletext.metadata["language"] = "ger"
        for index in range(12):
            picture = np.full((48, 64, 3), 20 * index, np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, "rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for start in (0, 200):
            packet = av.Packet(b"\x10" + b"\xff" * 45)
            packet.stream, packet.time_base = teletext, Fraction(1, 1000)
            packet.pts = packet.dts = start
            out.mux(packet)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_subtitle_track_libav_cannot_read_is_named_as_such(tmp_path, weights, suffix):
    # It was "subtitle stream #1: dropped, .mp4 cannot hold None subtitles", a container
    # limit of a codec named None.
    source = _ts_with_teletext(tmp_path / "teletext.ts")
    with av.open(str(source)) as container:
        assert container.streams.subtitles[0].codec_context is None  # no decoder
    out, report = tmp_path / f"out{suffix}", tmp_path / "report.json"
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    with av.open(str(out)) as container:
        assert not container.streams.subtitles
        assert sum(1 for p in container.demux(video=0) if p.size) == 12
    notes = [n for n in json.loads(report.read_text())["notes"] if "subtitle" in n]
    assert notes == [
        "subtitle stream #1: dropped, its codec is one this libav cannot read, "
        "which vsr cannot copy"
    ]


def test_a_bmp_cover_goes_into_mkv_as_a_png_attachment_with_its_pixels(tmp_path, weights):
    """Matroska's attachments are read back as covers by their type, and libav knows no
    BMP among them: the cover was dropped ("no picture vsr can attach"). It is attached as
    PNG now, which reads back as the cover, every pixel as it was."""
    metadata, notes = _upscale_a_bmp_cover(tmp_path / "bmp.mp4", tmp_path / "out.mkv", weights)
    assert metadata["mimetype"] == "image/png"
    assert metadata["filename"] == "cover1.png"
    assert (
        "video stream #1 (bmp): the cover picture attached as PNG, its pixels unchanged "
        "(players read no bmp attachment as a cover)" in notes
    )


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".mp4"])
def test_a_stereo_3d_layout_is_kept_where_the_container_can_and_said_where_not(
    tmp_path, weights, suffix
):
    # Every output was told "the video carries a stereo 3D layout in its frames, which the
    # output does not keep", while .mkv and .webm kept it (in the track, where Matroska
    # states it) and .mp4 lost it for another reason than the one given.
    plain = tmp_path / "plain.mkv"
    make_clip(plain, 64, 36, frames=2, audio=False)
    source = tmp_path / "sbs.mkv"
    with av.open(str(plain)) as clip, av.open(str(source), "w") as out:
        video = out.add_stream_from_template(clip.streams.video[0])
        video.metadata["stereo_mode"] = "left_right"
        for packet in clip.demux(clip.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video
                out.mux(packet)
    out, report = tmp_path / f"out{suffix}", tmp_path / "r.json"
    codec = {".webm": "libvpx-vp9", ".mkv": "ffv1", ".mp4": "libx264"}[suffix]
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet",
                 "--codec", codec, "--report", str(report)]) == 0  # fmt: skip
    notes = [n for n in json.loads(report.read_text())["notes"] if "stereo" in n]
    with av.open(str(out)) as container:
        layout = container.streams.video[0].metadata.get("stereo_mode")
    if suffix == ".mp4":
        assert layout is None
        assert notes == [
            "the video is stereo 3D (left_right), which .mp4 files do not keep: players show "
            "the two views as stored (.mkv and .webm keep it)"
        ]
    else:
        assert layout == "left_right" and notes == []


def test_colour_tags_set_through_encoder_options_are_said_to_relabel_only(tmp_path, weights):
    # -e color_range=pc tagged the limited-range pixels full range (washed out on playback)
    # and -e colorspace=bt2020nc relabelled BT.709 pixels, without a word.
    source = tmp_path / "in.mp4"
    make_clip(source, 64, 36, frames=2, audio=False, colors=(1, 1, 1, 1))  # BT.709, limited
    out, report = tmp_path / "out.mp4", tmp_path / "r.json"
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet",
                 "-e", "color_range=pc", "-e", "colorspace=bt2020nc",
                 "--report", str(report)]) == 0  # fmt: skip
    notes = [n for n in json.loads(report.read_text())["notes"] if "relabels" in n]
    assert notes == [
        "-e color_range=pc, -e colorspace=bt2020nc relabels the output without converting its "
        "pixels, which keep the source's colours (matrix bt709, range tv, primaries bt709, "
        "transfer bt709): right only if the source was mislabelled"
    ]
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
        assert (frame.color_range, frame.colorspace) == (2, 9)  # what the note says: relabelled
    plain = tmp_path / "plain.mp4"
    assert main(["run", str(source), str(plain), "--weights", str(weights), "--quiet",
                 "--report", str(report)]) == 0  # fmt: skip
    assert not [n for n in json.loads(report.read_text())["notes"] if "relabels" in n]
