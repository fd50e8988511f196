"""Where a video's subsampled chroma samples sit on its luma grid: its chroma siting.

FFmpeg's names (AVChromaLocation): "left" is MPEG-2's, H.264's and HEVC's default (on the
even luma columns, half-way between two rows), "center" JPEG's and MPEG-1's (half-way both
ways), "topleft" BT.2020's and UHD broadcast's (on the even columns and rows), "top" on the
even rows and half-way between columns. Converted with the wrong siting, colour lands about
one output pixel off its edges at x2.

PyAV 18 gives no frame, stream or codec attribute for it. The first decoded frame carries
it, and libav's showinfo filter names it (" cl:topleft") in the line it logs per frame:
that line is read here. Decoders report "unspecified" where a stream stores none (FFV1,
ProRes, VP9 and AV1 outside Matroska), which players read as "left", as vsr does.
"""

from __future__ import annotations

import itertools
import re
from fractions import Fraction

import av

from vsr.video.libav_log import libav_messages

# The sitings vsr.ops.yuv converts at.
CONVERTED = ("left", "center", "topleft", "top")
# Chroma on the odd luma rows (below): read as the siting nearest to it, half a chroma row up.
_NEAREST = {"bottomleft": "left", "bottom": "center"}
_SHOWINFO_SITING = re.compile(r"\bcl:(\S+)")
_UNIQUE_TIMES = itertools.count(1 << 40)  # far from any real frame's, and never repeated


def chroma_location_of(frame: av.VideoFrame) -> str | None:
    """The chroma location the decoder gave `frame` ("left", "topleft", "center", ...);
    None when the stream does not say, or the frame's chroma is not subsampled."""
    shape = frame.format
    full = shape.chroma_width(frame.width), shape.chroma_height(frame.height)
    if full == (frame.width, frame.height):
        return None  # full-resolution chroma (4:4:4, RGB) or none (grey)
    said: list[str] = []
    original_pts = frame.pts
    try:
        graph = av.filter.Graph()
        time_base = frame.time_base or Fraction(1, 90000)
        source = graph.add_buffer(template=frame, time_base=time_base)
        shown = graph.add("showinfo", checksum="0")  # the frame's checksums are not needed
        sink = graph.add("buffersink")
        source.link_to(shown)
        shown.link_to(sink)
        with libav_messages(said, up_to=av.logging.INFO):
            graph.configure()  # inside: its "config in/out" lines are ours, not the host's
            # PyAV drops a message equal to the one before it, process-wide: two threads
            # reading like frames would lose one line. A time of its own makes each unique.
            frame.pts = next(_UNIQUE_TIMES)
            graph.push(frame)  # a new reference: the pixels are left as they were
            graph.pull()
    except (av.error.FFmpegError, ValueError):
        return None  # a frame the filter cannot take: read as the default, "left"
    finally:
        frame.pts = original_pts
    named = next((m[1] for line in said if (m := _SHOWINFO_SITING.search(line))), None)
    return None if named in (None, "unspecified", "unknown") else named


def conversion_siting(location: str | None, chroma_shift: tuple[int, int]) -> str:
    """The siting (one of CONVERTED) at which planes of this chroma location and
    subsampling are converted, and by which two sources compare: "left" where the stream
    does not say and for full-resolution chroma (where siting means nothing), the nearest
    for chroma below the even rows; for 4:2:2 only the horizontal phase, so "topleft"
    is "left" and "top" is "center"."""
    shift_x, shift_y = chroma_shift
    if not (shift_x or shift_y):
        return "left"
    siting = _NEAREST.get(location or "left", location or "left")
    if siting not in CONVERTED:
        return "left"
    if not shift_y:
        return "left" if siting in ("left", "topleft") else "center"
    return siting


def siting_note(location: str | None) -> str | None:
    """What the reader tells the user about a chroma location vsr reads as another."""
    if location not in _NEAREST:
        return None
    return (
        f"the video's chroma sits at {location} (below the luma rows), which vsr reads as "
        f"{_NEAREST[location]}, the nearest it converts: colour may sit half a chroma row "
        "off its edges"
    )
