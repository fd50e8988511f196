"""Encoder mistakes that are one clear error before any frame is upscaled, and the colour
tags every encoder receives."""

from __future__ import annotations

import re

import av
import numpy as np
import pytest
from media import make_clip, make_rgb_clip

from vsr.cli import main
from vsr.errors import VsrError
from vsr.ops.yuv import GBR
from vsr.video import encoder_choice
from vsr.video.codecs import video_encoder
from vsr.video.containers import containers_taking
from vsr.video.reader import VideoReader
from vsr.video.writer import EncodeSettings, VideoWriter, temp_path_for

BT709 = (1, 1, 1, 1)  # colorspace, color_range, color_primaries, color_trc


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("codecs") / "src.mkv"
    make_clip(path, 32, 24, frames=3, audio=False, codec="ffv1", colors=BT709)
    return path


def writer_for(clip, output, settings):
    with VideoReader(clip) as reader:
        info = reader.info
    return VideoWriter(output, info, info.width, info.height, settings)


@pytest.mark.parametrize("codec", ["libvpx-vp9", "libsvtav1"])
def test_a_codec_mov_refuses_at_its_header_is_refused_up_front(clip, tmp_path, codec):
    # MOV lists VP9 and AV1 among its codecs but refuses them when it writes the header,
    # which PyAV does with the first packet: after all the upscaling.
    output = tmp_path / "out.mov"
    with pytest.raises(VsrError, match=rf"{codec} cannot be stored in \.mov"):
        writer_for(clip, output, EncodeSettings(codec=codec))
    assert not output.exists() and not temp_path_for(output).exists()


@pytest.mark.parametrize(
    ("codec", "params", "named"),
    [
        ("libx264", "x264-params=nonsense=1", "nonsense"),
        ("libx265", "x265-params=bframes=abc", "bframes"),
        ("libx265", "x265-params=bogus=1", "Unknown option: bogus"),  # was taken silently
        ("libsvtav1", "svtav1-params=tune=abc", "tune"),
    ],
)
def test_a_parameter_the_wrapper_only_warns_about_is_an_error(clip, tmp_path, codec, params, named):
    key, value = params.split("=", 1)
    settings = EncodeSettings(codec=codec, options={key: value})
    with pytest.raises(VsrError, match=named):
        writer_for(clip, tmp_path / "out.mkv", settings)


def test_svtav1_crf_zero_is_not_silently_its_default(clip, tmp_path):
    # SVT-AV1 reads crf 0 as "unset": the output gets crf 35, worse than crf 18.
    with pytest.raises(VsrError, match="^crf 0: "):
        writer_for(clip, tmp_path / "out.mkv", EncodeSettings(codec="libsvtav1", crf=0))


def test_crf_minus_one_is_refused(clip, tmp_path):
    # x265 reads crf -1 as "unset" (its default, 28); lower values libav refuses itself.
    with pytest.raises(VsrError, match="^crf -1: "):
        writer_for(clip, tmp_path / "out.mkv", EncodeSettings(codec="libx265", crf=-1))


def test_the_open_error_says_why(clip, tmp_path):
    # libav's errno text alone is "Invalid argument"; its log line names the sizes H.263 has.
    with pytest.raises(VsrError, match="(?s)picture size of 32x24 is not valid .* 176x144"):
        writer_for(clip, tmp_path / "out.mov", EncodeSettings(codec="h263"))


@pytest.mark.parametrize("source_range", [1, 2])  # limited, full
def test_mjpeg_writes_full_range_from_either_range(tmp_path, capsys, source_range):
    # MJPEG opens for full range only, and vsr opened it without a range: both were refused
    # ("Non full-range YUV is non-standard"). Limited codes now widen to full, with a note.
    source, output = tmp_path / "in.mkv", tmp_path / "out.mov"
    colors = (6, source_range, 6, 6)  # BT.601, MJPEG's matrix: only the range changes
    planes = make_clip(source, 32, 24, frames=1, audio=False, codec="ffv1", colors=colors)
    argv = ["run", str(source), str(output), "--codec", "mjpeg", "-e", "b=20M", "--device", "cpu"]
    assert main(argv) == 0
    assert ("converted to full range (0-255)" in capsys.readouterr().err) == (source_range == 1)
    with av.open(str(output)) as written:
        frame = next(written.decode(video=0))
    assert frame.color_range == 2
    luma = frame.to_ndarray()[:48]  # yuvj420p: the first 48 rows are the 64x48 luma
    given = planes[0].planes[0].mean()
    # The mean, not the extremes: the network overshoots at the picture's sharp edges.
    expected = (given - 16) * 255 / 219 if source_range == 1 else given
    assert luma.mean() == pytest.approx(expected, abs=2)


def test_refusing_a_codec_for_mkv_does_not_advise_mkv(clip, tmp_path):
    with pytest.raises(VsrError) as refused:
        writer_for(clip, tmp_path / "out.mkv", EncodeSettings(codec="huffyuv"))
    assert "use .mkv" not in str(refused.value)


