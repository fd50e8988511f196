"""IMDN: the information multi-distillation network for x2, x3 and x4 super-resolution."""

from __future__ import annotations

import torch
from torch import nn

from vsr.models.blocks import LEAKY_SLOPE, DistillationBlock, conv, pixel_shuffle_upsampler


class IMDN(nn.Module):
    """Shallow feature conv -> ``blocks`` IMDBs -> 1x1 fusion of all block outputs -> 3x3 conv
    with a global residual -> pixel-shuffle upsampler.

    Input: float RGB in [0, 1], N x 3 x H x W. Output: N x 3 x sH x sW, not clamped.
    """

    arch = "imdn"
    input_multiple = 1
    # Kept in float32 when the rest runs in bf16 (vsr.ops.mixed_precision).
    precise_parts = ("fea_conv", "upsampler")

    def __init__(self, scale: int = 2, features: int = 64, blocks: int = 6) -> None:
        super().__init__()
        self.scale = scale
        self.fea_conv = conv(3, features, 3)
        self.blocks = blocks
        for i in range(1, blocks + 1):  # official names: IMDB1 ... IMDB6
            self.add_module(f"IMDB{i}", DistillationBlock(features))
        self.c = nn.Sequential(
            conv(features * blocks, features, 1), nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
        )
        self.LR_conv = conv(features, features, 3)
        self.upsampler = pixel_shuffle_upsampler(features, 3, scale)

    @property
    def reach(self) -> int:
        """How many input pixels away an output pixel can depend on (what a tile's core
        needs around it, vsr.ops.tiling): one per chained 3x3 convolution, the stem, four in
        each IMDB, LR_conv and the upsampler's (27 with 6 blocks)."""
        return 3 + 4 * self.blocks

    def body(self, shallow: torch.Tensor) -> torch.Tensor:
        """Everything between the shallow features and the upsampler."""
        outputs = []
        x = shallow
        for i in range(1, self.blocks + 1):
            x = getattr(self, f"IMDB{i}")(x)
            outputs.append(x)
        return self.LR_conv(self.c(torch.cat(outputs, dim=1))) + shallow

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsampler(self.body(self.fea_conv(x)))


class IMDN_AS(IMDN):
    """IMDN for any scale (the paper's RealSR entry): the input is already at the output size
    (e.g. bicubic-enlarged); two stride-2 convolutions shrink it by 4, the IMDBs work at that
    size and a x4 pixel shuffle restores it. Input sides must be multiples of 4; other sizes
    go through adaptive cropping (``vsr.ops.tiling``).
    """

    arch = "imdn_as"
    input_multiple = 4
    # Its paper ran other sizes in four patches (its adaptive cropping strategy,
    # vsr.ops.tiling.four_patch_plan), and vsr eval does, so reproducing the official
    # results on realsr-subset, whose cam1_07 is 2001 wide (tests/test_eval.py). Upscaling
    # edge-pads them instead (vsr.upscale.Upscaler.adaptive_cropping), as every other
    # network: IMDN_RTE's patches, starting off its sampling grid, gave 0.013 dB less than
    # padding (Set14 x2 at odd sides, official weights) for 1.5 times the work.
    adaptive_cropping = True

    def __init__(self, features: int = 64, blocks: int = 6) -> None:
        super().__init__(scale=4, features=features, blocks=blocks)
        self.scale = 1
        self.fea_conv = nn.Sequential(
            conv(3, features, 3, stride=2),
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            conv(features, features, 3, stride=2),
        )

    @property
    def reach(self) -> int:
        """As IMDN's, counted where each convolution works: a quarter-size pixel k is made
        from input pixels 4k-3 .. 4k+3 by the two stride-2 3x3 convolutions, and the n = 4 *
        blocks + 2 chained 3x3 convolutions after them (IMDBs, LR_conv, upsampler) reach n
        quarter-size pixels, so output pixel 4k+3 depends on input pixels 4 * n + 6 before
        it (110 with 6 blocks)."""
        return 4 * (4 * self.blocks + 2) + 6
