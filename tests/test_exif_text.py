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
