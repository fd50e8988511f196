"""The frames an AVI capture dropped, told from the gaps in its packets' times.

A capture that drops a frame (VirtualDub, ffmpeg's AVI muxer) writes an empty chunk in its
place: the index, and the frame count in the header, count it, and a player shows the
picture before it for that long. libav's demuxer hands no picture over for such a chunk,
but it still steps the clock: every chunk is one tick of the video's time base, so the next
picture comes a tick late. The reader takes the header's count as the frames the file
promises, and these slots are no part of it.
"""

from __future__ import annotations

import av


class DroppedFrameSlots:
    """Counts the ticks of an AVI's video clock that no picture was handed over for, from
    each packet with data as the demuxer hands it over, in file (decode) order.

    The empty chunks after the last picture count too: a muxer fed times on a finer clock
    than the frame rate (1/1000, as remuxed VFR is) writes one picture then empty chunks up
    to the next, the last picture's included, and the demuxer gives that picture the whole
    span as its duration. Without them 40 pictures 40 ticks apart, 1600 chunks, read as 39
    frames lost to damage."""

    def __init__(self) -> None:
        self._between = 0  # empty ticks between pictures
        self._last: int | None = None  # the latest tick a picture was handed over at
        self._last_duration = 1  # in ticks, of the picture at that latest tick

    @property
    def count(self) -> int:
        return self._between + self._last_duration - 1

    def see(self, packet: av.Packet) -> None:
        tick = packet.dts if packet.dts is not None else packet.pts
        if tick is None:
            return
        if self._last is not None and tick > self._last + 1:
            self._between += tick - self._last - 1
        if self._last is None or tick >= self._last:
            self._last = tick
            self._last_duration = max(packet.duration or 1, 1)
