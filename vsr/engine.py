"""The scheduler: decode thread -> bounded queue -> device -> bounded queue -> encode thread.

    decoder thread      main thread (owns the device)                       encoder thread
    reader.frames() --> [frames] --> batch -> stage -> H2D (copy stream) --> [batches] -->
                                     yuv_to_rgb -> Upscaler -> resize ->       writer.write
                                     rgb_to_yuv -> D2H (download stream)

The model runs on the main thread so that whatever the Upscaler captures (CUDA graphs,
compiled kernels) is captured and replayed on one thread and one stream. The queues are
bounded, so memory stays the same for a 10-second clip and a 10-hour one. Frames keep
their order and pts because each stage is a single thread reading a FIFO.

On a GPU, frames go through pinned host buffers with non-blocking copies on their own
streams, the next batch is uploaded while the current one computes, and the last batch is
padded to the full batch size so compiled graphs always see one shape. On the CPU none of
that applies: the decoder and encoder threads run beside the model (libav releases the
GIL) and the model gets most of the wall time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from vsr.counted import counted
from vsr.errors import VsrError, option
from vsr.ops.beyond import add_beyond, split_beyond
from vsr.ops.yuv import is_limited, rgb_to_yuv, yuv_to_rgb
from vsr.stoppable_queue import Stopped, get_unless_stopped, put_unless_stopped
from vsr.telemetry import StageClock
from vsr.uninterrupted_wait import setting_when_done, wait_through_interruptions
from vsr.upscale import device_guard, nonfinite_message
from vsr.video.colors import GBR

_END = object()  # end of stream marker on the queues


class FrameSink(Protocol):
    """Where the engine's frames go (a VideoWriter, a parallel one, a test's stand-in)."""

    def write(self, planes: tuple[np.ndarray, ...], pts: int | None) -> None: ...


@dataclass(frozen=True)
class ColourSpec:
    """How one side's planes encode colour."""

    matrix: str
    color_range: str
    bit_depth: int
    chroma_shift: tuple[int, int]
    siting: str = "left"  # where subsampled chroma sits (vsr.ops.yuv)


@dataclass
class _Batch:
    """Device work on its way to the encoder: planes on the host (ready once `done` fires)."""

    planes: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    pts: list[int | None]
    done: torch.cuda.Event | None
    finite: torch.Tensor  # 0-d bool: the network's output had no NaN or Inf
    # CUDA events around the network's work on the device (None on the CPU): read once
    # `done` has fired, when both have completed.
    model_events: tuple[torch.cuda.Event, torch.cuda.Event] | None = None


