"""What a run measures about itself: per-stage time, host memory, NVML samples.

Every figure here is measured; where a measurement is impossible (no NVIDIA GPU, no NVML)
the value is None and the report shows null. Nothing is estimated or filled in.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STAGES = ("decode", "upload", "model", "download", "encode")


class StageClock:
    """Busy and queue-wait seconds per pipeline stage.

    Each stage is timed by the one thread that runs it, so plain float additions are safe
    (different keys, the GIL around each update). "busy" is time doing the stage's work;
    "wait" is time blocked on a queue, either starved of input or held up by a full output.
    """

    def __init__(self) -> None:
        self.busy = dict.fromkeys(STAGES, 0.0)
        self.wait = dict.fromkeys(STAGES, 0.0)
        # perf_counter() when each stage first started and last finished work: the model's
        # give the idle time before the first batch and after the last one.
        self.first_start: dict[str, float] = {}
        self.last_end: dict[str, float] = {}
        # Seconds a stage kept the GPU busy, from CUDA events. On a GPU, "busy" is the host's
        # time to queue the work (it does not wait for the device), so only this says how
        # long the work itself took. Empty on the CPU.
        self.device_busy: dict[str, float] = {}

    @contextmanager
    def working(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        self.first_start.setdefault(stage, start)
        try:
            yield
        finally:
            self.last_end[stage] = time.perf_counter()
            self.busy[stage] += self.last_end[stage] - start

    def add_device_time(self, stage: str, seconds: float) -> None:
        self.device_busy[stage] = self.device_busy.get(stage, 0.0) + seconds

    @contextmanager
    def waiting(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.wait[stage] += time.perf_counter() - start

    def to_dict(self, wall_seconds: float) -> dict[str, dict[str, float]]:
        share = (lambda s: s / wall_seconds) if wall_seconds > 0 else (lambda s: 0.0)
        stages = {
            stage: {
                "busy_s": round(self.busy[stage], 4),
                "wait_s": round(self.wait[stage], 4),
                "busy_share_of_wall": round(share(self.busy[stage]), 4),
            }
            for stage in STAGES
        }
        for stage, seconds in self.device_busy.items():
            stages[stage]["device_busy_s"] = round(seconds, 4)
        return stages


class FrameTimeline:
    """Frames finished over a run, for the report's frames-per-second-over-time plot: the
    cumulative count at most every `interval_s` seconds from `start` (a perf_counter time).
    A long run stays within MAX_SAMPLES evenly spaced samples: past it, every other sample
    goes and the interval doubles."""

    MAX_SAMPLES = 512

    def __init__(
        self, start: float, interval_s: float = 0.5, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.start, self.interval_s, self._clock = start, interval_s, clock
        self.frames = 0
        self.samples: list[dict[str, float]] = [{"t_s": 0.0, "frames": 0}]
        self._latest = (start, 0)

    def __call__(self, frames: int) -> None:
        """Count `frames` more, finished now."""
        self.frames += frames
        now = self._clock()
        self._latest = (now, self.frames)
        if now - self.start - self.samples[-1]["t_s"] >= self.interval_s:
            self._sample(now, self.frames)

    def _sample(self, now: float, frames: int) -> None:
        self.samples.append({"t_s": round(now - self.start, 3), "frames": frames})
        if len(self.samples) > self.MAX_SAMPLES:
            self.samples = self.samples[::2]
            self.interval_s *= 2

    def finished(self) -> list[dict[str, float]]:
        """The samples, the last frame's included (not the flush after it)."""
        now, frames = self._latest
        if frames > self.samples[-1]["frames"]:
            self._sample(now, frames)
        return self.samples


