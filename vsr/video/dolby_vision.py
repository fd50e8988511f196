"""Whether a video is Dolby Vision, which an output of vsr is not.

Dolby Vision is a base layer that any decoder decodes, with a configuration record for the
stream and dynamic metadata (an RPU) in every frame. vsr encodes new frames, to which PyAV
cannot attach an RPU, so the output is the base layer alone: HDR10, HLG or SDR for
profiles 8 and 9, but for profile 5 a picture in Dolby's own colour space, whose colours
only a Dolby Vision player gets right.

Told from what PyAV 18 shows: the sample entry of an MP4 or MOV track that only Dolby
Vision players should play (dvh1, dvhe: HEVC; dav1: AV1; dva1, dvav: H.264), and the RPU
that FFmpeg's decoders attach to each frame as side data. PyAV gives no access to the
stream's configuration record (DOVI_CONF, which Matroska and backward-compatible MP4
tracks carry), so a file whose frames' RPUs this libav does not export goes untold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr.video.frame_side_data import side_data_of

if TYPE_CHECKING:
    import av

_DOLBY_VISION_SAMPLE_ENTRIES = frozenset({"dvh1", "dvhe", "dav1", "dva1", "dvav"})
_RPU_SIDE_DATA = frozenset({"DOVI_RPU_BUFFER", "DOVI_METADATA"})

DOLBY_VISION_NOTE = (
    "the video is Dolby Vision, whose configuration and per-frame metadata (RPU) the output "
    "does not keep: it is the base layer alone, which looks as meant where that layer is "
    "HDR10, HLG or SDR (profiles 8 and 9, for one), but not for profile 5, whose colours "
    "come out wrong"
)


def is_dolby_vision(stream: av.video.stream.VideoStream, first: av.VideoFrame) -> bool:
    """Whether `stream`, whose first decoded frame is `first`, is Dolby Vision: by its
    MP4/MOV sample entry, or by the RPU its frame carries."""
    if _sample_entry(stream).lower() in _DOLBY_VISION_SAMPLE_ENTRIES:
        return True
    return any(side_data.type.name in _RPU_SIDE_DATA for side_data in side_data_of(first))


def _sample_entry(stream: av.video.stream.VideoStream) -> str:
    """The stream's codec tag as text ("" where it is none): an MP4/MOV sample entry, an
    AVI FourCC. MPEG-TS gives its stream type there (0xd1 for Dirac, 0xea for VC-1, where
    no registration descriptor names the stream), which PyAV fails to read as ASCII: a
    UnicodeDecodeError that stopped every such source. No Dolby Vision entry is that."""
    try:
        return stream.codec_context.codec_tag or ""
    except UnicodeDecodeError:
        return ""
