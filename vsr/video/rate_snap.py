"""Frame times of a 1000/1001 rate put back on their grid, for MP4 and MOV outputs.

Matroska counts in milliseconds (its usual TimecodeScale), and a 23.976 fps frame lasts
41.708 ms: ffmpeg and mkvmerge store the times rounded, so the steps run 42, 41, 42, 42 ...
MP4 and MOV keep every time exactly, and copied into one (in 1/16000, the muxer's choice)
those roundings became steps of 672 and 656 ticks: a variable frame rate, 23.9798 fps on
average, where the source states 24000/1001. Here the output counts in a time base that
holds both the milliseconds and the frame step (1/24000 for 24000/1001: 1 ms is 24 ticks,
a frame 1001), and each time within half a millisecond of the grid, the source's rounding,
goes back onto it. A time further off (a real variable rate) stays where it was, exactly.

The grid is the whole clip's. A cut moves every time back by its first kept frame's, a
rounded time too: snapped after that shift, what was left lay up to 1 ms off the grid, and
the steps ran 984, 1018, 1001, 981 ... So the snap puts each time back where it lay on the
whole clip's timeline, snaps it there, and moves it back by the first kept frame's snapped
time. The sound and subtitles, moved back by the frame's rounded time, stay within half a
millisecond of the picture, as they do in the whole clip's output.
"""

from __future__ import annotations

import math
from fractions import Fraction

import av

# Time bases finer than this are not worth it (and hint at a rate that is no intended one).
_FINEST = 1_000_000


def _fraction_gcd(a: Fraction, b: Fraction) -> Fraction:
    """The largest time that both `a` and `b` are whole multiples of."""
    common = a.denominator * b.denominator // math.gcd(a.denominator, b.denominator)
    return Fraction(math.gcd(int(a * common), int(b * common)), common)


class RateSnap:
    """Rewrites packets from the source's time base into `time_base`, their times snapped
    to the frame grid of `rate` where they are the source's rounding of it. `lead`: where
    the packets' zero lies on the whole clip's timeline, in source ticks (a cut's first kept
    frame: vsr.video.trim.Cut.lead_in)."""

    def __init__(self, source_time_base: Fraction, rate: Fraction, lead: int = 0) -> None:
        self.source_time_base = Fraction(source_time_base)
        self.time_base = _fraction_gcd(self.source_time_base, 1 / Fraction(rate))
        self.per_tick = int(self.source_time_base / self.time_base)  # fine ticks a source tick
        self.step = int(1 / (Fraction(rate) * self.time_base))  # a frame, in fine ticks
        self._lead = lead
        self._zero = self._on_grid(lead)  # the packets' zero, snapped, in fine ticks
        self._last_dts: int | None = None

    @classmethod
    def for_source(
        cls, time_base: Fraction | None, rate: Fraction | None, lead: int = 0
    ) -> RateSnap | None:
        """The snap for a source at `rate` counted in `time_base` (its packets' zero `lead`
        ticks into the clip), or None where its times are exact already (25 fps in
        milliseconds; 24000/1001 in 1/90000) or the rate is not one of the 1000/1001
        family."""
        if not time_base or not rate:
            return None
        rate, time_base = Fraction(rate), Fraction(time_base)
        if rate.denominator != 1001 or (1 / (rate * time_base)).denominator == 1:
            return None
        snap = cls(time_base, rate, lead)
        return snap if snap.time_base.denominator <= _FINEST else None

    def _on_grid(self, ticks: int) -> int:
        """A time of the whole clip in source ticks, in fine ticks: on the grid where it
        rounds to it, else exactly."""
        fine = ticks * self.per_tick
        nearest = round(Fraction(fine, self.step)) * self.step
        return nearest if 2 * abs(nearest - fine) <= self.per_tick else fine

    def time(self, ticks: int) -> int:
        """A packet time in source ticks, in fine ticks: on the grid where it rounds to it."""
        return self._on_grid(ticks + self._lead) - self._zero

    def _exact(self, ticks: int) -> int:
        """A packet time in source ticks, in fine ticks, as given (from the snapped zero)."""
        return (ticks + self._lead) * self.per_tick - self._zero

    def packets(self, packets: list[av.Packet]) -> list[av.Packet]:
        """`packets` (in the source's time base) in the fine one, changed in place."""
        for packet in packets:
            pts, dts = packet.pts, packet.dts
            end = pts + packet.duration if pts is not None and packet.duration else None
            new_pts = None if pts is None else self.time(pts)
            new_dts = None if dts is None else self.time(dts)
            if new_dts is not None and self._last_dts is not None and new_dts <= self._last_dts:
                # Two times of a variable rate snapped onto one point: keep both exact.
                new_pts, new_dts = self._exact(pts), self._exact(dts)
            packet.pts, packet.dts = new_pts, new_dts
            if end is not None:
                packet.duration = max(1, self.time(end) - new_pts)
            packet.time_base = self.time_base
            if new_dts is not None:
                self._last_dts = new_dts
        return packets
