"""The timecode an MPEG-1/2 video stream opens with: its first GOP header's, read from the
bitstream.

libavcodec's decoder hangs the time code of the GOP header it has just read on the frame
it hands out from the same packet, and it hands out an I or P picture one packet late (a
B-picture may still come before it): the frame it labels is the one shown before the
picture the header names. A .m2v (or .ts) made with a GOP timecode of 10:00:00:00 had
its first frame labelled 10:00:00:01, which vsr wrote as the output's; a cut at frame 10
said 10:00:00:11. The header itself is exact: its time code is that of the GOP's first
picture in display order (ISO/IEC 13818-2, 6.3.8).

That picture is not always the clip's first frame. A recording that starts mid-stream (a
broadcast capture, a VOB cut at a GOP) opens with an open GOP: its leading B-pictures,
shown before its I-picture, refer to a picture the file does not hold, and libavcodec
drops them. The first frame is then the I-picture, whose place in the GOP's display order
is its temporal_reference: the header's time code counted on by that many pictures.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import av

# The codecs whose frames' timecodes are their GOP headers'.
MPEG_VIDEO_CODECS = frozenset({"mpeg1video", "mpeg2video"})
GOP_START = b"\x00\x00\x01\xb8"
PICTURE_START = b"\x00\x00\x01\x00"
# A stream's first picture comes within a few packets (a sequence header, say, alone).
_PACKETS_LOOKED_AT = 8


class OpeningTimecode(NamedTuple):
    """The first GOP header's time code, and how many pictures of its GOP shown before the
    stream's first picture the decoder drops (an open GOP's leading B-pictures)."""

    timecode: str
    dropped: int


def first_gop_timecode(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> OpeningTimecode | None:
    """ "HH:MM:SS:FF" (";FF" drop-frame) from the GOP header before the stream's first
    picture; None where none comes before it (GOP headers are optional in MPEG-2) or it
    does not read as a time (a damaged header)."""
    for packet in itertools.islice(container.demux(stream), _PACKETS_LOOKED_AT):
        data = bytes(packet)
        picture = data.find(PICTURE_START)
        gop = data.find(GOP_START, 0, None if picture < 0 else picture)
        if gop >= 0:
            timecode = _time_code(data[gop + 4 : gop + 8])
            if timecode is None:
                return None
            return OpeningTimecode(timecode, _leading_pictures_dropped(data, gop))
        if picture >= 0:
            return None  # the first picture had no GOP header before it
    return None


def _leading_pictures_dropped(data: bytes, gop: int) -> int:
    """How many pictures of the GOP whose header is at `gop` come before its first coded
    picture in display order and are dropped: in an open GOP (closed_gop 0) libavcodec
    shows no B-picture before it has a reference of its own, so the leading ones go. Its
    temporal_reference (10 bits after the picture start code) counts them."""
    closed_gop = (data[gop + 7] >> 6) & 1 if len(data) >= gop + 8 else 1
    picture = data.find(PICTURE_START, gop + 8)
    if closed_gop or picture < 0 or len(data) < picture + 6:
        return 0
    return int.from_bytes(data[picture + 4 : picture + 6], "big") >> 6


def _time_code(header: bytes) -> str | None:
    """The 25-bit time_code at the start of a GOP header's 4 bytes: drop_frame_flag (1 bit),
    hours (5), minutes (6), marker (1), seconds (6), pictures (6)."""
    if len(header) < 4:
        return None
    bits = int.from_bytes(header, "big")
    drop = bits >> 31
    hours, minutes = (bits >> 26) & 0x1F, (bits >> 20) & 0x3F
    marker = (bits >> 19) & 1
    seconds, pictures = (bits >> 13) & 0x3F, (bits >> 7) & 0x3F
    if not marker or hours > 23 or minutes > 59 or seconds > 59 or pictures > 59:
        return None
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{';' if drop else ':'}{pictures:02d}"