@pytest.mark.parametrize(
    ("codec", "refused_by", "advised"),
    [
        ("magicyuv", ".mp4", [".mov"]),
        ("magicyuv", ".mkv", [".mov"]),  # was "use a codec such as h264", without .mov
        ("ffv1", ".mov", [".mp4", ".mkv"]),
        ("libvpx", ".mp4", [".mkv", ".webm"]),  # MOV lists VP8, but its header refuses it
        ("libvpx-vp9", ".mov", [".mp4", ".mkv", ".webm"]),  # refused by the header
    ],
)
def test_a_refused_codec_is_advised_the_containers_that_store_it(
    clip, tmp_path, codec, refused_by, advised
):
    # Every refusal advised .mkv: "magicyuv cannot be stored in .mp4 files (use .mkv, or a
    # codec such as h264)", where .mkv refuses it too.
    with pytest.raises(VsrError) as refused:
        writer_for(clip, tmp_path / f"out{refused_by}", EncodeSettings(codec=codec))
    said = re.search(r"use ([^()]+), or a codec such as \w+\)$", str(refused.value))
    assert said is not None, str(refused.value)
    assert re.split(r", | or ", said[1]) == advised
    for suffix in advised:  # each one takes it
        writer_for(clip, tmp_path / f"out{suffix}", EncodeSettings(codec=codec)).abort()


@pytest.mark.parametrize(
    ("codec", "refused_by", "said"),
    [
        ("ffv1", ".mov", "(use .mp4 or .mkv, or a codec such as h264)"),
        (
            "libvpx-vp9",
            ".mov",
            "(vp9 only supported in MP4; use .mp4, .mkv or .webm, or a codec such as h264)",
        ),
    ],
)
def test_the_containers_advised_are_listed_in_words(clip, tmp_path, codec, refused_by, said):
    with pytest.raises(VsrError) as refused:
        writer_for(clip, tmp_path / f"out{refused_by}", EncodeSettings(codec=codec))
    assert str(refused.value) == f"{codec} cannot be stored in {refused_by} files {said}"


@pytest.mark.parametrize("codec", ["utvideo", "huffyuv"])
def test_a_codec_no_container_stores_is_said_so_and_not_offered(clip, tmp_path, codec):
    # utvideo into .mov was told "(use .mkv, or a codec such as h264)", and .mkv refuses it
    # too: no container vsr writes stores it, yet an unknown codec's list offered it.
    for suffix in (".mp4", ".mkv", ".mov", ".webm"):
        with pytest.raises(VsrError) as refused:
            writer_for(clip, tmp_path / f"out{suffix}", EncodeSettings(codec=codec))
        assert str(refused.value).startswith(
            f"{codec} cannot be stored in any file vsr writes (.mp4, .mkv, .mov, .webm); "
            "use a codec such as "
        )
    with pytest.raises(VsrError) as unknown:
        video_encoder("bogus")
    offered = str(unknown.value).split("the usual ones: ")[1]
    assert codec not in offered and "magicyuv" in offered


def test_an_option_no_part_of_the_encoder_takes_is_refused_by_the_writer(clip, tmp_path):
    # A writer made without the run's checks first (vsr.video.writer's own callers) has its
    # trial open, where libav hands back the options nothing took, as the only check: a
    # typo in the options was otherwise encoded without a word.
    said = r"^libx264 has no option nosuch \(check settings=EncodeSettings\(options=\.\.\.\)\)$"
    with pytest.raises(VsrError, match=said):
        writer_for(clip, tmp_path / "out.mkv", EncodeSettings(options={"g": "5", "nosuch": "1"}))
    assert not (tmp_path / "out.mkv").exists()


def test_an_encoder_the_probe_cannot_open_is_taken_at_the_muxers_word():
    # Whether a header refuses a codec is measured on a 352x288 picture, which DNxHD (broadcast
    # sizes only) and a hardware encoder without its device do not open at: not measured,
    # they are taken where the muxer lists them, not called storable nowhere.
    assert containers_taking("dnxhd") == [".mov"]
    offered = str(pytest.raises(VsrError, video_encoder, "nosuchcodec").value)
    assert "dnxhd" in offered.split("the others: ")[1].split(", ")


@pytest.mark.parametrize("name", ["vc2", "dirac"])
def test_vc2_is_refused_before_any_frame_and_not_offered(clip, tmp_path, capsys, name):
    # --codec vc2 ended in a traceback at the first frame (libav's VC-2 encoder sized its
    # pictures from PyAV's default 1 Mb/s), and with -e b=20M made flat grey planes.
    output = tmp_path / "out.mkv"
    assert main(["run", str(clip), str(output), "--codec", name, "--device", "cpu"]) == 2
    said = capsys.readouterr().err.splitlines()
    assert said == [
        f"vsr: error: --codec {name}: libav's VC-2 encoder makes flat or undecodable pictures "
        "at many sizes and rates; use --codec ffv1 (lossless) or prores_ks"
    ]
    assert not output.exists()
    with pytest.raises(VsrError) as unknown:
        video_encoder("bogus")
    assert "vc2" not in str(unknown.value)


