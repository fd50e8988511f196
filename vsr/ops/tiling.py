"""Splitting a frame into windows the network can afford, and stitching the results.

Every plan is a list of equal-sized input windows, each responsible for a "core" rectangle
of the image; the core is copied from the window's output and the rest of the window (its
overlap with neighbours) is thrown away. Three shapes of plan exist:

- whole: one window, the full frame (padded by edge replication up to the network's input
  multiple when needed).
- four-patch: the paper's adaptive cropping (ACS) for IMDN_AS: four overlapping quadrants,
  each extended by ``shave`` pixels and rounded down to the input multiple, which is how
  the official test runs a side that is no multiple of 4.
- tiles: a grid of overlapping tiles, as few and as large as the memory budget allows.

CCA normalises by whole-input statistics, so no split reproduces the whole-frame output
exactly; larger windows come closer (DESIGN.md: four patches 53.0 dB, 256-pixel tiles
49.6 dB against the whole frame). Hence "few, large tiles", and the plan is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

ADAPTIVE_CROP_SHAVE = 32
# Neighbouring tiles split their overlap in the middle, and a tile's core is made as the
# whole frame makes it only where each side has the network's reach (the `reach` of each
# model: how many input pixels away an output pixel can depend on). IMDN's 27 chained 3x3
# convolutions reach 27 and IMDN_RTC's 22, within 32 a side (IMDN's seams were up to 8
# levels off with 16: fp64, an audit's 256x256 crop, the attention's statistics aside).
# IMDN_RTE works at half size and reaches 77, IMDN_AS at quarter size and reaches 110:
# tile_overlap gives each network twice its reach, and this at least.
TILE_OVERLAP = 64
# How many times the frame's pixels a plan may compute, in overlapping windows, before a
# smaller overlap is taken where it halves that (plan_tiles).
MOST_WORK = 8


def tile_overlap(network: object) -> int:
    """How much neighbouring tiles of `network` overlap: twice its ``reach`` (so that each
    core has every input pixel it depends on inside its window), TILE_OVERLAP at least. A
    network that does not say its reach (a stand-in callable) gets TILE_OVERLAP."""
    return max(TILE_OVERLAP, 2 * getattr(network, "reach", 0))


@dataclass(frozen=True)
class Window:
    """An input window (top, left, with the plan's tile size) and the core it owns."""

    top: int
    left: int
    core_top: int
    core_bottom: int
    core_left: int
    core_right: int


@dataclass(frozen=True)
class TilePlan:
    mode: str  # "whole", "four-patch" or "tiles"
    height: int
    width: int
    tile_height: int
    tile_width: int
    padded_height: int
    padded_width: int
    windows: tuple[Window, ...]

    @property
    def tile_pixels(self) -> int:
        return self.tile_height * self.tile_width

    def describe(self) -> str:
        if self.mode == "whole":
            padding = ""
            if (self.padded_height, self.padded_width) != (self.height, self.width):
                padding = f", padded to {self.padded_width}x{self.padded_height}"
            return f"whole frame {self.width}x{self.height}{padding}"
        return (
            f"{self.mode}: {len(self.windows)} windows of {self.tile_width}x{self.tile_height}"
            f" over {self.width}x{self.height}"
        )

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "frame": [self.width, self.height],
            "tile": [self.tile_width, self.tile_height],
            "windows": len(self.windows),
            "description": self.describe(),
        }


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


# A side shorter than SMALL_SIDE is edge-padded to SMALL_SIDE_PADDED before the network
# sees it: on one or two pixels the 3x3 convolutions' zero padding is most of what they see
# (a 1x1 grey 200 came out 39-68 with the bundled x2 weights). Measured on 64x64 crops of a
# Set5 image against the same pixels upscaled in the whole crop: 1 px 9.3 -> 36.0 dB, 2 px
# 29.7 -> 34.6, 3 px 33.9 -> 34.2, 4 px 38.7 -> 39.7, while 6 px lost 0.5 dB when padded.
SMALL_SIDE = 5
SMALL_SIDE_PADDED = 8


