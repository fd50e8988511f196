"""What a run measures about itself: per-stage time, host memory, NVML samples.

Every figure here is measured; where a measurement is impossible (no NVIDIA GPU, no NVML)
the value is None and the report shows null. Nothing is estimated or filled in.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from vsr import container_memory

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


class EvenSeries:
    """At most `limit` evenly spaced samples of a series offered at a steady pace, for as
    long as a run lasts: when full, every other sample goes, and from then on only every
    second (fourth, ...) one offered is kept."""

    def __init__(self, limit: int = 512) -> None:
        assert limit % 2 == 0, "an even limit keeps the last sample when the series thins"
        self.limit = limit
        self.samples: list[dict[str, float]] = []
        self.stride = 1  # every stride-th sample offered is kept
        self._offered = 0

    def offer(self, sample: dict[str, float]) -> None:
        if self._offered % self.stride == 0:
            self._append(sample)
        self._offered += 1

    def end(self, sample: dict[str, float]) -> None:
        """Keep `sample`, off the stride, as the series' last (the run's final figure)."""
        self._append(sample)

    def _append(self, sample: dict[str, float]) -> None:
        self.samples.append(sample)
        if len(self.samples) > self.limit:
            # Even indices: the first stays, and so does the last (limit is even).
            self.samples = self.samples[::2]
            self.stride *= 2


class FrameTimeline:
    """Frames finished over a run, for the report's frames-per-second-over-time plot: the
    cumulative count about every `interval_s` seconds from `start` (a perf_counter time),
    at most MAX_SAMPLES of them, evenly spaced (EvenSeries: the spacing doubles as a long
    run fills it)."""

    MAX_SAMPLES = 512

    def __init__(
        self, start: float, interval_s: float = 0.5, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.start, self._clock = start, clock
        self._every = interval_s
        self.frames = 0
        self._series = EvenSeries(self.MAX_SAMPLES)
        self._series.offer({"t_s": 0.0, "frames": 0})
        self._offered_at = start
        self._latest = (start, 0)

    @property
    def interval_s(self) -> float:
        """The spacing of the samples kept."""
        return self._every * self._series.stride

    @property
    def samples(self) -> list[dict[str, float]]:
        return self._series.samples

    def __call__(self, frames: int) -> None:
        """Count `frames` more, finished now."""
        self.frames += frames
        now = self._clock()
        self._latest = (now, self.frames)
        if now - self._offered_at >= self._every:
            self._offered_at = now
            self._series.offer({"t_s": round(now - self.start, 3), "frames": self.frames})

    def finished(self) -> list[dict[str, float]]:
        """The samples, the last frame's included (not the flush after it)."""
        now, frames = self._latest
        if frames > self.samples[-1]["frames"]:
            self._series.end({"t_s": round(now - self.start, 3), "frames": frames})
        return self.samples


@dataclass
class SampleTally:
    """Running figures of NVML samples: every one counted, none kept."""

    count: int = 0
    util_sum: float = 0.0
    util_count: int = 0  # a MIG instance reports no utilisation
    util_max: float = 0.0
    used_max: float | None = None  # None while no sample has told the memory

    def add(self, sample: dict[str, float | None]) -> None:
        self.count += 1
        util = sample["gpu_util_percent"]
        if util is not None:
            self.util_sum += util
            self.util_count += 1
            self.util_max = max(self.util_max, util)
        used = sample["memory_used_bytes"]
        if used is not None:
            self.used_max = used if self.used_max is None else max(self.used_max, used)

    @property
    def util_mean(self) -> float | None:
        return self.util_sum / self.util_count if self.util_count else None


def host_memory_bytes() -> int | None:
    """The host's RAM in bytes, or None where the system does not say (no sysconf)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def usable_host_memory_bytes() -> int | None:
    """The host's RAM, or this process's container's memory limit where that is lower (a
    container sees the host's RAM, and is killed past its own limit)."""
    limit, _free = container_memory.container_limits()
    return _least(host_memory_bytes(), limit)


def available_host_memory_bytes() -> int | None:
    """Memory the host can give without swapping (Linux's MemAvailable), or what this
    process's container may still take where that is less; None where the system does not
    say."""
    available = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    _limit, free = container_memory.container_limits()
    return _least(available, free)


def _least(*sizes: int | None) -> int | None:
    """The smallest of the sizes known (not None); None where none is."""
    known = [size for size in sizes if size is not None]
    return min(known) if known else None


