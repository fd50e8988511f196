"""A CMYK picture with an ICC profile is read through it (vsr.cmyk), and the output says
sRGB. No CMYK profile ships with Pillow or can be fetched here, so the test builds a small
press-like one: a 2-point lookup table from inks to Lab whose cyan, magenta and yellow are
a press's, not the formula's, and whose black is a grey on its own (so only black point
compensation makes it black)."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from PIL import Image, ImageCms

import vsr
from vsr.cmyk import SRGB_PROFILE
from vsr.imageio import read_image
from vsr.models import create_model

# sRGB of the pure inks on press, and of any ink with full black: a paper's black is a
# dark grey, as a print measured relative to its paper white is.
_PRESS = {(1, 0, 0, 0): (0, 158, 224), (0, 1, 0, 0): (236, 0, 140), (0, 0, 1, 0): (255, 242, 0)}
_PAPER_BLACK = (40, 38, 40)


def _lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """CIELAB (D50, as ICC's connection space) of an sRGB colour."""
    c = np.asarray(rgb, float) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    to_xyz_d50 = np.array(
        [[0.4360747, 0.3850649, 0.1430804],
         [0.2225045, 0.7168786, 0.0606169],
         [0.0139322, 0.0971045, 0.7141733]]
    )  # fmt: skip
    xyz = to_xyz_d50 @ linear / np.array([0.9642, 1.0, 0.8249])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def _press_rgb(c: int, m: int, y: int, k: int, press: dict = _PRESS) -> tuple[int, int, int]:
    if k:
        return _PAPER_BLACK
    return press.get((c, m, y, k), tuple(255 * (1 - v) for v in (c, m, y)))


def _lut8(inputs: int, outputs: int, grid: bytes) -> bytes:
    """An ICC lut8Type: identity curves around a 2-point-per-input grid."""
    identity = struct.pack(">9i", 65536, 0, 0, 0, 65536, 0, 0, 0, 65536)
    ramp = bytes(range(256))
    return b"mft1\0\0\0\0" + bytes([inputs, outputs, 2, 0]) + identity + ramp * inputs \
        + grid + ramp * outputs  # fmt: skip


def _to_lab(press: dict) -> bytes:
    grid = b""
    for c, m, y, k in np.ndindex(2, 2, 2, 2):
        lightness, a, b = _lab(_press_rgb(c, m, y, k, press))
        grid += bytes([round(lightness * 2.55), round(a + 128), round(b + 128)])
    return grid


def press_profile(perceptual: dict | None = None) -> bytes:
    """A version 2 CMYK output profile: inks to Lab (A2B0), and Lab to black ink only
    (B2A0), which LittleCMS reads the paper's black point from. With `perceptual` (inks:
    colours) A2B0 shows those, and the press's own colours go to A2B1 (relative
    colorimetric), B2A1 to black ink."""
    to_lab = _to_lab(_PRESS)
    to_ink = b"".join(bytes([0, 0, 0, 255 * (1 - lightness)]) for lightness, _, _ in
                      np.ndindex(2, 2, 2))  # fmt: skip
    d50 = struct.pack(">3i", *(round(v * 65536) for v in (0.9642, 1.0, 0.8249)))
    name = b"press\0"
    tags = [
        (b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + bytes(78)),
        (b"wtpt", b"XYZ \0\0\0\0" + d50),
        (b"cprt", b"text\0\0\0\0none\0"),
        (b"A2B0", _lut8(4, 3, to_lab)),
        (b"B2A0", _lut8(3, 4, to_ink)),
    ]
    if perceptual is not None:
        tags[3] = (b"A2B0", _lut8(4, 3, _to_lab({**_PRESS, **perceptual})))
        tags += [(b"A2B1", _lut8(4, 3, to_lab)), (b"B2A1", _lut8(3, 4, to_ink))]
    at, table, body = 128 + 4 + 12 * len(tags), struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        data += bytes(-len(data) % 4)
        table += signature + struct.pack(">II", at + len(body), len(data))
        body += data
    header = struct.pack(">I", at + len(body)) + bytes(4) + b"\x02\x10\0\0prtrCMYKLab " \
        + bytes(12) + b"acsp" + bytes(28) + d50 + bytes(48)  # fmt: skip
    return header + table + body


# Cyan, magenta, yellow, no ink, full black ink.
_INKS = [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 0), (0, 0, 0, 255)]


