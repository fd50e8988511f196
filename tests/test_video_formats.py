"""Pixel-format choices, colour tags and the encoder list."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from media import make_clip, make_rgb_clip

from vsr.cli import main
from vsr.errors import VsrError
from vsr.models import load_weights
from vsr.ops.yuv import GBR, yuv_to_rgb
from vsr.upscale import Upscaler
from vsr.video import colors
from vsr.video.codecs import video_encoder, video_encoders
from vsr.video.pixfmt import (
    is_planar_rgb,
    nearest_supported,
    parse_planar,
    parse_planes,
    planar_equivalent,
    planar_rgb_name,
)
from vsr.video.reader import VideoReader


@pytest.mark.parametrize(
    ("source", "planar", "rgb_like"),
    [
        ("yuv420p", "yuv420p", False),
        ("nv12", "yuv420p", False),
        ("p010le", "yuv420p10le", False),
        ("yuv422p10le", "yuv422p10le", False),
        ("yuyv422", "yuv422p", False),
        ("yuvj444p", "yuv444p", False),
        ("rgb24", "yuv444p", True),
        ("gbrp10le", "yuv444p10le", True),
        ("pal8", "yuv444p", True),
        ("gray", "yuv420p", False),
        ("yuv410p", "yuv444p", False),
    ],
)
def test_planar_equivalent(source, planar, rgb_like):
    assert planar_equivalent(av.VideoFormat(source)) == (planar, rgb_like)


def test_parse_planar():
    assert parse_planar("yuv420p10le") == (10, (1, 1))
    assert parse_planar("yuv422p") == (8, (1, 0))
    assert parse_planar("nv12") is None


def test_nearest_supported_prefers_same_depth_then_same_chroma():
    av1 = ["yuv420p", "yuv420p10le"]
    assert nearest_supported("yuv444p", av1) == ("yuv420p", "yuv420p")
    assert nearest_supported("yuv444p10le", av1) == ("yuv420p10le", "yuv420p10le")
    assert nearest_supported("yuv420p12le", ["yuv420p", "yuv420p10le"]) == (
        "yuv420p10le",
        "yuv420p10le",
    )
    # A hardware encoder with only semi-planar 10-bit input: fed through its planar twin.
    assert nearest_supported("yuv420p10le", ["nv12", "p010le"]) == ("yuv420p10le", "p010le")
    # A planar format beats its semi-planar twin, which would only be repacked on the way in.
    assert nearest_supported("yuv420p", ["nv12", "yuv420p"]) == ("yuv420p", "yuv420p")
    # Of two chromas as far from 4:2:2, the finer loses nothing.
    assert nearest_supported("yuv422p", ["yuv420p", "yuv444p"]) == ("yuv444p", "yuv444p")
    assert nearest_supported("yuv420p", ["rgb24"]) is None


def test_planar_rgb_formats():
    assert parse_planes("gbrp") == (8, (0, 0), True)
    assert parse_planes("gbrp12le") == (12, (0, 0), True)
    assert parse_planes("yuv420p10le") == (10, (1, 1), False)
    assert parse_planes("bgr0") is None and parse_planes("gbrap") is None
    assert [planar_rgb_name(bits) for bits in (8, 10, 16)] == ["gbrp", "gbrp10le", "gbrp16le"]
    assert is_planar_rgb("gbrp16le") and not is_planar_rgb("yuv444p16le")


def formats_of(codec: str) -> list[str]:
    return [f.name for f in av.codec.Codec(codec, "w").video_formats]


def test_nearest_rgb_format_is_rgb_repacked_where_the_encoder_wants_it_packed():
    ffv1 = formats_of("ffv1")  # no 8-bit planar RGB: bgr0 is its 8-bit RGB
    assert nearest_supported("gbrp", ffv1) == ("gbrp", "bgr0")
    assert nearest_supported("gbrp10le", ffv1) == ("gbrp10le", "gbrp10le")
    assert nearest_supported("gbrp16le", ffv1) == ("gbrp16le", "gbrp16le")
    png = formats_of("png")
    assert nearest_supported("gbrp", png) == ("gbrp", "rgb24")
    assert nearest_supported("gbrp10le", png) == ("gbrp16le", "rgb48be")  # more bits, not less
    assert nearest_supported("gbrp", formats_of("libx264rgb")) == ("gbrp", "bgr0")
    # RGB and YUV are never each other's nearest: either would need a matrix.
    assert nearest_supported("yuv444p", formats_of("libx264rgb")) is None
    assert nearest_supported("gbrp", formats_of("libx264")) is None


def test_colour_names_and_codes():
    assert colors.MATRIX_TAGS[1] == "bt709" and colors.matrix_for_maths("bt470bg") == "bt601"
    assert colors.code_of(colors.MATRIX_TAGS, "bt601") == 6
    assert colors.code_of(colors.PRIMARIES, None) == colors.UNSPECIFIED
    assert colors.guess_matrix(960, 720) == "bt709" and colors.guess_matrix(720, 576) == "bt601"
    assert colors.guess_matrix(1280, 544) == "bt709"  # 720p cropped to 2.39:1: HD
    assert colors.guess_matrix(1024, 600) == "bt709" and colors.guess_matrix(1024, 576) == "bt601"
    assert colors.range_name(0) == "tv" and colors.range_name(2) == "pc"


def test_encoder_list():
    names = video_encoders()
    assert {"libx264", "libx265", "ffv1", "libsvtav1"} <= set(names)
    # RGB video encoders take vsr's RGB planes; image formats are no output codecs.
    assert {"png", "libx264rgb", "qtrle"} <= set(names) and "bmp" not in names
    # Hardware encoders that take semi-planar frames only (nv12, p010le) are fed their planar
    # twins: listed, where this build has them.
    semi_planar_only = {"h264_qsv", "hevc_qsv", "av1_qsv"} & set(av.codecs_available)
    assert semi_planar_only <= set(names)
    assert video_encoder("h264").name == "libx264"  # codec names resolve to an encoder
    with pytest.raises(VsrError, match="the usual ones: libx264, libx265, .*ffv1.*; the others: "):
        video_encoder("h.264")
    with pytest.raises(VsrError, match="did you mean libx265 or libx264"):  # a typo
        video_encoder("libx246")
    # libav opens an audio encoder by the name as well: it is no video codec.
    with pytest.raises(VsrError, match=r"^unknown video codec 'aac'; the usual ones: "):
        video_encoder("aac")


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("h265", "libx265"),  # was "did you mean h263 or h261?"
        ("x265", "libx265"),
        ("H.265", "libx265"),
        ("x264", "libx264"),
        ("H264", "libx264"),
        ("libaom-av1", "libsvtav1"),  # not in this build
        ("mpeg2", "mpeg2video"),  # was "did you mean mpeg4 or mjpeg?"
    ],
)
def test_an_encoder_called_by_its_common_name_is_named_as_libav_knows_it(name, meant):
    with pytest.raises(VsrError) as refused:
        video_encoder(name)
    said = f"unknown video codec {name!r}; did you mean {meant}? the usual ones: "
    assert str(refused.value).startswith(said)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("mjpg", "did you mean mjpeg? "),  # not "mjpeg or mpeg4": only a near spelling
        ("divx", ""),  # no encoder is spelt like it: no guess (libvpx) to mislead
    ],
)
def test_only_an_encoder_spelt_nearly_alike_is_offered_for_a_typo(name, hint):
    with pytest.raises(VsrError) as refused:
        video_encoder(name)
    assert str(refused.value).startswith(f"unknown video codec {name!r}; {hint}the usual ones: ")


@pytest.mark.parametrize(("stored", "depth"), [("bgr0", 8), ("gbrp10le", 10)])
def test_an_rgb_source_comes_back_as_its_own_rgb(tmp_path, stored, depth):
    # The engine turns the reader's planes into RGB. swscale's RGB -> YUV was biased
    # against the engine's inverse (8-bit: -0.7, +0.5, -0.9 codes in R, G, B); an RGB
    # source's planes are now its own G, B, R, read as they are.
    peak = (1 << depth) - 1
    rng = np.random.default_rng(depth)
    pictures = [rng.integers(0, 65536, (24, 32, 3), dtype=np.uint16) for _ in range(2)]
    path = tmp_path / "rgb.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 24, stored
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb48le").reformat(format=stored)
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    # PyAV gives R, G, B (H x W x 3) in the stored depth: rgb24 is a repack of bgr0.
    as_array = {"bgr0": "rgb24", "gbrp10le": "gbrp10le"}[stored]
    with av.open(str(path)) as container:
        wanted = [f.to_ndarray(format=as_array) for f in container.decode(video=0)]
    with VideoReader(path) as reader:
        info = reader.info
        got = []
        for frame in reader.frames():
            y, u, v = (torch.from_numpy(p.astype(np.int32))[None] for p in frame.planes)
            matrix = GBR if info.rgb_planes else info.color_matrix
            rgb = yuv_to_rgb(y, u, v, matrix, info.color_range, info.bit_depth)
            got.append(rgb[0].numpy() * peak)
    assert (info.bit_depth, info.color_range, info.rgb_planes) == (depth, "pc", True)
    for picture, stored_rgb in zip(got, wanted, strict=True):
        reference = stored_rgb.transpose(2, 0, 1).astype(np.float64)
        error = picture - reference
        assert np.abs(error.mean(axis=(1, 2))).max() < 0.05
        assert np.abs(error).max() < 1.6


@pytest.mark.parametrize(
    ("name", "codec", "stored"),
    [
        ("a.mov", "qtrle", "rgb555be"),  # QuickTime Animation, "thousands of colours"
        ("b.nut", "rawvideo", "rgb565le"),
        ("c.nut", "rawvideo", "rgb444le"),
        ("d.nut", "rawvideo", "bgr8"),
    ],
)
def test_rgb_of_fewer_than_8_bits_keeps_its_white(tmp_path, name, codec, stored):
    # swscale pads such components with zero bits: white came in as 248, 240 or 252, the
    # whole picture that much darker.
    path = tmp_path / name
    picture = np.full((8, 16, 3), 255, np.uint8)
    picture[:, :8] = (0, 128, 64)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 8, stored
        frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format=stored)
        out.mux(stream.encode(frame) + stream.encode(None))
    with av.open(str(path)) as container:  # libav's own widening, white short or not
        decoded = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    wanted = np.rint(decoded * 255 / decoded[:, 8:].max(axis=(0, 1)))  # stretched to white
    with VideoReader(path) as reader:
        green, blue, red = next(reader.frames()).planes
    got = np.stack([red, green, blue], axis=-1).astype(float)
    assert reader.info.rgb_planes
    assert (got[:, 8:] == 255).all()
    assert np.abs(got - wanted).max() <= 1  # bit replication, or the exact stretch


@pytest.mark.parametrize(
    ("stored", "bits", "written"),
    [("bgr0", 8, "bgr0"), ("gbrp10le", 10, "gbrp10le"), ("gbrp16le", 16, "gbrp16le")],
)
def test_an_rgb_source_is_written_as_rgb_to_ffv1(tmp_path, weights, stored, bits, written):
    # The output was YCbCr 4:4:4 whatever the source: RGB -> YCbCr -> RGB moved a fifth of
    # the codes of a lossless FFV1 output by up to 2, at every depth. FFV1 stores RGB (its
    # 8-bit RGB is bgr0), and the network's output now arrives as its own rounded codes.
    source, out = tmp_path / "rgb.mkv", tmp_path / "out.mkv"
    make_rgb_clip(source, stored, 32, 24, frames=2)
    flags = ["--codec", "ffv1", "--precision", "fp32", "--batch", "2", "--quiet"]
    assert main(["run", str(source), str(out), "--weights", str(weights), *flags]) == 0
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == written
        tags = next(container.decode(video=0))
        assert (tags.colorspace, tags.color_range) == (0, 2)  # rgb, full range

    def planes_of(path: Path) -> list[torch.Tensor]:
        with VideoReader(path) as reader:
            assert reader.info.rgb_planes and reader.info.bit_depth == bits
            frames = [frame.planes for frame in reader.frames()]
        return [torch.from_numpy(np.stack(p).astype(np.int32)) for p in zip(*frames, strict=True)]

    upscaler = Upscaler(load_weights(weights), device="cpu", precision="fp32")
    peak = (1 << bits) - 1
    network = upscaler(yuv_to_rgb(*planes_of(source), GBR, "pc", bits)).clamp(0, 1)
    wanted = torch.floor(network * peak + 0.5)  # R, G, B codes, as the engine rounds
    green, blue, red = planes_of(out)
    apart = (torch.stack([red, green, blue], dim=1).float() - wanted).abs()
    # 16-bit codes are finer than fp32's rounding of the network: where the engine's and this
    # call's kernels sum in another order (an AVX2 CPU), one code in a thousand lands 1 apart.
    # Through YCbCr, a fifth moved by up to 2.
    assert apart.max() <= (1 if bits == 16 else 0) and (apart > 0).float().mean() < 0.01


def _joined_recording(
    path: Path,
    parts: list[tuple[int, int, int, int, int]],
    chroma: tuple[int, int] = (128, 128),
    matrices: list[int] | None = None,
) -> None:
    """H.264 in MPEG-TS, one part after the other as when recordings are joined (a new
    stream from the encoder each): per part (width, height, black, white, colour range),
    8 frames that alternate between the two levels of Y, with Cb and Cr at `chroma`, tagged
    with the part's matrix code of `matrices` (none by default). Lossless (qp 0), no
    B-frames."""
    out = av.open(str(path), "w", format="mpegts")
    stream = out.add_stream("h264", rate=25)
    stream.width, stream.height, stream.pix_fmt = parts[0][0], parts[0][1], "yuv420p"
    stream.time_base = Fraction(1, 90000)
    out.start_encoding()
    for part, (width, height, black, white, color_range) in enumerate(parts):
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.time_base, encoder.framerate = Fraction(1, 25), 25
        encoder.color_range, encoder.options = color_range, {"qp": "0", "bf": "0"}
        if matrices:
            encoder.colorspace = matrices[part]
        encoder.open()
        packets = []
        for index in range(8):
            frame = av.VideoFrame(width, height, "yuv420p")
            levels = ((black, white)[index % 2], *chroma)
            for plane, level in zip(frame.planes, levels, strict=True):
                plane.update(np.full((plane.height, plane.line_size), level, np.uint8))
            frame.pts, frame.color_range = index, color_range
            packets += encoder.encode(frame)
        for packet in packets + encoder.encode(None):
            packet.stream, packet.time_base = stream, stream.time_base
            packet.pts, packet.dts = (packet.pts + 8 * part) * 3600, (packet.dts + 8 * part) * 3600
            out.mux(packet)
    out.close()


def test_a_range_change_mid_stream_is_converted_to_the_first_range(tmp_path):
    # The full-range part was read as limited: its black and white stretched past them.
    path = tmp_path / "joined.ts"
    _joined_recording(path, [(32, 16, 16, 235, 1), (32, 16, 0, 255, 2)])  # the same levels
    with VideoReader(path) as reader:
        luma = [int(frame.planes[0][0, 0]) for frame in reader.frames()]
    assert reader.info.color_range == "tv"
    assert luma == [16, 235] * 8
    # Said once, from the first frame of the change (the 9th): not again for the 7 after it.
    assert [w for w in reader.warnings if "colour range" in w] == [
        "the colour range changes mid-stream (pc from frame 9): those frames are converted "
        "to the first frame's tv range"
    ]


# The second part limited-range like the first, or full-range: its range converted too,
# with one note (a second one said the range changed as well).
@pytest.mark.parametrize("second", [(48, 24, 16, 235, 1), (48, 24, 0, 255, 2)])
def test_a_size_change_mid_stream_is_scaled_to_the_first_size(tmp_path, second):
    # It stopped the run when it came, all the frames before it upscaled for nothing.
    path = tmp_path / "joined.ts"
    _joined_recording(path, [(32, 16, 16, 235, 1), second])
    with VideoReader(path) as reader:
        frames = list(reader.frames())
    assert [f.planes[0].shape for f in frames] == [(16, 32)] * 16
    assert [int(f.planes[0].mean()) for f in frames] == [16, 235] * 8
    decoded_as = "yuvj420p" if second[4] == 2 else "yuv420p"  # H.264's full range
    assert reader.warnings == [
        f"the video changes to 48x24 {decoded_as} mid-stream (from frame 9): those frames "
        "are scaled and converted to the first frame's 32x16 yuv420p"
    ]


# Y 100, Cb 80, Cr 200 (limited range), worked out from the two matrices' kr and kb: in
# BT.709, this colour is Y 109.0, Cb 72.5, Cr 202.3 in BT.601; in BT.601, it is Y 90.6,
# Cb 87.4, Cr 198.2 in BT.709.
@pytest.mark.parametrize(
    ("first", "then", "second", "converted", "said"),
    [
        ("bt601", "bt709", (32, 16, 100, 100, 1), (109.0, 72.5, 202.3),
         "the colour matrix changes mid-stream (bt709 from frame 9): those frames are "
         "converted to the first frame's bt601"),
        ("bt601", "bt709", (48, 24, 100, 100, 1), (109.0, 72.5, 202.3),
         "the video changes to 48x24 yuv420p bt709 mid-stream (from frame 9): those frames "
         "are scaled and converted to the first frame's 32x16 yuv420p bt601"),
        ("bt709", "bt601", (32, 16, 100, 100, 1), (90.6, 87.4, 198.2),
         "the colour matrix changes mid-stream (bt601 from frame 9): those frames are "
         "converted to the first frame's bt709"),
        ("bt709", "bt601", (48, 24, 100, 100, 1), (90.6, 87.4, 198.2),
         "the video changes to 48x24 yuv420p bt601 mid-stream (from frame 9): those frames "
         "are scaled and converted to the first frame's 32x16 yuv420p bt709"),
    ],
)  # fmt: skip
def test_a_matrix_change_mid_stream_is_converted_to_the_first_matrix(
    tmp_path, first, then, second, converted, said
):
    # The second part was read in the first part's matrix, without a note.
    path = tmp_path / "joined.ts"
    codes = {"bt601": 6, "bt709": 1}  # FFmpeg's
    _joined_recording(path, [(32, 16, 100, 100, 1), second], (80, 200), [codes[first], codes[then]])
    with VideoReader(path) as reader:
        centres = [
            [int(p[p.shape[0] // 2, p.shape[1] // 2]) for p in f.planes] for f in reader.frames()
        ]
    assert reader.info.color_matrix == first
    assert centres[:8] == [[100, 80, 200]] * 8
    # Within swscale's fixed-point rounding through 16 bits; converted at 8 bits, the BT.601
    # part of a BT.709 clip read Y 88 or 89.
    want_y, want_cb, want_cr = converted
    for y, cb, cr in centres[8:]:
        assert abs(y - want_y) <= 1 and abs(cb - want_cb) <= 1.5 and abs(cr - want_cr) <= 1.5
    assert reader.warnings == [said]


def test_a_change_to_a_matrix_swscale_cannot_convert_is_read_in_the_first_matrix(tmp_path):
    # A BT.601 clip whose later frames say YCgCo, which swscale does not convert to or
    # from: those frames are read as they are, in BT.601, with no note of a conversion.
    path = tmp_path / "joined.ts"
    bt601, ycgco = 6, 8  # FFmpeg's codes
    _joined_recording(path, [(32, 16, 100, 100, 1)] * 2, (80, 200), [bt601, ycgco])
    with VideoReader(path) as reader:
        centres = [
            [int(p[p.shape[0] // 2, p.shape[1] // 2]) for p in f.planes] for f in reader.frames()
        ]
    assert reader.info.color_matrix == "bt601"
    assert centres == [[100, 80, 200]] * 16
    assert reader.warnings == []


def test_a_dv_clip_is_described_and_written_at_its_own_rate(tmp_path, weights):
    # libavformat's DV demuxer states 60000 fps for the average (its time base turned
    # over): a Matroska output declared it, and progress expected 20020 frames of 10.
    from media import make_raw_stream

    from vsr.runner import upscale_video

    ntsc = Fraction(30000, 1001)
    source, output = tmp_path / "in.dv", tmp_path / "out.mkv"
    make_raw_stream(source, "dv", "dvvideo", ntsc, 3, 720, 480, "yuv411p")
    with VideoReader(source) as reader:
        assert reader.info.average_rate == ntsc
        assert reader.info.frames_to_expect() == (3, True)
        assert [frame.pts for frame in reader.frames()] == [0, 2002, 4004]  # in 1/60000
    upscale_video(source, output, weights=weights, progress=False)
    with av.open(str(output)) as container:
        assert container.streams.video[0].average_rate == ntsc


def test_a_variable_rate_mp4_is_described_at_its_average_rate(tmp_path):
    # Steps of 40, 40, 60, 20, 100 and 33 ms: 7 frames in 0.333 s, 21 fps on average. libav's
    # guess (51 fps, from its shortest steps) was preferred: progress and the output's rate.
    path = tmp_path / "vfr.mp4"
    make_clip(path, frames=7, vfr=True, audio=False)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.average_rate, stream.guessed_rate) == (Fraction(7000, 333), 51)
    with VideoReader(path) as reader:
        assert reader.info.average_rate == Fraction(7000, 333)


def test_a_grey_clip_tagged_limited_range_stays_limited(tmp_path, weights):
    # Monochrome video of 16-235 (HEVC, AV1 can hold it) was taken as full range, as PNG
    # grey is, and came out tagged so with its codes unchanged: black shown as dark grey.
    from vsr.runner import upscale_video
    from vsr.video.encode_settings import EncodeSettings

    luma = np.tile(np.linspace(16, 235, 64).round().astype(np.uint8), (32, 1))
    planes = {"gray": luma, "yuv420p": np.vstack([luma, np.full((16, 64), 128, np.uint8)])}
    made = {}
    for pix_fmt, picture in planes.items():
        source, output = tmp_path / f"{pix_fmt}.mkv", tmp_path / f"{pix_fmt}_x2.mkv"
        with av.open(str(source), "w") as container:
            stream = container.add_stream("ffv1", rate=25)
            stream.width, stream.height, stream.pix_fmt = 64, 32, pix_fmt
            stream.codec_context.color_range = colors.RANGE_CODES["tv"]
            frame = av.VideoFrame.from_ndarray(picture, format=pix_fmt)
            frame.color_range, frame.pts = colors.RANGE_CODES["tv"], 0
            container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        upscale_video(
            source, output, weights=weights, settings=EncodeSettings(codec="ffv1"), progress=False
        )
        with av.open(str(output)) as container:
            frame = next(container.decode(video=0))
            made[pix_fmt] = (frame.color_range, frame.to_ndarray()[:64])
    # The grey clip is upscaled as the same picture in limited-range YUV is.
    assert made["gray"][0] == made["yuv420p"][0] == colors.RANGE_CODES["tv"]
    np.testing.assert_array_equal(made["gray"][1], made["yuv420p"][1])


def test_an_untagged_grey_clip_is_read_as_full_range(tmp_path):
    # Grey with no range tag is full range, as PNG, JPEG and TIFF grey are: only a tag
    # saying limited makes it 16-235; its codes are kept as they are.
    source = tmp_path / "grey.mkv"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 8, "gray"
        for index, level in enumerate((5, 105, 250)):
            frame = av.VideoFrame.from_ndarray(np.full((8, 16), level, np.uint8), "gray")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with VideoReader(source) as reader:
        luma = [int(frame.planes[0][0, 0]) for frame in reader.frames()]
    assert reader.info.color_range == "pc"
    assert luma == [5, 105, 250]


@pytest.mark.parametrize(
    ("clip_range", "frame_range", "luma"), [("pc", "tv", 16), ("tv", "pc", 16)]
)
def test_a_grey_frame_of_another_range_is_converted_only_where_swscale_can(
    tmp_path, clip_range, frame_range, luma
):
    # swscale takes grey as full range whatever it is told: a limited grey frame in a full
    # range clip came through unchanged, noted as converted. A full-range one in a limited
    # clip is squeezed (16 full is 30 limited), as the note says.
    from vsr.video.frame_planes import FramePlanes

    source = tmp_path / "grey.mkv"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "gray"
        stream.codec_context.color_range = colors.RANGE_CODES[clip_range]
        frame = av.VideoFrame.from_ndarray(np.full((16, 16), 16, np.uint8), format="gray")
        frame.color_range, frame.pts = colors.RANGE_CODES[clip_range], 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with VideoReader(source) as reader:
        info = reader.info
    assert info.color_range == clip_range
    notes: list[str] = []
    planes = FramePlanes(info, frame, notes)
    other = av.VideoFrame.from_ndarray(np.full((16, 16), 16, np.uint8), format="gray")
    other.color_range = colors.RANGE_CODES[frame_range]
    converted = int(planes(other, 1)[0][0, 0])
    if clip_range == "tv":
        assert converted == 30 and any("converted to the first frame's tv" in n for n in notes)
    else:
        assert converted == 16 and notes == []
