"""Frame times of a 1000/1001 rate put back on their grid, for MP4 and MOV outputs.

Matroska counts in milliseconds (its usual TimecodeScale), and a 23.976 fps frame lasts
41.708 ms: ffmpeg and mkvmerge store the times rounded, so the steps run 42, 41, 42, 42 ...
MP4 and MOV keep every time exactly, and copied into one (in 1/16000, the muxer's choice)
those roundings became steps of 672 and 656 ticks: a variable frame rate, 23.9798 fps on
average, where the source states 24000/1001. Here the output counts in a time base that
holds both (1/24000 for 24000/1001: 1 ms is 24 ticks, a frame 1001), and each time within
half a millisecond of the grid, the source's rounding, goes back onto it. A time further
off (a real variable rate) stays where it was, exactly.

The grid's phase is the video's own: a recording whose picture starts 123.46 ms after its
sound (a TS remuxed into Matroska) has its frames at 123.46 + 33.37 k ms, none of them
within half a millisecond of a grid from zero, and came out stepping 1020 and 990 where
every step is 1001. The first frames' times, each rounded by at most half a tick, agree
only on the phases near the true one: the packets are held until a whole cycle of the
rounding has been seen (24 frames at 23.976 in milliseconds, 1001 ms), then every time is
snapped with the phase that most of them agree with. A cut moves every time back by its
first frame's rounded time, which moves that phase alike. The first frame's zero stays
zero where it lies on the grid: a clip from zero, a cut's first frame.

The rounding is the file's tick, which the delivered time base can be finer than (one
frame per field halves it, film quarters it): the times were rounded to the file's.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import av

# Time bases finer than this are not worth it (and hint at a rate that is no intended one).
_FINEST = 1_000_000
# The most packets held while the phase is learned (a cycle is 1001 ms of frames in
# milliseconds; 120 at 119.88 fps).
_MOST_HELD = 240


def _fraction_gcd(a: Fraction, b: Fraction) -> Fraction:
    """The largest time that both `a` and `b` are whole multiples of."""
    common = a.denominator * b.denominator // math.gcd(a.denominator, b.denominator)
    return Fraction(math.gcd(int(a * common), int(b * common)), common)


class RateSnap:
    """Rewrites packets from the source's time base into `time_base`, their times snapped
    to the frame grid of `rate` where they are the file's rounding of it (`rounding`: the
    tick the file stores them in, where the packets count in a finer one)."""

    def __init__(
        self, source_time_base: Fraction, rate: Fraction, rounding: Fraction | None = None
    ) -> None:
        self.source_time_base = Fraction(source_time_base)
        rate = Fraction(rate)
        rounding = Fraction(rounding or source_time_base)
        self.time_base = _fraction_gcd(self.source_time_base, 1 / rate)
        self.per_tick = int(self.source_time_base / self.time_base)  # fine ticks a source tick
        self.step = int(1 / (rate * self.time_base))  # a frame, in fine ticks
        self.reach = rounding / self.time_base / 2  # the file's rounding, in fine ticks
        # Frames after which the roundings repeat: the step in the file's ticks is a
        # fraction with this denominator.
        self._cycle = min((1 / (rate * rounding)).denominator, _MOST_HELD)
        self._heard: list[int] = []  # the times of the packets held, in fine ticks
        self._held: list[av.Packet] = []
        self._phase: int | None = None  # where the grid lies, in fine ticks mod step
        self._zero = 0  # the packets' zero, snapped, in fine ticks
        self._last_dts: int | None = None

    @classmethod
    def for_source(
        cls, time_base: Fraction | None, rate: Fraction | None, rounding: Fraction | None = None
    ) -> RateSnap | None:
        """The snap for a source at `rate` counted in `time_base` and stored in ticks of
        `rounding` (None: time_base), or None where its times are exact already (25 fps in
        milliseconds; 24000/1001 in 1/90000), the rate is not one of the 1000/1001 family,
        or the file's ticks are too coarse to tell one frame's time from the next."""
        if not time_base or not rate:
            return None
        rate, time_base = Fraction(rate), Fraction(time_base)
        if rate.denominator != 1001 or (1 / (rate * time_base)).denominator == 1:
            return None
        snap = cls(time_base, rate, rounding)
        if snap.time_base.denominator > _FINEST or 2 * snap.reach >= snap.step:
            return None
        return snap

    def _agrees(self, phase: int, fine: int) -> bool:
        """Whether a time in fine ticks is the file's rounding of the grid at `phase`."""
        apart = (fine - phase) % self.step
        return min(apart, self.step - apart) <= self.reach

    def _decide(self) -> None:
        self._phase = self._agreed_phase(sorted(self._heard))
        self._zero = self._on_grid(0)

    def _agreed_phase(self, heard: list[int]) -> int:
        """The phase that the most of the times `heard` (in order) agree with; a real
        irregularity agrees with none. Of several, the one that agrees with the longest run
        of the first times (a last field's guessed length can agree with another than the
        rest), then the one nearest the first time, which moves it least."""
        votes = Counter(
            near % self.step
            for fine in heard
            for near in range(math.ceil(fine - self.reach), math.floor(fine + self.reach) + 1)
        )
        if not votes:
            return 0
        most = max(votes.values())

        def preference(phase: int) -> tuple[int, int, int]:
            agreed = next(
                (i for i, fine in enumerate(heard) if not self._agrees(phase, fine)), len(heard)
            )
            apart = (phase - heard[0]) % self.step
            return -agreed, min(apart, self.step - apart), phase

        return min((phase for phase, n in votes.items() if n == most), key=preference)

    def _on_grid(self, ticks: int) -> int:
        """A time in source ticks, in fine ticks: on the grid where it rounds to it, else
        exactly."""
        fine = ticks * self.per_tick
        nearest = self._phase + round(Fraction(fine - self._phase, self.step)) * self.step
        return nearest if abs(nearest - fine) <= self.reach else fine

    def time(self, ticks: int) -> int:
        """A packet time in source ticks, in fine ticks: on the grid where it rounds to it.
        Known once the packets have been (see `packets`)."""
        if self._phase is None:
            raise RuntimeError("the grid's phase is learned from the packets, given first")
        return self._on_grid(ticks) - self._zero

    def _exact(self, ticks: int) -> int:
        """A packet time in source ticks, in fine ticks, as given (from the snapped zero)."""
        return ticks * self.per_tick - self._zero

    def packets(self, packets: list[av.Packet], last: bool = False) -> list[av.Packet]:
        """`packets` (in the source's time base) in the fine one, changed in place: none
        until a cycle of the rounding has been heard (or the `last` are given), then every
        one held so far."""
        if self._phase is None:
            self._heard += [p.pts * self.per_tick for p in packets if p.pts is not None]
            self._held.extend(packets)
            if len(self._heard) < self._cycle and not last:
                return []
            self._decide()
            packets, self._held = self._held, []
        for packet in packets:
            self._snap(packet)
        return packets

    def _snap(self, packet: av.Packet) -> None:
        pts, dts = packet.pts, packet.dts
        end = pts + packet.duration if pts is not None and packet.duration else None
        new_pts = None if pts is None else self.time(pts)
        new_dts = None if dts is None else self.time(dts)
        if new_dts is not None and self._last_dts is not None and new_dts <= self._last_dts:
            # Two times of a variable rate snapped onto one point: keep both exact.
            new_pts, new_dts = None if pts is None else self._exact(pts), self._exact(dts)
        packet.pts, packet.dts = new_pts, new_dts
        if end is not None:
            packet.duration = max(1, self.time(end) - new_pts)
        packet.time_base = self.time_base
        if new_dts is not None:
            self._last_dts = new_dts
