"""Planar pixel formats: what frames are delivered in and what encoders are fed.

vsr moves frames as three planes (Y, U, V). Any source format (semi-planar nv12, packed
rgb24, gray, paletted...) is mapped to the planar YUV format that loses nothing: same bit
depth, same chroma resolution (RGB and palettes become 4:4:4). An encoder can also be fed
planar RGB (gbrp: G, B, R planes), which keeps an RGB source's codes exactly where a trip
through YCbCr would move them.
"""

from __future__ import annotations

import av

# (log2 horizontal, log2 vertical) chroma subsampling -> the name part of the format.
_CHROMA_NAMES = {(1, 1): "420", (1, 0): "422", (0, 0): "444"}
_DEPTHS = (8, 10, 12, 16)


def planar_name(bit_depth: int, chroma_shift: tuple[int, int]) -> str:
    """e.g. (10, (1, 1)) -> "yuv420p10le"."""
    suffix = "" if bit_depth == 8 else f"{bit_depth}le"
    return f"yuv{_CHROMA_NAMES[chroma_shift]}p{suffix}"


def parse_planar(name: str) -> tuple[int, tuple[int, int]] | None:
    """(bit_depth, chroma_shift) of a three-plane YUV format vsr handles, else None."""
    for shift in _CHROMA_NAMES:
        for depth in _DEPTHS:
            if planar_name(depth, shift) == name:
                return depth, shift
    return None


def planar_rgb_name(bit_depth: int) -> str:
    """e.g. 10 -> "gbrp10le": the planes are G, B and R, FFmpeg's planar RGB order."""
    return "gbrp" if bit_depth == 8 else f"gbrp{bit_depth}le"


def parse_planes(name: str) -> tuple[int, tuple[int, int], bool] | None:
    """(bit_depth, chroma_shift, is_rgb) of a three-plane YUV or RGB format vsr handles,
    else None. RGB planes are never subsampled."""
    parsed = parse_planar(name)
    if parsed is not None:
        return *parsed, False
    rgb_depth = next((d for d in _DEPTHS if planar_rgb_name(d) == name), None)
    return None if rgb_depth is None else (rgb_depth, (0, 0), True)


def is_planar_rgb(name: str) -> bool:
    """Whether `name` is one of the planar RGB formats vsr writes (gbrp, gbrp10le...)."""
    parsed = parse_planes(name)
    return parsed is not None and parsed[2]


def _depth_class(bits: int) -> int:
    """Round a component depth up to one with a planar format (9 -> 10, 14 -> 16)."""
    return next(d for d in _DEPTHS if d >= bits) if bits <= 16 else 16


def is_grey(fmt: av.VideoFormat) -> bool:
    """Whether a format holds luma alone (gray, gray10le, ya8 ...)."""
    return len([c for c in fmt.components if not c.is_alpha]) == 1


def planar_equivalent(fmt: av.VideoFormat) -> tuple[str, bool]:
    """The lossless planar YUV format for a source format, and whether it is RGB-like.

    RGB-like sources (rgb, bgr, gbrp, palettes) need a matrix to become YUV; the caller
    chooses it. Gray sources get neutral chroma at 4:2:0.
    """
    colour = [c for c in fmt.components if not c.is_alpha]
    bits = _depth_class(max(c.bits for c in colour))
    rgb_like = fmt.is_rgb or fmt.has_palette
    if rgb_like:
        return planar_name(bits, (0, 0)), True
    if len(colour) == 1:
        return planar_name(bits, (1, 1)), False
    probe = av.VideoFormat(fmt.name, 64, 64)
    shift = (
        (64 // probe.chroma_width(64)).bit_length() - 1,
        (64 // probe.chroma_height(64)).bit_length() - 1,
    )
    # 4:1:1, 4:1:0 and 4:4:0 are rare; 4:4:4 holds them without loss.
    return planar_name(bits, shift if shift in _CHROMA_NAMES else (0, 0)), False


def planes_format_for(encoder_format: str) -> str | None:
    """The planar format vsr writes for an encoder's format: the format itself, or its
    planar twin (yuv420p for nv12, gbrp for bgr0); None when vsr cannot feed it."""
    twin = SEMI_PLANAR.get(encoder_format) or PACKED_RGB.get(encoder_format)
    planes_format = twin or encoder_format
    return planes_format if parse_planes(planes_format) is not None else None


def nearest_supported(wanted: str, supported: list[str]) -> tuple[str, str] | None:
    """The planar format an encoder accepts that is closest to `wanted`, YUV for a YUV
    `wanted` and RGB for an RGB one.

    Returns (planes_format, encoder_format): the encoder may only take a semi-planar
    twin (nv12 for yuv420p, p010le for 10-bit 4:2:0) or a packed RGB one (bgr0 for gbrp:
    FFV1 has no 8-bit planar RGB), in which case frames are re-packed without loss on the
    way in. Prefers the same depth, then the same chroma, then more depth and finer chroma
    over less.
    """
    depth, shift, rgb = parse_planes(wanted)  # type: ignore[misc]
    candidates: list[tuple[tuple, str, str]] = []
    for name in supported:
        planes_format = planes_format_for(name)
        if planes_format is None:
            continue
        d, s, is_rgb = parse_planes(planes_format)  # type: ignore[misc]
        if is_rgb != rgb:
            continue
        key = (
            d != depth,
            d < depth,
            abs(d - depth),
            s != shift,
            sum(s) > sum(shift),
            sum(abs(a - b) for a, b in zip(s, shift, strict=True)),
            name != planes_format,  # planar beats its semi-planar or packed twin
        )
        candidates.append((key, planes_format, name))
    if not candidates:
        return None
    _, planes_format, encoder_format = min(candidates)
    return planes_format, encoder_format


# Semi-planar formats some (mostly hardware) encoders want, with their planar twins.
SEMI_PLANAR = {
    "nv12": "yuv420p",
    "nv16": "yuv422p",
    "nv24": "yuv444p",
    "p010le": "yuv420p10le",
    "p016le": "yuv420p16le",
    "p210le": "yuv422p10le",
    "p410le": "yuv444p10le",
}

# Packed RGB formats some encoders want (FFV1's only 8-bit RGB is bgr0; libx264rgb, PNG and
# QuickTime Animation take no planar RGB), with their planar twins: swscale repacks RGB to
# RGB without loss.
PACKED_RGB = {
    "bgr0": "gbrp",
    "rgb24": "gbrp",
    "bgr24": "gbrp",
    "rgb48le": "gbrp16le",
    "rgb48be": "gbrp16le",
}
