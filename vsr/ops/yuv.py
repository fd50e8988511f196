"""Planar YUV <-> RGB on the device, once per batch.

Frames leave the decoder as integer Y, U, V planes and go back to the encoder the same way;
the network wants float RGB in [0, 1]. Both conversions run here, as torch ops on whatever
device holds the batch, so the CPU never touches float RGB.

Chroma siting is the source's (vsr.video.chroma_location), "left" by default, as MPEG-2,
H.264, HEVC and AV1 assume for 4:2:0 and 4:2:2: a chroma sample sits on the even luma
columns horizontally and, for 4:2:0, half-way between two luma rows vertically. "topleft"
(BT.2020, UHD broadcast) sits on the even rows too, "center" (JPEG, MPEG-1) half-way both
ways, "top" on the even rows and half-way between columns. Upsampling is bilinear at those
positions, per axis: a co-sited sample is copied and the one between two is their mean;
half-way, each luma row or column takes 3/4 of the nearer chroma sample and 1/4 of the
farther. Downsampling is the matching average: [1, 2, 1] / 4 around each co-sited sample,
the mean of the two it sits between otherwise.
Bilinear rather than nearest because nearest shifts colour edges by up to a pixel and
leaves visible stair-steps on the upscaled picture; bilinear with the right phase gives
back a flat colour exactly and a smooth one nearly so. The wrong phase moves colour about
one output pixel off its edges at x2.
"""

from __future__ import annotations

import torch

from vsr.errors import VsrError
from vsr.video.colors import GBR

# Luma coefficients (Kr, Kb) of each matrix; Kg = 1 - Kr - Kb.
_KR_KB = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
    "fcc": (0.30, 0.11),
    "smpte240m": (0.212, 0.087),
}

# The names FFmpeg and PyAV use for the same matrices.
_ALIASES = {
    "bt470bg": "bt601",
    "smpte170m": "bt601",
    "bt601": "bt601",
    "bt709": "bt709",
    "bt2020nc": "bt2020",
    "bt2020_ncl": "bt2020",
    # Constant-luminance BT.2020 is not a plain matrix; the non-constant one is the
    # closest linear stand-in and what practically every decoder does.
    "bt2020c": "bt2020",
    "bt2020_cl": "bt2020",
    "bt2020": "bt2020",
    "fcc": "fcc",
    "smpte240m": "smpte240m",
}


# Per chroma siting (FFmpeg's names): whether chroma samples sit on the even luma columns
# (horizontally) and on the even luma rows (vertically), rather than half-way between two.
_COSITED = {
    "left": (True, False),
    "center": (False, False),
    "topleft": (True, True),
    "top": (False, True),
}


def matrix_coefficients(matrix: str) -> tuple[float, float]:
    """(Kr, Kb) for a matrix name such as "bt709", "bt470bg" or "bt2020nc"."""
    key = _ALIASES.get(matrix.lower())
    if key is None:
        raise VsrError(
            f"unsupported colour matrix {matrix!r} (known: {', '.join(sorted(_ALIASES))})"
        )
    return _KR_KB[key]


def _cosited(siting: str) -> tuple[bool, bool]:
    """(horizontally co-sited, vertically co-sited) for a siting name."""
    cosited = _COSITED.get(siting)
    if cosited is None:
        raise VsrError(f"unsupported chroma siting {siting!r} (known: {', '.join(_COSITED)})")
    return cosited


def is_limited(color_range: str) -> bool:
    """Whether `color_range` names limited ("tv") range, whose codes reach past black and
    white."""
    return color_range in ("tv", "limited", "mpeg")


def _levels(color_range: str, bit_depth: int) -> tuple[float, float, float, float]:
    """(luma offset, luma span, chroma centre, chroma span) in code values."""
    if is_limited(color_range):
        unit = float(1 << (bit_depth - 8))
        return 16.0 * unit, 219.0 * unit, 128.0 * unit, 224.0 * unit
    if color_range in ("pc", "full", "jpeg"):
        peak = float((1 << bit_depth) - 1)
        return 0.0, peak, float(1 << (bit_depth - 1)), peak
    raise VsrError(f"unsupported colour range {color_range!r} (use 'tv' or 'pc')")


