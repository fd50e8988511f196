"""The neutral part of what a limited-range picture holds beyond [0, 1], carried around
the network.

Limited-range video legally reaches past nominal black and white: super-blacks below code
16 and super-whites above 235 (a camera's highlights, up to 254). The network was trained
on [0, 1] and is fed the picture clamped there, so those would come out flat.

Only what R, G and B all lost alike to the clamp goes around the network, as one value on
the three: a neutral offset, which moves luma alone. Feeding the network the unclamped
picture, or adding back all it lost, measured worse against the original (Set14 through
yuv420p, official x2 weights: up to 0.35 dB of luma; chroma 0.09 dB), because 4:2:0 chroma
interpolated across a colour edge makes out-of-gamut RGB in every real clip, and that
overshoot is an artefact, not picture. The lost part's luma alone (the matrix's weights)
still moved saturated colours, one channel out, by a grey offset: the bench's clip fell
from above 45 to 39.8 dB against its naive loop. A channel within [0, 1] takes nothing, so
saturated colour is clamped exactly as before; a super-white grey is all neutral.

The part is enlarged to the output bilinearly (cheap, and zeros stay exactly zero) and
added; the sum is clamped per frame and channel to the frame's own envelope, [min(0,
lowest), max(1, highest)] of its unclamped RGB, so nothing is made beyond what the frame
held, and a frame inside [0, 1] (nothing taken off, an envelope of [0, 1]) comes out bit for
bit as it did. Everything stays on the batch's device, with no host sync.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Beyond:
    """A batch's neutral part beyond [0, 1] (N x 1 x H x W) and each frame's per-channel
    envelope (N x 3 x 1 x 1, low and high)."""

    neutral: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor


def split_beyond(rgb: torch.Tensor) -> tuple[torch.Tensor, Beyond]:
    """Unclamped float RGB (N x 3 x H x W) -> (the picture clamped to [0, 1], the neutral
    part of what the clamp took off). `rgb` is reused."""
    low = rgb.amin(dim=(2, 3), keepdim=True).clamp_(max=0.0)
    high = rgb.amax(dim=(2, 3), keepdim=True).clamp_(min=1.0)
    clamped = rgb.clamp(0.0, 1.0)
    off = rgb.sub_(clamped)
    # What all three channels lost alike: above 1 the least any lost, below 0 the least
    # any gained. Nonzero only where R, G and B are all beyond the same end.
    above = off.clamp(min=0.0).amin(dim=1, keepdim=True)
    below = off.clamp_(max=0.0).amax(dim=1, keepdim=True)
    return clamped, Beyond(above.add_(below), low, high)


def add_beyond(out: torch.Tensor, beyond: Beyond) -> torch.Tensor:
    """`out` (N x 3 x H' x W', within [0, 1]) as float32, with `beyond`'s neutral part
    enlarged to its size added to every channel, clamped to each frame's envelope; in place where `out`
    is float32 already."""
    # float32 first: a half-precision output would round the sum (rgb_to_yuv takes float32
    # anyway, so an in-range frame is unchanged).
    out = out.float()
    neutral = beyond.neutral
    if tuple(neutral.shape[-2:]) != tuple(out.shape[-2:]):
        size = out.shape[-2:]
        neutral = F.interpolate(neutral, size=size, mode="bilinear", align_corners=False)
    # In place, one bound a pass: cheaper on the CPU than both at once.
    return out.add_(neutral).clamp_(min=beyond.low).clamp_(max=beyond.high)
