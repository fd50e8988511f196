"""A cover picture in a codec the output's muxer is not given, stored as PNG instead.

MP4 keeps covers in its covr atom as JPEG, PNG or BMP, and libav reads all three back, but
PyAV lets an MP4 stream be only of a codec in libav's MP4 codec table, which has no BMP: a
source's BMP cover was dropped. PNG holds every BMP's pixels (and a GIF's, an RGB or grey
TIFF's) exactly, and players show it more often than BMP. A CMYK picture (a TIFF's) has no
PNG form: it is converted to RGB as `vsr image` converts a CMYK still (vsr.cmyk), and its
note says so. libav's decoder converts it too, but off by one (255 read 254), and the note
said "its pixels unchanged".
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image

from vsr.cmyk import to_srgb
from vsr.video.libav_log import libav_messages

# The note's words for a PNG that holds the picture as it was.
UNCHANGED = "its pixels unchanged"


@dataclass(frozen=True)
class PngPicture:
    """A cover picture as the frame a PNG encoder takes, and how the PNG holds it (the
    note's words: UNCHANGED, or the conversion made)."""

    frame: av.VideoFrame
    how: str


def png_format(source: av.VideoFormat) -> str:
    """The PNG pixel format that holds `source`'s pixels without loss: the same one where
    PNG has it, else RGB or grey, with alpha where the source has it, 16 bits where it
    has more than 8."""
    taken = {f.name for f in av.Codec("png", "w").video_formats}
    if source.name in taken:
        return source.name
    components = source.components
    deep = max((c.bits for c in components), default=8) > 8
    grey = len(components) <= 2 and not source.has_palette
    alpha = len(components) in (2, 4)
    if grey:
        return ("ya16be" if alpha else "gray16be") if deep else ("ya8" if alpha else "gray")
    return ("rgba64be" if alpha else "rgb48be") if deep else ("rgba" if alpha else "rgb24")


def cover_as_png(packet: av.Packet, stream: av.video.stream.VideoStream) -> PngPicture | None:
    """The picture of `packet`, a cover of `stream` (an open source's), as a PNG encoder
    takes it; None when it does not decode to one picture."""
    cmyk = _cmyk_as_rgb(bytes(packet))
    if cmyk is not None:
        return cmyk
    try:
        with libav_messages([]):  # a damaged cover is a note's matter
            frames = stream.codec_context.decode(packet) + stream.codec_context.decode(None)
    except (av.error.FFmpegError, ValueError):
        return None
    if len(frames) != 1:
        return None
    return PngPicture(frames[0].reformat(format=png_format(frames[0].format)), UNCHANGED)


def _cmyk_as_rgb(data: bytes) -> PngPicture | None:
    """A CMYK picture converted to RGB as `vsr image` reads a CMYK still: through its colour
    profile, else by Pillow's formula (which keeps no ink at 255); None for any other
    picture, or one Pillow cannot read (libav's decoder is then asked)."""
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only, if not CMYK
            if image.mode != "CMYK":
                return None
            managed = to_srgb(image)
            how = "through its colour profile" if managed is not None else "by Pillow's formula"
            rgb = np.asarray(managed if managed is not None else image.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return PngPicture(frame, f"converted from CMYK to RGB {how}")


def png_bytes(frame: av.VideoFrame) -> bytes | None:
    """`frame` encoded as one PNG file; None where the encoder refuses it."""
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, frame.format.name
    try:
        with libav_messages([]):
            packets = encoder.encode(frame) + encoder.encode(None)
    except (av.error.FFmpegError, ValueError):
        return None
    return bytes(packets[0]) if len(packets) == 1 else None