def test_prores_pictures_carry_the_primaries_and_transfer(clip, tmp_path):
    # ProRes writes the frame's tags into every picture header, not the stream's.
    output = tmp_path / "out.mov"
    prores = EncodeSettings(codec="prores_ks")
    with VideoReader(clip) as reader, writer_for(clip, output, prores) as writer:
        for frame in reader.frames():
            # 4:2:0 8-bit -> the 4:2:2 10-bit ProRes takes
            y, u, v = (p.astype(np.uint16) << 2 for p in frame.planes)
            writer.write((y, u.repeat(2, axis=0), v.repeat(2, axis=0)), frame.pts)
    with av.open(str(output)) as container:
        decoded = next(container.decode(video=0))
    assert (decoded.color_primaries, decoded.color_trc) == (1, 1)


def test_vp8_pictures_are_made_in_bt601(clip, tmp_path):
    # VP8 is BT.601 by definition: planes converted with the source's BT.709 decode wrong.
    writer = writer_for(clip, tmp_path / "out.webm", EncodeSettings(codec="libvpx"))
    writer.abort()
    assert writer.color_matrix == "bt601"
    assert any("BT.601" in note for note in writer.notes)


def test_a_bt601_source_to_vp8_is_not_said_to_be_converted(tmp_path):
    # Its matrix is already VP8's own: nothing is converted, and no note says it is.
    source = tmp_path / "bt601.mkv"
    make_clip(source, 32, 24, frames=1, audio=False, codec="ffv1", colors=(6, 1, 6, 6))
    writer = writer_for(source, tmp_path / "out.webm", EncodeSettings(codec="libvpx"))
    writer.abort()
    assert writer.color_matrix == "bt601"
    assert not [note for note in writer.notes if "BT.601" in note]


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".mov"])
def test_mjpeg_pictures_are_made_in_bt601(clip, tmp_path, suffix):
    # libav's MJPEG decoder reads BT.601 whatever the container says: a BT.709 source,
    # converted and tagged BT.709, decoded 26.6 dB off its colours.
    output = tmp_path / f"out{suffix}"
    mjpeg = EncodeSettings(codec="mjpeg", options={"b": "20M"})
    with VideoReader(clip) as reader, writer_for(clip, output, mjpeg) as writer:
        for frame in reader.frames():
            writer.write(frame.planes, frame.pts)
    assert writer.color_matrix == "bt601"
    assert any("MJPEG pictures are decoded as BT.601" in note for note in writer.notes)
    with av.open(str(output)) as container:
        assert next(container.decode(video=0)).colorspace == 5  # BT.601 (bt470bg), as made


@pytest.mark.parametrize(
    ("colors", "source_matrix"), [(None, "bt601"), ((9, 1, 9, 14), "bt2020nc")]
)
def test_dnxhr_pictures_are_made_in_bt709(tmp_path, colors, source_matrix):
    # libav's DNxHR encoder states BT.709 in every picture, which its decoder reads over
    # the container's tag: an SD BT.601 source's planes came out 23 levels off.
    source = tmp_path / "src.mkv"
    make_clip(source, 256, 120, frames=1, audio=False, codec="ffv1", colors=colors)
    output = tmp_path / "out.mov"
    dnxhr = EncodeSettings(codec="dnxhd", options={"profile": "dnxhr_hq"})
    with VideoReader(source) as reader:
        assert reader.info.color_matrix == source_matrix
    writer = writer_for(source, output, dnxhr)
    writer.abort()
    assert (writer.color_matrix, writer._matrix_tag) == ("bt709", "bt709")
    assert any(f"converted from {source_matrix}" in note for note in writer.notes)
    # DNxHR 444 in RGB holds no matrix at all: nothing is converted, and no note says so.
    rgb = EncodeSettings(codec="dnxhd", pix_fmt="gbrp10le", options={"profile": "dnxhr_444"})
    writer = writer_for(source, output, rgb)
    writer.abort()
    assert (writer.color_matrix, writer._matrix_tag) == ("gbr", "rgb")
    assert not [note for note in writer.notes if "converted from" in note]


FULL_RANGE = (1, 2, 1, 1)  # BT.709 in full range (a phone's, a screen capture's)
# Encoders that open only at some sizes: CineForm at 64x32 (not 32x24 or 72x32), H.263 at
# the CIF family's, DV at PAL's or NTSC's.
_SIZE_TAKEN_BY = {"cfhd": (64, 32), "h263": (128, 96), "dvvideo": (720, 576)}


@pytest.mark.parametrize(
    ("colors", "matrix", "color_range"),
    [
        (None, "smpte170m", "tv"),  # untagged SD: BT.601 by its size
        ((5, 2, 2, 2), "bt470bg", "pc"),  # a JPEG's: matrix and range, no primaries
    ],
)
def test_mp4_states_the_matrix_and_range_of_a_codec_without_colour_fields(
    tmp_path, colors, matrix, color_range
):
    # The MP4 muxer wrote its colr box only for a source that tagged matrix, primaries and
    # transfer: FFV1 output of an untagged SD clip read back as untagged (BT.709 once HD,
    # 23 levels off), of a full-range JPEG-tagged one as limited (13 levels off).
    source = tmp_path / "src.mkv"
    make_clip(source, 32, 24, frames=1, audio=False, codec="ffv1", colors=colors)
    output = tmp_path / "out.mp4"
    ffv1 = EncodeSettings(codec="ffv1", codec_is_default=False)
    with VideoReader(source) as reader, writer_for(source, output, ffv1) as writer:
        for frame in reader.frames():
            writer.write(frame.planes, frame.pts)
    with VideoReader(output) as reader:
        assert (reader.info.color_matrix_tag, reader.info.color_range) == (matrix, color_range)