def host_memory_bytes() -> int | None:
    """The host's RAM in bytes, or None where the system does not say (no sysconf)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def available_host_memory_bytes() -> int | None:
    """Memory the host can give without swapping (Linux's MemAvailable), or None where the
    system does not say."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_host_memory_bytes() -> int:
    """Peak resident set size of this process so far (getrusage; psutil is not needed)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _nvml_handle(device_index: int):
    """An NVML handle for torch's CUDA device `device_index`, or None when NVML is absent.

    torch numbers devices after CUDA_VISIBLE_DEVICES; NVML does not, so match by UUID
    where torch exposes it and fall back to the index.
    """
    try:
        import pynvml  # nvidia-ml-py

        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        import torch

        uuid = str(torch.cuda.get_device_properties(device_index).uuid)
    except Exception:
        uuid = None
    if uuid is not None:
        # CUDA gives the bare UUID; NVML names a whole GPU "GPU-..." and a MIG instance
        # (whose UUID is what CUDA sees inside it) "MIG-...".
        bare = uuid.removeprefix("GPU-").removeprefix("MIG-")
        for name in (f"GPU-{bare}", f"MIG-{bare}"):
            try:
                return pynvml.nvmlDeviceGetHandleByUUID(name)
            except Exception:
                continue
    try:
        return pynvml.nvmlDeviceGetHandleByIndex(device_index)
    except Exception:
        return None


class GpuSampler:
    """Samples GPU utilisation and memory through NVML on a background thread.

    A no-op on the CPU or without NVML: `samples` stays None and `summary()` returns None.
    Use as a context manager around the run. `summary()` counts every sample; `samples`,
    the series the report keeps, holds at most MAX_SAMPLES evenly spaced ones (a long clip
    is sampled four times a second for hours).
    """

    MAX_SAMPLES = 512

    def __init__(self, device_index: int | None, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.samples: list[dict[str, float]] | None = None
        self._taken = 0  # samples taken; every `_stride`-th is kept in `samples`
        self._stride = 1
        # Running figures of every sample taken, for summary().
        self._util_sum, self._util_count, self._util_max = 0.0, 0, 0.0
        self._used_max = 0.0
        self._handle = _nvml_handle(device_index) if device_index is not None else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0

    def __enter__(self) -> GpuSampler:
        if self._handle is not None:
            self.samples = []
            self._start = time.perf_counter()
            self._thread = threading.Thread(target=self._run, name="vsr-nvml", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        import pynvml

        utilisation_known = True
        while not self._stop.is_set():
            busy = None
            try:
                memory = pynvml.nvmlDeviceGetMemoryInfo(self._handle)
                if utilisation_known:
                    busy = pynvml.nvmlDeviceGetUtilizationRates(self._handle)
            except pynvml.NVMLError_NotSupported:
                # A MIG instance: NVML tells its memory but not its utilisation, which is
                # then left out (None) rather than guessed.
                utilisation_known = False
                continue
            except Exception:
                return  # the driver went away: keep what was measured, invent nothing
            self._keep(
                {
                    "t_s": round(time.perf_counter() - self._start, 3),
                    "gpu_util_percent": None if busy is None else float(busy.gpu),
                    "memory_util_percent": None if busy is None else float(busy.memory),
                    "memory_used_bytes": float(memory.used),
                }
            )
            self._stop.wait(self.interval_s)

    def _keep(self, sample: dict[str, float]) -> None:
        """Count `sample` in the summary, and keep it in the series if it falls on the
        series' stride (which doubles, every other sample going, when the series is full)."""
        util = sample["gpu_util_percent"]
        if util is not None:
            self._util_sum += util
            self._util_count += 1
            self._util_max = max(self._util_max, util)
        self._used_max = max(self._used_max, sample["memory_used_bytes"])
        if self._taken % self._stride == 0:
            self.samples.append(sample)
            if len(self.samples) > self.MAX_SAMPLES:
                self.samples = self.samples[::2]
                self._stride *= 2
        self._taken += 1

    def summary(self) -> dict[str, float] | None:
        if not self._taken:
            return None
        known = self._util_count > 0  # a MIG instance reports no utilisation
        return {
            "samples": self._taken,
            "gpu_util_mean_percent": round(self._util_sum / self._util_count, 1) if known else None,
            "gpu_util_max_percent": self._util_max if known else None,
            "memory_used_max_bytes": self._used_max,
        }
