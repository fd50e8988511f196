"""Encode planar YUV frames into a container, carrying over everything else the source had.

Output goes to a hidden temporary file beside the target and is renamed only when
complete, so an interrupted run never leaves a half-written file under the real name.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import numpy as np

from vsr.errors import VsrError, is_out_of_space
from vsr.video import colors, ffmpeg_pipe
from vsr.video.codecs import encoder_option_type, video_encoder
from vsr.video.encoder_trial import trial_open
from vsr.video.hdr import HDR10_ENCODERS
from vsr.video.media_url import file_url
from vsr.video.mov_timing import LastPacketHold
from vsr.video.pixfmt import nearest_supported, parse_planar, planar_name
from vsr.video.reader import VideoInfo
from vsr.video.remux import StreamCopier, fresh_tags

log = logging.getLogger(__name__)

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}
# Encoders known to accept any frame size in every format (no even-size rule).
_ANY_SIZE = frozenset({"ffv1", "ffvhuff", "huffyuv", "utvideo", "rawvideo", "magicyuv"})


@dataclass
class EncodeSettings:
    """Encoder choices from the command line or a pipeline preset."""

    codec: str = "libx264"
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None  # None: keep the source's format when the codec allows
    options: dict[str, str] = field(default_factory=dict)  # -e key=value
    # True when nobody chose the codec (no --codec, a preset's or the API's default): an
    # output container that cannot hold it gets its own instead (WebM: VP9), with a note.
    codec_is_default: bool = False


# The encoder settings a container's own codec gets when the default cannot go into it:
# libvpx-vp9's own defaults are its slowest (cpu-used 0, one thread per row off).
_CONTAINER_CODECS = {"webm": ("libvpx-vp9", {"cpu-used": "4", "row-mt": "1"})}


# The temporary files this process is writing. Their names carry the process id only, so
# two threads of one process (two requests of a service) writing one output would share a
# temporary file: the second is refused instead.
_TEMPS_IN_USE: set[Path] = set()
_TEMPS_LOCK = threading.Lock()


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


def create_exclusively(path: Path) -> None:
    """Make ``path`` a new, empty file of this process before FFmpeg opens it by name.

    Its name is predictable (the pid), and FFmpeg follows links: a link planted under it in
    a shared output folder would have the video written into the file it points to, and the
    link renamed into place as the output. Whatever holds the name is removed first (a temp
    of an earlier process with this pid, or such a link: unlink takes the link, never its
    target); O_EXCL with O_NOFOLLOW then refuses anything put back in between."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        path.unlink(missing_ok=True)
        os.close(os.open(path, flags, 0o666))
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


def check_output_path(path: Path, source: Path, overwrite: bool) -> str:
    """Validate where the output goes; returns the container format name."""
    fmt = CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(CONTAINERS))
        raise VsrError(f"{path}: unknown output container {path.suffix!r} (use one of {known})")
    if path.resolve() == source.resolve() or (path.exists() and path.samefile(source)):
        raise VsrError(f"{path}: output is the input file; choose another output path")
    if path.exists() and not overwrite:
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


