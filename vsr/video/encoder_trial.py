"""A trial open of an encoder with the run's settings, before any frame is upscaled.

Opening up front turns odd-size, bad-option and missing-hardware failures into a decision
(or one clear error) before anything is written, and catches what libav only logs: the
options no part of the encoder took, and keys or values inside x264-params, x265-params or
svtav1-params that the wrappers merely warn about before encoding without them. Audio
re-encoded for a container is tried the same way, for the channel layout it gets.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cache

import av

from vsr.errors import VsrError, to_the_command_line
from vsr.video.libav_log import libav_messages

_REFUSED_PARAMETER = re.compile(r"(Error parsing option|Unknown option|Invalid value for)[ :]")


def trial_open(
    codec: str,
    width: int,
    height: int,
    pix_fmt: str,
    time_base: Fraction,
    rate: Fraction | None,
    options: dict,
    messages: list[str] | None = None,
    color_range: int = 0,
) -> str | None:
    """Try to open the encoder with these settings; the error text, or None when it opens.
    When it fails, `messages` receives what libav logged, which says why. Options it took
    without using, or parameters its wrapper refused, are a VsrError. `color_range` is
    libav's code (MJPEG opens for full range only)."""
    context = av.codec.CodecContext.create(codec, "w")
    context.width, context.height = width, height
    context.pix_fmt = pix_fmt
    context.time_base = time_base
    context.color_range = color_range
    if rate:
        context.framerate = rate  # some encoders (SVT-AV1) derive the frame rate from it
    context.options = dict(options)
    said: list[str] = []
    try:
        with libav_messages(said):
            context.open()
    except (av.error.FFmpegError, ValueError) as error:
        if messages is not None:
            messages[:] = said
        return getattr(error, "strerror", None) or str(error)
    # libav hands back the options no part of the encoder took: a typo in -e would
    # otherwise be ignored without a word.
    unused = sorted(context.options or {})
    del context
    if unused:
        raise VsrError(_no_such_option(codec, unused))
    # x264-params, x265-params and svtav1-params are parsed by the encoder wrappers, which
    # only warn about a key or value they do not know, then encode without it.
    refused = [line for line in said if _REFUSED_PARAMETER.match(line)]
    if refused:
        raise VsrError(f"{codec}: {refused[0].rstrip('.')} ({_where_options_go()})")
    return None


@cache
def encoder_option_names(codec: str) -> frozenset[str]:
    """The names of the options encoder `codec` takes: its context's fields and its own."""
    options = av.codec.CodecContext.create(codec, "w").supported_options
    return frozenset(o.name for o in (*options.generic, *options.private))


def check_options_known(codec: str, options: dict) -> None:
    """The error a trial open gives for `options` that encoder `codec` has none of, without
    opening it: a folder run asks before its first clip, which each clip met in turn."""
    unknown = sorted(set(options) - encoder_option_names(codec))
    if unknown:
        raise VsrError(_no_such_option(codec, unknown))


def _no_such_option(codec: str, names: list[str]) -> str:
    return f"{codec} has no option {', '.join(names)} ({_where_options_go()})"


def _where_options_go() -> str:
    """Where the user gave the encoder's options: -e on the command line, the settings'
    options to an API caller, who has no -e."""
    if to_the_command_line():
        return "check -e KEY=VALUE"
    return "check settings=EncodeSettings(options=...)"


def opened_audio_encoder(
    codec: str,
    rate: int,
    layout: str,
    sample_format: str | None = None,
    options: dict[str, str] | None = None,
) -> av.codec.CodecContext | None:
    """Audio encoder `codec` opened at this sample rate and channel layout (in
    `sample_format`, else its first), or None where it refuses them. The refusal's log line
    is no news to the user: kept out of the terminal."""
    context = av.codec.CodecContext.create(codec, "w")
    context.sample_rate, context.layout = rate, layout
    context.format = sample_format or context.codec.audio_formats[0]
    context.time_base = Fraction(1, rate)
    context.options = dict(options or {})
    try:
        with libav_messages([]):
            context.open()
    except (av.error.FFmpegError, ValueError):
        return None
    return context


def audio_encoder_takes(codec: str, rate: int, layout: str) -> bool:
    """Whether audio encoder `codec` opens at this sample rate and channel layout (libopus
    refuses 5.1(side), AAC 22.2)."""
    return opened_audio_encoder(codec, rate, layout) is not None


def audio_bit_rate(codec: str, rate: int, layout: str) -> int | None:
    """The bit rate audio encoder `codec` chooses at this sample rate and layout when told
    none (AAC 128 kb/s in stereo, Opus 96), read from a trial open: a note that says a
    track became lossy says at what rate. None where it does not open or says none."""
    context = opened_audio_encoder(codec, rate, layout)
    if context is None:
        return None
    return context.bit_rate or None
