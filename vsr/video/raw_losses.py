"""The frames of a raw elementary stream that did not decode, within a cut of it.

A timed file's packets say by their times which of them a cut shows, and the reader counts
the frames lost among those. A raw stream's packets carry no times (vsr.video.raw_stream
stamps the decoded frames), so a cut or a resumed run of a damaged stream said nothing of
the frames it lost, where the whole run counted them. Each packet is numbered in decode
order instead, the decoder hands the number on to the frame it makes (copy_opaque, through
any reordering), and a number between the lowest and the highest of the kept frames' that
no frame carried is a frame lost inside the cut. A loss at its very edge cannot be told
from one just outside it, and is not counted.
"""

from __future__ import annotations

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

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        # Set before the first packet opens the decoder: then it copies packet.opaque.
        stream.codec_context.flags |= av.codec.context.Flags.copy_opaque
        self._packets = 0
        self._decoded: set[int] = set()
        self._low: int | None = None  # the lowest and the highest number kept
        self._high: int | None = None

    def number(self, packet: av.Packet) -> None:
        """Give `packet` its number in decode order, before it is decoded."""
        packet.opaque = PacketNumber(self._packets)
        self._packets += 1

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
