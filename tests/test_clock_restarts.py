"""MPEG-TS recordings joined end to end: each stream's clock starts over where they meet."""

from __future__ import annotations

from fractions import Fraction

import av
from media import make_ts_recording

from vsr.runner import upscale_video
from vsr.video.clock_restarts import RunningClock

TICK = Fraction(1, 90000)


def test_a_clock_that_starts_over_runs_on_from_the_last_end():
    clock = RunningClock()
    # Two parts of 3 frames 3600 ticks apart; the second part's frames give no length.
    stamps = [clock(t, 3600) for t in (0, 3600, 7200)] + [clock(t, None) for t in (0, 3600)]
    assert stamps == [0, 3600, 7200, 10800, 14400]
    assert clock.restarts == 1
    assert clock(18000 - 10800, None) == 18000  # a rise is kept as it is


def test_joined_recordings_come_out_one_after_the_other(tmp_path, weights):
    # The audio's times went back and the muxer refused them: a traceback after all the
    # upscaling. Without sound, the second part was squashed into 1-tick steps.
    part, joined, out = tmp_path / "part.ts", tmp_path / "joined.ts", tmp_path / "out.mp4"
    make_ts_recording(part, 10)
    joined.write_bytes(part.read_bytes() * 2)  # cat part.ts part.ts
    report = upscale_video(joined, out, weights=weights, progress=False)
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        shown = [frame.pts * frame.time_base for frame in container.decode(video)]
    with av.open(str(out)) as container:
        heard = [p.pts * p.time_base for p in container.demux(audio=0) if p.size]
    steps = {b - a for a, b in zip(shown, shown[1:], strict=False)}
    assert len(shown) == 20 and steps == {Fraction(1, 25)}
    assert heard == sorted(heard) and heard[-1] - heard[0] > Fraction(7, 10)  # both parts
    assert abs(heard[-1] - shown[-1]) < 0.1  # still together at the end
    restarts = [note for note in report.notes if "its clock starts over once" in note]
    assert [note.split(":")[0] for note in restarts] == ["audio stream #1 (aac)", "the video"]
