"""A video stream's frame rate as its file gives it, read alike by the reader (progress,
the output's rate), the remuxer (a timecode moved with a cut) and segment mode (each
segment's stated rate)."""

from __future__ import annotations

from fractions import Fraction

import av


def file_frame_rate(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Fraction | None:
    """The container's average rate, else libav's guess; None when neither is known."""
    if container.format.name == "dv":
        # libavformat's DV demuxer states its time base turned over, 60000 fps, for the
        # average: a Matroska output declared that rate, progress expected 2000 times the
        # frames there are, and a cut's timecode moved by 2400 frames a 0.12 s cut. The
        # codec reads the DIF headers' own (25, 29.97).
        return stream.codec_context.framerate or stream.guessed_rate
    return stream.average_rate or stream.guessed_rate