def padded_side(size: int, multiple: int = 1) -> int:
    """The length the network is given for a frame side of `size`: a multiple of its input
    multiple, and at least SMALL_SIDE_PADDED for a side below SMALL_SIDE."""
    return _round_up(size if size >= SMALL_SIDE else SMALL_SIDE_PADDED, multiple)


def whole_plan(height: int, width: int, multiple: int = 1) -> TilePlan:
    ph, pw = padded_side(height, multiple), padded_side(width, multiple)
    window = Window(0, 0, 0, height, 0, width)
    return TilePlan("whole", height, width, ph, pw, ph, pw, (window,))


def four_patch_plan(
    height: int, width: int, multiple: int = 4, shave: int = ADAPTIVE_CROP_SHAVE
) -> TilePlan | None:
    """The paper's adaptive cropping, or None when the frame is too small for it."""
    half_h, half_w = height // 2, width // 2
    th = (half_h + shave) - (half_h + shave) % multiple
    tw = (half_w + shave) - (half_w + shave) % multiple
    if th > height or tw > width or th < height - half_h or tw < width - half_w:
        return None
    windows = (
        Window(0, 0, 0, half_h, 0, half_w),
        Window(0, width - tw, 0, half_h, half_w, width),
        Window(height - th, 0, half_h, height, 0, half_w),
        Window(height - th, width - tw, half_h, height, half_w, width),
    )
    return TilePlan("four-patch", height, width, th, tw, height, width, windows)


