"""The real-time IMDN variants: IMDN_RTC (tiny, x2) and IMDN_RTE (down-up, x2)."""

from __future__ import annotations

import torch
from torch import nn

from vsr.models.blocks import (
    DistillationBlock,
    LargeDistillationBlock,
    conv,
    pixel_shuffle_upsampler,
)


class Residual(nn.Module):
    """``x + sub(x)``; the attribute is called ``sub`` to match the official key names."""

    def __init__(self, sub: nn.Module) -> None:
        super().__init__()
        self.sub = sub

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sub(x)


class IMDN_RTC(nn.Module):
    """IMDN_RTC: 12 features, 5 IMDBs without attention, a 1x1 conv, x2 pixel shuffle.

    Kept as one ``nn.Sequential`` named ``model`` because the official checkpoint uses
    ``model.N`` keys.
    """

    arch = "imdn_rtc"
    input_multiple = 1
    # The stem and the upsampler's convolution, kept in float32 under bf16.
    precise_parts = ("model.0", "model.2")

    def __init__(self, scale: int = 2, features: int = 12, blocks: int = 5) -> None:
        super().__init__()
        self.scale = scale
        self.blocks = blocks
        body = [DistillationBlock(features, attention=False) for _ in range(blocks)]
        body.append(conv(features, features, 1))
        self.model = nn.Sequential(
            conv(3, features, 3),
            Residual(nn.Sequential(*body)),
            *pixel_shuffle_upsampler(features, 3, scale),
        )

    @property
    def reach(self) -> int:
        """How many input pixels away an output pixel can depend on (what a tile's core
        needs around it, vsr.ops.tiling): one per chained 3x3 convolution, the stem, four in
        each IMDB and the upsampler's (22 with 5 blocks)."""
        return 2 + 4 * self.blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class IMDN_RTE(nn.Module):
    """IMDN_RTE: a stride-2 convolution halves the input, six large IMDBs run at half size,
    and a pixel shuffle by ``2 * scale`` brings it to ``scale`` times the input.
    Input sides must be even.
    """

    arch = "imdn_rte"
    input_multiple = 2
    precise_parts = ("fea_conv", "upsampler")  # kept in float32 under bf16
    # The official IMDN_RTE weights were trained on pixel values in 0..255 (measured: 37.25 dB
    # on Set5 baby x2 that way, 19.6 dB on 0..1), so the [0, 1] interface is scaled inside.
    pixel_range = 255.0

    def __init__(self, scale: int = 2, features: int = 20, blocks: int = 6) -> None:
        super().__init__()
        self.scale = scale
        self.blocks = blocks
        self.fea_conv = nn.Sequential(
            conv(3, features, 3),
            nn.ReLU(inplace=True),
            conv(features, features, 3, stride=2, bias=False),
        )
        for i in range(1, blocks + 1):  # official names: block1 ... block6
            self.add_module(f"block{i}", LargeDistillationBlock(features))
        self.LR_conv = conv(features, features, 1, bias=False)
        self.upsampler = pixel_shuffle_upsampler(features, 3, 2 * scale)

    @property
    def reach(self) -> int:
        """As IMDN_RTC's, counted where each convolution works: a half-size pixel k is made
        from input pixels 2k-2 .. 2k+2 by the stem's 3x3 and stride-2 3x3 convolutions, and
        the n = 6 * blocks + 1 chained 3x3 convolutions after them (six in each large IMDB,
        the upsampler's) reach n half-size pixels, so output pixel 2k+1 depends on input
        pixels 2 * n + 3 before it (77 with 6 blocks)."""
        return 2 * (6 * self.blocks + 1) + 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 2 or x.shape[-1] % 2:
            # The stride-2 stem would drop a row or column, and the output be the wrong size.
            raise ValueError(f"IMDN_RTE needs even input sides, got {tuple(x.shape[-2:])}")
        shallow = self.fea_conv(x * self.pixel_range)
        y = shallow
        for i in range(1, self.blocks + 1):
            y = getattr(self, f"block{i}")(y)
        return self.upsampler(self.LR_conv(y) + shallow) / self.pixel_range
