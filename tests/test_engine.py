"""The engine's scheduling with a fake reader and writer: order, pts, failures, memory."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsr.engine import ColourSpec, Pipeline
from vsr.errors import VsrError
from vsr.ops.imresize import imresize
from vsr.ops.yuv import rgb_to_yuv, yuv_to_rgb

SPEC_8 = ColourSpec("bt709", "tv", 8, (1, 1))


@dataclass
class FakeFrame:
    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    pts: int | None
    index: int


def make_frames(count: int, width: int = 12, height: int = 8, bits: int = 8, start_pts: int = 7):
    rng = np.random.default_rng(count)
    dtype = np.uint8 if bits == 8 else np.uint16
    lo, hi = 16 << (bits - 8), 235 << (bits - 8)
    for index in range(count):
        y = rng.integers(lo, hi, (height, width)).astype(dtype)
        u = rng.integers(lo, hi, ((height + 1) // 2, (width + 1) // 2)).astype(dtype)
        v = rng.integers(lo, hi, ((height + 1) // 2, (width + 1) // 2)).astype(dtype)
        # Irregular timestamps, as in a variable-frame-rate clip.
        yield FakeFrame((y, u, v), start_pts + index * 3 + index % 2, index)


class FakeWriter:
    def __init__(self, fail_at: int | None = None, delay_s: float = 0.0) -> None:
        self.frames: list[tuple[tuple[np.ndarray, ...], int | None]] = []
        self.fail_at = fail_at
        self.delay_s = delay_s

    def write(self, planes, pts) -> None:
        if self.fail_at is not None and len(self.frames) == self.fail_at:
            raise OSError("disk full")
        time.sleep(self.delay_s)
        self.frames.append((tuple(p.copy() for p in planes), pts))


def nearest_x2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def pipeline(upscale=nearest_x2, batch: int = 3, size=(16, 24), target=SPEC_8, **kw) -> Pipeline:
    return Pipeline(
        upscale,
        device=torch.device("cpu"),
        batch=batch,
        source=kw.pop("source", SPEC_8),
        target=target,
        output_size=size,
        **kw,
    )


def expected_planes(frame: FakeFrame, source=SPEC_8, target=SPEC_8, upscale=nearest_x2):
    planes = [torch.from_numpy(p.astype(np.int32))[None] for p in frame.planes]
    rgb = yuv_to_rgb(*planes, source.matrix, source.color_range, source.bit_depth)
    out = upscale(rgb).clamp(0, 1)
    yuv = rgb_to_yuv(out, target.matrix, target.color_range, target.bit_depth, target.chroma_shift)
    return [(p[0].to(torch.int32) & 0xFFFF).numpy().astype(np.int64) for p in yuv]  # unsigned


def no_worker_threads_left() -> bool:
    return not [t for t in threading.enumerate() if t.name in ("vsr-decode", "vsr-encode")]


def test_every_frame_in_order_with_its_pts_and_the_right_pixels():
    frames = list(make_frames(10))
    writer, told = FakeWriter(), []
    written = pipeline(batch=3).run(iter(frames), writer, told.append)
    assert written == 10
    assert told == [3, 3, 3, 1]  # progress: the frames of each batch once written, no more
    assert [pts for _, pts in writer.frames] == [f.pts for f in frames]
    for frame, (planes, _) in zip(frames, writer.frames, strict=True):
        assert planes[0].shape == (16, 24) and planes[1].shape == (8, 12)
        for got, want in zip(planes, expected_planes(frame), strict=True):
            assert np.array_equal(got.astype(np.int64), want)
    assert no_worker_threads_left()


def test_static_batch_pads_the_last_batch_but_writes_only_real_frames():
    shapes = []

    def recording(x):
        shapes.append(tuple(x.shape))
        return nearest_x2(x)

    frames = list(make_frames(7))
    writer, told = FakeWriter(), []
    pipeline(recording, batch=3, static_batch=True).run(iter(frames), writer, told.append)
    assert shapes == [(3, 3, 8, 12)] * 3  # 7 frames: 3 + 3 + (1 padded to 3)
    assert told == [3, 3, 1]  # the padding is no frame of the clip's
    assert [pts for _, pts in writer.frames] == [f.pts for f in frames]
    want = expected_planes(frames[-1])
    assert all(np.array_equal(g, w) for g, w in zip(writer.frames[-1][0], want, strict=True))


@pytest.mark.parametrize("bits", [10, 16])  # 16-bit codes above 32767 came back as 0
def test_deep_colour_in_deep_colour_out(bits):
    spec = ColourSpec("bt2020nc", "tv", bits, (1, 1))
    frames = list(make_frames(4, bits=bits))
    writer = FakeWriter()
    pipeline(batch=2, source=spec, target=spec).run(iter(frames), writer)
    for frame, (planes, _) in zip(frames, writer.frames, strict=True):
        assert all(p.dtype == np.uint16 for p in planes)
        want = expected_planes(frame, spec, spec)
        assert all(np.array_equal(g.astype(np.int64), w) for g, w in zip(planes, want, strict=True))
        assert planes[0].max() > 255  # really 10-bit codes, not 8-bit ones in uint16


def test_exact_output_size_after_the_network():
    frames = list(make_frames(3, width=12, height=8))
    writer = FakeWriter()
    # x2 network then down to 1.5x: 18 x 12, and odd sizes keep their chroma rounding up.
    pipeline(size=(11, 17)).run(iter(frames), writer)
    planes = writer.frames[0][0]
    assert planes[0].shape == (11, 17) and planes[1].shape == (6, 9)

    def x2_then_exact(x: torch.Tensor) -> torch.Tensor:  # MATLAB bicubic, as the engine
        return imresize(nearest_x2(x).clamp(0, 1), output_size=(11, 17))

    for frame, (got, _) in zip(frames, writer.frames, strict=True):
        want = expected_planes(frame, upscale=x2_then_exact)
        for plane, expected in zip(got, want, strict=True):
            assert np.abs(plane.astype(np.int64) - expected).max() <= 1


def test_a_decoder_failure_stops_everything_and_is_raised():
    def frames():
        yield from make_frames(5)
        raise RuntimeError("packet soup")

    writer = FakeWriter()
    with pytest.raises(RuntimeError, match="packet soup"):
        pipeline(batch=2).run(frames(), writer)
    assert no_worker_threads_left()


def test_an_encoder_failure_stops_the_decoder_too():
    produced = []

    def frames():
        for frame in make_frames(500):
            produced.append(frame.index)
            yield frame

    with pytest.raises(OSError, match="disk full"):
        pipeline(batch=2).run(frames(), FakeWriter(fail_at=4))
    assert no_worker_threads_left()
    assert len(produced) < 50  # the decoder stopped instead of reading the whole clip


def test_model_failure_and_interrupt_are_raised_after_joining():
    calls = []

    def broken(x):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return nearest_x2(x)

    with pytest.raises(KeyboardInterrupt):
        pipeline(broken, batch=1).run(make_frames(20), FakeWriter())
    assert no_worker_threads_left()


@pytest.mark.parametrize(
    "batch, remedies", [(2, "use a smaller batch or a lower"), (1, "use a lower")]
)
def test_running_out_of_gpu_memory_around_the_network_is_a_vsr_error(monkeypatch, batch, remedies):
    # Only the network's windows are retried smaller (vsr.upscale); the colour conversion's
    # out-of-memory error ended vsr run in torch's traceback, with exit status 1.
    import vsr.engine

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 530.00 MiB")

    monkeypatch.setattr(vsr.engine, "rgb_to_yuv", out_of_memory)
    message = (
        rf"^the GPU ran out of memory outside the network, on a batch of {batch} frames?: "
        rf"{remedies} max_memory, free GPU memory \(another process may hold it\), or use "
        r"device='cpu'$"
    )
    with pytest.raises(VsrError, match=message) as raised:
        pipeline(batch=batch).run(make_frames(5), FakeWriter())
    assert raised.value.__suppress_context__  # torch's own message adds nothing to say
    assert no_worker_threads_left()


def test_a_second_ctrl_c_still_waits_for_the_reader_to_be_left():
    # The caller closes the reader once run() has raised; a second Ctrl-C that cut run()'s
    # wait short left the decode thread inside it ("generator already executing").
    inside = threading.Event()

    def slow_reader():
        inside.set()
        os.kill(os.getpid(), signal.SIGINT)  # the run is stopped while a frame is read
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)  # and again while it waits for the reader
        time.sleep(0.5)
        yield from make_frames(1)

    with pytest.raises(KeyboardInterrupt):
        pipeline(batch=1).run(slow_reader(), FakeWriter())
    assert inside.is_set()
    assert no_worker_threads_left()


def test_non_finite_output_is_refused():
    def nan_model(x):
        out = nearest_x2(x)
        out[0, 0, 0, 0] = float("nan")
        return out

    writer = FakeWriter()
    with pytest.raises(VsrError, match="NaN"):
        pipeline(nan_model).run(make_frames(4), writer)
    assert writer.frames == []


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_an_upscaler_output_that_is_not_finite_is_refused(value):
    """Through the Upscaler as the runner builds it: the refusal must see the network's
    own output, before any clamp turns an infinity into a plausible 1.0."""
    from vsr.upscale import Upscaler

    class Overflowing(torch.nn.Module):
        scale = 2

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 1)

        def forward(self, x):
            out = nearest_x2(self.conv(x))
            out[:, :, 0, 0] = value
            return out

    upscaler = Upscaler(Overflowing(), device="cpu", checked=False)
    writer = FakeWriter()
    with pytest.raises(VsrError, match="NaN or Inf"):
        pipeline(upscaler).run(make_frames(4), writer)
    assert writer.frames == []


def test_memory_stays_bounded_on_a_long_clip():
    """Frames decoded but not yet written never exceed what the bounded queues hold."""
    produced = [0]
    writer = FakeWriter(delay_s=0.002)  # a slow encoder: the decoder must wait for it
    peak = [0]

    def frames():
        for frame in make_frames(120):
            produced[0] += 1
            peak[0] = max(peak[0], produced[0] - len(writer.frames))
            yield frame

    batch = 2
    pipeline(batch=batch).run(frames(), writer)
    assert len(writer.frames) == 120
    # frames queue (2 batches) + one batch on the device + two batches queued for the
    # encoder + the one being encoded + one in the decoder's hand.
    assert peak[0] <= 2 * batch + batch + 2 * batch + batch + 1


def test_a_ctrl_c_while_the_threads_start_stops_them_all(monkeypatch):
    # Interrupted in encoder.start() (seconds on a loaded machine), run() left `stop` unset:
    # the decode thread, waiting to hand on its frames, kept vsr alive for ever.
    import vsr.engine

    class InterruptedOnStart(threading.Thread):
        def start(self) -> None:
            if self.name == "vsr-encode":
                raise KeyboardInterrupt
            super().start()

    def endless():
        while True:
            yield from make_frames(4)

    monkeypatch.setattr(vsr.engine.threading, "Thread", InterruptedOnStart)
    with pytest.raises(KeyboardInterrupt):
        pipeline().run(endless(), FakeWriter())
    deadline = time.monotonic() + 10
    while not no_worker_threads_left() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert no_worker_threads_left()
