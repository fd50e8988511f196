"""A PNG's eXIf chunk wherever it stands, read without decoding the pixels.

The PNG specification lets eXIf follow the pixels (IDAT), and some writers put it there.
Pillow finds such a block only by decoding the whole picture (PngImageFile.getexif loads
it), which `read_image` does anyway and so turns the pixels by its orientation; the
metadata, read without the pixels, must see the same block to keep its tags and to swap
the resolution with the pixels. Walking the chunk headers costs a few reads.
"""

from __future__ import annotations

import struct
from pathlib import Path

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_exif_chunk(path: str | Path) -> bytes:
    """The data of a PNG's first eXIf chunk (a TIFF block, as Pillow's info["exif"]
    takes it); empty without one, for a file cut short, or for one that is not a PNG."""
    with open(path, "rb") as file:
        if file.read(8) != _PNG_SIGNATURE:
            return b""
        while True:
            head = file.read(8)
            if len(head) < 8 or head[4:] == b"IEND":
                return b""
            (length,) = struct.unpack(">I", head[:4])
            if head[4:] == b"eXIf":
                data = file.read(length)
                return data if len(data) == length else b""
            file.seek(length + 4, 1)  # the chunk's data and CRC