def test_rgb_output_to_mp4_states_no_matrix(tmp_path):
    # RGB planes have no matrix: the colr box asked for YCbCr output stays out (README).
    rgb, ycbcr = tmp_path / "rgb.mkv", tmp_path / "ycbcr.mkv"
    make_rgb_clip(rgb, "bgr0", 32, 24, frames=1)
    make_clip(ycbcr, 32, 24, frames=1, audio=False, codec="ffv1")
    boxes = {}
    for source in (rgb, ycbcr):
        output = source.with_suffix(".mp4")
        ffv1 = EncodeSettings(codec="ffv1", codec_is_default=False)
        with VideoReader(source) as reader, writer_for(source, output, ffv1) as writer:
            for frame in reader.frames():
                writer.write(frame.planes, frame.pts)
        boxes[output.name] = b"colr" in output.read_bytes()
    assert boxes == {"rgb.mp4": False, "ycbcr.mp4": True}


@pytest.mark.parametrize(
    ("codec", "suffix", "converted"),
    [
        ("prores_ks", ".mov", True),  # ProRes, MPEG-1/2 and VP8 have no full-range flag
        ("prores_ks", ".mkv", True),
        ("libvpx", ".webm", True),
        ("mpeg4", ".mov", True),  # MPEG-4 Part 2 says it by the container: MOV's box cannot
        ("mpeg4", ".mp4", False),
        ("mpeg4", ".mkv", False),
        # Nor can these codecs, which carry no range of their own (probed with this libav).
        ("msmpeg4", ".mov", True),
        ("msmpeg4", ".mkv", False),
        ("jpeg2000", ".mov", True),
        ("jpeg2000", ".mkv", False),
        ("v210", ".mov", True),
        ("v410", ".mov", True),
        ("v308", ".mov", True),
        ("yuv4", ".mov", True),
        ("tiff", ".mov", True),
        ("cfhd", ".mov", True),
        ("h263", ".mov", True),
        ("dvvideo", ".mov", True),
        ("libx264", ".mov", False),
        ("ffv1", ".mkv", False),
    ],
)
def test_full_range_goes_to_limited_where_the_output_cannot_mark_it(
    tmp_path, codec, suffix, converted
):
    # Full-range codes were written and read back as limited: a 5 % grey patch came out
    # 19 codes off, blacks crushed and whites clipped, without a word.
    source = tmp_path / "full.mkv"
    width, height = _SIZE_TAKEN_BY.get(codec, (32, 24))
    make_clip(source, width, height, frames=2, audio=False, codec="ffv1", colors=FULL_RANGE)
    settings = EncodeSettings(codec=codec, codec_is_default=False)
    writer = writer_for(source, tmp_path / f"out{suffix}", settings)
    writer.abort()
    assert writer.color_range == ("tv" if converted else "pc")
    said = [note for note in writer.notes if "cannot mark full range" in note]
    assert len(said) == converted


@pytest.mark.parametrize(
    ("pix_fmt", "codec", "asked", "noted"),
    [
        ("yuv444p", "libx264", None, "libx264 at the source's 4:4:4 8-bit (yuv444p)"),
        ("yuv422p", "libx265", None, "libx265 at the source's 4:2:2 8-bit (yuv422p)"),
        ("yuv420p10le", "libx264", None, "or settings=EncodeSettings(codec='libx265') to keep"),
        ("yuv420p10le", "libx265", None, None),  # HEVC Main 10 plays widely
        ("yuv420p", "libx264", None, None),
        ("yuv444p", "libx264", "yuv444p", None),  # asked for: the user's choice
        # A preset's 10 bits (--pipeline archive --codec libx264) are no source's to keep.
        ("yuv420p", "libx264", "preset:yuv420p10le", "libx264 at the preset's 10-bit"),
        # The source's 4:4:4 taken over the preset's 4:2:0 is the source's.
        ("yuv444p", "libx265", "preset:yuv420p10le", "libx265 at the source's 4:4:4 10-bit"),
        ("yuv420p", "libx265", "preset:gbrp", "libx265 in RGB (gbrp) plays in few players"),
        ("yuv420p", "libx265", "gbrp", None),
    ],
)
def test_a_format_few_players_play_is_named(tmp_path, pix_fmt, codec, asked, noted):
    # A 4:4:4 source became High 4:4:4 H.264 in MP4 without a word: no browser plays it.
    source = tmp_path / "src.mkv"
    make_clip(source, 32, 24, frames=1, audio=False, codec="ffv1", pix_fmt=pix_fmt)
    preset = asked is not None and asked.startswith("preset:")
    asked = asked.removeprefix("preset:") if asked else None
    settings = EncodeSettings(
        codec=codec, pix_fmt=asked, pix_fmt_is_default=asked is None or preset
    )
    writer = writer_for(source, tmp_path / "out.mp4", settings)
    writer.abort()
    said = [note for note in writer.notes if "plays in few players" in note]
    assert len(said) == (noted is not None)
    assert noted is None or noted in said[0]
    assert not preset or "keep the bits" not in said[0]


