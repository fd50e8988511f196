"""One output frame per field (`vsr run --field-rate`): the times of the frames delivered.

Video shot interlaced (sports, news, live television) takes its two fields 1/50 or 1/60 s
apart, each a moment of its own; one frame per frame halves that motion's rate (judder).
With a field rate the deinterlacer makes a frame of each field (vsr.video.deinterlace,
`Deinterlacer.fields`) and the reader delivers both: the first at the frame's own time,
the second half a frame later, that is halfway to the next frame (as bwdif times it, so a
variable rate keeps each frame's own length), and for the last frame half its own length
(the next frame's, at a cut's end; else the file's, else one frame at the average rate).

Half a frame is not always a whole tick of the source's time base (29.97 fps in 1/30000
is 1001 ticks a frame), so the frames are delivered in a time base twice as fine: each
time doubles, and a second field lies at twice its frame's time plus the frame's length.
Everything that takes the delivered times takes them in VideoInfo.time_base (the writer,
its encoders and chunk journal, the closed captions), and the other streams go by seconds
(their cut too), so only the video's own numbers change: its time base halves, its rate
and its frame count double, and every stream stays in step.

A frame that is not interlaced, which "auto" leaves as it is, is delivered twice too (the
same picture at both times): the output keeps one steady rate, as players, editors and
broadcast chains expect of a 50p or 59.94p file, at the cost of upscaling it twice.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, TypeVar

import av

from vsr.video.clip_length import frames_before_cut

if TYPE_CHECKING:
    from vsr.video.reader import VideoInfo
    from vsr.video.trim import Cut

Tag = TypeVar("Tag")


def field_rate_info(source: VideoInfo) -> VideoInfo:
    """`source`'s description as its frames are delivered one per field: the time base
    halved, the rate and the frame count doubled (less a last second field past a cut's
    end)."""
    rate = source.average_rate
    return dataclasses.replace(
        source,
        time_base=source.time_base / 2,
        file_time_base=source.rounding,
        average_rate=None if rate is None else rate * 2,
        frame_count=_fields_to_expect(source),
        field_rate=True,
    )


def _fields_to_expect(source: VideoInfo) -> int | None:
    """Two a frame; of a cut that ends halfway through its last frame, one fewer: the
    fields from the first kept frame's (k / rate) up to the end, as the reader delivers."""
    if source.frame_count is None:
        return None
    fields = 2 * source.frame_count
    cut, rate = source.cut, source.average_rate
    if cut is None or not cut.asked or cut.requested.end is None or not rate:
        return fields
    return min(fields, math.ceil(2 * cut.requested.end * rate) - 2 * frames_before_cut(cut, rate))


def end_of_cut(cut: Cut | None, time_base: Fraction) -> int | None:
    """The first delivered time (in the halved time base) past a cut's end, `time_base`
    being the source's: a frame shown before the end may have its second field at or after
    it, and a range holds the fields whose times lie in it, as it does frames. None: no end."""
    if cut is None or not cut.asked or cut.requested.end is None:
        return None
    # As asked, not `cut.end`, which is on the source's ticks: whole frames in a 1/25 MP4.
    end = cut.origin + cut.requested.end
    return math.ceil(end / (time_base / 2)) - 2 * cut.offset_in(time_base)


def with_lengths(
    frames: Iterable[tuple[av.VideoFrame, Tag]], after: Callable[[], av.VideoFrame | None]
) -> Iterator[tuple[av.VideoFrame, Tag, int | None]]:
    """Each (frame, tag) with the frame's length in its time base: to the next frame's pts,
    for the last to that of `after()` (the frame at a cut's end, asked for at the end), else
    its own duration; None where neither is known. A frame goes on once the next has come."""
    held: tuple[av.VideoFrame, Tag] | None = None
    for frame, tag in frames:
        if held is not None:
            yield *held, _gap(held[0], frame) or held[0].duration or None
        held = frame, tag
    if held is not None:
        yield *held, _gap(held[0], after()) or held[0].duration or None


def _gap(frame: av.VideoFrame, following: av.VideoFrame | None) -> int | None:
    if following is None or frame.pts is None or following.pts is None:
        return None
    return following.pts - frame.pts if following.pts > frame.pts else None


def field_pts(pts: int | None, second: bool, length: int | None, step: int) -> int | None:
    """The delivered time (in the halved time base) of a field of the frame at `pts` (in
    the source's): the first at the frame's time, the second `length` later (half the frame,
    as ticks count twice), one frame at the average rate (`step`) where its length is not
    known."""
    if pts is None:
        return None
    return 2 * pts + ((length or step) if second else 0)


def step_of(rate: Fraction | None, time_base: Fraction) -> int:
    """One frame at `rate` in ticks of `time_base` (at least one; 25 fps without a rate)."""
    return max(1, round(1 / ((rate or Fraction(25)) * time_base)))


class ResumedFields:
    """The frames of a run resumed after the one delivered at `pts` (in the halved time
    base), the `repeats`-th in a row at that time: per field, that may be the first of a
    frame's two, so the reader decodes from that frame on (`source_start`) and this drops
    what the earlier run delivered."""

    def __init__(self, pts: int, repeats: int) -> None:
        self.pts, self._repeats = pts, repeats
        # Fields made again and dropped: the earlier run's, of the frames decoded again.
        self.dropped = 0
        # A frame delivers its first field at twice its time and its second later: the
        # frame from which to decode again is the one at half this time or before it.
        self.source_start = pts // 2

    def after(self, frames: Iterable[Tag], pts_of: Callable[[Tag], int | None]) -> Iterator[Tag]:
        """`frames`, from the first not delivered before on."""
        frames = iter(frames)
        seen_at_pts = 0
        for frame in frames:
            pts = pts_of(frame)
            if pts is not None and pts == self.pts and seen_at_pts < self._repeats:
                seen_at_pts += 1
                self.dropped += 1
                continue
            if pts is not None and pts < self.pts:
                self.dropped += 1
                continue
            yield frame
            break
        yield from frames
