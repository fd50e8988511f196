"""Matroska and WebM: the source's last frame keeps its own length.

Encoders give their packets no duration, so a muxer ends the video one average frame after
the last frame starts. A slide show's last slide, or a GIF's last frame, often stays up far
longer (or shorter) than the average: its 5 s came out as 1 s. A Matroska stream ends at the
latest pts + duration of its packets, so `FinalPacketHold` keeps back the packet shown last
and, when the stream ends, gives it the duration that ends the stream where the source's
last frame ends. With B-frames that packet is not the last in decode order (I0 P2 B1), so
the few packets after it are held back too: lengthening the B-frame instead ended the
stream on time but told a reader that the last slide lasted one frame. MP4 and MOV sum
decode steps as well (vsr.video.mov_timing.LastPacketHold builds on this class).
"""

from __future__ import annotations

import av


class FinalPacketHold:
    """Pass video packets on to the muxer a few behind; give the last shown its length.

    `pass_on(packets)` returns the packets to mux now; `last(stream, end)` returns those
    held back, in decode order, the one shown last with a duration that reaches `end` (a
    pts in the packets' time base). Packets come in decode order.
    """

    def __init__(self, frame_step: int) -> None:
        # The packet shown last so far and those after it in decode order (B-frames shown
        # before it): no more than the encoder's reorder delay + 1.
        self._held: list[av.Packet] = []
        self._latest_pts: int | None = None
        # One average frame in the packets' time base: what a muxer gives a packet the
        # encoder left without a duration.
        self._frame_step = frame_step

    def pass_on(self, packets: list[av.Packet]) -> list[av.Packet]:
        """The packets to mux now: all but the packet shown last and those after it."""
        ready = []
        for packet in packets:
            if not self._timed(packet):
                # Nothing to reason about (the muxer stamps it), but in its decode order.
                (self._held if self._held else ready).append(packet)
                continue
            self._saw(packet)
            if self._latest_pts is None or packet.pts > self._latest_pts:
                self._latest_pts = packet.pts
                ready += self._shown_until(self._held, packet.pts)
                self._held = []
            self._held.append(packet)
        return ready

    def _timed(self, packet: av.Packet) -> bool:
        return packet.pts is not None

    def _saw(self, packet: av.Packet) -> None:
        """What a subclass notes of each timed packet, in decode order."""

    def last(self, stream: av.video.stream.VideoStream, end: int | None = None) -> list[av.Packet]:
        """The held packets; the one shown last ends at `end`, where the source gives its
        last frame a length of its own (else as the encoder made it)."""
        held, self._held = self._held, []
        if held and end is not None and end > held[0].pts:
            held[0].duration = end - held[0].pts
        return held[:1] + self._shown_until(held[1:], held[0].pts) if held else held

    def _shown_until(self, packets: list[av.Packet], later: int) -> list[av.Packet]:
        """`packets`, each lasting no longer than until `later`, the pts of a picture shown
        after all of them. A packet without a duration gets one average frame from the
        muxer, and the stream ends at the latest pts + duration: where frames come faster
        than that at the end, a variable-rate clip came out 36 ms longer than its source.
        A packet that ends in time keeps what it has, so steady frames are as before."""
        for packet in packets:
            if self._timed(packet) and packet.pts + (packet.duration or self._frame_step) > later:
                packet.duration = later - packet.pts
        return packets