@pytest.fixture(scope="module")
def rgb_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("rgb") / "rgb.mkv"
    make_rgb_clip(path, "bgr0", 32, 24, frames=1)
    return path


@pytest.mark.parametrize(
    ("source", "codec", "asked", "planes", "encoded"),
    [
        # Lossless RGB encoders keep an RGB source RGB (it was YCbCr 4:4:4, guessed BT.601).
        ("rgb", "ffv1", None, "gbrp", "bgr0"),
        ("rgb", "ffv1", "yuv444p", "yuv444p", "yuv444p"),  # YCbCr when asked for
        ("yuv", "ffv1", None, "yuv420p", "yuv420p"),  # a YUV source keeps its format
        ("yuv", "ffv1", "gbrp", "gbrp", "bgr0"),  # RGB when asked for, repacked for FFV1
        ("yuv", "ffv1", "gbrp10le", "gbrp10le", "gbrp10le"),
        # Few players decode RGB HEVC: only when asked for.
        ("rgb", "libx265", None, "yuv444p", "yuv444p"),
        ("rgb", "libx265", "gbrp", "gbrp", "gbrp"),
        # Encoders that take RGB only get RGB from any source (they were refused).
        ("yuv", "libx264rgb", None, "gbrp", "bgr0"),
    ],
)
def test_rgb_output_where_it_keeps_the_codes_or_is_asked_for(
    clip, rgb_clip, tmp_path, source, codec, asked, planes, encoded
):
    settings = EncodeSettings(codec=codec, pix_fmt=asked)
    writer = writer_for(rgb_clip if source == "rgb" else clip, tmp_path / "out.mkv", settings)
    writer.abort()
    assert (writer.pix_fmt, writer._encoder_fmt) == (planes, encoded)
    rgb = planes.startswith("gbrp")
    assert (writer.color_matrix == GBR, writer._matrix_tag == "rgb") == (rgb, rgb)
    assert writer.color_range == "pc" or not rgb
    assert writer.chroma_shift == (0, 0) or not rgb


def test_a_deep_rgb_source_stays_rgb_where_ycbcr_would_keep_no_more_bits(tmp_path):
    # MagicYUV here has 8 bits of RGB and 8 of YCbCr: 16-bit RGB through YCbCr loses the
    # same bits and is moved by the matrix on top. FFVHuff keeps 16-bit RGB.
    deep = tmp_path / "rgb16.mkv"
    make_rgb_clip(deep, "gbrp16le", 32, 24, frames=1)
    for codec, suffix, planes in (("magicyuv", ".mov", "gbrp"), ("ffv1", ".mkv", "gbrp16le")):
        writer = writer_for(deep, tmp_path / f"out{suffix}", EncodeSettings(codec=codec))
        writer.abort()
        assert writer.pix_fmt == planes and writer.color_matrix == GBR


def test_rgb_output_is_full_range_where_the_container_cannot_mark_it(rgb_clip, tmp_path):
    # MagicYUV in MOV cannot say full range, which decoders assume for RGB anyway.
    writer = writer_for(rgb_clip, tmp_path / "out.mov", EncodeSettings(codec="magicyuv"))
    writer.abort()
    assert (writer.pix_fmt, writer.color_range) == ("gbrp", "pc")
    assert not any("cannot mark full range" in note for note in writer.notes)


def test_a_full_range_source_looks_the_same_in_prores(tmp_path):
    import torch
    import torch.nn.functional as F

    from vsr.ops.yuv import yuv_to_rgb
    from vsr.runner import upscale_video

    class NearestX2(torch.nn.Module):
        scale = 2

        def __init__(self) -> None:
            super().__init__()
            self.same = torch.nn.Conv2d(3, 3, 1, bias=False)  # what vsr's budget counts on
            torch.nn.init.eye_(self.same.weight[:, :, 0, 0])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(self.same(x), scale_factor=2, mode="nearest")

    def rgb(path):
        with VideoReader(path) as reader:
            info = reader.info
            frame = next(reader.frames())
        planes = [torch.from_numpy(p.astype(np.int32))[None] for p in frame.planes]
        return yuv_to_rgb(*planes, info.color_matrix, info.color_range, info.bit_depth)[0]

    source, out = tmp_path / "full.mkv", tmp_path / "out.mov"
    make_clip(source, 32, 24, frames=2, audio=False, codec="ffv1", colors=FULL_RANGE)
    settings = EncodeSettings(codec="prores_ks", codec_is_default=False)
    upscale_video(source, out, weights=NearestX2(), settings=settings, progress=False)
    shift = (rgb(out)[:, ::2, ::2] - rgb(source)).abs().mean() * 255
    assert shift < 2  # was 10.7 codes


