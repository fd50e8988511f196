"""How long a video is and how many frames a part of it holds, from what its file states.

The reader (vsr.video.reader) reckons with these for progress (a cut's frames and seconds)
and for the truncation check (the video's declared length against what decoded).
"""

from __future__ import annotations

import math
from fractions import Fraction

import av

from vsr.video.trim import Cut, TimeRange


def frame_seconds(duration: int | None, time_base: Fraction, rate: Fraction | None) -> float:
    """How long a frame is shown: its own length where the file gives one (a slide show's
    or a GIF's last frame can stay up far longer than the average), else one frame at the
    average rate (0 without one)."""
    if duration:
        return float(duration * time_base)
    return 1 / float(rate) if rate else 0.0


def frames_in_cut(
    cut: Cut, frames: int | None, rate: Fraction | None, seconds: float | None
) -> tuple[int | None, float | None]:
    """About how many frames, and how many seconds, the cut keeps (for the progress bar).
    `frames` and `seconds`: the whole video's, where the file states them."""
    requested = cut.requested
    if seconds is not None:
        seconds = seconds_in_range(requested, seconds)
    elif requested.end is not None:
        seconds = float(requested.end) - float(requested.start)
    if not rate:
        return None, seconds
    # A constant rate shows frame k at k / rate: the range holds those with k / rate in it.
    skipped = math.ceil(requested.start * rate)
    if frames is not None:
        left = max(0, frames - skipped)
    else:
        # Rounded first: 1.2 s at 25 fps is 30.000000000000004 frames in floats.
        left = None if seconds is None else math.ceil(round(seconds * rate, 6))
    if requested.end is None:
        return left, seconds
    estimate = math.ceil(requested.end * rate) - frames_before_cut(cut, rate)
    return (estimate if left is None else min(estimate, left)), seconds


def frames_before_cut(cut: Cut, rate: Fraction) -> int:
    """The places k / rate (from the video's start) before the first frame the cut keeps:
    those before its start, or all before the first frame where that lies later (an AVI's
    H.264 starts a tick after its stream's start: a range to 0.11 s at 25 fps holds 2
    frames, at 0.04 and 0.08 s, not 3)."""
    return max(math.ceil(cut.requested.start * rate), round((cut.offset - cut.origin) * rate))


def seconds_in_range(requested: TimeRange, seconds: float) -> float:
    """How much of a video `seconds` long the range keeps."""
    end = seconds if requested.end is None else min(seconds, float(requested.end))
    return max(0.0, end - float(requested.start))


def declared_video_seconds(
    stream: av.video.stream.VideoStream, container: av.container.InputContainer
) -> tuple[float | None, bool]:
    """How long the file says the video is, and whether that is the video's own figure."""
    # Matroska's per-stream DURATION tag first: there libav fills stream.duration with an
    # estimate from the whole container (audio included), which overstates the video. The
    # tag is where the stream ends, counted from zero, so a stream that starts later (a clip
    # cut from a longer one) is that much shorter than its tag.
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            end = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            pass
        else:
            start = float((stream.start_time or 0) * stream.time_base) if stream.time_base else 0
            return end - start, True
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base), True
    if container.duration:
        return container.duration / av.time_base, False
    return None, False
