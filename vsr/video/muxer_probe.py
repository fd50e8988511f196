"""What an output container keeps of a track's tags and flags, measured: a throw-away file
in memory, written by the container's muxer and read back.

Muxers drop what they have no place for without a word (MOV every track flag, MP4 a
language spelled "en"), and what they keep changes with the libav version, so it is
measured rather than listed (vsr.video.track_flags, vsr.video.track_language). Tracks
carry one bare packet each: no encoder is needed for text, and nothing is decoded.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from fractions import Fraction
from typing import TypeVar

import av

T = TypeVar("T")

# A text track each container takes, with a packet it takes as it is.
TEXT_PACKETS = {"mov_text": b"\x00\x02hi", "subrip": b"hi", "webvtt": b"hi"}


def text_codec(probe: av.container.OutputContainer) -> str | None:
    """The first codec of TEXT_PACKETS that `probe`'s container takes; None for none."""
    return next((codec for codec in TEXT_PACKETS if codec in probe.supported_codecs), None)


def read_back(
    container_format: str,
    add_tracks: Callable[[av.container.OutputContainer], list[tuple[av.stream.Stream, bytes]]],
    track_type: str,
    measure: Callable[[list[av.stream.Stream]], T],
) -> T | None:
    """`measure` of the `track_type` tracks read back from a `container_format` file that
    `add_tracks` gave its tracks (each with the packet it carries, and the tags or flags
    to measure set). None where nothing can be measured: no track added (the container
    takes none of the probe's codecs), or the muxer refused the file."""
    try:
        written = io.BytesIO()
        with av.open(written, "w", format=container_format) as probe:
            tracks = add_tracks(probe)
            if not tracks:
                return None
            probe.start_encoding()
            for track, data in tracks:
                packet = av.Packet(data)
                packet.stream, packet.time_base = track, Fraction(1, 1000)
                packet.pts = packet.dts = 0
                packet.duration = 40
                probe.mux(packet)
        written.seek(0)
        with av.open(written, format=container_format) as reader:
            return measure([stream for stream in reader.streams if stream.type == track_type])
    except (av.error.FFmpegError, ValueError, KeyError, IndexError, StopIteration):
        return None
