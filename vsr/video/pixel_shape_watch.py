"""A pixel shape (sample aspect ratio) that changes mid-stream: a DVD's 4:3 trailer before
its 16:9 film, a broadcast's 4:3 advertisement inside a 16:9 programme.

The output has one pixel shape, the first delivered frame's. MPEG-2's sequence header (and
H.264's SPS) brings the shape, so the decoder's own shape changes when it takes the
keyframe that header precedes; PyAV 18 gives frames no shape of their own. The decoder
gets there before it hands over the frames that are shown earlier (those still reordered),
so the change is placed at the first keyframe delivered after the decoder's shape
changed. A note names it, once, with the time to start a separate run at.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import av

from vsr.errors import option


def display_aspect(width: int, height: int, shape: Fraction) -> str:
    """The picture's display aspect ratio as people say it ("16:9", "4:3")."""
    aspect = (Fraction(width, height) * shape).limit_denominator(100)
    return f"{aspect.numerator}:{aspect.denominator}"


def _ratio(shape: Fraction) -> str:
    return f"{shape.numerator}:{shape.denominator}"


class PixelShapeWatch:
    """`watch(frame)` for each delivered frame; a note goes to `warnings` where the
    decoder's pixel shape (`decoder_shape()`) leaves the one it had when the watch began (at
    the first frame). `shape` is the output's, for the note: a container's own shape (an
    MP4's pasp) wins over the bitstream's there, and the two may differ from the start."""

    def __init__(
        self,
        shape: Fraction | None,
        size: tuple[int, int],
        decoder_shape: Callable[[], Fraction | None],
        seconds_of: Callable[[int], float],
        warnings: list[str],
    ) -> None:
        self._shape = shape or Fraction(1)
        self._first = decoder_shape() or Fraction(1)
        self._size = size  # the output's picture, as the source's first frame
        self._decoder_shape = decoder_shape
        self._seconds_of = seconds_of  # a frame's pts as --start counts it
        self._warnings = warnings
        self._changed_to: Fraction | None = None  # the decoder's new shape, before its keyframe
        self._done = False

    def __call__(self, frame: av.VideoFrame) -> None:
        if self._done:
            return
        if self._changed_to is None:
            now = self._decoder_shape() or Fraction(1)
            if now == self._first:
                return
            self._changed_to = now
        if frame.key_frame and frame.pts is not None:
            self._tell(frame)

    def _tell(self, frame: av.VideoFrame) -> None:
        self._done = True  # once is enough: the note says where it starts
        new, old = self._changed_to, self._shape
        # Down to the millisecond: --start at it keeps the frame (the one before is a
        # frame's length earlier); rounded up, it could skip it.
        at = math.floor(self._seconds_of(frame.pts) * 1000) / 1000
        self._warnings.append(
            f"the pixel shape changes mid-stream (to {_ratio(new)}, a "
            f"{display_aspect(frame.width, frame.height, new)} picture, at {at:.3f} s): the "
            f"output has one shape, the first frame's {_ratio(old)} "
            f"({display_aspect(*self._size, old)}), so "
            f"from there the picture shows at the wrong width; upscale that part on its own "
            f"({option('--start', f'{at:.3f}')}) to keep its shape"
        )
