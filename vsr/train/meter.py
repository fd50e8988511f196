"""Training throughput per logging window: steps/s, where a step's time goes, GPU load.

Data time is the time from the start of a step until its batch is ready (random draws on
the CPU, the index copy, the gather); compute time is forward, backward and the optimiser
step. On CUDA both come from CUDA events, i.e. the GPU's own timeline, which also shows a
GPU left waiting by a slow host; they are read once per window, after the loss has been
fetched (the loop synchronises there anyway). GPU utilisation and memory come from NVML
through vsr.telemetry.GpuSampler; without NVML (or on the CPU) they are left empty.
A validation's time is left out of the window it falls in (its own row gives elapsed_s).
"""

from __future__ import annotations

import time

import torch

from vsr.telemetry import GpuSampler

GIB = float(1 << 30)


class WindowMeter:
    """Call batch_start/batch_ready/step_end around every step and take() once per window."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self.sampler = GpuSampler(device.index if self.cuda else None)
        self._events: list[tuple[torch.cuda.Event, ...]] = []
        self._pending: list[torch.cuda.Event | float] = []  # this step's marks so far
        self._data_s = self._compute_s = 0.0
        self._steps = 0
        self._window_start = time.perf_counter()
        self.total_steps = 0  # over the whole run: for the closing summary
        self.total_seconds = 0.0
        self.total_data_s = self.total_compute_s = 0.0
        self.util_sum, self.util_count = 0.0, 0  # NVML's utilisation over the windows

    def __enter__(self) -> WindowMeter:
        self.sampler.__enter__()
        self._window_start = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sampler.__exit__(*exc_info)

    def _mark(self) -> torch.cuda.Event | float:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def batch_start(self) -> None:
        self._pending = [self._mark()]

    def batch_ready(self) -> None:
        self._pending.append(self._mark())

    def step_end(self) -> None:
        start, ready = self._pending
        end = self._mark()
        if self.cuda:
            self._events.append((start, ready, end))
        else:
            self._data_s += ready - start
            self._compute_s += end - ready
        self._steps += 1

    def leave_out(self, seconds: float) -> None:
        """Take time spent on something other than training steps (a validation) out of the
        current window, so that its steps/s are those of the training."""
        self._window_start += seconds

    def take(self) -> dict[str, float | None]:
        """The window's figures (per-step means in ms), then start a new window."""
        now = time.perf_counter()
        if self.cuda:
            torch.cuda.synchronize(self.device)
            for start, ready, end in self._events:
                self._data_s += start.elapsed_time(ready) / 1000
                self._compute_s += ready.elapsed_time(end) / 1000
            self._events.clear()
        steps = max(self._steps, 1)
        seconds = max(now - self._window_start, 1e-9)
        figures: dict[str, float | None] = {
            "steps_per_s": self._steps / seconds,
            "data_ms": 1000 * self._data_s / steps,
            "compute_ms": 1000 * self._compute_s / steps,
            "gpu_util": None,
            "gpu_mem_gib": None,
            "torch_mem_gib": None,
        }
        # The samples since the last window: the sampler's own series is thinned as a long
        # run goes on, so the window cannot be read from it by position.
        window = self.sampler.take_window()
        if window.count:
            self.util_sum += window.util_sum
            self.util_count += window.util_count
            figures["gpu_util"] = window.util_mean  # None on MIG
            if window.used_max is not None:  # None where NVML refuses the memory
                figures["gpu_mem_gib"] = window.used_max / GIB
        if self.cuda:
            figures["torch_mem_gib"] = torch.cuda.max_memory_allocated(self.device) / GIB
            torch.cuda.reset_peak_memory_stats(self.device)
        self.total_steps += self._steps
        self.total_seconds += seconds
        self.total_data_s += self._data_s
        self.total_compute_s += self._compute_s
        self._data_s = self._compute_s = 0.0
        self._steps = 0
        self._window_start = now
        return figures

    def summary(self) -> str:
        """One line on the whole run's throughput and what bounded it."""
        rate = self.total_steps / max(self.total_seconds, 1e-9)
        text = f"throughput {rate:.2f} steps/s over {self.total_steps} steps"
        timed = self.total_data_s + self.total_compute_s
        if timed > 0:
            text += (
                f"; per step {1000 * self.total_data_s / max(self.total_steps, 1):.2f} ms data + "
                f"{1000 * self.total_compute_s / max(self.total_steps, 1):.2f} ms compute "
                f"({'GPU timeline' if self.cuda else 'wall clock'}), "
                f"{1000 * self.total_seconds / max(self.total_steps, 1):.2f} ms wall"
            )
        if self.util_count:
            mean = self.util_sum / self.util_count
            text += f", GPU utilisation {mean:.0f}% mean (NVML)"
        return text
