"""How long a raw elementary stream (.h264, .m2v ...) is, for the progress bar's total.

Such a stream states no length and no frame count: a two-hour capture showed no total, no
share done and no time left. Its demuxer's parser cuts it into one packet a picture
without decoding anything, so the packets are counted, each as long as the fields it is
shown for (vsr.video.raw_stream.RawTiming.packet_frames). Measured here on 300 frames of
640x360 (40 MB of H.264, 25 MB of MPEG-2): 0.03 s, about 1.1 GB/s from the page cache,
and 2 us a packet; a file on a disk is read at the disk's speed, once more than the
decode reads it. A two-hour capture at 10 Mbit/s (9 GB, 216,000 frames) costs seconds
against the hours of its upscaling.

It is an estimate, not a promise: a packet that does not decode counts, and one cut short
by a truncated file does not. The reader gives it as the clip's length, so progress shows
it as about so many frames ("of ~N"), never as the count a file that is short of it
breaks.

It is counted only when something asks for it (progress's total, compile="auto"'s
decision, a cut's share of it), once a reader: counted at every opening, it read a 9 GB
capture whole for an API run with no progress and no compiling, about a minute from a disk.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import av

from vsr.video.raw_stream import RawTiming


def raw_stream_seconds(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    timing: RawTiming,
) -> float | None:
    """The seconds the frames of `stream` are shown for as `timing` times them, from a
    demuxing pass through `container`, opened for this alone; None where no packet could
    be read."""
    shown = Fraction(0)  # frames of timing.rate
    try:
        for packet in container.demux(stream):
            if packet.size:  # not the demuxer's flush
                shown += timing.packet_frames(packet)
    except av.error.FFmpegError:
        pass  # damaged further on: the frames up to there, as the decode will find them
    return float(shown / timing.rate) if shown else None


class CountedLength:
    """Seconds that `count` gives the first time they are asked for, and kept: the demuxing
    pass of raw_stream_seconds runs for the runs that use its answer, and once for every
    description of the clip that shares this (per field, as film)."""

    def __init__(self, count: Callable[[], float | None]) -> None:
        self._count: Callable[[], float | None] | None = count
        self._seconds: float | None = None

    def __call__(self) -> float | None:
        if self._count is not None:
            self._seconds, self._count = self._count(), None  # the file is not read again
        return self._seconds
