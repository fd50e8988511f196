"""Streams whose clock starts over mid-file, made to run on.

MPEG-TS recordings joined end to end (`cat a.ts b.ts`, DVR and HLS dumps) carry each
part's own times: where the parts meet, every stream's clock jumps back. libav hands the
times over as they are; the encoder would squash the second part into nothing and the
muxer refuse the audio. Each stream is made to run on by itself: a time earlier than the
one before it starts a new part, which is moved to follow where the last part ended.
(ffmpeg moves every stream by the first one's jump; following each stream's own end keeps
them within a packet of each other as well, and needs no shared state between the video
reader and the copier of the other streams.)

Only formats whose clock may restart (libav's ts_discont: MPEG-TS, MPEG-PS) get this: in
others a time going back is the file's own business.
"""

from __future__ import annotations

from collections.abc import Iterator

import av


def clock_may_restart(container: av.container.InputContainer) -> bool:
    return bool(container.format.flags & av.format.Flags.ts_discont.value)


def restart_note(label: str, restarts: int) -> str:
    """What the notes say of a stream (`label`) whose clock started over."""
    times = "once" if restarts == 1 else f"{restarts} times"
    return (
        f"{label}: its clock starts over {times}, as where recordings were joined: each "
        "part is placed after the one before"
    )


class RunningClock:
    """One stream's times, moved on past each restart. Feed them in the order in which
    they must rise (frames: presentation order; packets: decode order)."""

    def __init__(self) -> None:
        self.offset = 0  # added to the file's times since the last restart
        self.restarts = 0
        self._previous: int | None = None
        self._end: int | None = None  # where the latest time's frame or packet ends
        self._step = 0  # the last rise, for a length the file does not give

    def __call__(self, stamp: int, duration: int | None) -> int:
        """`stamp` on the running clock."""
        moved = stamp + self.offset
        if self._previous is not None and self._end is not None and moved < self._previous:
            self.offset += self._end - moved
            moved = self._end
            self.restarts += 1
        if self._previous is not None and moved > self._previous:
            self._step = moved - self._previous
        self._previous = moved
        ends = moved + (duration or self._step)
        self._end = ends if self._end is None else max(self._end, ends)
        return moved


def frames_on_a_running_clock(
    frames: Iterator[av.VideoFrame], clock: RunningClock
) -> Iterator[av.VideoFrame]:
    """Decoded frames (presentation order) with their pts on `clock`."""
    for frame in frames:
        if frame.pts is not None:
            frame.pts = clock(frame.pts, frame.duration)
        yield frame


def packets_on_running_clocks(
    packets: Iterator[av.Packet], clocks: dict[int, RunningClock]
) -> Iterator[av.Packet]:
    """Demuxed packets with their times on their stream's clock (made on first sight)."""
    for packet in packets:
        stamp = packet.dts if packet.dts is not None else packet.pts
        if stamp is not None and packet.size:
            clock = clocks.setdefault(packet.stream.index, RunningClock())
            offset = clock(stamp, packet.duration) - stamp
            if packet.pts is not None:
                packet.pts += offset
            if packet.dts is not None:
                packet.dts += offset
        yield packet
