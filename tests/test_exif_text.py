"""EXIF text in UTF-8 (phones and many cameras write names so) keeps its bytes in every
output that keeps the tag, not "?" for each byte beyond ASCII (vsr.exif_text)."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from PIL import Image

import vsr
from vsr.imageio import write_image
from vsr.models import create_model

ARTIST = "Zoë Ødegård 写真".encode()
OWNER = "Jürgen".encode()


def _utf8_exif(width: int, height: int) -> bytes:
    """A little-endian EXIF block as a phone writes it: the artist in the main directory,
    the camera's owner in the details, both text (ASCII type) in UTF-8."""
    artist, owner = ARTIST + b"\0", OWNER + b"\0"
    details_at = 8 + 2 + 2 * 12 + 4
    artist_at = details_at + 2 + 3 * 12 + 4
    owner_at = artist_at + len(artist)
    main = struct.pack("<H", 2) + struct.pack("<HHII", 0x013B, 2, len(artist), artist_at) \
        + struct.pack("<HHII", 0x8769, 4, 1, details_at) + bytes(4)  # fmt: skip
    details = (struct.pack("<H", 3)
               + struct.pack("<HHII", 0xA002, 4, 1, width)
               + struct.pack("<HHII", 0xA003, 4, 1, height)
               + struct.pack("<HHII", 0xA430, 2, len(owner), owner_at) + bytes(4))  # fmt: skip
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + main + details + artist + owner


def _text(value: str) -> bytes:
    return value.encode("latin-1")  # Pillow reads EXIF text as Latin-1: these are its bytes


@pytest.mark.parametrize("output", ["out.png", "out.jpg", "out.webp", "out.tif", "out16.tif"])
def test_utf8_exif_text_keeps_its_bytes(tmp_path, output):
    exif = _utf8_exif(8, 6)
    if "16" in output:
        from vsr.image_metadata import ImageMetadata

        source = tmp_path / "in16.png"
        write_image(source, np.full((6, 8, 3), 30000, np.uint16), metadata=ImageMetadata(exif=exif))
    else:
        source = tmp_path / "in.jpg"
        Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(source, exif=exif)
    upscaler = vsr.load_model(create_model("imdn_rtc", 2), device="cpu", precision="fp32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a TIFF's note on the details it cannot keep
        vsr.upscale_image(upscaler, source, tmp_path / output)
    with Image.open(tmp_path / output) as written:
        kept = written.getexif()
        assert _text(kept[0x013B]) == ARTIST
        if output.endswith(".tif"):
            assert _text(written.tag_v2[0x013B]) == ARTIST and written.tag_v2.tagtype[0x013B] == 2
            return  # a TIFF keeps no details directory
        details = kept.get_ifd(0x8769)
        assert _text(details[0xA430]) == OWNER
        assert (details[0xA002], details[0xA003]) == (16, 12)  # and the new size


def _written(block: bytes) -> Image.Exif:
    """The EXIF block as exif_bytes writes it, read back by Pillow."""
    from vsr.exif_text import exif_bytes

    exif = Image.Exif()
    exif.load(b"Exif\0\0" + block)
    written = Image.Exif()
    written.load(exif_bytes(exif))
    return written


def test_a_utf8_text_short_enough_to_sit_in_its_entry_keeps_its_bytes():
    # "Jü" and its NUL are 4 bytes: held in the entry itself, not at an offset.
    text = "Jü".encode() + b"\0"
    block = b"II*\0" + struct.pack("<IH", 8, 1) + struct.pack("<HHI", 0x013B, 2, len(text)) \
        + text + bytes(4)  # fmt: skip
    assert _text(_written(block)[0x013B]) == "Jü".encode()


def test_utf8_text_in_the_gps_directory_keeps_its_bytes():
    datum = "Système géodésique".encode()
    gps_at = 8 + 2 + 12 + 4
    datum_at = gps_at + 2 + 12 + 4
    main = struct.pack("<HHHII", 1, 0x8825, 4, 1, gps_at) + bytes(4)
    gps = struct.pack("<HHHII", 1, 0x0012, 2, len(datum) + 1, datum_at) + bytes(4)
    block = b"II*\0" + struct.pack("<I", 8) + main + gps + datum + b"\0"
    assert _text(_written(block).get_ifd(0x8825)[0x0012]) == datum


def test_utf8_text_in_the_interop_directory_keeps_its_bytes():
    text = "Rü98 idx".encode()
    details_at = 8 + 2 + 12 + 4
    interop_at = details_at + 2 + 12 + 4
    text_at = interop_at + 2 + 12 + 4
    main = struct.pack("<HHHII", 1, 0x8769, 4, 1, details_at) + bytes(4)
    details = struct.pack("<HHHII", 1, 0xA005, 4, 1, interop_at) + bytes(4)
    interop = struct.pack("<HHHII", 1, 0x0001, 2, len(text) + 1, text_at) + bytes(4)
    block = b"II*\0" + struct.pack("<I", 8) + main + details + interop + text + b"\0"
    written = _written(block).get_ifd(0xA005)  # Pillow finds it through the details
    assert _text(written[0x0001]) == text
