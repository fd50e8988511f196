"""What a picture file says in words that vsr does not carry to its output.

Lightroom and Photoshop write rights, creator, keywords and ratings as IPTC beside the XMP
(which vsr carries: vsr.xmp_packet); PNGs carry Copyright and Author in text chunks, JPEGs
a comment. vsr writes the colour profile, the resolution, the EXIF and the XMP; these
others were dropped without the note that names what an output does not keep.
"""

from __future__ import annotations

from PIL import Image

_PNG_XMP_KEY = "XML:com.adobe.xmp"  # the XMP's own chunk, which vsr carries
# Text a tool writes of itself, not of the picture: the program, ImageMagick's file dates.
_BOOKKEEPING = ("Software", "date:")


def unkept_metadata(image: Image.Image) -> tuple[str, ...]:
    """The kinds of descriptive metadata `image` (open, not decoded) carries that vsr does
    not write, as a note names them: "the IPTC", "a comment", "the PNG text (Author,
    Copyright)"."""
    info, found = image.info, []
    if info.get("photoshop") and image.format == "JPEG":  # APP13, where IPTC lives
        found.append("the IPTC")
    if info.get("comment"):
        found.append("a comment")
    if image.format == "PNG":
        # tEXt, zTXt and iTXt chunks read so far (those before the pixels), the XMP aside.
        text = getattr(image, "text", {})
        keys = sorted(k for k in text if k != _PNG_XMP_KEY and not k.startswith(_BOOKKEEPING))
        if keys:
            found.append(f"the PNG text ({', '.join(keys)})")
    return tuple(found)
