"""The time base an encoder counts in.

Most encoders take the source's (1/12800, 1/90000, 1/1000), which keeps every frame's time
exact, a variable rate included. MPEG-1 and MPEG-2 read their frame rate from the time base
and refuse one that is no frame rate of their standards ("MPEG-1/2 does not support 12800/1
fps"): they count in frames. MPEG-4 Part 2 counts in at most 65535 ticks a second, and
refused every MPEG-TS source (1/90000): it counts in two of those ticks. Their packets are
put back into the source's time base as they leave the encoder (`in_time_base`), so the
rest of the writer knows one time base only.
"""

from __future__ import annotations

from fractions import Fraction

import av

COUNT_IN_FRAMES = frozenset({"mpeg1video", "mpeg2video"})
_MOST_TICKS = {"mpeg4": 65535}  # a second's ticks, where the encoder has a limit


def encoder_time_base(codec: str, time_base: Fraction, rate: Fraction | None) -> Fraction:
    """The time base to open `codec` with, for a source in `time_base` at `rate` (the
    average; None where unknown)."""
    if codec in COUNT_IN_FRAMES and rate:
        return 1 / Fraction(rate)
    most = _MOST_TICKS.get(codec)
    if most is None or time_base.denominator <= most:
        return time_base
    # The finest that fits, a whole number of the source's ticks where one does: a time
    # rounds by at most half of it (at 1/45000, 11 microseconds).
    for ticks in range(2, 64):
        if (time_base * ticks).denominator <= most:
            return time_base * ticks
    return Fraction(1, most)


def in_time_base(packets: list[av.Packet], time_base: Fraction) -> list[av.Packet]:
    """`packets` with their times in `time_base` (to the nearest tick), changed in place."""
    for packet in packets:
        if packet.time_base is None or packet.time_base == time_base:
            continue
        ratio = Fraction(packet.time_base) / time_base
        if packet.pts is not None:
            packet.pts = round(packet.pts * ratio)
        if packet.dts is not None:
            packet.dts = round(packet.dts * ratio)
        if packet.duration:
            packet.duration = round(packet.duration * ratio)
        packet.time_base = time_base
    return packets


class FrameGrid:
    """Frame times for an encoder that counts in frames, in the writer's ticks: each on the
    steady rate's frame nearest to it, or the frame after the one before where two would
    share a frame (the encoder refuses a time that does not increase). A steady source's
    times are on the grid already and stay as they are; a variable-rate one's move."""

    def __init__(self, frame: Fraction) -> None:
        self.frame = frame  # one frame, in the writer's ticks
        self.moved = 0  # frames whose time moved by more than the rounding to whole ticks
        self._last: int | None = None  # the last frame's number on the grid

    def place(self, pts: int) -> int:
        number = round(pts / self.frame)
        if self._last is not None and number <= self._last:
            number = self._last + 1
        self._last = number
        placed = round(number * self.frame)
        if abs(placed - pts) * 2 > self.frame:
            self.moved += 1
        return placed
