"""The frames of a raw elementary stream that did not decode, within a cut of it.

A timed file's packets say by their times which of them a cut shows, and the reader counts
the frames lost among those. A raw stream's packets carry no times (vsr.video.raw_stream
stamps the decoded frames), so a cut or a resumed run of a damaged stream said nothing of
the frames it lost, where the whole run counted them. Each packet is numbered in decode
order instead, the decoder hands the number on to the frame it makes (copy_opaque, through
any reordering), and a number between the lowest and the highest of the kept frames' that
no frame carried is a frame lost inside the cut. A loss at its very edge cannot be told
from one just outside it, and is not counted.

The same numbers keep a lost frame's place in time (`gap_before`): frames are stamped in
the order they are delivered, and a packet that did not decode moved every later frame
one frame earlier, against the stream's own clock (and a cut, a resume or a timecode
counted from it). Where the decoder delivers frames in their packets' order, a number no
frame carried is a lost frame, and the frames after it start that much later.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import av


class PacketNumber(int):
    """A packet's number, a new object every time. PyAV keeps a packet's opaque object under
    its id() until the last frame holding it is freed, and then forgets whatever is kept
    under that id: the plain ints up to 256 are one object each, so a frame of an earlier
    decode freed late (by the garbage collector, during the next clip's or a resumed
    decode) took the numbers of this decode's frames with it. A clean .h264 cut with
    --start 5, six times in one process, said "1 frame(s) could not be decoded" once."""


class RawStreamLosses:
    """Numbers the packets of one decode from the top, and counts the lost ones among the
    frames kept."""

    def __init__(
        self,
        stream: av.video.stream.VideoStream,
        length: Callable[[av.Packet], Fraction] | None = None,
    ) -> None:
        """`length`: how many frames of the stream's rate a packet's picture is shown for
        (RawTiming.packet_frames), where lost frames are to keep their place."""
        # Set before the first packet opens the decoder: then it copies packet.opaque.
        stream.codec_context.flags |= av.codec.context.Flags.copy_opaque
        self._codec = stream.codec_context
        self._packets = 0
        self._decoded: set[int] = set()
        self._low: int | None = None  # the lowest and the highest number kept
        self._high: int | None = None
        self._length = length
        self._lengths: list[Fraction] = []  # each packet's, by its number
        self._previous: int | None = None  # the number of the frame delivered before

    def number(self, packet: av.Packet) -> None:
        """Give `packet` its number in decode order, before it is decoded."""
        packet.opaque = PacketNumber(self._packets)
        self._packets += 1
        if self._length is not None:
            self._lengths.append(self._length(packet))

    def gap_before(self, frame: av.VideoFrame) -> Fraction:
        """How many frames of the stream's rate were lost just before `frame`: the packets
        numbered between the frame delivered before it and this one's, that no frame came
        from (the other field of a field-coded picture aside).

        Only while the decoder delivers frames as it decodes them (it holds none back to
        reorder, `has_b_frames` 0: intra-only and I/P H.264 and HEVC; libavcodec's MPEG-2
        decoder holds one back even then): then a number skipped is a frame lost there. One that
        reorders delivers a B-frame stream's pictures out of their numbers' order, and a
        lost one's place among them cannot be told: its frames are timed as delivered, as
        before. Packets before the first frame delivered are not counted either: a stream
        may open with pictures that need an earlier one (an open GOP's, a cut capture's),
        dropped, not lost inside it."""
        number = frame.opaque
        if self._length is None or not isinstance(number, int) or number >= len(self._lengths):
            return Fraction(0)
        if self._codec.has_b_frames:
            self._length = None  # from here on, frames may come out of their numbers' order
            return Fraction(0)
        previous, self._previous = self._previous, number
        if previous is None or number <= previous:
            return Fraction(0)
        # A field's picture (half a frame long) came with its other field, the next packet.
        after = previous + (2 if self._lengths[previous] < 1 else 1)
        return sum(self._lengths[after:number], Fraction(0))

    def decoded(self, frame: av.VideoFrame) -> None:
        """Note a decoded frame, kept or not."""
        if isinstance(frame.opaque, int):
            self._decoded.add(frame.opaque)

    def kept(self, frame: av.VideoFrame) -> None:
        """Note a frame the cut keeps."""
        number = frame.opaque
        if isinstance(number, int):
            self._low = number if self._low is None else min(self._low, number)
            self._high = number if self._high is None else max(self._high, number)

    def lost(self) -> int:
        """How many packets within the kept frames' span gave no frame."""
        if self._low is None or self._high is None:
            return 0
        span = range(self._low, self._high + 1)
        return sum(1 for number in span if number not in self._decoded)
