"""Frames over time for the report's fps plot (vsr.telemetry.FrameTimeline), and a run's
report carrying them."""

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
