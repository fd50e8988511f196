"""libavfilter graphs over decoded frames, as the deinterlacer and inverse telecine build
them: a source that declares the frames' colour, and the frames a push finished.

The source declares the frames' matrix and range: libavfilter converts a packed or
semi-planar frame (NV12, P010, YUYV) to a planar one for a filter that takes planar
formats only, and back, and on undeclared frames it took their colour for BT.601 limited
range and converted them (full-range BT.709 came back up to 22 codes off, untagged).
"""

from __future__ import annotations

from fractions import Fraction

import av

# What a graph is made for: width, height, pixel format, matrix and range codes. A frame
# of another kind (a broadcast's change of programme) needs a graph of its own.
FrameKind = tuple[int, int, str, int, int]


def frame_kind(frame: av.VideoFrame) -> FrameKind:
    return frame.width, frame.height, frame.format.name, frame.colorspace, frame.color_range


def colour_declaring_source(
    graph: av.filter.Graph, frame: av.VideoFrame, rate: Fraction | None = None
) -> av.filter.Filter:
    """A buffer source in `graph` for frames of `frame`'s kind, their colour declared (see
    the module); `rate`, the frame rate, for filters that read it (decimate)."""
    width, height, pix_fmt, matrix, colour_range = frame_kind(frame)
    time_base = frame.time_base or Fraction(1, 90000)
    rate_option = "" if rate is None else f":frame_rate={rate}"
    return graph.add(
        "buffer",
        f"video_size={width}x{height}:pix_fmt={pix_fmt}:time_base={time_base}:"
        f"pixel_aspect=1/1:colorspace={matrix}:range={colour_range}{rate_option}",
    )


def finished_frames(graph: av.filter.Graph) -> list[av.VideoFrame]:
    """Every frame the graph has finished since the last push."""
    finished = []
    while True:
        try:
            finished.append(graph.pull())
        except (av.error.BlockingIOError, av.error.EOFError):
            return finished
