"""The timecode an MPEG-1/2 video stream opens with: the GOP header's before its first
I-picture, read from the bitstream.

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
is its temporal_reference: the header's time code counted on by that many pictures. One
that starts mid-GOP opens with P- and B-pictures and no GOP header; libavcodec drops them
all until an I-picture, whose GOP header is the one to read.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import av

# The codecs whose frames' timecodes are their GOP headers'.
MPEG_VIDEO_CODECS = frozenset({"mpeg1video", "mpeg2video"})
GOP_START = b"\x00\x00\x01\xb8"
PICTURE_START = b"\x00\x00\x01\x00"
# The packets looked through for the first I-picture: a capture that starts mid-GOP opens
# with the rest of that GOP (a broadcast's is half a second, 12 to 15 pictures).
_PACKETS_LOOKED_AT = 64
_START_CODE = b"\x00\x00\x01"
_I_PICTURE = 1  # picture_coding_type


class OpeningTimecode(NamedTuple):
    """The time code of the GOP header before the stream's first I-picture, that picture's
    place in the GOP's display order (temporal_reference), whether the GOP is closed, and
    the picture's time in the stream (None where the demuxer gives none)."""

    timecode: str
    temporal_reference: int
    closed: bool
    pts: int | None

    def dropped(self) -> int:
        """The pictures of the GOP shown before its I-picture that libavcodec drops at the
        stream's start: an open GOP's leading B-pictures refer to a picture before it,
        which it shows none without; a closed GOP's are shown."""
        return 0 if self.closed else self.temporal_reference


def first_gop_timecode(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> OpeningTimecode | None:
    """ "HH:MM:SS:FF" (";FF" drop-frame) from the GOP header before the stream's first
    I-picture, the first one libavcodec shows: it drops the P- and B-pictures a capture
    that starts mid-GOP opens with, having no picture they refer to. None where no GOP
    header comes just before that I-picture (GOP headers are optional in MPEG-2) or it
    does not read as a time (a damaged header)."""
    watch = OpeningTimecodeWatch()
    for packet in itertools.islice(container.demux(stream), _PACKETS_LOOKED_AT):
        watch(packet)
        if watch.done:
            break
    return watch.found


class OpeningTimecodeWatch:
    """first_gop_timecode, told the stream's packets one by one from its top, as a decode
    demuxes them: a raw .m2v's reader reads it from its own packets, not from another
    opening of the file. `done` once the first I-picture (or the packets looked through)
    has passed; `found` is the opening timecode then, if any."""

    def __init__(self) -> None:
        self.done = False
        self.found: OpeningTimecode | None = None
        self._gop: bytes | None = None  # the GOP header read since the last picture
        self._packets = 0

    def __call__(self, packet: av.Packet) -> None:
        if self.done:
            return
        data = bytes(packet)
        at = data.find(_START_CODE)
        while 0 <= at <= len(data) - 8:
            if data.startswith(GOP_START, at):
                self._gop = data[at + 4 : at + 8]
            elif data.startswith(PICTURE_START, at):
                if (data[at + 5] >> 3) & 7 == _I_PICTURE:
                    gop, self.done = self._gop, True
                    self.found = _opening(gop, data[at + 4 : at + 6], packet.pts) if gop else None
                    return
                self._gop = None  # dropped, and its GOP's header with it
            at = data.find(_START_CODE, at + 3)
        self._packets += 1
        self.done = self._packets >= _PACKETS_LOOKED_AT


def _opening(gop: bytes, picture: bytes, pts: int | None) -> OpeningTimecode | None:
    """The opening of the GOP whose header is `gop`, at the I-picture whose header starts
    with `picture` (its temporal_reference: the first 10 bits), shown at `pts`."""
    timecode = _time_code(gop)
    if timecode is None:
        return None
    closed = bool((gop[3] >> 6) & 1)  # closed_gop: the bit after the time code
    return OpeningTimecode(timecode, int.from_bytes(picture, "big") >> 6, closed, pts)


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