@pytest.mark.parametrize(
    ("pix_fmt", "codec", "message"),
    [
        # Was "vsr encodes planar YUV", which yuvj420p is.
        ("yuvj420p", "libx264", "yuvj420p'\\): that is yuv420p in full range"),
        # Was a list with nv12, gray and others vsr refuses itself.
        ("yuv420p12le", "libx264", r"libx264 takes yuv420p, yuv422p, yuv444p, yuv420p10le, "),
        # Was "vsr encodes planar YUV" for any RGB, which FFV1 stores; packed RGB is not
        # vsr's to take, but its planar twin is.
        ("rgb24", "ffv1", "or planar RGB \\(gbrp, gbrp10le, gbrp12le, gbrp16le\\)"),
        ("gbrp10le", "libx264", "libx264 takes yuv420p, .*yuv444p10le$"),
        ("gbrp16le", "libx265", "libx265 takes yuv420p, .*gbrp12le$"),
    ],
)
def test_a_pixel_format_refusal_names_what_would_work(clip, tmp_path, pix_fmt, codec, message):
    settings = EncodeSettings(codec=codec, pix_fmt=pix_fmt)
    with pytest.raises(VsrError, match=message) as refused:
        writer_for(clip, tmp_path / "out.mkv", settings)
    assert "nv12" not in str(refused.value) and "gray" not in str(refused.value)


@pytest.mark.parametrize(
    ("codec", "rate"),
    [
        # mpeg4 at libavcodec's default 200 kb/s lost 6 dB against x264, without a word.
        ("mpeg4", "libavcodec's default 200 kb/s"),
        # snow took about 70 kb/s of a 128x72 clip (35 dB), without a word.
        ("snow", "a low rate of its own"),
    ],
)
def test_an_encoder_without_crf_says_what_rate_it_will_use(clip, tmp_path, codec, rate):
    writer = writer_for(clip, tmp_path / "out.mkv", EncodeSettings(codec=codec, crf=18))
    writer.abort()
    assert any(f"has no crf: it encodes at {rate}" in n and "-e b=8M" in n for n in writer.notes)
    given = EncodeSettings(codec=codec, options={"b": "8M"})
    writer = writer_for(clip, tmp_path / "out.mkv", given)
    writer.abort()
    assert not any("has no crf" in n for n in writer.notes)


def test_a_refused_x265_parameter_brings_no_x265_chatter(clip, tmp_path, capfd):
    settings = EncodeSettings(codec="libx265", options={"x265-params": "aq-mode=9"})
    with pytest.raises(VsrError, match="libx265 rejected x265-params=aq-mode=9"):
        writer_for(clip, tmp_path / "out.mkv", settings)
    # x265's own error line may stay; its banner and warnings of the trial opens may not.
    assert "[warning]" not in capfd.readouterr().err


@pytest.mark.parametrize(
    ("codec", "crf", "message"),
    [
        ("libx264", -5, "crf -5: libx264 takes 0 to 51"),
        ("libx265", -5, "crf -5: libx265 takes 0 to 51"),
        ("libx264rgb", 60, "crf 60: libx264rgb takes 0 to 51"),  # x264 took it as 51
        ("libvpx-vp9", -5, "crf -5: libvpx-vp9 takes 0 to 63"),
        ("libvpx-vp9", 64, "crf 64: libvpx-vp9 takes 0 to 63"),
        ("libsvtav1", -5, "crf -5: libsvtav1 takes 1 to 63"),
        ("libsvtav1", -1, "crf -1: libsvtav1 takes 1 to 63"),  # its "unset" is 0, not -1
        ("libsvtav1", 99, "crf 99: libsvtav1 takes 1 to 63"),
    ],
)
def test_a_crf_out_of_the_encoders_range_names_the_range(codec, crf, message):
    from vsr.video.encoder_choice import check_crf

    # libav's own words were "Numerical result out of range", naming no range.
    with pytest.raises(VsrError) as refused:
        check_crf(codec, crf)
    assert str(refused.value) == message


def test_a_crf_within_the_range_or_for_an_encoder_without_one_passes():
    from vsr.video.encoder_choice import check_crf

    for codec, crf in [("libx264", 0), ("libx264", 51), ("libvpx-vp9", 63), ("libsvtav1", 1)]:
        check_crf(codec, crf)
    check_crf("mpeg4", 99)  # no crf option: --crf is ignored with a note


@pytest.mark.parametrize(
    ("codec", "crf", "message"),
    [
        ("libx264", "-5", "crf -5: libx264 takes 0 to 51"),
        ("libx264", "60.5", "crf 60.5: libx264 takes 0 to 51"),  # x264 takes fractions
        ("libx265", "-1", "crf -1: libx265 reads it as unset (its default); use 0 or more"),
        ("libvpx-vp9", "64", "crf 64: libvpx-vp9 takes 0 to 63"),
        # libvpx and SVT-AV1 rounded a fraction without a word: 18.5 ran at 18.
        ("libvpx-vp9", "18.5", "crf 18.5: libvpx-vp9 takes whole numbers 0 to 63"),
        ("libsvtav1", "30.25", "crf 30.25: libsvtav1 takes whole numbers 1 to 63"),
    ],
)
def test_a_crf_given_with_e_gets_the_range_check_of_crf(clip, tmp_path, codec, crf, message):
    # -e crf=-5 went to the encoder as it was: "libx264 rejected crf=-5 (Numerical result
    # out of range)", naming no range.
    settings = EncodeSettings(codec=codec, options={"crf": crf})
    with pytest.raises(VsrError) as refused:
        writer_for(clip, tmp_path / "out.mkv", settings)
    assert str(refused.value) == message


def test_a_crf_given_with_e_within_the_range_opens(clip, tmp_path):
    settings = EncodeSettings(codec="libx264", options={"crf": "18.5"})
    writer_for(clip, tmp_path / "out.mkv", settings).abort()