def _axis_windows(
    size: int, count: int, tile: int, multiple: int = 1
) -> list[tuple[int, int, int]]:
    """(start, core_start, core_end) of ``count`` tiles of length ``tile`` over ``size``
    pixels, edge-padded to padded_side(size, multiple).

    Every start is a multiple of ``multiple``: a network that first shrinks its input by
    that factor (IMDN_RTE by 2, IMDN_AS by 4) samples a tile at an odd start on another
    grid than the whole frame, and IMDN_RTE's tiles differed from its whole frame by up to
    34 levels (48.9 dB) where aligned ones differ by 3 (64.4 dB)."""
    if count == 1:
        return [(0, 0, size)]
    span = padded_side(size, multiple) - tile
    starts = [round(i * span / (count - 1)) // multiple * multiple for i in range(count)]
    # Neighbouring tiles split their overlap in the middle.
    cuts = [min((starts[i + 1] + starts[i] + tile) // 2, size) for i in range(count - 1)]
    cuts = [0, *cuts, size]
    return [(starts[i], cuts[i], cuts[i + 1]) for i in range(count)]


def _tile_side(size: int, count: int, multiple: int, overlap: int) -> int:
    """The side of each of ``count`` tiles over ``size`` pixels that overlap by at least
    ``overlap`` (at most the whole side).

    The overlap is counted in whole multiples: tiles and their starts are multiples of
    ``multiple`` (see _axis_windows), and only then does the rounding of the starts keep
    neighbours ``overlap`` apart (half of IMDN_AS's 220, 110, came out as little as 108,
    and half of IMDN_RTE's 154, 77, as 76)."""
    overlap = _round_up(overlap, multiple)
    return min(_round_up(math.ceil((size + (count - 1) * overlap) / count), multiple), size)


def grid_plan(
    height: int, width: int, rows: int, cols: int, multiple: int = 1, overlap: int = TILE_OVERLAP
) -> TilePlan:
    """``rows`` x ``cols`` equal tiles overlapping by at least ``overlap`` pixels, over the
    frame edge-padded as whole_plan pads it (a side that is not a multiple of the network's
    input multiple was refused any tiling: a 1001x33 frame for IMDN_RTE, while 1001x34 ran)."""
    ph, pw = padded_side(height, multiple), padded_side(width, multiple)
    th = _tile_side(ph, rows, multiple, overlap)
    tw = _tile_side(pw, cols, multiple, overlap)
    windows = tuple(
        Window(top, left, ct, cb, cl, cr)
        for top, ct, cb in _axis_windows(height, rows, th, multiple)
        for left, cl, cr in _axis_windows(width, cols, tw, multiple)
    )
    return TilePlan("tiles", height, width, th, tw, ph, pw, windows)


# Asked on every network call (Upscaler.plan_for), of the same few sizes: planning a 4K frame
# within a budget took 12 to 26 ms of the feeding thread each time. Plans are immutable.
@lru_cache(maxsize=64)
def plan_tiles(
    height: int,
    width: int,
    max_pixels: int | None = None,
    multiple: int = 1,
    overlap: int = TILE_OVERLAP,
    adaptive_cropping: bool = False,
) -> TilePlan:
    """The plan with the fewest, largest windows whose pixel count fits ``max_pixels``,
    tiles overlapping by ``overlap`` (tile_overlap of the network), or by half of it where
    the budget cannot afford windows that large, and as a last resort by TILE_OVERLAP // 2.

    Sizes the network cannot take directly (not a multiple of its input multiple) are
    edge-padded, or, for a network with ``adaptive_cropping`` (IMDN_AS), cut into the
    paper's four patches when the frame is large enough.
    """
    aligned = height % multiple == 0 and width % multiple == 0
    whole = whole_plan(height, width, multiple)
    if max_pixels is None or whole.tile_pixels <= max_pixels:
        if aligned or not adaptive_cropping:
            return whole
        four = four_patch_plan(height, width, multiple)
        return four or whole
    four = four_patch_plan(height, width, multiple)
    # The paper's patches give each core ADAPTIVE_CROP_SHAVE a side: a network reaching
    # farther is given a grid (two by two tiles are four patches with its own overlap).
    if four is not None and four.tile_pixels <= max_pixels and overlap <= 2 * ADAPTIVE_CROP_SHAVE:
        return four
    # The last resort is the least overlap any network was planned with before it had its
    # own, so that a budget planned then is not refused now.
    plans = []
    for margin in dict.fromkeys((overlap, overlap // 2, TILE_OVERLAP // 2)):
        candidates = _fitting_grids(height, width, max_pixels, multiple, margin, whole)
        if candidates:
            # Fewest windows first; among equals, the squarest (least overlap recomputed).
            count = min(c[0] for c in candidates)
            plans.append(min((c for c in candidates if c[0] == count), key=lambda c: c[1])[2])
    if not plans:
        raise ValueError(f"no tiling of {width}x{height} fits {max_pixels} pixels per window")
    # Less overlap only where the full one makes windows whose cores are a sliver of each
    # (IMDN at 320x180 in windows of 74x76: 260 of them, 25 times the frame's pixels;
    # IMDN_RTE at 640x360 in 174x172: 297, 38 times), and where it halves that work; the
    # attention's whole-frame statistics, more than the overlap, set how far windows that
    # small are from the whole frame.
    frame = whole.padded_height * whole.padded_width
    chosen = plans[0]
    for plan in plans[1:]:
        if _work(chosen) > MOST_WORK * frame and 2 * _work(plan) < _work(chosen):
            chosen = plan
    return chosen


def _work(plan: TilePlan) -> int:
    """The pixels the network computes for a plan: its windows' together."""
    return len(plan.windows) * plan.tile_pixels


def _fitting_grids(
    height: int, width: int, max_pixels: int, multiple: int, overlap: int, whole: TilePlan
) -> list[tuple[int, float, TilePlan]]:
    """(windows, aspect, plan) of each grid whose windows fit ``max_pixels``, with the
    fewest columns for its rows."""
    candidates = []
    for rows in range(1, 65):
        tile_height = _tile_side(whole.padded_height, rows, multiple, overlap)
        for cols in range(1, 65):
            # The tile's size first: building every window of 64 x 64 grids that do not fit
            # took 12 s before a too-small budget was refused.
            if tile_height * _tile_side(whole.padded_width, cols, multiple, overlap) > max_pixels:
                continue
            plan = grid_plan(height, width, rows, cols, multiple, overlap)
            if plan.tile_pixels <= max_pixels:
                aspect = max(plan.tile_height, plan.tile_width) / min(
                    plan.tile_height, plan.tile_width
                )
                candidates.append((rows * cols, aspect, plan))
                break  # more columns for these rows only adds windows
    return candidates


def _even_calls(total: int, per_call: int) -> int:
    """Items per call when `total` go in calls of at most `per_call`, spread evenly: as few
    calls as before, as alike as they can be (4 in calls of at most 3: 2 + 2, not 3 + 1)."""
    calls = -(-total // per_call)
    return -(-total // calls)


def _in_calls(network, batch: torch.Tensor, size: int, one_shape: bool) -> torch.Tensor:
    """`network` over `batch` in calls of `size` items (from _even_calls). With `one_shape`,
    a short call is padded with copies of its last item, whose results are dropped: a
    compiled network or a CUDA graph is made once per input shape, and a second shape
    would cost a second compilation or capture."""
    total = batch.shape[0]
    results = []
    for start in range(0, total, size):
        part = batch[start : start + size]
        short = size - part.shape[0]
        if one_shape and short:
            part = torch.cat([part, part[-1:].expand(short, *part.shape[1:])])
        results.append(network(part)[: size - short] if short and one_shape else network(part))
    return torch.cat(results)


def run_plan(
    network: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    plan: TilePlan,
    scale: int,
    max_pixels: int | None = None,
    one_shape: bool = False,
) -> torch.Tensor:
    """Apply ``network`` to every window of every frame of ``x`` (N x C x H x W) and stitch.

    Windows of all frames are batched together, as many per call as ``max_pixels`` allows,
    spread evenly over the calls (and with `one_shape` all of one shape; see _in_calls).
    """
    n = x.shape[0]
    if plan.mode == "whole" and (plan.padded_height, plan.padded_width) == (
        plan.height,
        plan.width,
    ):
        per_call = n if max_pixels is None else max(1, max_pixels // plan.tile_pixels)
        return _in_calls(network, x, _even_calls(n, per_call), one_shape)
    if (plan.padded_height, plan.padded_width) != (plan.height, plan.width):
        x = F.pad(
            x, (0, plan.padded_width - plan.width, 0, plan.padded_height - plan.height), "replicate"
        )
    jobs = [(i, window) for i in range(n) for window in plan.windows]
    per_call = len(jobs) if max_pixels is None else max(1, max_pixels // plan.tile_pixels)
    # The split is made once for all the windows: each chunk below is one call of this size
    # (the last one padded to it with `one_shape`).
    per_call = _even_calls(len(jobs), per_call)
    out = None
    th, tw, s = plan.tile_height, plan.tile_width, scale
    for start in range(0, len(jobs), per_call):
        chunk = jobs[start : start + per_call]
        patches = torch.stack([x[i, :, w.top : w.top + th, w.left : w.left + tw] for i, w in chunk])
        results = _in_calls(network, patches, per_call, one_shape)
        if out is None:
            out = results.new_empty(n, results.shape[1], plan.height * s, plan.width * s)
        for (i, w), result in zip(chunk, results, strict=True):
            out[i, :, w.core_top * s : w.core_bottom * s, w.core_left * s : w.core_right * s] = (
                result[
                    :,
                    (w.core_top - w.top) * s : (w.core_bottom - w.top) * s,
                    (w.core_left - w.left) * s : (w.core_right - w.left) * s,
                ]
            )
    return out
