"""Transparency in a clip, which no output of vsr run keeps (the output is opaque, showing
the colours stored under the clear pixels): noted once, at the first frame that has any.

Transparency may first come after an opaque first frame (an RGBA sequence whose later frames
are clear in part, a GIF), so frames are looked at until one is see-through. Only frames of
a pixel format that can hold alpha are looked at, until the note. Where alpha has a plane
of its own (yuva*, gbrap*: ProRes 4444, FFV1 with alpha), an opaque frame is told from that
plane alone; converting it to RGBA to look took 11 ms a 1080p yuva444p10le frame, on every
frame of an opaque clip stored with alpha. Other frames (packed RGBA, a palette, a plane
not all opaque) are converted, 1 to 2 ms a 1080p frame.
"""

from __future__ import annotations

import av
import numpy as np


def can_be_see_through(pixel_format: av.VideoFormat) -> bool:
    """Whether frames of a pixel format can have pixels that are not fully opaque: it has
    an alpha channel, or a palette (whose entries may hold alpha)."""
    return pixel_format.has_palette or any(c.is_alpha for c in pixel_format.components)


def see_through(frame: av.VideoFrame) -> bool:
    """Whether a frame has pixels that are not fully opaque. An alpha channel alone says
    nothing: GIFs decode with one, and many opaque clips are stored with one."""
    if not can_be_see_through(frame.format) or _alpha_plane_opaque(frame):
        return False
    alpha = frame.reformat(format="rgba").to_ndarray()[..., 3]
    return bool((alpha < 255).any())


def _alpha_plane_opaque(frame: av.VideoFrame) -> bool:
    """Whether the frame's alpha has a plane of its own that holds its largest value
    everywhere (fully opaque as it is, whatever the conversion to RGBA would round); False
    where it has no such plane, or the plane says less (the conversion then decides)."""
    components = frame.format.components
    alpha = next((c for c in components if c.is_alpha), None)
    if alpha is None or sum(c.plane == alpha.plane for c in components) != 1:
        return False  # none, or packed with the colour (rgba, ya8)
    plane = frame.planes[alpha.plane]
    wide = alpha.bits > 8
    dtype = np.dtype(">u2" if frame.format.name.endswith("be") else "<u2") if wide else np.uint8
    rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)[:, : plane.width]
    return bool((rows == (1 << alpha.bits) - 1).all())


class TransparencyWatch:
    """`watch(frame, number)` for each decoded frame, the `number`-th of the clip; a note
    goes to `warnings` at the first see-through frame. The first frame is looked at when
    the watch is made, so that its note comes with the clip's other first notes."""

    def __init__(self, first: av.VideoFrame, warnings: list[str]) -> None:
        self._warnings = warnings
        self._noted = False
        if see_through(first):
            self._note("in its first frame")

    def __call__(self, frame: av.VideoFrame, number: int) -> None:
        if not self._noted and see_through(frame):
            self._note(f"from frame {number}")

    def _note(self, where: str) -> None:
        self._noted = True  # once is enough: the output loses all of it alike
        self._warnings.append(
            f"the video has transparent parts ({where}), which the output cannot keep: it "
            "is opaque, showing the colours stored under them"
        )
