"""GOP-aligned split and exact join of one long clip (segment mode, no Ray in here).

A segment is a range of presentation timestamps [start, end) whose start is a keyframe of
the source. Whoever processes it seeks to that keyframe, decodes, and keeps the frames of
its range, so every frame belongs to exactly one segment and decodes exactly as in a
whole-clip run (the decoder hands frames over in presentation order, so the first frame
at or past `end` means the range is complete, open GOPs included).

`extract_segment` stores a range losslessly (FFV1, the decoded pixel format, the source's
colour tags) so the ordinary engine can run on it as on any clip; the timestamps travel
beside it as a list, because Matroska rounds them to milliseconds. `join_segments`
decodes the upscaled segments in order and feeds them, with the source's own timestamps,
to one writer over the source, which encodes once and copies audio and subtitles once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import av

from vsr.errors import VsrError
from vsr.video.captions import captions_of
from vsr.video.decoding import decode_packets, seek_targets
from vsr.video.deinterlace import rebuilds
from vsr.video.frame_rate import file_frame_rate
from vsr.video.media_url import file_url, open_source
from vsr.video.reader import (
    VideoInfo,
    VideoReader,
    every_sample_there,
    main_video_stream,
    no_video_stream,
)

if TYPE_CHECKING:
    from vsr.video.writer import VideoWriter


@dataclass(frozen=True)
class Segment:
    """Frames with start <= pts < end (None: from the beginning / to the end)."""

    index: int
    start: int | None
    end: int | None


def _keyframe_times(path: Path) -> tuple[list[int], int, int, float]:
    """Keyframe pts, first and last pts, and the time base (as a float) of the video."""
    try:
        container = open_source(path)
    except av.error.FFmpegError as error:
        raise VsrError(f"{path}: not a readable media file: {error.strerror}") from None
    with container:
        stream = main_video_stream(container)
        if stream is None:
            raise VsrError(f"{path}: {no_video_stream(container)}")
        keys, first, last = [], None, None
        for packet in container.demux(stream):
            if not packet.size:
                continue
            if packet.pts is None:
                raise VsrError(f"{path}: packets without timestamps; segment mode needs them")
            first = packet.pts if first is None else min(first, packet.pts)
            last = packet.pts if last is None else max(last, packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
        if first is None:
            raise VsrError(f"{path}: no video packets")
        return sorted(set(keys)), first, last, float(stream.time_base)


def plan_segments(
    path: Path,
    count: int | None = None,
    seconds: float | None = None,
    within: tuple[int, int | None] | None = None,
) -> list[Segment]:
    """Cut points at keyframes: `count` segments of about equal length, or segments of
    about `seconds` each. Fewer than `count` come back only when the clip has fewer than
    `count` - 1 keyframes past its start (or the range's) to cut at.
    `within` ([start, end) pts, from --start/--end) splits only that part of the clip."""
    if (count is None) == (seconds is None):
        raise VsrError("give either --segments or --segment-seconds")
    if count is not None and count < 1:
        raise VsrError(f"--segments must be at least 1, not {count}")
    if seconds is not None and not seconds > 0:
        raise VsrError(f"--segment-seconds must be positive, not {seconds}")
    keys, first, last, time_base = _keyframe_times(Path(path))
    low, high = within if within is not None else (None, None)
    if low is not None:
        first = max(first, low)
    if high is not None:
        last = min(last, high - 1)
    candidates = [key for key in keys if first < key <= last]
    cuts: list[int] = []
    if count is not None:
        # The keyframe nearest each ideal point among those past the cut before and short
        # of the ones the cuts after it need: nearest alone, two points could share one,
        # and fewer segments came than the keyframes allow.
        wanted, after = min(count - 1, len(candidates)), 0
        for k in range(1, wanted + 1):
            ideal = first + (last - first) * k / count
            usable = range(after, len(candidates) - (wanted - k))
            chosen = min(usable, key=lambda i: abs(candidates[i] - ideal))
            cuts.append(candidates[chosen])
            after = chosen + 1
    else:
        step = seconds / time_base
        previous = first
        for key in candidates:
            if key - previous >= step:
                cuts.append(key)
                previous = key
    starts = [low, *cuts]
    ends = [*cuts, high]
    return [Segment(i, s, e) for i, (s, e) in enumerate(zip(starts, ends, strict=True))]


def _decode_from_seek(
    path: Path, segment: Segment, target: int | None, in_range: list[int]
) -> Iterator[av.VideoFrame]:
    """Frames from the keyframe at or before `target` (None: from the top) to the first at
    or past the segment's end, which ends them; `in_range` counts the packets whose frames
    the range shows. Undecodable packets are skipped, as a local run's reader skips them: a
    damaged source loses those frames (packets less frames tells how many), it does not
    fail the segment."""
    container = open_source(path)
    try:
        stream = main_video_stream(container)
        stream.thread_type = "AUTO"
        if target is not None:
            container.seek(target, stream=stream, backward=True, any_frame=False)

        def tally(packet: av.Packet) -> None:
            # A packet the edit list hides is decoded only as a reference, never shown.
            if _inside(packet.pts, segment) and not packet.is_discard:
                in_range[0] += 1

        for frame in decode_packets(container, stream, tally):
            if frame.pts is None:
                raise VsrError(f"{path}: frames without timestamps; segment mode needs them")
            yield frame
            if segment.end is not None and frame.pts >= segment.end:
                return
    finally:
        container.close()


@dataclass
class _Decoded:
    """A segment's decode: the frame just before it (None: none decoded), its first frame
    (None: none), then the rest and the first past its end (where the clip has one)."""

    before: av.VideoFrame | None
    first: av.VideoFrame | None
    rest: Iterator[av.VideoFrame]
    in_range: list[int]


def _decode_segment(
    source: Path, segment: Segment, time_base: Fraction, with_before: bool
) -> _Decoded:
    """Decode from a seek that lands at the segment's keyframe (`with_before`: before it, so
    that the frame before it is decoded too), seeking further back where one lands past
    it (vsr.video.decoding.seek_targets), from the top at last. `time_base`: the video
    stream's."""
    targets = (
        [None] if segment.start is None else seek_targets(segment.start - with_before, time_base)
    )
    for target in targets:
        in_range = [0]
        frames = _decode_from_seek(source, segment, target, in_range)
        before, first = None, next(frames, None)
        while segment.start is not None and first is not None and first.pts < segment.start:
            before, first = first, next(frames, None)
        at_start = segment.start is None or (first is not None and first.pts == segment.start)
        if (at_start and (before is not None or not with_before)) or target is None:
            return _Decoded(before, first, frames, in_range)
        frames.close()  # the seek landed past the segment's keyframe: seek further back
    raise AssertionError("the last seek is from the top")


