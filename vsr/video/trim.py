"""A part of a clip (`vsr run --start/--duration/--end`): try settings on ten seconds
before spending hours on the whole film.

`TimeRange` is what the user asked for, in seconds from the video's start: the picture's own
time, which vsr upscales. That start is the video stream's as the file states it, which is
its first frame's but where that frame comes a frame late (an AVI's H.264 with B-frames: at
0.04 s at 25 fps, so a range to 0.11 s keeps the frames at 0.04 and 0.08 s). (ffmpeg's
`-ss`/`-to` count from the file's start, the earliest stream's: where the audio starts
before the video, by that much sooner.) The reader resolves it into a `Cut` on the file's
own clock once it has found the first frame to keep. Every stream is cut at the same
instants and moved back by the same amount, the first kept frame's time, so the output
starts at zero and its audio and subtitles stay in sync with the picture.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from vsr.errors import VsrError

# [[HH:]MM:]SS[.fraction], ffmpeg's duration syntax without its unit suffixes; ASCII digits
# only (re's \d takes any script's, which int() reads too).
_CLOCK = re.compile(r"^(?:(?:([0-9]+):)?([0-9]+):)?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
# Past any clip (31 years), and far below where a timestamp overflows libav's 64 bits.
_LONGEST = 10**9


def parse_time(text: str | float | Fraction, name: str = "time") -> Fraction:
    """Seconds from "90", "90.5", "1:30" or "1:02:03.5" (or a number), >= 0, exactly as
    written: "0.2" is 1/5, not the binary float just above it, which would let a frame
    shown at exactly 0.2 s into a range that ends there, and sums stay exact."""
    if isinstance(text, bool):
        raise VsrError(f"{name} must be a time in seconds or [HH:]MM:SS, not {text!r}")
    if isinstance(text, Fraction):
        seconds = text
    elif isinstance(text, int | float):
        if not math.isfinite(text):
            raise VsrError(f"{name} must be a time of at least 0 s, not {text!r}")
        # The decimal the float was written as (float(): numpy's repr is "np.float64(0.1)").
        seconds = Fraction(text) if isinstance(text, int) else Fraction(repr(float(text)))
    else:
        match = _CLOCK.match(str(text).strip())
        if match is None:
            raise VsrError(f"{name} {text!r}: give seconds (90, 90.5) or [HH:]MM:SS (1:30)")
        hours, minutes, rest = match.groups()
        if (hours or minutes) and Fraction(rest) >= 60:
            raise VsrError(f"{name} {text!r}: seconds after a colon must be below 60")
        if hours and int(minutes) >= 60:
            raise VsrError(f"{name} {text!r}: minutes after a colon must be below 60")
        seconds = int(hours or 0) * 3600 + int(minutes or 0) * 60 + Fraction(rest)
    if seconds < 0:
        raise VsrError(f"{name} must be a time of at least 0 s, not {text!r}")
    if seconds > _LONGEST:
        raise VsrError(f"{name} {text!r} is longer than any clip")
    return seconds


def format_time(seconds: float) -> str:
    """12.5 -> "12.500 s", 95 -> "1:35.000": how messages name a time in the clip."""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.3f} s"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    clock = f"{minutes}:{rest:06.3f}"
    return f"{hours}:{minutes:02d}:{rest:06.3f}" if hours else clock


@dataclass(frozen=True)
class TimeRange:
    """Frames whose timestamps lie from `start` up to, not including, `end` (None: to the
    clip's end), in seconds from the video's first frame (see the module's docstring)."""

    start: Fraction = Fraction(0)
    end: Fraction | None = None

    def __post_init__(self) -> None:
        # Numbers given directly (TimeRange(0.5, 1.3)) are read as the decimals they show.
        object.__setattr__(self, "start", parse_time(self.start, "start"))
        if self.end is not None:
            object.__setattr__(self, "end", parse_time(self.end, "end"))
        if self.end is not None and self.end <= self.start:
            raise VsrError(
                f"the end ({format_time(self.end)}) must come after the start "
                f"({format_time(self.start)})"
            )

    def describe(self) -> str:
        end = "the end" if self.end is None else format_time(self.end)
        return f"{format_time(self.start)} to {end}"

    def to_dict(self) -> dict[str, float | None]:
        return {
            "start_s": float(self.start),
            "end_s": None if self.end is None else float(self.end),
        }


def time_range(
    start: str | float | None = None,
    end: str | float | None = None,
    duration: str | float | None = None,
) -> TimeRange | None:
    """The range for start/end/duration (times as `parse_time` reads them), or None when
    none is given: the whole clip."""
    if end is not None and duration is not None:
        raise VsrError("give an end or a duration, not both")
    if start is None and end is None and duration is None:
        return None
    first = parse_time(start, "start") if start is not None else Fraction(0)
    if duration is not None:
        length = parse_time(duration, "duration")
        if length == 0:
            raise VsrError("the duration must be longer than 0 s")
        return TimeRange(first, first + length)
    return TimeRange(first, parse_time(end, "end") if end is not None else None)


@dataclass(frozen=True)
class Cut:
    """A TimeRange resolved on the file's clock (seconds as the streams' timestamps count
    them): what is kept, and how far every timestamp moves back."""

    requested: TimeRange
    offset: Fraction  # the first kept video frame's time: it becomes zero
    end: Fraction | None  # nothing that starts at or after it is kept
    file_start: float  # the container's start time, from which ffmpeg counts -ss
    origin: Fraction = Fraction(0)  # the video's start, from which the range counts
    # False for a whole file moved to start at zero (a video that starts before zero, or
    # a clock that starts late): no range was asked for (see VideoReader._cut_at).
    asked: bool = True

    def offset_in(self, time_base: Fraction) -> int:
        """The offset as a timestamp in `time_base` (a stream's)."""
        return round(self.offset / time_base)

    def end_in(self, time_base: Fraction) -> int | None:
        """The end as a timestamp in `time_base`: the first that is not kept (None: none)."""
        return None if self.end is None else math.ceil(self.end / time_base)

    def shift(self, stamp: int, time_base: Fraction) -> int:
        """`stamp` (in `time_base`) moved back so that `offset` becomes zero."""
        return stamp - self.offset_in(time_base)

    def past(self, stamp: int, time_base: Fraction) -> bool:
        return self.end is not None and stamp * time_base >= self.end

    def to_dict(self) -> dict[str, float | None]:
        """For the report: the range asked for, and where the output's zero was."""
        first = round(float(self.offset - self.origin), 6)  # on the range's clock
        return {**self.requested.to_dict(), "first_frame_s": first}
