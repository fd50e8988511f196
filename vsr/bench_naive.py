"""The loop a user writes first, timed: the baseline `vsr bench` compares the engine with.

One Python thread does everything in turn: PyAV decodes a frame, swscale converts it to an
rgb24 ndarray, the float32 network runs on that one frame, the result goes back to an
ndarray, and PyAV converts and encodes it. Nothing overlaps, so every stage's time adds up.
It is written the plain way on purpose (no colour arguments, no batching, no reuse of
buffers); only the stage timers are extra.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from torch import nn

from vsr.telemetry import GpuSampler, StageClock
from vsr.video.media_url import file_url, open_source


@dataclass
class NaiveResult:
    frames: int
    wall_seconds: float
    clock: StageClock
    gpu_summary: dict[str, float] | None
    gpu_peak_allocated_bytes: int | None
    startup_seconds: float  # from the start to the first network call (opening, loading)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def naive_upscale(
    source: str | Path,
    target: str | Path,
    model: nn.Module,
    device: torch.device,
    codec: str,
    pix_fmt: str,
    options: dict[str, str],
) -> NaiveResult:
    """Upscale `source` into `target` frame by frame with `model` in float32."""
    clock = StageClock()
    device_index = None
    if device.type == "cuda":
        device_index = device.index if device.index is not None else torch.cuda.current_device()
        torch.cuda.reset_peak_memory_stats(device)
    frames = 0
    start = time.perf_counter()
    with GpuSampler(device_index) as sampler:
        model = model.to(device, torch.float32).eval()
        with open_source(source) as reader, av.open(file_url(target), "w") as writer:
            video_in = reader.streams.video[0]
            video_out = None
            decoded = reader.decode(video_in)
            while True:
                with clock.working("decode"):
                    frame = next(decoded, None)
                    if frame is None:
                        break
                    rgb = frame.to_ndarray(format="rgb24")
                with clock.working("upload"):
                    x = torch.from_numpy(rgb).to(device).permute(2, 0, 1)[None].float() / 255.0
                with clock.working("model"):
                    y = model(x)
                    _sync(device)  # so the time lands here, not in the copy that follows
                with clock.working("download"):
                    out = (y[0].clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).cpu().numpy()
                with clock.working("encode"):
                    if video_out is None:
                        video_out = writer.add_stream(
                            codec, rate=video_in.average_rate, options=options
                        )
                        video_out.height, video_out.width = out.shape[:2]
                        video_out.pix_fmt = pix_fmt
                        video_out.time_base = video_in.time_base
                    picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(out), format="rgb24")
                    picture.pts = frame.pts
                    picture.time_base = video_in.time_base
                    writer.mux(video_out.encode(picture))
                frames += 1
            with clock.working("encode"):
                if video_out is not None:
                    writer.mux(video_out.encode(None))
    wall = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    startup = clock.first_start.get("model", start + wall) - start
    return NaiveResult(frames, wall, clock, sampler.summary(), peak, startup)