def _time_base(path: Path) -> Fraction:
    with open_source(path) as container:
        return main_video_stream(container).time_base or Fraction(1, 90000)


def _inside(pts: int | None, segment: Segment) -> bool:
    if pts is None:
        return False
    return (segment.start is None or pts >= segment.start) and (
        segment.end is None or pts < segment.end
    )


@dataclass(frozen=True)
class ExtractedSegment:
    pts: list[int]  # the source timestamps of the segment's frames stored
    undecodable: int  # frames of the range the decoder could not give (a damaged source)
    # Frames that carry closed captions, which the lossless copy does not keep (the
    # driver's note: vsr.cluster_segments).
    captioned: int = 0
    # Where the deinterlacer's neighbours are stored too (the frames just outside the
    # segment): the segment's own part of the file, as --start/--end seconds; None: all.
    window: tuple[Fraction, Fraction | None] | None = None


def extract_segment(
    source: Path, segment: Segment, dest: Path, siting: str, deinterlace: str = "off"
) -> ExtractedSegment:
    """Write the segment's frames losslessly to `dest` (.mkv), declaring `siting` (the
    whole source's, colour_and_layout's, as a local run converts every frame at it).
    Where `deinterlace` (vsr.video.deinterlace's mode) has bwdif rebuild its edge frames,
    from their neighbours, the frames just outside the segment are stored around it, so
    that a run of its window makes those frames as a run of the whole clip does."""
    time_base = _time_base(source)
    decoded = _decode_segment(source, segment, time_base, with_before=False)
    if decoded.first is not None and rebuilds(deinterlace, decoded.first):
        decoded.rest.close()
        decoded = _decode_segment(source, segment, time_base, with_before=True)  # a GOP more
    first = decoded.first
    if first is None:
        raise VsrError(f"{source}: segment {segment.index} holds no decodable frame")
    supported = {f.name for f in av.codec.Codec("ffv1", "w").video_formats}
    if first.format.name not in supported:
        raise VsrError(f"{source}: segment mode cannot store {first.format.name} frames losslessly")
    # Stored from 0, like any clip (the source's pts travel in the list).
    before = decoded.before if rebuilds(deinterlace, first) else None
    origin = first.pts if before is None else before.pts
    pts_list: list[int] = []
    captioned, rebuilt, after = 0, False, None
    with av.open(file_url(dest), "w", format="matroska") as out:
        # The source's rate: the reader of this file judges missing frames by it.
        siting_option = {"chroma_sample_location": siting}  # only an encoder option declares it
        stream = out.add_stream("ffv1", rate=_frame_rate(source), options=siting_option)
        stream.width, stream.height, stream.pix_fmt = first.width, first.height, first.format.name
        context = stream.codec_context
        context.time_base = first.time_base
        # The engine reads colour from these tags: keep them exactly as the source had them.
        context.colorspace, context.color_range = first.colorspace, first.color_range
        context.color_primaries, context.color_trc = first.color_primaries, first.color_trc
        store = _LosslessStore(out, stream, origin)
        if before is not None:
            store.add(before)
        for frame in _chain(first, decoded.rest):
            if segment.end is not None and frame.pts >= segment.end:
                after = frame
                break
            if pts_list and frame.pts <= pts_list[-1]:
                raise VsrError(
                    f"{source}: timestamps go backwards; segment mode needs them to rise"
                )
            pts_list.append(frame.pts)
            captioned += captions_of(frame) is not None
            rebuilt = rebuilt or rebuilds(deinterlace, frame)
            store.add(frame)
        after = after if rebuilt else None
        if after is not None:
            store.add(after)
        end = _mov_track_end(source, pts_list[-1], store.last) if segment.end is None else None
        if end is not None:  # the clip's last frame, longer than its packet says
            for packet in store.last:
                packet.duration = end - pts_list[-1]
        store.close()
    window = None
    if before is not None or after is not None:
        time_base = Fraction(first.time_base)
        # Halfway between a neighbour and the segment's frame next to it: Matroska rounds
        # the stored times to milliseconds, which a window on the frames' own times could
        # put a frame on the wrong side of.
        low = Fraction(0) if before is None else Fraction(pts_list[0] - origin, 2) * time_base
        high = None if after is None else Fraction(pts_list[-1] + after.pts - 2 * origin, 2)
        window = (low, None if high is None else high * time_base)
    undecodable = max(0, decoded.in_range[0] - len(pts_list))
    return ExtractedSegment(pts_list, undecodable, captioned, window)


