"""Pixel-format choices, colour tags and the encoder list."""

from __future__ import annotations

import av
import pytest

from vsr.errors import VsrError
from vsr.video import colors
from vsr.video.codecs import video_encoder, video_encoders
from vsr.video.pixfmt import nearest_supported, parse_planar, planar_equivalent


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
    assert nearest_supported("yuv420p", ["rgb24"]) is None


def test_colour_names_and_codes():
    assert colors.MATRIX_TAGS[1] == "bt709" and colors.matrix_for_maths("bt470bg") == "bt601"
    assert colors.code_of(colors.MATRIX_TAGS, "bt601") == 6
    assert colors.code_of(colors.PRIMARIES, None) == colors.UNSPECIFIED
    assert colors.guess_matrix(720) == "bt709" and colors.guess_matrix(576) == "bt601"
    assert colors.range_name(0) == "tv" and colors.range_name(2) == "pc"


def test_encoder_list():
    names = video_encoders()
    assert {"libx264", "libx265", "ffv1", "libsvtav1"} <= set(names)
    assert "png" not in names and "libx264rgb" not in names  # no YUV input
    assert video_encoder("h264").name == "libx264"  # codec names resolve to an encoder
    with pytest.raises(VsrError, match="available encoders: .*ffv1"):
        video_encoder("h.264")
