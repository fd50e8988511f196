"""What an image file says about its pixels besides their values, carried to the upscaled
file: the colour profile (ICC), the print resolution, and the camera's EXIF.

Without the profile, a viewer takes the pixels as sRGB: a Display P3 photograph (what
phones export) came out visibly duller, ΔE76 7 on average and 17 at most. The resolution is
multiplied by the scale, so the picture keeps its printed size (a 300 dpi scan upscaled x2
is 600 dpi). EXIF keeps its descriptive tags (camera, dates, exposure, GPS) with the new
pixel size, and leaves out the orientation, which the pixels already have, and the
thumbnail, which shows the old picture. A PNG's gamma and primaries (gAMA, cHRM, sRGB;
vsr.png_colour) go to a PNG. The XMP packet (creator, rights, keywords, rating) goes to every
type with a place for it, made true of the output (vsr.xmp_packet).

Pillow writes these for its own formats. FFmpeg, which writes the 16-bit PNGs and TIFFs,
takes none of them, so its files get them afterwards: chunks for a PNG, tags for a TIFF.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, PngImagePlugin

from vsr.apng_fallback import animated_frames
from vsr.cmyk import SRGB_PROFILE, converts_with_profile
from vsr.exif_text import exif_bytes
from vsr.gif_xmp import gif_xmp
from vsr.orientation import exif_orientation, stated_exif, xmp_packet
from vsr.png_colour import Chunks, chunks_to_write, colour_chunks, not_kept_meaning
from vsr.png_exif import png_exif_chunk
from vsr.unkept_metadata import unkept_metadata
from vsr.xmp_packet import MalformedXmp, without_padding, without_profile_name, xmp_for_output

# IFD0 tags that describe the picture or its maker, not its layout (strips, sizes, samples).
_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_ORIENTATION, _X_RESOLUTION, _Y_RESOLUTION, _RESOLUTION_UNIT = 274, 282, 283, 296
_SOFTWARE, _ICC = 305, 34675
_PIXEL_X, _PIXEL_Y, _MAKER_NOTE = 0xA002, 0xA003, 0x927C
# A JPEG holds EXIF ("Exif\0\0" and the block) in one APP1 segment: 64 KB less its length.
_JPEG_EXIF_LIMIT = 65533
# And XMP in one APP1 segment after its namespace, at most 65502 bytes (XMP specification,
# part 3); a longer packet is split into extended XMP, which vsr does not write.
_JPEG_XMP_LIMIT = 65502
_XMP_TIFF_TAG = 700
# A PNG's XMP: an iTXt chunk of this keyword, uncompressed and without a language, as
# Adobe writes it.
_PNG_XMP_HEADER = b"XML:com.adobe.xmp\0\0\0\0\0"
_METRES_PER_INCH = 0.0254
# Where EXIF states no orientation, Pillow's getexif takes one from this text anywhere in
# the XMP (Image.getexif), and its exif_transpose and TIFF loader turn the picture by it.
_PILLOW_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')


@dataclass(frozen=True)
class ImageMetadata:
    """The colour profile (ICC bytes), the resolution in dots per inch (x, y), the EXIF
    block (Pillow's bytes, "Exif\\0\\0" first), the number of frames in the file, a
    PNG's gAMA, cHRM and sRGB chunks, and the XMP packet."""

    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    exif: bytes | None = None
    frames: int = 1
    png_colour: Chunks = ()
    # What it says in words that vsr does not write (IPTC, a comment; vsr.unkept_metadata).
    unkept: tuple[str, ...] = ()
    xmp: bytes | None = None
    # The source's XMP is no well-formed XML: none is written, and a note says so.
    xmp_malformed: bool = False
    # What the XMP states of the source that the output changes: the pixels are turned a
    # quarter (its x resolution is the upright picture's y), they are grey (else RGB, as
    # vsr reads CMYK, Lab and a palette), they were converted from CMYK or Lab, so the
    # profile the XMP names is not theirs.
    turned_a_quarter: bool = False
    grey: bool = False
    colours_converted: bool = False

    def upscaled(self, scale: int, width: int, height: int) -> ImageMetadata:
        """The metadata of the picture upscaled by `scale` to width x height."""
        dpi = (self.dpi[0] * scale, self.dpi[1] * scale) if self.dpi else None
        exif = _exif_of_size(self.exif, width, height)
        try:
            xmp = (
                xmp_for_output(
                    self.xmp,
                    width,
                    height,
                    scale,
                    quarter_turn=self.turned_a_quarter,
                    grey=self.grey,
                    profile_kept=not self.colours_converted,
                )
                if self.xmp
                else None
            )
        except MalformedXmp:
            return replace(self, dpi=dpi, exif=exif, xmp=None, xmp_malformed=True)
        return replace(self, dpi=dpi, exif=exif, xmp=xmp)


def profile_colours(icc_profile: bytes) -> str:
    """The colours an ICC profile describes, from its header: "RGB", "GRAY", "CMYK", ..."""
    return icc_profile[16:20].decode("latin-1").strip()


def profile_fitted(
    metadata: ImageMetadata, written: str, target_name: str
) -> tuple[ImageMetadata, list[str]]:
    """`metadata` for an output whose pixels are `written` ("RGB" or "GRAY"), and a note
    if its profile had to go: one for CMYK colours (the pixels came out RGB), or a grey one
    on RGB, would tell viewers to read the output wrongly."""
    if not metadata.icc_profile or profile_colours(metadata.icc_profile) == written:
        return metadata, []
    note = (
        f"{target_name} cannot keep the colour profile: it is for "
        f"{profile_colours(metadata.icc_profile)} colours and the output's are {written} "
        "(viewers will take them as sRGB)"
    )
    xmp = without_profile_name(metadata.xmp) if metadata.xmp else None
    return replace(metadata, icc_profile=None, xmp=xmp), [note]


def read_metadata(path: str | Path) -> ImageMetadata:
    """An image file's metadata, or none for a file Pillow cannot open (a 16-bit grey +
    alpha TIFF); the pixels are not decoded."""
    try:
        with Image.open(path) as image:
            exif = _exif_of(image, path)
            # Read before _descriptive_exif takes the tag out of Pillow's EXIF.
            turned_a_quarter = exif_orientation(image) in (5, 6, 7, 8)
            return ImageMetadata(
                # A CMYK picture read through its profile comes out sRGB (vsr.cmyk).
                icc_profile=SRGB_PROFILE
                if converts_with_profile(image)
                else image.info.get("icc_profile") or None,
                dpi=_dpi(image, exif, turned_a_quarter),
                exif=_descriptive_exif(exif),
                # An MPO (a camera JPEG with a preview or a second eye) is one picture.
                # An APNG's fallback is no frame of its animation (vsr.apng_fallback).
                frames=1 if image.format == "MPO" else len(animated_frames(image)),
                png_colour=colour_chunks(image.info) if image.format == "PNG" else (),
                unkept=unkept_metadata(image),
                xmp=gif_xmp(path) if image.format == "GIF" else _xmp_of(image),
                turned_a_quarter=turned_a_quarter,
                grey=Image.getmodebase(image.mode) == "L",
                colours_converted=image.mode in ("CMYK", "LAB"),
            )
    except (OSError, SyntaxError, ValueError):
        return ImageMetadata()


def _exif_of(image: Image.Image, path: str | Path) -> Image.Exif:
    """The image's EXIF, as `read_image` reads it to turn the pixels; empty for a broken
    block, which must not cost the profile and the resolution, nor the pixels."""
    try:
        if image.format == "PNG" and "exif" not in image.info:
            # An eXIf after the pixels, which Pillow finds only by decoding them all, is
            # read from the chunks (an empty one where there is none, as decoding finds).
            image.info["exif"] = png_exif_chunk(path)
        exif = stated_exif(image)  # what the pixels are turned by: vsr.orientation
        for ifd in (_EXIF_IFD, _GPS_IFD):
            if ifd in exif:  # asked for when absent, an empty one would be written
                exif.get_ifd(ifd)  # read now, where a fault is caught
        return exif
    except Exception:
        return Image.Exif()


def _xmp_of(image: Image.Image) -> bytes | None:
    """The XMP packet Pillow found (JPEG's APP1, WebP's chunk, PNG's iTXt, TIFF's tag), as
    vsr.orientation reads it; None for a blank one."""
    xmp = xmp_packet(image)
    return xmp if isinstance(xmp, bytes) and xmp.strip(b"\0 \t\r\n") else None


def _dpi(
    image: Image.Image, exif: Image.Exif, turned_a_quarter: bool
) -> tuple[float, float] | None:
    """The resolution the file states, (x, y) as the picture stands upright (x is y where
    it is stored `turned_a_quarter`)."""
    if image.format in ("JPEG", "MPO") and image.info.get("jfif_unit") not in (1, 2):
        dpi = _exif_dpi(exif)  # Pillow's own falls back to 72 where the file states none
    else:
        # Pillow's is the file's own field (PNG's pHYs, TIFF's tags); a WebP has none, and
        # a PNG without pHYs may state it in its EXIF alone: it was dropped without a note,
        # since _descriptive_exif leaves those tags out.
        dpi = image.info.get("dpi") or _exif_dpi(exif)
    if not dpi or len(dpi) != 2 or not all(1 < float(d) < 1e6 for d in dpi):
        return None  # none, or a placeholder: 1 dpi (a PNG's aspect ratio alone), 0, NaN
    x, y = (round(float(d), 2) for d in dpi)
    return (y, x) if turned_a_quarter else (x, y)


def _exif_dpi(exif: Image.Exif) -> tuple[float, float] | None:
    """EXIF's resolution in dots per inch (its unit: 2, inches, the default; 3, cm)."""
    try:
        x, y = float(exif[_X_RESOLUTION]), float(exif[_Y_RESOLUTION])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    per_inch = {2: 1.0, 3: 2.54}.get(exif.get(_RESOLUTION_UNIT, 2))
    return None if per_inch is None else (x * per_inch, y * per_inch)


def _descriptive_exif(exif: Image.Exif) -> bytes | None:
    """The source's EXIF, its layout tags and orientation left out (a TIFF's own tags are
    its layout: strips, sample formats), its sub-directories (details, GPS, Interop) kept."""
    try:
        for tag in list(exif):
            if tag not in (*_DESCRIPTIVE_TAGS, _EXIF_IFD, _GPS_IFD):
                del exif[tag]
        if _EXIF_IFD in exif:
            details = exif.get_ifd(_EXIF_IFD)
            # A maker's note is private, its inner offsets count from where it was: moved,
            # it reads as garbage, and it can be most of the block.
            details.pop(_MAKER_NOTE, None)
            if not details:
                del exif[_EXIF_IFD]  # an empty directory is not a valid one
        exif.bigtiff = False  # a BigTIFF's own block, written as EXIF is: classic TIFF
        return exif_bytes(exif) if len(exif) else None
    except Exception:  # a broken EXIF block must not make the image unreadable
        return None


def _exif_of_size(exif: bytes | None, width: int, height: int) -> bytes | None:
    if exif is None:
        return None
    block = Image.Exif()
    block.load(exif)
    details = block.get_ifd(_EXIF_IFD) if _EXIF_IFD in block else {}
    if _PIXEL_X in details or _PIXEL_Y in details:
        details[_PIXEL_X], details[_PIXEL_Y] = width, height
    return exif_bytes(block)


def pillow_options(metadata: ImageMetadata, extension: str) -> dict:
    """Pillow's save options that keep `metadata` in a file of this type. BMP holds the
    resolution only; WebP has no resolution field; a TIFF keeps EXIF's descriptive tags in
    its own directory but not the EXIF or GPS sub-directories. BMP and GIF hold no XMP
    (Pillow writes none to a GIF)."""
    options: dict = {}
    if metadata.icc_profile and extension != ".bmp":
        options["icc_profile"] = metadata.icc_profile
    if extension == ".png" and (metadata.png_colour or metadata.xmp):
        options["pnginfo"] = PngImagePlugin.PngInfo()
        for kind, data in _png_chunks_to_write(metadata):
            options["pnginfo"].add(kind, data)
    if metadata.dpi and extension != ".webp":
        options["dpi"] = metadata.dpi
    exif = _exif_to_write(metadata)
    if exif and extension != ".bmp" and not _too_long_for_jpeg(metadata, extension):
        if extension in (".tif", ".tiff"):
            options["tiffinfo"] = _tiff_text(exif)
            if _upright_stated(metadata):
                options["tiffinfo"][_ORIENTATION] = 1
        else:
            options["exif"] = exif
    if metadata.xmp and extension in (".tif", ".tiff"):
        options.setdefault("tiffinfo", {})[_XMP_TIFF_TAG] = metadata.xmp
    elif metadata.xmp and extension == ".webp":
        options["xmp"] = metadata.xmp
    elif (
        metadata.xmp
        and extension in (".jpg", ".jpeg")
        and (packet := _xmp_for_jpeg(metadata.xmp)) is not None
    ):
        options["xmp"] = packet
    return options


def _upright_stated(metadata: ImageMetadata) -> bool:
    """Whether the output's EXIF must state orientation 1: its XMP still holds a
    tiff:Orientation of another picture (a placed document's in a pantry, an ancestor's),
    which Pillow would take as the output's and turn the upright pixels again by."""
    return bool(metadata.xmp and _PILLOW_XMP_ORIENTATION.search(metadata.xmp))


def _exif_to_write(metadata: ImageMetadata) -> bytes | None:
    """The EXIF block the output gets: the source's descriptive tags, and orientation 1
    where `_upright_stated`."""
    if not _upright_stated(metadata):
        return metadata.exif
    block = Image.Exif()
    if metadata.exif:
        block.load(metadata.exif)
    block[_ORIENTATION] = 1
    return exif_bytes(block)


def _png_chunks_to_write(metadata: ImageMetadata) -> list[tuple[bytes, bytes]]:
    """The colour chunks (gAMA, cHRM, sRGB) and the XMP's iTXt that a PNG of `metadata`
    gets, Pillow's or FFmpeg's (the profile, resolution and EXIF go their own ways)."""
    chunks = list(chunks_to_write(metadata.png_colour, bool(metadata.icc_profile)))
    if metadata.xmp:
        chunks.append((b"iTXt", _PNG_XMP_HEADER + metadata.xmp))
    return chunks


def _tiff_text(exif: bytes | None) -> dict[int, bytes]:
    """EXIF's descriptive tags for Pillow's TIFF writer, without its sub-directories,
    which a TIFF does not keep and libtiff (Pillow's compressed TIFFs) refuses to set
    ("Error setting from dictionary"). Given as bytes, not text, which Pillow would write
    as ASCII, "?" for each byte of UTF-8 beyond it."""
    return {
        tag: value.removesuffix(b"\0")  # Pillow ends the text itself
        for tag, (_, _, value) in _descriptive_entries(exif).items()
    }


def _too_long_for_jpeg(metadata: ImageMetadata, extension: str) -> bool:
    return extension in (".jpg", ".jpeg") and len(metadata.exif or b"") > _JPEG_EXIF_LIMIT


def _xmp_for_jpeg(packet: bytes) -> bytes | None:
    """The packet as a JPEG's one APP1 segment holds it: without its padding where only
    that is over; None where it is too long all the same (beyond one segment, Pillow would
    refuse to write the JPEG at all)."""
    if len(packet) <= _JPEG_XMP_LIMIT:
        return packet
    trimmed = without_padding(packet)
    return trimmed if len(trimmed) <= _JPEG_XMP_LIMIT else None


def _xmp_too_long_for_jpeg(metadata: ImageMetadata, extension: str) -> bool:
    too_long = bool(metadata.xmp) and _xmp_for_jpeg(metadata.xmp) is None
    return extension in (".jpg", ".jpeg") and too_long


def not_kept(metadata: ImageMetadata, extension: str) -> list[str]:
    """What a file of this type cannot keep of `metadata`, in words."""
    lost = []
    # GIF has a place for none of them (its ICC extension is rare, and Pillow writes none).
    if metadata.icc_profile and extension in (".bmp", ".gif"):
        lost.append(
            "the colour profile: viewers will take its colours as sRGB (.png, .jpg, .tif and "
            ".webp keep it)"
        )
    if metadata.dpi and extension in (".webp", ".gif"):
        lost.append("the resolution (.png, .jpg and .tif keep it)")
    # With a profile, viewers go by it and not by gAMA or cHRM (and where the profile
    # cannot go, its note says how the colours will be taken).
    colour_meaning = not_kept_meaning(metadata.png_colour)
    if colour_meaning and extension != ".png" and not metadata.icc_profile:
        lost.append(colour_meaning)
    tiff = extension in (".tif", ".tiff")
    if metadata.exif and extension in (".bmp", ".gif"):
        lost.append("the EXIF (.png, .jpg and .webp keep it)")
    elif _too_long_for_jpeg(metadata, extension):
        lost.append("the EXIF: it is longer than a JPEG's 64 KB (.png and .webp keep it)")
    elif metadata.exif and tiff and _has_details(metadata.exif):
        lost.append(
            "the EXIF's exposure and GPS details; the camera and the file's date are kept "
            "(.png, .jpg and .webp keep them all)"
        )
    if metadata.xmp_malformed:
        lost.append("the XMP: it is not well-formed XML, so none was written")
    elif metadata.xmp and extension in (".bmp", ".gif"):
        lost.append("the XMP (.png, .jpg, .webp and .tif keep it)")
    elif _xmp_too_long_for_jpeg(metadata, extension):
        lost.append(
            "the XMP: it is longer than a JPEG's 64 KB, and vsr writes no extended XMP "
            "(.png, .webp and .tif keep it)"
        )
    if metadata.unkept:
        them = "it" if len(metadata.unkept) == 1 else "them"
        lost.append(f"{_and(metadata.unkept)}: vsr does not carry {them} to any output")
    return lost


def _and(things: tuple[str, ...]) -> str:
    return things[0] if len(things) == 1 else f"{', '.join(things[:-1])} and {things[-1]}"


def _has_details(exif: bytes) -> bool:
    """Whether the EXIF block has the exposure (details) or GPS directory a TIFF cannot
    keep: a scan's or an edited file's often has neither, and nothing goes."""
    try:
        directory = tiff_directory(exif.removeprefix(b"Exif\0\0"))
    except struct.error:
        return True  # unreadable here: say what may go, as before
    return _EXIF_IFD in directory or _GPS_IFD in directory


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_with_metadata(png: bytes, metadata: ImageMetadata) -> bytes:
    """FFmpeg's PNG with `metadata` added after its header, and without the resolution
    chunk FFmpeg writes from the (unknown) pixel aspect: 0 by 1, no unit."""
    added = b""
    for kind, data in _png_chunks_to_write(metadata):
        added += _png_chunk(kind, data)
    if metadata.icc_profile:
        added += _png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(metadata.icc_profile))
    if metadata.dpi:
        per_metre = [round(d / _METRES_PER_INCH) for d in metadata.dpi]
        added += _png_chunk(b"pHYs", struct.pack(">IIB", *per_metre, 1))
    if exif := _exif_to_write(metadata):
        added += _png_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0"))
    chunks, position = [png[:8]], 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        end = position + 12 + length
        kind = png[position + 4 : position + 8]
        if kind != b"pHYs":
            chunks.append(png[position:end])
        if kind == b"IHDR":
            chunks.append(added)
        position = end
    return b"".join(chunks)


