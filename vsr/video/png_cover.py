"""A cover picture in a codec the output's muxer is not given, stored as PNG instead.

MP4 keeps covers in its covr atom as JPEG, PNG or BMP, and libav reads all three back, but
PyAV lets an MP4 stream be only of a codec in libav's MP4 codec table, which has no BMP: a
source's BMP cover was dropped. PNG holds every BMP's pixels (and a GIF's, a TIFF's)
exactly, and players show it more often than BMP.
"""

from __future__ import annotations

import av

from vsr.video.libav_log import libav_messages


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


def cover_as_png(packet: av.Packet, stream: av.video.stream.VideoStream) -> av.VideoFrame | None:
    """The picture of `packet`, a cover of `stream` (an open source's), as the frame a PNG
    encoder takes; None when it does not decode to one picture."""
    try:
        with libav_messages([]):  # a damaged cover is a note's matter
            frames = stream.codec_context.decode(packet) + stream.codec_context.decode(None)
    except (av.error.FFmpegError, ValueError):
        return None
    if len(frames) != 1:
        return None
    return frames[0].reformat(format=png_format(frames[0].format))


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
