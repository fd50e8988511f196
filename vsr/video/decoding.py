"""The damage-tolerant decode loop that the reader and segment mode share.

A packet the decoder rejects is skipped rather than ending the run: a damaged source loses
those frames, and the callers count the loss from the packets they were shown. A
demuxing error (a truncated or damaged container) ends the stream like its end: the
decoder is flushed, so every frame read so far is still delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from fractions import Fraction

import av

log = logging.getLogger(__name__)

# How far before a frame to seek, in seconds, until the seek lands before it (or at it, for
# a segment's start); then (None) from the top. MPEG-TS lands on the keyframe after the one
# asked for: a segment one GOP long held "no decodable frame" (with B-frames), and a cut on
# a keyframe got no frame before it.
_SEEK_BACK_SECONDS = (0.0, 1.0, 4.0, 16.0, None)


def seek_targets(pts: int, time_base: Fraction) -> Iterator[int | None]:
    """Where to seek for the keyframe at or before `pts`, each further back than the last
    (_SEEK_BACK_SECONDS), and at last None: decode from the top. The caller stops at the
    first that lands where it wants."""
    for back in _SEEK_BACK_SECONDS:
        yield None if back is None else pts - round(Fraction(back) / time_base)


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
    decoder = _Decoder(container.name, stream)
    demuxer = container.demux(stream)
    while True:
        try:
            packet = next(demuxer)
        except StopIteration:
            break
        except av.error.FFmpegError as error:
            demux_failed(error.strerror or str(error))
            yield from decoder.drain(None)
            return
        if packet.size:
            if move is not None:
                move(packet)
            tally(packet)
            yield from decoder.decode(packet)
        else:  # the demuxer's closing empty packet, which flushes the decoder
            yield from decoder.drain(packet)
    yield from decoder.drain(None)


# How many packets past those a decoder may still hold are kept to reach back to a keyframe
# (FFV1's non-keyframes need the ones before them): ffmpeg's 12-frame FFV1 group and an
# image sequence's every frame are in reach; a long H.264 group is not, and its decoder
# conceals damage rather than failing a frame anyway.
_KEYFRAME_REACH = 32


class _Decoder:
    """The stream's decoder, which gets back the good frames a failed flush leaves in it.

    A frame-threaded decoder (PNG, FFV1 and other intra codecs, with thread_type AUTO)
    reports a damaged packet's error only when its frame's turn comes, which, for one of the
    last few packets, is during the flush. PyAV's decode then stops at the error (raising,
    or returning the frames before it), and the decoder, already draining, refuses the next
    flush: the good frames after the damaged one, still in the decoder, were lost with it.
    So the last packets the decoder may still hold are kept, back to a keyframe, and if a
    flush leaves some of them without a frame, they are decoded again from a reset decoder;
    the one that fails even so is the damaged one, and is left out.
    """

    def __init__(self, name: str, stream: av.video.stream.VideoStream) -> None:
        self._name = name
        self._stream = stream
        self._held: list[av.Packet] = []
        self._latest: int | None = None  # the latest time among the frames handed over
        self._untimed = False  # a frame without a time: what came out cannot be told

    def decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        self._held.append(packet)
        codec = self._stream.codec_context
        # The packets whose frames a decoder can hold back: one per further thread (delay,
        # once it is open), the reordering ones, and the one being decoded.
        in_flight = codec.delay + codec.has_b_frames + 1
        spare = len(self._held) - in_flight
        if spare > 0:
            keyframes = [i for i in range(spare + 1) if self._held[i].is_keyframe]
            del self._held[: keyframes[-1] if keyframes else max(0, spare - _KEYFRAME_REACH)]
        return self._handed(self._attempt(packet))

    def drain(self, flush: av.Packet | None) -> Iterator[av.VideoFrame]:
        """The frames left in the decoder, given `flush` (an empty packet, or None)."""
        yield from self._handed(self._attempt(flush))
        while (stuck := self._not_come_out()) and self._held[0].is_keyframe:
            self._stream.codec_context.flush_buffers()  # ends the draining that refused
            frames = [frame for packet in self._held for frame in self._attempt(packet)]
            yield from self._handed(frames + self._attempt(flush), again=True)
            left = self._not_come_out()
            if left and left[0] is stuck[0]:
                self._held.remove(stuck[0])  # rejected by a fresh decoder too: the damaged one
        self._held.clear()

    def _attempt(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        try:
            return self._stream.decode(packet)
        except av.error.FFmpegError as error:
            # A draining decoder refuses a second flush with EOF: not a damaged packet.
            if not isinstance(error, av.error.EOFError):
                log.debug("%s: undecodable packet: %s", self._name, error)
            return []

    def _not_come_out(self) -> list[av.Packet]:
        """The held packets later than every frame handed over: those a flush left."""
        if self._untimed:
            return []
        return [packet for packet in self._held if self._later(packet.pts)]

    def _later(self, pts: int | None) -> bool:
        return pts is not None and (self._latest is None or pts > self._latest)

    def _handed(self, frames: list[av.VideoFrame], again: bool = False) -> list[av.VideoFrame]:
        """`frames`, noting the latest time; decoded `again`, only those not yet handed
        over (a frame's time is its packet's, and these came after every frame shown)."""
        fresh = [frame for frame in frames if self._later(frame.pts)] if again else frames
        for frame in fresh:
            if frame.pts is None:
                self._untimed = True
            else:
                self._latest = frame.pts if self._latest is None else max(self._latest, frame.pts)
        return fresh