# TIFF field types: BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED (bytes); and their sizes.
_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _UNDEFINED = 1, 2, 3, 4, 5, 7
_TYPE_SIZES = {
    _BYTE: 1, _ASCII: 1, _SHORT: 2, _LONG: 4, _RATIONAL: 8, 6: 1, _UNDEFINED: 1, 8: 2, 9: 4, 10: 8,
    11: 4, 12: 8, 13: 4,
}  # fmt: skip


def tiff_directory(tiff: bytes) -> dict[int, tuple[int, int, bytes]]:
    """A TIFF's first directory: tag -> (type, count, value bytes in the file's order)."""
    order = "<" if tiff.startswith(b"II") else ">"
    (first,) = struct.unpack(order + "I", tiff[4:8])
    (count,) = struct.unpack(order + "H", tiff[first : first + 2])
    entries = {}
    for index in range(count):
        at = first + 2 + 12 * index
        tag, kind, number = struct.unpack(order + "HHI", tiff[at : at + 8])
        size = _TYPE_SIZES.get(kind, 1) * number
        if size <= 4:
            value = tiff[at + 8 : at + 8 + size]
        else:
            (offset,) = struct.unpack(order + "I", tiff[at + 8 : at + 12])
            value = tiff[offset : offset + size]
        entries[tag] = (kind, number, value)
    return entries