def resize_exact(rgb: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Antialiased resize to an exact size on the batch's device (MATLAB bicubic)."""
    from vsr.ops.imresize import imresize

    return imresize(rgb, output_size=(height, width)).clamp_(0.0, 1.0)


class Pipeline:
    """Runs frames from a reader through an upscaler into a writer. One use per clip."""

    def __init__(
        self,
        upscale: Callable[[torch.Tensor], torch.Tensor],
        *,
        device: torch.device,
        batch: int,
        source: ColourSpec,
        target: ColourSpec,
        output_size: tuple[int, int],
        network_input_size: tuple[int, int] | None = None,
        clock: StageClock | None = None,
        static_batch: bool | None = None,
    ) -> None:
        """`output_size` (height, width) is what the writer gets. `network_input_size`
        enlarges frames before the network (IMDN_AS, scale 1); when the network's output
        differs from `output_size`, an exact antialiased resize follows it. `static_batch`
        (default: on CUDA) pads the last batch so the network always sees one shape."""
        if batch < 1:
            raise VsrError(f"{option('--batch')} must be at least 1, not {batch}")
        self.upscale = upscale
        self.device = device
        self.batch = batch
        self.source = source
        self.target = target
        self.output_size = output_size
        self.network_input_size = network_input_size
        # Super-whites and super-blacks exist, and have codes to go to, only from limited
        # range to limited range; full range and RGB stay clamped to [0, 1] as before.
        self.keeps_beyond = all(
            is_limited(c.color_range) and c.matrix != GBR for c in (source, target)
        )
        self.clock = clock or StageClock()
        self.cuda = device.type == "cuda"
        self.static_batch = self.cuda if static_batch is None else static_batch
        self.frames_in = queue.Queue(maxsize=2 * batch)  # the next batch decoded meanwhile
        self.batches_out = queue.Queue(maxsize=2)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.frames_written = 0
        if self.cuda:
            self.copy_stream = torch.cuda.Stream(device)
            self.download_stream = torch.cuda.Stream(device)

    # --- queue calls that never block past a stop ----------------------------------------

    def _put(self, q: queue.Queue, item: object) -> None:
        put_unless_stopped(q, item, self.stop)

    def _get(self, q: queue.Queue) -> object:
        return get_unless_stopped(q, self.stop)

    def _fail(self, error: BaseException) -> None:
        if not isinstance(error, Stopped):
            self.errors.append(error)
        self.stop.set()

    # --- the three stages ----------------------------------------------------------------

    def _decode(self, frames: Iterator) -> None:
        try:
            while True:
                with self.clock.working("decode"):
                    frame = next(frames, _END)
                with self.clock.waiting("decode"):
                    self._put(self.frames_in, frame)
                if frame is _END:
                    return
        except BaseException as error:
            self._fail(error)

    def _encode(self, writer: FrameSink, progress: Callable[[int], None] | None) -> None:
        try:
            while True:
                with self.clock.waiting("encode"):
                    item = self._get(self.batches_out)
                    if item is _END:
                        return
                    if item.done is not None:
                        item.done.synchronize()  # the D2H copy has landed
                if item.model_events is not None:
                    start, end = item.model_events
                    self.clock.add_device_time("model", start.elapsed_time(end) / 1000.0)
                if not bool(item.finite):
                    raise VsrError(nonfinite_message(getattr(self.upscale, "precision", None)))
                with self.clock.working("encode"):
                    for index, pts in enumerate(item.pts):
                        writer.write(tuple(self._host_plane(p[index]) for p in item.planes), pts)
                        self.frames_written += 1
                if progress is not None:
                    progress(len(item.pts))
        except BaseException as error:
            self._fail(error)

    def _host_plane(self, plane: torch.Tensor) -> np.ndarray:
        array = plane.numpy()
        return array.view(np.uint16) if array.dtype == np.int16 else array

    # --- the device side (main thread) ---------------------------------------------------

    def _next_batch(self) -> list | None:
        """Up to `batch` frames from the decoder; None at the end of the stream."""
        frames = []
        with self.clock.waiting("upload"):
            while len(frames) < self.batch:
                frame = self._get(self.frames_in)
                if frame is _END:
                    self._put(self.frames_in, _END)  # so a later call also sees the end
                    break
                frames.append(frame)
        return frames or None

    def _upload(self, frames: list) -> tuple[tuple[torch.Tensor, ...], list, object]:
        """Stack the planes of `frames` into (pinned) host tensors and start the H2D copy.

        Returns (planes, pts, copied): `copied` is the CUDA event that marks the end of the
        copy (None on the CPU)."""
        count = len(frames)
        if self.static_batch and count < self.batch:
            # Pad with the last frame: a fixed batch shape keeps compiled graphs valid.
            frames = frames + [frames[-1]] * (self.batch - count)
        with self.clock.working("upload"):
            planes = []
            for k in range(3):
                first = frames[0].planes[k]
                dtype = torch.uint8 if first.dtype == np.uint8 else torch.int16
                host = torch.empty((len(frames), *first.shape), dtype=dtype, pin_memory=self.cuda)
                view = host.numpy()
                for i, frame in enumerate(frames):
                    plane = frame.planes[k]
                    view[i] = plane.view(np.int16) if plane.dtype == np.uint16 else plane
                planes.append(host)
            copied = None
            if self.cuda:
                # The pinned source blocks are not reused before the copy completes (the
                # caching host allocator records the copy); the device blocks are marked
                # as used by the compute stream too.
                with torch.cuda.stream(self.copy_stream):
                    planes = [p.to(self.device, non_blocking=True) for p in planes]
                    copied = torch.cuda.Event()
                    copied.record(self.copy_stream)
                for p in planes:
                    p.record_stream(torch.cuda.current_stream(self.device))
        return tuple(planes), [frame.pts for frame in frames[:count]], copied

    @torch.inference_mode()
    def _process(self, planes: tuple[torch.Tensor, ...], pts: list, copied) -> _Batch:
        if copied is not None:
            # Wait for this batch's copy only, not for the next batch's (already queued).
            torch.cuda.current_stream(self.device).wait_event(copied)
        src, dst = self.source, self.target
        # upload: planes -> network input; model: the network alone; download: network
        # output -> encoder planes on the host. On a GPU these are host-side times (kernel
        # launches): nothing here waits for the device, so the host queues the next batch
        # while this one computes. The network's own device time is taken by CUDA events.
        # The NaN/Inf check is a flag on the device, read by the encoder thread once the
        # batch has landed and before any of its frames is written.
        with self.clock.working("upload"):
            keep_beyond = self.keeps_beyond
            rgb = yuv_to_rgb(
                *planes, src.matrix, src.color_range, src.bit_depth, src.siting,
                clamp=not keep_beyond,
            )  # fmt: skip
            beyond = None
            if keep_beyond:
                # The network sees [0, 1], as it always did; the neutral part beyond it
                # (super-whites and super-blacks) goes around (vsr.ops.beyond).
                rgb, beyond = split_beyond(rgb)
            if self.network_input_size is not None:
                rgb = resize_exact(rgb, *self.network_input_size)
        with self.clock.working("model"):
            events = None
            if self.cuda:
                stream = torch.cuda.current_stream(self.device)
                events = (
                    torch.cuda.Event(enable_timing=True),
                    torch.cuda.Event(enable_timing=True),
                )
                events[0].record(stream)
            out = self.upscale(rgb)
            if events is not None:
                events[1].record(stream)
            # Before the clamp: clamped, an infinity would pass for 1.0.
            finite = torch.isfinite(out).all()
            out = out.clamp_(0.0, 1.0)
        with self.clock.working("download"):
            if tuple(out.shape[-2:]) != self.output_size:
                out = resize_exact(out, *self.output_size)
            if beyond is not None:
                out = add_beyond(out, beyond)
            yuv = rgb_to_yuv(
                out, dst.matrix, dst.color_range, dst.bit_depth, dst.chroma_shift, dst.siting
            )
            if not self.cuda:
                return _Batch(yuv, pts, None, finite)
            self.download_stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self.download_stream):
                host = []
                for plane in yuv:
                    plane.record_stream(self.download_stream)
                    pinned = torch.empty(plane.shape, dtype=plane.dtype, pin_memory=True)
                    host.append(pinned.copy_(plane, non_blocking=True))
                finite.record_stream(self.download_stream)
                flag = torch.empty((), dtype=torch.bool, pin_memory=True)
                flag.copy_(finite, non_blocking=True)
                done = torch.cuda.Event()
                done.record(self.download_stream)
            return _Batch(tuple(host), pts, done, flag, events)

    def run(
        self,
        frames: Iterator,
        writer: FrameSink,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Push every frame through; returns the number of frames written.

        Any failure (a worker's exception, Ctrl-C) stops all three threads, which are joined
        before this returns or raises; the caller aborts the writer.
        """
        decoded, encoded = threading.Event(), threading.Event()
        decoder = threading.Thread(
            target=setting_when_done(self._decode, decoded), args=(frames,), name="vsr-decode"
        )
        encoder = threading.Thread(
            target=setting_when_done(self._encode, encoded),
            args=(writer, progress),
            name="vsr-encode",
        )
        try:
            # Started inside: a Ctrl-C while a thread started (seconds on a loaded machine)
            # left `stop` unset, and the decode thread waiting for it kept vsr alive for ever.
            decoder.start()
            encoder.start()
            with device_guard(self.device):  # this thread's current device, while it runs
                try:
                    self._feed_the_device()
                except torch.cuda.OutOfMemoryError:  # a torch traceback, else, and exit 1
                    raise self._out_of_gpu_memory() from None
            encoder.join()  # the last batches are written before `stop` is set
        except BaseException as error:
            self._fail(error)
        finally:
            # On success both workers are already done; on failure `stop` releases them.
            # A second Ctrl-C does not cut the wait short: the caller closes the reader the
            # decode thread may still be in ("generator already executing").
            self.stop.set()
            for worker, finished in ((encoder, encoded), (decoder, decoded)):
                if worker.ident is not None:  # it was started
                    wait_through_interruptions(finished)
        if self.errors:
            raise self.errors[0]
        return self.frames_written

    def _out_of_gpu_memory(self) -> VsrError:
        """Out of GPU memory outside the network, whose windows the Upscaler halves when it
        runs out (vsr.upscale): the work on whole batches around it (colour conversion,
        resizing, copies) cannot shrink on its own. A lower budget makes the room the
        network keeps between calls (its windows' memory, its CUDA graphs' pools) smaller."""
        smaller_batch = f"a smaller {option('--batch')} or " if self.batch > 1 else ""
        return VsrError(
            "the GPU ran out of memory outside the network, on a batch of "
            f"{counted(self.batch, 'frame')}: use {smaller_batch}a lower "
            f"{option('--max-memory')}, free GPU memory (another process may hold it), or "
            f"use {option('--device', 'cpu')}"
        )

    def _feed_the_device(self) -> None:
        """Upload, upscale and download every batch, then tell the encoder the end."""
        pending = self._next_batch()
        staged = self._upload(pending) if pending else None
        while staged is not None:
            following = None
            if self.cuda:
                # Start the next upload before computing this batch: the copy engine
                # works while the SMs do.
                nxt = self._next_batch()
                following = self._upload(nxt) if nxt else None
            result = self._process(*staged)
            with self.clock.waiting("download"):
                self._put(self.batches_out, result)
            if not self.cuda:
                nxt = self._next_batch()
                following = self._upload(nxt) if nxt else None
            staged = following
        with self.clock.waiting("download"):
            self._put(self.batches_out, _END)


def __getattr__(name: str):
    """`from vsr.engine import upscale_video` keeps working; the clip runner lives in
    vsr.runner (it imports this module, so it is loaded on first use)."""
    if name in ("upscale_video", "start_upscale"):
        from vsr import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'vsr.engine' has no attribute {name!r}")
