"""A PNG's gamma and primaries (gAMA, cHRM) and its sRGB chunk go to a PNG output, 8-bit
(Pillow) and 16-bit (FFmpeg, then vsr's chunks); other types say what they lose."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

import vsr
from vsr.image_metadata import _png_chunk
from vsr.imageio import write_image
from vsr.models import create_model

MAC_GAMMA = 55556  # 1/1.8, times 100 000 as gAMA stores it
# Adobe RGB's primaries, D65 white: x, y of white, red, green, blue.
ADOBE_PRIMARIES = (31270, 32900, 64000, 33000, 21000, 71000, 15000, 6000)


@pytest.fixture(scope="module")
def upscaler():
    return vsr.load_model(create_model("imdn_rtc", 2), device="cpu", precision="fp32")


def _png(path, chunks: list[tuple[bytes, bytes]], sixteen_bit: bool = False) -> None:
    """A small PNG, 8 or 16 bits, with `chunks` after its header."""
    if sixteen_bit:
        write_image(path, np.full((6, 8, 3), 30000, np.uint16))
    else:
        Image.fromarray(np.full((6, 8, 3), 120, np.uint8)).save(path)
    data = path.read_bytes()
    after_header = 8 + 25  # the signature and IHDR
    added = b"".join(_png_chunk(kind, body) for kind, body in chunks)
    path.write_bytes(data[:after_header] + added + data[after_header:])


def _run(upscaler, source, target) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vsr.upscale_image(upscaler, source, target)
    return [str(w.message) for w in caught]


@pytest.mark.parametrize("sixteen_bit", [False, True])
def test_gamma_and_primaries_go_to_a_png(tmp_path, upscaler, sixteen_bit):
    chunks = [(b"gAMA", struct.pack(">I", MAC_GAMMA)),
              (b"cHRM", struct.pack(">8I", *ADOBE_PRIMARIES))]  # fmt: skip
    _png(tmp_path / "mac.png", chunks, sixteen_bit)
    assert _run(upscaler, tmp_path / "mac.png", tmp_path / "out.png") == []
    with Image.open(tmp_path / "out.png") as written:
        assert round(written.info["gamma"] * 100000) == MAC_GAMMA
        assert tuple(round(v * 100000) for v in written.info["chromaticity"]) == ADOBE_PRIMARIES


@pytest.mark.parametrize("sixteen_bit", [False, True])
def test_the_srgb_chunk_goes_along_unless_a_profile_does(tmp_path, upscaler, sixteen_bit):
    _png(tmp_path / "web.png", [(b"sRGB", b"\x03")], sixteen_bit)  # absolute colorimetric
    _run(upscaler, tmp_path / "web.png", tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as written:
        assert written.info["srgb"] == 3
    # A PNG holds a profile or an sRGB chunk, never both: the profile wins.
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    iccp = (b"iCCP", b"sRGB\0\0" + zlib.compress(profile))
    _png(tmp_path / "both.png", [iccp, (b"sRGB", b"\x00")], sixteen_bit)
    _run(upscaler, tmp_path / "both.png", tmp_path / "one.png")
    with Image.open(tmp_path / "one.png") as written:
        assert written.info["icc_profile"] == profile and "srgb" not in written.info


def test_other_types_note_a_gamma_and_primaries_they_cannot_keep(tmp_path, upscaler):
    _png(tmp_path / "mac.png", [(b"gAMA", struct.pack(">I", MAC_GAMMA))])
    assert _run(upscaler, tmp_path / "mac.png", tmp_path / "mac.jpg") == [
        f"{tmp_path / 'mac.jpg'} cannot keep the gamma (PNG's gAMA): viewers that honour it "
        "will show the "
        "colours otherwise (.png keeps it)"
    ]
    _png(tmp_path / "wide.png", [(b"gAMA", struct.pack(">I", MAC_GAMMA)),
                                 (b"cHRM", struct.pack(">8I", *ADOBE_PRIMARIES))])  # fmt: skip
    assert _run(upscaler, tmp_path / "wide.png", tmp_path / "wide.tif") == [
        f"{tmp_path / 'wide.tif'} cannot keep the gamma and the primaries (PNG's gAMA and "
        "cHRM): viewers "
        "that honour them will show the colours otherwise (.png keeps them)"
    ]
    # What only restates sRGB loses nothing: an untagged picture is taken as sRGB.
    _png(tmp_path / "web.png", [(b"gAMA", struct.pack(">I", 45455)), (b"sRGB", b"\x00")])
    _png(tmp_path / "plain.png", [(b"gAMA", struct.pack(">I", 45455))])
    assert _run(upscaler, tmp_path / "web.png", tmp_path / "web.webp") == []
    assert _run(upscaler, tmp_path / "plain.png", tmp_path / "plain.jpg") == []


def test_a_gamma_of_0_states_nothing(tmp_path, upscaler):
    # The PNG spec: a gAMA of 0 is to be ignored. Not carried to a PNG, nothing lost in a JPEG.
    _png(tmp_path / "zero.png", [(b"gAMA", bytes(4))])
    assert _run(upscaler, tmp_path / "zero.png", tmp_path / "out.jpg") == []
    assert _run(upscaler, tmp_path / "zero.png", tmp_path / "out.png") == []
    with Image.open(tmp_path / "out.png") as written:
        assert "gamma" not in written.info


def test_primaries_a_little_off_srgb_are_noted_as_lost(tmp_path, upscaler):
    # A white point of x = 0.3177 (sRGB's 0.3127): more than the 0.001 a chunk's rounding
    # explains, so a type that cannot keep it changes the colours.
    primaries = (31770, 32900, 64000, 33000, 30000, 60000, 15000, 6000)
    _png(tmp_path / "off.png", [(b"cHRM", struct.pack(">8I", *primaries))])
    assert _run(upscaler, tmp_path / "off.png", tmp_path / "off.jpg") == [
        f"{tmp_path / 'off.jpg'} cannot keep the primaries (PNG's cHRM): viewers that honour "
        "it will show the colours otherwise (.png keeps it)"
    ]
