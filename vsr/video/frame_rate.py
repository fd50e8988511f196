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
    if avi_chunks_are_clock_ticks(container, stream):
        return stream.guessed_rate
    return stream.average_rate or stream.guessed_rate


def avi_chunks_are_clock_ticks(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> bool:
    """Whether an AVI's rate is a fine clock's rather than its pictures': a muxer given times
    on a 1/1000 clock (remuxed VFR) states 1000 fps and writes an empty chunk for every tick
    between two pictures, so its header counts ticks, not frames. libav's guess, from the
    pictures' own times, is then the lower rate: 25 fps was declared 1000 fps in the output,
    and progress expected 1600 frames of 40."""
    if container.format.name != "avi" or not stream.average_rate or not stream.guessed_rate:
        return False
    return stream.average_rate == 1 / stream.time_base and stream.guessed_rate < stream.average_rate
