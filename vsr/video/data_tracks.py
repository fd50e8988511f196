"""Whether a source's data track (a GoPro's GPMF telemetry, a drone's KLV) survives a copy
into the output container.

libav's muxers differ, and their header alone does not tell: Matroska refuses every data
track, MP4 takes a GoPro 'gpmd' track but no KLV, and MOV takes any at the header yet
writes KLV as a track of no known codec and an ID3 track as a file that no longer opens.
So the copy is measured: a throw-away file in memory with the track and its first packet
(vsr.video.copy_trial), read back, must give a data track of the same codec with that
packet's bytes.
"""

from __future__ import annotations

import av

from vsr.video.copy_trial import trial_copy
from vsr.video.libav_log import libav_messages


def header_takes(stream: av.stream.DataStream, container_format: str) -> bool:
    """Whether a `container_format` muxer takes a copy of data `stream` without a packet,
    the first of the two tests: one it refuses so (Matroska any, MP4 a KLV) needs no
    packet looked for to try."""
    return trial_copy(stream, container_format, None) is not None


def data_copy_survives(
    stream: av.stream.DataStream, container_format: str, first: av.Packet | None
) -> bool:
    """Whether a stream copy of data `stream` (one of an open source's) into a
    `container_format` file reads back as the same codec, with `first` (its first
    packet, when it has one) unchanged."""
    payload = None if first is None else bytes(first)
    written = trial_copy(stream, container_format, first)
    if written is None:
        return False
    try:
        with libav_messages([]), av.open(written, "r", format=container_format) as back:
            tracks = [s for s in back.streams if s.type == "data"]
            if len(tracks) != 1 or tracks[0].name != stream.name:
                return False
            if payload is None:
                return True
            read = next((bytes(p) for p in back.demux(tracks[0]) if p.size), None)
            return read == payload
    except (av.error.FFmpegError, ValueError):
        return False
