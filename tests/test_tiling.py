"""Tile plans and stitching: exact where the network is local, close where CCA is global."""

import pytest
import torch
from torch import nn

from vsr.models import create_model
from vsr.ops.tiling import four_patch_plan, grid_plan, plan_tiles, run_plan, whole_plan


class LocalUpscaler(nn.Module):
    """A purely local network (3x3 conv + pixel shuffle): tiling must be exact for it."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.body = nn.Sequential(
            nn.Conv2d(3, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
        )

    def forward(self, x):
        return self.body(x)


def covered_once(plan):
    owner = torch.zeros(plan.height, plan.width, dtype=torch.int32)
    for w in plan.windows:
        assert w.top <= w.core_top < w.core_bottom <= w.top + plan.tile_height
        assert w.left <= w.core_left < w.core_right <= w.left + plan.tile_width
        owner[w.core_top : w.core_bottom, w.core_left : w.core_right] += 1
    return bool((owner == 1).all())


@pytest.mark.parametrize(
    ("h", "w", "rows", "cols"), [(57, 101, 2, 3), (64, 64, 3, 3), (40, 33, 1, 2)]
)
def test_grid_cores_partition_the_frame(h, w, rows, cols):
    plan = grid_plan(h, w, rows, cols, overlap=8)
    assert len(plan.windows) == rows * cols
    assert covered_once(plan)


def test_four_patch_matches_the_paper_geometry():
    plan = four_patch_plan(2001, 1200, multiple=4, shave=32)
    # h_half + shave rounded down to a multiple of 4, as in the official test script.
    assert (plan.tile_height, plan.tile_width) == (1032, 632)
    assert covered_once(plan)


@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize(("h", "w", "rows", "cols"), [(57, 101, 2, 3), (30, 44, 2, 2)])
def test_tiled_output_equals_whole_for_a_local_network(scale, h, w, rows, cols):
    net = LocalUpscaler(scale).eval()
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        whole = net(x)
        tiled = run_plan(net, x, grid_plan(h, w, rows, cols, overlap=4), scale, max_pixels=700)
    torch.testing.assert_close(tiled, whole)


def test_four_patch_equals_whole_for_a_local_network():
    net = LocalUpscaler(1).eval()
    x = torch.rand(1, 3, 90, 101)
    with torch.no_grad():
        out = run_plan(net, x, four_patch_plan(90, 101, multiple=4), 1)
    torch.testing.assert_close(out, net(x))


def test_padding_when_the_size_is_not_a_multiple():
    plan = plan_tiles(10, 11, None, multiple=4)
    assert plan.mode == "whole" and (plan.padded_height, plan.padded_width) == (12, 12)
    model = create_model("imdn_as").eval()
    with torch.no_grad():
        out = run_plan(model, torch.rand(1, 3, 10, 11), plan, 1)
    assert out.shape == (1, 3, 10, 11)


def test_plan_respects_the_budget_with_few_windows():
    plan = plan_tiles(1080, 1920, max_pixels=600_000)
    assert plan.tile_pixels <= 600_000
    assert len(plan.windows) <= 4
    assert covered_once(plan)
    assert plan_tiles(1080, 1920, max_pixels=None) == whole_plan(1080, 1920)


def test_tiled_imdn_stays_close_to_whole_frame():
    """CCA is global, so tiles differ from the whole frame, but large tiles stay close."""
    torch.manual_seed(0)
    model = create_model("imdn", 2).eval()
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 128), indexing="ij")
    image = torch.stack([yy, xx, (yy + xx) / 2])[None] * 0.8 + 0.1
    with torch.no_grad():
        whole = model(image)
        tiled = run_plan(model, image, grid_plan(96, 128, 2, 2, overlap=32), 2)
    psnr = 10 * torch.log10(1 / ((tiled - whole) ** 2).mean())
    assert psnr > 40


@pytest.mark.parametrize("one_shape", [False, True])
@pytest.mark.parametrize(("frames", "tiled"), [(5, False), (2, True), (5, True)])
def test_calls_are_spread_evenly_and_one_shape_when_asked(frames, tiled, one_shape):
    # A compiled network or a CUDA graph is made per input shape: 4 windows in calls of at
    # most 3 go as 2 + 2; 5 frames as 3 + 3 (the last padded) when one shape is asked for,
    # and 10 windows as 3 + 3 + 3 + 3 (the last call, of one window, padded).
    net = LocalUpscaler(2).eval()
    shapes = []

    def recording(batch):
        shapes.append(batch.shape[0])
        return net(batch)

    h, w = 30, 44
    x = torch.rand(frames, 3, h, w)
    plan = grid_plan(h, w, 1, 2, overlap=4) if tiled else whole_plan(h, w)
    per_window = plan.tile_height * plan.tile_width
    with torch.no_grad():
        out = run_plan(recording, x, plan, 2, max_pixels=3 * per_window, one_shape=one_shape)
        torch.testing.assert_close(out, net(x))
    if tiled and frames == 5:
        assert shapes == ([3, 3, 3, 3] if one_shape else [3, 3, 3, 1])
    elif tiled:
        assert shapes == [2, 2]
    else:
        assert shapes == ([3, 3] if one_shape else [3, 2])
