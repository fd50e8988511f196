"""Output size of a run: integer or fractional --scale, --size WxH, --height H.

A network upscales by a whole factor. For any other target the nearest larger factor runs
and an antialiased downscale on the device gives the exact size (720p -> 1080p runs x2 and
shrinks by 3/4), so detail comes from the network and the resize only removes some.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vsr.errors import VsrError

if TYPE_CHECKING:
    from vsr.video.reader import VideoInfo

NETWORK_SCALES = (2, 3, 4)


def round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def round_to_even(value: float) -> int:
    """The nearest even whole number (at least 2), for a side vsr derives rather than one
    the user named: an odd side forces 4:4:4 H.264, which most players cannot play (ffmpeg's
    scale=-2 does the same)."""
    return max(2, 2 * round_half_up(value / 2))


@dataclass(frozen=True)
class OutputGeometry:
    """Where a run goes: the exact output size and the integer network factor to get there."""

    width: int
    height: int
    # The factor the user asked for; from a size or height, the larger of the two sides'
    # (the one the network is picked for).
    scale: float
    network_scale: int


def coded_request(
    info: VideoInfo, size: tuple[int, int] | None, height: int | None
) -> tuple[tuple[int, int] | None, int | None]:
    """The user's --size or --height names the displayed picture; the frames of a
    quarter-turned clip (a phone's) are coded the other way round. Returns (size, height)
    for the coded frames: a swapped size, or for a height the size it gives."""
    if info.rotation % 180 != 90:
        return size, height
    if size is not None:
        return (size[1], size[0]), None
    if height is not None:  # the displayed height is the coded width
        return (height, round_to_even(info.height * height / info.width)), None
    return None, None


def parse_size(text: str) -> tuple[int, int]:
    """ "1920x1080" -> (1920, 1080)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX:]\s*(\d+)\s*", text)
    if not match or int(match[1]) <= 0 or int(match[2]) <= 0:
        raise VsrError(f"--size wants WIDTHxHEIGHT such as 1920x1080, not {text!r}")
    return int(match[1]), int(match[2])


def network_scale_for(
    factor: float, available: tuple[int, ...] = NETWORK_SCALES, asked: float | None = None
) -> int:
    """The smallest available whole factor that reaches `factor` (never upscale twice); the
    error names `asked`, the scale the user gave, when `factor` was derived from it."""
    for scale in sorted(available):
        if scale >= factor - 1e-9:
            return scale
    raise VsrError(
        f"scale {factor if asked is None else asked:g} is larger than the largest network factor "
        f"({max(available)}); available: {', '.join(map(str, sorted(available)))}"
    )


def scales_served_by(network_scale: int) -> tuple[int, ...]:
    """The whole factors a network of ``network_scale`` runs for, in vsr run, vsr image and
    the API alike: its own, which serves any smaller request too (its output is shrunk to
    it), and for a same-size network (IMDN_AS, 1) those of NETWORK_SCALES, from a bicubic
    enlargement (the range it was trained on)."""
    return NETWORK_SCALES if network_scale == 1 else (network_scale,)


def cannot_reach(network_scale: int, target: str, needed: int) -> VsrError:
    """What is said of weights whose factor falls short of a request (`target`: the size or
    the factor asked for; `needed`: the factor that reaches it)."""
    return VsrError(
        f"these weights upscale x{network_scale}, which cannot reach {target}; "
        f"use x{needed} weights"
    )


def check_scale_served(network_scale: int, scale: int) -> None:
    """Refuse a whole ``scale`` that a network of ``network_scale`` cannot serve: vsr run's
    rule (a whole factor reaches the same whatever the size), for vsr image and the API,
    which are told the scale before the pixels."""
    if scale > max(scales_served_by(network_scale)):
        # Beyond every network, network_scale_for says so, as vsr run does.
        raise cannot_reach(network_scale, f"x{scale}", network_scale_for(scale))


def larger_weights_note(network_scale: int, needed: int) -> str | None:
    """The note where weights upscale by more than `needed`, the smallest network factor
    that reaches a request (network_scale_for: x2 for --scale 1, which no network makes)."""
    if not network_scale > needed > 1:
        return None
    # "The x2 this size needs" was said of --scale 1 too, which needs no enlargement.
    return (
        f"the weights upscale x{network_scale}, more than x{needed}, the smallest factor "
        f"that reaches this size: their output is shrunk to it (x{needed} weights would be "
        "faster)"
    )


def plan_geometry(
    in_width: int,
    in_height: int,
    *,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    height: int | None = None,
    available: tuple[int, ...] = NETWORK_SCALES,
) -> OutputGeometry:
    """Exact output size and network factor for one clip. Give at most one of the targets;
    with none, the scale defaults to 2. Output size = round(scale x input)."""
    if sum(x is not None for x in (scale, size, height)) > 1:
        raise VsrError("give only one of scale, size and height (--scale, --size, --height)")
    if size is not None:
        width, out_height = size
    elif height is not None:
        if height <= 0:
            raise VsrError(f"height must be positive, not {height}")
        out_height = height
        width = round_to_even(in_width * height / in_height)
    else:
        factor = 2.0 if scale is None else float(scale)
        if not factor > 0 or math.isinf(factor):
            raise VsrError(f"scale must be a positive number, not {scale}")
        if factor >= max(available) + 1:  # beyond any rounding: refused before 1e308 overflows
            network_scale_for(factor, available)
        width, out_height = round_half_up(in_width * factor), round_half_up(in_height * factor)
    factor = max(width / in_width, out_height / in_height)
    if factor < 1:
        raise VsrError(
            f"the target {width}x{out_height} is smaller than the input "
            f"{in_width}x{in_height}; vsr only upscales"
        )
    chosen = network_scale_for(factor, available, None if scale is None else float(scale))
    return OutputGeometry(width, out_height, float(scale) if scale else factor, chosen)
