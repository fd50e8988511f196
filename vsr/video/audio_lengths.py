"""Lengths for copied audio packets that came without one.

Some demuxers give audio packets no duration: libav's Matroska demuxer has none for ALAC,
whose frame length lives in its extradata, not in a parser. Matroska and WebM outputs
need none. MP4 and MOV do: a sample lasts as long as the step to the next one's time,
and the last sample as long as its packet's duration, which the edit list then spans. A
last packet of no length fell outside the edit list, and its sound was lost (0.4 s of
ALAC in .mkv: 19200 samples in 5 packets came out of an .mp4 as 16384 in 4).

Each packet without a length is held until the next packet of its stream, whose time
ends it: that is the source's own timing, and the step the muxer takes anyway. The last
one has no next packet; it gets the samples it decodes to, as a decoder gives them. The
codec's frame size is only a fallback: it is the most a packet holds, and the last packet
of a stream is usually shorter (ALAC's: 2816 samples of 4096).
"""

from __future__ import annotations

import math
from fractions import Fraction

import av


class AudioLengths:
    """Gives each audio packet without a duration one, keeping every stream's packets in
    their order; packets that have a duration pass as they are."""

    def __init__(self) -> None:
        self._held: dict[int, av.Packet] = {}  # per input stream, the packet awaiting its end
        self._steps: dict[int, int] = {}  # per input stream, the last length found

    def take(self, packet: av.Packet) -> list[av.Packet]:
        """The packets ready to mux now that `packet` came: the one held for its stream,
        ended by `packet`'s time, and `packet` itself unless it is held in turn."""
        index = packet.stream.index
        ready = []
        held = self._held.pop(index, None)
        if held is not None:
            self._end(held, packet.pts)
            ready.append(held)
        if packet.stream.type != "audio" or packet.duration or packet.pts is None:
            ready.append(packet)  # a length of its own, or no time to measure one from
        else:
            self._held[index] = packet
        return ready

    def rest(self) -> list[av.Packet]:
        """The packets still held, the last of their streams, each given its own length."""
        last = list(self._held.values())
        self._held.clear()
        for packet in last:
            self._end(packet, None)
        return last

    def _end(self, packet: av.Packet, next_pts: int | None) -> None:
        index = packet.stream.index
        if next_pts is not None and next_pts > packet.pts:
            packet.duration = next_pts - packet.pts
        else:
            length = _decoded_length(packet) or _frame_size_length(packet)
            length = length or self._steps.get(index)
            if length:
                packet.duration = length
        if packet.duration:
            self._steps[index] = packet.duration


def _in_time_base(samples: int, packet: av.Packet) -> int | None:
    """`samples` as a length in the packet's time base, rounded up so that the edit list
    spans every sample of it."""
    rate = packet.stream.codec_context.sample_rate
    if not samples or not rate or not packet.time_base:
        return None
    return math.ceil(Fraction(samples, rate) / packet.time_base)


def _decoded_length(packet: av.Packet) -> int | None:
    """The length of the samples `packet` decodes to, by the stream's own decoder (unused
    otherwise: the stream is copied), flushed so that a decoder's delay holds none back.
    None where it does not decode."""
    context = packet.stream.codec_context
    try:
        frames = [*context.decode(packet), *context.decode(None)]
    except (av.error.FFmpegError, ValueError):
        return None
    return _in_time_base(sum(frame.samples for frame in frames), packet)


def _frame_size_length(packet: av.Packet) -> int | None:
    """The length of a full frame of the codec, where the stream states one."""
    return _in_time_base(packet.stream.codec_context.frame_size or 0, packet)
