"""Which frames are see-through (vsr.video.transparency_watch): told from an alpha plane of
its own where the format has one."""

from __future__ import annotations

import av
import numpy as np
import pytest

from vsr.video.transparency_watch import see_through


def _yuva420p(width: int, height: int, alpha: np.ndarray) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuva420p")
    for index, plane in enumerate(frame.planes):
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, -1)[:, : plane.width]
        rows[:] = alpha if index == 3 else 128
    return frame


@pytest.mark.parametrize("width", [64, 66])
def test_an_opaque_frame_with_an_alpha_plane_is_not_see_through(width):
    # Converted to RGBA to look, a 66-pixel-wide yuva420p frame came back with alpha 0 in
    # its last two columns (swscale), and an opaque clip was noted as transparent; the
    # conversion took 11 ms a 1080p yuva444p10le frame, on every frame of an opaque clip.
    assert not see_through(_yuva420p(width, 36, np.full((36, width), 255, np.uint8)))


@pytest.mark.parametrize("width", [64, 66])
def test_a_frame_with_one_clear_pixel_is_see_through(width):
    alpha = np.full((36, width), 255, np.uint8)
    alpha[20, 10] = 0
    assert see_through(_yuva420p(width, 36, alpha))


def test_alpha_just_short_of_its_largest_everywhere_is_see_through():
    # Alpha 254 everywhere is faintly see-through: only the largest value is opaque.
    assert see_through(_yuva420p(64, 36, np.full((36, 64), 254, np.uint8)))


def test_packed_alpha_is_not_read_as_a_plane_of_its_own():
    # RGBA holds alpha in every fourth byte of its one plane. Read as a plane of alpha, a
    # row's first quarter of bytes (here 8 opaque white pixels) stood for the whole row,
    # and this mostly clear frame was taken as opaque.
    pixels = np.zeros((16, 32, 4), np.uint8)
    pixels[:, :8] = 255
    assert see_through(av.VideoFrame.from_ndarray(pixels, format="rgba"))
    pixels[:] = 255
    assert not see_through(av.VideoFrame.from_ndarray(pixels, format="rgba"))
