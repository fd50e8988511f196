"""Deinterlace decoded frames before they are upscaled (libavfilter's bwdif).

An interlaced frame holds two fields taken 1/50 or 1/60 s apart. Upscaled as one picture,
the comb between the fields is enlarged with everything else and the output is marked
progressive, so no player hides it again. bwdif rebuilds each frame from its fields and its
neighbours' (the same motion-adaptive filter as ffmpeg's), in the decoded format, before
the frame becomes planes: one frame out per frame in, at the same time, so the frame rate,
the frame count and every timestamp stay as they were.

Modes: "auto" deinterlaces the frames the decoder marks interlaced (from the first of them
on, so a progressive clip never meets the filter); "all" every frame, for files that do not
mark theirs (those are taken as top field first); "tff" and "bff" every frame, with that
field first in time whatever the frames say (a DV capture is bottom field first and often
unmarked; an HEVC field-coded stream decodes with the order marked alternately); "off" none.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import TypeVar

import av

from vsr.errors import VsrError

MODES = ("auto", "all", "tff", "bff", "off")
# The modes that deinterlace every frame, and the field order each imposes (None: as marked).
_EVERY_FRAME = {"all": None, "tff": "tff", "bff": "bff"}

Tag = TypeVar("Tag")


def check_mode(mode: object) -> str:
    """`mode` if it is one of MODES; a VsrError naming them otherwise."""
    if mode not in MODES:
        raise VsrError(f"deinterlace must be one of {', '.join(MODES)}, not {mode!r}")
    return mode  # type: ignore[return-value]


class _Bwdif:
    """One filter graph for frames of one size, pixel format and colour. bwdif needs the
    next frame to finish a frame, so a frame comes out one push late (the last at the end)."""

    def __init__(self, frame: av.VideoFrame, every_frame: bool, first_field: str | None) -> None:
        self.kind = _kind_of(frame)
        width, height, pix_fmt, matrix, colour_range = self.kind
        time_base = frame.time_base or Fraction(1, 90000)
        self._graph = av.filter.Graph()
        # The frames' matrix and range are declared: libavfilter converts a packed or
        # semi-planar frame (NV12, P010, YUYV) to a planar one for bwdif and back, and on
        # undeclared ones took the frames' for a change from BT.601 limited range and
        # converted them (up to 22 codes off), dropping their tags.
        source = self._graph.add(
            "buffer",
            f"video_size={width}x{height}:pix_fmt={pix_fmt}:time_base={time_base}:"
            f"pixel_aspect=1/1:colorspace={matrix}:range={colour_range}",
        )
        # deint=interlaced leaves a frame the decoder marks progressive as it is (a mixed
        # broadcast, soft-telecined film), but still passes it through in order.
        which = "all" if every_frame else "interlaced"
        parity = first_field or "auto"  # auto: as each frame is marked, top first unmarked
        bwdif = self._graph.add("bwdif", f"mode=send_frame:parity={parity}:deint={which}")
        back = self._graph.add("format", pix_fmt)  # the decoder's: the planes are read in it
        sink = self._graph.add("buffersink")
        source.link_to(bwdif)
        bwdif.link_to(back)
        back.link_to(sink)
        self._graph.configure()

    def push(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        """Give a frame (None: the end) and take what is finished."""
        self._graph.push(frame)
        finished = []
        while True:
            try:
                finished.append(self._graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return finished


def _kind_of(frame: av.VideoFrame) -> tuple[int, int, str, int, int]:
    """What a graph is made for: size, pixel format, matrix and range codes."""
    return frame.width, frame.height, frame.format.name, frame.colorspace, frame.color_range


class Deinterlacer:
    """Deinterlaces a clip's decoded frames, in order; counts what it did for the notes.

    `__call__` takes (frame, tag) pairs and gives (frame, tag) pairs, one per pair in, in
    the same order: the frame deinterlaced or as it came, the tag (the caller's timestamp
    and frame number) untouched, as bwdif keeps every frame where it was in time.

    bwdif rebuilds a frame from the one before it and the one after it. Where the frames
    given are part of a clip (a --start/--end cut, the frames after a --resume point), the
    caller passes the source's frames just outside them, `before` (asked for once the
    first frame has come) and `after` (asked for at the end): they go through the filter
    for their neighbours' sake and are not given out, so that the frames at the edges come
    out as they do in a run of the whole clip.
    """

    def __init__(self, mode: str) -> None:
        self.mode = check_mode(mode)
        self.interlaced_frames = 0  # marked interlaced by the decoder (in any mode)
        self.deinterlaced_frames = 0  # come back from bwdif deinterlaced
        self.first_interlaced: int | None = None  # its number among the frames, from 0
        self.failure: str | None = None  # why bwdif could not run (the frames went as they came)
        self._seen = 0
        self._in_use = False  # whether bwdif has met a frame of this clip

    def __call__(
        self,
        frames: Iterable[tuple[av.VideoFrame, Tag]],
        before: Callable[[], av.VideoFrame | None] = lambda: None,
        after: Callable[[], av.VideoFrame | None] = lambda: None,
    ) -> Iterator[tuple[av.VideoFrame, Tag]]:
        graph: _Bwdif | None = None
        # What is inside the graph, in order: the frame as it came (should bwdif fail), its
        # tag, whether it is one to deinterlace (the count is of those that came out), and
        # whether it is given out (not a neighbour from outside the frames).
        waiting: deque[tuple[av.VideoFrame, Tag | None, bool, bool]] = deque()
        first = True
        for frame, tag in frames:
            interlaced = self._look_at(frame)
            if graph is not None and graph.kind != _kind_of(frame):
                # A frame of another size, format or colour (a broadcast's change of
                # programme): finish the old graph's frames and start one for the new kind.
                yield from self._drain(graph, None, waiting)
                graph = None
            wanted = self.mode in _EVERY_FRAME or (self.mode == "auto" and interlaced)
            # In "auto" the frames after the first interlaced one go through bwdif too (it
            # passes progressive ones as they are), so that each interlaced frame has its
            # neighbours.
            if graph is None and self.failure is None and (wanted or self._in_use):
                graph = self._start(frame)
                if graph is not None and first:
                    yield from self._neighbour(graph, before(), waiting)
                    if self.failure is not None:
                        graph = None
            first = False
            if graph is None:
                yield frame, tag
                continue
            self._in_use = True
            waiting.append((frame, tag, wanted, True))
            yield from self._drain(graph, frame, waiting)
            if self.failure is not None:
                graph = None
        if graph is not None:
            yield from self._neighbour(graph, after(), waiting)
        if graph is not None and self.failure is None:
            yield from self._drain(graph, None, waiting)

    def _neighbour(
        self,
        graph: _Bwdif,
        frame: av.VideoFrame | None,
        waiting: deque[tuple[av.VideoFrame, Tag | None, bool, bool]],
    ) -> Iterator[tuple[av.VideoFrame, Tag]]:
        """Put a frame from outside the clip through the filter, if it is of the graph's
        kind (another size or format would need a graph of its own, for one frame)."""
        if frame is None or _kind_of(frame) != graph.kind:
            return
        waiting.append((frame, None, False, False))
        yield from self._drain(graph, frame, waiting)

    def _look_at(self, frame: av.VideoFrame) -> bool:
        interlaced = bool(frame.interlaced_frame)
        if interlaced:
            self.interlaced_frames += 1
            if self.first_interlaced is None:
                self.first_interlaced = self._seen
        self._seen += 1
        return interlaced

    def _start(self, frame: av.VideoFrame) -> _Bwdif | None:
        try:
            every_frame = self.mode in _EVERY_FRAME
            return _Bwdif(frame, every_frame, _EVERY_FRAME.get(self.mode))
        except (av.error.FFmpegError, ValueError) as error:
            self._failed(_kind_of(frame), error)
            return None

    def _drain(
        self,
        graph: _Bwdif,
        frame: av.VideoFrame | None,
        waiting: deque[tuple[av.VideoFrame, Tag | None, bool, bool]],
    ) -> Iterator[tuple[av.VideoFrame, Tag]]:
        """Push `frame` (None: the end) and hand out what came back, each with the tag of
        the oldest frame waiting. Should bwdif refuse (a frame too small for it), the frames
        waiting go as they came, and the rest of the clip too."""
        try:
            finished = graph.push(frame)
        except (av.error.FFmpegError, ValueError) as error:
            self._failed(graph.kind, error)
            finished = []
        for picture in finished:
            _, tag, wanted, shown = waiting.popleft()
            if shown:
                self.deinterlaced_frames += wanted
                yield picture, tag
        if frame is None or self.failure is not None:
            # bwdif gave back fewer frames than it took (only when it failed): none is lost.
            while waiting:
                original, tag, _, shown = waiting.popleft()
                if shown:
                    yield original, tag

    def _failed(self, kind: tuple[int, int, str, int, int], error: Exception) -> None:
        width, height, pix_fmt, _, _ = kind
        self.failure = f"bwdif cannot take {width}x{height} {pix_fmt} frames ({error})"

    def note(self, kept: int = 0) -> str | None:
        """What happened to an interlaced clip, for the run's notes (None: nothing to say).
        `kept`: frames an earlier run delivered (--resume), so that a frame is named by its
        number in the output."""
        if self.failure is not None:
            return f"the video was not deinterlaced: {self.failure}; its frames went as they are"
        done = self.deinterlaced_frames
        kept_in_time = "one frame per frame at its own time, so the frame rate stays"
        if done and self.mode in _EVERY_FRAME:
            marked = self.interlaced_frames
            order = {
                "all": "the others taken as top field first",
                "tff": "each taken as top field first",
                "bff": "each taken as bottom field first",
            }[self.mode]
            return (
                f"{done} frames were deinterlaced (bwdif, --deinterlace {self.mode}; {marked} "
                f"of them marked interlaced, {order}), {kept_in_time}"
            )
        if done:
            since = (
                f" from frame {kept + self.first_interlaced} on" if self.first_interlaced else ""
            )
            return (
                f"the video is interlaced{since}: {done} frames were deinterlaced (bwdif) "
                f"before upscaling, {kept_in_time}"
            )
        if self.interlaced_frames:
            return (
                f"the video is interlaced ({self.interlaced_frames} frames): both fields of "
                "each frame were upscaled together and written as progressive frames "
                "(--deinterlace auto deinterlaces them first)"
            )
        return None
