"""What a picture file says in words that vsr does not carry to its output.

Lightroom and Photoshop write rights, creator, keywords and ratings as XMP (and IPTC);
PNGs carry Copyright and Author in text chunks, JPEGs a comment. vsr writes the colour
profile, the resolution and the EXIF; these others were dropped without the note that
names what an output does not keep.
"""

from __future__ import annotations

from PIL import Image

_XMP_TIFF_TAG = 700
_PNG_XMP_KEY = "XML:com.adobe.xmp"
# Text a tool writes of itself, not of the picture: the program, ImageMagick's file dates.
_BOOKKEEPING = ("Software", "date:")


def unkept_metadata(image: Image.Image) -> tuple[str, ...]:
    """The kinds of descriptive metadata `image` (open, not decoded) carries that vsr does
    not write: "XMP", "IPTC", "a comment", "PNG text (Author, Copyright)"."""
    info, found = image.info, []
    tiff_tags = getattr(image, "tag_v2", None)
    if info.get("xmp") or info.get(_PNG_XMP_KEY) or (tiff_tags and _XMP_TIFF_TAG in tiff_tags):
        found.append("XMP")
    if info.get("photoshop") and image.format == "JPEG":  # APP13, where IPTC lives
        found.append("IPTC")
    if info.get("comment"):
        found.append("a comment")
    if image.format == "PNG":
        # tEXt, zTXt and iTXt chunks read so far (those before the pixels), the XMP aside.
        text = getattr(image, "text", {})
        keys = sorted(k for k in text if k != _PNG_XMP_KEY and not k.startswith(_BOOKKEEPING))
        if keys:
            found.append(f"PNG text ({', '.join(keys)})")
    return tuple(found)
