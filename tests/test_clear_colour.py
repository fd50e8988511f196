"""The colour under fully transparent pixels, which no viewer shows, must not show in the
upscaled picture either (vsr.clear_colour)."""

from __future__ import annotations

import numpy as np
import pytest

import vsr
from vsr.clear_colour import fill_under_clear
from vsr.imageio import read_image, write_image


def _disc(under: tuple[int, ...], dtype=np.uint8, grey: bool = False) -> np.ndarray:
    """A yellow disc (its grey with ``grey``) on clear pixels that store ``under``."""
    y, x = np.mgrid[0:24, 0:32]
    inside = (x - 16) ** 2 + (y - 12) ** 2 < 8**2
    peak = np.iinfo(dtype).max
    colour = np.array((240, 200, 40)[:1] if grey else (240, 200, 40)) * (peak // 255)
    pixels = np.zeros((24, 32, len(colour) + 1), dtype)
    pixels[inside] = (*colour, peak)
    pixels[~inside, :-1] = np.array(under[: len(colour)]) * (peak // 255)
    return pixels


@pytest.mark.parametrize(
    ("dtype", "grey"), [(np.uint8, False), (np.uint16, False), (np.uint8, True)]
)
def test_what_clear_pixels_store_does_not_fringe_the_edge(weights, dtype, grey):
    # A sticker stored on black and the same stored on white look the same in every viewer,
    # but the network and the bicubic alpha reach across the edge: with the tests' IMDN_RTC
    # the partly opaque edge pixels came out up to 125 codes apart between the two (8 bits).
    upscaler = vsr.load_model(weights, device="cpu")
    on_black = vsr.upscale_image(upscaler, _disc((0, 0, 0), dtype, grey))
    on_white = vsr.upscale_image(upscaler, _disc((255, 255, 255), dtype, grey))
    np.testing.assert_array_equal(on_black[..., -1], on_white[..., -1])
    seen = on_black[..., -1] > 0
    assert seen.sum() > 300  # the disc and its enlarged, partly opaque edge
    np.testing.assert_array_equal(on_black[seen], on_white[seen])


def test_clear_pixels_take_the_colour_of_the_visible_ones_nearest():
    colour = np.zeros((5, 7, 3), np.uint8)
    colour[:, :2] = (200, 100, 50)  # visible on the left
    colour[:, 5:] = (10, 20, 30)  # and on the right; the middle is clear and black
    alpha = np.full((5, 7), 255, np.uint8)
    alpha[:, 2:5] = 0
    filled = fill_under_clear(colour, alpha)
    np.testing.assert_array_equal(filled[:, :2], colour[:, :2])  # visible pixels as they were
    np.testing.assert_array_equal(filled[:, 5:], colour[:, 5:])
    np.testing.assert_array_equal(filled[:, 2], np.full((5, 3), (200, 100, 50)))
    np.testing.assert_array_equal(filled[:, 4], np.full((5, 3), (10, 20, 30)))
    assert filled.dtype == np.uint8
    # Nothing clear, or nothing visible: nothing to fill from, or to fill.
    assert fill_under_clear(colour, np.full((5, 7), 255, np.uint8)) is colour
    assert fill_under_clear(colour, np.zeros((5, 7), np.uint8)) is colour


@pytest.mark.parametrize("given", ["file", "array"])
def test_an_output_without_alpha_keeps_the_stored_colour_as_its_background(
    weights, tmp_path, given
):
    # A JPEG or BMP drops the alpha: what clear pixels store is the background it shows,
    # upscaled as it is (filled, it would be the disc's colours smeared outwards).
    upscaler = vsr.load_model(weights, device="cpu")
    on_white = _disc((255, 255, 255))
    write_image(tmp_path / "logo.png", on_white)
    source = tmp_path / "logo.png" if given == "file" else on_white
    with pytest.warns(UserWarning, match="cannot keep the transparency"):
        vsr.upscale_image(upscaler, source, tmp_path / "logo.bmp")
    expected = vsr.upscale_image(upscaler, on_white[..., :3])
    np.testing.assert_array_equal(read_image(tmp_path / "logo.bmp"), expected)
    assert (expected != vsr.upscale_image(upscaler, on_white)[..., :3]).any()  # filled


def test_a_clear_pixel_beside_a_visible_one_takes_its_colour_not_a_far_one():
    # The fill took each clear pixel's colour from the finest aligned 2x2 block around it
    # that held any: in a 9-pixel row, red at 0 and blue at 8, the pixel beside the blue
    # one came out red, a fringe of the other object's colour at the blue one's edge.
    colour = np.zeros((4, 9, 3), np.uint8)
    alpha = np.zeros((4, 9), np.uint8)
    colour[:, 0], alpha[:, 0] = (255, 0, 0), 255
    colour[:, 8], alpha[:, 8] = (0, 0, 255), 255
    filled = fill_under_clear(colour, alpha)
    np.testing.assert_array_equal(filled[:, 1], np.full((4, 3), (255, 0, 0)))
    np.testing.assert_array_equal(filled[:, 7], np.full((4, 3), (0, 0, 255)))
    np.testing.assert_array_equal(filled[:, 6], np.full((4, 3), (0, 0, 255)))  # two away
    # A corner pixel beside a single visible one, at an odd size, in 16 bits.
    colour = np.zeros((5, 7, 3), np.uint16)
    alpha = np.zeros((5, 7), np.uint16)
    colour[0, 0], alpha[0, 0] = (1000, 2000, 3000), 1  # barely visible is visible
    colour[4, 6], alpha[4, 6] = (60000, 50000, 40000), 65535
    filled = fill_under_clear(colour, alpha)
    np.testing.assert_array_equal(filled[3, 5], (60000, 50000, 40000))
    np.testing.assert_array_equal(filled[1, 1], (1000, 2000, 3000))
    assert filled.dtype == np.uint16


def test_a_clear_pixel_takes_the_rounded_average_of_its_visible_neighbours():
    # 11, 10 and 11 average 10.67: 11, not 10 (truncated, a fill biased dark).
    colour = np.array([[[11], [0], [10]], [[11], [0], [0]]], np.uint8)
    alpha = np.array([[255, 0, 255], [255, 0, 0]], np.uint8)
    assert fill_under_clear(colour, alpha)[0, 1, 0] == 11


def test_a_clear_pixel_far_from_visible_ones_takes_the_rounded_coarse_average():
    colour = np.zeros((8, 8, 1), np.uint8)
    alpha = np.zeros((8, 8), np.uint8)
    colour[[0, 0, 1], [0, 1, 0], 0] = (10, 11, 11)  # a corner, the rest clear
    alpha[[0, 0, 1], [0, 1, 0]] = 255
    assert fill_under_clear(colour, alpha)[3, 3, 0] == 11  # no visible neighbour of its own