class _LosslessStore:
    """Encodes frames into a lossless stream, each at its pts less `origin`, holding the
    latest frame's packets back (`last`) until the next frame or `close`, so that a clip's
    last frame may yet be given its length."""

    def __init__(self, out: av.container.OutputContainer, stream: av.VideoStream, origin: int):
        self._out, self._stream, self._origin = out, stream, origin
        self.last: list[av.Packet] = []

    def add(self, frame: av.VideoFrame) -> None:
        self._out.mux(self.last)
        pts = frame.pts
        frame.pts -= self._origin
        self.last = self._stream.encode(frame)  # FFV1: the packet of this frame, at once
        frame.pts = pts  # the caller's frame as it was
        for packet in self.last:
            # The frame's own length, which the last one of the clip may need (a slide
            # show's last slide): the encoder gives one average frame.
            packet.duration = frame.duration or packet.duration

    def close(self) -> None:
        self._out.mux(self.last)
        self._out.mux(self._stream.encode(None))


def _mov_track_end(source: Path, last_pts: int, packets: list[av.Packet]) -> int | None:
    """Where an MP4 or MOV's video track ends, when its last frame (at `last_pts`, stored
    as `packets`) lasts longer than they say: in MP4 a frame's duration is its sample's
    step to the next decode time, with B-frames another frame's, so the track's end tells
    (as the local reader has it); None elsewhere, or for a file cut short."""
    with open_source(source) as container:
        stream = main_video_stream(container)
        if not container.format.name.startswith("mov,") or not stream.duration:
            return None
        end = (stream.start_time or 0) + stream.duration
    said = max((packet.duration or 0 for packet in packets), default=0)
    if end <= last_pts + said or not every_sample_there(source):
        return None
    return end


def _frame_rate(path: Path):
    with open_source(path) as container:
        stream = main_video_stream(container)
        return file_frame_rate(container, stream) or 25


def _chain(first, rest):
    yield first
    yield from rest


class Layout(NamedTuple):
    """What decides how the engine treats a clip's frames: two clips with the same are
    treated alike (so their outputs can be equal)."""

    width: int
    height: int
    pix_fmt: str
    rgb_planes: bool
    color_matrix: str
    color_range: str
    bit_depth: int
    chroma_siting: str


def colour_and_layout(info: VideoInfo) -> Layout:
    """The clip's Layout."""
    return Layout(*(getattr(info, name) for name in Layout._fields))


def join_segments(
    writer: VideoWriter,
    parts: list[tuple[Path, list[int]]],
    shift: int = 0,
    end: int | None = None,
) -> int:
    """Feed each upscaled segment file, in order, with its source pts less `shift` (a cut's,
    which moves the output to zero) into `writer` (an open VideoWriter over the source; the
    caller closes or aborts it), and end the video where the last frame's own length ends
    it, no later than `end` (a cut's, on the source's clock), as a local run does. Returns
    frames."""
    total = 0
    for path, pts_list in parts:
        written = 0
        with VideoReader(path) as reader:
            for frame in reader.frames():
                if written < len(pts_list):
                    writer.write(frame.planes, pts_list[written] - shift)
                    last_pts = frame.pts
                written += 1
            own_end = reader.own_end_of_last_frame()
            part_time_base = reader.info.time_base
        if written != len(pts_list):
            raise VsrError(f"{path}: segment has {written} frames, expected {len(pts_list)}")
        total += written
    if parts and total and own_end is not None:
        length = round((own_end - last_pts) * part_time_base / writer.time_base)
        stop = pts_list[-1] + length if end is None else min(pts_list[-1] + length, end)
        writer.end_at(stop - shift)
    return total
