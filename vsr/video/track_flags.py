"""Which of a copied track's flags (forced, commentary, hearing impaired, ...) the output
container keeps, so that the ones it cannot are named instead of lost unsaid.

Players choose tracks by these flags: a forced subtitle track (a film's foreign-language
lines) is shown without being asked for, a commentary is not played first. Muxers differ:
MOV writes none of them, WebM only default and forced, MP4 and Matroska most. An MKV's
forced English subtitles came out of `vsr run film.mkv film.mov` as an ordinary track,
with no note. What a container keeps is measured rather than listed, since it changes
with the libav version and the kind of track: a throw-away file in memory with one short
track per flag, read back once per container format and kind of track in a process
(vsr.video.muxer_probe).
"""

from __future__ import annotations

import io
from functools import cache

import av

from vsr.video.muxer_probe import TEXT_PACKETS, read_back, text_codec

Disposition = av.stream.Disposition

# The flags a player reads to pick or describe a track, with the words a note uses.
# `default` is left out: the copier sets it itself where no track has it.
FLAG_WORDS = {
    "forced": "forced",
    "hearing_impaired": "hearing impaired",
    "visual_impaired": "visual impaired",
    "comment": "commentary",
    "dub": "dub",
    "original": "original language",
    "captions": "captions",
    "descriptions": "descriptions",
    "lyrics": "lyrics",
    "karaoke": "karaoke",
    "clean_effects": "clean effects",
    "non_diegetic": "non-diegetic",
}
# Two words for one meaning: MP4 stores "hearing impaired" and "captions" as one role (and
# reads both back), Matroska only the first, WebM's WebVTT only the second. A flag read
# back as its partner is kept; one whose partner the source also has, and the output
# keeps, says nothing more, so its loss is no loss.
_SAME_MEANING = {
    "captions": "hearing_impaired",
    "hearing_impaired": "captions",
    "descriptions": "visual_impaired",
    "visual_impaired": "descriptions",
}
# An audio codec each container takes, with its encoder. Flags are measured per kind of
# track: WebM keeps "captions" on a WebVTT track (as its codec ID) but not on audio.
_AUDIO_ENCODERS = {"aac": "aac", "opus": "libopus", "flac": "flac"}


def _probe_tracks(probe: av.container.OutputContainer, track_type: str) -> list:
    """One track per flag of FLAG_WORDS in `probe`, each with the packet it carries; none
    when the container takes none of the probe's codecs."""
    if track_type == "subtitle":
        codec = text_codec(probe)
        if codec is None:
            return []
        return [(probe.add_mux_stream(codec), TEXT_PACKETS[codec]) for _ in FLAG_WORDS]
    codec = next((c for c in _AUDIO_ENCODERS if c in probe.supported_codecs), None)
    if codec is None:
        return []
    # The tracks copy the parameters of an encoder opened in a file of its own: encoders
    # in the probe itself would be flushed into it when it closes.
    with av.open(io.BytesIO(), "w", format=probe.format.name) as holder:
        encoder = holder.add_stream(_AUDIO_ENCODERS[codec], rate=48000)
        encoder.codec_context.layout = "mono"
        encoder.codec_context.format = encoder.codec_context.codec.audio_formats[0]
        holder.start_encoding()  # the encoder opens: its extradata is known from here on
        context = encoder.codec_context
        silence = av.AudioFrame(format=context.format.name, layout="mono", samples=2048)
        for plane in silence.planes:
            plane.update(bytes(plane.buffer_size))
        silence.sample_rate, silence.pts = 48000, 0
        first = next(p for p in [*encoder.encode(silence), *encoder.encode(None)] if p.size)
        tracks = [probe.add_stream_from_template(encoder) for _ in FLAG_WORDS]
    return [(track, bytes(first)) for track in tracks]


def _partner(flag: str) -> Disposition:
    partner = _SAME_MEANING.get(flag)
    return Disposition[partner] if partner else Disposition(0)


@cache
def kept_flags(container_format: str, track_type: str) -> frozenset[str] | None:
    """The flags of FLAG_WORDS that a `container_format` file keeps on an audio or a
    subtitle track; None when it cannot be measured (a container that takes none of the
    probe's codecs)."""

    def add_tracks(probe: av.container.OutputContainer) -> list:
        tracks = _probe_tracks(probe, track_type)
        if not tracks:
            return []
        for (track, _), flag in zip(tracks, FLAG_WORDS, strict=True):
            track.disposition = Disposition[flag]
        return tracks

    def kept(read: list[av.stream.Stream]) -> frozenset[str] | None:
        if len(read) != len(FLAG_WORDS):
            return None
        return frozenset(
            flag
            for flag, stream in zip(FLAG_WORDS, read, strict=True)
            if stream.disposition & (Disposition[flag] | _partner(flag))
        )

    return read_back(container_format, add_tracks, track_type, kept)


def dropped_flags(disposition: int, container_format: str, track_type: str) -> list[str]:
    """The words for the flags of `disposition`, an audio or subtitle track's, that a
    `container_format` file loses (none for other tracks: a cover keeps its own flag)."""
    if track_type not in ("audio", "subtitle"):
        return []
    kept = kept_flags(container_format, track_type)
    if kept is None:
        return []
    has = [flag for flag in FLAG_WORDS if disposition & Disposition[flag]]
    return [
        FLAG_WORDS[flag]
        for flag in has
        if flag not in kept and not (_SAME_MEANING.get(flag) in kept and _SAME_MEANING[flag] in has)
    ]
