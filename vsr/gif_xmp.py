"""A GIF's XMP packet, which Pillow does not read.

Photoshop, exiftool and Adobe's XMP toolkit write it as an application extension named
"XMP DataXMP" (XMP specification, part 3, 1.1.2): the packet's bytes as they are, not cut
into GIF's sub-blocks, and after them a 258-byte "magic trailer" (1, then 255 down to 0,
then 0), on which a reader that walks sub-blocks lands at the extension's end whatever the
packet holds.
"""

from __future__ import annotations

from pathlib import Path

_XMP_EXTENSION = b"\x21\xff\x0bXMP DataXMP"
_MAGIC_TRAILER = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
_EXTENSION, _PICTURE, _END = 0x21, 0x2C, 0x3B


def gif_xmp(path: str | Path) -> bytes | None:
    """The XMP packet of the GIF at `path`, without its magic trailer; None without one,
    or for a file that is not a GIF or is cut short."""
    data = Path(path).read_bytes()
    if not data.startswith((b"GIF87a", b"GIF89a")) or len(data) < 13:
        return None
    at = 13 + _colour_table_size(data[10])
    while at < len(data) and data[at] != _END:
        if data.startswith(_XMP_EXTENSION, at):
            start = at + len(_XMP_EXTENSION)
            end = data.find(_MAGIC_TRAILER, start)
            return data[start:end] if end > start else None
        if data[at] == _EXTENSION:
            at = _after_sub_blocks(data, at + 2)
        elif data[at] == _PICTURE and at + 10 <= len(data):
            at += 10 + _colour_table_size(data[at + 9])
            at = _after_sub_blocks(data, at + 1)  # after the LZW code size
        else:
            return None  # not a block GIF has: a broken file
    return None


def _colour_table_size(flags: int) -> int:
    """The bytes of the colour table a screen or picture descriptor's flags announce."""
    return 3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0


def _after_sub_blocks(data: bytes, at: int) -> int:
    """Where a run of sub-blocks that begins at `at` ends, after its empty block."""
    while at < len(data) and data[at]:
        at += data[at] + 1
    return at + 1
