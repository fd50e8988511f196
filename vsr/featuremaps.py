"""Feature maps of one distillation block as a grid image, as the paper shows for its 6th IMDB.

Forward hooks catch the block's output (or, with ``cca=True``, the contrast-aware channel
attention's gate and gated features) without touching the network. Every channel is
stretched to its own minimum and maximum so that weak channels stay visible; under each
tile of the CCA view a bar as wide as the tile times the gate value shows how strongly that
channel is passed on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vsr.errors import VsrError
from vsr.imageio import as_rgb
from vsr.models.blocks import DistillationBlock, LargeDistillationBlock

GAP = 2  # pixels between tiles
BAR = 4  # height of the gate bar under each tile in the CCA view


@dataclass
class FeatureMaps:
    """What a block produced for one image: C x H x W maps and, for CCA, C gate values."""

    block: int
    maps: torch.Tensor
    gates: torch.Tensor | None = None


def distillation_blocks(model: nn.Module) -> list[nn.Module]:
    """The IMDBs of a network in the order the input meets them."""
    return [
        m for m in model.modules() if isinstance(m, (DistillationBlock, LargeDistillationBlock))
    ]


def capture(model: nn.Module, image: torch.Tensor, block: int, cca: bool = False) -> FeatureMaps:
    """Run ``model`` on a 1 x 3 x H x W image and keep block ``block`` (1-based)'s output, or
    its CCA gate and the features it gated."""
    blocks = distillation_blocks(model)
    if not 1 <= block <= len(blocks):
        raise VsrError(f"--block must be between 1 and {len(blocks)} for {model.arch}")
    target = blocks[block - 1]
    caught: dict[str, torch.Tensor] = {}
    if cca:
        attention = getattr(target, "cca", None)
        if not hasattr(attention, "conv_du"):
            raise VsrError(f"the blocks of {model.arch} have no channel attention (CCA)")
        hooks = [
            attention.conv_du.register_forward_hook(
                lambda _m, _i, out: caught.__setitem__("gates", out)
            ),
            attention.register_forward_hook(lambda _m, _i, out: caught.__setitem__("maps", out)),
        ]
    else:
        hooks = [target.register_forward_hook(lambda _m, _i, out: caught.__setitem__("maps", out))]
    try:
        with torch.inference_mode():
            model(image)
    finally:
        for hook in hooks:
            hook.remove()
    gates = caught["gates"][0, :, 0, 0].float().cpu() if cca else None
    return FeatureMaps(block, caught["maps"][0].float().cpu(), gates)


def _stretch(maps: torch.Tensor) -> torch.Tensor:
    """Each channel to 0..1 by its own range (a flat channel becomes 0)."""
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    return (maps - low) / (high - low).clamp_min(1e-12)


def tile_grid(features: FeatureMaps, max_tile: int = 128, columns: int | None = None) -> np.ndarray:
    """The channels side by side as an H x W uint8 greyscale image on a white background."""
    maps = features.maps
    height, width = maps.shape[-2:]
    shrink = max(1, -(-max(height, width) // max_tile))  # ceil: tiles no larger than max_tile
    if shrink > 1:
        maps = F.avg_pool2d(maps[None], shrink, ceil_mode=True)[0]
    tiles = (_stretch(maps) * 255.0).round().to(torch.uint8).numpy()
    count, tile_h, tile_w = tiles.shape
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = -(-count // columns)
    bar = BAR + 1 if features.gates is not None else 0
    cell_h, cell_w = tile_h + bar + GAP, tile_w + GAP
    grid = np.full((rows * cell_h + GAP, columns * cell_w + GAP), 255, dtype=np.uint8)
    for index in range(count):
        top = GAP + (index // columns) * cell_h
        left = GAP + (index % columns) * cell_w
        grid[top : top + tile_h, left : left + tile_w] = tiles[index]
        if features.gates is not None:
            length = int(round(float(features.gates[index]) * tile_w))
            grid[top + tile_h + 1 : top + tile_h + bar, left : left + length] = 0
    return grid


def image_to_tensor(pixels: np.ndarray, multiple: int = 1) -> torch.Tensor:
    """H x W x C uint8/uint16 pixels -> 1 x 3 x H' x W' float in [0, 1], cropped to a
    multiple of ``multiple`` (the network's input constraint)."""
    pixels = as_rgb(pixels)
    height = pixels.shape[0] - pixels.shape[0] % multiple
    width = pixels.shape[1] - pixels.shape[1] % multiple
    if height == 0 or width == 0:
        raise VsrError(f"image is smaller than {multiple}x{multiple} pixels")
    peak = 65535.0 if pixels.dtype == np.uint16 else 255.0
    array = np.ascontiguousarray(pixels[:height, :width]).astype(np.float32) / peak
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()
