"""The containers vsr writes, by their file suffix, and the codecs each one stores.

A muxer lists the codecs it stores (PyAV's add_stream refuses the others), but some refuse
a codec they list only when they write their header (MOV does VP8, VP9 and AV1, Matroska
RealVideo), which is measured: advice to write another container names only those that
take the codec through their header.
"""

from __future__ import annotations

import io
from functools import cache

import av

from vsr.errors import VsrError
from vsr.video.encode_settings import DEFAULT_CODEC
from vsr.video.libav_log import libav_messages

# Output suffixes and the libav muxer each is written with.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}
# The suffix a container is named by in advice (.mp4, not .m4v).
_NAMED_AS = {fmt: next(s for s, f in CONTAINERS.items() if f == fmt) for fmt in CONTAINERS.values()}


@cache
def codecs_held_by(container_format: str) -> tuple[frozenset[str], str]:
    """Codec and encoder names a muxer can store, and its default video codec."""
    with av.open(io.BytesIO(), "w", format=container_format) as probe:
        return frozenset(probe.supported_codecs), probe.default_video_codec


def containers_taking(codec: str) -> list[str]:
    """The suffixes of the containers vsr writes that store encoder `codec` (libx264, not
    h264), one a container: those whose muxer lists it and takes it through its header."""
    return [suffix for fmt, suffix in _NAMED_AS.items() if _takes(fmt, codec)]


def _takes(container_format: str, codec: str) -> bool:
    return codec in codecs_held_by(container_format)[0] and not _header_refuses(
        container_format, codec
    )


@cache
def _header_refuses(container_format: str, codec: str) -> bool:
    """Whether the muxer refuses encoder `codec`, which it lists, as it writes its header:
    measured with the encoder opened on a CIF picture (352x288, which H.263 takes) in its
    first format. One that does not open so here (hardware without its device, DNxHD
    outside its broadcast sizes) is taken at the muxer's list's word."""
    # Imported when first asked: vsr.video.encoder_choice imports this module.
    from vsr.video.encoder_choice import quiet_encoder

    options: dict[str, str] = {}
    quiet_encoder(codec, options)  # x265's and SVT-AV1's banners
    with libav_messages([]), av.open(io.BytesIO(), "w", format=container_format) as probe:
        stream = probe.add_stream(codec, rate=25, options=options)
        stream.width, stream.height = 352, 288
        formats = stream.codec_context.codec.video_formats
        if formats:
            stream.pix_fmt = formats[0].name
        try:
            stream.codec_context.open()
        except (av.error.FFmpegError, ValueError):
            return False
        try:
            probe.start_encoding()
        except (av.error.FFmpegError, ValueError):
            return True
    return False


def check_container_holds(container_format: str, codec: str, suffix: str) -> None:
    """A VsrError where a `suffix` file (of `container_format`) cannot store encoder
    `codec`, naming the containers that can, or saying that none can."""
    held, default = codecs_held_by(container_format)
    if codec in held:
        return
    check_some_container_takes(codec, default)
    raise VsrError(
        f"{codec} cannot be stored in {suffix} files ({advice(codec, container_format)})"
    )


def check_some_container_takes(codec: str, instead: str = DEFAULT_CODEC) -> None:
    """A VsrError where no container vsr writes stores encoder `codec` (Ut Video, HuffYUV),
    advising codec `instead`."""
    if not any(_takes(fmt, codec) for fmt in _NAMED_AS):
        raise VsrError(
            f"{codec} cannot be stored in any file vsr writes ({', '.join(_NAMED_AS.values())}); "
            f"use a codec such as {instead}"
        )


def advice(codec: str, container_format: str) -> str:
    """What to write where a `container_format` file refuses encoder `codec`: the other
    containers that store it ("use .mov, or a codec such as h264"), else the container's
    own codec."""
    others = [s for s in containers_taking(codec) if CONTAINERS[s] != container_format]
    instead = f"a codec such as {codecs_held_by(container_format)[1]}"
    if not others:
        return f"use {instead}"
    listed = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} or {others[-1]}"
    return f"use {listed}, or {instead}"
