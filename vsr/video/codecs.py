"""Which video encoders this PyAV build has, and a clear error for the ones it lacks."""

from __future__ import annotations

import difflib
from functools import cache

import av

from vsr.errors import VsrError, option
from vsr.video.containers import containers_taking
from vsr.video.pixfmt import SEMI_PLANAR, parse_planar

# Encoders that take RGB only, which vsr feeds RGB planes: lossless or near-lossless
# RGB video. Other RGB-only encoders are image formats (bmp, tiff, ppm...), left out of
# the list (video_encoder still opens them by name).
RGB_ONLY_ENCODERS = ("libx264rgb", "png", "qtrle")


@cache
def video_encoders() -> tuple[str, ...]:
    """Video encoders PyAV was built with that take YUV frames vsr can feed, and the RGB
    video encoders of RGB_ONLY_ENCODERS.

    Image-only encoders (bmp, tiff...) are left out; hardware encoders are listed even
    though they may fail to open without their device.
    """
    names = set()
    for name in av.codecs_available:
        try:
            codec = av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):
            continue  # a decoder only
        wanted = (_takes_yuv(codec) or name in RGB_ONLY_ENCODERS) and name not in _REFUSED
        if codec.type == "video" and codec.name == name and wanted:
            names.add(name)
    return tuple(sorted(names))


def _takes_yuv(codec: av.codec.Codec) -> bool:
    formats = [f.name for f in codec.video_formats or ()]
    return any(parse_planar(f) or f in SEMI_PLANAR for f in formats)


# Encoders this build has that vsr refuses, and why. libav's VC-2 encoder sizes each
# picture from the bit rate and the time base: PyAV's default rate (1 Mb/s) failed at the
# first frame, -e b=20M in vsr's 1/12800 gave flat grey planes, and at the frame rate's time
# base 20M still did at 1280x720, a BT.601 (smpte170m) tag was read back as BT.709, and odd sizes
# did not decode: no setting vsr could choose gives a correct picture everywhere.
_REFUSED = {
    "vc2": "libav's VC-2 encoder makes flat or undecodable pictures at many sizes and rates"
}


def video_encoder(name: str) -> av.codec.Codec:
    """The encoder called `name`, or a VsrError that lists the available ones (or says why
    vsr refuses it)."""
    if name not in video_encoders():
        # "h264" and friends resolve to an encoder (libx264): accept them as aliases.
        try:
            codec = av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):
            codec = None
        if codec is None or codec.type != "video":
            raise VsrError(f"unknown video codec {name!r}; {_what_there_is(name)}")
        if codec.name in _REFUSED:  # by its name or an alias (dirac)
            raise VsrError(
                f"{option('--codec', name, setting=True)}: {_REFUSED[codec.name]}; use "
                f"{option('--codec', 'ffv1', setting=True)} (lossless) or prores_ks"
            )
        return codec
    return av.codec.Codec(name, "w")


# What most outputs are made with, named first in an error: the whole list runs to dozens of
# encoders (mpeg1video, msmpeg4v2, ...) that few would choose.
USUAL_ENCODERS = ("libx264", "libx265", "libsvtav1", "libvpx-vp9", "ffv1", "prores_ks")


# What people call an encoder where libav knows it by another name (or by none in this
# build: libaom-av1), in lower case without dots and dashes. By spelling alone, h265 was
# told "did you mean h263 or h261?" and x265 nothing at all.
_CALLED = {
    "h264": "libx264",
    "x264": "libx264",
    "avc": "libx264",
    "h265": "libx265",
    "x265": "libx265",
    "hevc": "libx265",
    "av1": "libsvtav1",
    "svtav1": "libsvtav1",
    "libaomav1": "libsvtav1",
    "aom": "libsvtav1",
    "vp9": "libvpx-vp9",
    "vp8": "libvpx",
    "mpeg2": "mpeg2video",
    "prores": "prores_ks",
}


def _what_there_is(name: str) -> str:
    # Those no container vsr writes stores (Ut Video, HuffYUV) would only be refused next.
    encoders = [e for e in video_encoders() if containers_taking(e)]
    near = difflib.get_close_matches(name, encoders, n=2, cutoff=0.75)
    called = _CALLED.get(name.lower().replace(".", "").replace("-", ""))
    if called in encoders:
        near = [called]  # what was meant is known: no look-alike beside it
    usual = [e for e in USUAL_ENCODERS if e in encoders]
    others = [e for e in encoders if e not in usual]
    hint = f"did you mean {' or '.join(near)}? " if near else ""
    return f"{hint}the usual ones: {', '.join(usual)}; the others: {', '.join(others)}"


@cache
def encoder_option_type(name: str, option: str) -> str | None:
    """The type of an encoder's private option ("STRING", "INT", "FLOAT", ...), or None when
    the encoder (or the option) does not exist: x264 names its presets, SVT-AV1 numbers
    them, FFV1 has no crf at all."""
    try:
        context = av.codec.CodecContext.create(name, "w")
    except (av.error.FFmpegError, ValueError):
        return None
    found = [o for o in context.supported_options.private if o.name == option]
    return found[0].type.name if found else None
