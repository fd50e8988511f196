"""Which video encoders this PyAV build has, and a clear error for the ones it lacks."""

from __future__ import annotations

from functools import cache

import av

from vsr.errors import VsrError
from vsr.video.pixfmt import SEMI_PLANAR, parse_planar


@cache
def video_encoders() -> tuple[str, ...]:
    """Video encoders PyAV was built with that take YUV frames vsr can feed.

    Image-only and RGB-only encoders (png, bmp, libx264rgb...) are left out; hardware
    encoders are listed even though they may fail to open without their device.
    """
    names = set()
    for name in av.codecs_available:
        try:
            codec = av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):
            continue  # a decoder only
        if codec.type == "video" and codec.name == name and _takes_yuv(codec):
            names.add(name)
    return tuple(sorted(names))


def _takes_yuv(codec: av.codec.Codec) -> bool:
    formats = [f.name for f in codec.video_formats or ()]
    return any(parse_planar(f) or f in SEMI_PLANAR for f in formats)


def video_encoder(name: str) -> av.codec.Codec:
    """The encoder called `name`, or a VsrError that lists the available ones."""
    if name not in video_encoders():
        # "h264" and friends resolve to an encoder (libx264): accept them as aliases.
        try:
            codec = av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):
            codec = None
        if codec is None or codec.type != "video":
            available = ", ".join(video_encoders())
            raise VsrError(f"unknown video codec {name!r}; available encoders: {available}")
        return codec
    return av.codec.Codec(name, "w")


def takes_named_presets(name: str) -> bool:
    """Whether the encoder's `preset` option is a name (x264 and x265 share ultrafast ...
    placebo) rather than a number (SVT-AV1's 0-13), or missing."""
    try:
        context = av.codec.CodecContext.create(name, "w")
    except (av.error.FFmpegError, ValueError):
        return False
    options = {option.name: option for option in context.supported_options.private}
    preset = options.get("preset")
    return preset is not None and preset.type.name == "STRING"
