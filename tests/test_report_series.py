"""Time series in reports: frames over time (vsr.telemetry.FrameTimeline), GPU samples, and
the coarser copies a folder's report keeps: each bounded however long the run."""

from __future__ import annotations

import json

from media import make_clip

import vsr
from vsr.htmlreport import fps_series
from vsr.telemetry import FrameTimeline


def test_samples_come_at_most_every_interval_and_end_at_the_last_frame():
    now = [100.0]
    timeline = FrameTimeline(100.0, interval_s=1.0, clock=lambda: now[0])
    for _ in range(5):  # 4 frames every 0.4 s
        now[0] += 0.4
        timeline(4)
    now[0] += 30.0  # the flush after the last frame is no frame time
    assert timeline.finished() == [
        {"t_s": 0.0, "frames": 0},
        {"t_s": 1.2, "frames": 12},
        {"t_s": 2.0, "frames": 20},
    ]
    assert fps_series(timeline.samples) == ([0.6, 1.6], [10.0, 10.0])


def test_a_long_run_keeps_a_bounded_evenly_spaced_record():
    now = [0.0]
    timeline = FrameTimeline(0.0, interval_s=1.0, clock=lambda: now[0])
    for _ in range(3000):  # 3000 s at 25 fps
        now[0] += 1.0
        timeline(25)
    samples = timeline.finished()
    assert len(samples) <= FrameTimeline.MAX_SAMPLES
    steps = {b["t_s"] - a["t_s"] for a, b in zip(samples, samples[1:-1], strict=False)}
    assert steps == {timeline.interval_s} and timeline.interval_s == 8.0
    assert samples[-1] == {"t_s": 3000.0, "frames": 75000}
    assert set(fps_series(samples)[1]) == {25.0}


def test_a_runs_report_holds_its_frames_over_time(tmp_path, weights):
    make_clip(tmp_path / "in.mp4", 32, 24, frames=5, audio=False)
    report = tmp_path / "run.json"
    result = vsr.upscale_video(
        tmp_path / "in.mp4", tmp_path / "out.mkv", weights=weights, report=report
    )
    samples = json.loads(report.read_text())["progress_samples"]
    assert samples == result.progress_samples
    assert samples[0] == {"t_s": 0.0, "frames": 0} and samples[-1]["frames"] == 5
    times = [s["t_s"] for s in samples]
    assert times == sorted(times) and times[-1] <= result.wall_seconds


def test_a_folder_keeps_a_coarser_series_per_clip_with_its_ends(tmp_path):
    import dataclasses

    from test_folder import Recorder

    from vsr.report import FOLDER_SERIES, FolderReport

    (tmp_path / "a.mp4").write_bytes(b"clip")
    report = Recorder()(tmp_path / "a.mp4", tmp_path / "a_out.mp4")
    samples = [{"t_s": float(i), "frames": 25 * i} for i in range(512)]
    report = dataclasses.replace(report, progress_samples=samples, gpu_samples=None)
    summary = FolderReport()
    summary.add(tmp_path / "a.mp4", "done", report)
    kept = summary.clips[0]["report"]["progress_samples"]
    assert len(kept) == FOLDER_SERIES and kept[0] == samples[0] and kept[-1] == samples[-1]
    steps = {b["t_s"] - a["t_s"] for a, b in zip(kept, kept[1:], strict=False)}
    assert steps <= {16.0, 17.0}  # evenly spread over the 511 s
    assert summary.clips[0]["report"]["gpu_samples"] is None


def _sampled(count: int):
    """A GpuSampler that has taken `count` samples, as its thread on a GPU would."""
    from vsr.telemetry import EvenSeries, GpuSampler

    sampler = GpuSampler(None)
    sampler._series = EvenSeries(GpuSampler.MAX_SAMPLES)  # as on a GPU: the series exists
    for i in range(count):
        util = None if i % 10 == 9 else float(i % 100)
        sampler._keep(
            {"t_s": i * 0.25, "gpu_util_percent": util, "memory_util_percent": None,
             "memory_used_bytes": float(i)}
        )  # fmt: skip
    return sampler


def test_gpu_samples_stay_bounded_and_the_summary_counts_every_one():
    from vsr.telemetry import GpuSampler

    sampler = _sampled(3000)
    assert len(sampler.samples) <= GpuSampler.MAX_SAMPLES
    kept = sampler.samples
    steps = {b["t_s"] - a["t_s"] for a, b in zip(kept, kept[1:], strict=False)}
    assert steps == {0.25 * 8}  # every 8th sample, evenly
    known = [float(i % 100) for i in range(3000) if i % 10 != 9]
    assert sampler.summary() == {
        "samples": 3000,
        "gpu_util_mean_percent": round(sum(known) / len(known), 1),
        "gpu_util_max_percent": 98.0,  # 99 falls on the unknown ones (i ending in 9)
        "memory_used_max_bytes": 2999.0,
    }


def test_a_training_window_gets_its_own_samples_however_long_the_run():
    # The training meter read its window by position in the series, which a long run thins:
    # past 512 samples (two minutes) every window came out empty.
    sampler = _sampled(2000)
    sampler.take_window()  # the windows before
    for i in range(2000, 2008):
        sampler._keep(
            {"t_s": i * 0.25, "gpu_util_percent": 50.0, "memory_util_percent": None,
             "memory_used_bytes": 4e9}
        )  # fmt: skip
    window = sampler.take_window()
    assert (window.count, window.util_mean, window.used_max) == (8, 50.0, 4e9)
    assert sampler.take_window().count == 0  # taken: the next window starts empty


def test_a_last_frame_already_sampled_is_not_recorded_twice():
    now = [0.0]
    timeline = FrameTimeline(0.0, interval_s=1.0, clock=lambda: now[0])
    now[0] = 1.0
    timeline(10)  # a whole interval after the start: sampled as it comes
    now[0] += 5.0  # the flush
    assert timeline.finished() == [{"t_s": 0.0, "frames": 0}, {"t_s": 1.0, "frames": 10}]


def test_the_gpu_summary_keeps_the_most_memory_any_sample_used():
    # The memory used falls after its peak (torch's cache handed back, a batch finished):
    # the summary's figure is the peak, not the last reading.
    from vsr.telemetry import EvenSeries, GpuSampler

    sampler = GpuSampler(None)
    sampler._series = EvenSeries(GpuSampler.MAX_SAMPLES)  # as on a GPU: the series exists
    for i, used in enumerate((2e9, 5e9, None, 3e9)):
        sampler._keep(
            {"t_s": i * 0.25, "gpu_util_percent": 50.0, "memory_util_percent": None,
             "memory_used_bytes": used}
        )  # fmt: skip
    assert sampler.summary()["memory_used_max_bytes"] == 5e9
