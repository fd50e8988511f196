"""Encode planar YUV (or RGB) frames into a container, carrying over everything else the
source had.

Output goes to a hidden temporary file beside the target and is renamed only when
complete, so an interrupted run never leaves a half-written file under the real name.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
from fractions import Fraction
from pathlib import Path
from typing import IO, NoReturn

import av
import numpy as np

from vsr.atomic_file import put_in_place_unless_taken
from vsr.errors import VsrError, is_out_of_space, option
from vsr.video import colors, ffmpeg_pipe, temp_lock, x265_dts
from vsr.video.captions import CODECS_THAT_CARRY_CAPTIONS, CaptionStore, PacketCaptions
from vsr.video.containers import CONTAINERS, advice
from vsr.video.display_matrix import is_mirrored
from vsr.video.encode_settings import EncodeSettings
from vsr.video.encoder_choice import EncoderChoice
from vsr.video.encoder_time_base import FrameGrid, encoder_time_base, in_time_base
from vsr.video.file_version import HeldSource
from vsr.video.final_packet import FinalPacketHold
from vsr.video.image_sequence import is_image_sequence
from vsr.video.libav_log import libav_messages, reason_said
from vsr.video.lost_track_tags import tags_not_kept_on_track
from vsr.video.media_url import file_url
from vsr.video.mov_timing import LastPacketHold
from vsr.video.muxer_shift import MuxerShift
from vsr.video.pixfmt import parse_planes
from vsr.video.rate_snap import RateSnap
from vsr.video.reader import VideoInfo
from vsr.video.remux import StreamCopier, fresh_tags, track_tags
from vsr.video.timecode import why_no_timecode_track
from vsr.video.track_language import fit_language

log = logging.getLogger(__name__)

# Codecs whose own stream stores the pixel shape (H.264 and HEVC in the VUI, MPEG-2 and
# MPEG-4 Part 2 in their headers): the only ones that keep it in Matroska or WebM here.
PIXEL_SHAPE_IN_STREAM = frozenset({"h264", "hevc", "mpeg4", "mpeg2video"})


# The temporary files this process is writing. Their names carry the process id only, so
# two threads of one process (two requests of a service) writing one output would share a
# temporary file: the second is refused instead.
_TEMPS_IN_USE: set[Path] = set()
_TEMPS_LOCK = threading.Lock()


# Encoder options that set the colour tags vsr otherwise writes from the source's.
_COLOUR_TAG_OPTIONS = frozenset({"colorspace", "color_range", "color_primaries", "color_trc"})


def _claim_temp(temp: Path, target: Path) -> None:
    with _TEMPS_LOCK:
        if temp.resolve() in _TEMPS_IN_USE:
            raise VsrError(f"{target} is being written by another call in this process")
        _TEMPS_IN_USE.add(temp.resolve())


def _release_temp(temp: Path) -> None:
    with _TEMPS_LOCK:
        _TEMPS_IN_USE.discard(temp.resolve())


def temp_path_for(path: Path, pid: int | None = None) -> Path:
    """Hidden name in the same folder (same file system, so the final rename is atomic),
    with the writing process's id (this one's unless `pid` is given)."""
    return path.with_name(f".{path.stem}.{os.getpid() if pid is None else pid}.tmp{path.suffix}")


def temp_pattern_for(path: Path) -> str:
    """A regular expression for the names temp_path_for gives `path`, any process's id its
    one group."""
    return rf"\.{re.escape(path.stem)}\.(\d+)\.tmp{re.escape(path.suffix)}"


def output_of_temp(path: Path) -> Path | None:
    """The output a temporary file of temp_path_for is made for; None for another name."""
    made = re.fullmatch(r"\.(.+)\.\d+\.tmp(\.[^.]*)?", path.name)
    return path.with_name(made[1] + (made[2] or "")) if made else None


def _quicktime_key(key: str) -> str:
    lower = key.lower()
    return lower if lower.startswith("com.apple.quicktime.") else key


def create_exclusively(path: Path) -> IO[bytes] | None:
    """Make ``path`` a new, empty file of this process before FFmpeg opens it by name, held
    locked (vsr.video.temp_lock.create_held: None where the disk has no locks).

    Its name is predictable (the pid), and FFmpeg follows links: a link planted under it in
    a shared output folder would have the video written into the file it points to, and the
    link renamed into place as the output. The file is made under a side name with O_EXCL
    and O_NOFOLLOW and renamed over whatever holds the name (a temp of an earlier process
    with this pid, or such a link: a rename replaces the link, never its target)."""
    try:
        return temp_lock.create_held(path)
    except FileExistsError:
        raise VsrError(
            f"{path}: appeared while vsr was creating it; is another run here?"
        ) from None
    except OSError as error:
        if is_out_of_space(error):
            raise  # a full or read-only disk stops a folder run (vsr.folder)
        # As _open_container says it: one line, not a traceback (a name too long once the
        # temp name's pid is added, a folder that cannot hold files).
        raise VsrError(f"{path.parent}: cannot write there ({error.strerror})") from None


def _keep_aside(temp: Path, path: Path) -> Path:
    """Give finished `temp` the first free name of "STEM.N.SUFFIX" beside `path`, taken
    with a hard link so that no other file is replaced (a rename where there are none)."""
    for number in range(2, 10_000):
        spare = path.with_name(f"{path.stem}.{number}{path.suffix}")
        try:
            put_in_place_unless_taken(temp, spare)
        except VsrError:
            continue
        return spare
    raise VsrError(f"{path}: no free name beside it for this run's output")


def check_output_path(path: Path, source: Path, overwrite: bool) -> str:
    """Validate where the output goes; returns the container format name."""
    fmt = CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(CONTAINERS))
        if not path.suffix:  # "out/" or "out": a name without a type, or meant as a folder
            raise VsrError(f"{path}: the output needs a file type ({known}), as in {path}.mp4")
        raise VsrError(f"{path}: unknown output container {path.suffix!r} (use one of {known})")
    # A source that is no file (an image sequence's pattern) is no output's file either.
    same = path.exists() and source.exists() and path.samefile(source)
    if path.resolve() == source.resolve() or same:
        raise VsrError(f"{path}: output is the input file; choose another output path")
    if os.path.lexists(path) and not overwrite:  # a link to nothing is a name taken too
        raise VsrError(
            f"{path}: already exists (use --overwrite, or overwrite=True, to replace it)"
        )
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise VsrError(f"{folder}: not a folder, cannot hold the output")
    if not folder.is_dir():
        raise VsrError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise VsrError(f"{folder}: output folder is not writable")
    return fmt


class FinishedVideoKeptAside(VsrError):
    """The output was finished but could not take its name, and is kept under another: the
    work is whole, so what a --resume run kept of it has served."""


class VideoWriter:
    """Encode frames handed over as planes; `close()` finishes, `abort()` discards.

    After construction, `pix_fmt`, `bit_depth` and `chroma_shift` say what layout `write()`
    expects (RGB formats: G, B and R planes), `color_matrix`/`color_range`/`chroma_siting`
    what the planes must be converted to (vsr.video.colors.GBR for RGB: no matrix, full
    range), and `notes` every decision made on the user's behalf.

    `carry_captions(reader.captions)` before the first frame keeps the source's closed
    captions in the output's packets where its codec can hold them (vsr.video.captions);
    `close()` notes those it could not keep.
    """

    def __init__(
        self,
        path: str | Path,
        source: VideoInfo,
        width: int,
        height: int,
        settings: EncodeSettings,
        overwrite: bool = False,
    ):
        self.path = Path(path)
        self.source = source
        self.width, self.height = width, height
        self.frames_written = 0
        self._container_format = check_output_path(self.path, source.path, overwrite)
        self._overwrite = overwrite
        choice = EncoderChoice(self.path, self._container_format, source, width, height, settings)
        self.settings, self.codec, self.notes = choice.settings, choice.codec, choice.notes
        self.color_matrix, self.color_range = choice.color_matrix, choice.color_range
        self.chroma_siting = choice.chroma_siting  # declared by an encoder option
        self._matrix_tag = choice.matrix_tag
        self.pix_fmt, self._encoder_fmt = choice.pix_fmt, choice.encoder_fmt
        self._options = choice.options
        error = choice.error
        self._say_if_pixel_shape_is_lost(through_ffmpeg=error is not None)
        self._say_if_colours_are_relabelled()
        self.time_base = source.time_base
        self._rate = source.average_rate
        self._last_pts: int | None = None
        self._last_given: int | None = None  # the source's time of the last frame, if it had one
        self._frame_step = self._step_in_time_base()
        self._encoder_time_base = encoder_time_base(self.codec.name, self.time_base, self._rate)
        counted = self._encoder_time_base / self.time_base  # source ticks per encoder tick
        # None: the encoder takes the source's times as they are.
        self._grid = FrameGrid(counted) if counted != 1 else None
        self.temp_path = temp_path_for(self.path)
        self._claimed = False  # of _TEMPS_IN_USE: released by close() and abort()
        self._kept = False  # finished, but kept where it is: abort() leaves it
        self._held: IO[bytes] | None = None  # the temporary file's lock (vsr.video.temp_lock)
        self._output: av.container.OutputContainer | None = None
        self._muxer: MuxerShift | None = None  # every packet goes to the output through it
        self._copier: StreamCopier | None = None
        self._pipe: ffmpeg_pipe.FfmpegPipe | None = None
        self._source_held: HeldSource | None = None  # for the end check, in close()
        self._finished = False
        # Where the stream ends: MP4/MOV sum the dts steps into its length (see
        # vsr.video.mov_timing), Matroska takes the latest pts + duration (final_packet).
        self._mov_like = self._container_format in ("mp4", "mov")
        # MP4 and MOV keep times exactly, a Matroska source's millisecond roundings of
        # 23.976 fps too: its frames are put back on their grid (vsr.video.rate_snap).
        # Matroska rounds them to milliseconds again, and the ffmpeg CLI muxes its own.
        # Rounded they were in the file's ticks, which frames per field and film make finer.
        snap = RateSnap.for_source(self.time_base, self._rate, source.rounding)
        self._snap = snap if self._mov_like else None
        hold = LastPacketHold if self._mov_like else FinalPacketHold
        self._hold = hold(self._snap.step if self._snap else self._frame_step)
        self._stream_end: int | None = None  # where the source's last frame ends, if known
        self._caption_store: CaptionStore | None = None  # the reader's, once given
        self._captions: PacketCaptions | None = None  # None: this output cannot carry them
        self.bit_depth, self.chroma_shift, _ = parse_planes(self.pix_fmt)  # type: ignore[misc]
        # Kept there by an earlier call of this process (or of one that had its pid): the
        # name is the one this run would make its temporary file under.
        if temp_lock.is_kept_finished(self.temp_path):
            raise VsrError(
                f"{self.path}: the finished video of an earlier run, which could not take "
                f"this name, is kept as {self.temp_path}: rename it to {self.path.name}, or "
                "remove it to make it again"
            )
        try:
            _claim_temp(self.temp_path, self.path)
            self._claimed = True
            # What runs killed outright left under this output's temporary names.
            removed = temp_lock.remove_dead_temps(self.path, temp_pattern_for(self.path))
            if removed:
                self.notes.append(
                    f"removed {len(removed)} temporary file(s) that a killed run left beside "
                    f"the output ({removed[0].name}{', ...' if len(removed) > 1 else ''})"
                )
            self._held = create_exclusively(self.temp_path)  # until renamed or removed
            self._source_held = HeldSource(source.path, source.file_version)
            if error is None:
                self._open_container()
            elif ffmpeg_pipe.ffmpeg_available():
                self.notes.append(f"PyAV cannot open {self.codec.name} ({error}); using ffmpeg")
                if self._mirrored:  # a rotation alone would turn it upside down
                    self.notes.append(
                        "the source is mirrored, which the ffmpeg encoder process is not "
                        "told: the output shows the picture as stored, unturned and unmirrored"
                    )
                self._pipe = ffmpeg_pipe.FfmpegPipe(self._pipe_plan())
            else:
                # libav's errno text rarely says why ("Invalid argument"); its log line does.
                reason = reason_said(choice.libav_said)
                said = f": {reason}" if reason else ""
                raise VsrError(
                    f"cannot open encoder {self.codec.name}: {error}{said}{choice.why_hint()}"
                )
        except BaseException:
            self.abort()
            raise
        for note in self.notes:
            log.info("%s: %s", self.path.name, note)

    @property
    def _apple_tag(self) -> str | None:
        """The sample-entry tag Apple players need, where libav's default differs.

        libav tags HEVC in MP4/MOV as `hev1` (parameter sets may also travel in the
        stream); QuickTime, iOS and Safari play only `hvc1` (parameter sets in the header
        alone, which is what every encoder vsr opens with a global header writes).
        """
        if self.codec.canonical_name == "hevc" and self._mov_like:
            return "hvc1"
        return None

    def _step_in_time_base(self) -> int:
        """One frame's duration in the time base (for frames that arrive without pts)."""
        rate = self.source.average_rate or Fraction(25)
        return max(1, round(1 / (rate * self.time_base)))

    # -- PyAV path ------------------------------------------------------------------

    def _open_container(self) -> None:
        muxer_options = self._muxer_options()
        try:
            self._output = av.open(
                file_url(self.temp_path),
                "w",
                format=self._container_format,
                options=muxer_options,
            )
        except (OSError, av.error.FFmpegError) as error:
            raise VsrError(f"{self.path.parent}: cannot write there ({error})") from None
        output = self._output
        stream = self._add_video_stream(output)
        if self.source.display_matrix is not None:
            stream.set_display_matrix(list(self.source.display_matrix))  # mirrors too
        elif self.source.rotation:
            stream.set_display_rotation(self.source.rotation)
        # The picture is the track to play: Matroska writes FlagDefault only from this
        # (the copied streams keep their own flags).
        stream.disposition = av.stream.Disposition.default
        self._video = stream
        self._muxer = MuxerShift(output)

        source = self.source
        self._copier = StreamCopier(
            source.path,
            output,
            self.notes,
            source.cut,
            source.clock_restarts,
            source.frame_timecode,
            self._muxer,
            source.file_version,
        )
        self._tags = fresh_tags(self._copier.container_tags)
        if "use_metadata_tags" in muxer_options.get("movflags", ""):
            # Matroska's COM.APPLE... as phones spell it
            self._tags = {_quicktime_key(key): value for key, value in self._tags.items()}
        video_tags = fit_language(
            track_tags(self._copier.video_tags), output, "the video track", self.notes
        )
        self._say_if_the_stereo_layout_is_lost(video_tags)
        self._drop_a_timecode_that_cannot_run(self._tags, video_tags)
        output.metadata.update(self._tags)
        stream.metadata.update(video_tags)
        said: list[str] = []
        try:
            # The header now, not with the first packet: a muxer's codec list is not the
            # whole story (MOV refuses VP9, AV1 and VP8 here), and a refusal must come
            # before any frame is upscaled, not at the end of the work.
            with libav_messages(said, av.logging.ERROR):
                output.start_encoding()
        except (av.error.FFmpegError, ValueError) as error:
            if is_out_of_space(error):
                raise  # the disk, not the codec: it stops a folder run (vsr.folder)
            # The muxer's own words ("vp9 only supported in MP4.") over its error code's
            # ("Invalid argument").
            why = (reason_said(said) or "").rstrip(".") or getattr(error, "strerror", None) or error
            audio = self._copier.audio_encoders
            # The header opens those encoders too: the refusal may be theirs, which a
            # header of the video alone tells.
            if audio and self._video_alone_starts():
                raise VsrError(
                    f"cannot start the {self.path.suffix} file ({why}): the audio re-encoded "
                    f"with {', '.join(sorted(set(audio)))} was refused; .mkv takes most "
                    "streams as they are"
                ) from None
            advised = advice(self.codec.name, self._container_format)
            raise VsrError(
                f"{self.codec.name} cannot be stored in {self.path.suffix} files ({why}; {advised})"
            ) from None

    def _add_video_stream(self, container: av.container.OutputContainer) -> av.VideoStream:
        """The upscaled video's stream in `container`, its encoder set up: the output's, and
        the throw-away header's that tells whose refusal it was (_video_alone_starts)."""
        stream = container.add_stream(self.codec.name, rate=self._rate, options=self._options)
        self._configure_encoder(stream.codec_context)
        if self._apple_tag:
            stream.codec_context.codec_tag = self._apple_tag
        stream.time_base = self._snap.time_base if self._snap else self.time_base
        return stream

    def _video_alone_starts(self) -> bool:
        """Whether a throw-away file of the output's format takes the video stream alone,
        set up as the real one, through its header."""
        try:
            with (
                libav_messages([]),
                av.open(io.BytesIO(), "w", format=self._container_format) as probe,
            ):
                self._add_video_stream(probe)
                probe.start_encoding()
        except (av.error.FFmpegError, ValueError):
            return False
        return True

    def _say_if_colours_are_relabelled(self) -> None:
        """`-e colorspace=`, `color_range=`, `color_primaries=` or `color_trc=` replace the
        colour tags vsr writes, and only them: the pixels stay in the source's colours.
        Right for a source that was mislabelled; otherwise players show other colours (full
        range on limited pixels washes them out), and nothing said so."""
        given = [f"-e {k}={v}" for k, v in self._options.items() if k in _COLOUR_TAG_OPTIONS]
        if not given:
            return
        source = self.source
        kept = (
            f"matrix {self._matrix_tag or 'untagged'}, range {self.color_range}, primaries "
            f"{source.color_primaries or 'untagged'}, transfer {source.color_trc or 'untagged'}"
        )
        self.notes.append(
            f"{', '.join(given)} relabels the output without converting its pixels, which "
            f"keep the source's colours ({kept}): right only if the source was mislabelled"
        )

    def _say_if_the_stereo_layout_is_lost(self, video_tags: dict[str, str]) -> None:
        """A Matroska source states its stereo 3D layout in the track (StereoMode, the tag
        "stereo_mode" to libav), which the video's tags carry into a Matroska or WebM
        output; MP4 and MOV drop it (libav writes their stereo box only as an unofficial
        extension)."""
        layout = next((v for k, v in video_tags.items() if k.lower() == "stereo_mode"), None)
        if layout and self._container_format not in ("matroska", "webm"):
            self.notes.append(
                f"the video is stereo 3D ({layout}), which {self.path.suffix} files do not "
                "keep: players show the two views as stored (.mkv and .webm keep it)"
            )

    def _configure_encoder(self, context: av.codec.CodecContext) -> None:
        """Size, format, time base and colour tags: the output stream's encoder and every
        `fresh_encoder()` get them from here, so they cannot drift apart."""
        context.width, context.height = self.width, self.height
        context.pix_fmt = self._encoder_fmt
        context.time_base = self._encoder_time_base
        context.sample_aspect_ratio = self._sample_aspect_ratio()
        self._tag_colours(context)

    def _sample_aspect_ratio(self) -> Fraction:
        """The pixel shape that shows the output with the source's display aspect ratio:
        the source's own for a uniform scale, square again when --size undoes the squeeze."""
        source_sar = self.source.sample_aspect_ratio or Fraction(1)
        ratio = source_sar * Fraction(self.source.width * self.height)
        ratio /= self.source.height * self.width
        return ratio.limit_denominator(65535)

    def _say_if_pixel_shape_is_lost(self, through_ffmpeg: bool) -> None:
        """A note when the output cannot keep non-square pixels. Matroska and WebM hold the
        pixel shape in the track's header, which PyAV cannot set (it sets the encoder's),
        so only codecs that carry it in their own stream keep it there; MP4 and MOV keep it
        for any codec. The ffmpeg pipe (vsr.video.ffmpeg_pipe) is given no pixel shape."""
        shape = self._sample_aspect_ratio()
        if shape == 1:
            return
        if through_ffmpeg:
            self.notes.append(
                f"the pixels are {shape.numerator}:{shape.denominator}, which the ffmpeg "
                "encoder process is not told: the output shows them square, squeezed"
            )
            return
        if self._container_format not in ("matroska", "webm"):
            return
        if self.codec.canonical_name in PIXEL_SHAPE_IN_STREAM:
            return
        # WebM takes neither libx264 nor libx265: only another container helps there.
        other_codec = ", and so do libx264 and libx265" if self._container_format != "webm" else ""
        self.notes.append(
            f"the pixels are {shape.numerator}:{shape.denominator}, which {self.codec.name} "
            f"in {self.path.suffix} cannot hold here: the output shows them square, "
            f"squeezed; .mp4 or .mov keep the shape{other_codec}"
        )

    def _tag_colours(self, context: av.codec.CodecContext) -> None:
        context.colorspace = colors.code_of(colors.MATRIX_TAGS, self._matrix_tag)
        context.color_range = colors.RANGE_CODES[self.color_range]
        context.color_primaries = colors.code_of(colors.PRIMARIES, self.source.color_primaries)
        context.color_trc = colors.code_of(colors.TRANSFERS, self.source.color_trc)

    def video_frame(
        self, planes: tuple[np.ndarray, np.ndarray, np.ndarray], pts: int
    ) -> av.VideoFrame:
        """The encoder's frame for `planes` (copied; checked against pix_fmt and size).

        Holds no writer state, so encoder threads beside this writer may call it."""
        frame = av.VideoFrame(self.width, self.height, self.pix_fmt)
        dtype = np.dtype(np.uint8 if self.bit_depth == 8 else "<u2")
        for plane, data in zip(frame.planes, planes, strict=True):
            if data.dtype != dtype:
                raise ValueError(f"{data.dtype} plane, expected {dtype} for {self.pix_fmt}")
            if data.shape != (plane.height, plane.width):
                raise ValueError(
                    f"plane of shape {data.shape}, expected {(plane.height, plane.width)} "
                    f"for {self.width}x{self.height} {self.pix_fmt}"
                )
            row = plane.line_size // data.itemsize
            view = np.frombuffer(plane, dtype=dtype).reshape(plane.height, row)
            view[:, : plane.width] = data
        if self._encoder_fmt != self.pix_fmt:
            frame = frame.reformat(format=self._encoder_fmt)
        # All four tags on the frame too: some encoders (ProRes) write the frame's, not the
        # stream's, into every picture header.
        tags = self._video.codec_context
        frame.colorspace, frame.color_range = tags.colorspace, tags.color_range
        frame.color_primaries, frame.color_trc = tags.color_primaries, tags.color_trc
        frame.pts = pts
        frame.time_base = self.time_base
        return frame

    def fresh_encoder(self) -> av.video.codeccontext.VideoCodecContext:
        """A new, open encoder configured exactly like the output stream's, for writers that
        run several encoders into this one file (vsr.video.parallel_writer).

        Its packets go to `mux_video`. Raises RuntimeError when its stream headers
        (extradata: SPS/PPS and the like) differ from the ones the container was started
        with, since the file would then announce a stream its packets do not match.
        """
        if self._output is None:
            raise RuntimeError("no PyAV output to encode for (the ffmpeg CLI path encodes)")
        template = self._video.codec_context
        # The header is written (and the stream's encoder opened) once, here, so its
        # extradata exists to compare against.
        self._output.start_encoding()
        context = av.codec.CodecContext.create(self.codec.name, "w")
        # What PyAV's add_stream set on the stream's encoder beyond _configure_encoder.
        context.framerate = template.framerate
        # Only where the stream's encoder has them: an explicit 0 is not libav's default,
        # and libavcodec's own rate control (mpeg4) aborts the whole process on it.
        if template.bit_rate:
            context.bit_rate = template.bit_rate
        if template.bit_rate_tolerance:
            context.bit_rate_tolerance = template.bit_rate_tolerance
        context.flags = template.flags
        self._configure_encoder(context)
        context.options = dict(self._options)
        context.open()
        if context.extradata != template.extradata:
            raise RuntimeError(
                f"a second {self.codec.name} encoder produced different stream headers "
                "than the output stream's; it cannot share the file"
            )
        return context

    def mux_video(self, packets: list[av.Packet], video_seconds: float) -> None:
        """Mux encoded video packets, then the other streams' packets due by then."""
        for packet in packets:
            packet.stream = self._video
        if self._snap is not None:
            packets = self._snap.packets(packets)
        if self._hold is not None:
            packets = self._hold.pass_on(packets)
        self._muxer.mux(packets)
        self._copier.advance(video_seconds)

    @property
    def through_ffmpeg(self) -> bool:
        """True when frames go to an ffmpeg CLI process instead of a PyAV encoder."""
        return self._pipe is not None

    # -- the API ------------------------------------------------------------------------

    def next_pts(self, pts: int | None) -> int:
        """The input pts, unless missing or not increasing (encoders refuse those)."""
        given = pts
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._frame_step
        elif self._last_pts is not None and pts <= self._last_pts:
            # Said of the source's own times, not of those the frame grid moved ahead.
            went_back = self._last_given is not None and pts <= self._last_given
            if went_back and not any(n.startswith("non-increasing") for n in self.notes):
                self.notes.append("non-increasing timestamps in the source were renumbered")
            pts = self._last_pts + 1
        if given is not None:
            self._last_given = given
        if self._grid is not None:
            pts = self._grid.place(pts)
        self._last_pts = pts
        return pts

    def write(self, planes: tuple[np.ndarray, np.ndarray, np.ndarray], pts: int | None) -> None:
        """Encode one frame (planes in self.pix_fmt, pts in the source's time base)."""
        given, pts = pts, self.next_pts(pts)
        if self._pipe is not None:
            self._pipe.write(planes, pts)
        else:
            self.expect_captions(given, pts)
            packets = self.from_encoder(self._video.encode(self.video_frame(planes, pts)))
            self.mux_video(packets, float(pts * self.time_base))
        self.frames_written += 1

    # -- closed captions (vsr.video.captions) -----------------------------------------

    def carry_captions(self, store: CaptionStore) -> None:
        """Put the captions `store` (a reader's) collects into the packets of the frames
        they belong to, where this output can hold them; before the first write()."""
        self._caption_store = store
        if self._why_captions_are_lost() is None:
            self._captions = PacketCaptions(self.codec.canonical_name, store)
            store.collecting = True

    def _why_captions_are_lost(self) -> str | None:
        if self._pipe is not None:
            return "the ffmpeg encoder process is given the pictures alone"
        if self.codec.canonical_name not in CODECS_THAT_CARRY_CAPTIONS:
            # MPEG-2 and AV1 could hold them too (user data, T.35 metadata): not written here.
            return (
                f"vsr puts them into H.264 and HEVC streams only, not {self.codec.name}'s "
                "(libx264 and libx265 in .mp4, .mkv or .mov keep them)"
            )
        return None

    def expect_captions(self, given: int | None, written: int) -> None:
        """A frame given with pts `given` is encoded with pts `written`: its captions, if it
        has any, go into the packet with that pts. Any thread that feeds an encoder."""
        if self._captions is not None:
            self._captions.expect(given, written)

    def from_encoder(self, packets: list[av.Packet]) -> list[av.Packet]:
        """An encoder's `packets` as this writer muxes them: in its time base (MPEG-1/2
        and MPEG-4 count in their own: vsr.video.encoder_time_base), and those of frames
        with captions carrying them (as an SEI)."""
        packets = in_time_base(packets, self.time_base)
        return packets if self._captions is None else self._captions.insert(packets)

    def _note_captions_not_kept(self) -> None:
        store = self._caption_store
        if store is None or not store.captioned_frames:
            return
        frames = store.captioned_frames
        why = self._why_captions_are_lost()
        if why is not None:
            self.notes.append(
                f"the video carries closed captions (CEA-608/708) in {frames} frame(s), "
                f"which the output does not keep: {why}"
            )
            return
        if self._captions.refused_packets:
            self.notes.append(
                f"the closed captions of {self._captions.refused_packets} frame(s) are not "
                "kept: their packets held no picture to put them before"
            )

    def _note_frames_moved_onto_the_rate(self) -> None:
        if self._grid is not None and self._grid.moved:
            self.notes.append(
                f"{self.codec.name} keeps one steady rate ({float(self._rate):g} fps): "
                f"{self._grid.moved} frame(s) of the source's uneven timing were moved onto it"
            )

    def end_at(self, pts: int) -> None:
        """End the video at `pts` (the source's time base), where the source's last frame
        ends, rather than one average frame after it starts; before close()."""
        self._stream_end = pts

    def close(self) -> None:
        """Flush, copy the remaining audio/subtitles, finish the file, rename it into place."""
        if self._finished:
            return
        try:
            if self._pipe is not None:
                self._pipe.close()
            else:
                flush = self.from_encoder(self._video.encode(None))
                self._mux_flushed(x265_dts.flushed(self.codec.name, flush, self.frames_written))
                self._copier.finish()
                # Closed, the container forgets its streams.
                given = [(s.type, dict(s.metadata)) for s in self._output.streams]
                self._output.close()
                self._note_tags_not_kept(given)
            self._note_captions_not_kept()
            self._note_frames_moved_onto_the_rate()
            # The ffmpeg process opens the source when it will, and the copier reads it to
            # the end: all of it came from the version the video was read from only if the
            # name still gives that one now, or, the clip deleted or moved away meanwhile,
            # if it was never opened unchecked and was not cut short before it went.
            self._source_held.end_check(every_opening_checked=self._pipe is None)
            self._put_in_place()
        except BaseException as error:
            removed = isinstance(error, OSError) and self._temp_removed()  # before abort()'s
            self.abort()
            if removed:
                raise VsrError(
                    f"{self.path}: its temporary output {self.temp_path.name} was removed "
                    "during the run (by a clean-up of the folder?); nothing was written"
                ) from None
            raise
        self._finished = True
        self._release()

    def _temp_removed(self) -> bool:
        """Whether the temporary file is gone from a folder still there: the next opening
        of it by name (the tags' check, the rename) fails with a bare ENOENT. A folder
        removed whole is the runner's to say (vsr.runner._refuse_if_the_folder_is_gone)."""
        return self.path.parent.is_dir() and not os.path.lexists(self.temp_path)

    def _put_in_place(self) -> None:
        """Rename the finished file to its name. Without overwrite, a file another run put
        there since this one was checked (two runs for one output, started together) is
        kept, and so is this run's work, under a free name beside it that the error gives:
        the last run to finish replaced the other's without a word. One refused its name
        is kept too (_keep_what_could_not_take_its_name)."""
        try:
            if self._overwrite:
                os.replace(self.temp_path, self.path)
            else:
                put_in_place_unless_taken(self.temp_path, self.path)
        except VsrError:
            kept = _keep_aside(self.temp_path, self.path)
            raise FinishedVideoKeptAside(
                f"{self.path} was written by another run meanwhile, and is kept; this run's "
                f"output is {kept.name} beside it ({option('--overwrite', True)} replaces instead)"
            ) from None
        except OSError as error:
            if not os.path.lexists(self.temp_path):
                raise  # nothing to keep: close() says what became of it
            self._keep_what_could_not_take_its_name(error)

    def _keep_what_could_not_take_its_name(self, error: OSError) -> NoReturn:
        """The finished file was refused its name (its folder made read-only meanwhile,
        another user's file in a shared folder): all the work is in it, so it is kept, and
        the error says where. Under a free name beside the output where one can be given,
        else under its temporary name, marked so that no later run takes it for a killed
        run's and removes it (temp_lock.keep_finished)."""
        why = error.strerror or str(error)
        self._kept = True
        refusal = FinishedVideoKeptAside
        try:
            kept = _keep_aside(self.temp_path, self.path)
        except (OSError, VsrError):
            if temp_lock.keep_finished(self.temp_path):
                where = (
                    f"is kept as {self.temp_path} (hidden): rename it to {self.path.name} "
                    "once the folder can be written"
                )
            else:
                refusal = VsrError  # the next run removes it: the kept chunks may yet serve
                where = (
                    f"is left as {self.temp_path} (hidden), which the next run for this "
                    f"output removes: rename it to {self.path.name} before"
                )
        else:
            where = f"is kept as {kept.name} beside it"
        raise refusal(f"{self.path}: {why}; the finished video {where}") from None

    def _muxer_options(self) -> dict[str, str]:
        """MP4 and MOV store only the tags they have a box for, unless told to write every
        tag as a QuickTime metadata key, as phones write a camera's model and location: a
        source that holds such keys keeps them, and all its other tags, that way. And the
        colour box (_colour_box_flag)."""
        flags = [self._colour_box_flag()]
        if self._mov_like and self.source.quicktime_keys:
            flags.append("use_metadata_tags")
        flags = [flag for flag in flags if flag]
        return {"movflags": "+".join(flags)} if flags else {}

    def _colour_box_flag(self) -> str | None:
        """The movflag that has MP4 and MOV state the matrix and range of YCbCr output.

        Their muxer writes its `colr` box only when the matrix, primaries and transfer are
        all tagged, and codecs without colour fields of their own (FFV1, MPEG-4 Part 2,
        MagicYUV) then lost the matrix and range vsr encoded with: an untagged SD source
        read back as HD's BT.709, a full-range one as limited. Told to, it writes the box
        with untagged primaries and transfer left unspecified. RGB planes have no matrix to
        state: their box stays out, as README says."""
        if self._mov_like and self.color_matrix != colors.GBR:
            return "write_colr"
        return None

    def _drop_a_timecode_that_cannot_run(self, *tag_sets: dict[str, str]) -> None:
        """MP4 and MOV keep a timecode as a track that counts at most 255 frames a second:
        at a higher or an unknown rate the muxer refuses it when the file is finished, after
        all the work. Such a timecode is dropped with a note instead, as is one the muxer
        would leave out without a word (vsr.video.timecode.why_no_timecode_track): text
        that is no timecode, or drop-frame at 25 fps."""
        rate = self._rate
        if not self._mov_like:
            return
        for tags in tag_sets:
            for key in [k for k in tags if k.lower() == "timecode"]:
                if not rate or round(rate) > 255:
                    note = (
                        f"the timecode {tags.pop(key)} is dropped: {self.path.suffix} timecode "
                        "tracks count at most 255 frames a second, and the video has "
                        f"{f'{float(rate):g}' if rate else 'no steady rate'}"
                    )
                else:
                    why = why_no_timecode_track(tags[key], rate)
                    if why is None:
                        continue
                    note = (
                        f"the timecode {tags.pop(key)} is dropped: {self.path.suffix} keeps "
                        f"a timecode as a track, and {why}"
                    )
                if note not in self.notes:  # the container's and the video's alike
                    self.notes.append(note)

    def _note_tags_not_kept(self, given: list[tuple[str, dict[str, str]]]) -> None:
        """Name the source's tags the muxer did not store: MP4 and MOV keep only those they
        have a box for, and drop a phone's camera model and location keys without a word.
        `given` holds each output track's kind and the tags it was given, in order."""
        with av.open(file_url(self.temp_path)) as written:
            # A timecode tag becomes a timecode track, whose tags hold it.
            tags = [written.metadata, *(stream.metadata for stream in written.streams)]
            kept = {key.lower() for keys in tags for key in keys}
            # The timecode and chapter tracks the muxer adds come after the ones vsr made.
            track_keys = [{key.lower() for key in stream.metadata} for stream in written.streams]
        # Matroska keeps every tag but a track's creation_time: no advice to use it then.
        advice = "" if self._container_format in ("matroska", "webm") else " (.mkv keeps every tag)"
        lost = sorted(key for key in self._tags if key.lower() not in kept)
        if lost:
            self.notes.append(
                f"the tags {', '.join(lost)} are not kept: the {self.path.suffix} muxer "
                f"does not store them{advice}"
            )
        lost_on_tracks = [
            f"{', '.join(lost)} ({kind} #{index})"
            for index, ((kind, tags_given), keys) in enumerate(zip(given, track_keys, strict=False))
            if (lost := tags_not_kept_on_track(tags_given, keys))
        ]
        if lost_on_tracks:
            self.notes.append(
                f"the track tags {', '.join(lost_on_tracks)} are not kept: the "
                f"{self.path.suffix} muxer does not store them{advice}"
            )

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()
        if self._source_held is not None:
            self._source_held.close()
        if self._claimed:
            self._claimed = False
            _release_temp(self.temp_path)

    def _mux_flushed(self, packets: list[av.Packet]) -> None:
        """Mux the encoder's last packets, and the one held back to end the stream right."""
        end = self._stream_end
        if self._snap is not None:
            packets = self._snap.packets(packets, last=True)
            end = None if end is None else self._snap.time(end)
        if self._hold is None:
            self._muxer.mux(packets)
            return
        self._muxer.mux(self._hold.pass_on(packets))
        # The muxer picks its time base when it writes the header; the held packet is
        # fixed in that time base, so the header must be out first.
        self._output.start_encoding()
        self._muxer.mux(self._hold.last(self._video, end))

    def abort(self) -> None:
        """Stop and delete the temporary file; the target path is left untouched."""
        self._finished = True
        stoppers = []
        if self._pipe is not None:
            stoppers.append(self._pipe.abort)
        if self._copier is not None:
            stoppers.append(self._copier.close)
        if self._output is not None:
            stoppers.append(self._output.close)
        for stop in stoppers:
            try:
                stop()
            except Exception as error:  # already failing: cleaning up must not mask it
                log.debug("while aborting %s: %s", self.path, error)
        self._pipe = self._copier = self._output = None
        # Another call's temporary file is not ours to remove, nor a finished one kept.
        if self._claimed and not self._kept:
            try:
                self.temp_path.unlink(missing_ok=True)
            except OSError as error:  # never made (a name too long): the first error stands
                log.debug("while aborting %s: %s", self.path, error)
        self._release()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- ffmpeg CLI path -----------------------------------------------------------------

    def _pipe_plan(self) -> ffmpeg_pipe.PipePlan:
        return ffmpeg_pipe.PipePlan(
            output=self.temp_path,
            container=self._container_format,
            # An image sequence has nothing to copy beside its frames, and ffmpeg could not
            # be handed its pattern as vsr opens it (vsr.video.image_sequence).
            source=None if is_image_sequence(self.source.path) else self.source.path,
            width=self.width,
            height=self.height,
            pix_fmt=self.pix_fmt,
            time_base=self.time_base,
            rate=self.source.average_rate,
            codec=self.codec.name,
            encoder_pix_fmt=self._encoder_fmt,
            # ffmpeg's own spelling of _open_container's sample-entry tag and colour box.
            options={
                **self._options,
                **({"tag:v": self._apple_tag} if self._apple_tag else {}),
                **({"movflags": f"+{flag}"} if (flag := self._colour_box_flag()) else {}),
            },
            # "bt601" is vsr's name for the matrix, not a tag ffmpeg takes (an untagged SD
            # source made ffmpeg refuse to start); the PyAV path tags it smpte170m.
            color_matrix="smpte170m" if self._matrix_tag == "bt601" else self._matrix_tag,
            color_range=self.color_range,
            color_primaries=self.source.color_primaries,
            color_trc=self.source.color_trc,
            rotation=0 if self._mirrored else self.source.rotation,
            cut=self.source.cut,
        )

    @property
    def _mirrored(self) -> bool:
        return self.source.display_matrix is not None and is_mirrored(self.source.display_matrix)
