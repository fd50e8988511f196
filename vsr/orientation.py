"""Which way a picture is stored, read once for both what turns its pixels upright and
what the output leaves out of its metadata (vsr.xmp_packet), so that the two agree.

EXIF's orientation where the file states one, else the XMP's, of the picture itself
(`xmp_orientation`). Pillow's getexif, where EXIF states none, takes the first
"tiff:Orientation" anywhere in the XMP: one of a placed document's, deep in its pantry,
turned a picture whose own description states none; and it misses one under another prefix,
in single quotes or in UTF-16, which the packet's editing removes all the same.
"""

from __future__ import annotations

from PIL import Image

from vsr.xmp_packet import xmp_orientation

_EXIF_ORIENTATION = 0x0112
# Where Pillow keeps an XMP packet it read: JPEG, WebP, TIFF and PNG; PNG's under both.
_PILLOW_XMP_KEYS = ("xmp", "XML:com.adobe.xmp")


def stated_exif(image: Image.Image) -> Image.Exif:
    """The image's EXIF as the file states it, without Pillow's guess from the XMP. Pillow
    keeps what getexif read the first time it is asked, so asked here first, with the XMP
    out of sight, every later getexif (its own, as it loads a TIFF, too) gives this."""
    packets = {key: image.info.pop(key) for key in _PILLOW_XMP_KEYS if key in image.info}
    try:
        return image.getexif()
    finally:
        image.info.update(packets)


def xmp_packet(image: Image.Image) -> bytes | None:
    """The XMP packet Pillow found in the image's file, as bytes."""
    packet = image.info.get("xmp")
    if packet:
        return packet.encode() if isinstance(packet, str) else packet
    # A PNG's tEXt or zTXt chunk (older writers' place for it), which Pillow reads as
    # Latin-1 text, PNG's rule for those chunks: its bytes are the packet's own UTF-8,
    # and encoding the text as UTF-8 turned a creator "Jé" into "JÃ©".
    text = image.info.get("XML:com.adobe.xmp")
    if not isinstance(text, str):
        return text or None
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:  # no Latin-1 reading: text Pillow decoded as UTF-8 itself
        return text.encode()


def exif_tag(image: Image.Image) -> int | None:
    """EXIF's orientation tag, as the file states it; None without one, or for a broken
    EXIF block, which must not make the pixels unreadable."""
    try:
        return stated_exif(image).get(_EXIF_ORIENTATION)
    except Exception:
        return None


def exif_orientation(image: Image.Image) -> int:
    """The orientation (EXIF's meaning, 1..8) the picture is stored in: EXIF's where the
    file states one, else its XMP's; 1 without either."""
    stated = exif_tag(image)
    if stated is None:
        stated = xmp_orientation(xmp_packet(image))
    try:
        return int(stated) if 1 <= int(stated) <= 8 else 1
    except (TypeError, ValueError):
        return 1
