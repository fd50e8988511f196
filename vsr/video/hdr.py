"""HDR10 static metadata (mastering display colour volume, content light level).

Decoders hand it over as frame side data; x265 takes it back as `master-display` and
`max-cll` parameters. Without it an HDR10 clip still says PQ / BT.2020, but players fall
back to guessing the grading display's peak, so highlights come out differently.
"""

from __future__ import annotations

import ctypes
import struct

import av


def _side_data_bytes(frame: av.VideoFrame, name: str) -> bytes | None:
    for side in frame.side_data:
        if side.type.name == name:
            return ctypes.string_at(side.buffer_ptr, side.buffer_size)
    return None


def x265_hdr10_params(frame: av.VideoFrame) -> str | None:
    """`master-display=...:max-cll=...` for x265 from a decoded frame, or None."""
    params = []
    mastering = _side_data_bytes(frame, "MASTERING_DISPLAY_METADATA")
    if mastering is not None and len(mastering) >= 88:
        # AVMasteringDisplayMetadata: primaries R, G, B and the white point as (x, y)
        # rationals, min and max luminance as rationals, then has_primaries, has_luminance.
        values = struct.unpack("<20i2i", mastering[:88])
        rationals = [values[i] / values[i + 1] if values[i + 1] else 0.0 for i in range(0, 20, 2)]
        has_primaries, has_luminance = values[20], values[21]
        if has_primaries and has_luminance:
            (rx, ry, gx, gy, bx, by, wx, wy, low, high) = rationals
            chroma = [round(v * 50000) for v in (gx, gy, bx, by, rx, ry, wx, wy)]
            params.append(
                "master-display=G({},{})B({},{})R({},{})WP({},{})".format(*chroma)
                + f"L({round(high * 10000)},{round(low * 10000)})"
            )
    light = _side_data_bytes(frame, "CONTENT_LIGHT_LEVEL")
    if light is not None and len(light) >= 8:
        max_cll, max_fall = struct.unpack("<2I", light[:8])
        params.append(f"max-cll={max_cll},{max_fall}")
    return ":".join(params) or None
