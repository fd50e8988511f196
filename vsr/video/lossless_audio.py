"""A lossless codec for a lossless audio track the output container cannot copy.

Re-encoding to the container's default codec (AAC, Opus) made lossless sound lossy where
the container holds a lossless codec too: 24-bit PCM from Matroska went into MP4 as AAC,
though MP4 holds FLAC. Here the sound is re-encoded to a lossless codec the output takes
instead, keeping every sample: the same channels in the same order (no downmix, no
remapped layout), the same rate, and a sample format that holds the source's bits.

Which codecs a container takes is measured, not listed: MOV lists FLAC yet refuses it at
its header ("flac only supported in MP4"), MP4 refuses PCM without a channel order, and
the ALAC encoder opens for 7.1(wide) but not 7.1. Each candidate is opened, given a frame
of silence and muxed into a throw-away file in memory, header to trailer.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from fractions import Fraction

import av

from vsr.video.encoder_trial import opened_audio_encoder
from vsr.video.libav_log import libav_messages

# Codecs libav marks both lossy and lossless, lossless in the profile named here. DTS is
# lossy but for its Master Audio extension; WavPack's hybrid mode may be lossy, but its
# usual mode is lossless, and re-encoding a lossy one losslessly costs only size.
_LOSSLESS_PROFILES = {"dts": ("DTS-HD MA",), "wavpack": None}


def is_lossless(stream: av.audio.AudioStream) -> bool:
    """Whether `stream`'s codec keeps every sample: PCM of any kind, FLAC, ALAC, TrueHD,
    MLP, APE, TTA, TAK, WavPack, DTS-HD MA (libav's codec properties say so)."""
    name = stream.codec_context.name
    try:
        codec = av.codec.Codec(name, "r")
    except (av.error.FFmpegError, ValueError):
        return False
    if not codec.lossless:
        return False  # A-law, mu-law and ADPCM are PCM by name, lossy by nature
    if not codec.lossy:
        return True
    if name not in _LOSSLESS_PROFILES:
        return False
    profiles = _LOSSLESS_PROFILES[name]
    return profiles is None or any(p in (stream.profile or "") for p in profiles)


@dataclass(frozen=True)
class LosslessEncoding:
    """An encoder that keeps the source's samples, and how it is set up."""

    codec: str
    sample_format: str  # the encoder's, which holds the decoded samples exactly
    bits: int | None = None  # bits a sample where the encoder stores fewer than its format's
    options: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """How the note names it: "flac, 24-bit", "pcm_f32le, 32-bit float"."""
        bits = self.bits or av.AudioFormat(self.sample_format).bits
        kind = " float" if self.sample_format.startswith(("flt", "dbl")) else ""
        return f"{self.codec}, {bits}-bit{kind}"


def lossless_encoding(
    stream: av.audio.AudioStream, container_format: str, layout: str
) -> LosslessEncoding | None:
    """The first lossless encoding of `stream`'s sound (in `layout`, its own channel order)
    that the `container_format` muxer takes; None where none does (WebM holds only Opus
    and Vorbis). FLAC first (the most widely played in MP4 and Matroska), then ALAC (MOV
    refuses FLAC), then PCM."""
    rate = stream.sample_rate
    for encoding in _candidates(stream):
        if _encoder_opens(encoding, rate, layout) and _muxer_takes(
            encoding, container_format, rate, layout
        ):
            return encoding
    return None


def _candidates(stream: av.audio.AudioStream) -> list[LosslessEncoding]:
    """The encodings that hold `stream`'s decoded samples exactly, most wanted first."""
    decoded = stream.codec_context.format.name.rstrip("p")  # planar or not: the same samples
    if decoded == "flt":  # FLAC and ALAC store integers only
        return [_pcm(c, "flt") for c in ("pcm_f32le", "pcm_f32be")] + _candidates_f64()
    if decoded == "dbl":
        return _candidates_f64()
    if decoded in ("u8", "s16"):  # u8 widens to s16 exactly
        return [
            LosslessEncoding("flac", "s16"),
            LosslessEncoding("alac", "s16p"),
            *(_pcm(c, "s16") for c in ("pcm_s16le", "pcm_s16be")),
        ]
    if decoded != "s32":
        return []  # s64: no encoder here holds 64-bit integers
    widest = [_pcm(c, "s32") for c in ("pcm_s32le", "pcm_s32be")]
    if (_source_bits(stream) or 32) > 24:
        return widest  # FLAC beyond 24 bits is experimental in libav; ALAC stops at 24
    # FLAC and ALAC store 24 of the s32's bits (the top ones, where decoders put them).
    at_24 = {"bits_per_raw_sample": "24"}  # what they would assume, said so they need not warn
    return [
        LosslessEncoding("flac", "s32", 24, at_24),
        LosslessEncoding("alac", "s32p", 24, at_24),
        *(LosslessEncoding(c, "s32", 24) for c in ("pcm_s24le", "pcm_s24be")),
        *widest,
    ]


def _pcm(codec: str, sample_format: str) -> LosslessEncoding:
    return LosslessEncoding(codec, sample_format)


def _candidates_f64() -> list[LosslessEncoding]:
    return [_pcm(c, "dbl") for c in ("pcm_f64le", "pcm_f64be")]


_PCM_BITS = re.compile(r"pcm_[su](\d+)")


def _source_bits(stream: av.audio.AudioStream) -> int | None:
    """The bits a sample the source stores, where its codec says so (PyAV gives no
    bits_per_raw_sample): PCM by its name, FLAC by its STREAMINFO, ALAC by its magic
    cookie. None where unknown, which is taken as 32: always exact, only larger."""
    name = stream.codec_context.name
    found = _PCM_BITS.match(name)
    if found:
        return int(found.group(1))
    extradata = stream.codec_context.extradata or b""
    if name == "flac":
        info = extradata[8:] if extradata[:4] == b"fLaC" else extradata
        if len(info) >= 14:
            return (((info[12] & 1) << 4) | (info[13] >> 4)) + 1
    if name == "alac":
        config = extradata[12:] if extradata[4:8] == b"alac" else extradata
        if len(config) >= 6:
            return config[5]
    return None


def _encoder_opens(encoding: LosslessEncoding, rate: int, layout: str) -> bool:
    """Whether the encoder opens for these samples: tried before a frame is given to it,
    as an ALAC encoder given a layout it refuses crashed the process when fed."""
    opened = opened_audio_encoder(
        encoding.codec, rate, layout, encoding.sample_format, encoding.options
    )
    return opened is not None


def _muxer_takes(encoding: LosslessEncoding, container_format: str, rate: int, layout: str) -> bool:
    """Whether a `container_format` file of this encoding's silence is written through
    to its trailer."""
    try:
        with libav_messages([]), av.open(io.BytesIO(), "w", format=container_format) as probe:
            sound = probe.add_stream(encoding.codec, rate=rate, options=dict(encoding.options))
            sound.format, sound.layout = encoding.sample_format, layout
            silence = av.AudioFrame(format=encoding.sample_format, layout=layout, samples=4096)
            for plane in silence.planes:
                plane.update(bytes(plane.buffer_size))
            silence.sample_rate, silence.pts, silence.time_base = rate, 0, Fraction(1, rate)
            probe.mux(sound.encode(silence))
            probe.mux(sound.encode(None))
    except (av.error.FFmpegError, ValueError):
        return False
    return True
