"""Upscaling one still image of any layout: grey, grey + alpha, RGB or RGBA, 8 or 16 bits.

The networks see RGB in [0, 1]: grey is replicated to three channels and reduced back to
one (BT.601 luma) afterwards; alpha bypasses the network and is enlarged with MATLAB
bicubic, and the colour under fully clear pixels is filled from the visible ones first
(vsr.clear_colour), so it cannot fringe the edges; 16-bit samples are scaled by 1/65535,
so the network works on the full precision and the output keeps 16 bits.
"""

from __future__ import annotations

import numpy as np
import torch

from vsr.clear_colour import fill_under_clear
from vsr.errors import VsrError
from vsr.imageio import as_rgb, writable
from vsr.ops.imresize import imresize
from vsr.scaling import check_scale_served
from vsr.telemetry import available_host_memory_bytes
from vsr.upscale import Upscaler

_PEAKS = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}
_LUMA = (0.299, 0.587, 0.114)


def upscaled_by(upscaler: Upscaler, x: torch.Tensor, scale: int) -> torch.Tensor:
    """``x`` (N x 3 x H x W in [0, 1]) upscaled by ``scale`` (output_scale checked it), as vsr
    run serves a request: same-size networks (IMDN_AS, scale 1) restore a MATLAB bicubic
    enlargement, as in the paper's any-scale use; a network of a larger factor has its output
    shrunk to the size asked for (antialiased MATLAB bicubic, as vsr run shrinks it)."""
    from vsr.engine import resize_exact

    height, width = x.shape[2] * scale, x.shape[3] * scale
    if upscaler.scale == 1 and scale != 1:
        # On the network's device: the enlarged frame is the big one, don't copy it over.
        x = imresize(x.to(upscaler.device, torch.float64), scale=scale).clamp(0, 1).float()
    y = upscaler(x)
    if y.shape[2:] != (height, width):
        y = resize_exact(y, height, width)
    return y


def output_scale(upscaler: Upscaler, scale: int | None) -> int:
    """The factor to upscale by: ``scale`` if given, else the one the upscaler was loaded
    for (IMDN_AS loaded for x3 enlarges by 3, though the network itself is same-size). One
    the network cannot serve is refused as vsr run refuses it (vsr.scaling)."""
    from vsr.weights import check_scale

    scale = check_scale(scale)
    if scale is None:
        scale = upscaler.output_scale
    check_scale_served(upscaler.scale, scale)  # here, so that an empty batch is told too
    return scale


# Host memory per output pixel beyond the network's own (which the Upscaler's memory budget
# bounds by tiling): the float32 RGB result and its copies while it is scaled, rounded and
# converted. Measured as the peak RSS of x2 runs with the network tiled: 37-40 bytes, for
# 1500x1500 and 2500x2500 RGB and grey images.
_BYTES_PER_OUTPUT_PIXEL = 40


# The same for a batch of RGB frames (vsr.upscale_frames): the float32 results of the
# network's calls held in a list and then concatenated (or stitched into one tensor from
# tiles), the batch as floats, the NaN check's mask, the uint8 copy. Measured as the growth
# of peak RSS between batches of 1000 and 3000 32x24 frames at x2 in fp32, the network's own
# memory held down by a small budget: 48-50 bytes (imdn_rtc and imdn; 36 for 640x360 frames
# in tiles), and 63 for a same-size network (IMDN_AS), which holds its bicubic enlargement
# too; smaller batches measured up to 54 and 81, the allocator's share varying. (Between
# batches of 16, 64 and 128 80x60 frames the network's own peak hid the results' growth:
# 19 and 24 bytes, taken at first, let through batches that needed twice the memory.)
_BYTES_PER_BATCH_OUTPUT_PIXEL = 64
_BYTES_PER_ENLARGED_BATCH_OUTPUT_PIXEL = 80


