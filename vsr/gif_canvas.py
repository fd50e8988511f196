"""A GIF's canvas kept with alpha after an opaque first frame. Pillow composes a GIF's frames
on a canvas of the first frame's kind, RGB after an opaque one, which cannot hold what a
frame disposed to background (disposal 2, with a transparent index) leaves clear: the area
came out opaque, in the transparent index's colour (black), where browsers and FFmpeg show
it clear."""

from __future__ import annotations

from PIL import Image


def keep_alpha_after_the_first_frame(image: Image.Image) -> None:
    """Make the canvas of `image`, an open GIF at its first frame, RGBA where Pillow would
    make it RGB (an opaque palette frame); call it before seeking the second frame. Pillow's
    own path for a first frame with a transparent index is the same: an RGBA canvas."""
    if image.format != "GIF" or image.tell() != 0 or image.mode != "P":
        return
    if "transparency" in image.info:  # Pillow makes this canvas RGBA itself
        return
    image.load()
    image.im = image.im.convert("RGBA")
    # Pillow's record of the canvas's mode, which its next seek reads: RGBA, it is left so
    # rather than turned to RGB, and each later frame is drawn over it as over a clear one.
    image._mode = "RGBA"
