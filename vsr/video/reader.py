"""Decode a clip's video stream into planar YUV frames with their timestamps (PyAV).

The reader never converts to RGB: it hands the engine the planes the codec produced (or
the lossless planar equivalent for other layouts), so colour conversion happens once, on
the device. Damaged data is skipped and counted, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.broken_links import not_a_regular_file, why_not_there
from vsr.counted import counted
from vsr.errors import VsrError, option
from vsr.video import colors
from vsr.video.captions import CaptionStore, captions_of
from vsr.video.chroma_location import chroma_location_of, siting_note
from vsr.video.clip_length import (
    declared_video_seconds,
    frame_seconds,
    frames_in_cut,
    seconds_in_range,
)
from vsr.video.clock_restarts import clock_may_restart, find_clock_restarts
from vsr.video.decoding import decode_packets, seek_targets
from vsr.video.deinterlace import Deinterlacer, rebuilds
from vsr.video.display_matrix import display_matrix_of
from vsr.video.dolby_vision import DOLBY_VISION_NOTE, is_dolby_vision
from vsr.video.dropped_frames import DroppedFrameSlots
from vsr.video.field_rate import (
    ResumedFields,
    end_of_cut,
    field_pts,
    field_rate_info,
    step_of,
    with_lengths,
)
from vsr.video.file_version import FileVersion, check_unchanged
from vsr.video.frame_planes import FramePlanes
from vsr.video.frame_rate import avi_chunks_are_clock_ticks, file_frame_rate
from vsr.video.frame_side_data import side_data_of
from vsr.video.gop_timecode import (
    MPEG_VIDEO_CODECS,
    OpeningTimecode,
    OpeningTimecodeWatch,
    first_gop_timecode,
)
from vsr.video.hdr import hdr10_of
from vsr.video.image_sequence import (
    DEFAULT_SEQUENCE_RATE,
    ImageSequence,
    default_rate_note,
    is_image_sequence,
    why_not_a_sequence,
)
from vsr.video.inverse_telecine import (
    CYCLE,
    FINER,
    InverseTelecine,
    carries_pulldown,
    film_info,
    frames_after,
    lie_film_frames_apart,
    no_pulldown_note,
    soft_telecine_rate,
)
from vsr.video.media_url import open_source
from vsr.video.packets_end import packets_end_seconds
from vsr.video.pixel_shape_watch import PixelShapeWatch
from vsr.video.pixfmt import is_grey, parse_planar, planar_equivalent
from vsr.video.pts_order import PresentationOrder
from vsr.video.raw_length import CountedLength, raw_stream_seconds
from vsr.video.raw_losses import RawStreamLosses
from vsr.video.raw_stream import (
    FIELD_REPEAT_CODECS,
    ONE_PICTURE_A_PACKET,
    RawTiming,
    check_input_rate_applies,
    is_raw_stream,
)
from vsr.video.siting_watch import SitingWatch
from vsr.video.timecode import moved_timecode
from vsr.video.transparency_watch import TransparencyWatch
from vsr.video.trim import Cut, TimeRange, format_time
from vsr.video.video_info import VideoInfo

log = logging.getLogger(__name__)

# Packets read past the first 2 cycles' so that their earliest times are the first frames'
# whatever the coding order: H.264 holds up to 16 frames back for reordering.
_REORDER_DEPTH = 16


@dataclass
class Frame:
    """One decoded picture: three C-contiguous planes without line padding."""

    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    pts: int | None  # in info.time_base
    index: int  # 0, 1, 2, ... in output order


def is_cover(stream: av.stream.Stream) -> bool:
    """Whether a video stream is a cover picture (one still image, MP4's attached_pic)."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def main_video_stream(
    container: av.container.InputContainer,
) -> av.video.stream.VideoStream | None:
    """The video to upscale: of the video streams that are not a cover picture (some
    files put the cover first), the one flagged default, which a player shows, else the
    first; None when there is none (a song with its artwork)."""
    videos = [s for s in container.streams.video if not is_cover(s)]
    default = av.stream.Disposition.default
    return next((s for s in videos if s.disposition & default), videos[0] if videos else None)


def no_video_stream(container: av.container.InputContainer) -> str:
    """Why a file without a video stream has none, as the error says it."""
    if container.streams.video:
        return "no video stream (only a cover picture)"
    if not container.streams:  # an MP4 cut before its index, for one
        return "no streams at all (truncated or damaged?)"
    return "no video stream"


def _open_input(path: Path, rate: Fraction | None = None) -> av.container.InputContainer:
    """The clip at `path`, or the image sequence its pattern names, timed at `rate`
    (vsr.video.image_sequence); VsrError, in one line, where it cannot be read."""
    sequence = is_image_sequence(path)
    if not sequence and not path.exists():
        if not_a_sequence := why_not_a_sequence(path):
            raise VsrError(f"{path}: {not_a_sequence}")
        raise VsrError(f"{path}: {why_not_there(path)}")
    if not sequence and not path.is_file():
        raise VsrError(f"{path}: {not_a_regular_file(path) or 'not a file'}")
    try:
        return open_source(path, rate)
    except av.error.FFmpegError as error:
        if isinstance(error, av.error.PermissionError):  # the file may be fine
            raise VsrError(f"{path}: cannot be read ({error.strerror})") from None
        if sequence:
            raise VsrError(
                f"{path}: the image sequence cannot be read as video: {error.strerror}"
            ) from None
        if path.stat().st_size == 0:  # a copy that never started, say
            raise VsrError(f"{path}: an empty file") from None
        raise VsrError(
            f"{path}: not a readable media file (truncated or damaged?): {error.strerror}"
        ) from None


# A floating-point pixel format (EXR's gbrpf32le, grayf32le, gbrapf16le ...).
_FLOAT_FORMAT = re.compile(r"f(16|32)(le|be)$")

# Said of floating-point frames, which are converted to the integer planes the network and
# the encoders take: scene-linear highlights above 1.0 are lost without a word otherwise.
FLOAT_CLIPPED_NOTE = (
    "the frames are floating point (as EXR's): they are read as 16-bit integers, values "
    "outside 0 to 1 clipped (highlights above 1.0 among them)"
)


