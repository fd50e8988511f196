"""An APNG's default image that is not part of its animation: the still picture a viewer
without APNG shows (its IDAT, with no frame control before it). Pillow counts it as frame 0
(``default_image`` is True), and an animation upscaled with it began with the fallback for
0 ms, which browsers show for 100: it flashed once a loop. APNG viewers never show it, so
the animation is the frames after it, the first of them drawn on a clear canvas
(vsr.apng_compose)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def has_fallback(image: Image.Image) -> bool:
    """Whether `image` is an APNG whose frame 0 is a default image outside the animation."""
    return image.format == "PNG" and bool(getattr(image, "default_image", False))


def animated_frames(image: Image.Image) -> range:
    """The indices of the frames an APNG viewer plays (Pillow's numbering): all of them, but
    for an APNG's fallback."""
    return range(1 if has_fallback(image) else 0, getattr(image, "n_frames", 1))


def file_has_fallback(path: Path) -> bool:
    """`has_fallback` of the file at `path` (False for one Pillow cannot open)."""
    try:
        with Image.open(path) as image:
            return has_fallback(image)
    except (OSError, SyntaxError, ValueError):
        return False
