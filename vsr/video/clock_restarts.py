"""Files whose clock starts over mid-way, made to run on.

MPEG-TS recordings joined end to end (`cat a.ts b.ts`, DVR and HLS dumps) carry each
part's own times: where the parts meet, the clock jumps back. libav hands the times over
as they are; the encoder would squash the second part into nothing and the muxer refuse
the audio. So, before anything is decoded, the file's packets are read once (no decoding)
to find where each part begins in the file, and how far its times must move to follow the
part before it. The video reader and the copier of the other streams then move every
packet by the offset of the part it lies in, found by its byte position: all streams move
alike and stay in sync, as ffmpeg keeps them. A time of the video or a sound that goes back
by more than a tenth of a second (ffmpeg's threshold too) starts a new part; smaller steps
back are a muxer's jitter and left alone. Subtitles and data (SCTE-35 cues stamp ahead)
only move with the part they lie in.

Only formats whose clock may restart (libav's ts_discont: MPEG-TS, MPEG-PS) are read for
this; in the others a time going back is the file's own business.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vsr.video.media_url import open_source

RESTART_SECONDS = Fraction(1, 10)


def clock_may_restart(container: av.container.InputContainer) -> bool:
    return bool(container.format.flags & av.format.Flags.ts_discont.value)


@dataclass(frozen=True)
class ClockRestarts:
    """Where a file's clock starts over: from each byte position on, its times move on by
    so many seconds (rising positions; the first part, before them, stays)."""

    positions: tuple[int, ...]
    offsets: tuple[Fraction, ...]

    def describe(self) -> str:
        count = len(self.positions)
        times = "once" if count == 1 else f"{count} times"
        return (
            f"the clock starts over {times}, as where recordings were joined: each part is "
            "placed after the one before"
        )

    def refuse(self, what: str) -> str:
        """The error for work that seeks on the file's clock (ranges, resumes, segments)."""
        return (
            f"its clock starts over (recordings joined?), so {what} cannot be used: join "
            "them into one first, e.g. ffmpeg -i in.ts -c copy out.mkv"
        )

    def offset_at(self, position: int) -> Fraction:
        """How far the times of the packet at this byte position move."""
        part = bisect.bisect_right(self.positions, position)
        return self.offsets[part - 1] if part else Fraction(0)

    def mover(self) -> Callable[[av.Packet], None]:
        """A function that moves each packet (in file order) by its part's offset; a packet
        without a position keeps its stream's last offset."""
        last: dict[int, Fraction] = {}

        def move(packet: av.Packet) -> None:
            index = packet.stream.index
            if packet.pos is not None and packet.pos >= 0:
                last[index] = self.offset_at(packet.pos)
            offset = last.get(index, Fraction(0))
            if not offset or packet.time_base is None:
                return
            ticks = round(offset / packet.time_base)
            if packet.pts is not None:
                packet.pts += ticks
            if packet.dts is not None:
                packet.dts += ticks

        return move


def find_clock_restarts(path: Path) -> ClockRestarts | None:
    """Where the clock of the file at `path`, of a format whose clock may restart
    (clock_may_restart), starts over; None where it runs on throughout. Each part then
    follows where the one before ends."""
    with open_source(path) as container:
        positions: list[int] = []
        packets: list[tuple[int, Fraction, Fraction]] = []  # position, shown, ends (raw)
        latest: dict[int, tuple[Fraction, int]] = {}  # each stream's last decode time, and
        # where in the file that packet lay
        step: dict[int, Fraction] = {}  # each stream's last rise: a length for a packet without
        try:
            for packet in container.demux():
                if packet.stream.type not in ("video", "audio"):
                    continue  # sparse streams (subtitles, SCTE-35 cues) may stamp ahead
                stamp = packet.dts if packet.dts is not None else packet.pts
                if stamp is None or packet.time_base is None or not packet.size:
                    continue
                if packet.pos is None or packet.pos < 0:
                    continue  # not to be placed in a part
                index, raw = packet.stream.index, stamp * packet.time_base
                previous, previous_at = latest.get(index, (None, -1))
                if previous is not None and raw < previous - RESTART_SECONDS:
                    _add_restart(positions, packet.pos, previous_at)
                elif previous is not None and raw > previous:
                    step[index] = raw - previous
                latest[index] = (raw, packet.pos)
                shown = (packet.pts if packet.pts is not None else stamp) * packet.time_base
                length = (packet.duration or 0) * packet.time_base or step.get(index, 0)
                packets.append((packet.pos, shown, shown + length))
        except av.error.FFmpegError:
            pass  # a truncated file: what could be read
    if not positions:
        return None
    return ClockRestarts(tuple(positions), _offsets(positions, packets))


def _add_restart(positions: list[int], position: int, stream_was_at: int) -> None:
    """Note a restart that a stream's packet at `position` shows, whose last packet before
    it lay at `stream_was_at`. Every stream tells of the same join at its own first packet
    after it: a stream that had no packet of the last restart's part yet tells of that one,
    and the part begins at the earlier of the two places (the demuxer may hand over a
    packet that began earlier in the file, a long video frame, after the first one of
    another stream)."""
    if positions and stream_was_at < positions[-1]:
        positions[-1] = min(positions[-1], position)
    else:
        positions.append(position)


def _offsets(
    positions: list[int], packets: list[tuple[int, Fraction, Fraction]]
) -> tuple[Fraction, ...]:
    """How far each part after the first moves: its first picture or sound comes where the
    part before it ends (all of its streams, moved)."""
    parts = len(positions) + 1
    starts: list[Fraction | None] = [None] * parts
    ends: list[Fraction | None] = [None] * parts
    for position, start, end in packets:
        part = bisect.bisect_right(positions, position)
        starts[part] = start if starts[part] is None else min(starts[part], start)
        ends[part] = end if ends[part] is None else max(ends[part], end)
    offsets, offset = [], Fraction(0)
    for part in range(1, parts):
        if ends[part - 1] is not None and starts[part] is not None:
            offset += ends[part - 1] - starts[part]
        offsets.append(offset)
    return tuple(offsets)