def test_crf_or_preset_set_twice_to_two_values_is_refused():
    # The option went to the encoder without a word: crf=20 with options {"crf": "30"} encoded
    # at crf 30 and preset ultrafast, where `vsr run --crf 20 -e crf=30` is refused.
    with pytest.raises(VsrError, match=r"^settings crf=20 and options\['crf'\]='30' both set"):
        EncodeSettings(crf=20, options={"crf": "30"})
    with pytest.raises(VsrError, match="both set preset: give one of them$"):
        EncodeSettings(preset="slow", options={"preset": "ultrafast"})
    settings = EncodeSettings(crf=20, options={"crf": "20.0", "preset": "slow"}, preset="slow")
    settings.options["crf"] = 30  # changed afterwards: refused when the run checks it again
    with pytest.raises(VsrError, match="both set crf"):
        settings.checked()


def test_an_e_crf_takes_the_place_of_the_preset_s(clip, tmp_path):
    # The default preset's crf 18 beside -e crf=30 is no conflict: the -e one is the user's.
    out = tmp_path / "out.mkv"
    assert main(["run", str(clip), str(out), "--device", "cpu", "--quiet", "-e", "crf=30"]) == 0
    with av.open(str(out)) as container:
        assert b"crf=30.0" in bytes(next(container.demux(video=0)))


def test_crf_and_preset_flags_take_the_place_of_a_preset_file_s_options(clip, tmp_path):
    # A preset file's [options] crf beside --crf was refused in the API's words ("settings
    # crf=30 and options['crf']='22' both set crf"), naming neither the flag nor the file;
    # before that, the file's crf won without a word. README: flags override the preset.
    preset = tmp_path / "mine.toml"
    preset.write_text('codec = "libx264"\n\n[options]\ncrf = "22"\npreset = "slow"\n')
    out = tmp_path / "out.mkv"
    command = ["run", str(clip), str(out), "--device", "cpu", "--quiet", "--pipeline", str(preset)]
    assert main([*command, "--crf", "30", "--preset", "ultrafast"]) == 0
    with av.open(str(out)) as container:
        header = bytes(next(container.demux(video=0)))
    assert b"crf=30.0" in header and b"subme=0" in header  # ultrafast's, not slow's


def test_a_preset_s_pixel_format_another_codec_lacks_takes_its_nearest(clip, tmp_path):
    # --pipeline archive --codec prores_ks: "--pix-fmt yuv420p10le: prores_ks takes
    # yuv422p10le, yuv444p10le", of a --pix-fmt nobody gave (the preset's, for libx265).
    preset = EncodeSettings(codec="prores_ks", pix_fmt="yuv420p10le", pix_fmt_is_default=True)
    writer = writer_for(clip, tmp_path / "preset.mov", preset)
    writer.abort()
    assert writer.pix_fmt == "yuv422p10le"
    assert (
        "the preset's pixel format yuv420p10le is not one prores_ks takes: encoded as "
        "yuv422p10le (choose with settings=EncodeSettings(pix_fmt=...))"
    ) in writer.notes
    asked = EncodeSettings(codec="prores_ks", pix_fmt="yuv420p10le")  # the user's: refused
    with pytest.raises(VsrError, match=r"yuv420p10le'\): prores_ks takes yuv422p10le"):
        writer_for(clip, tmp_path / "asked.mov", asked)


@pytest.mark.parametrize(
    ("source_format", "codec", "preset_format", "written"),
    [
        ("yuv444p", "libx265", "yuv420p10le", "yuv444p10le"),
        ("yuv422p", "libx265", "yuv420p10le", "yuv422p10le"),
        ("yuv420p12le", "libx265", "yuv420p10le", "yuv420p12le"),
        ("yuv420p", "libx265", "yuv420p10le", "yuv420p10le"),  # the preset's is the finer
        ("yuv444p", "mpeg4", "yuv420p", "yuv420p"),  # 4:2:0 only: reduced, with a note
    ],
)
def test_a_presets_pixel_format_keeps_a_sources_finer_chroma_and_depth(
    tmp_path, source_format, codec, preset_format, written
):
    # --pipeline archive (yuv420p10le) made a 4:4:4 source 4:2:0 without a word: half its
    # chroma resolution gone for good.
    source = tmp_path / "src.mkv"
    make_clip(source, 32, 24, frames=1, audio=False, codec="ffv1", pix_fmt=source_format)
    preset = EncodeSettings(codec=codec, pix_fmt=preset_format, pix_fmt_is_default=True)
    writer = writer_for(source, tmp_path / "out.mkv", preset)
    writer.abort()
    assert writer.pix_fmt == written
    told = [note for note in writer.notes if "the preset's pixel format" in note]
    if written != preset_format:
        assert told == [
            f"the source's {source_format} is finer than the preset's pixel format "
            f"{preset_format}: encoded as {written} to keep it "
            f"(settings=EncodeSettings(pix_fmt={preset_format!r}) reduces it)"
        ]
    elif source_format != "yuv420p":
        assert told == [
            f"the preset's pixel format {preset_format} reduces the source's {source_format}: "
            f"{codec} takes no finer one"
        ]
    else:
        assert told == []
    asked = EncodeSettings(codec=codec, pix_fmt=preset_format)  # the user's: as asked
    writer = writer_for(source, tmp_path / "asked.mkv", asked)
    writer.abort()
    assert writer.pix_fmt == preset_format