def _legal_codes(color_range: str, bit_depth: int) -> tuple[float, float]:
    """(lowest, highest) code a picture may use. Limited range keeps its end codes for
    timing references (BT.709, BT.2100: 0 and 255 at 8 bits, 0-3 and 1020-1023 at 10); full
    range uses every code."""
    if is_limited(color_range):
        unit = float(1 << (bit_depth - 8))
        return unit, 255.0 * unit - 1.0
    return 0.0, float((1 << bit_depth) - 1)


def _upsample_axis(c: torch.Tensor, dim: int, length: int, cosited: bool) -> torch.Tensor:
    """Double `c` along `dim` by bilinear interpolation, then crop to `length` samples."""
    n = c.shape[dim]
    if cosited:
        # Sample i sits at output 2i; output 2i+1 is the mean of samples i and i+1.
        nxt = torch.cat([c.narrow(dim, 1, n - 1), c.narrow(dim, n - 1, 1)], dim=dim)
        even, odd = c, (c + nxt) * 0.5
    else:
        # Sample i sits at output 2i + 0.5: rows 2i and 2i+1 lean 3/4 on it.
        prv = torch.cat([c.narrow(dim, 0, 1), c.narrow(dim, 0, n - 1)], dim=dim)
        nxt = torch.cat([c.narrow(dim, 1, n - 1), c.narrow(dim, n - 1, 1)], dim=dim)
        even, odd = 0.75 * c + 0.25 * prv, 0.75 * c + 0.25 * nxt
    out = torch.stack([even, odd], dim=dim + 1).flatten(dim, dim + 1)
    return out.narrow(dim, 0, length)


