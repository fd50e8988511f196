"""A cover picture in a codec the output's muxer is not given, stored as PNG instead.

MP4 keeps covers in its covr atom as JPEG, PNG or BMP, and libav reads all three back, but
PyAV lets an MP4 stream be only of a codec in libav's MP4 codec table, which has no BMP: a
source's BMP cover was dropped. PNG holds every BMP's pixels (and a GIF's, an RGB or grey
TIFF's) exactly, and players show it more often than BMP. A CMYK picture (a TIFF's) has no
PNG form: it is converted to RGB as `vsr image` converts a CMYK still (vsr.cmyk), and its
note says so. libav's decoder converts it too, but off by one (255 read 254), and the note
said "its pixels unchanged". Float samples (a float TIFF's) of 0 to 1 are rounded to 16 bits,
which the note says; libav decodes no float grey TIFF, which was called damaged.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image

from vsr.cmyk import srgb_transform, to_srgb
from vsr.video.libav_log import libav_messages
from vsr.video.still_threads import STILL_THREADS

# The note's words for a PNG that holds the picture as it was, and for one of float samples.
UNCHANGED = "its pixels unchanged"
FROM_FLOAT = "rounded from float samples to 16 bits"
# The pixels of a picture converted at a time: 1 MiB of Pillow's, whatever the picture's size.
_STRIPE_PIXELS = 2**18


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


def cover_as_png(packet: av.Packet, stream: av.video.stream.VideoStream) -> PngPicture | str:
    """The picture of `packet`, a cover of `stream` (an open source's), as a PNG encoder
    takes it; else the words of a note on why not."""
    codec = stream.codec_context.name
    converted = _read_by_pillow(bytes(packet), codec)
    if converted is not None:
        return converted
    try:
        with libav_messages([]):  # a damaged cover is a note's matter
            frames = stream.codec_context.decode(packet) + stream.codec_context.decode(None)
    except (av.error.FFmpegError, ValueError):
        frames = []
    if len(frames) != 1:
        return f"its {codec} picture does not decode (damaged?)"
    frame = frames[0]
    if "f32" in frame.format.name:  # a float RGB(A) TIFF's
        return _float_as_16_bits(frame.to_ndarray(), codec)
    return PngPicture(
        frame.reformat(format=png_format(frame.format), threads=STILL_THREADS), UNCHANGED
    )


def _read_by_pillow(data: bytes, codec: str) -> PngPicture | str | None:
    """A picture libav's decoder gets wrong, or refuses, read by Pillow: CMYK, or 32-bit
    float grey (libav decodes no float grey TIFF: the note called it damaged); None for any
    other picture, or one Pillow cannot read (libav's decoder is then asked)."""
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only, if not these
            if image.mode == "CMYK":
                return _cmyk_as_rgb(image)
            if image.mode == "F":
                return _float_as_16_bits(np.asarray(image), codec)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        pass
    return None


def _cmyk_as_rgb(image: Image.Image) -> PngPicture:
    """A CMYK picture converted to RGB as `vsr image` reads a CMYK still: through its colour
    profile, else by Pillow's formula (which keeps no ink at 255). It is converted a stripe
    at a time into the frame, so that the picture is held twice, not four times: with
    Pillow's RGB copy and its bytes, a 6000x6000 cover's conversion peaked 491 MiB above
    the process's memory, 254 so (the CMYK picture 137, the frame 103)."""
    width, height = image.size
    transform = srgb_transform(image)
    how = "through its colour profile" if transform is not None else "by Pillow's formula"
    frame = av.VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(height, plane.line_size)[:, : width * 3]
    step = max(1, _STRIPE_PIXELS // width)
    for top in range(0, height, step):
        stripe = image.crop((0, top, width, min(top + step, height)))
        rgb = None if transform is None else to_srgb(stripe, transform)
        rgb = rgb if rgb is not None else stripe.convert("RGB")
        rows[top : top + stripe.height] = np.asarray(rgb).reshape(stripe.height, -1)
    return PngPicture(frame, f"converted from CMYK to RGB {how}")


def _float_as_16_bits(samples: np.ndarray, codec: str) -> PngPicture | str:
    """Float samples of 0 to 1 (black to white, as TIFF's are taken) rounded to the nearest
    of PNG's 16-bit codes: libav's own conversion of a float RGB TIFF's was off by up to 27
    codes (white, 1.0, read 65532), under a note saying "its pixels unchanged". Samples
    outside 0 to 1 (HDR, or another scale) have no one PNG form: the words of a note on why
    none is made."""
    if not (np.isfinite(samples).all() and samples.min() >= 0 and samples.max() <= 1):
        return f"its {codec} picture's float samples run outside 0 to 1, which PNG cannot hold"
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    layout = {1: "gray16le", 3: "rgb48le", 4: "rgba64le"}.get(channels)
    if layout is None:
        return f"its {codec} picture's float samples, {channels} a pixel, are not converted"
    whole = np.rint(samples * np.float32(65535)).astype(np.uint16)  # float32: 24 bits hold it
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(whole), format=layout)
    return PngPicture(
        frame.reformat(format=png_format(frame.format), threads=STILL_THREADS), FROM_FLOAT
    )


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