def _swatches(path, profile: bytes | None) -> None:
    image = Image.new("CMYK", (len(_INKS), 1))
    for x, inks in enumerate(_INKS):
        image.putpixel((x, 0), inks)
    image.save(path, **({"icc_profile": profile} if profile else {}))


@pytest.mark.parametrize("name", ["print.jpg", "print.tif"])
def test_a_cmyk_picture_is_read_through_its_profile(tmp_path, name):
    _swatches(tmp_path / name, press_profile())
    if name.endswith(".jpg"):
        with Image.open(tmp_path / name) as stored:
            # The premise: Adobe's marker, whose inverted inks Pillow undoes on decoding.
            assert "adobe" in stored.info and stored.mode == "CMYK"
    pixels = read_image(tmp_path / name)[0].astype(int)
    tolerance = 6 if name.endswith(".jpg") else 3
    assert np.abs(pixels[:3] - [(0, 155, 223), (235, 0, 136), (254, 241, 0)]).max() <= tolerance
    assert (pixels[3] >= 255 - tolerance).all()  # the paper: white
    assert (pixels[4] <= tolerance + 4).all()  # full black: black, not the paper's grey
    # The formula: (0, 255, 255) cyan, (255, 0, 255) magenta, (255, 255, 0) yellow.
    assert pixels[0, 1] < 200 and pixels[1, 2] < 180


def test_without_a_profile_the_formula_stays(tmp_path):
    _swatches(tmp_path / "plain.tif", None)
    assert read_image(tmp_path / "plain.tif")[0].tolist() == [
        [0, 255, 255], [255, 0, 255], [255, 255, 0], [255, 255, 255], [0, 0, 0]
    ]  # fmt: skip


def test_the_output_is_tagged_srgb_without_a_note(tmp_path):
    _swatches(tmp_path / "print.jpg", press_profile())
    upscaler = vsr.load_model(create_model("imdn_rtc", 2), device="cpu", precision="fp32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vsr.upscale_image(upscaler, tmp_path / "print.jpg", tmp_path / "print.png")
    assert [str(w.message) for w in caught] == []
    with Image.open(tmp_path / "print.png") as written:
        assert written.mode == "RGB" and written.info["icc_profile"] == SRGB_PROFILE


def test_the_srgb_profile_is_the_same_in_every_run():
    """The profile is made when vsr starts; LittleCMS dates it to the second, and two runs
    on the same picture must write the same file."""
    code = "import sys; from vsr.cmyk import SRGB_PROFILE; sys.stdout.buffer.write(SRGB_PROFILE)"
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    time.sleep(1.1)  # the next run in another second
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert first.stdout == second.stdout == SRGB_PROFILE
    ImageCms.ImageCmsProfile(io.BytesIO(SRGB_PROFILE))  # still a profile LittleCMS reads


def test_cmyk_is_converted_with_relative_colorimetric_rendering(tmp_path):
    # Photoshop's default: the profile's A2B1 (the press's colours), not A2B0 (the profile
    # maker's perceptual squeeze), which here shows the cyan ink as (60, 150, 200).
    _swatches(tmp_path / "print.tif", press_profile(perceptual={(1, 0, 0, 0): (60, 150, 200)}))
    cyan = read_image(tmp_path / "print.tif")[0, 0].astype(int)
    assert np.abs(cyan - _PRESS[1, 0, 0, 0]).max() <= 10
