"""Limited-range video keeps its super-whites and super-blacks: the neutral part of what
lies beyond nominal black and white goes around the network and comes out where the source
had it, while the network still sees [0, 1]; full range, and frames within [0, 1], come out
byte for byte as before."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from media import frame_from_planes

from vsr.engine import ColourSpec, Pipeline
from vsr.ops.beyond import add_beyond, split_beyond
from vsr.ops.yuv import rgb_to_yuv, yuv_to_rgb
from vsr.runner import upscale_video
from vsr.video.colors import GBR
from vsr.video.reader import VideoReader
from vsr.video.writer import EncodeSettings

BT709, LIMITED, FULL = 1, 1, 2  # FFmpeg's enum values
PIX_FMT = {8: "yuv420p", 10: "yuv420p10le"}


class Contrast(torch.nn.Module):
    """A stand-in network: `gain` times the contrast around mid-grey (1: the picture as it
    is, more: values pushed beyond the input's), then a nearest-neighbour enlargement. It
    records the lowest and highest value it was fed."""

    def __init__(self, scale: int = 2, gain: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.same = torch.nn.Conv2d(3, 3, 1)  # what vsr's memory budget counts on
        with torch.no_grad():
            self.same.weight.copy_(gain * torch.eye(3)[:, :, None, None])
            self.same.bias.fill_(0.5 * (1.0 - gain))
        self.fed: list[tuple[float, float]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.fed.append((float(x.min()), float(x.max())))
        y = self.same(x)
        return F.interpolate(y, scale_factor=self.scale, mode="nearest") if self.scale > 1 else y


def write_planes(path: Path, frames: list, pix_fmt: str, color_range: int = LIMITED) -> None:
    """A lossless BT.709 clip of these (Y, U, V) code planes."""
    dtype = np.uint8 if pix_fmt == "yuv420p" else np.uint16
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.height, stream.width = frames[0][0].shape
        stream.pix_fmt = pix_fmt
        context = stream.codec_context
        context.colorspace, context.color_range = BT709, color_range
        context.color_primaries = context.color_trc = BT709
        for index, planes in enumerate(frames):
            frame = frame_from_planes([p.astype(dtype) for p in planes], pix_fmt)
            frame.pts, frame.colorspace, frame.color_range = index, BT709, color_range
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def write_neutral(path: Path, lumas: list[np.ndarray], bits: int = 8) -> None:
    """A limited-range 4:2:0 clip of these luma planes with neutral chroma."""
    height, width = lumas[0].shape
    mid = np.full((height // 2, width // 2), 128 << (bits - 8))
    write_planes(path, [(luma, mid, mid) for luma in lumas], PIX_FMT[bits])


def upscaled(tmp_path: Path, network: torch.nn.Module, **request) -> list[tuple[np.ndarray, ...]]:
    out = tmp_path / "out.mkv"
    lossless = EncodeSettings(codec="ffv1", codec_is_default=False)
    options = dict(weights=network, settings=lossless, precision="fp32", progress=False)
    upscale_video(tmp_path / "in.mkv", out, **options, **request)
    with VideoReader(out) as reader:
        return [tuple(p.astype(np.int64) for p in f.planes) for f in reader.frames()]


def camera_luma(bits: int) -> np.ndarray:
    """32 x 48 codes: a highlight texture of 236..254 (a camera's knee) above a shadow
    texture of 1..15, both beside a ramp that stays within 16..235."""
    rng = np.random.default_rng(bits)
    luma = np.empty((48, 32), np.int64)
    luma[:, 16:] = np.round(np.linspace(16, 235, 48))[:, None]
    luma[0:24, :16] = rng.integers(236, 255, (24, 16))
    luma[24:48, :16] = rng.integers(1, 16, (24, 16))
    return luma << (bits - 8)


@pytest.mark.parametrize(
    ("bits", "network_scale", "scale"),
    [
        (8, 2, 2),
        (10, 2, 2),
        (8, 2, 1.5),  # the network's x2, then an exact resize to x1.5
        (8, 1, 2),  # an any-scale network (IMDN_AS) on a frame enlarged first
    ],
)
def test_super_whites_and_super_blacks_keep_their_texture(tmp_path, bits, network_scale, scale):
    luma = camera_luma(bits)
    write_neutral(tmp_path / "in.mkv", [luma], bits)
    network = Contrast(network_scale)
    (out,) = upscaled(tmp_path, network, scale=scale)
    assert all(low >= 0.0 and high <= 1.0 for low, high in network.fed)  # as trained
    unit = 1 << (bits - 8)
    height, width = out[0].shape
    # The textures' insides, away from where they meet each other and the ramp.
    rows, cols = height // 2, slice(2, width // 2 - 4)
    highlight, shadow = out[0][2 : rows - 3, cols], out[0][rows + 3 : -2, cols]
    source_high, source_low = luma[2:21, 1:14], luma[27:46, 1:14]
    # Was: the highlight flattened to 235 (one code), the shadow lifted to 16.
    assert highlight.min() > 235 * unit and shadow.max() < 16 * unit
    assert highlight.max() <= source_high.max() and shadow.min() >= source_low.min()
    for got, source in ((highlight, source_high), (shadow, source_low)):
        assert got.std() > 0.5 * source.std()  # a texture still, not a flat patch
        assert abs(got.mean() - source.mean()) < 1.5 * unit
    ramp, source_ramp = out[0][:, width // 2 + 4 :], luma[:, 20:]
    assert (ramp.min(), ramp.max()) == (source_ramp.min(), source_ramp.max())
    assert all((np.abs(c - 128 * unit) <= 1).all() for c in out[1:])  # still neutral


def test_no_frame_gets_values_beyond_its_own(tmp_path):
    # A network that pushes every value away from mid-grey, on two frames of one batch:
    # the first reaches 10 and 245, the second stays within 16..235.
    ramp = np.linspace(0.0, 1.0, 32)[None, :].repeat(24, axis=0)
    beyond = np.round(10 + 235 * ramp).astype(np.int64)
    within = np.round(16 + 219 * ramp).astype(np.int64)
    write_neutral(tmp_path / "in.mkv", [beyond, within])
    first, second = upscaled(tmp_path, Contrast(gain=1.5), scale=2, batch=2)
    assert (first[0].min(), first[0].max()) == (10, 245)  # was 16..235
    assert (second[0].min(), second[0].max()) == (16, 235)  # none made where there were none


def engine_before(network, planes, color_range: str) -> tuple[torch.Tensor, ...]:
    """The engine's output as it was: RGB clamped to [0, 1] before and after the network."""
    with torch.no_grad():
        rgb = yuv_to_rgb(*planes, "bt709", color_range, 8)
        out = network(rgb.clamp(0, 1)).clamp(0, 1)
    return rgb_to_yuv(out, "bt709", color_range, 8, (1, 1))


@pytest.mark.parametrize("color_range", [FULL, LIMITED])
def test_a_clip_without_super_whites_comes_out_as_before(tmp_path, color_range):
    # Full range has no codes beyond black and white: clamped as it always was, pushed
    # values and out-of-gamut colour included. Limited range within [0, 1] (codes 16..235,
    # neutral colour) has nothing beyond to keep.
    rng = np.random.default_rng(color_range)
    if color_range == FULL:
        luma, (cb, cr) = rng.integers(0, 256, (24, 32)), rng.integers(0, 256, (2, 12, 16))
    else:
        luma, cb = rng.integers(16, 236, (24, 32)), np.full((12, 16), 128)
        cr = cb
    write_planes(tmp_path / "in.mkv", [(luma, cb, cr)], "yuv420p", color_range)
    network = Contrast(gain=1.5)
    (out,) = upscaled(tmp_path, network, scale=2)
    planes = [torch.from_numpy(p)[None] for p in (luma, cb, cr)]
    want = engine_before(network, planes, "pc" if color_range == FULL else "tv")
    for got, expected in zip(out, want, strict=True):
        assert np.array_equal(got, expected[0].numpy().astype(np.int64))


@dataclass
class Frame:
    """What the engine takes from a reader: the planes and a timestamp."""

    planes: tuple[np.ndarray, ...]
    pts: int


class Collected:
    """A writer that keeps the planes it is given."""

    def __init__(self) -> None:
        self.planes: list[tuple[np.ndarray, ...]] = []

    def write(self, planes: tuple[np.ndarray, ...], pts: int | None) -> None:
        self.planes.append(tuple(p.astype(np.int64) for p in planes))


@pytest.mark.parametrize(
    "target",
    [ColourSpec("bt709", "pc", 8, (1, 1)), ColourSpec(GBR, "pc", 8, (0, 0))],
    ids=["full-range", "rgb"],
)
def test_super_whites_into_full_range_or_rgb_are_clamped_as_before(target):
    # Full range and RGB have no codes beyond black and white: limited range's super-whites
    # and super-blacks are clamped there as they always were (kept around the network,
    # the tinted highlight came out up to 3 codes off).
    luma = camera_luma(8)
    cb, cr = np.full((24, 16), 128), np.full((24, 16), 120)
    source = ColourSpec("bt709", "tv", 8, (1, 1))
    network = Contrast()
    engine = Pipeline(
        network, device=torch.device("cpu"), batch=1, source=source, target=target,
        output_size=(96, 64),
    )  # fmt: skip
    written = Collected()
    engine.run(iter([Frame(tuple(p.astype(np.uint8) for p in (luma, cb, cr)), 0)]), written)
    planes = [torch.from_numpy(p)[None] for p in (luma, cb, cr)]
    with torch.no_grad():
        out = network(yuv_to_rgb(*planes, "bt709", "tv", 8).clamp(0, 1)).clamp(0, 1)
    want = rgb_to_yuv(out, target.matrix, "pc", 8, target.chroma_shift)
    (got,) = written.planes
    for plane, expected in zip(got, want, strict=True):
        off = np.abs(plane - expected[0].numpy().astype(np.int64)).max()
        assert off == 0, f"{off} codes off"


def test_only_the_neutral_part_beyond_goes_around_the_network():
    # A super-white grey, a tinted super-white, a saturated red outside RGB's gamut (one
    # channel above 1, two below 0) and a super-black.
    rgb = torch.tensor(
        [[1.08, 1.10, 1.2, -0.05], [1.08, 1.05, -0.1, -0.03], [1.08, 1.02, -0.05, -0.06]]
    ).view(1, 3, 1, 4)
    clamped, beyond = split_beyond(rgb.clone())
    assert torch.equal(clamped, rgb.clamp(0, 1))
    assert beyond.neutral.flatten().tolist() == pytest.approx([0.08, 0.02, 0.0, -0.03], abs=1e-6)
    out = add_beyond(clamped.clone(), beyond)  # a stand-in network that changes nothing
    assert out[0, :, 0, 0].tolist() == pytest.approx([1.08] * 3, abs=1e-6)  # kept
    assert out[0, :, 0, 1].tolist() == pytest.approx([1.02] * 3, abs=1e-6)
    assert torch.equal(out[0, :, 0, 2], torch.tensor([1.0, 0.0, 0.0]))  # clamped as before
    assert out[0, :, 0, 3].tolist() == pytest.approx([-0.03] * 3, abs=1e-6)


def test_a_frame_within_range_is_left_bit_for_bit():
    rgb = torch.rand(2, 3, 6, 8)
    clamped, beyond = split_beyond(rgb.clone())
    out = torch.rand(2, 3, 12, 16)
    assert torch.equal(clamped, rgb) and torch.equal(add_beyond(out.clone(), beyond), out)


def test_limited_range_reads_beyond_black_and_white_unclamped():
    y = torch.tensor([[[1, 254]]], dtype=torch.uint8)
    mid = torch.full((1, 1, 1), 128, dtype=torch.uint8)
    rgb = yuv_to_rgb(y, mid, mid, "bt709", "tv", 8, clamp=False)
    assert rgb.flatten().tolist() == pytest.approx([-15 / 219, 238 / 219] * 3)
    assert yuv_to_rgb(y, mid, mid, "bt709", "tv", 8).min() == 0.0  # clamped by default


@pytest.mark.parametrize(("bits", "codes"), [(8, (1, 254)), (10, (4, 1019))])
def test_limited_range_codes_stop_short_of_the_reserved_ones(bits, codes):
    # BT.709/BT.2100 keep 0 and 255 (0-3 and 1020-1023 at 10 bits) for timing references.
    rgb = torch.tensor([-1.0, 2.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    for color_range, want in (("tv", codes), ("pc", (0, (1 << bits) - 1))):
        y, u, v = rgb_to_yuv(rgb, "bt709", color_range, bits, (0, 0))
        got = (y.to(torch.int32) & 0xFFFF)[0, 0].tolist()
        assert tuple(got) == want, (color_range, got)