def _descriptive_entries(exif: bytes | None) -> dict[int, tuple[int, int, bytes]]:
    """EXIF's descriptive tags as TIFF entries, their bytes as the block has them. Each is
    text (ASCII) in TIFF and EXIF alike, so the block's byte order does not matter; one
    stored otherwise, by a broken writer, is left out."""
    if not exif:
        return {}
    try:
        directory = tiff_directory(exif.removeprefix(b"Exif\0\0"))
    except struct.error:
        return {}
    return {
        tag: entry
        for tag, entry in directory.items()
        if tag in _DESCRIPTIVE_TAGS and entry[0] == _ASCII and len(entry[2]) == entry[1]
    }


def tiff_orientation(tiff: bytes) -> int:
    """The orientation tag (EXIF's meaning, 1 to 8) of a TIFF Pillow cannot open; 1 if
    none or unreadable."""
    try:
        kind, _, value = tiff_directory(tiff)[_ORIENTATION]
        order = "<" if tiff.startswith(b"II") else ">"
        form = {_SHORT: "H", _LONG: "I"}.get(kind)  # a SHORT, or a LONG from some writers
        if form is None:
            return 1
        (orientation,) = struct.unpack(order + form, value[: struct.calcsize(form)])
    except (KeyError, struct.error):
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def tiff_with_metadata(tiff: bytes, metadata: ImageMetadata) -> bytes:
    """FFmpeg's little-endian, one-picture TIFF with the colour profile, the resolution
    and EXIF's descriptive tags given (as an 8-bit TIFF from Pillow keeps them), or the
    resolution left out where none is known: FFmpeg states 72 dpi, which would print a
    600 dpi scan eight times too large. FFmpeg's own software tag goes too. The XMP packet
    is the XMP tag's bytes.
    A new directory is written at the end of the file and the header pointed at it; the
    old one stays unreferenced, as TIFF editors leave it."""
    if not tiff.startswith(b"II*\0"):
        return tiff  # FFmpeg writes little-endian; anything else is left as it is
    entries = tiff_directory(tiff)
    for tag in (_X_RESOLUTION, _Y_RESOLUTION, _RESOLUTION_UNIT, _SOFTWARE):
        entries.pop(tag, None)
    if metadata.dpi:
        for tag, dpi in zip((_X_RESOLUTION, _Y_RESOLUTION), metadata.dpi, strict=True):
            entries[tag] = (_RATIONAL, 1, struct.pack("<II", round(dpi * 100), 100))
        entries[_RESOLUTION_UNIT] = (_SHORT, 1, struct.pack("<H", 2))  # inches
    if metadata.icc_profile:
        entries[_ICC] = (_UNDEFINED, len(metadata.icc_profile), metadata.icc_profile)
    entries.update(_descriptive_entries(metadata.exif))
    if _upright_stated(metadata):
        entries[_ORIENTATION] = (_SHORT, 1, struct.pack("<H", 1))
    if metadata.xmp:
        entries[_XMP_TIFF_TAG] = (_BYTE, len(metadata.xmp), metadata.xmp)  # as Adobe's
    out = bytearray(tiff)
    if len(out) % 2:
        out += b"\0"  # TIFF offsets are even
    directory_at = len(out)
    values_at = directory_at + 2 + 12 * len(entries) + 4
    directory, values = bytearray(struct.pack("<H", len(entries))), bytearray()
    for tag in sorted(entries):
        kind, number, value = entries[tag]
        if len(value) <= 4:
            field = value.ljust(4, b"\0")
        else:
            field = struct.pack("<I", values_at + len(values))
            values += value + b"\0" * (len(value) % 2)
        directory += struct.pack("<HHI", tag, kind, number) + field
    directory += struct.pack("<I", 0)  # no next picture
    out += directory + values
    out[4:8] = struct.pack("<I", directory_at)
    return bytes(out)
