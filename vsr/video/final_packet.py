"""Matroska and WebM: the source's last frame keeps its own length.

Encoders give their packets no duration, so a muxer ends the video one average frame after
the last frame starts. A slide show's last slide, or a GIF's last frame, often stays up far
longer (or shorter) than the average: its 5 s came out as 1 s. A Matroska stream ends at the
latest pts + duration of its packets, so `FinalPacketHold` keeps the newest packet back and,
when the stream ends, gives it the duration that ends the stream where the source's last
frame ends. MP4 and MOV sum decode steps instead (vsr.video.mov_timing.LastPacketHold).
"""

from __future__ import annotations

import av


class FinalPacketHold:
    """Pass video packets on to the muxer one behind; lengthen the last one at the end.

    `pass_on(packets)` returns the packets to mux now; `last(stream, end)` returns the held
    one (a list, as LastPacketHold's), with a duration that reaches `end` (a pts in the
    packets' time base) if it fell short. Packets come in decode order."""

    def __init__(self) -> None:
        self._held: av.Packet | None = None

    def pass_on(self, packets: list[av.Packet]) -> list[av.Packet]:
        ready = []
        for packet in packets:
            if self._held is not None:
                ready.append(self._held)
            self._held = packet
        return ready

    def last(self, stream: av.video.stream.VideoStream, end: int | None = None) -> list[av.Packet]:
        held, self._held = self._held, None
        if held is None:
            return []
        if end is not None and held.pts is not None:
            # In decode order the last packet may be a B-frame shown before the final
            # picture; its duration still decides where the stream ends.
            held.duration = max(held.duration or 0, end - held.pts)
        return [held]
