"""SMPTE timecodes (HH:MM:SS:FF) moved by a number of frames, for a clip cut with --start:
its first frame's timecode is the source's at that frame, not at the source's first.

Drop-frame timecode (HH:MM:SS;FF, at 30000/1001 or 60000/1001 fps) skips the frame numbers
0 and 1 (0 to 3 at 59.94) at the start of every minute except each tenth, so that the
clock stays with real time; frames are counted through that rule both ways."""

from __future__ import annotations

import re
from fractions import Fraction

# FFmpeg writes as many frame digits as the rate needs: one below 10 fps.
_TIMECODE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})([:;.,])(\d{1,3})$")


def moved_timecode(timecode: str, frames: int, rate: Fraction | None) -> str | None:
    """`timecode` plus `frames` frames at `rate`, in the same form; None when the timecode
    or the rate is not one this understands (a caller then keeps none rather than a wrong
    one)."""
    match = _TIMECODE.match(timecode.strip())
    if match is None or not rate:
        return None
    hours, minutes, seconds, mark, count = match.groups()
    nominal = round(rate)  # 30 for 29.97: timecode counts whole frames per second
    drop = mark != ":"  # as libav reads it: ";", "." and "," are drop-frame
    if drop and Fraction(rate) * 1001 != nominal * 1000:
        return None
    dropped = nominal // 15 if drop else 0  # 2 at 29.97, 4 at 59.94
    label = ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * nominal + int(count)
    if drop:
        total_minutes = int(hours) * 60 + int(minutes)
        label -= dropped * (total_minutes - total_minutes // 10)
    index = label + frames  # a frame's number from 00:00:00:00, whole frames
    if index < 0:
        return None
    if drop:
        per_ten = nominal * 600 - dropped * 9  # frames in ten minutes of drop-frame
        per_minute = nominal * 60 - dropped
        tens, rest = divmod(index, per_ten)
        extra = 0 if rest < dropped else dropped * ((rest - dropped) // per_minute)
        index += dropped * 9 * tens + extra
    count = index % nominal
    seconds = index // nominal
    width = len(match.group(5))
    hours = (seconds // 3600) % 24
    return f"{hours:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{mark}{count:0{width}d}"


# How libav's timecode parser reads one (sscanf "%d:%d:%d%c%d"): any mark but ':' before
# the frames means drop-frame, and the rest of the text is not looked at.
_LIBAV_TIMECODE = re.compile(r"^\s*[+-]?\d+:[+-]?\d+:[+-]?\d+(.)[+-]?\d+")


def why_no_timecode_track(timecode: str, rate: Fraction) -> str | None:
    """Why libav's MP4 and MOV muxers would write no timecode track for `timecode` on a
    video of `rate` frames a second (at most 255) - they leave such a one out without a
    word; None where they write it."""
    match = _LIBAV_TIMECODE.match(timecode)
    if match is None:
        return "this is no hh:mm:ss:ff time"
    mark = match.group(1)
    if mark != ":" and round(rate) % 30:
        return (
            f"a drop-frame one ('{mark}') runs only at 29.97 or 59.94 frames a second, "
            f"not {float(rate):g}"
        )
    return None