class VideoWriter:
    """Encode frames handed over as planes; `close()` finishes, `abort()` discards.

    After construction, `pix_fmt`, `bit_depth` and `chroma_shift` say what layout `write()`
    expects, `color_matrix`/`color_range` what the planes must be converted to, and
    `notes` every decision made on the user's behalf.
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
        self.settings = settings
        self.notes: list[str] = []
        self.frames_written = 0
        self._container_format = check_output_path(self.path, source.path, overwrite)
        self.codec = video_encoder(settings.codec)
        if (
            settings.codec_is_default
            and self.codec.name not in _codecs_held_by(self._container_format)[0]
        ):
            self._use_the_containers_codec()
        self.color_matrix = source.color_matrix
        self.color_range = source.color_range
        self._matrix_tag = source.color_matrix_tag or self.color_matrix
        if self.codec.name == "libvpx" and self.color_matrix != "bt601":
            # VP8 pictures are BT.601 by definition: decoders ignore any other matrix tag.
            self.notes.append(
                f"VP8 is BT.601 only: the picture is converted from {self.color_matrix}"
            )
            self.color_matrix, self._matrix_tag = "bt601", "bt470bg"
        self.time_base = source.time_base
        self._rate = source.average_rate
        self._last_pts: int | None = None
        self._frame_step = self._step_in_time_base()
        self.temp_path = temp_path_for(self.path)
        self._claimed = False  # of _TEMPS_IN_USE: released by close() and abort()
        self._output: av.container.OutputContainer | None = None
        self._copier: StreamCopier | None = None
        self._pipe: ffmpeg_pipe.FfmpegPipe | None = None
        self._finished = False
        # MP4/MOV sum the dts steps into the stream's length; see vsr.video.mov_timing.
        self._hold = LastPacketHold() if self._container_format in ("mp4", "mov") else None

        _check_container_holds(self._container_format, self.codec.name, self.path.suffix)
        self.pix_fmt, self._encoder_fmt = self._choose_format()
        self._options = self._encoder_options()
        self._libav_said: list[str] = []
        error = self._try_encoder()
        if error:
            self._blame_a_given_option(error)
        if error and self._odd_size_problem():
            self._switch_to_444_for_odd_size()
            error = self._try_encoder()
            if error:
                self._blame_a_given_option(error)
        self.bit_depth, self.chroma_shift = parse_planar(self.pix_fmt)  # type: ignore[misc]
        try:
            _claim_temp(self.temp_path, self.path)
            self._claimed = True
            create_exclusively(self.temp_path)
            if error is None:
                self._open_container()
            elif ffmpeg_pipe.ffmpeg_available():
                self.notes.append(f"PyAV cannot open {self.codec.name} ({error}); using ffmpeg")
                self._pipe = ffmpeg_pipe.FfmpegPipe(self._pipe_plan())
            else:
                # libav's errno text rarely says why ("Invalid argument"); its log line does.
                said = f": {self._libav_said[-1]}" if self._libav_said else ""
                raise VsrError(
                    f"cannot open encoder {self.codec.name}: {error}{said}{self._why_hint()}"
                )
        except BaseException:
            self.abort()
            raise
        for note in self.notes:
            log.info("%s: %s", self.path.name, note)

    def _why_hint(self) -> str:
        """What libav's bare errno text ("Operation not permitted", "Unknown error") means
        for a hardware encoder: the device or its driver is missing on this machine."""
        hardware = av.codec.codec.Capabilities.hardware | av.codec.codec.Capabilities.hybrid
        if self.codec.capabilities & hardware:
            return " (a hardware encoder: it needs its device and driver; else try --codec libx264)"
        return ""

    # -- decisions -------------------------------------------------------------------

    def _use_the_containers_codec(self) -> None:
        """The default codec cannot go into this container: take the container's own, with
        the quality asked for (crf) but not the default's speed preset, which names x264's
        presets."""
        name, options = _CONTAINER_CODECS.get(self._container_format, (None, {}))
        name = name or _codecs_held_by(self._container_format)[1]
        codec = video_encoder(name)
        # What was set for the default codec (a preset's speed, x265-params, a pixel format
        # the new one lacks) does not carry over; the quality (crf) does.
        formats = [f.name for f in codec.video_formats or ()]
        pix_fmt = self.settings.pix_fmt if self.settings.pix_fmt in formats else None
        left = [f"{k}={v}" for k, v in self.settings.options.items()]
        left += [f"preset={self.settings.preset}"] if self.settings.preset else []
        left += [f"pix_fmt={self.settings.pix_fmt}"] if self.settings.pix_fmt != pix_fmt else []
        dropped = f"; its settings {', '.join(left)} do not apply" if left else ""
        self.notes.append(
            f"{self.settings.codec} cannot go into {self.path.suffix} files: encoding with "
            f"{name} (choose another with --codec){dropped}"
        )
        self.settings = replace(
            self.settings, codec=name, preset=None, pix_fmt=pix_fmt, options=dict(options)
        )
        self.codec = codec

    def _choose_format(self) -> tuple[str, str]:
        """(planes format write() takes, format the encoder gets)."""
        supported = [f.name for f in self.codec.video_formats or ()]
        if self.settings.pix_fmt:
            wanted = self.settings.pix_fmt
            if wanted.startswith("yuvj"):
                # FFmpeg's old spelling of full range, which vsr takes from the source.
                raise VsrError(
                    f"--pix-fmt {wanted}: that is {wanted.replace('yuvj', 'yuv', 1)} in full "
                    "range; vsr keeps the source's range, so name the format without the j"
                )
            if parse_planar(wanted) is None:
                raise VsrError(
                    f"--pix-fmt {wanted}: vsr encodes planar YUV (e.g. yuv420p, yuv420p10le, "
                    "yuv444p)"
                )
            if supported and wanted not in supported:
                # Only what vsr could feed it: the encoder's packed and RGB formats are not.
                usable = [f for f in supported if parse_planar(f) is not None]
                raise VsrError(
                    f"--pix-fmt {wanted}: {self.codec.name} takes "
                    f"{', '.join(usable) or 'no planar YUV format'}"
                )
            return wanted, wanted
        wanted = self.source.pix_fmt
        if not supported or wanted in supported:
            return wanted, wanted
        choice = nearest_supported(wanted, supported)
        if choice is None:
            raise VsrError(f"{self.codec.name} takes no planar YUV format vsr can feed it")
        planes_format, encoder_format = choice
        if planes_format != wanted:
            self.notes.append(
                f"{self.codec.name} cannot encode {wanted}; using {planes_format} instead"
            )
        return planes_format, encoder_format

    def _try_encoder(self, options: dict[str, str] | None = None) -> str | None:
        return trial_open(
            self.codec.name,
            self.width,
            self.height,
            self._encoder_fmt,
            self.time_base,
            self._rate,
            self._options if options is None else options,
            self._libav_said,
        )

    def _given_options(self) -> dict[str, str]:
        """The encoder options the user (or a pipeline preset) chose, as they gave them."""
        flags = {"crf": self.settings.crf, "preset": self.settings.preset}
        given = {key: str(value) for key, value in flags.items() if value is not None}
        given.update(self.settings.options)  # -e wins, as in _encoder_options
        return {key: value for key, value in given.items() if key in self._options}

    def _blame_a_given_option(self, error: str) -> None:
        """The encoder refused to open: when it opens without the user's options, raise an
        error that names the one it refuses (libav's own text, e.g. "Invalid argument", says
        neither which option nor which value).

        The blame is measured, not guessed: the option whose removal lets the encoder open
        is the one at fault. Removals go from the last option given (an -e option, then
        --preset, then --crf: where typos live) so that the culprit is usually found by
        the first try, which, lacking it, makes x264 print its own complaint no second
        time. Failing that (two bad values), each option is tried alone. When the encoder
        does not open even without them (missing hardware, an encoder PyAV cannot drive),
        this returns and the caller decides.
        """
        given = self._given_options()
        if not given:
            return
        own = {k: v for k, v in self._options.items() if k not in given}
        if self.codec.name == "libx265":
            # Without the user's x265-params, still without x265's banner and warnings.
            own["x265-params"] = "log-level=error"
        if self._try_encoder(own) is not None:
            return
        for key in reversed(given):
            others = {k: self._options[k] for k in given if k != key}
            if self._try_encoder({**own, **others}) is None:
                raise VsrError(f"{self.codec.name} rejected {key}={given[key]} ({error})")
        for key, value in given.items():
            alone = self._try_encoder({**own, key: self._options[key]})
            if alone is not None:
                raise VsrError(f"{self.codec.name} rejected {key}={value} ({alone})")
        listed = " ".join(f"{k}={v}" for k, v in given.items())
        raise VsrError(f"{self.codec.name} rejected these options together: {listed}")

    def _odd_size_problem(self) -> bool:
        depth, (sx, sy) = parse_planar(self.pix_fmt)  # type: ignore[misc]
        odd = (sx and self.width % 2) or (sy and self.height % 2)
        return bool(odd) and self.codec.name not in _ANY_SIZE

    def _switch_to_444_for_odd_size(self) -> None:
        """Keep the exact output size: 4:4:4 has no even-size rule, padding would change it."""
        depth, shift = parse_planar(self.pix_fmt)  # type: ignore[misc]
        full = planar_name(depth, (0, 0))
        supported = [f.name for f in self.codec.video_formats or ()]
        if full not in supported:
            raise VsrError(
                f"{self.codec.name} cannot encode the odd size {self.width}x{self.height} in "
                f"{self.pix_fmt} and has no 4:4:4 format; use --codec libx264 or ffv1"
            )
        self.notes.append(
            f"odd size {self.width}x{self.height}: {self.pix_fmt} needs even sizes in "
            f"{self.codec.name}, so the output is {full} (full-resolution chroma) to keep "
            "the exact size"
        )
        self.pix_fmt = self._encoder_fmt = full

    def _encoder_options(self) -> dict[str, str]:
        self._check_crf()
        options: dict[str, str] = {}
        for key, value in (("crf", self.settings.crf), ("preset", self.settings.preset)):
            if value is None:
                continue
            if encoder_option_type(self.codec.name, key):
                options[key] = str(value)
            else:
                self.notes.append(f"{self.codec.name} has no {key} option; --{key} ignored")
        options.update(self.settings.options)
        if self.codec.name == "libx265":
            # x265 writes its banner and statistics to stderr itself, once per encoder (with
            # several encoders, once per chunk): errors only, unless the user says otherwise.
            params = options.get("x265-params", "")
            if "log-level" not in params:
                options["x265-params"] = ":".join(p for p in (params, "log-level=error") if p)
        if self.codec.name == "libsvtav1":
            # SVT-AV1 prints a 20-line banner per encoder opened (vsr opens two) unless its
            # own log level, read from the environment, says errors only.
            os.environ.setdefault("SVT_LOG", "1")
        if self.codec.name in _RATE_ONLY_ENCODERS and "b" not in options:
            self.notes.append(
                f"{self.codec.name} has no crf: it encodes at libavcodec's default 200 kb/s "
                "unless a rate is given, e.g. -e b=8M"
            )
        hdr = self.source.hdr10
        if hdr is not None and self.codec.name in HDR10_ENCODERS:
            # HDR10 static metadata travels as encoder parameters (a user's own ones win).
            key = HDR10_ENCODERS[self.codec.name]
            given = options.get(key, "")
            if not any(name in given for name in _HDR10_PARAMETER_NAMES):
                options[key] = ":".join(p for p in (given, hdr.params_for(self.codec.name)) if p)
        elif hdr is not None:
            self.notes.append(
                f"the source's HDR10 mastering/light-level metadata is not written by "
                f"{self.codec.name}; use --codec libx265 or libsvtav1 to keep it"
            )
        return options

    def _check_crf(self) -> None:
        """The crf values an encoder takes but reads as "not set", so that it falls back to
        its own default quality without a word: -1 for x264 and x265 (crf 23 and 28), and 0
        for SVT-AV1 (crf 35), which a user means as the best quality."""
        crf = self.settings.crf
        if crf is None:
            return
        if crf == -1:  # lower values the encoders refuse themselves, with a message
            raise VsrError(
                f"--crf -1: {self.codec.name} reads it as unset (its default); use 0 or more"
            )
        if crf == 0 and self.codec.name == "libsvtav1":
            raise VsrError("--crf 0: libsvtav1 reads it as unset (its default, 35); use 1 to 63")
        if crf > 51 and self.codec.name == "libx264":
            raise VsrError(f"--crf {crf}: libx264 takes 0 to 51")

    @property
    def _apple_tag(self) -> str | None:
        """The sample-entry tag Apple players need, where libav's default differs.

        libav tags HEVC in MP4/MOV as `hev1` (parameter sets may also travel in the
        stream); QuickTime, iOS and Safari play only `hvc1` (parameter sets in the header
        alone, which is what every encoder vsr opens with a global header writes).
        """
        if self.codec.canonical_name == "hevc" and self._container_format in ("mp4", "mov"):
            return "hvc1"
        return None

    def _step_in_time_base(self) -> int:
        """One frame's duration in the time base (for frames that arrive without pts)."""
        rate = self.source.average_rate or Fraction(25)
        return max(1, round(1 / (rate * self.time_base)))

    # -- PyAV path ------------------------------------------------------------------

    def _open_container(self) -> None:
        try:
            self._output = av.open(file_url(self.temp_path), "w", format=self._container_format)
        except (OSError, av.error.FFmpegError) as error:
            raise VsrError(f"{self.path.parent}: cannot write there ({error})") from None
        output = self._output
        stream = output.add_stream(self.codec.name, rate=self._rate, options=self._options)
        self._configure_encoder(stream.codec_context)
        if self._apple_tag:
            stream.codec_context.codec_tag = self._apple_tag
        stream.time_base = self.time_base
        if self.source.rotation:
            stream.set_display_rotation(self.source.rotation)
        # The picture is the track to play: Matroska writes FlagDefault only from this
        # (the copied streams keep their own flags).
        stream.disposition = av.stream.Disposition.default
        self._video = stream

        self._copier = StreamCopier(self.source.path, output, self.notes, self.source.cut)
        output.metadata.update(fresh_tags(self._copier.container_tags))
        stream.metadata.update(fresh_tags(self._copier.video_tags))
        try:
            # The header now, not with the first packet: a muxer's codec list is not the
            # whole story (MOV refuses VP9, AV1 and VP8 here), and a refusal must come
            # before any frame is upscaled, not at the end of the work.
            output.start_encoding()
        except (av.error.FFmpegError, ValueError) as error:
            why = getattr(error, "strerror", None) or error
            raise VsrError(
                f"{self.codec.name} cannot be stored in {self.path.suffix} files ({why}; use .mkv)"
            ) from None

    def _configure_encoder(self, context: av.codec.CodecContext) -> None:
        """Size, format, time base and colour tags: the output stream's encoder and every
        `fresh_encoder()` get them from here, so they cannot drift apart."""
        context.width, context.height = self.width, self.height
        context.pix_fmt = self._encoder_fmt
        context.time_base = self.time_base
        context.sample_aspect_ratio = self._sample_aspect_ratio()
        self._tag_colours(context)

    def _sample_aspect_ratio(self) -> Fraction:
        """The pixel shape that shows the output with the source's display aspect ratio:
        the source's own for a uniform scale, square again when --size undoes the squeeze."""
        source_sar = self.source.sample_aspect_ratio or Fraction(1)
        ratio = source_sar * Fraction(self.source.width * self.height)
        ratio /= self.source.height * self.width
        return ratio.limit_denominator(65535)

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
        if self._hold is not None:
            packets = self._hold.pass_on(packets)
        self._output.mux(packets)
        self._copier.advance(video_seconds)

    @property
    def through_ffmpeg(self) -> bool:
        """True when frames go to an ffmpeg CLI process instead of a PyAV encoder."""
        return self._pipe is not None

    # -- the API ------------------------------------------------------------------------

    def next_pts(self, pts: int | None) -> int:
        """The input pts, unless missing or not increasing (encoders refuse those)."""
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._frame_step
        elif self._last_pts is not None and pts <= self._last_pts:
            if not any(n.startswith("non-increasing") for n in self.notes):
                self.notes.append("non-increasing timestamps in the source were renumbered")
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def write(self, planes: tuple[np.ndarray, np.ndarray, np.ndarray], pts: int | None) -> None:
        """Encode one frame (planes in self.pix_fmt, pts in the source's time base)."""
        pts = self.next_pts(pts)
        if self._pipe is not None:
            self._pipe.write(planes, pts)
        else:
            packets = self._video.encode(self.video_frame(planes, pts))
            self.mux_video(packets, float(pts * self.time_base))
        self.frames_written += 1

    def close(self) -> None:
        """Flush, copy the remaining audio/subtitles, finish the file, rename it into place."""
        if self._finished:
            return
        try:
            if self._pipe is not None:
                self._pipe.close()
            else:
                self._mux_flushed(self._video.encode(None))
                self._copier.finish()
                self._output.close()
            os.replace(self.temp_path, self.path)
        except BaseException:
            self.abort()
            raise
        self._finished = True
        self._release()

    def _release(self) -> None:
        if self._claimed:
            self._claimed = False
            _release_temp(self.temp_path)

    def _mux_flushed(self, packets: list[av.Packet]) -> None:
        """Mux the encoder's last packets, and the one held back to end the stream right."""
        if self._hold is None:
            self._output.mux(packets)
            return
        self._output.mux(self._hold.pass_on(packets))
        # The muxer picks its time base when it writes the header; the held packet is
        # fixed in that time base, so the header must be out first.
        self._output.start_encoding()
        last = self._hold.last(self._video)
        if last is not None:
            self._output.mux(last)

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
        if self._claimed:  # another call's temporary file is not ours to remove
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
            source=self.source.path,
            width=self.width,
            height=self.height,
            pix_fmt=self.pix_fmt,
            time_base=self.time_base,
            rate=self.source.average_rate,
            codec=self.codec.name,
            encoder_pix_fmt=self._encoder_fmt,
            # ffmpeg's own spelling of the same tag choice as _open_container's.
            options={**self._options, **({"tag:v": self._apple_tag} if self._apple_tag else {})},
            # "bt601" is vsr's name for the matrix, not a tag ffmpeg takes (an untagged SD
            # source made ffmpeg refuse to start); the PyAV path tags it smpte170m.
            color_matrix="smpte170m" if self._matrix_tag == "bt601" else self._matrix_tag,
            color_range=self.color_range,
            color_primaries=self.source.color_primaries,
            color_trc=self.source.color_trc,
            rotation=self.source.rotation,
            cut=self.source.cut,
        )


@cache
def _codecs_held_by(container_format: str) -> tuple[frozenset[str], str]:
    """Codec and encoder names a muxer can store, and its default video codec."""
    with av.open(io.BytesIO(), "w", format=container_format) as probe:
        return frozenset(probe.supported_codecs), probe.default_video_codec


def _check_container_holds(container_format: str, codec: str, suffix: str) -> None:
    held, default = _codecs_held_by(container_format)
    if codec not in held:
        # Advising .mkv to someone writing .mkv helps nobody.
        other = "use " if container_format == "matroska" else "use .mkv, or "
        raise VsrError(
            f"{codec} cannot be stored in {suffix} files ({other}a codec such as {default})"
        )


# libavcodec's own older encoders: no crf, and a bit rate of 200 kb/s unless told ("b"),
# which upscaled output does not survive.
_RATE_ONLY_ENCODERS = frozenset(
    {"mpeg1video", "mpeg2video", "mpeg4", "msmpeg4", "msmpeg4v2", "mjpeg", "h263", "flv"}
)
# x265's and SVT-AV1's names for the HDR10 parameters.
_HDR10_PARAMETER_NAMES = ("master-display", "max-cll", "mastering-display", "content-light")
