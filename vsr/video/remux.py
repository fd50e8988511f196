"""Carry a source's audio and subtitle streams into the output while video is re-encoded.

Packets are copied unchanged (stream copy). Audio is re-encoded only when the output
container cannot hold its codec, losslessly where the source is lossless and the container
takes a lossless codec (vsr.video.lossless_audio); text subtitles are converted to the
container's text format in that case (SubRip -> mov_text for MP4), and bitmap subtitles it
cannot hold are dropped with a note. Data tracks (a GoPro's telemetry) are copied where a
copy reads back as it was (vsr.video.data_tracks), else named in a note. The source is
demuxed a second time alongside the video encoder and packets are handed to the muxer only
up to the time the video has reached (plus a short lead), so the muxer interleaves properly
and memory stays bounded however long the clip is.

Chapter marks are copied too, moved later with the video where the muxer moves every
stream (vsr.video.muxer_shift). For a part of the clip (`vsr.video.trim.Cut`) the copy
starts a little before the cut, keeps what is heard or shown inside it (chapters
included), and moves every timestamp back as the video's.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.video.audio_lengths import AudioLengths
from vsr.video.clock_restarts import ClockRestarts
from vsr.video.copy_trial import trial_copy
from vsr.video.data_tracks import data_copy_survives, header_takes
from vsr.video.encoder_trial import audio_bit_rate, audio_encoder_takes
from vsr.video.file_version import FileVersion, check_unchanged
from vsr.video.frame_rate import file_frame_rate
from vsr.video.libav_log import libav_messages
from vsr.video.lossless_audio import is_lossless, lossless_encoding
from vsr.video.media_url import open_source
from vsr.video.muxer_shift import MuxerShift
from vsr.video.png_cover import PngPicture, cover_as_png, png_bytes
from vsr.video.reader import is_cover, main_video_stream
from vsr.video.statistics_tags import without_statistics
from vsr.video.subtitle_header import header_for_conversion
from vsr.video.timecode import moved_timecode
from vsr.video.track_flags import dropped_flags
from vsr.video.track_language import fit_language
from vsr.video.trim import Cut

# Tags the muxer writes itself, or that describe the old file rather than the new one.
# A track's statistics tags (BPS, NUMBER_OF_BYTES ...) are stale only where its packets
# change, so they are dropped per track instead (vsr.video.statistics_tags).
STALE_TAGS = frozenset({"duration", "major_brand", "minor_version", "compatible_brands", "rotate"})
# What made the packets: still true of a track copied unchanged (a copied AAC's "Lavc aac",
# a SubRip's "Aegisub"), stale where vsr encodes anew, and the file's is the muxer's own.
_ENCODER_TAG = "encoder"
# A Matroska attachment's file name and type, which libav gives as tags to the cover stream
# it reads an image attachment back as. They describe the attached file: a cover kept as a
# track (MP4) is none, and is not given them (the note called them lost track tags).
_ATTACHMENT_FIELDS = frozenset({"filename", "mimetype"})
# How far ahead of the video (seconds) other streams are fed to the muxer.
LEAD_SECONDS = 1.0
# FFmpeg's default layout for a channel count, for sources that name no channel order.
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 8: "7.1"}
# Layouts nearly every audio encoder takes, for one that refuses the source's (libopus
# refuses 5.1(side), which AC-3 and DTS decoders give; AAC refuses 22.2).
_COMMON_LAYOUTS = ("mono", "stereo", "3.0", "quad", "5.0", "5.1", "6.1", "7.1")


def encoder_layout(codec: str, rate: int, layout: str) -> str:
    """`layout` if audio encoder `codec` takes it, else the nearest one it takes: one of
    as many channels, else the closest with fewer (a downmix), as ffmpeg's CLI does."""
    channels = av.AudioLayout(layout).nb_channels

    def nearness(name: str) -> tuple[bool, int]:
        count = av.AudioLayout(name).nb_channels
        return count > channels, abs(count - channels)

    fallbacks = sorted(_COMMON_LAYOUTS, key=nearness)
    for candidate in dict.fromkeys([layout, _DEFAULT_LAYOUTS.get(channels, layout), *fallbacks]):
        if audio_encoder_takes(codec, rate, candidate):
            return candidate
    return layout  # none: the encoder's own error says why


TEXT_SUBTITLES = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"})
# For a cut: how far before it the copy starts reading (a subtitle shown at the cut may
# have started this long before), and how far past its end it reads before stopping (the
# streams of a file are interleaved only roughly).
CUT_PREROLL_SECONDS = 30.0
CUT_SLACK_SECONDS = 5.0
AUDIO_PREROLL_SECONDS = 0.2  # AAC's priming is 21 ms; Opus asks for 80 ms


def _at_zero(open_ended: dict[int, av.Packet]) -> Iterator[av.Packet]:
    """The subtitles still showing when a cut starts, moved to its start (and forgotten)."""
    for packet in open_ended.values():
        packet.pts = packet.dts = 0
        yield packet
    open_ended.clear()


def is_timecode(stream: av.stream.Stream) -> bool:
    """A QuickTime timecode track: its one value is also the video stream's tag."""
    return any(key.lower() == "timecode" for key in stream.metadata)


def fresh_tags(tags: dict[str, str], encoded_anew: bool = True) -> dict[str, str]:
    """`tags` less the stale ones, and less the encoder's where the packets are made anew."""
    stale = STALE_TAGS | {_ENCODER_TAG} if encoded_anew else STALE_TAGS
    return {k: v for k, v in tags.items() if k.lower() not in stale}