def test_a_presets_depth_the_encoder_lacks_does_not_cost_the_sources_chroma(tmp_path):
    # --pipeline archive (yuv420p10le) --codec libvpx-vp9, 8 bits only in PyAV's build, on
    # a 4:4:4 source: "the preset's pixel format yuv420p10le reduces the source's yuv444p:
    # libvpx-vp9 takes no finer one", and yuv420p, though it takes yuv444p; the 10 bits that
    # ruled it out were never to be had.
    source = tmp_path / "src.mkv"
    make_clip(source, 32, 24, frames=1, audio=False, codec="ffv1", pix_fmt="yuv444p")
    preset = EncodeSettings(codec="libvpx-vp9", pix_fmt="yuv420p10le", pix_fmt_is_default=True)
    writer = writer_for(source, tmp_path / "out.mkv", preset)
    writer.abort()
    assert "yuv420p10le" not in [f.name for f in writer.codec.video_formats]
    assert writer.pix_fmt == "yuv444p"
    assert writer.notes == [
        "the preset's pixel format yuv420p10le is not one libvpx-vp9 takes: encoded as "
        "yuv444p, the nearest it takes to the source's finer yuv444p (choose with "
        "settings=EncodeSettings(pix_fmt=...))"
    ]


class _EncoderLacking:
    """A real encoder that takes all but the pixel formats `lacking`, as other builds of it
    may."""

    def __init__(self, codec: av.codec.Codec, lacking: set[str]) -> None:
        self._codec = codec
        self.video_formats = [f for f in codec.video_formats if f.name not in lacking]

    def __getattr__(self, name: str):
        return getattr(self._codec, name)


def test_a_sources_finer_chroma_is_not_kept_at_the_cost_of_the_presets_depth(tmp_path, monkeypatch):
    # An encoder that takes yuv420p10le and yuv444p but no 10-bit 4:4:4 or 4:2:2: the
    # source's 4:4:4 in 8 bits would lower the preset's 10; the preset's format is kept.
    real = encoder_choice.video_encoder
    lacking = {"yuv422p10le", "yuv444p10le", "nv20le"}
    monkeypatch.setattr(
        encoder_choice, "video_encoder", lambda name: _EncoderLacking(real(name), lacking)
    )
    source = tmp_path / "src.mkv"
    make_clip(source, 32, 24, frames=1, audio=False, codec="ffv1", pix_fmt="yuv444p")
    preset = EncodeSettings(codec="libx264", pix_fmt="yuv420p10le", pix_fmt_is_default=True)
    writer = writer_for(source, tmp_path / "out.mkv", preset)
    writer.abort()
    assert writer.pix_fmt == "yuv420p10le"
    assert (
        "the preset's pixel format yuv420p10le reduces the source's yuv444p: libx264 takes no "
        "finer one"
    ) in writer.notes


def test_prores_at_an_odd_width_keeps_its_last_columns_of_colour(tmp_path):
    # prores_ks opens at an odd width in 4:2:2, but its last chroma columns came out up to
    # 210 levels off (43x24 at x3: 129x72), without a word.
    source, output = tmp_path / "src.mkv", tmp_path / "out.mov"
    make_clip(source, 33, 16, frames=1, audio=False, codec="ffv1")
    rows, columns = np.mgrid[0:16, 0:33]
    wanted = np.stack([60 + 4 * columns, 80 + 4 * rows, np.full_like(rows, 120)], -1)
    picture = av.VideoFrame.from_ndarray(wanted.astype(np.uint8), format="rgb24")
    prores = EncodeSettings(codec="prores_ks", codec_is_default=False)
    with writer_for(source, output, prores) as writer:
        converted = picture.reformat(format=writer.pix_fmt)  # BT.601, as the source
        planes = [
            np.frombuffer(p, np.uint16).reshape(p.height, -1)[:, : p.width]
            for p in converted.planes
        ]
        writer.write(tuple(planes), 0)
    assert any("odd size 33x16" in note for note in writer.notes)
    with av.open(str(output)) as container:
        got = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(got - wanted)[:, -2:].max() < 12


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("video_size=320x180", "vsr sets the output size; use --size 320x180"),
        ("pixel_format=yuv444p", "vsr sets the pixel format; use --pix-fmt yuv444p"),
        ("time_base=1/10", "vsr sets the encoder's time base from the source's timing"),
    ],
)
def test_an_e_option_that_replaces_what_vsr_sets_is_refused_up_front(
    clip, tmp_path, capsys, given, said
):
    # -e video_size=320x180 wrote a 320x180 file while vsr said 32x24 -> 64x48, and
    # -e time_base=1/10 upscaled the whole clip, then died in a traceback at the mux.
    output = tmp_path / "out.mp4"
    argv = ["run", str(clip), str(output), "-e", given, "--device", "cpu"]
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vsr: error: -e {given}: {said}")
    assert not output.exists()
    with pytest.raises(VsrError, match="settings=EncodeSettings"):  # the API's words
        writer_for(clip, output, EncodeSettings(options=dict([given.split("=")])))