def peak_host_memory_bytes() -> int:
    """Peak resident set size of this process so far (getrusage; psutil is not needed)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak if sys.platform == "darwin" else peak * 1024)


def proc_status_kib(field: str) -> int | None:
    """A KiB figure of /proc/self/status (VmRSS, VmHWM); None where there is none."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Make the kernel's peak RSS (VmHWM) start again from the current RSS (Linux 4.0+);
    False where it cannot (another system, or a process that changed its user)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def hand_back_free_heap() -> None:
    """Give the system back the freed heap that glibc keeps (malloc_trim), so that the
    resident set is what is in use; nothing elsewhere. Not gc.collect(): 80 ms a call in
    a process that has torch loaded."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class HostMemoryPeak:
    """The peak resident set of this process from its creation to `close()`: a clip's own
    figure. The process's peak so far (getrusage, which no reset lowers once a thread has
    exited) gave every clip of a folder after a big one the big one's figure: 578 MiB for
    a 64x48 clip after a 960x540 one.

    Linux keeps one high-water mark (VmHWM) that /proc/self/clear_refs resets. Clips
    overlap (one is finished on a thread while the next starts), so every start and close
    takes the mark since the last reset into each open window and then resets it: each
    window holds the peak of exactly its own span. The heap an earlier clip freed is handed
    back first, else its pages stay resident and count again (a 64x48 clip after a 960x540
    one: 450 MiB kept, 322 MiB handed back, 271 MiB alone; the rest is the earlier clip
    still being finished). Where the mark cannot be reset, `close()` gives the process's
    peak so far, as before.
    """

    # Weak: the window of a run that failed, never closed, goes away with the run.
    _open: weakref.WeakSet[HostMemoryPeak] = weakref.WeakSet()
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.peak_kib = 0
        hand_back_free_heap()
        with self._lock:
            self.per_clip = self._take_the_mark()
            self._open.add(self)

    @classmethod
    def _take_the_mark(cls) -> bool:
        peak = proc_status_kib("VmHWM")
        if peak is None or not reset_peak_rss():
            return False
        for window in list(cls._open):
            window.peak_kib = max(window.peak_kib, peak)
        return True

    def close(self) -> int:
        """Bytes: the peak since this window opened (or the process's, where unmeasurable)."""
        with self._lock:
            per_clip = self.per_clip and self._take_the_mark()
            self._open.discard(self)
        return self.peak_kib * 1024 if per_clip else peak_host_memory_bytes()


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
        self._series: EvenSeries | None = None
        # Every sample taken, for summary(); and those since the last take_window().
        self._whole, self._window = SampleTally(), SampleTally()
        self._tally_lock = threading.Lock()  # the sampler thread adds, a caller takes
        self._handle = _nvml_handle(device_index) if device_index is not None else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0

    def __enter__(self) -> GpuSampler:
        if self._handle is not None:
            self._series = EvenSeries(self.MAX_SAMPLES)
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

        # NVML may refuse either reading as not supported, each on its own (a MIG instance
        # tells its memory but not its utilisation): a refused one is not asked again and
        # is left out (None) rather than guessed, and the other is still sampled.
        readings = {
            "utilisation": pynvml.nvmlDeviceGetUtilizationRates,
            "memory": pynvml.nvmlDeviceGetMemoryInfo,
        }
        while not self._stop.is_set():
            read = {}
            for name, ask in list(readings.items()):
                try:
                    read[name] = ask(self._handle)
                except pynvml.NVMLError_NotSupported:
                    del readings[name]
                except Exception:
                    return  # the driver went away: keep what was measured, invent nothing
            if not read:
                # Both refused: nothing is left to sample, and asking again at once would
                # spin, holding the GIL the engine's threads need.
                return
            busy, memory = read.get("utilisation"), read.get("memory")
            self._keep(
                {
                    "t_s": round(time.perf_counter() - self._start, 3),
                    "gpu_util_percent": None if busy is None else float(busy.gpu),
                    "memory_util_percent": None if busy is None else float(busy.memory),
                    "memory_used_bytes": None if memory is None else float(memory.used),
                }
            )
            self._stop.wait(self.interval_s)

    @property
    def samples(self) -> list[dict[str, float]] | None:
        """The series the report keeps (None where nothing is sampled)."""
        return None if self._series is None else self._series.samples

    def _keep(self, sample: dict[str, float]) -> None:
        """Count `sample` in the figures, and offer it to the series."""
        with self._tally_lock:
            self._whole.add(sample)
            self._window.add(sample)
        self._series.offer(sample)

    def take_window(self) -> SampleTally:
        """The figures of the samples taken since the last call (a training log's window)."""
        with self._tally_lock:
            window, self._window = self._window, SampleTally()
        return window

    def summary(self) -> dict[str, float] | None:
        whole = self._whole
        if not whole.count:
            return None
        known = whole.util_mean is not None
        return {
            "samples": whole.count,
            "gpu_util_mean_percent": round(whole.util_mean, 1) if known else None,
            "gpu_util_max_percent": whole.util_max if known else None,
            "memory_used_max_bytes": whole.used_max,
        }
