"""Planar YUV pixel formats: what frames are delivered in and what encoders are fed.

vsr moves frames as three planes (Y, U, V). Any source format (semi-planar nv12, packed
rgb24, gray, paletted...) is mapped to the planar YUV format that loses nothing: same bit
depth, same chroma resolution (RGB and palettes become 4:4:4).
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


def _depth_class(bits: int) -> int:
    """Round a component depth up to one with a planar format (9 -> 10, 14 -> 16)."""
    return next(d for d in _DEPTHS if d >= bits) if bits <= 16 else 16


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


def nearest_supported(wanted: str, supported: list[str]) -> tuple[str, str] | None:
    """The planar format an encoder accepts that is closest to `wanted`.

    Returns (planes_format, encoder_format): the encoder may only take a semi-planar
    twin (nv12 for yuv420p, p010le for 10-bit 4:2:0), in which case frames are re-packed
    without loss on the way in. Prefers the same depth, then the same chroma, then more
    depth and finer chroma over less.
    """
    depth, shift = parse_planar(wanted)  # type: ignore[misc]
    candidates: list[tuple[tuple, str, str]] = []
    for name in supported:
        parsed = parse_planar(name)
        if parsed is not None:
            planes_format = name
        elif name in SEMI_PLANAR:
            planes_format = SEMI_PLANAR[name]
            parsed = parse_planar(planes_format)
        else:
            continue
        d, s = parsed  # type: ignore[misc]
        key = (
            d != depth,
            d < depth,
            abs(d - depth),
            s != shift,
            sum(s) > sum(shift),
            sum(abs(a - b) for a, b in zip(s, shift, strict=True)),
            name != planes_format,  # planar beats its semi-planar twin
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