def track_tags(tags: dict[str, str], encoded_anew: bool = True) -> dict[str, str]:
    """A stream's tags for the output: fresh, and its title under the name muxers write.

    MP4 and MOV keep a track's title in a "name" atom, which libav reads back as "name"
    but writes from "title": copied as "name", titles were lost in MP4 and MOV and became
    a NAME tag in Matroska, which players do not show."""
    kept = fresh_tags(tags, encoded_anew)
    name = next((key for key in kept if key.lower() == "name"), None)
    if name is not None and not any(key.lower() == "title" for key in kept):
        kept["title"] = kept.pop(name)
    return kept


@dataclass
class _Route:
    """Where one input stream's packets go: copied, or decoded and re-encoded."""

    output: av.stream.Stream
    reencode: bool = False  # audio through a decoder and an encoder
    convert_text: bool = False  # subtitles decoded to text and encoded in another format
    picture: bytes | None = None  # a cover picture stored in another format (PNG)
    sent: int = 0  # packets copied, or frames given to the encoder


@dataclass(frozen=True)
class _SourceStreams:
    """What the routing of each stream needs to know of the source's streams as a whole."""

    supported: set[str]  # the codecs the output container holds
    extension: str  # the output's, as the notes name the container
    upscaled: int  # the upscaled video stream's index (-1: none)
    covers: set[int]  # the cover pictures beside it
    data: set[int]  # the data tracks whose copy the output's header takes
    first: dict[int, av.Packet]  # the first packet of each stream the muxer probes are fed


def _ordered_layout(stream: av.audio.AudioStream) -> str:
    """The stream's channel layout, or for one without a channel order ("2 channels",
    common in Matroska PCM, which some muxers refuse) the default layout for the channel
    count, which is what it means."""
    layout = stream.layout.name
    if layout.endswith(" channels"):
        return _DEFAULT_LAYOUTS.get(stream.codec_context.channels, layout)
    return layout


def _codec_name(stream: av.stream.Stream) -> str | None:
    """Data streams have no codec context, but PyAV names their codec (klv, ...); an
    attachment's name is its file's, which its own note gives."""
    codec = stream.codec_context.name if stream.codec_context else None
    return stream.name if codec is None and stream.type == "data" else codec


def _label(stream: av.stream.Stream) -> str:
    """A stream as the notes name it: "audio stream #1 (aac)"."""
    codec = _codec_name(stream)
    return f"{stream.type} stream #{stream.index}" + (f" ({codec})" if codec else "")


def _moved(packets: Iterator[av.Packet], move: Callable[[av.Packet], None]) -> Iterator[av.Packet]:
    """`packets` with their times moved by `move` (vsr.video.clock_restarts)."""
    for packet in packets:
        if packet.size:
            move(packet)
        yield packet


def _is_gap_cue(packet: av.Packet) -> bool:
    """Whether a packet is an MP4 text track's empty cue (a text of length 0), which the
    MP4 muxer puts between cues to clear the screen: nothing to show or to convert."""
    return (
        packet.stream.type == "subtitle"
        and packet.stream.codec_context.name == "mov_text"
        and bytes(packet)[:2] == b"\x00\x00"
    )


def _muxer_takes(stream, container_format: str, first: av.Packet | None) -> bool:
    """Whether the muxer really accepts a copy of `stream` (vsr.video.copy_trial): for
    audio and cover pictures with the stream's `first` packet. Subtitles get the header
    only: their first packet may lie anywhere in a long file."""
    return trial_copy(stream, container_format, first) is not None


def _mov_text_cues(source: Path, index: int) -> list[tuple[Fraction, str]] | None:
    """The (start in seconds, text) of each non-empty cue of a mov_text stream, read from
    one more opening of the source; None when it cannot be read. A chapter track has a
    cue per chapter, so this reads little (other streams' samples are skipped, not read)."""
    cues = []
    try:
        with open_source(source) as reader:
            stream = reader.streams[index]
            for packet in reader.demux(stream):
                data = bytes(packet)
                if len(data) < 2 or packet.pts is None:
                    continue  # the empty sample that ends the last cue, or the flush
                length = int.from_bytes(data[:2], "big")
                text = data[2 : 2 + length].decode("utf-8", errors="replace")
                if text:
                    cues.append((packet.pts * stream.time_base, text))
    except (av.error.FFmpegError, ValueError):
        return None
    return cues


def _first_packets(source: Path, indexes: set[int]) -> dict[int, av.Packet]:
    """The first packet of each stream in `indexes`, from one more opening of the source
    (the copier's own reader must start at the beginning). One opening for them all: each
    opening parses every stream again (1000 audio streams took minutes one by one)."""
    found: dict[int, av.Packet] = {}
    if not indexes:
        return found
    try:
        with open_source(source) as reader:
            for packet in reader.demux(*(reader.streams[i] for i in sorted(indexes))):
                if packet.size and packet.stream.index not in found:
                    found[packet.stream.index] = packet
                    if len(found) == len(indexes):
                        break
    except (av.error.FFmpegError, ValueError):
        pass  # a damaged file: the streams without a packet get a header-only probe
    return found


def _give_its_own_length(packet: av.Packet) -> None:
    """A subtitle packet of no duration given the time its own picture says it shows: a
    DVD's (VobSub) stop command. A VOB or a TS stores no duration, and MP4 shows a sample
    for as long as it lasts, up to the next one's start: the last subtitle, of no length,
    was lost (libav's demuxer skips it, a player shows it for no time). One without such a
    time, or that does not decode, is left as it is."""
    context = packet.stream.codec_context
    try:
        if not context.is_open:
            context.open()
        shown = context.decode2(packet)
    except av.error.FFmpegError:
        return
    # Milliseconds from the packet's time; a stop command that never comes reads as -1 or
    # a huge count, which is no length to give.
    end = shown.end_display_time if shown is not None else 0
    if 0 < end < 2**31 and packet.time_base:
        packet.duration = round(Fraction(end, 1000) / packet.time_base)