def _downsample_axis(c: torch.Tensor, dim: int, cosited: bool) -> torch.Tensor:
    """Halve `c` along `dim` (rounding the length up) by the average matching the siting."""
    n = c.shape[dim]
    if n % 2:
        c = torch.cat([c, c.narrow(dim, n - 1, 1)], dim=dim)  # replicate the last sample
    pairs = c.unflatten(dim, (c.shape[dim] // 2, 2))
    even, odd = pairs.select(dim + 1, 0), pairs.select(dim + 1, 1)
    if not cosited:
        return (even + odd) * 0.5
    # [1, 2, 1] / 4 centred on each even sample; the left edge replicates.
    m = odd.shape[dim]
    prev_odd = torch.cat([even.narrow(dim, 0, 1), odd.narrow(dim, 0, m - 1)], dim=dim)
    return 0.5 * even + 0.25 * (prev_odd + odd)


def _as_float(plane: torch.Tensor) -> torch.Tensor:
    if plane.dtype == torch.int16:  # uint16 codes seen as int16: 16-bit ones read negative
        plane = plane.to(torch.int32) & 0xFFFF
    plane = plane.float()
    return plane if plane.dim() == 3 else plane.unsqueeze(0)


def yuv_to_rgb(
    y: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    matrix: str,
    color_range: str,
    bit_depth: int,
    siting: str = "left",
    *,
    clamp: bool = True,
) -> torch.Tensor:
    """Integer planes (N x H x W, chroma possibly subsampled) -> float N x 3 x H x W in [0, 1].

    `clamp=False` leaves what lies beyond [0, 1]: a limited-range source's super-blacks and
    super-whites, its colours outside RGB's gamut, and the out-of-gamut RGB that subsampled
    chroma makes at colour edges.

    The chroma subsampling is read from the plane shapes. Planes above 8 bits may come as
    int16 (a bit-for-bit view of uint16, read back as unsigned) or any wider integer type. With
    `matrix` GBR the planes are an RGB picture's G, B and R (FFmpeg's planar RGB order), at
    full range: no matrix applies. `siting` says where subsampled chroma sits ("left",
    "center", "topleft" or "top").
    """
    if matrix == GBR:
        peak = float((1 << bit_depth) - 1)
        return torch.stack([_as_float(v), _as_float(y), _as_float(u)], dim=1) / peak
    kr, kb = matrix_coefficients(matrix)
    kg = 1.0 - kr - kb
    y_off, y_span, c_mid, c_span = _levels(color_range, bit_depth)
    yf, uf, vf = _as_float(y), _as_float(u), _as_float(v)
    height, width = yf.shape[-2:]
    across, down = _cosited(siting)
    if uf.shape[-1] != width:
        uf = _upsample_axis(uf, 2, width, cosited=across)
        vf = _upsample_axis(vf, 2, width, cosited=across)
    if uf.shape[-2] != height:
        uf = _upsample_axis(uf, 1, height, cosited=down)
        vf = _upsample_axis(vf, 1, height, cosited=down)
    luma = (yf - y_off) / y_span
    cb = (uf - c_mid) / c_span
    cr = (vf - c_mid) / c_span
    r = luma + 2.0 * (1.0 - kr) * cr
    b = luma + 2.0 * (1.0 - kb) * cb
    g = (luma - kr * r - kb * b) / kg
    rgb = torch.stack([r, g, b], dim=1)
    return rgb.clamp_(0.0, 1.0) if clamp else rgb


def _gbr_codes(
    rgb: torch.Tensor, bit_depth: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float N x 3 x H x W RGB in [0, 1] -> G, B and R planes of full-range codes, rounded
    and stored as rgb_to_yuv stores its planes: the inverse of yuv_to_rgb's GBR reading."""
    peak = float((1 << bit_depth) - 1)
    codes = torch.floor(rgb.float() * peak + 0.5).clamp_(0.0, peak)
    # Through int32 for 16 bits, for the reason rgb_to_yuv gives.
    codes = codes.to(torch.int32).to(torch.int16) if bit_depth > 8 else codes.to(torch.uint8)
    return codes[:, 1], codes[:, 2], codes[:, 0]


def rgb_to_yuv(
    rgb: torch.Tensor,
    matrix: str,
    color_range: str,
    bit_depth: int,
    chroma_shift: tuple[int, int],
    siting: str = "left",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float N x 3 x H x W RGB -> integer planes, rounded and clipped to legal codes.

    Limited-range RGB beyond [0, 1] becomes codes past black and white, short of the end
    codes limited range reserves; RGB within [0, 1] never reaches those.

    `chroma_shift` is (log2 horizontal, log2 vertical) subsampling, (1, 1) for 4:2:0, and
    `siting` where the subsampled chroma sits, as for yuv_to_rgb.
    Returns uint8 planes at 8 bits and int16 planes above (reinterpret as uint16 on the host).
    """
    if matrix == GBR:  # an RGB output: its G, B and R codes, full range, never subsampled
        return _gbr_codes(rgb, bit_depth)
    kr, kb = matrix_coefficients(matrix)
    kg = 1.0 - kr - kb
    y_off, y_span, c_mid, c_span = _levels(color_range, bit_depth)
    rgb = rgb.float()
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    luma = kr * r + kg * g + kb * b
    cb = (b - luma) / (2.0 * (1.0 - kb))
    cr = (r - luma) / (2.0 * (1.0 - kr))
    shift_x, shift_y = chroma_shift
    if shift_x not in (0, 1) or shift_y not in (0, 1):
        raise VsrError(f"unsupported chroma subsampling {chroma_shift}")
    across, down = _cosited(siting)
    if shift_x:
        cb, cr = _downsample_axis(cb, 2, cosited=across), _downsample_axis(cr, 2, cosited=across)
    if shift_y:
        cb, cr = _downsample_axis(cb, 1, cosited=down), _downsample_axis(cr, 1, cosited=down)
    lowest, highest = _legal_codes(color_range, bit_depth)
    dtype = torch.uint8 if bit_depth <= 8 else torch.int16

    def code(values: torch.Tensor, offset: float, span: float) -> torch.Tensor:
        # floor(x + 0.5): round half up, the way reference encoders and tables round.
        codes = torch.floor(values * span + offset + 0.5).clamp_(lowest, highest)
        # Through int32: 16-bit codes above 32767 then wrap to int16 the same way on every
        # device (a float beyond int16's range converts to whatever the hardware gives).
        return codes.to(torch.int32).to(dtype) if dtype == torch.int16 else codes.to(dtype)

    return code(luma, y_off, y_span), code(cb, c_mid, c_span), code(cr, c_mid, c_span)
