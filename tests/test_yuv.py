"""YUV <-> RGB on the device: reference code values, ranges, bit depths, chroma siting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vsr.errors import VsrError
from vsr.ops.yuv import GBR, rgb_to_yuv, yuv_to_rgb

BARS = {  # 75% colour bars, R'G'B' in [0, 1]
    "white": (0.75, 0.75, 0.75),
    "yellow": (0.75, 0.75, 0.0),
    "cyan": (0.0, 0.75, 0.75),
    "green": (0.0, 0.75, 0.0),
    "magenta": (0.75, 0.0, 0.75),
    "red": (0.75, 0.0, 0.0),
    "blue": (0.0, 0.0, 0.75),
}

# SMPTE EG 1 / ITU-R BT.601 75% bars, 8-bit limited range (Y, Cb, Cr).
BT601_BARS = {
    "white": (180, 128, 128),
    "yellow": (162, 44, 142),
    "cyan": (131, 156, 44),
    "green": (112, 72, 58),
    "magenta": (84, 184, 198),
    "red": (65, 100, 212),
    "blue": (35, 212, 114),
}

# BT.709 75% bars, 8-bit limited range. Green is 133 here (16 + 219 * 0.75 * 0.7152 =
# 133.47); some tables print 134 because they round the R'G'B' to 8 bits first.
BT709_BARS = {
    "white": (180, 128, 128),
    "yellow": (168, 44, 136),
    "cyan": (145, 147, 44),
    "green": (133, 63, 52),
    "magenta": (63, 193, 204),
    "red": (51, 109, 212),
    "blue": (28, 212, 120),
}


def flat(rgb: tuple[float, float, float], height: int = 4, width: int = 6) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(2, 3, height, width)


@pytest.mark.parametrize(("matrix", "table"), [("bt601", BT601_BARS), ("bt709", BT709_BARS)])
def test_colour_bars_have_the_published_code_values(matrix, table):
    for name, rgb in BARS.items():
        y, u, v = rgb_to_yuv(flat(rgb), matrix, "tv", 8, (1, 1))
        assert y.dtype == torch.uint8
        assert (y == table[name][0]).all(), name
        assert (u == table[name][1]).all(), name
        assert (v == table[name][2]).all(), name
        back = yuv_to_rgb(y, u, v, matrix, "tv", 8)
        assert torch.allclose(back, flat(rgb), atol=1.5 / 255), name


@pytest.mark.parametrize(
    ("color_range", "bits", "white", "black", "mid"),
    [
        ("tv", 8, 235, 16, 128),
        ("pc", 8, 255, 0, 128),
        ("tv", 10, 940, 64, 512),
        ("pc", 10, 1023, 0, 512),
        # 16-bit codes from 32768 up are negative as int16: white came back black (audit).
        ("tv", 16, 60160, 4096, 32768),
        ("pc", 16, 65535, 0, 32768),
    ],
)
def test_white_and_black_in_each_range_and_depth(color_range, bits, white, black, mid):
    def unsigned(plane: torch.Tensor) -> torch.Tensor:  # int16 planes hold uint16 codes
        return plane.to(torch.int32) & 0xFFFF if plane.dtype == torch.int16 else plane

    for matrix in ("bt601", "bt709", "bt2020nc"):
        for value, code in ((1.0, white), (0.0, black)):
            y, u, v = rgb_to_yuv(flat((value,) * 3), matrix, color_range, bits, (1, 1))
            assert (unsigned(y) == code).all()
            assert (unsigned(u) == mid).all() and (unsigned(v) == mid).all()
            back = yuv_to_rgb(y, u, v, matrix, color_range, bits)
            assert torch.allclose(back, flat((value,) * 3), atol=1e-6)


def test_ten_bit_planes_are_int16_and_finer_than_eight_bit():
    rgb = flat((0.5004, 0.25, 0.75))
    y8, _, _ = rgb_to_yuv(rgb, "bt709", "tv", 8, (1, 1))
    y10, u10, v10 = rgb_to_yuv(rgb, "bt709", "tv", 10, (1, 1))
    assert y10.dtype == torch.int16
    assert abs(y10[0, 0, 0].item() - 4 * y8[0, 0, 0].item()) <= 2
    back = yuv_to_rgb(y10, u10, v10, "bt709", "tv", 10)
    assert torch.allclose(back, rgb, atol=0.6 / 876 * 1.7)


def test_limited_and_full_range_decode_the_same_colour_differently():
    y = torch.full((1, 2, 2), 235, dtype=torch.uint8)
    c = torch.full((1, 1, 1), 128, dtype=torch.uint8)
    assert torch.equal(yuv_to_rgb(y, c, c, "bt709", "tv", 8), torch.ones(1, 3, 2, 2))
    full = yuv_to_rgb(y, c, c, "bt709", "pc", 8)
    assert torch.allclose(full, torch.full((1, 3, 2, 2), 235 / 255))


def reference_matrix(kr: float, kb: float) -> np.ndarray:
    """R'G'B' -> (Y', Pb, Pr), the textbook form."""
    kg = 1 - kr - kb
    return np.array(
        [
            [kr, kg, kb],
            [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
            [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],
        ]
    )


def bilinear(plane: np.ndarray, cy: float, cx: float) -> float:
    """Sample `plane` at a fractional position with edge clamping."""
    h, w = plane.shape
    cy, cx = min(max(cy, 0.0), h - 1.0), min(max(cx, 0.0), w - 1.0)
    y0, x0 = int(np.floor(cy)), int(np.floor(cx))
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    fy, fx = cy - y0, cx - x0
    top = plane[y0, x0] * (1 - fx) + plane[y0, x1] * fx
    bottom = plane[y1, x0] * (1 - fx) + plane[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


# Odd sides: the last chroma sample covers one luma line. Even ones: the right-most luma
# column lies past the last left-sited chroma sample, which it takes unblended (the edge
# clamped); it had taken the mean of the last two, a wrong colour there.
@pytest.mark.parametrize(("h", "w"), [(7, 9), (6, 8)])
def test_yuv420_to_rgb_matches_a_per_pixel_reference(h, w):
    rng = np.random.default_rng(0)
    y = rng.integers(16, 236, (h, w)).astype(np.uint8)
    u = rng.integers(16, 241, ((h + 1) // 2, (w + 1) // 2)).astype(np.uint8)
    v = rng.integers(16, 241, ((h + 1) // 2, (w + 1) // 2)).astype(np.uint8)
    out = yuv_to_rgb(*(torch.from_numpy(p)[None] for p in (y, u, v)), "bt709", "tv", 8)[0]
    # Left siting: chroma column i sits on luma column 2i, chroma row j at luma 2j + 0.5.
    _assert_bt709_reading(out, y, u, v, lambda row, col: ((row - 0.5) / 2, col / 2))


def _assert_bt709_reading(out, y, u, v, chroma_at) -> None:
    """`out` (3 x H x W) is BT.709 limited range read from y, u and v, each pixel's chroma
    sampled bilinearly at chroma_at(row, col) (chroma plane coordinates)."""
    inverse = np.linalg.inv(reference_matrix(0.2126, 0.0722))
    h, w = y.shape
    for row in range(h):
        for col in range(w):
            cy, cx = chroma_at(row, col)
            ypb = np.array(
                [
                    (y[row, col] - 16) / 219,
                    (bilinear(u.astype(float), cy, cx) - 128) / 224,
                    (bilinear(v.astype(float), cy, cx) - 128) / 224,
                ]
            )
            expected = np.clip(inverse @ ypb, 0, 1)
            assert np.allclose(out[:, row, col].numpy(), expected, atol=1e-5), (row, col)


def test_rgb_to_yuv420_matches_a_per_pixel_reference():
    rng = np.random.default_rng(1)
    h, w = 5, 7
    rgb = rng.random((3, h, w))
    y, u, v = (
        p[0].numpy() for p in rgb_to_yuv(torch.from_numpy(rgb)[None], "bt601", "pc", 8, (1, 1))
    )
    ypbpr = np.einsum("ij,jhw->ihw", reference_matrix(0.299, 0.114), rgb)
    assert np.array_equal(y, np.floor(ypbpr[0] * 255 + 0.5).astype(np.uint8))
    for plane, chroma in ((u, ypbpr[1]), (v, ypbpr[2])):
        assert plane.shape == (3, 4)
        for j in range(3):
            for i in range(4):
                # [1, 2, 1] / 4 around luma column 2i, the two luma rows around chroma row j.
                total = 0.0
                for r in (2 * j, 2 * j + 1):
                    for c, weight in ((2 * i - 1, 0.25), (2 * i, 0.5), (2 * i + 1, 0.25)):
                        total += weight * chroma[min(r, h - 1), min(max(c, 0), w - 1)]
                # Rounded to the nearest code (ties either way).
                assert abs(int(plane[j, i]) - (total / 2 * 255 + 128)) <= 0.5 + 1e-6, (j, i)


# (Kr, Kb) as each standard publishes them, under FFmpeg's names for its matrix.
PUBLISHED_KR_KB = [
    ("bt470bg", 0.299, 0.114),  # ITU-R BT.601 (625 lines)
    ("smpte170m", 0.299, 0.114),  # BT.601 (525 lines)
    ("bt709", 0.2126, 0.0722),  # ITU-R BT.709
    ("bt2020nc", 0.2627, 0.0593),  # ITU-R BT.2020, non-constant luminance
    ("fcc", 0.30, 0.11),  # FCC 47 CFR 73.682 (NTSC 1953)
    ("smpte240m", 0.212, 0.087),  # SMPTE 240M
]


@pytest.mark.parametrize(("matrix", "kr", "kb"), PUBLISHED_KR_KB)
def test_each_matrix_converts_with_its_standards_coefficients(matrix, kr, kb):
    # 4:4:4 full range, so each pixel is the textbook matrix alone: a matrix given another's
    # coefficients (SMPTE 240M's as BT.709's) moves some codes by more than 3 here.
    rng = np.random.default_rng(2)
    rgb = rng.random((3, 6, 8))
    planes = rgb_to_yuv(torch.from_numpy(rgb)[None], matrix, "pc", 8, (0, 0))
    ypbpr = np.einsum("ij,jhw->ihw", reference_matrix(kr, kb), rgb)
    expected = (ypbpr[0] * 255, ypbpr[1] * 255 + 128, ypbpr[2] * 255 + 128)
    for plane, codes in zip(planes, expected, strict=True):
        # Rounded to the nearest code (ties either way).
        worst = np.abs(plane[0].numpy().astype(float) - codes).max()
        assert worst <= 0.5 + 1e-6, worst
    y, u, v = (rng.integers(0, 256, (1, 6, 8)).astype(np.uint8) for _ in range(3))
    back = yuv_to_rgb(*(torch.from_numpy(p) for p in (y, u, v)), matrix, "pc", 8)[0]
    ypb = np.stack([y[0] / 255, (u[0] - 128.0) / 255, (v[0] - 128.0) / 255])
    read = np.clip(np.einsum("ij,jhw->ihw", np.linalg.inv(reference_matrix(kr, kb)), ypb), 0, 1)
    assert np.allclose(back.numpy(), read, atol=1e-5)


@pytest.mark.parametrize("shift", [(1, 1), (1, 0), (0, 0)])
def test_round_trip_of_smooth_picture_is_within_a_level(shift):
    h, w = 57, 101
    gy, gx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    rgb = torch.stack([gx, gy, (gx + gy) / 2], dim=0)[None] * 0.8 + 0.1
    y, u, v = rgb_to_yuv(rgb, "bt709", "tv", 10, shift)
    assert y.shape == (1, h, w)
    assert u.shape == (1, (h + shift[1]) // (1 + shift[1]), (w + shift[0]) // (1 + shift[0]))
    back = yuv_to_rgb(y, u, v, "bt709", "tv", 10)
    y2, u2, v2 = rgb_to_yuv(back, "bt709", "tv", 10, shift)
    assert (y2.int() - y.int()).abs().max() <= 1
    # Up- then down-sampling chroma is exact on a linear ramp except where the edge samples
    # replicate; compare away from the border.
    inner = (slice(None), slice(1, -1), slice(1, -1))
    assert (u2.int() - u.int())[inner].abs().max() <= 1
    assert (v2.int() - v.int())[inner].abs().max() <= 1


@pytest.mark.parametrize("bits", [8, 10, 16])
def test_gbr_planes_come_back_as_the_same_codes(bits):
    # An RGB output's planes are its G, B and R codes: writing what yuv_to_rgb read from an
    # RGB source's planes gives every code back (through YCbCr 4:4:4, up to 2 moved).
    peak = (1 << bits) - 1
    codes = torch.randint(0, peak + 1, (3, 2, 9, 11), generator=torch.Generator().manual_seed(bits))
    codes[:, 0, 0, :2] = torch.tensor([0, peak])[None]  # both ends of the range
    g, b, r = (c.to(torch.int32) for c in codes)
    rgb = yuv_to_rgb(g, b, r, GBR, "pc", bits)
    assert torch.allclose(rgb * peak, torch.stack([r, g, b], dim=1).float())
    planes = rgb_to_yuv(rgb, GBR, "pc", bits, (0, 0))
    assert [p.dtype for p in planes] == [torch.uint8 if bits == 8 else torch.int16] * 3
    for plane, want in zip(planes, (g, b, r), strict=True):
        assert torch.equal(plane.to(torch.int32) & 0xFFFF, want)


def test_unknown_matrix_and_range_are_user_errors():
    rgb = flat((0.5, 0.5, 0.5))
    with pytest.raises(VsrError, match="matrix"):
        rgb_to_yuv(rgb, "bt999", "tv", 8, (1, 1))
    with pytest.raises(VsrError, match="range"):
        rgb_to_yuv(rgb, "bt709", "studio", 8, (1, 1))


# Where chroma sample (j, i) sits on the luma grid, per siting: at luma row 2j + dy and
# column 2i + dx (H.264 and HEVC's chroma_sample_loc_type pictures, FFmpeg's names).
SITING_OFFSETS = {
    "left": (0.5, 0.0),
    "center": (0.5, 0.5),
    "topleft": (0.0, 0.0),
    "top": (0.0, 0.5),
}


@pytest.mark.parametrize("shift", [(1, 1), (1, 0)])
@pytest.mark.parametrize("siting", ["topleft", "center", "top"])
def test_subsampled_yuv_to_rgb_matches_a_per_pixel_reference_at_each_siting(siting, shift):
    rng = np.random.default_rng(2)
    h, w = 7, 9
    ch, cw = (h + shift[1]) // (1 + shift[1]), (w + shift[0]) // (1 + shift[0])
    y = rng.integers(16, 236, (h, w)).astype(np.uint8)
    u, v = (rng.integers(16, 241, (ch, cw)).astype(np.uint8) for _ in range(2))
    planes = (torch.from_numpy(p)[None] for p in (y, u, v))
    out = yuv_to_rgb(*planes, "bt709", "tv", 8, siting=siting)[0]
    dy, dx = SITING_OFFSETS[siting]

    def chroma_at(row: int, col: int) -> tuple[float, float]:
        return (row - dy) / 2 if shift[1] else row, (col - dx) / 2 if shift[0] else col

    _assert_bt709_reading(out, y, u, v, chroma_at)


def downsampling_weights(index: int, cosited: bool) -> list[tuple[int, float]]:
    """(luma index, weight) of the average that makes chroma sample `index` on one axis."""
    if cosited:  # [1, 2, 1] / 4 around the luma sample it sits on
        return [(2 * index - 1, 0.25), (2 * index, 0.5), (2 * index + 1, 0.25)]
    return [(2 * index, 0.5), (2 * index + 1, 0.5)]  # the two it sits between


@pytest.mark.parametrize("shift", [(1, 1), (1, 0)])
@pytest.mark.parametrize("siting", ["topleft", "center", "top"])
def test_rgb_to_subsampled_yuv_matches_a_per_pixel_reference_at_each_siting(siting, shift):
    rng = np.random.default_rng(3)
    h, w = 5, 7
    rgb = rng.random((3, h, w))
    _, u, v = (
        p[0].numpy()
        for p in rgb_to_yuv(torch.from_numpy(rgb)[None], "bt601", "pc", 8, shift, siting)
    )
    ypbpr = np.einsum("ij,jhw->ihw", reference_matrix(0.299, 0.114), rgb)
    dy, dx = SITING_OFFSETS[siting]
    for plane, chroma in ((u, ypbpr[1]), (v, ypbpr[2])):
        assert plane.shape == ((h + shift[1]) // (1 + shift[1]), 4)
        for j in range(plane.shape[0]):
            for i in range(plane.shape[1]):
                rows = downsampling_weights(j, dy == 0) if shift[1] else [(j, 1.0)]
                total = sum(
                    row_weight * col_weight * chroma[min(max(r, 0), h - 1), min(max(c, 0), w - 1)]
                    for r, row_weight in rows
                    for c, col_weight in downsampling_weights(i, dx == 0)
                )
                assert abs(int(plane[j, i]) - (total * 255 + 128)) <= 0.5 + 1e-6, (j, i)


@pytest.mark.parametrize("shift", [(1, 1), (1, 0), (0, 0)])
@pytest.mark.parametrize("siting", ["left", "center", "topleft", "top"])
def test_a_flat_colour_round_trips_exactly_at_every_siting(siting, shift):
    for name, rgb in BARS.items():
        y, u, v = rgb_to_yuv(flat(rgb, 5, 7), "bt709", "tv", 8, shift, siting)
        back = yuv_to_rgb(y, u, v, "bt709", "tv", 8, siting)
        assert torch.allclose(back, flat(rgb, 5, 7), atol=1.5 / 255), name
        again = rgb_to_yuv(back, "bt709", "tv", 8, shift, siting)
        assert all(torch.equal(a, b) for a, b in zip(again, (y, u, v), strict=True)), name


def test_an_unknown_siting_is_refused():
    with pytest.raises(VsrError, match="siting"):
        rgb_to_yuv(flat((0.5, 0.5, 0.5)), "bt709", "tv", 8, (1, 1), "bottomright")


@pytest.mark.parametrize("siting", ["left", "center", "topleft", "top"])
@pytest.mark.parametrize("bits", [8, 10])
def test_the_engines_colour_work_stays_on_the_batchs_device_without_a_host_sync(siting, bits):
    # On a GPU every step between the upload and the download runs on the device, queued
    # behind the network: a tensor made on the CPU would fail there (or copy), and a value
    # read on the host would stall the stream. No GPU here: the "meta" device allows
    # neither (no data to read), so the siting, super-white (vsr.ops.beyond) and RGB-output
    # paths added since the last GPU run are held to it.
    from vsr.ops.beyond import add_beyond, split_beyond

    meta, dtype = torch.device("meta"), torch.uint8 if bits == 8 else torch.int16
    y = torch.empty(2, 48, 64, dtype=dtype, device=meta)
    c = torch.empty(2, 24, 32, dtype=dtype, device=meta)
    rgb = yuv_to_rgb(y, c, c, "bt709", "tv", bits, siting, clamp=False)
    network_input, beyond = split_beyond(rgb)
    out = add_beyond(torch.empty(2, 3, 96, 128, dtype=torch.float16, device=meta), beyond)
    planes = rgb_to_yuv(out, "bt709", "tv", bits, (1, 1), siting)
    planes += rgb_to_yuv(out, GBR, "pc", bits, (0, 0))
    assert all(t.device == meta for t in (network_input, out, *planes))
