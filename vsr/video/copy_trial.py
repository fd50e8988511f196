"""A stream copy tried in a throw-away file in memory before the real output takes it.

A muxer's codec list is not the whole story: MOV refuses Opus at its header, MP4 refuses
PCM without a channel order at its trailer, Matroska every data track. So the copy is
written: the header, the stream's first packet where there is one, the trailer. Audio,
cover pictures (vsr.video.remux) and data tracks (vsr.video.data_tracks) are tried so.
"""

from __future__ import annotations

import contextlib
import io

import av

from vsr.video.libav_log import libav_messages


def trial_copy(
    stream: av.stream.Stream, container_format: str, first: av.Packet | None
) -> io.BytesIO | None:
    """The file a `container_format` muxer writes of a copy of `stream` (one of an open
    source's), with `first`, its first packet, when given; None where the muxer refuses
    it at its header, the packet or its trailer."""
    memory = io.BytesIO()
    probe = av.open(memory, "w", format=container_format)
    try:
        with libav_messages([]):  # a refusal is the answer, not news for the terminal
            copy = probe.add_stream_from_template(stream)
            probe.start_encoding()
            if first is not None:
                first.stream = copy
                probe.mux(first)
            probe.close()
    except (av.error.FFmpegError, ValueError):
        with contextlib.suppress(av.error.FFmpegError, ValueError), libav_messages([]):
            probe.close()  # refused: the probe is done with anyway
        return None
    memory.seek(0)
    return memory
