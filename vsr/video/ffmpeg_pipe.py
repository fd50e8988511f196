"""Optional encoder backend: an `ffmpeg` process fed raw frames through a pipe.

Used only when PyAV cannot open the requested encoder but an `ffmpeg` binary on PATH can
(a build with other encoders or hardware support). Frames travel as rawvideo in a NUT
stream, which, unlike a bare raw pipe, carries every frame's timestamp, so variable frame
rate survives. ffmpeg itself copies the source's audio, subtitles and metadata. The
command is an argument list built by ffmpeg-python; no shell is involved. Needs
ffmpeg 7 or later (-display_rotation, -fps_mode).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.errors import VsrError
from vsr.video.media_url import DIRECT_DEMUXERS, file_url
from vsr.video.trim import Cut


def find_ffmpeg() -> str | None:
    """Path of the ffmpeg binary, or None when there is none."""
    return shutil.which("ffmpeg")


def ffmpeg_available() -> bool:
    return find_ffmpeg() is not None


@dataclass
class PipePlan:
    """Everything the ffmpeg command needs to know."""

    output: Path
    container: str  # muxer name: mp4, matroska, mov, webm
    # Audio, subtitles and metadata come from here; None for an image sequence, which has
    # none: ffmpeg would read its frames all over again through image2, which looks for
    # the first among 0 to 4 only (f_86400.dpx: "No such file"), and a folder's % breaks.
    source: Path | None
    width: int
    height: int
    pix_fmt: str  # planes on the pipe
    time_base: Fraction
    rate: Fraction | None
    codec: str
    encoder_pix_fmt: str
    options: dict[str, str] = field(default_factory=dict)
    color_matrix: str | None = None
    color_range: str | None = None
    color_primaries: str | None = None
    color_trc: str | None = None
    rotation: int = 0
    cut: Cut | None = None  # a part of the source: its audio and subtitles are cut alike


def build_arguments(plan: PipePlan, binary: str = "ffmpeg") -> list[str]:
    """The ffmpeg command line for a plan, as an argument list."""
    # Here, not at the top: ffmpeg-python serves this fallback alone, and `vsr run` (whose
    # writer imports this module) must not need it to start.
    try:
        import ffmpeg
    except ImportError:
        raise VsrError(
            "the ffmpeg fallback needs ffmpeg-python: pip install 'ffmpeg-python>=0.2'"
        ) from None
    pipe_options: dict[str, object] = {"format": "nut"}
    if plan.rotation:
        pipe_options["display_rotation"] = plan.rotation
    frames = ffmpeg.input("pipe:0", **pipe_options)
    output_options: dict[str, object] = {
        "format": plan.container,
        "vcodec": plan.codec,
        "pix_fmt": plan.encoder_pix_fmt,
        # Keep every input timestamp (variable frame rate) in the source's time base.
        "fps_mode": "passthrough",
        "enc_time_base:v": f"{plan.time_base.numerator}/{plan.time_base.denominator}",
    }
    streams = [frames["v"]]
    if plan.source is not None:
        source = ffmpeg.input(
            file_url(plan.source), format_whitelist=DIRECT_DEMUXERS, **_cut_options(plan.cut)
        )
        streams += [source["a?"], source["s?"]]
        output_options.update({"c:a": "copy", "c:s": "copy", "map_metadata": 1})
    tags = {
        "colorspace": plan.color_matrix,
        "color_range": plan.color_range,
        "color_primaries": plan.color_primaries,
        "color_trc": plan.color_trc,
    }
    output_options.update({key: value for key, value in tags.items() if value})
    output_options.update(plan.options)
    graph = ffmpeg.output(*streams, file_url(plan.output), **output_options)
    compiled = ffmpeg.compile(graph, cmd=binary)
    # Global options go first: ffmpeg may ignore options that trail the output name.
    return [compiled[0], "-hide_banner", "-nostats", "-loglevel", "error", "-y", *compiled[1:]]


def _cut_options(cut: Cut | None) -> dict[str, str]:
    """ffmpeg's input -ss/-t for the source's other streams: -ss counts from the file's
    start and moves the seek point to zero, as the piped frames' timestamps were moved."""
    if cut is None:
        return {}
    options = {"ss": f"{float(cut.offset) - cut.file_start:.6f}"}
    if cut.end is not None:
        options["t"] = f"{float(cut.end - cut.offset):.6f}"
    return options


class FfmpegPipe:
    """A running ffmpeg encoder: write() planes with pts, then close() or abort()."""

    def __init__(self, plan: PipePlan, binary: str | None = None):
        binary = binary or find_ffmpeg()
        if binary is None:
            raise VsrError("no ffmpeg binary on PATH for the ffmpeg encoder backend")
        self.plan = plan
        self.arguments = build_arguments(plan, binary)
        # ffmpeg's messages go to a file, not a pipe: a full stderr pipe nobody reads
        # would block ffmpeg and, through stdin, us.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close/abort)
        self._process = subprocess.Popen(self.arguments, stdin=subprocess.PIPE, stderr=self._log)
        self._muxer = av.open(self._process.stdin, "w", format="nut")
        self._stream = self._muxer.add_stream("rawvideo", rate=plan.rate)
        self._stream.width, self._stream.height = plan.width, plan.height
        self._stream.pix_fmt = plan.pix_fmt
        self._stream.codec_context.time_base = plan.time_base
        self._stream.time_base = plan.time_base

    def write(self, planes: tuple[np.ndarray, np.ndarray, np.ndarray], pts: int) -> None:
        frame = av.VideoFrame(self.plan.width, self.plan.height, self.plan.pix_fmt)
        for plane, data in zip(frame.planes, planes, strict=True):
            row = plane.line_size // data.itemsize
            np.frombuffer(plane, dtype=data.dtype).reshape(plane.height, row)[:, : plane.width] = (
                data
            )
        frame.pts = pts
        frame.time_base = self.plan.time_base
        try:
            self._muxer.mux(self._stream.encode(frame))
        except (BrokenPipeError, OSError):
            self._fail()

    def close(self) -> None:
        try:
            self._muxer.mux(self._stream.encode(None))
            self._muxer.close()
            self._process.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # ffmpeg already stopped: its exit status and log say why
        if self._process.wait() != 0:
            self._fail()
        self._log.close()

    def _fail(self) -> None:
        self._process.wait()
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"exit status {self._process.returncode}"
        raise VsrError(f"ffmpeg encoder failed: {reason}")

    def abort(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._log.close()
