"""An APNG's frames composed as its specification draws them: each frame's rectangle
replaces what is under it (blend_op SOURCE) or is drawn over it with the "over" operator on
straight alpha (blend_op OVER), and afterwards is left (dispose_op NONE), cleared to
transparent black (BACKGROUND) or put back as it was (PREVIOUS).

Pillow's seek composes APNG frames too, but draws an OVER frame by pasting its rectangle
through its own alpha, which mixes the alpha channel as it mixes colour and ignores the alpha
beneath: an alpha-160 sprite over an opaque area came out alpha 195 (see-through where it
should not be), and an alpha-100 one over a clear area came out alpha 39 and tinted by the
clear pixels' colour. So Pillow only decodes each rectangle here, and the canvas is ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import Blend, Disposal

from vsr.apng_fallback import animated_frames


def over(source: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """`source` drawn over `backdrop` (H x W x C, the last channel straight alpha, both of
    one integer dtype), as the APNG spec's OVER blend and Porter-Duff's "over" define it."""
    top = float(np.iinfo(source.dtype).max)
    source_alpha = source[:, :, -1:] / top
    backdrop_alpha = backdrop[:, :, -1:] / top
    backdrop_share = backdrop_alpha * (1.0 - source_alpha)
    alpha = source_alpha + backdrop_share
    weighted = source[:, :, :-1] * source_alpha + backdrop[:, :, :-1] * backdrop_share
    # Straight alpha: the colour is the weighted sum over the alpha it makes (none where
    # both are clear, where any colour is invisible; transparent black, as a cleared area).
    colour = np.divide(weighted, alpha, out=np.zeros_like(weighted), where=alpha > 0)
    composed = np.concatenate([colour, alpha * top], axis=2)
    return np.rint(composed).astype(source.dtype)


def composed_apng_frames(
    image: Image.Image, read_pixels: Callable[[Image.Image], np.ndarray]
) -> Iterator[np.ndarray]:
    """Each frame an APNG viewer shows of `image` (an open PNG), H x W x C with alpha last:
    `read_pixels` turns a frame's rectangle, as Pillow decodes it, into such an array. The
    fallback image (vsr.apng_fallback) is not drawn: the first frame starts on a clear
    canvas."""
    canvas: np.ndarray | None = None
    for index in animated_frames(image):
        image.seek(index)
        blend = getattr(image, "blend_op", Blend.OP_SOURCE)
        dispose = getattr(image, "dispose_op", Disposal.OP_NONE)
        x0, y0, x1, y1 = (
            int(edge) for edge in getattr(image, "dispose_extent", None) or (0, 0, *image.size)
        )
        # Told to replace, Pillow decodes the rectangle into its place untouched, which is
        # what is cropped (its own canvas, wrong after an OVER frame, is not used).
        image.blend_op = Blend.OP_SOURCE
        rectangle = read_pixels(image.crop((x0, y0, x1, y1)))
        if canvas is None:
            canvas = np.zeros((image.height, image.width, rectangle.shape[2]), rectangle.dtype)
        area = canvas[y0:y1, x0:x1]
        before = area.copy() if dispose == Disposal.OP_PREVIOUS else None
        area[...] = over(rectangle, area) if blend == Blend.OP_OVER else rectangle
        yield canvas.copy()  # the canvas changes with the next frame
        if dispose == Disposal.OP_BACKGROUND:
            area[...] = 0
        elif before is not None:
            area[...] = before
