"""A clip's host memory figure is its own peak, not the process's peak so far: in a folder
run, every clip after a big one had the big one's figure."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from media import make_clip

from vsr.runner import upscale_video

MIB = 1 << 20


def _resident_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def resettable_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pytest.skip("the kernel's peak RSS cannot be reset here (Linux only)")


def _a_big_peak_that_is_gone() -> int:
    """Touch 300 MiB and free it (an mmap, handed back at once): the process's peak is now
    at least that far above what it holds. Returns the resident bytes before."""
    before = _resident_bytes()
    held = b"\x01" * (300 * MIB)  # written, so resident (bytes(n) would map zero pages)
    del held
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 > before + 250 * MIB
    return before


def test_a_clip_after_a_big_peak_reports_its_own(tmp_path: Path, weights, resettable_peak):
    make_clip(tmp_path / "small.mkv", 32, 24, frames=2, audio=False)
    before = _a_big_peak_that_is_gone()
    options = {"weights": weights, "device": "cpu", "progress": False}
    report = upscale_video(tmp_path / "small.mkv", tmp_path / "out.mkv", **options)
    # What the process holds, and a little for the clip; not the 300 MiB that went before.
    assert before - 50 * MIB < report.peak_host_memory_bytes < before + 100 * MIB


def test_overlapping_clips_each_count_the_peak_of_their_own_span(resettable_peak):
    from vsr.telemetry import HostMemoryPeak

    first = HostMemoryPeak()
    before = _a_big_peak_that_is_gone()  # while only the first clip runs
    second = HostMemoryPeak()  # starts while the first is still being finished
    assert first.close() > before + 250 * MIB
    assert second.close() < before + 100 * MIB


def test_a_clips_gpu_peak_is_taken_before_the_next_clip_resets_it(
    tmp_path: Path, weights, monkeypatch
):
    # Folder mode finishes a clip on a thread while the next one starts, and that one
    # resets torch's peak (reset_peak_memory_stats) and runs: a peak read in finish() is the
    # next clip's. The CUDA reading's stand-in says 111 during this clip, 999 once the next
    # one runs (what torch.cuda.max_memory_allocated would then say).
    from vsr import runner

    peak = {"bytes": 111}
    monkeypatch.setattr(
        runner, "gpu_peak_allocated_bytes", lambda device: peak["bytes"], raising=False
    )
    make_clip(tmp_path / "a.mkv", 32, 24, frames=2, audio=False)
    options = {"weights": weights, "device": "cpu", "progress": False}
    clip = runner.start_upscale(tmp_path / "a.mkv", tmp_path / "out.mkv", **options)
    peak["bytes"] = 999  # the next clip of the folder has started
    assert clip.finish().gpu_peak_allocated_bytes == 111
