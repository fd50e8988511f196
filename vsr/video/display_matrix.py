"""The source's display matrix: how a player turns (and mirrors) the coded picture.

A phone's front camera writes a mirror, some editors a mirror with a quarter turn. A rotation
angle alone, which is what `frame.rotation` gives, cannot say that: written back as a rotation
a mirrored clip played upside down. So the output gets the source's matrix itself.

The matrix is FFmpeg's AV_PKT_DATA_DISPLAYMATRIX: nine 32-bit integers, row by row, the
2x2 orientation in 16.16 fixed point, a translation in pixels and the projective column
in 2.30. The orientation part does not depend on the picture's size, so it holds for the
upscaled picture too; the translation, in the source's pixels, would not, and is left out
(no player we know of reads it; av_display_rotation_set writes none either).
"""

from __future__ import annotations

import struct

import av

from vsr.video.frame_side_data import side_data_of

ENTRIES = 9
IDENTITY = (1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30)
_TRANSLATION = (6, 7)  # x and y of the third row


def display_matrix_of(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The display matrix a decoded frame carries, without its translation; None when it has
    none or it is the identity (nothing to turn)."""
    for side in side_data_of(frame):
        if side.type.name == "DISPLAYMATRIX":
            raw = bytes(side)
            if len(raw) < 4 * ENTRIES:
                return None
            matrix = list(struct.unpack(f"={ENTRIES}i", raw[: 4 * ENTRIES]))  # native, as FFmpeg
            for index in _TRANSLATION:
                matrix[index] = 0
            return None if tuple(matrix) == IDENTITY else tuple(matrix)
    return None


def is_mirrored(matrix: tuple[int, ...]) -> bool:
    """Whether the matrix flips the picture (its 2x2 part has a negative determinant)."""
    a, b, _, c, d = matrix[:5]
    return a * d - b * c < 0