def _first_packet_times(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> list[int] | None:
    """The times of the first 2 cycles of frames, from their packets (a container's are
    the frames' own), demuxed, not decoded: 10 frames of a 1080p H.264 took 0.27 s to
    decode for every 29.97 fps MKV or TS opened. None where a packet has no time (the
    decoder would reckon it), a gap that would pass for soft telecine's longer frames."""
    times = []
    for packet in itertools.islice(container.demux(stream), 2 * CYCLE + _REORDER_DEPTH):
        if not packet.size:
            continue  # the demuxer's flush
        if packet.pts is None:
            return None
        times.append(packet.pts)
    return sorted(times)[: 2 * CYCLE]


# What frames carry beside the picture and the output loses: the encoder gets new frames,
# to which PyAV cannot attach side data (HDR10's static metadata and the display matrix
# go as encoder options and stream data instead, closed captions into the packets:
# vsr.video.captions).
_SIDE_DATA_NOT_KEPT = {
    "DYNAMIC_HDR_PLUS": "HDR10+ dynamic metadata",
    "SPHERICAL": "360-degree projection metadata",
    "STEREO3D": "a stereo 3D layout",
}


def _side_data_not_kept(frame: av.VideoFrame) -> list[str]:
    kinds = {side_data.type.name for side_data in side_data_of(frame)}
    return [what for kind, what in _SIDE_DATA_NOT_KEPT.items() if kind in kinds]


def _matrix_and_range(frame: av.VideoFrame, rgb_like: bool) -> tuple[str | None, str, str]:
    """The colour matrix tag the file states (None: none, or RGB), the matrix for the
    maths, and the colour range of the frame's values."""
    tag = colors.MATRIX_TAGS.get(frame.colorspace)
    if tag in (None, "rgb") or rgb_like:
        tag = None
    matrix = colors.matrix_for_maths(tag) if tag else colors.guess_matrix(frame.width, frame.height)
    if rgb_like:
        color_range = "pc"  # RGB carries full-range values: keep them all
    elif is_grey(frame.format):
        # Full range (PNG, JPEG, TIFF grey), unless tagged limited: a monochrome HEVC or
        # AV1 of 16-235, which as full range players would show washed out.
        tv = frame.color_range == colors.RANGE_CODES["tv"]
        color_range = "tv" if tv else "pc"
    elif frame.format.name.startswith("yuvj"):
        color_range = "pc"
    else:
        color_range = colors.range_name(frame.color_range)
    return tag, matrix, color_range


class VideoReader:
    """Decode the first video stream of a file, in presentation order.

    Use as a context manager. `info` is known after construction (the first frame is
    decoded up front, which also proves the file holds at least one decodable frame).
    `lost_frames` and `decoded_frames` are final once `frames()` is exhausted.

    With a `time_range`, only the frames whose timestamps lie in it are delivered, moved
    back so that the first is at zero (`info.cut` says by how much, for the other streams).
    The reader seeks to the keyframe before the start instead of decoding from the top.

    `deinterlace` ("auto", "all", "tff", "bff" or "off", vsr.video.deinterlace) says which
    frames are deinterlaced before they become planes; a note says what was done. With
    `field_rate`, every frame is delivered as two, one per field, and `info` describes the
    frames so (vsr.video.field_rate). "film" gives the film frames of a telecined clip
    instead, 4 of every 5, in a time base four times as fine (vsr.video.inverse_telecine).

    `captions` (vsr.video.captions) counts the delivered frames that carry closed
    captions, and keeps their captions by the pts delivered once a writer that can carry
    them sets it collecting.

    A raw elementary stream (.h264, .m2v ...) has its frames timed by the rate it states,
    or `input_rate` where given (refused for a file that times its own frames; with
    `input_rate_raw_only`, a folder's, such a file keeps its times, with a note): frame n at
    n frames, from zero (vsr.video.raw_stream). A range or a resume decodes it from the top.
    """

    def __init__(
        self,
        path: str | Path,
        time_range: TimeRange | None = None,
        deinterlace: str = "off",
        field_rate: bool = False,
        input_rate: Fraction | None = None,
        input_rate_raw_only: bool = False,
    ):
        self.path = Path(path)
        self.time_range = time_range
        self._deinterlacer = Deinterlacer(deinterlace)
        self._field_rate = field_rate
        self._film = deinterlace == "film"
        self._telecine: InverseTelecine | None = None  # made with the first frame's rate
        self._resumed_film: tuple[int, int] | None = None  # see resume_after
        self._resumed_fields: ResumedFields | None = None  # see resume_after
        self._delivered_fields: int | None = None  # per field: frames given out, for the note
        self.lost_frames = 0
        self.decoded_frames = 0
        self.damaged_frames = 0  # delivered, but the decoder flagged concealed errors
        self._kept_frames = 0  # delivered by an earlier run (resume_after): notes count them
        self.demux_error: str | None = None  # why demuxing stopped early (truncation)
        self.missing_seconds = 0.0  # declared video length not found in the file
        self.warnings: list[str] = []  # what the engine should tell the user
        self.captions = CaptionStore()
        self._end_pts: int | None = None
        self._end_duration: int | None = None  # the last frame's own length, if the file says
        # An image sequence is timed by the demuxer, at the rate it is opened with: every
        # opening (a cut's, a resume's) must give it the same one.
        self._sequence = is_image_sequence(self.path)
        self._sequence_rate = input_rate if self._sequence else None
        # Taken before the file is opened, and checked once what opens it is done: the
        # version every later opening must find is then the one all of these read.
        self.file_version = None if self._sequence else FileVersion.of(self.path)
        self._container = _open_input(self.path, self._sequence_rate)
        try:
            self._find_video_stream(input_rate, input_rate_raw_only)
            self._look_for_clock_restarts()
            first = self._start_decoding()
            self._first: av.VideoFrame | None = first
            self._describe_frames(first)
            self._add_first_frame_notes(first)
            self._start_watching(first)
            check_unchanged(self.path, self.file_version)
        except BaseException:
            self.close()
            raise

    def _find_video_stream(self, input_rate: Fraction | None, input_rate_raw_only: bool) -> None:
        """The video stream to decode, and who times its frames (a raw stream's are timed by
        the reader), with a note where `input_rate` is not what times them."""
        self._stream = main_video_stream(self._container)
        if self._stream is None:
            raise VsrError(f"{self.path}: {no_video_stream(self._container)}")
        self._stream.thread_type = "AUTO"
        raw = is_raw_stream(self._container)
        if self._sequence:  # no timing of its own: --input-rate is its rate
            if input_rate is None:
                self.warnings.append(default_rate_note())
        else:
            not_applied = check_input_rate_applies(raw, input_rate, self.path, input_rate_raw_only)
            if not_applied:
                self.warnings.append(not_applied)
        # A raw stream's frames are timed here, the demuxer's times being none or its own.
        self._raw = RawTiming.of(self._stream, input_rate) if raw else None
        if self._raw is not None and self._raw.note:
            self.warnings.append(self._raw.note)
        # Whether --input-rate changed the times the frames would have had without it.
        self.retimed = self._raw is not None and self._raw.retimed
        if self._sequence:  # timed at 25 fps without one
            self.retimed = input_rate is not None and input_rate != DEFAULT_SEQUENCE_RATE
        # The pixel shape of the sequence header the file opens with: the decoder's
        # differs where the first delivered frame comes after another (see _first_shape).
        self._opening_shape = self._stream.codec_context.sample_aspect_ratio
        self._shape_watch: PixelShapeWatch | None = None  # from the first frame on

    def _look_for_clock_restarts(self) -> None:
        """Where the clock starts over (see vsr.video.clock_restarts); a range is refused
        then."""
        self._restarts = None
        if clock_may_restart(self._container):
            self._restarts = find_clock_restarts(self.path)
        if self._restarts is not None and self.time_range is not None:
            cut = f"{option('--start')} and {option('--end')}"
            raise VsrError(f"{self.path}: {self._restarts.refuse(cut)}")

    def _start_decoding(self) -> av.VideoFrame:
        """The first frame delivered (of the range, where one is asked for); VsrError where
        there is none."""
        self._forget_what_was_decoded()
        self._skip_first: tuple[int | None, int] = (None, 0)  # see resume_after
        self._range_pts = self._range_in_time_base()
        self._timecode_watch: OpeningTimecodeWatch | None = None
        if self._raw is not None and self._stream.codec_context.name in MPEG_VIDEO_CODECS:
            self._timecode_watch = OpeningTimecodeWatch()  # see _opening_gop_timecode
        time_range = self.time_range
        self._decoded = self._decode() if time_range is None else self._decode_range()
        first = next(self._decoded, None)
        if first is None and time_range is not None:
            raise VsrError(f"{self.path}: no frame from {time_range.describe()} {self._why()}")
        if first is None:
            # Here, not at the top: it imports Pillow, which every run would pay for.
            from vsr.animated_webp import is_animated_webp, run_refusal

            if is_animated_webp(self.path):
                raise VsrError(run_refusal(self.path))
        if first is None:
            raise VsrError(f"{self.path}: no decodable video frame (empty or damaged)")
        return first

    def _describe_frames(self, first: av.VideoFrame) -> None:
        """`info`, the frames as they are delivered, and `_source`, as the file has them;
        as film, the inverse telecine that delivers them, where there is pulldown to undo."""
        # The rate the stream states, which a soft-telecined one states for its fields'
        # pace, not its frames' (see _soft_telecined): `_source` has the frames' own.
        stated = self._stream_rate()
        self._soft_telecine = self._soft_telecined(stated)
        self._gop_timecode = self._opening_gop_timecode()
        # The source's frames as the file has them, for the reader's own reckoning;
        # `info` as they are delivered (per field: twice as many, twice as fine a time).
        self._source = self._describe(first)
        if self._sequence and self._source.frame_count is None:
            # image2 states no count, but the sequence's listing holds it: progress shows
            # a total, not an estimate ("of 5", not "of ~5").
            count = ImageSequence.find(self.path).count
            self._source = dataclasses.replace(self._source, frame_count=count)
        self.info = field_rate_info(self._source) if self._field_rate else self._source
        if self._film and not carries_pulldown(stated):
            # PAL or film's own rate: no 3:2 pulldown to undo. Deinterlaced as auto does,
            # rather than a fifth of the frames of motion dropped.
            self.warnings.append(no_pulldown_note(stated))
            self._film = False
            self._deinterlacer = Deinterlacer("auto")
        if self._film:
            self.info = film_info(self._source, self._soft_telecine)
            # Inverse telecine reckons in the stated frames, and tells soft telecine by
            # its frames lying 5/4 of one apart (of the frames it is given, a cut's).
            step = step_of(stated, self._source.time_base)
            self._telecine = InverseTelecine(step, stated)

    def _add_first_frame_notes(self, first: av.VideoFrame) -> None:
        """The notes known from the start: what of the frames the output cannot keep (and
        the watch on transparency, which a later frame may bring), where the clock starts
        over, an unusual chroma siting."""
        self._transparency_watch = TransparencyWatch(first, self.warnings)
        if _FLOAT_FORMAT.search(first.format.name):
            self.warnings.append(FLOAT_CLIPPED_NOTE)
        if self._restarts is not None:
            self.warnings.append(self._restarts.describe())
        unusual_siting = siting_note(self.info.chroma_location)
        if unusual_siting:
            self.warnings.append(unusual_siting)
        lost = _side_data_not_kept(first)
        if any(key.lower() == "stereo_mode" for key in self._stream.metadata):
            # Matroska's StereoMode, which libav also puts on every frame: the track's tags
            # carry it where the output can hold it, and the writer says where it cannot.
            lost = [what for what in lost if what != _SIDE_DATA_NOT_KEPT["STEREO3D"]]
        if lost:
            self.warnings.append(
                f"the video carries {' and '.join(lost)} in its frames, which the output "
                "does not keep (its frames are made anew from the upscaled pictures)"
            )
        if is_dolby_vision(self._stream, first):  # its RPUs are frame side data too
            self.warnings.append(DOLBY_VISION_NOTE)

    def _start_watching(self, first: av.VideoFrame) -> None:
        """The frames' conversion to planes, and the watches on what a later frame changes
        (its chroma siting, its pixel shape), set up from the first frame."""
        self._planes = FramePlanes(self.info, first, self.warnings)
        self._siting_watch = SitingWatch(self.info, self.warnings)
        self._shape_watch = PixelShapeWatch(
            self.info.sample_aspect_ratio,
            (self.info.width, self.info.height),
            lambda: self._stream.codec_context.sample_aspect_ratio,
            lambda pts: float((pts - self._origin()) * self._source.time_base),
            self.warnings,
        )

    # -- container -> frames ---------------------------------------------------------

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Decode every packet; count what the decoder rejected instead of raising."""
        packets = 0
        discarded = 0
        if self._raw is not None:
            self._number_raw_packets()
        # An AVI's frame count counts the empty chunks a capture writes for the frames it
        # dropped, which hold no picture to decode (vsr.video.dropped_frames).
        dropped = DroppedFrameSlots() if self._container.format.name == "avi" else None

        def tally(packet: av.Packet) -> None:
            nonlocal packets, discarded
            if self._raw is not None:
                self._see_raw_packet(packet)
            if dropped is not None:
                dropped.see(packet)
            if packet.is_discard:
                discarded += 1  # decoded only as a reference, never shown (edit lists)
            else:
                packets += 1

        for frame in self._decode_packets(tally):
            self._count(frame)
            yield frame
        if not hasattr(self, "info"):
            return  # nothing decoded at all: the constructor reports it
        # A frame is lost when its packet did not decode, or when the container promised
        # more frames than the demuxer could read (a truncated file with its index first).
        promised = (self._source.frame_count or 0) - discarded
        if dropped is not None:  # the header's count of chunks, less those with no picture
            promised = (self._stream.frames or 0) - discarded - dropped.count
        lost = max(0, packets - self.decoded_frames, promised - self.decoded_frames)
        self.lost_frames = max(lost, self._missing_tail_frames(counted=True))

    def _decode_packets(self, tally: Callable[[av.Packet], None]) -> Iterator[av.VideoFrame]:
        """Every frame from where the container stands, skipping undecodable packets (the
        callers count them from `tally`); a demuxing error is kept as a truncation."""

        def demux_failed(why: str) -> None:
            self.demux_error = why

        move = None if self._restarts is None else self._restarts.mover()
        frames = decode_packets(self._container, self._stream, tally, demux_failed, move)
        if self._raw is not None:  # every decode of a raw stream starts at its top
            frames = self._raw.stamped(frames, self._raw_losses.gap_before)
        return self._in_presentation_order(frames)

    def _in_presentation_order(self, frames: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
        """Decoded frames with times in presentation order (vsr.video.pts_order), before
        anything reads them: a range, a resume and the truncation check then agree with what
        is delivered. Only AVI stores decode times for presentation times (elsewhere a seek
        may hand over a stale picture first, which is no reordering to mend), and only
        decoders that reorder hand them over out of order, which is known once one frame is
        decoded."""
        first = next(frames, None)
        if first is None:
            return
        frames = itertools.chain([first], frames)
        if self._container.format.name == "avi" and self._stream.codec_context.has_b_frames:
            frames = self._order(frames)
        yield from frames

    # -- a part of the clip -------------------------------------------------------------

    def resume_after(self, pts: int, repeats: int = 1, kept: int = 0) -> None:
        """From now on deliver only the frames after the one delivered with `pts` (where an
        earlier run stopped), the `repeats`-th in a row with that pts: seek to the keyframe
        before it and decode from there. Call before `frames()`; the counts then cover the
        frames still to come. `kept`: how many frames the earlier run delivered, so that a
        note names a frame by its number in the output, as an uninterrupted run does.
        Per field, `pts` is in the halved time base, and may be a frame's first field: that
        frame is decoded again, and its first field dropped (vsr.video.field_rate).
        As film, the clip (or its cut) is decoded from its start again, for decimate's cycles
        to fall where they did, and what the earlier run delivered is dropped."""
        self._kept_frames = kept
        if self._film:
            self._resumed_film = (pts, repeats)
            self._first = None
            self.decoded_frames = self.damaged_frames = 0
            self._end_pts = self._end_duration = None
            self._reopen()
            self._decoded = self._decode() if self.time_range is None else self._decode_range()
            return
        time_base = self._source.time_base
        shift = 0 if self.info.cut is None else self.info.cut.offset_in(time_base)
        start, end = self._range_pts or (self._origin(), None)
        if self._field_rate:
            # From the frame of that field on, none skipped: the fields the earlier run
            # delivered are dropped once bwdif has made them.
            self._resumed_fields = ResumedFields(pts, repeats)
            pts, repeats = self._resumed_fields.source_start, 0
        self._range_pts = (max(start, pts + shift), end)
        self._skip_first = (pts + shift, repeats)
        self._first = None
        self.decoded_frames = self.damaged_frames = 0
        self._forget_what_was_decoded()
        self._end_pts = pts + shift  # decoded by the earlier run: the truncation check needs it
        self._end_duration = None
        self._decoded = self._decode_range()

    def _range_in_time_base(self) -> tuple[int, int | None] | None:
        """The range as [start, end) pts of the video stream, counted from its first."""
        if self.time_range is None:
            return None
        time_base = self._stream.time_base or Fraction(1, 90000)
        origin = self._origin()
        start = origin + math.ceil(self.time_range.start / time_base)
        end = self.time_range.end
        return start, None if end is None else origin + math.ceil(end / time_base)

    def _decode_range(self) -> Iterator[av.VideoFrame]:
        """The frames whose timestamps lie in the range: seek to the keyframe before its start,
        decode, drop what comes earlier, stop at its end. Counts as `_decode` does, but
        only what lies in the range."""
        start, end = self._range_pts
        raw = self._decode_from(start)
        first = next(raw, None)
        sought = start > self._origin() and not self._starts_past_the_end(start)
        on_start = sought and first is not None and first.pts == start
        if on_start and not self._skip_first[1] and rebuilds(self._deinterlacer.mode, first):
            # A cut starting on a keyframe: bwdif would rebuild its first frame with no frame
            # before it (the frame a resume skips is one), unlike a run of the whole clip.
            raw.close()
            raw = self._decode_from_before(start)
            first = next(raw, None)
        if sought and (first is None or (first.pts is not None and first.pts > start)):
            # The seek landed past the start, or off a keyframe so that nothing decodes
            # (formats that seek by byte position, or without an index, such as MPEG-TS):
            # decode from the top instead, dropping what comes before.
            self._reopen()
            raw = self._decode_from(None)
            first = next(raw, None)
        reached_end = False
        skipped = 0
        frames = raw if first is None else itertools.chain([first], raw)
        losses = self._raw_losses if self._raw is not None else None
        for frame in frames:
            if frame.pts is None:
                raise VsrError(
                    f"{self.path}: frames without timestamps; {option('--start')}, "
                    f"{option('--end')} and {option('--resume', True)} need them"
                )
            if losses is not None:
                losses.decoded(frame)
            if self._last_seen_pts is None or frame.pts >= self._last_seen_pts:
                self._last_seen_pts, self._last_seen_duration = frame.pts, frame.duration
            if frame.pts < start:
                self._before_start, self._frame_before = frame.pts, frame
                continue
            if frame.pts == self._skip_first[0] and skipped < self._skip_first[1]:
                skipped += 1  # delivered before a resume
                self._frame_before = frame
                if frame.pts == self._end_pts:  # its own length, for the truncation check
                    self._end_duration = frame.duration or None
                continue
            if end is not None and frame.pts >= end:
                reached_end = True
                self._stopped_at, self._frame_after = frame.pts, frame
                break
            self._count(frame)
            if losses is not None:
                losses.kept(frame)
            yield frame
        if not hasattr(self, "info"):
            return  # nothing in the range: the constructor reports it
        self.lost_frames = max(0, self._in_range_packets - skipped - self.decoded_frames)
        if losses is not None:  # its packets have no times to count the range's by
            self.lost_frames = losses.lost()
        if not reached_end:  # a demuxing error too: what it cut off is lost
            self.lost_frames = max(self.lost_frames, self._missing_tail_frames(counted=False))
            length = self._clip_seconds() or 0
            # A last frame can reach past the end asked for (a slide show's last slide).
            if end is not None and not self.missing_seconds and length < self.time_range.end:
                self.warnings.append(
                    f"the clip ends at {format_time(length)}, before the "
                    f"requested end ({format_time(self.time_range.end)})"
                )

    def _decode_from_before(self, start: int) -> Iterator[av.VideoFrame]:
        """The decodable frames from a keyframe before `start` (one GOP more than from the
        keyframe at it), seeking further back where a seek lands on it again (MPEG-TS)."""
        time_base = self._stream.time_base or Fraction(1, 90000)
        for target in seek_targets(start - 1, time_base):
            self._forget_what_was_decoded()
            if target is None or target <= self._origin():
                self._reopen()
                return self._decode_from(None)
            raw = self._decode_from(target)
            first = next(raw, None)
            if first is None or first.pts is None or first.pts < start:
                break
            raw.close()
        return raw if first is None else itertools.chain([first], raw)

    def _decode_from(self, start: int | None) -> Iterator[av.VideoFrame]:
        """Every decodable frame from the keyframe at or before `start` (None: the top),
        counting the packets whose frames the range shows. A raw stream has no index to
        seek by, nor times before its frames are stamped: it is decoded from the top."""
        if self._raw is not None:
            self._reopen()  # from its top, whatever an earlier decode read of it
            self._number_raw_packets()
        elif start is not None and start > self._origin():
            try:
                self._container.seek(start, stream=self._stream, backward=True)
                self._stream.codec_context.flush_buffers()  # nothing from before the seek
            except av.error.FFmpegError:
                self._reopen()  # cannot seek: decode from the top
        low, high = self._range_pts

        def tally(packet: av.Packet) -> None:
            if self._raw is not None:
                # Its packets' times, if any, are the demuxer's, not the frames': numbered.
                self._see_raw_packet(packet)
                return
            shown = packet.pts is not None and not packet.is_discard
            if shown and low <= packet.pts and (high is None or packet.pts < high):
                self._in_range_packets += 1

        return self._decode_packets(tally)

    def _number_raw_packets(self) -> None:
        """Number a raw stream's packets for this decode from its top (vsr.video.raw_losses):
        to count the frames a cut loses, and, where each packet holds one picture, to keep
        the frames after a lost one at their own times."""
        one_each = self._stream.codec_context.name in ONE_PICTURE_A_PACKET
        length = self._raw.packet_frames if one_each and self._raw is not None else None
        self._raw_losses = RawStreamLosses(self._stream, length)

    def _see_raw_packet(self, packet: av.Packet) -> None:
        """A raw stream's packet as a decode from its top demuxes it: numbered, and looked
        at for the opening timecode until that is known (see _opening_gop_timecode)."""
        self._raw_losses.number(packet)
        if self._timecode_watch is not None:
            self._timecode_watch(packet)

    def _starts_past_the_end(self, start: int) -> bool:
        """Whether the video's own declared length ends before `start`: then finding no
        frame after the seek is the answer, not a reason to decode the clip from the top."""
        declared, own = declared_video_seconds(self._stream, self._container)
        time_base = self._stream.time_base or Fraction(1, 90000)
        return own and declared is not None and (start - self._origin()) * time_base >= declared

    def _origin(self) -> int:
        if self._raw is not None:
            return 0  # its frames are stamped from zero, whatever the demuxer's first time
        return self._stream.start_time or 0

    def _stream_rate(self) -> Fraction | None:
        """The video's frame rate as the file gives it: a raw stream's own (not the raw
        demuxer's default, 25 fps), else the container's average, else libav's guess."""
        if self._raw is not None:
            return self._raw.rate
        return file_frame_rate(self._container, self._stream)

    def _soft_telecined(self, stated: Fraction | None) -> bool:
        """Whether the video is soft-telecined film (an NTSC DVD's, mostly): coded at 29.97
        (or 30) fps with repeat-field flags, its decoder gives the film's own frames, 1.5
        and 1 stated frames long alternately, 4/5 as many a second as the stream states.

        Told from the first two cycles of frames from the clip's top, as inverse telecine
        tells it, from a second opening of the file (a container's packet times, a raw
        stream's or untimed packets' decoded frames): the rate must be known before
        the writer opens (a Matroska header's default duration, the encoder's rate), and
        the reader's own decode counts and watches each frame as it is delivered (notes,
        cuts, --resume), so it cannot run ahead. From the top, the rate is the same for
        the whole clip, a cut of it and a resumed run. An MP4's or MOV's average is its
        frames' own already (its sample count over its length): not decoded again."""
        if stated is None or not carries_pulldown(stated) or self._sequence:
            return False
        if self._stream.codec_context.name not in FIELD_REPEAT_CODECS:
            return False
        if self._container.format.name.startswith("mov,"):
            return False
        step = step_of(stated, self._stream.time_base or Fraction(1, 90000))
        try:
            with _open_input(self.path) as container:
                stream = main_video_stream(container)
                times = None if self._raw is not None else _first_packet_times(container, stream)
                if times is None:  # untimed packets: the frames' times are the decoder's
                    stream.thread_type = "AUTO"
                    frames = decode_packets(container, stream, lambda packet: None)
                    if self._raw is not None:  # timed as the reader times it
                        frames = self._raw.stamped(frames)
                    times = [frame.pts for frame in itertools.islice(frames, 2 * CYCLE)]
        except (VsrError, av.error.FFmpegError):
            return False  # the reader's own decode says what is wrong with the file
        return lie_film_frames_apart(sorted(t for t in times if t is not None), step)

    def _opening_gop_timecode(self) -> OpeningTimecode | None:
        """An MPEG-1/2 video's opening timecode, its first I-picture's GOP header's
        (vsr.video.gop_timecode), from a second opening of the file; None for other codecs,
        or where it has none. A raw stream's decode starts at its top, cut or not: its own
        packets have shown the first I-picture by the first frame, so a raw .m2v is not
        opened again for it (it was opened three times to start: for the frames, for its
        length and for this)."""
        watch, self._timecode_watch = self._timecode_watch, None  # its packets are read
        if watch is not None and watch.done:
            return watch.found
        if self._stream.codec_context.name not in MPEG_VIDEO_CODECS or self._sequence:
            return None
        try:
            with _open_input(self.path) as container:
                return first_gop_timecode(container, main_video_stream(container))
        except (VsrError, av.error.FFmpegError):
            return None

    def _first_timecode(self, frame: av.VideoFrame, time_base: Fraction) -> str | None:
        """The first delivered frame's own timecode. An MPEG-1/2 frame's is counted from
        its stream's first I-picture's GOP header (vsr.video.gop_timecode), to the frame a
        cut starts at: libavcodec labels a frame with the next one's. Others carry their
        own (an H.264 SEI's)."""
        if self._stream.codec_context.name not in MPEG_VIDEO_CODECS:
            return frame.metadata.get("timecode")
        opening = self._gop_timecode
        if opening is None or frame.pts is None:
            return None
        if self._raw is None and opening.pts is not None:
            # From the I-picture's own time: the pictures dropped before it (a capture that
            # starts mid-GOP) may have set the stream's start.
            frames_in, ticks = opening.temporal_reference, frame.pts - opening.pts
        else:  # a raw stream's frames are stamped from the first one shown
            frames_in, ticks = opening.dropped(), frame.pts - self._origin()
        if not frames_in and not ticks:
            return opening.timecode
        rate = self._stream_rate()  # a soft-telecined stream's timecode counts its fields'
        if not rate:
            return None
        frames = frames_in + round(ticks * time_base * rate)
        return moved_timecode(opening.timecode, frames, rate)

    def _reopen(self) -> None:
        self._container.close()
        check_unchanged(self.path, self.file_version)  # a file gone: said as removed
        self._container = _open_input(self.path, self._sequence_rate)
        check_unchanged(self.path, self.file_version)
        self._stream = main_video_stream(self._container)
        self._stream.thread_type = "AUTO"
        self._forget_what_was_decoded()

    def _forget_what_was_decoded(self) -> None:
        """Start the range's observations afresh (a new decode from the top, a resume)."""
        self._in_range_packets = 0  # packets whose frames the range shows
        self._last_seen_pts: int | None = None  # the latest frame decoded, kept or not
        self._last_seen_duration = 0  # its own length (0: the file gives none)
        self._before_start: int | None = None  # the last frame before the range
        # The decoded frames just outside what is delivered (before a cut's start or a
        # resume point, at a cut's end): the deinterlacer's neighbours for the edge frames.
        self._frame_before: av.VideoFrame | None = None
        self._frame_after: av.VideoFrame | None = None
        self._stopped_at: int | None = None  # the frame at the range's end, if one came
        self._order = PresentationOrder()  # see _in_presentation_order

    def _why(self) -> str:
        """Why a range holds no frame, for the error: it lies between two frames, or past
        the clip's end."""
        if self._stopped_at is not None:
            seconds = [
                format_time((pts - self._origin()) * self._stream.time_base)
                for pts in (self._before_start, self._stopped_at)
                if pts is not None
            ]
            return f"(it lies between frames; the nearest are at {' and '.join(seconds)})"
        length = self._clip_seconds()
        return f"(the clip is {format_time(length)} long)" if length else "(past the clip's end)"

    def _clip_seconds(self) -> float | None:
        """How long the clip is, from its last decoded frame (or what the file declares)."""
        if self._last_seen_pts is None or not self._stream.time_base:
            return declared_video_seconds(self._stream, self._container)[0]
        rate = self._stream_rate()
        time_base = self._stream.time_base
        last = float((self._last_seen_pts - self._origin()) * time_base)
        return last + frame_seconds(self._last_seen_duration, time_base, rate)

    def _count(self, frame: av.VideoFrame) -> None:
        self.decoded_frames += 1
        if self._shape_watch is not None:
            self._shape_watch(frame)
        self.damaged_frames += bool(frame.is_corrupt)
        if frame.pts is not None and (self._end_pts is None or frame.pts >= self._end_pts):
            self._end_pts, self._end_duration = frame.pts, frame.duration or None

    def _missing_tail_frames(self, counted: bool) -> int:
        """Frames missing at the end: the video stream's declared length minus what decoded.

        Catches truncated files whose demuxer drops the cut packet without complaint
        (Matroska). Only the video stream's own duration is trusted for a frame count;
        the container's (which covers audio too) only earns a warning. Where the whole
        file was read (`counted`) an MP4's sample count has told a truncation already.
        """
        rate = self._source.average_rate
        if self._end_pts is None or not rate:
            return 0
        mov_counted = self._mov_samples_counted()
        if counted and mov_counted:
            return 0
        start = self._origin()
        last_frame = frame_seconds(self._end_duration, self._source.time_base, rate)
        decoded_end = float((self._end_pts - start) * self._source.time_base) + last_frame
        declared, trusted = declared_video_seconds(self._stream, self._container)
        if declared is None:
            return 0
        self.missing_seconds = max(0.0, declared - decoded_end)
        if self.missing_seconds < 0.9 / float(rate):  # under a frame: the last frame's own length
            self.missing_seconds = 0.0  # a float's rounding too: nothing is missing
            return 0
        # A range reads from a keyframe on, and an MP4's declared length also says this
        # of a healthy file whose last frame is long (that frame's packet duration is
        # another frame's step): the sample count tells which.
        if mov_counted and every_sample_there(self.path):
            self.missing_seconds = 0.0
            return 0
        # The whole file's length: another stream (sound) may run on past the pictures.
        if not trusted and self._packets_reach(declared, 0.9 / float(rate)):
            self.missing_seconds = 0.0
            return 0
        what = "video stream" if trusted else "container (all streams)"
        self.warnings.append(
            f"decoding ended at {decoded_end:.2f} s but the {what} declares {declared:.2f} s: "
            "the file looks truncated"
        )
        return round(self.missing_seconds * float(rate)) if trusted else 0

    def _packets_reach(self, declared: float, slack: float) -> bool:
        """Whether some stream's packets run to the file's stated length (`declared`, from
        the file's start), so that pictures ending earlier are not a cut file's."""
        if self._sequence:
            return False
        reached = packets_end_seconds(self.path, declared)
        return reached is not None and reached >= declared - slack

    def _mov_samples_counted(self) -> bool:
        """An MP4 or MOV whose sample table counts the video's frames: a file cut short is
        then told by the count (lost_frames), not by its declared length, which a long
        last frame reaches too (that frame's packet duration is another frame's step)."""
        return self._container.format.name.startswith("mov,") and bool(self._stream.frames)

    def own_end_of_last_frame(self) -> int | None:
        """Where the last delivered frame ends (its pts plus its own length, in the video's
        time base as delivered: after a cut's shift, and no later than the cut's end) when
        that length is other than one average frame: a slide show's or a GIF's last frame,
        or a variable rate's last kept frame, which shows until the next frame, the first
        the cut left out. Else None, and the frame keeps one frame's length: at a steady
        rate a cut between two frames ends up to a frame after the cut's end, as ffmpeg's
        -t does (README's Cuts), so the output keeps its steady rate. A run resumed past
        every frame knows the last one's length from the frame it skipped."""
        if self._end_pts is None:
            return None
        time_base = self._source.time_base
        length = self._end_duration
        if self._stopped_at is not None:
            # The range ended at a later frame: the last kept one shows until it, whether
            # or not the file gives frames a length (MPEG-TS's packets have none, and the
            # last frame of a variable rate's cut lasted one average frame).
            length = self._stopped_at - self._end_pts
        elif not length:
            return None
        elif self._mov_samples_counted() and not self.lost_frames:
            # A frame's duration in MP4 and MOV is its sample's step to the next decode
            # time, which with B-frames is another frame's (a 5 s last slide read as 1 s):
            # the track's end is where the last frame ends (as libav reads it: vsr's own
            # files end their samples there; another muxer's may not, as ffmpeg reads).
            track_end = (self._stream.start_time or 0) + (self._stream.duration or 0)
            length = track_end - self._end_pts if track_end > self._end_pts else length
        rate = self._source.average_rate
        if rate and abs(length - 1 / (rate * time_base)) <= 1:
            return None  # what a muxer gives the last frame anyway
        end = self._end_pts + length
        cut = self.info.cut
        if cut is not None:
            last = cut.end_in(time_base)
            end = cut.shift(end if last is None else min(end, last), time_base)
        if self._film:
            return FINER * end  # in the time base four times as fine
        return 2 * end if self._field_rate else end  # per field, in the halved time base

    @property
    def ran_out_before_the_cut_end(self) -> bool:
        """True once the clip has ended, its last frame's showing included, by a cut's end
        (--end past the clip's end): the output then ends where the clip does, not there."""
        cut = self.info.cut
        if cut is None or cut.end is None or self._stopped_at is not None:
            return False
        if self._end_pts is None:
            return True
        time_base = self._source.time_base
        shown = frame_seconds(self._end_duration, time_base, self._source.average_rate)
        # Within a microsecond: the end typed as the clip's length is its end.
        return float(self._end_pts * time_base) + shown <= float(cut.end) + 1e-6

    @property
    def deinterlaced_frames(self) -> int:
        """Frames deinterlaced so far (vsr.video.deinterlace; as film, those fieldmatch left
        combed): final once `frames()` ends."""
        if self._telecine is not None:
            return self._telecine.combed_frames
        return self._deinterlacer.deinterlaced_frames

    def frames(self) -> Iterator[Frame]:
        """Every decodable frame as planar YUV, in presentation order, with its pts."""
        yield from self._frames_as_decoded()
        # Per field, the frames decoded again after a resume held fields the earlier run
        # delivered: the output's numbers count from before those.
        again = 0 if self._resumed_fields is None else self._resumed_fields.dropped
        interlacing = self._deinterlacer.note(self._kept_frames - again, self._delivered_fields)
        if self._telecine is not None:
            interlacing = self._telecine.note()
        if interlacing:
            self.warnings.append(interlacing)
        if self._order.restamped:
            self.warnings.append(
                f"{counted(self._order.restamped, 'frame')} had the times of the packets they "
                "were stored in (decode order, as in AVI): they are given their times in "
                "presentation order"
            )
        if self.damaged_frames:
            self.warnings.insert(
                0, f"{self.damaged_frames} frame(s) had damaged data (the decoder concealed it)"
            )
        if self.lost_frames:
            self.warnings.insert(0, f"{self.lost_frames} frame(s) could not be decoded")
        # The engine puts lost_frames and warnings in its report; the log is for debugging.
        for warning in self.warnings:
            log.info("%s: %s", self.path, warning)

    def _frames_as_decoded(self) -> Iterator[Frame]:
        # The deinterlacer holds a frame back until the next one is decoded: what belongs
        # to the frame as decoded (its time, its number) is taken before, and travels with it.
        before, after = (lambda: self._frame_before), (lambda: self._frame_after)
        if self._field_rate:
            yield from self._fields(before, after)
            return
        if self._telecine is not None:
            yield from self._film_frames(before, after)
            return
        timed = self._deinterlacer(self._timed_frames(), before, after)
        for index, (frame, (pts, number)) in enumerate(timed):
            yield Frame(self._planes(frame, number), pts, index)

    def _fields(
        self,
        before: Callable[[], av.VideoFrame | None],
        after: Callable[[], av.VideoFrame | None],
    ) -> Iterator[Frame]:
        """Two frames of each decoded frame, one per field, timed in the halved time base
        (vsr.video.field_rate); after a resume, from the first the earlier run did not
        deliver."""
        step = step_of(self._source.average_rate, self._source.time_base)
        lengths = with_lengths(self._timed_frames(), after)
        fields = self._deinterlacer.fields(
            ((frame, (pts, number, length)) for frame, (pts, number), length in lengths),
            before,
            after,
        )
        timed = (
            (frame, field_pts(pts, second, length, step), number)
            for frame, (pts, number, length), second in fields
        )
        end = end_of_cut(self.info.cut, self._source.time_base)
        if end is not None:  # the last frame's second field may lie past it
            timed = (field for field in timed if field[1] is None or field[1] < end)
        if self._resumed_fields is not None:
            timed = self._resumed_fields.after(timed, lambda field: field[1])
        for index, (frame, pts, number) in enumerate(timed):
            self._delivered_fields = index + 1
            yield Frame(self._planes(frame, number), pts, index)

    def _film_frames(
        self,
        before: Callable[[], av.VideoFrame | None],
        after: Callable[[], av.VideoFrame | None],
    ) -> Iterator[Frame]:
        """The film frames of the decoded ones (vsr.video.inverse_telecine), timed in the
        time base four times as fine; after a resume, from the first the earlier run did not
        deliver. A kept frame carries the closed captions of the frames dropped before it
        too, in order, so that none is lost where a frame goes. Its notes name it by its
        number in the output, which decimate's drops set apart from the decoded frame's."""
        telecine = self._telecine
        lengths = with_lengths(self._timed_frames(), after)
        films = telecine(
            ((frame, pts, captions_of(frame), length) for frame, (pts, _), length in lengths),
            before,
            after,
        )
        if self._resumed_film is not None:
            films = frames_after(films, *self._resumed_film, lambda film: film.pts)
        for index, film in enumerate(films):
            carried = [captions for captions in (*film.dropped, film.tag) if captions]
            self.captions.note(b"".join(carried) or None, film.pts)
            number = self._kept_frames + index + 1
            yield Frame(self._planes(film.picture, number), film.pts, index)
        lost = sum(1 for captions in telecine.lost_tags if captions)
        if lost:
            self.warnings.append(
                f"the closed captions of {counted(lost, 'frame')} dropped at the end "
                f"({option('--deinterlace', 'film')}) "
                "were lost: no kept frame follows them"
            )

    def _timed_frames(self) -> Iterator[tuple[av.VideoFrame, tuple[int | None, int]]]:
        """The decoded frames, each with its pts as delivered and its number for the notes:
        in the output, as film in the source (see below)."""
        while True:
            if self._first is not None:
                frame, self._first = self._first, None
            else:
                frame = next(self._decoded, None)
                if frame is None:
                    break
            pts = frame.pts
            if self.info.cut is not None:
                pts = self.info.cut.shift(pts, self._source.time_base)
            # Of the output, for notes: per field, the frame's first field's. As film, of
            # the source (decoded from its start again after a resume): which output frame
            # it becomes is known once decimate has passed it (_film_frames).
            fields = 2 if self._field_rate else 1
            number = self._kept_frames + fields * self.decoded_frames - (fields - 1)
            if self._film:
                number = self.decoded_frames
            self._siting_watch(frame, number)
            self._transparency_watch(frame, number)
            # Before the deinterlacer, whose frames need not keep the side data. Per field,
            # under its first field's time: the second carries none (vsr.video.field_rate).
            # As film, once it is known which frames are kept (_film_frames).
            if not self._film:
                self.captions.note_frame(frame, None if pts is None else pts * fields)
            yield frame, (pts, number)

    # -- metadata --------------------------------------------------------------------

    def _describe(self, frame: av.VideoFrame) -> VideoInfo:
        stream = self._stream
        pix_fmt, self._rgb_like = planar_equivalent(frame.format)
        bit_depth, chroma_shift = parse_planar(pix_fmt)  # type: ignore[misc]
        tag, matrix, color_range = _matrix_and_range(frame, self._rgb_like)
        time_base = stream.time_base or Fraction(1, 90000)
        cut = self._cut_at(frame, time_base)
        rate = self._stream_rate()
        if self._soft_telecine and rate is not None:
            rate = soft_telecine_rate(rate)  # the frames' own average, as they are delivered
        frame_count, duration, counted = self._length(cut, rate)
        return VideoInfo(
            path=self.path,
            width=frame.width,
            height=frame.height,
            pix_fmt=pix_fmt,
            bit_depth=bit_depth,
            chroma_shift=chroma_shift,
            time_base=time_base,
            average_rate=rate,
            frame_count=frame_count,
            duration=duration,
            color_matrix=matrix,
            color_range=color_range,
            color_primaries=colors.PRIMARIES.get(frame.color_primaries),
            color_trc=colors.TRANSFERS.get(frame.color_trc),
            rotation=round(frame.rotation) % 360,
            display_matrix=display_matrix_of(frame),
            codec=stream.codec_context.name,
            source_pix_fmt=frame.format.name,
            color_matrix_tag=tag,
            color_matrix_guessed=tag is None,
            # Anamorphic sources (DV, DVD, HDV) display wider than their pixel grid.
            sample_aspect_ratio=self._first_shape(),
            hdr10=hdr10_of(frame),
            rgb_planes=self._rgb_like,
            cut=cut,
            clock_restarts=self._restarts,
            frame_timecode=self._first_timecode(frame, time_base),
            quicktime_keys=any(
                key.lower().startswith("com.apple.quicktime.") for key in self._container.metadata
            ),
            chroma_location=chroma_location_of(frame),
            closed_captions=captions_of(frame) is not None,
            raw_stream=self._raw is not None,
            counted_duration=counted,
            file_version=self.file_version,
        )

    def _length(
        self, cut: Cut | None, rate: Fraction | None
    ) -> tuple[int | None, float | None, CountedLength | None]:
        """The frames and seconds the file states for the video (a cut's share, with one
        asked for), and a raw stream's length counted once asked for."""
        stream = self._stream
        # The video's own length where the file states it, else the container's, which
        # covers subtitles and audio too, and in Matroska is where the file ends, its start
        # included (a recording whose clock starts at 10 h was "~900017" frames, not 20).
        duration, own = declared_video_seconds(stream, self._container)
        frame_count = stream.frames or None
        if frame_count and avi_chunks_are_clock_ticks(self._container, stream) and duration:
            frame_count = round(duration * rate)  # its header counts ticks (an estimate)
        if cut is not None and cut.asked:
            frame_count, duration = frames_in_cut(cut, frame_count, rate, duration if own else None)
            if self._raw is not None:
                frame_count = None  # reckoned from its counted length: an estimate
        counted = None
        if self._raw is not None:  # a raw stream states no length: its packets tell it
            asked = cut.requested if cut is not None and cut.asked else None
            counted = CountedLength(
                functools.partial(_counted_raw_seconds, self.path, self._raw, asked)
            )
        return frame_count, duration, counted

    def _first_shape(self) -> Fraction | None:
        """The first delivered frame's pixel shape: the stream's (a container's own shape,
        an MP4's pasp, wins, as players read it), unless the decoder took that frame from
        another sequence header than the one the file opens with: a cut into a DVD's 16:9
        film after its 4:3 trailer was tagged 4:3 and showed squeezed."""
        stream = self._stream
        decoded = stream.codec_context.sample_aspect_ratio
        if decoded and decoded != self._opening_shape:
            return decoded
        return stream.sample_aspect_ratio or decoded or None

    def _cut_at(self, first: av.VideoFrame, time_base: Fraction) -> Cut | None:
        """The time range on the file's clock, now that its first frame is known.

        With no range asked for, a clock that does not start at zero is moved there, every
        stream alike, as a cut that keeps the whole file. A video that starts before zero
        (an MPEG-TS clock that wrapped) moves to zero itself: MP4 and MOV players skip what
        lies before it. A file whose streams all start late (a broadcast recording's clock
        at 600 s) moves back by its start, as ffmpeg does: MP4 outputs had an empty edit of
        that length before the picture. Neither start is an intent."""
        container_start = self._container.start_time
        if self._raw is not None:
            container_start = None  # its frames are stamped from zero, the only stream
        file_start = container_start / av.time_base if container_start else 0.0
        if self.time_range is None:
            if first.pts is not None and first.pts < 0:
                self.warnings.append(
                    f"the video starts at {float(first.pts * time_base):.3f} s, before zero: "
                    "every stream is moved to start at zero with it"
                )
                start = first.pts * time_base
            elif container_start and container_start > 0:
                start = Fraction(container_start, av.time_base)
            else:
                return None
            return Cut(TimeRange(), start, None, file_start, origin=start, asked=False)
        _, end = self._range_pts
        return Cut(
            requested=self.time_range,
            offset=first.pts * time_base,
            end=None if end is None else end * time_base,
            file_start=file_start,
            origin=self._origin() * time_base,
        )

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None
        # PyAV frees a stream's decoder (its threads, its frame pool) only with the stream
        # object, which a reader in a reference cycle kept until Python's next full
        # collection: a folder run of 600 tiny clips held 126 threads. The cycles through
        # the reader (the pixel shape watch's callbacks, a decode stopped early) end here,
        # so that dropping the reader drops its decoder at once.
        self._shape_watch = None
        decoded, self._decoded = getattr(self, "_decoded", None), None
        if decoded is not None:
            decoded.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def every_sample_there(path: Path) -> bool:
    """Whether an MP4 or MOV holds every video sample its table counts, told by demuxing
    it once more (no decoding): a file cut short holds fewer."""
    with _open_input(path) as container:
        stream = main_video_stream(container)
        counted = stream.frames
        try:
            held = sum(1 for packet in container.demux(stream) if packet.size)
        except av.error.FFmpegError:
            return False
    return bool(counted) and held >= counted


def _counted_raw_seconds(path: Path, timing: RawTiming, part: TimeRange | None) -> float | None:
    """A raw stream's length in seconds, from its packets demuxed (vsr.video.raw_length) in
    an opening of its own, of `part` only where given; None where it cannot tell."""
    try:
        with _open_input(path) as container:
            seconds = raw_stream_seconds(container, main_video_stream(container), timing)
    except (VsrError, av.error.FFmpegError):
        return None  # the reader's own decode says what is wrong with the file
    if seconds is None or part is None:
        return seconds
    return seconds_in_range(part, seconds)
