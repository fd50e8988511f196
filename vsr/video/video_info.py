"""What the engine and the writer are told of a source's video stream (vsr.video.reader
reads it from the file and its first frame)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vsr.video.chroma_location import conversion_siting
from vsr.video.clock_restarts import ClockRestarts
from vsr.video.file_version import FileVersion
from vsr.video.hdr import Hdr10
from vsr.video.raw_length import CountedLength
from vsr.video.trim import Cut


@dataclass(frozen=True)
class VideoInfo:
    """What the engine and the writer need to know about the source video stream."""

    path: Path
    width: int
    height: int
    pix_fmt: str  # planar YUV format the frames are delivered in (or its size, with rgb_planes)
    bit_depth: int
    chroma_shift: tuple[int, int]  # (log2 horizontal, log2 vertical) subsampling
    time_base: Fraction
    average_rate: Fraction | None
    frame_count: int | None
    duration: float | None
    color_matrix: str  # for the maths: "bt709", "bt601", "bt2020nc", ...
    color_range: str  # "tv" or "pc"
    color_primaries: str | None
    color_trc: str | None
    rotation: int
    codec: str
    source_pix_fmt: str = ""  # as decoded, before any re-packing (e.g. "nv12", "rgb24")
    color_matrix_tag: str | None = None  # the matrix tag as stored in the file, if any
    color_matrix_guessed: bool = False  # True when the file had no matrix tag
    sample_aspect_ratio: Fraction | None = None  # pixel shape; None: square (unset)
    hdr10: Hdr10 | None = None  # HDR10 static metadata (mastering display, light levels)
    # An RGB source: the planes are its G, B and R, repacked losslessly (the engine's upload
    # reads them with vsr.ops.yuv.GBR). color_matrix is then the output's, not the planes'.
    rgb_planes: bool = False
    cut: Cut | None = None  # the part of the clip delivered (None: all of it)
    # How a player turns and mirrors the picture (vsr.video.display_matrix); `rotation` is
    # its angle alone, for the display geometry.
    display_matrix: tuple[int, ...] | None = None
    # Where the file's clock starts over (joined recordings), for every stream's times.
    clock_restarts: ClockRestarts | None = None
    # The first frame's own timecode (an MPEG-2 GOP header's, an H.264 SEI's), for a file
    # whose container has none.
    frame_timecode: str | None = None
    # Whether the container has a phone's QuickTime metadata keys (com.apple.quicktime.*),
    # which MP4 and MOV outputs keep only when told to (vsr.video.writer).
    quicktime_keys: bool = False
    # Where the subsampled chroma sits, as the decoder reports it (vsr.video.chroma_location):
    # "left", "topleft", "center", ...; None where the stream does not say.
    chroma_location: str | None = None
    # Whether the first frame carries closed captions (A53_CC side data), for the runs that
    # read the frames elsewhere (segment mode); `VideoReader.captions` has every frame's.
    closed_captions: bool = False
    # Whether each frame is delivered as two, one per field (vsr.video.field_rate): then
    # time_base is the source's halved, average_rate and frame_count the source's doubled.
    field_rate: bool = False
    # The time base the file keeps the video's times in, where `time_base` is finer (the
    # frames delivered one per field, or as film): the tick those times were rounded to.
    file_time_base: Fraction | None = None
    # Whether the file is a raw elementary stream (.h264, .m2v ...), its frames timed by the
    # reader (vsr.video.raw_stream): it has no index to seek by.
    raw_stream: bool = False
    # A raw stream's length (or a cut's share of it), for frames_to_expect: counted from its
    # packets the first time it is asked for (vsr.video.raw_length), `duration` standing for
    # it where none could be counted. Reading the whole file, it waits for a run that needs it.
    counted_duration: CountedLength | None = None
    # The version of the file the reader opened (None: an image sequence), which every
    # later opening of it by name must find (vsr.video.file_version).
    file_version: FileVersion | None = None

    @property
    def rounding(self) -> Fraction:
        """The tick the delivered times were rounded to: the file's time base."""
        return self.file_time_base or self.time_base

    @property
    def chroma_siting(self) -> str:
        """The siting the planes are converted at (vsr.ops.yuv): the chroma location, "left"
        where there is none, the nearest vsr converts for a rare one."""
        return conversion_siting(self.chroma_location, self.chroma_shift)

    def frames_to_expect(self) -> tuple[int | None, bool]:
        """(frames, whether that is an estimate) for progress: the count the file states,
        else its length at its average rate. Matroska and WebM state no count, and a long
        clip showed no total, share or remaining time. Only a stated count is a promise
        (a file with fewer frames is truncated); the estimate is for people."""
        if self.frame_count:
            return self.frame_count, False
        duration = self.duration
        counted = None if self.counted_duration is None else self.counted_duration()
        if counted is not None:
            duration = counted
        if duration and self.average_rate:
            return max(1, round(duration * float(self.average_rate))), True
        return None, False

    def describe(self) -> str:
        rate = f"{float(self.average_rate):.3f} fps" if self.average_rate else "unknown rate"
        guessed = " (guessed)" if self.color_matrix_guessed else ""
        return (
            f"{self.width}x{self.height} {self.codec} {self.pix_fmt}, {rate}, "
            f"{self.color_matrix}{guessed}/{self.color_range}"
        )
