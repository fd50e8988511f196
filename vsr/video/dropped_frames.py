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
    each packet with data as the demuxer hands it over, in file (decode) order."""

    def __init__(self) -> None:
        self.count = 0
        self._last: int | None = None  # the latest tick a picture was handed over at

    def see(self, packet: av.Packet) -> None:
        tick = packet.dts if packet.dts is not None else packet.pts
        if tick is None:
            return
        if self._last is not None and tick > self._last + 1:
            self.count += tick - self._last - 1
        self._last = tick if self._last is None else max(self._last, tick)