class StreamCopier:
    """Copies the non-video streams of `source` into `output` (an open output container).
    `version`: the one the video is read from (vsr.video.file_version); SourceChanged where
    `source` names another one by the time the copier has opened it."""

    def __init__(
        self,
        source: Path,
        output: av.container.OutputContainer,
        notes: list[str],
        cut: Cut | None = None,
        clock_restarts: ClockRestarts | None = None,
        frame_timecode: str | None = None,
        muxer: MuxerShift | None = None,
        version: FileVersion | None = None,
    ):
        # The writer's, which its video goes through too: the muxer's shift is the whole file's.
        self._muxer = muxer if muxer is not None else MuxerShift(output)
        self._cut = cut
        self._clock_restarts = clock_restarts
        self._frame_timecode = frame_timecode
        self._notes = notes
        self._input = open_source(source)
        try:
            self._route_streams(source, output, notes)
            # Every opening of the source is behind (routing opens it again for first
            # packets, cues and covers): they read the reader's `version`, or none is kept.
            check_unchanged(source, version)
        except BaseException:
            self._input.close()  # the writer gets no copier that it could close
            raise

    def _route_streams(
        self, source: Path, output: av.container.OutputContainer, notes: list[str]
    ) -> None:
        """Decide each stream's way into `output`: copied, re-encoded, converted, or
        dropped with a note."""
        self._chapters = self._input.chapters()
        self._output = output
        self._mov_like = output.format.name in ("mp4", "mov")
        self._routes: dict[int, _Route] = {}
        self._video = main_video_stream(self._input)
        source_streams = self._survey(source)
        for stream in self._input.streams:
            route = self._route_of(source, stream, source_streams, notes)
            if route is None:
                continue
            self._keep_track_details(stream, route, source_streams.extension, notes)
            self._routes[stream.index] = route
        self._flag_default_audio()
        self._say_if_a_subtitle_track_will_be_shown(notes)
        self._copy_chapters(notes)
        self._packets = self._demux()
        self._pending: av.Packet | None = None
        # MP4 and MOV time their last sample by its duration, which some demuxers leave
        # out (vsr.video.audio_lengths); Matroska and WebM need none.
        self._audio_lengths = AudioLengths() if self._mov_like else None
        self.copied_packets = 0

    def _survey(self, source: Path) -> _SourceStreams:
        """What routing each stream needs to know of the source's streams as a whole, the
        first packets the muxer probes are fed read now."""
        output = self._output
        supported = output.supported_codecs
        extension = Path(output.name).suffix
        video = self._video
        upscaled = video.index if video is not None else -1
        covers = {s.index for s in self._input.streams.video if s.index != upscaled and is_cover(s)}
        # Data tracks whose copy the output's header takes (a timecode's or the chapters'
        # track is kept otherwise). Only they need a first packet to try: a broadcast
        # TS's SCTE-35 track, which no output holds, often has none, and looking for it
        # read the whole recording before the run began.
        data = {
            s.index
            for s in self._input.streams.data
            if not is_timecode(s)
            and not self._is_chapters(s)
            and header_takes(s, output.format.name)
        }
        # What the muxer probes are fed: a packet of each audio stream, cover picture and
        # data track above.
        first = _first_packets(source, {s.index for s in self._input.streams.audio} | covers | data)
        return _SourceStreams(supported, extension, upscaled, covers, data, first)

    def _route_of(
        self, source: Path, stream, source_streams: _SourceStreams, notes: list[str]
    ) -> _Route | None:
        """One stream's way into the output; None where it takes none of its own (dropped
        with a note, kept as an attachment, as chapters or as a tag)."""
        codec, label = _codec_name(stream), _label(stream)
        extension = source_streams.extension
        if stream.type == "attachment":
            self._copy_attachment(stream, label, extension, notes)
            return None
        cover = stream.index in source_streams.covers
        if cover and self._output.format.name != "mp4":
            self._cover_as_attachment(source, stream, label, extension, notes)
            return None
        if stream.type in ("audio", "subtitle") and stream.codec_context is None:
            # A codec libav knows of but cannot decode (a TS's teletext, an MP4's TTML):
            # PyAV copies only a stream it has a codec context for, and none fits the
            # muxer's codec list ("cannot hold None subtitles" blamed the container).
            notes.append(
                f"{label}: dropped, its codec is one this libav cannot read, which vsr cannot copy"
            )
            return None
        if stream.type == "subtitle" and self._is_chapter_text(source, stream, codec):
            return None  # kept as the container's chapters
        if stream.type not in ("audio", "subtitle") and not cover:
            return self._video_or_data_route(stream, source_streams, notes)
        if codec in source_streams.supported and _muxer_takes(
            stream, self._output.format.name, source_streams.first.get(stream.index)
        ):
            return _Route(self._output.add_stream_from_template(stream))
        return self._route_in_another_format(source, stream, source_streams, notes)

    def _video_or_data_route(
        self, stream, source_streams: _SourceStreams, notes: list[str]
    ) -> _Route | None:
        """A data track copied (telemetry), where the output can hold it; another video
        stream, or a data stream kept otherwise or not held, takes no route."""
        upscaled, label = source_streams.upscaled, _label(stream)
        if stream.index == upscaled or (
            stream.type == "data" and (is_timecode(stream) or self._is_chapters(stream))
        ):
            return None  # kept otherwise: as the video's timecode tag, as chapters
        if stream.type == "video":
            why = f"only the upscaled video stream #{upscaled} is kept"
        elif stream.type != "data":
            why = f"vsr does not copy {stream.type} streams"
        elif stream.index not in source_streams.data or not data_copy_survives(
            stream, self._output.format.name, source_streams.first.get(stream.index)
        ):
            # Tried without a packet too: a TS's SCTE-35 track that has none and a
            # registration ("CUEI") of its own passes MOV's header, which then
            # writes a track of no codec; "it holds no packets" said a copy would
            # have kept it.
            why = f"{source_streams.extension} cannot hold this data stream"
        elif stream.index not in source_streams.first:
            why = "it holds no packets"
        else:
            why = None  # telemetry (a GoPro's GPMF) goes along as audio does
        if why is not None:
            notes.append(f"{label}: not copied ({why})")
            return None
        return _Route(self._output.add_stream_from_template(stream))

    def _route_in_another_format(
        self, source: Path, stream, source_streams: _SourceStreams, notes: list[str]
    ) -> _Route | None:
        """The route of a cover picture, audio or subtitle stream the output cannot hold as
        it is: stored as PNG, re-encoded, converted to text it holds, or else dropped."""
        codec, label = _codec_name(stream), _label(stream)
        extension, supported = source_streams.extension, source_streams.supported
        if stream.index in source_streams.covers:
            made = self._cover_as_png(source, stream)
            if not isinstance(made, tuple):
                why = made or f"{extension} cannot hold it"
                notes.append(f"{label}: the cover picture dropped, {why}")
                return None
            route, how = made
            notes.append(
                f"{label}: the cover picture stored as PNG, {how} "
                f"(vsr cannot write {codec} into {extension})"
            )
            return route
        if stream.type == "audio":
            return self._audio_route(stream, label, extension, notes)
        if codec in TEXT_SUBTITLES and self._text_format(supported):
            encoder, why = self._text_encoder(stream, supported)
            if encoder is None:
                notes.append(
                    f"{label}: dropped, {extension} cannot hold {codec} and the "
                    f"conversion to {self._text_format(supported)} failed ({why})"
                )
                return None
            route = _Route(encoder, convert_text=True)
            notes.append(
                f"{label}: {extension} cannot hold {codec}; "
                f"converted to {route.output.codec_context.name}{why}"
            )
            return route
        notes.append(f"{label}: dropped, {extension} cannot hold {codec} subtitles")
        return None

    def _keep_track_details(self, stream, route: _Route, extension: str, notes: list[str]) -> None:
        """The stream's tags and flags on its output track, with a note on what is lost."""
        label = _label(stream)
        tags = track_tags(stream.metadata, encoded_anew=self._encodes_anew(route))
        if is_cover(stream):
            tags = {k: v for k, v in tags.items() if k.lower() not in _ATTACHMENT_FIELDS}
        if self._changes_packets(stream, route):
            tags = without_statistics(tags)
        tags = fit_language(tags, self._output, label, notes)
        route.output.metadata.update(tags)
        route.output.disposition = stream.disposition
        lost = dropped_flags(stream.disposition, self._output.format.name, stream.type)
        if lost:
            flags = "flag" if len(lost) == 1 else "flags"
            notes.append(f"{label}: {extension} cannot keep its {', '.join(lost)} {flags}")

    @staticmethod
    def _encodes_anew(route: _Route) -> bool:
        """Whether vsr makes the output track's packets itself: re-encoded or converted."""
        return route.reencode or route.convert_text or route.picture is not None

    def _changes_packets(self, stream, route: _Route) -> bool:
        """Whether the output track's packets are other than the source stream's: re-encoded,
        converted, or cut (a cover picture is kept whole by a cut). Its statistics tags then
        count what it no longer holds (vsr.video.statistics_tags)."""
        if self._encodes_anew(route):
            return True
        cut = self._cut is not None and self._cut.asked  # not a whole file moved to zero
        return cut and stream.type != "video"

    def _flag_default_audio(self) -> None:
        """Flag the first audio track default when none is (Matroska sources may have
        cleared every flag): players play the default tracks. Subtitles keep theirs, or
        they would be shown unasked."""
        default = av.stream.Disposition.default
        audio = [r.output for r in self._routes.values() if r.output.type == "audio"]
        if audio and not any(stream.disposition & default for stream in audio):
            audio[0].disposition = audio[0].disposition | default

    def _say_if_a_subtitle_track_will_be_shown(self, notes: list[str]) -> None:
        """MP4 and MOV enable the first track of a kind where none is default (libav's mov
        muxer, with no option against it), and players show an enabled subtitle track
        unasked: English subtitles the source left off came out on. Not preventable, so
        said."""
        default = av.stream.Disposition.default
        subtitles = [r.output for r in self._routes.values() if r.output.type == "subtitle"]
        if self._mov_like and subtitles and not any(s.disposition & default for s in subtitles):
            language = subtitles[0].metadata.get("language")
            which = f" ({language})" if language and language != "und" else ""
            notes.append(
                f"the source marks no subtitle track to be shown, and "
                f"{Path(self._output.name).suffix} marks its first{which} so (the muxer "
                "always does): players may show it unasked; .mkv keeps none marked"
            )

    def _is_chapters(self, stream) -> bool:
        """MP4/MOV keep chapters also as a text track, one sample a chapter: a data stream
        to libav, carried here as the container's chapters instead. Known as the track
        libav's MOV demuxer read the chapters from (the one the video's 'chap' reference
        names), which it marks to be discarded; not by its count of samples, which a
        telemetry track as long as the chapters shares (it was dropped without a note)."""
        return (
            bool(self._chapters)
            and stream.type == "data"
            and stream.discard == av.stream.Discard.all
        )

    def _is_chapter_text(self, source: Path, stream, codec: str) -> bool:
        """The chapters' text track that libav shows as a subtitle stream (an MP4 with a
        timecode and no audio, whose chapter reference it does not follow): copied, players
        would show the chapter titles as subtitles. Known by its cues: each chapter's title
        at the chapter's start, and nothing else (a real subtitle track is copied)."""
        chapters = self._chapters
        if codec != "mov_text" or not chapters or stream.frames > len(chapters) + 1:
            return False
        marks = [(c["start"] * c["time_base"], c["metadata"].get("title", "")) for c in chapters]
        cues = _mov_text_cues(source, stream.index)
        if cues is None or len(cues) != len(marks):
            return False
        tick = max(stream.time_base or 0, *(c["time_base"] for c in chapters))
        return all(
            text == title and abs(at - start) <= tick
            for (at, text), (start, title) in zip(cues, marks, strict=True)
        )

    def _copy_chapters(self, notes: list[str]) -> None:
        """The chapter marks, moved and trimmed with a cut (those outside it go). Where the
        muxer may move every stream later, they wait for the end of the file, when the
        shift is known (_set_moved_chapters): Matroska writes them then too."""
        chapters = self._chapters
        if self._cut is not None:
            chapters = [c for c in map(self._chapter_within_cut, chapters) if c is not None]
        self._chapters_to_move: list[dict] = []
        if self._muxer.moves_streams:
            self._chapters_to_move = chapters
        elif chapters:
            self._set_chapters(chapters, notes)

    def _set_chapters(self, chapters: list[dict], notes: list[str]) -> None:
        try:
            self._output.set_chapters(chapters)
        except (av.error.FFmpegError, ValueError) as error:
            notes.append(f"chapters: dropped ({error})")

    def _set_moved_chapters(self) -> None:
        """The chapters kept for a Matroska or WebM output, moved as much later as the muxer
        stored the video they mark (vsr.video.muxer_shift), in nanoseconds, Matroska's unit
        for them."""
        if not self._chapters_to_move:
            return
        video = self._output.streams.video[0]  # the upscaled one, the writer's first stream
        shift, nanosecond = self._muxer.of(video), Fraction(1, 10**9)

        def moved(time: int, time_base: Fraction) -> int:
            return round((time * time_base + shift) / nanosecond)

        chapters = [
            {
                **chapter,
                "start": moved(chapter["start"], chapter["time_base"]),
                "end": moved(chapter["end"], chapter["time_base"]),
                "time_base": nanosecond,
            }
            for chapter in self._chapters_to_move
        ]
        self._set_chapters(chapters, self._notes)

    def _chapter_within_cut(self, chapter: dict) -> dict | None:
        cut, time_base = self._cut, chapter["time_base"]
        zero = cut.offset_in(time_base)
        last = cut.end_in(time_base)
        start, end = chapter["start"], chapter["end"]
        if end <= zero or (last is not None and start >= last):
            return None
        end = end if last is None else min(end, last)
        return {**chapter, "start": max(start, zero) - zero, "end": end - zero}

    def _copy_attachment(self, stream, label: str, extension: str, notes: list[str]) -> None:
        """Fonts and cover pictures: Matroska keeps them in its header; others (WebM too)
        cannot."""
        if self._output.format.name != "matroska":
            notes.append(f"{label} {stream.name}: dropped, {extension} cannot hold attachments")
            return
        try:
            self._output.add_attachment(stream.name, stream.mimetype or "", bytes(stream.data))
        except (av.error.FFmpegError, ValueError) as error:
            notes.append(f"{label} {stream.name}: dropped ({error})")

    def _cover_as_png(self, source: Path, stream) -> tuple[_Route, str] | str | None:
        """The route of a cover picture kept as PNG (vsr.video.png_cover), its PNG read and
        made now, and how the PNG holds it (the note's words); else why not: None where the
        output cannot hold PNG, the note's words where the picture itself is at fault (a
        damaged BMP's note said the output "cannot hold it", which sent the user looking at
        the container)."""
        if "png" not in self._output.supported_codecs:
            return None
        made = _cover_png(source, stream)
        if isinstance(made, str):
            return made
        converted, picture = made
        width, height = converted.frame.width, converted.frame.height
        output = self._output.add_mux_stream("png", width=width, height=height)
        return _Route(output, picture=picture), converted.how

    def _cover_as_attachment(
        self, source: Path, stream, label: str, extension: str, notes: list[str]
    ) -> None:
        """MP4 keeps a cover picture as a stream of one packet (MOV and WebM cannot hold
        it); Matroska as an attachment in its header, so the packet is read now, under the
        name and type it had (a Matroska source's attachment reads back as such a stream).
        A picture of no type Matroska names (an MP4's BMP cover) is attached as PNG: libav
        reads an image/bmp attachment back as a plain file, not as a cover."""
        if self._output.format.name != "matroska":
            notes.append(f"{label}: the cover picture dropped, {extension} cannot hold it")
            return
        codec = stream.codec_context.name
        kind = {"mjpeg": ("jpg", "image/jpeg"), "png": ("png", "image/png")}
        suffix, mimetype = kind.get(codec, ("png", ""))
        name = stream.metadata.get("filename") or f"cover{stream.index}.{suffix}"
        mimetype = stream.metadata.get("mimetype") or mimetype
        if mimetype:
            with open_source(source) as reader:
                cover = reader.streams[stream.index]
                packet = next((p for p in reader.demux(cover) if p.size), None)
            if packet is None:
                notes.append(f"{label}: the cover picture dropped, its stream holds no picture")
                return
            picture = bytes(packet)
        else:
            made = _cover_png(source, stream)
            if isinstance(made, str):
                notes.append(f"{label}: the cover picture dropped, {made}")
                return
            converted, picture = made
            name, mimetype = Path(name).with_suffix(".png").name, "image/png"
            notes.append(
                f"{label}: the cover picture attached as PNG, {converted.how} "
                f"(players read no {codec} attachment as a cover)"
            )
        try:
            self._output.add_attachment(name, mimetype, picture)
        except (av.error.FFmpegError, ValueError) as error:
            notes.append(f"{label}: the cover picture dropped ({error})")

    @property
    def audio_encoders(self) -> list[str]:
        """The encoders of the audio streams re-encoded for the output (none: all copied)."""
        return [r.output.codec_context.name for r in self._routes.values() if r.reencode]

    @property
    def container_tags(self) -> dict[str, str]:
        """The file's tags; a timecode among them (MP4/MOV muxers prefer it to the
        video's) moves with a cut as the video's does."""
        return self._with_moved_timecode(dict(self._input.metadata))

    @property
    def video_tags(self) -> dict[str, str]:
        """The upscaled stream's tags, less its statistics (vsr.video.statistics_tags). Its
        timecode (which MP4/MOV muxers turn back into a timecode track) moves with a cut to
        the first kept frame's."""
        video = self._video
        if video is None:
            return {}
        # Re-encoded: its statistics tags counted the old frames' bytes.
        tags = self._with_moved_timecode(without_statistics(dict(video.metadata)))
        stated = [*tags, *self._input.metadata]
        if self._frame_timecode and not any(k.lower() == "timecode" for k in stated):
            # The frames' own (broadcast TS carry it so), the first kept frame's already.
            tags["timecode"] = self._frame_timecode
        reel = self._reel_name()
        if reel and not any(k.lower() == "reel_name" for k in tags):
            tags["reel_name"] = reel
            note = (
                f"the timecode track's reel name ({reel}) is not kept: libav writes it in "
                ".mov files only (.mov and .mkv keep it)"
            )
            if self._output.format.name == "mp4" and note not in self._notes:
                self._notes.append(note)
        return tags

    def _reel_name(self) -> str | None:
        """The reel name of a MOV/MP4 source's timecode track. The output's timecode track
        is made anew from the video's timecode tag, and the mov muxer names its reel from
        the video's tags: a camera's reel (A001C003), which conform and EDL work match
        clips by, was lost."""
        for stream in self._input.streams.data:
            reel = stream.metadata.get("reel_name")
            if reel and "timecode" in stream.metadata:
                return reel
        return None

    def _with_moved_timecode(self, tags: dict[str, str]) -> dict[str, str]:
        """`tags` with a timecode (any case: Matroska writes TIMECODE) moved to the first
        kept frame's, or dropped with a note when it cannot be moved."""
        key = next((k for k in tags if k.lower() == "timecode"), None)
        if self._cut is None or key is None:
            return tags
        video = self._video
        rate = None if video is None else file_frame_rate(self._input, video)
        frames = round((self._cut.offset - self._cut.origin) * rate) if rate else 0
        moved = moved_timecode(tags[key], frames, rate)
        if moved is not None:
            tags[key] = moved
            return tags
        note = f"the timecode {tags.pop(key)} could not be moved with the cut: dropped"
        if note not in self._notes:
            self._notes.append(note)
        return tags

    def _audio_route(self, stream, label: str, extension: str, notes: list[str]) -> _Route:
        """The re-encode of an audio stream the container cannot hold: to a lossless codec
        it takes where the source is lossless, else to its default codec, with a note that
        says which, and that the sound is now lossy where it was not."""
        codec = stream.codec_context.name
        lossless = is_lossless(stream)
        # A lossy source keeps its default-codec re-encode: PCM of decoded Opus is only larger.
        layout = _ordered_layout(stream)
        kept = lossless_encoding(stream, self._output.format.name, layout) if lossless else None
        if kept is not None:
            encoder = self._output.add_stream(
                kept.codec, rate=stream.sample_rate, options=dict(kept.options)
            )
            encoder.format, encoder.layout = kept.sample_format, layout
            notes.append(
                f"{label}: {extension} cannot hold this {codec} stream; "
                f"re-encoded to {kept.describe()}, lossless: every sample kept"
            )
            return _Route(encoder, reencode=True)
        encoder, layout_note = self._audio_encoder(stream)
        name = encoder.codec_context.name
        if lossless:
            rate = audio_bit_rate(name, encoder.codec_context.sample_rate, encoder.layout.name)
            at = f" at {rate // 1000} kb/s" if rate else ""
            notes.append(
                f"{label}: {extension} cannot hold this {codec} stream nor any lossless "
                f"codec for it; re-encoded to {name}{at}{layout_note}: the track is now "
                f"lossy, where the source's was lossless"
            )
        else:
            notes.append(
                f"{label}: {extension} cannot hold this {codec} stream; "
                f"re-encoded to {name}{layout_note}"
            )
        return _Route(encoder, reencode=True)

    def _audio_encoder(self, stream: av.audio.AudioStream) -> tuple[av.audio.AudioStream, str]:
        """The encoder for a stream the container cannot hold, and a note on its sample
        rate and layout where the encoder cannot take the source's."""
        codec = av.codec.Codec(self._output.default_audio_codec, "w")
        changes = []
        rates = codec.audio_rates or [stream.sample_rate]
        rate = stream.sample_rate if stream.sample_rate in rates else max(rates)
        if rate != stream.sample_rate:
            changes.append(f"resampled from {stream.sample_rate} to {rate} Hz")
        encoder = self._output.add_stream(codec.name, rate=rate)
        layout = _ordered_layout(stream)
        taken = encoder_layout(codec.name, rate, layout)
        encoder.layout = taken  # PyAV's encoder resamples the frames to it
        if taken != layout:
            fewer = av.AudioLayout(taken).nb_channels < stream.codec_context.channels
            how = "downmixed" if fewer else "mapped"
            changes.append(f"{stream.layout.name} {how} to {taken}")
        return encoder, f" ({', '.join(changes)}, which {codec.name} takes)" if changes else ""

    @staticmethod
    def _text_format(supported: set[str]) -> str | None:
        return next((c for c in ("mov_text", "subrip", "webvtt", "ass") if c in supported), None)

    def _text_encoder(self, stream, supported: set[str]) -> tuple[av.stream.Stream | None, str]:
        """The encoder that converts a text subtitle stream, and what its note adds; or
        None and why it cannot. The encoder is tried first: one that refuses to open would
        otherwise fail the output's header, where the refusal reads as the video codec's."""
        text_format = self._text_format(supported)
        try:
            stream.codec_context.open()  # the decoder provides the style header
            header, plain = header_for_conversion(stream.codec_context.subtitle_header)
            trial = av.codec.CodecContext.create(text_format, "w")
            trial.subtitle_header, trial.time_base = header, stream.time_base
            with libav_messages([]):
                trial.open()
        except (av.error.FFmpegError, ValueError) as error:
            return None, getattr(error, "strerror", None) or str(error)
        encoder = self._output.add_stream(text_format)
        encoder.codec_context.subtitle_header = header
        encoder.codec_context.time_base = stream.time_base
        encoder.time_base = stream.time_base
        return encoder, " in a plain style, as it has no style header" if plain else ""

    def _demux(self) -> Iterator[av.Packet]:
        if not self._routes:
            return
        wanted = [s for s in self._input.streams if s.index in self._routes]
        packets = self._input.demux(wanted)
        if self._clock_restarts is not None:  # joined recordings, moved as the video is
            packets = _moved(packets, self._clock_restarts.mover())
        if self._cut is not None:
            packets = self._within_cut(packets)
        try:
            yield from packets
        except av.error.FFmpegError:
            return  # a truncated source: copy what could be read

    def _within_cut(self, packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
        """The packets heard or shown inside the cut, their timestamps moved back with the
        video's. A subtitle already showing at the cut starts at zero, for what is left."""
        cut = self._cut
        self._seek_before_the_cut()
        stop = None if cut.end is None else cut.end + Fraction(CUT_SLACK_SECONDS)
        # Per stream, the last subtitle before the cut that has no duration (bitmap formats
        # such as PGS: each one shows until the next), which may still be showing at it.
        open_ended: dict[int, av.Packet] = {}
        for packet in packets:
            stamp, time_base = packet.pts, packet.time_base
            if packet.stream.type == "video" and packet.size:  # a cover: the whole file's
                yield packet
                continue
            if stamp is None or time_base is None or not packet.size:
                continue  # a cut needs times; the end-of-stream marker is not needed
            if stop is not None and stamp * time_base > stop:
                break
            if cut.past(stamp, time_base):
                continue
            zero = cut.offset_in(time_base)
            length = packet.duration or 0
            if packet.stream.type == "subtitle" and not length and stamp < zero:
                open_ended[packet.stream.index] = packet
                continue
            if open_ended and stamp >= zero:
                yield from _at_zero(open_ended)
            if self._left_out_before_the_cut(packet, stamp, length, zero):
                continue
            if packet.stream.type == "subtitle":
                # Shown for the part of its time inside the cut only.
                last = cut.end_in(time_base)
                shown_until = stamp + length if last is None else min(stamp + length, last)
                stamp = max(stamp, zero)
                packet.duration = shown_until - stamp if length else 0
                packet.pts = packet.dts = stamp
            # Audio heard across the cut keeps its packet, which starts before zero: the
            # muxer keeps it with an edit list (MP4), as a negative time, or by starting
            # every stream that much later (Matroska, WebM), in sync each way, and the
            # decoder gets its pre-roll.
            dts = packet.dts
            packet.pts = stamp - zero
            packet.dts = None if dts is None else min(dts - zero, packet.pts)
            yield packet
        yield from _at_zero(open_ended)  # nothing came after the cut's start

    def _seek_before_the_cut(self) -> None:
        early = float(self._cut.offset) - CUT_PREROLL_SECONDS
        if early > self._cut.file_start:  # near the top, read from it: a seek skips what has
            # negative times (AAC's priming packet)
            with contextlib.suppress(av.error.FFmpegError):  # unseekable: from the top
                self._input.seek(int(early * av.time_base), backward=True)

    def _left_out_before_the_cut(
        self, packet: av.Packet, stamp: int, length: int, zero: int
    ) -> bool:
        """Whether a packet (at `stamp`, `length` long, with the cut's start at `zero`, in
        its time base) lies too far before the cut to be kept."""
        # Audio that is re-encoded is decoded from a little earlier: a decoder's first
        # frames after a jump are its pre-roll (AAC drops one as if it were priming).
        # So is audio copied into MP4 or MOV, whose edit list trims what comes before
        # zero and whose decoders get it all: MP3 needs its previous frames' bits (with
        # only the packet across the cut, 73 ms of silence), AAC and AC-3 the previous
        # frame's overlap, Opus 80 ms to settle.
        early = 0
        if self._routes[packet.stream.index].reencode or (
            self._mov_like and packet.stream.type == "audio"
        ):
            early = math.ceil(Fraction(AUDIO_PREROLL_SECONDS) / packet.time_base)
        if packet.stream.type == "audio":
            # A packet that ends right at the cut stays as well: the decoder's pre-roll
            # (with --start 0, AAC's priming packet: the audio is then the source's).
            return stamp + length < zero - early
        if packet.stream.type == "data":
            # Telemetry started before the cut is left out, not moved: at a time before
            # zero, as audio is kept, libav reads an MP4 data track back a packet's
            # remainder early (-120 and 40 ms read as -160 and 0), every sample with it.
            return stamp < zero
        # A subtitle over before the cut.
        return stamp + length <= zero and not (stamp == zero and not length)

    @staticmethod
    def _seconds(packet: av.Packet) -> float:
        stamp = packet.dts if packet.dts is not None else packet.pts
        if stamp is None or packet.time_base is None:
            return float("-inf")  # no timestamp: send it along with its neighbours
        return float(stamp * packet.time_base)

    def advance(self, video_seconds: float | None) -> None:
        """Mux the packets due before the video's current time (all of them when None)."""
        limit = float("inf") if video_seconds is None else video_seconds + LEAD_SECONDS
        while True:
            packet = self._pending if self._pending is not None else next(self._packets, None)
            self._pending = None
            if packet is None:
                break
            if self._seconds(packet) > limit:
                self._pending = packet
                break
            self._mux(packet)
        if video_seconds is None:
            if self._audio_lengths is not None:
                for packet in self._audio_lengths.rest():
                    self._mux_copy(packet)
            self._flush_encoders()

    def _mux(self, packet: av.Packet) -> None:
        route = self._routes[packet.stream.index]
        if _is_gap_cue(packet):
            return  # the MP4 muxer writes its own between cues; copied, they came twice
        if route.convert_text:
            self._convert_text(packet, route.output)
            return
        if route.picture is not None:
            if packet.size:
                stored = av.Packet(route.picture)
                stored.stream = route.output
                self._muxer.mux(stored)
                route.sent += 1
            return
        if not route.reencode:
            if packet.size == 0:
                return  # the demuxer's end-of-stream marker
            if packet.stream.type == "subtitle" and not packet.duration and self._mov_like:
                _give_its_own_length(packet)
                self._end_by_the_cut(packet)
            if packet.stream.type == "audio" and self._audio_lengths is not None:
                for ready in self._audio_lengths.take(packet):
                    self._mux_copy(ready)
                return
            self._mux_copy(packet)
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            return  # damaged audio: skip the packet, keep the rest
        for frame in frames:
            if frame.pts is not None and frame.time_base is not None:
                start = frame.pts * frame.time_base
                if start + Fraction(frame.samples, frame.sample_rate) <= 0:
                    continue  # decoder pre-roll before a cut
                frame = self._within_cut_end(frame, start)
                if frame is None:
                    continue
            # The frame keeps its time (moved back by a cut), so the encoder places the
            # sound where the source had it; without one the encoder counts samples.
            self._muxer.mux(route.output.encode(frame))
            route.sent += 1

    def _mux_copy(self, packet: av.Packet) -> None:
        """Mux a packet of a copied stream (still the input's) into its output stream."""
        route = self._routes[packet.stream.index]
        packet.stream = route.output
        self._muxer.mux(packet)
        self.copied_packets += 1
        route.sent += 1

    def _end_by_the_cut(self, packet: av.Packet) -> None:
        """A subtitle given its own length (moved by the cut already) ends no later than the
        cut, as _within_cut shortens the subtitles that came with a length, nor than the
        source: a last subtitle shown past the end of the picture made an MP4 longer than
        its video (a VOB's subtitle at 0.4 s of 0.8 s, shown 1137 ms: a 1.58 s file)."""
        if packet.pts is None:
            return
        cut = self._cut
        last = None if cut is None else cut.end_in(packet.time_base)
        if last is None and self._input.duration:
            start = self._input.start_time or 0
            last = round(Fraction(start + self._input.duration, av.time_base) / packet.time_base)
        if last is not None:
            end = last if cut is None else cut.shift(last, packet.time_base)
            packet.duration = max(0, min(packet.duration, end - packet.pts))

    def _within_cut_end(self, frame: av.AudioFrame, start: Fraction) -> av.AudioFrame | None:
        """A decoded frame that starts at `start` (on the output's clock) cut to the cut's
        end, to the sample; None when it starts at or after it. A copied packet can only
        be kept or not, but sound that is re-encoded can end where the cut does."""
        if self._cut is None or self._cut.end is None:
            return frame
        kept = math.floor((self._cut.end - self._cut.offset - start) * frame.sample_rate)
        if kept <= 0:
            return None
        if kept >= frame.samples:
            return frame
        samples = frame.to_ndarray()
        if not frame.format.is_planar:  # one row of interleaved channels
            kept *= frame.layout.nb_channels
        cut = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[:, :kept]), format=frame.format.name, layout=frame.layout
        )
        cut.sample_rate, cut.pts, cut.time_base = frame.sample_rate, frame.pts, frame.time_base
        return cut

    def _convert_text(self, packet: av.Packet, output: av.stream.Stream) -> None:
        if packet.size == 0:
            return
        try:
            subtitles = packet.stream.codec_context.decode2(packet)
        except av.error.FFmpegError:
            return  # a damaged subtitle: skip it, keep the rest
        if subtitles is None:
            return
        converted = output.codec_context.encode_subtitle(subtitles)
        converted.stream = output
        converted.time_base = packet.time_base
        converted.pts = converted.dts = packet.pts
        converted.duration = packet.duration
        self._muxer.mux(converted)

    def _flush_encoders(self) -> None:
        for route in self._routes.values():
            if route.reencode:
                self._muxer.mux(route.output.encode(None))

    def finish(self) -> None:
        """Mux everything left, flush re-encoders, set the chapters that wait for the
        muxer's shift, close the source."""
        self.advance(None)
        self._set_moved_chapters()
        self._note_silent_tracks()
        self.close()

    def _note_silent_tracks(self) -> None:
        """Say which audio tracks a cut left without a sound: Matroska and WebM keep such a
        track empty, MP4 and MOV leave it out. A whole file moved to zero is no cut: an
        empty track there was empty in the source too."""
        if self._cut is None or not self._cut.asked:
            return
        track = "no track" if self._output.format.name in ("mp4", "mov") else "an empty track"
        for index, route in self._routes.items():
            if route.output.type == "audio" and not route.sent:
                self._notes.append(
                    f"{_label(self._input.streams[index])}: no sound of it lies in the cut, "
                    f"so the output has {track} for it"
                )

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None


def _cover_png(source: Path, stream) -> tuple[PngPicture, bytes] | str:
    """A cover picture of `source` (its `stream`) decoded and made a PNG file, as the
    picture and the file's bytes; else the words of a note on why not."""
    with open_source(source) as reader:
        cover = reader.streams[stream.index]
        packet = next((p for p in reader.demux(cover) if p.size), None)
        converted = None if packet is None else cover_as_png(packet, cover)
    if converted is None:
        return "its stream holds no picture"
    if isinstance(converted, str):
        return converted
    picture = png_bytes(converted.frame)
    if picture is None:
        return "the PNG encoder refused its picture"
    return converted, picture
