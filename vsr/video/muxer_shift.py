"""How much later a Matroska or WebM file stores every stream than it was handed over.

Those formats hold no time before zero, so libav's muxer (its avoid_negative_ts, decided as
the first packets go out) moves every stream later by as much as the earliest packet lies
before zero: from an MP4 with AAC sound, whose priming its edit list keeps before zero, about
21 ms. It moves the packets only; chapters, stored apart from them, kept their times and
opened on the frame before the one they marked. The shift is learnt by watching every packet
handed to the muxer, so that what has times of its own can be moved alike. MP4 and MOV keep
such a start with an edit list, and move nothing. A track's own priming, which Matroska
stores as its CodecDelay, the muxer keeps before zero without moving anything.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import av

# The containers vsr writes whose muxer moves every stream so that none starts before zero.
_MOVED_TO_ZERO = frozenset({"matroska", "webm"})


def _kept_before_zero(stream: av.stream.Stream) -> Fraction:
    """How far before zero (seconds) the muxer keeps `stream`'s packets without moving any
    stream: an audio stream's priming (libav's initial_padding: Opus's pre-skip, AAC's
    1024 samples, AC-3's 256 ...), which Matroska stores as the track's CodecDelay
    (libav's lowest_ts_allowed), in the stream's time base rounded as libav rounds it."""
    context = stream.codec_context
    if context is None or context.type != "audio" or not context.sample_rate:
        return Fraction(0)
    padding = _encoder_priming(context) if context.is_encoder else context.delay
    ticks = math.floor(Fraction(padding, context.sample_rate) / stream.time_base + Fraction(1, 2))
    return ticks * stream.time_base


def _encoder_priming(context: av.audio.codeccontext.AudioCodecContext) -> int:
    """The samples of priming `context`'s encoder puts before the sound, measured: how far
    before a frame at zero its first packet starts. libav gives a copied stream's priming
    as its context's delay (a Matroska source's CodecDelay, none from an MP4's edit list),
    but leaves an encoder's delay at 0."""
    return _priming(context.name, context.sample_rate, context.layout.name, context.format.name)


@functools.cache
def _priming(codec: str, rate: int, layout: str, sample_format: str) -> int:
    encoder = av.CodecContext.create(codec, "w")
    encoder.sample_rate, encoder.layout, encoder.format = rate, layout, sample_format
    encoder.time_base = Fraction(1, rate)
    try:
        encoder.open()
        silence = av.AudioFrame(sample_format, layout, encoder.frame_size or 1024)
        for plane in silence.planes:
            plane.update(bytes(plane.buffer_size))
        silence.sample_rate, silence.pts = rate, 0
        packets = [*encoder.encode(silence), *encoder.encode(None)]
    except (av.error.FFmpegError, ValueError):
        return 0  # not measurable: taken as unprimed, as before this was measured
    starts = [packet.pts for packet in packets if packet.pts is not None]
    return max(0, -min(starts, default=0))


class MuxerShift:
    """Hands packets to `output`'s muxer, and says how much later it stores them."""

    def __init__(self, output: av.container.OutputContainer) -> None:
        self._output = output
        self.moves_streams = output.format.name in _MOVED_TO_ZERO
        # Seconds: how far the earliest packet lies before what the muxer keeps of its stream.
        self._earliest = Fraction(0)
        self._kept_before_zero: dict[int, Fraction] = {}  # by the output stream's index

    def mux(self, packets: av.Packet | list[av.Packet]) -> None:
        """Mux `packets` (of streams of `output`), noting the earliest time among them."""
        self._output.mux(packets)
        if not self.moves_streams:
            return
        for packet in [packets] if isinstance(packets, av.Packet) else packets:
            # Muxed, a packet's time is in its stream's time base, rounded as it is stored,
            # which is what the muxer compares (pts: Matroska's blocks store that).
            if packet.pts is None or packet.time_base is None:
                continue
            index = packet.stream_index  # a packet made anew (captions) has no stream, only it
            if index not in self._kept_before_zero:
                self._kept_before_zero[index] = _kept_before_zero(self._output.streams[index])
            at = packet.pts * packet.time_base + self._kept_before_zero[index]
            self._earliest = min(self._earliest, at)

    def of(self, stream: av.stream.Stream) -> Fraction:
        """How much later (seconds) `stream` of `output` is stored than it was handed over:
        as far as the earliest packet lay before zero, rounded up to the stream's time base
        as libav rounds it. Known once every packet is muxed."""
        ticks = math.ceil(-self._earliest / stream.time_base)
        return ticks * stream.time_base
