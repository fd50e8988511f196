"""Tile plans and stitching: exact where the network is local, close where CCA is global."""

import pytest
import torch
import torch.nn.functional as F
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


class BlockUpscaler(nn.Module):
    """A network that works on `multiple` x `multiple` blocks (pixel-unshuffle, a 1x1
    convolution, pixel-shuffle), as IMDN_RTE and IMDN_AS first shrink their input: tiling
    is exact for it only when every tile starts on the block grid of the whole frame."""

    def __init__(self, scale: int, multiple: int) -> None:
        super().__init__()
        torch.manual_seed(2)
        channels = 3 * multiple * multiple
        self.body = nn.Sequential(
            nn.PixelUnshuffle(multiple),
            nn.Conv2d(channels, channels * scale * scale, 1),
            nn.PixelShuffle(multiple * scale),
        )

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("multiple", [2, 4])
@pytest.mark.parametrize(
    ("h", "w", "rows", "cols"), [(57, 101, 2, 3), (64, 96, 3, 2), (33, 1001, 1, 5)]
)
def test_tiles_of_a_shrinking_network_start_on_its_grid_and_equal_the_whole_frame(
    multiple, h, w, rows, cols
):
    # Tiles started wherever the frame's width divided (rows 109 and 218 of 360): IMDN_RTE's
    # tiles then differed from its whole frame by up to 34 levels. And a side that is not a
    # multiple (33 rows for IMDN_RTE) got no tiling at all.
    plan = grid_plan(h, w, rows, cols, multiple=multiple, overlap=8)
    assert plan.mode == "tiles" and len(plan.windows) == rows * cols
    assert covered_once(plan)
    assert all(w.top % multiple == 0 and w.left % multiple == 0 for w in plan.windows)
    assert plan.tile_height % multiple == 0 and plan.tile_width % multiple == 0
    net = BlockUpscaler(2, multiple).eval()
    x = torch.rand(2, 3, h, w)
    whole_input = torch.nn.functional.pad(
        x, (0, plan.padded_width - w, 0, plan.padded_height - h), "replicate"
    )
    with torch.no_grad():
        whole = net(whole_input)[..., : 2 * h, : 2 * w]
        tiled = run_plan(net, x, plan, 2)
    torch.testing.assert_close(tiled, whole)


def test_a_thin_strip_of_a_side_off_the_multiple_is_tiled_not_refused():
    plan = plan_tiles(33, 1001, max_pixels=40 * 310, multiple=2)
    assert plan.mode == "tiles" and plan.tile_pixels <= 40 * 310
    assert plan.padded_height == 34 and covered_once(plan)


def test_a_side_off_the_multiple_is_edge_padded_not_cut_into_four_patches():
    # IMDN_RTE's four patches start off its stride-2 sampling grid: edge padding keeps it.
    # IMDN_AS's paper cut such a frame into four patches, which only vsr eval does.
    from vsr.upscale import Upscaler

    torch.manual_seed(0)
    rte = Upscaler(create_model("imdn_rte", 2).eval(), precision="fp32")
    plan = rte.plan_for(239, 249)
    assert plan.mode == "whole" and (plan.padded_height, plan.padded_width) == (240, 250)
    x = torch.rand(1, 3, 39, 49)
    with torch.no_grad():
        padded = rte.model(F.pad(x, (0, 1, 0, 1), mode="replicate"))[..., :78, :98].clamp(0, 1)
        torch.testing.assert_close(rte(x), padded)
    imdn_as = Upscaler(create_model("imdn_as", 1).eval(), precision="fp32")
    assert imdn_as.plan_for(479, 498).mode == "whole"
    imdn_as.adaptive_cropping = True  # as vsr eval runs it: the paper's adaptive cropping
    assert imdn_as.plan_for(479, 498).mode == "four-patch"
    assert imdn_as.plan_for(480, 500).mode == "whole"


def test_four_patch_equals_whole_for_a_local_network():
    net = LocalUpscaler(1).eval()
    x = torch.rand(1, 3, 90, 101)
    with torch.no_grad():
        out = run_plan(net, x, four_patch_plan(90, 101, multiple=4), 1)
    torch.testing.assert_close(out, net(x))


def test_sides_of_a_few_pixels_are_edge_padded_before_the_network():
    # A 1x1 grey 200 came out 39-68 with the bundled weights: the 3x3 convolutions' zero
    # padding was most of what they saw.
    import vsr

    upscaler = vsr.load_model(device="cpu", precision="fp32")
    for height, width in ((1, 1), (33, 1), (2, 40), (4, 4)):
        plan = plan_tiles(height, width, None)
        assert (plan.padded_height, plan.padded_width) == (
            max(height, 8) if height < 5 else height,
            max(width, 8) if width < 5 else width,
        )
        grey = torch.full((1, 3, height, width), 200 / 255)
        out = upscaler(grey) * 255
        assert out.shape == (1, 3, 2 * height, 2 * width)
        assert float((out - 200).abs().max()) < 6, (height, width)
    five = plan_tiles(5, 5, None)
    assert (five.padded_height, five.padded_width) == (5, 5)  # padded no more


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


