"""Transparency in a clip, which no output of vsr run keeps (the output is opaque, showing
the colours stored under the clear pixels): noted once, at the first frame that has any.

Transparency may first come after an opaque first frame (an RGBA sequence whose later frames
are clear in part, a GIF), so frames are looked at until one is see-through. Only frames of
a pixel format that can hold alpha are looked at, until the note: each look converts the
frame to RGBA, 1 to 2 ms a 1080p frame (yuva420p, rgba), little beside the network's time.
"""

from __future__ import annotations

import av


def can_be_see_through(pixel_format: av.VideoFormat) -> bool:
    """Whether frames of a pixel format can have pixels that are not fully opaque: it has
    an alpha channel, or a palette (whose entries may hold alpha)."""
    return pixel_format.has_palette or any(c.is_alpha for c in pixel_format.components)


def see_through(frame: av.VideoFrame) -> bool:
    """Whether a frame has pixels that are not fully opaque. An alpha channel alone says
    nothing: GIFs decode with one, and many opaque clips are stored with one."""
    if not can_be_see_through(frame.format):
        return False
    alpha = frame.reformat(format="rgba").to_ndarray()[..., 3]
    return bool((alpha < 255).any())


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
