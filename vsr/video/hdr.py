"""HDR10 static metadata (mastering display colour volume, content light level).

Decoders hand it over as frame side data; the encoders take it back as parameters, each in
its own spelling: x265's `master-display`/`max-cll` count in 1/50000 and 1/10000 units,
SVT-AV1's `mastering-display`/`content-light` in plain chromaticities and cd/m². Without it
an HDR10 clip still says PQ / BT.2020, but players fall back to guessing the grading
display's peak, so highlights come out differently.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from dataclasses import dataclass

import av

from vsr.video.frame_side_data import side_data_of

# The encoders that can write it, and the parameter option each takes it in.
HDR10_ENCODERS = {"libx265": "x265-params", "libsvtav1": "svtav1-params"}


@dataclass(frozen=True)
class Hdr10:
    """What an HDR10 clip states about its grading: the mastering display's primaries and
    white point (CIE xy, in the order green, blue, red, white, as both encoders write them)
    with its luminance (min, max in cd/m²), and the content light levels (MaxCLL, MaxFALL
    in cd/m²). Either half may be absent."""

    display: tuple[tuple[float, float], ...] | None = None
    luminance: tuple[float, float] | None = None
    light: tuple[int, int] | None = None

    def _spelled(
        self,
        display_key: str,
        light_key: str,
        chromaticity: Callable[[float], object],
        luminance: Callable[[float], object],
    ) -> str:
        params = []
        if self.display is not None and self.luminance is not None:
            points = "".join(
                f"{name}({chromaticity(x)},{chromaticity(y)})"
                for name, (x, y) in zip(("G", "B", "R", "WP"), self.display, strict=True)
            )
            low, high = self.luminance
            params.append(f"{display_key}={points}L({luminance(high)},{luminance(low)})")
        if self.light is not None:
            params.append(f"{light_key}={self.light[0]},{self.light[1]}")
        return ":".join(params)

    def x265_params(self) -> str:
        return self._spelled(
            "master-display", "max-cll", lambda v: round(v * 50000), lambda v: round(v * 10000)
        )

    def svtav1_params(self) -> str:
        return self._spelled("mastering-display", "content-light", _decimal, _decimal)

    def params_for(self, codec: str) -> str:
        """The parameters `codec` (one of HDR10_ENCODERS) takes it in."""
        return self.x265_params() if codec == "libx265" else self.svtav1_params()


def _decimal(value: float) -> str:
    """0.265 as "0.265", 1000.0 as "1000": enough digits for the 1/50000 steps of HEVC's
    units, none that mean nothing."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _side_data_bytes(frame: av.VideoFrame, name: str) -> bytes | None:
    for side in side_data_of(frame):
        if side.type.name == name:
            return ctypes.string_at(side.buffer_ptr, side.buffer_size)
    return None


def hdr10_of(frame: av.VideoFrame) -> Hdr10 | None:
    """The HDR10 static metadata a decoded frame carries, or None."""
    display = luminance = light = None
    mastering = _side_data_bytes(frame, "MASTERING_DISPLAY_METADATA")
    if mastering is not None and len(mastering) >= 88:
        # AVMasteringDisplayMetadata: primaries R, G, B and the white point as (x, y)
        # rationals, min and max luminance as rationals, then has_primaries, has_luminance.
        values = struct.unpack("<20i2i", mastering[:88])
        rationals = [values[i] / values[i + 1] if values[i + 1] else 0.0 for i in range(0, 20, 2)]
        has_primaries, has_luminance = values[20], values[21]
        if has_primaries and has_luminance:
            (rx, ry, gx, gy, bx, by, wx, wy, low, high) = rationals
            display = ((gx, gy), (bx, by), (rx, ry), (wx, wy))
            luminance = (low, high)
    light_bytes = _side_data_bytes(frame, "CONTENT_LIGHT_LEVEL")
    if light_bytes is not None and len(light_bytes) >= 8:
        light = struct.unpack("<2I", light_bytes[:8])
    if display is None and light is None:
        return None
    return Hdr10(display, luminance, light)