def _least_overlap(plan) -> int:
    """The least overlap of neighbouring windows of a grid plan."""
    tops, lefts = sorted({w.top for w in plan.windows}), sorted({w.left for w in plan.windows})
    return min(
        [a + plan.tile_height - b for a, b in zip(tops, tops[1:], strict=False)]
        + [a + plan.tile_width - b for a, b in zip(lefts, lefts[1:], strict=False)]
    )


def _plan_for(arch: str, scale: int, height: int, width: int, budget: int):
    from vsr.ops.tiling import tile_overlap

    model = create_model(arch, scale)
    return plan_tiles(height, width, budget, model.input_multiple, tile_overlap(model))


@pytest.mark.parametrize(
    ("frame", "budget", "tile", "windows", "overlap"),
    [
        ((640, 360), 40_000, (200, 196), 18, 112),  # a quarter of 220 gave 10 of 176x208, 56
        ((200, 200), 30_000, (144, 200), 3, 116),  # 110 unrounded gave 140x200, 108
    ],
)
def test_a_budget_short_of_a_networks_own_overlap_plans_half_of_it_in_whole_multiples(
    frame, budget, tile, windows, overlap
):
    # IMDN_AS's windows of its own overlap (220: its reach, 110, a side) do not fit these
    # budgets. The fallback is half of it, 110 (55 a side: less context, where the budget
    # affords no more), counted in whole multiples of 4 as its tiles start on its grid.
    plan = _plan_for("imdn_as", 1, frame[1], frame[0], budget)
    assert plan.mode == "tiles" and covered_once(plan) and plan.tile_pixels <= budget
    assert ((plan.tile_width, plan.tile_height), len(plan.windows)) == (tile, windows)
    assert _least_overlap(plan) == overlap >= 110


@pytest.mark.parametrize(
    ("arch", "scale", "budget", "tile", "windows"),
    [("imdn_rte", 2, 6_000, (68, 88), 102), ("imdn_as", 1, 12_000, (120, 100), 35)],
)
def test_a_budget_short_of_half_a_networks_overlap_still_plans_a_frame(
    arch, scale, budget, tile, windows
):
    # Budgets that planned these networks before they had their own overlap were refused
    # ("no tiling of 640x360 fits 6000 pixels per window"): the last resort is half of the
    # 64 they had then.
    plan = _plan_for(arch, scale, 360, 640, budget)
    assert plan.mode == "tiles" and covered_once(plan) and plan.tile_pixels <= budget
    assert ((plan.tile_width, plan.tile_height), len(plan.windows)) == (tile, windows)
    assert _least_overlap(plan) == 32


@pytest.mark.parametrize(
    ("arch", "scale", "frame", "budget", "before", "after"),
    [
        ("imdn", 2, (320, 180), 5624, 260, (24, 32)),  # 74x76 windows with 64: 25 frames' work
        ("imdn", 2, (320, 180), 6000, 176, (24, 32)),  # 80x75 with 64: 18 frames', over 8
        ("imdn_rte", 2, (640, 360), 30_000, 297, (18, 78)),  # 172x174 with 154: 38 frames'
    ],
)
def test_a_budget_of_slivers_takes_less_overlap_where_that_halves_the_work(
    arch, scale, frame, budget, before, after
):
    # The full overlap in windows barely larger than it left each window a sliver of core:
    # `before` windows, the frame's pixels many times over. Half of it halves that work.
    from vsr.ops.tiling import MOST_WORK

    plan = _plan_for(arch, scale, frame[1], frame[0], budget)
    assert plan.mode == "tiles" and covered_once(plan) and plan.tile_pixels <= budget
    assert (len(plan.windows), _least_overlap(plan)) == after and after[0] < before
    assert len(plan.windows) * plan.tile_pixels <= MOST_WORK * frame[0] * frame[1]


def test_less_overlap_that_does_not_halve_the_work_is_not_taken():
    # A budget short of an overlap of 66 plans half of it (36 in whole multiples of 4): 360
    # windows of 52x48, 9.7 times the frame's pixels. The last resort's 32 makes 216 of
    # 48x52, 5.8 times: less work, not half of it, so the more context stays.
    plan = plan_tiles(150, 607, max_pixels=2583, multiple=4, overlap=66)
    assert plan.mode == "tiles" and covered_once(plan)
    assert ((plan.tile_width, plan.tile_height), len(plan.windows)) == ((52, 48), 360)
    assert _least_overlap(plan) == 36


