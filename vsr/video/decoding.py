"""The damage-tolerant decode loop that the reader and segment mode share.

A packet the decoder rejects is skipped rather than ending the run: a damaged source loses
those frames, and the callers count the loss from the packets they were shown. A
demuxing error (a truncated or damaged container) ends the stream like its end: the
decoder is flushed, so every frame read so far is still delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import av

log = logging.getLogger(__name__)


def decode_packets(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    tally: Callable[[av.Packet], None],
    demux_failed: Callable[[str], None] = lambda why: None,
    move: Callable[[av.Packet], None] | None = None,
) -> Iterator[av.VideoFrame]:
    """Every frame the decoder gives from where `container` stands, then its flush.
    `tally` sees each packet that holds data; `demux_failed` hears why demuxing stopped
    early, if it did; `move`, if given, changes each packet's times before it is decoded
    (vsr.video.clock_restarts)."""
    demuxer = container.demux(stream)
    while True:
        try:
            packet = next(demuxer)
        except StopIteration:
            break
        except av.error.FFmpegError as error:
            demux_failed(error.strerror or str(error))
            packet = None
        if packet is not None and packet.size:
            if move is not None:
                move(packet)
            tally(packet)
        try:
            decoded = stream.decode(packet)
        except av.error.FFmpegError as error:
            log.debug("%s: undecodable packet: %s", container.name, error)
            decoded = []
        yield from decoded
        if packet is None:
            return  # the decoder was flushed by the None packet
    try:
        yield from stream.decode(None)
    except av.error.FFmpegError:
        return