def _check_memory(height: int, width: int, scale: int) -> None:
    """Refuse an image whose upscaled copy cannot fit in the memory the host has free: a
    12000x12000 image at x2 needs about 21 GiB, and would otherwise run until the system
    kills the process."""
    needed = height * scale * width * scale * _BYTES_PER_OUTPUT_PIXEL
    _refuse_beyond_free_memory(needed, f"this {width}x{height} image upscaled x{scale}")


def check_batch_memory(count: int, height: int, width: int, scale: int, enlarged: bool) -> None:
    """Refuse a batch of frames whose upscaled copies cannot fit in the memory the host has
    free, before the network runs (``enlarged``: a same-size network, given a bicubic
    enlargement): 300 1920x1080 frames at x2 need about 148 GiB, and would otherwise go
    through the network (hours on a CPU) before their results outgrew it."""
    per_pixel = (
        _BYTES_PER_ENLARGED_BATCH_OUTPUT_PIXEL if enlarged else _BYTES_PER_BATCH_OUTPUT_PIXEL
    )
    needed = count * height * scale * width * scale * per_pixel
    batch = f"a batch of {count} {width}x{height} frames upscaled x{scale}"
    _refuse_beyond_free_memory(needed, batch, "; upscale fewer frames a call")


def _refuse_beyond_free_memory(needed: int, what: str, advice: str = "") -> None:
    available = available_host_memory_bytes()
    if available is not None and needed > available:
        raise VsrError(
            f"{what} needs about {needed / 2**20:,.0f} MiB of memory; "
            f"{available / 2**20:,.0f} MiB is free{advice}"
        )


def upscale_image(
    upscaler: Upscaler, pixels: np.ndarray, scale: int | None = None, fill_clear: bool = True
) -> np.ndarray:
    """Upscale H x W x C uint8/uint16 pixels, C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4
    (RGBA), or H x W grey; the same layout and dtype come out (uint16 in this machine's
    byte order, for big-endian samples too). With ``fill_clear`` the colour under fully
    clear pixels is filled from the visible ones first (vsr.clear_colour); without, for an
    output that drops the alpha (JPEG, BMP), where that colour is the background seen."""
    scale = output_scale(upscaler, scale)
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        return upscale_image(upscaler, pixels[:, :, None], scale, fill_clear)[:, :, 0]
    if pixels.ndim != 3 or 0 in pixels.shape:
        raise VsrError(f"an image must be H x W or H x W x C, not an array of shape {pixels.shape}")
    if pixels.dtype.kind == "u" and not pixels.dtype.isnative:
        # 16-bit samples as PNG, PGM and FITS store them (np.frombuffer(data, ">u2")):
        # uint16 all the same, which the dtype comparison below would refuse as "not 16 bits".
        pixels = pixels.astype(pixels.dtype.newbyteorder("="))
    if pixels.dtype not in _PEAKS:
        raise VsrError(f"images must be 8 or 16 bits per sample, not {pixels.dtype}")
    channels = pixels.shape[2]
    if channels not in (1, 2, 3, 4):
        hint = " (channels first? give H x W x C)" if pixels.shape[0] in (1, 2, 3, 4) else ""
        raise VsrError(f"images must have 1, 2, 3 or 4 channels, not {channels}{hint}")
    # The network's own output is the larger where it is shrunk to the scale.
    _check_memory(pixels.shape[0], pixels.shape[1], max(scale, upscaler.scale))
    peak = _PEAKS[pixels.dtype]
    grey = channels <= 2

    colour = as_rgb(pixels)
    if channels in (2, 4) and fill_clear:  # what clear pixels store must not fringe the edge
        colour = fill_under_clear(colour, pixels[:, :, -1])
    x = torch.from_numpy(writable(colour)).permute(2, 0, 1)[None].float() / peak
    y = upscaled_by(upscaler, x, scale)[0]
    if grey:
        y = sum(weight * y[i] for i, weight in enumerate(_LUMA))[None]
    out = (y * peak).round().clamp(0, peak).permute(1, 2, 0).cpu().numpy().astype(pixels.dtype)
    if channels in (2, 4):
        alpha = imresize(pixels[:, :, -1], scale=scale)
        out = np.concatenate([out, alpha[:, :, None]], axis=2)
    return out
