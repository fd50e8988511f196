"""Building blocks of the IMDN family (Hui et al., ACM MM 2019).

Attribute names follow the official checkpoints (``c1`` ... ``c5``, ``cca.conv_du``) so that
their state dicts load without renaming.
"""

from __future__ import annotations

import torch
from torch import nn

# IMDN uses LeakyReLU with a 0.05 slope inside its blocks and after the fusion conv.
LEAKY_SLOPE = 0.05


def conv(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1, bias: bool = True
) -> nn.Conv2d:
    """A 'same'-padded convolution (odd kernels), as every convolution in IMDN is."""
    return nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=bias)


class ContrastChannelAttention(nn.Module):
    """Contrast-aware channel attention (CCA): per-channel (std + mean) -> squeeze -> gate.

    The statistics cover the whole input, so a tiled image can never match the whole image
    exactly. The naive sum of squared deviations overflows float16 on real frames (see
    DESIGN.md), and so does the variance itself wherever a channel's deviation passes 256
    (its square passes float16's 65504): ``var_mean`` reduces in float32 but hands back a
    float16 variance, inf on a 1-pixel checkerboard or dithered footage, and the frame
    came out NaN. ``std_mean`` takes the root inside its float32 reduction, and a float16
    tensor's deviation is never above its largest value.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel weights, N x C x 1 x 1 in (0, 1)."""
        deviation, mean = torch.std_mean(x, dim=(2, 3), keepdim=True, correction=0)
        contrast = deviation.float() + mean.float()
        return self.conv_du(contrast.to(x.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class DistillationBlock(nn.Module):
    """The information multi-distillation block (IMDB).

    Three 3x3 convolutions each keep a quarter of their channels ("distilled") and pass the
    rest on; a fourth produces the last quarter. The four parts are concatenated, weighted by
    CCA (omitted in the speed variant of IMDN_RTC), fused by a 1x1 convolution and added to
    the block input.

    With ``fold_attention`` set (see fold_channel_attention), the attention's gate is folded
    into the fusion convolution's weights instead of multiplying the feature maps.
    """

    fold_attention = False

    def __init__(self, channels: int, distillation_rate: float = 0.25, attention: bool = True):
        super().__init__()
        self.distilled = int(channels * distillation_rate)
        self.remaining = channels - self.distilled
        self.c1 = conv(channels, channels, 3)
        self.c2 = conv(self.remaining, channels, 3)
        self.c3 = conv(self.remaining, channels, 3)
        self.c4 = conv(self.remaining, self.distilled, 3)
        self.act = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
        self.cca = ContrastChannelAttention(self.distilled * 4) if attention else nn.Identity()
        self.c5 = conv(self.distilled * 4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = (self.distilled, self.remaining)
        kept1, rest = self.act(self.c1(x)).split(split, dim=1)
        kept2, rest = self.act(self.c2(rest)).split(split, dim=1)
        kept3, rest = self.act(self.c3(rest)).split(split, dim=1)
        kept4 = self.c4(rest)
        fused = torch.cat([kept1, kept2, kept3, kept4], dim=1)
        if self.fold_attention and isinstance(self.cca, ContrastChannelAttention):
            return gated_pointwise_conv(fused, self.cca.gate(fused), self.c5) + x
        return self.c5(self.cca(fused)) + x


class LargeDistillationBlock(nn.Module):
    """The deeper, bias-free IMDB of IMDN_RTE: five distillation steps with ReLU.

    Each step keeps ``channels / 4`` channels; the retained width shrinks from step 4 on
    (channels - d, then - 2d), and the sixth convolution works on the last d channels.
    """

    def __init__(self, channels: int, distillation_rate: float = 0.25) -> None:
        super().__init__()
        d = int(channels * distillation_rate)
        r = channels - d
        self.distilled, self.remaining = d, r
        self.c1 = conv(channels, channels, 3, bias=False)
        self.c2 = conv(r, channels, 3, bias=False)
        self.c3 = conv(r, channels, 3, bias=False)
        self.c4 = conv(r, r, 3, bias=False)
        self.c5 = conv(r - d, r - d, 3, bias=False)
        self.c6 = conv(d, d, 3, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.c7 = conv(d * 6, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d, r = self.distilled, self.remaining
        kept1, rest = self.act(self.c1(x)).split((d, r), dim=1)
        kept2, rest = self.act(self.c2(rest)).split((d, r), dim=1)
        kept3, rest = self.act(self.c3(rest)).split((d, r), dim=1)
        kept4, rest = self.act(self.c4(rest)).split((d, r - d), dim=1)
        kept5, rest = self.act(self.c5(rest)).split((d, r - 2 * d), dim=1)
        kept6 = self.act(self.c6(rest))
        fused = torch.cat([kept1, kept2, kept3, kept4, kept5, kept6], dim=1)
        return self.c7(fused) + x


def gated_pointwise_conv(x: torch.Tensor, gate: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(x * gate)`` for a 1x1 ``conv`` and a per-sample, per-channel ``gate``
    (N x C x 1 x 1), computed as ``(W diag(gate_n)) x_n``: scaling the 64 x 64 weights of
    each sample instead of its C x H x W feature maps saves a read and a write of the maps.
    One batched matrix product in the maps' own layout, so neither is copied."""
    n, c, h, w = x.shape
    weights = conv.weight.view(conv.out_channels, c)[None] * gate.view(n, 1, c)  # N x D x C
    bias = conv.bias if conv.bias is not None else x.new_zeros(conv.out_channels)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        pixels = x.permute(0, 2, 3, 1).reshape(n, h * w, c)  # a view: N x HW x C
        out = torch.baddbmm(bias.view(1, 1, -1), pixels, weights.transpose(1, 2))
        return out.view(n, h, w, -1).permute(0, 3, 1, 2)  # channels_last, like a conv's
    out = torch.baddbmm(bias.view(1, -1, 1), weights, x.reshape(n, c, h * w))
    return out.view(n, -1, h, w)


def fold_channel_attention(model: nn.Module) -> int:
    """Switch every IMDB of ``model`` with attention to the folded fusion (same arithmetic,
    one pass over the feature maps fewer); returns how many. For inference copies: hooks on
    ``cca`` or ``c5`` (feature-map views, convolution counting) no longer fire."""
    blocks = [
        m
        for m in model.modules()
        if isinstance(m, DistillationBlock) and isinstance(m.cca, ContrastChannelAttention)
    ]
    for block in blocks:
        block.fold_attention = True
    return len(blocks)


def pixel_shuffle_upsampler(channels: int, out_channels: int, factor: int) -> nn.Sequential:
    """3x3 convolution to ``out_channels * factor**2`` channels, then a pixel shuffle."""
    return nn.Sequential(conv(channels, out_channels * factor**2, 3), nn.PixelShuffle(factor))