@pytest.mark.parametrize("arch", ["imdn", "imdn_rtc"])
def test_networks_within_the_papers_shave_get_its_four_patches_where_they_fit(arch):
    # IMDN and IMDN_RTC overlap by 64, twice the paper's 32 a side: four patches give
    # each core all it needs, where a 1x4 grid of 128x180 was planned instead.
    four = four_patch_plan(180, 320, multiple=1)
    plan = _plan_for(arch, 2, 180, 320, four.tile_pixels)
    assert plan == four


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


def _fixed_attention_and_averaging(monkeypatch, model: nn.Module) -> nn.Module:
    """`model` in fp64 with the attention's whole-frame statistics held fixed, so that what
    is left is local, and each convolution an average of everything under it: trained
    weights carry a pixel's influence as far (a random start's fades within a few pixels,
    and hid the seams), and with nothing negative no ReLU cuts it short."""
    from vsr.models import blocks

    monkeypatch.setattr(
        blocks.ContrastChannelAttention, "gate", lambda self, x: torch.ones_like(x[:, :, :1, :1])
    )
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d):
            layer.weight.data.fill_(1 / layer.weight[0].numel())
            if layer.bias is not None:
                layer.bias.data.zero_()
    return model.double().eval()


@pytest.mark.parametrize("arch", ["imdn", "imdn_rtc", "imdn_rte", "imdn_as"])
def test_reach_is_how_far_one_input_pixel_changes_the_output(monkeypatch, arch):
    # Counted from the architecture (each model's `reach`) and measured here on networks of
    # two blocks, so that the frames stay small: a change of one pixel, carried as a
    # forward-mode derivative (a finite one is lost in the rounding of the values it is
    # added to, beyond about 60 pixels), at every phase of the sampling grids.
    from torch.func import jvp

    model = _fixed_attention_and_averaging(monkeypatch, create_model(arch, 2, blocks=2))
    size = 2 * model.reach + 16
    torch.manual_seed(0)
    image = torch.rand(1, 3, size, size, dtype=torch.float64)
    farthest = 0
    for pixel in range(size // 2, size // 2 + 4):
        one_pixel = torch.zeros_like(image)
        one_pixel[0, :, pixel, pixel] = 1
        with torch.no_grad():
            _, change = jvp(model, (image,), (one_pixel,))
        rows = (change != 0).any(1)[0].any(1).nonzero().flatten() // model.scale
        farthest = max(farthest, pixel - int(rows.min()), int(rows.max()) - pixel)
    assert farthest == model.reach


# The networks at their standard sizes, the frames their tiles are planned on, and the
# budgets (pixels a window) that make those tiles: the frames are large enough for a two by
# two grid with each network's overlap, the budgets too small for the whole frame and for
# the paper's four patches.
FAMILIES = {
    "imdn": (2, 128, 90 * 90, 64),
    "imdn_rtc": (2, 128, 90 * 90, 64),
    "imdn_rte": (2, 256, 45_000, 154),
    "imdn_as": (1, 256, 58_000, 220),
}


@pytest.mark.parametrize("arch", list(FAMILIES))
def test_tiles_reach_as_far_as_the_network_does(monkeypatch, arch):
    """With the attention's whole-frame statistics held fixed, what is left of each network
    is local, and the tiling its upscaler plans must equal the whole frame. IMDN's seams
    were up to 8 levels off with 16 pixels a side; IMDN_RTE (reach 77) and IMDN_AS (110)
    were given 32 a side, as IMDN is (IMDN_RTC's 22 always fitted)."""
    from vsr.upscale import Upscaler

    scale, size, budget, overlap = FAMILIES[arch]
    upscaler = Upscaler(create_model(arch, scale).eval(), precision="fp32")
    upscaler.max_pixels = budget
    plan = upscaler.plan_for(size, size)
    assert plan.mode != "whole" and len(plan.windows) > 1
    model = _fixed_attention_and_averaging(monkeypatch, create_model(arch, scale))
    torch.manual_seed(0)
    image = torch.rand(1, 3, size, size, dtype=torch.float64)
    with torch.no_grad():
        whole = model(image)
        tiled = run_plan(model, image, plan, scale)
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-12)
    assert upscaler.tile_overlap == overlap  # IMDN's plans are those it had


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


def test_a_frame_that_fits_the_budget_exactly_runs_whole():
    # Tiles are close to, not equal to, the whole frame: a budget of the frame's own pixels
    # must not cut it.
    assert plan_tiles(64, 96, 64 * 96).mode == "whole"
    assert plan_tiles(64, 96, 64 * 96 - 1).mode != "whole"
