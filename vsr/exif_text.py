"""An EXIF block written by Pillow with its text as the source had it.

EXIF's text tags (ASCII, by the standard) are bytes, and UTF-8 in them is common practice:
phones and many cameras write an artist's or owner's name so. Pillow reads them as Latin-1
and writes them as ASCII, each byte above 127 a "?": "Jürgen" came out "J??rgen". Each
such byte is one Latin-1 character, so Pillow's block has the text at the same places and
lengths; the source's bytes are put back there.
"""

from __future__ import annotations

import struct

from PIL import Image

_ASCII = 2
_MAIN, _EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0, 0x8769, 0x8825, 0xA005
# The directories each directory points to: the main one to the details and GPS, the
# details to Interop.
_WITHIN = {_MAIN: (_EXIF_IFD, _GPS_IFD), _EXIF_IFD: (_INTEROP_IFD,)}


def exif_bytes(exif: Image.Exif) -> bytes:
    """`exif.tobytes()`, "Exif\\0\\0" first, with the text of every directory (the main
    one, the details, GPS, Interop) as the bytes it was read from."""
    block = bytearray(exif.tobytes())
    texts: dict[int, dict] = {_MAIN: dict(exif)}
    for ifd in (_EXIF_IFD, _GPS_IFD):
        if ifd in exif:  # asked for when absent, Pillow would add an empty one
            texts[ifd] = exif.get_ifd(ifd)
    if _INTEROP_IFD in texts.get(_EXIF_IFD, {}):
        texts[_INTEROP_IFD] = exif.get_ifd(_INTEROP_IFD)
    tiff = memoryview(block)[6:]  # offsets count from the TIFF header after "Exif\0\0"
    order = "<" if tiff[:2] == b"II" else ">"
    (first,) = struct.unpack(order + "I", tiff[4:8])
    _restore(tiff, order, first, _MAIN, texts, set())
    return bytes(block)


def _restore(tiff: memoryview, order: str, at: int, ifd: int, texts: dict, seen: set) -> None:
    """Put the source's bytes back into the text entries of the directory at `at`, and of
    the directories it points to."""
    if at in seen or at + 2 > len(tiff):
        return
    seen.add(at)
    (count,) = struct.unpack(order + "H", tiff[at : at + 2])
    for entry in range(at + 2, min(at + 2 + 12 * count, len(tiff) - 11), 12):
        tag, kind, number = struct.unpack(order + "HHI", tiff[entry : entry + 8])
        (pointer,) = struct.unpack(order + "I", tiff[entry + 8 : entry + 12])
        if tag in _WITHIN.get(ifd, ()) and tag in texts:
            _restore(tiff, order, pointer, tag, texts, seen)
        value = texts[ifd].get(tag)
        if kind != _ASCII or not isinstance(value, str) or value.isascii():
            continue
        try:
            source = value.encode("latin-1") + b"\0"  # the bytes Pillow read, undone
        except UnicodeEncodeError:
            continue  # text set by a program, not read from a file: Pillow's as it is
        where = entry + 8 if number <= 4 else pointer
        if len(source) == number and where + number <= len(tiff):
            tiff[where : where + number] = source
