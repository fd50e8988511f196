"""Deinterlace decoded frames before they are upscaled (libavfilter's bwdif).

An interlaced frame holds two fields taken 1/50 or 1/60 s apart. Upscaled as one picture,
the comb between the fields is enlarged with everything else and the output is marked
progressive, so no player hides it again. bwdif rebuilds each frame from its fields and its
neighbours' (the same motion-adaptive filter as ffmpeg's), in the decoded format, before
the frame becomes planes: one frame out per frame in, at the same time, so the frame rate,
the frame count and every timestamp stay as they were.

With `fields()` instead (`vsr run --field-rate`), bwdif makes a whole frame of each field
(send_field): two frames out per frame in, the first field's and the second's, for video
shot interlaced, whose every field is a moment of its own (vsr.video.field_rate times them).

Modes: "auto" deinterlaces the frames the decoder marks interlaced (from the first of them
on, so a progressive clip never meets the filter); "all" every frame, for files that do not
mark theirs (those are taken as top field first); "tff" and "bff" every frame, with that
field first in time whatever the frames say (a DV capture is bottom field first and often
unmarked; an HEVC field-coded stream decodes with the order marked alternately); "off" none.
"film" is not deinterlacing but inverse telecine, for film carried with 3:2 pulldown: the
reader takes the frames to vsr.video.inverse_telecine instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import av

from vsr.argument_types import check_switch, given
from vsr.counted import counted, were
from vsr.errors import VsrError, VsrTypeError, option
from vsr.video.filter_graph import (
    FrameKind,
    colour_declaring_source,
    finished_frames,
    frame_kind,
)

MODES = ("auto", "all", "tff", "bff", "film", "off")
# The modes that deinterlace every frame, and the field order each imposes (None: as marked).
_EVERY_FRAME = {"all": None, "tff": "tff", "bff": "bff"}

Tag = TypeVar("Tag")


def check_mode(mode: object) -> str:
    """`mode` if it is one of MODES; a VsrError naming them otherwise, one that is a
    TypeError too for what is not a name (1, True)."""
    if not isinstance(mode, str):
        raise VsrTypeError(f"deinterlace must be one of {', '.join(MODES)}, not {given(mode)}")
    if mode not in MODES:
        raise VsrError(f"deinterlace must be one of {', '.join(MODES)}, not {mode!r}")
    return str(mode)  # numpy's str_ as the plain str it stands for


def check_field_rate(field_rate: object, mode: str) -> bool:
    """`field_rate` if it is a bool that `mode` can serve; a VsrError saying why otherwise."""
    field_rate = check_switch(field_rate, "field_rate")
    if field_rate and mode == "off":
        raise VsrError(
            f"{option('--field-rate', True)} makes a frame of each field, which deinterlaces: "
            f"not with {option('--deinterlace', 'off')} (auto, all, tff or bff)"
        )
    if field_rate and mode == "film":
        raise VsrError(
            f"{option('--field-rate', True)} makes a frame of each field, and "
            f"{option('--deinterlace', 'film')} gives back the film's frames, 4 of every 5: "
            "one or the other"
        )
    return field_rate


def rebuilds(mode: str, frame: av.VideoFrame) -> bool:
    """Whether `mode` has bwdif rebuild `frame` from its neighbours: a part of a clip whose
    edge frame it is wants them decoded too (see Deinterlacer)."""
    return mode in _EVERY_FRAME or (mode != "off" and bool(frame.interlaced_frame))


class _Bwdif:
    """One filter graph for frames of one size, pixel format and colour. bwdif needs the
    next frame to finish a frame, so a frame comes out one push late (the last at the end).
    `per_field`: a frame of each field (send_field), else one per frame (send_frame)."""

    def __init__(
        self, frame: av.VideoFrame, every_frame: bool, first_field: str | None, per_field: bool
    ) -> None:
        self.kind = frame_kind(frame)
        pix_fmt = self.kind[2]
        self._graph = av.filter.Graph()
        source = colour_declaring_source(self._graph, frame)
        # deint=interlaced leaves a frame the decoder marks progressive as it is (a mixed
        # broadcast, soft-telecined film), but still passes it through in order.
        which = "all" if every_frame else "interlaced"
        parity = first_field or "auto"  # auto: as each frame is marked, top first unmarked
        send = "send_field" if per_field else "send_frame"
        bwdif = self._graph.add("bwdif", f"mode={send}:parity={parity}:deint={which}")
        back = self._graph.add("format", pix_fmt)  # the decoder's: the planes are read in it
        sink = self._graph.add("buffersink")
        source.link_to(bwdif)
        bwdif.link_to(back)
        back.link_to(sink)
        self._graph.configure()
        self.pushed = 0  # frames given so far

    def push(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        """Give a frame (None: the end) and take what is finished.

        Each frame goes in with its place among those given (0, 1, 2...) for its pts, put
        back once it is in: bwdif gives a picture twice that (one more for a second field),
        so each picture names its frame, whatever the frames' own times (missing, repeated)
        and whether bwdif made one picture of a frame or two (it passes a progressive frame
        once)."""
        if frame is None:
            self._graph.push(None)
        else:
            own, frame.pts = frame.pts, self.pushed
            try:
                self._graph.push(frame)  # the graph takes a reference of its own
            finally:
                frame.pts = own
            self.pushed += 1
        return finished_frames(self._graph)


@dataclass
class _Waiting(Generic[Tag]):
    """A frame inside the graph: `frame` as it came (should bwdif fail), its `tag`,
    whether it is one to deinterlace (the count is of those that came out), whether it is
    given out (not a neighbour from outside the frames), its place in the graph's order,
    and (per field) its first picture, until its second comes."""

    frame: av.VideoFrame
    tag: Tag | None
    wanted: bool
    shown: bool
    place: int
    first: av.VideoFrame | None = None


class Deinterlacer:
    """Deinterlaces a clip's decoded frames, in order; counts what it did for the notes.

    `__call__` takes (frame, tag) pairs and gives (frame, tag) pairs, one per pair in, in
    the same order: the frame deinterlaced or as it came, the tag (the caller's timestamp
    and frame number) untouched, as bwdif keeps every frame where it was in time.

    `fields` gives two (frame, tag, second) triples per pair in instead: the picture of
    the frame's first field in time (second False), then of its other field (True). A
    frame that is not deinterlaced ("auto" leaves progressive ones alone) comes twice as
    it is, so that every frame in gives two out, at a steady rate.

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
        self.given_frames = 0  # frames given out (per field: each as two)
        self.repeated_frames = 0  # per field: frames given twice as they are
        self.first_interlaced: int | None = None  # its number among the frames, from 0
        self.failure: str | None = None  # why bwdif could not run (the frames went as they came)
        self.per_field = False  # whether the frames went out by fields()
        self._seen = 0
        self._in_use = False  # whether bwdif has met a frame of this clip

    def __call__(
        self,
        frames: Iterable[tuple[av.VideoFrame, Tag]],
        before: Callable[[], av.VideoFrame | None] = lambda: None,
        after: Callable[[], av.VideoFrame | None] = lambda: None,
    ) -> Iterator[tuple[av.VideoFrame, Tag]]:
        for picture, tag, _ in self._run(frames, before, after):
            yield picture, tag

    def fields(
        self,
        frames: Iterable[tuple[av.VideoFrame, Tag]],
        before: Callable[[], av.VideoFrame | None] = lambda: None,
        after: Callable[[], av.VideoFrame | None] = lambda: None,
    ) -> Iterator[tuple[av.VideoFrame, Tag, bool]]:
        """A picture of each field of each frame, in time: see the class."""
        self.per_field = True
        yield from self._run(frames, before, after)

    def _run(
        self,
        frames: Iterable[tuple[av.VideoFrame, Tag]],
        before: Callable[[], av.VideoFrame | None],
        after: Callable[[], av.VideoFrame | None],
    ) -> Iterator[tuple[av.VideoFrame, Tag, bool]]:
        graph: _Bwdif | None = None
        waiting: deque[_Waiting] = deque()  # what is inside the graph, in order
        first = True
        previous: av.VideoFrame | None = None  # the frame before, given out as it came
        for frame, tag in frames:
            interlaced = self._look_at(frame)
            if graph is not None and graph.kind != frame_kind(frame):
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
                if graph is not None:
                    # The frame before, for bwdif to rebuild this one from: at the start of
                    # a part, the source's (`before`); else the one that went by as it came
                    # (the progressive frame before the first interlaced one, under "auto"),
                    # so that a part starting at either frame makes what the whole clip does.
                    yield from self._neighbour(graph, before() if first else previous, waiting)
                    if self.failure is not None:
                        graph = None
            first, previous = False, frame
            if graph is None:
                yield from self._as_it_came(frame, tag, None)
                continue
            self._in_use = True
            waiting.append(_Waiting(frame, tag, wanted, True, graph.pushed))
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
        waiting: deque[_Waiting],
    ) -> Iterator[tuple[av.VideoFrame, Tag, bool]]:
        """Put a frame from outside the clip through the filter, if it is of the graph's
        kind (another size or format would need a graph of its own, for one frame)."""
        if frame is None or frame_kind(frame) != graph.kind:
            return
        waiting.append(_Waiting(frame, None, False, False, graph.pushed))
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
            return _Bwdif(frame, every_frame, _EVERY_FRAME.get(self.mode), self.per_field)
        except (av.error.FFmpegError, ValueError) as error:
            self._failed(frame_kind(frame), error)
            return None

    def _drain(
        self,
        graph: _Bwdif,
        frame: av.VideoFrame | None,
        waiting: deque[_Waiting],
    ) -> Iterator[tuple[av.VideoFrame, Tag, bool]]:
        """Push `frame` (None: the end) and hand out what came back, each picture with the
        tag of the frame its time names. Should bwdif refuse (a frame too small for it),
        the frames waiting go as they came, and the rest of the clip too."""
        try:
            finished = graph.push(frame)
        except (av.error.FFmpegError, ValueError) as error:
            self._failed(graph.kind, error)
            finished = []
        for picture in finished:
            place, second = divmod(picture.pts, 2)
            while waiting[0].place < place:  # bwdif gave all it will of these (passed once)
                yield from self._finish(waiting.popleft())
            entry = waiting[0]
            if entry.shown and not second:
                self.deinterlaced_frames += entry.wanted
            if entry.shown:
                self.given_frames += not second
                yield picture, entry.tag, bool(second)
            if second or not self.per_field:
                waiting.popleft()
            else:
                entry.first = picture
        if frame is None or self.failure is not None:
            # bwdif gave back fewer frames than it took (only when it failed), or passed
            # the last ones once: none is lost.
            while waiting:
                yield from self._finish(waiting.popleft())

    def _finish(self, entry: _Waiting) -> Iterator[tuple[av.VideoFrame, Tag, bool]]:
        """What a frame still owes once bwdif gives no more of it: per field, its picture
        again for the second (bwdif passed it once), or itself as it came twice (bwdif
        failed before giving it back)."""
        if entry.shown:
            yield from self._as_it_came(entry.frame, entry.tag, entry.first)

    def _as_it_came(
        self, frame: av.VideoFrame, tag: Tag, first: av.VideoFrame | None
    ) -> Iterator[tuple[av.VideoFrame, Tag, bool]]:
        """A frame not deinterlaced: once, or per field twice (from `first` on, where its
        first picture has gone out already)."""
        if first is None:
            self.given_frames += 1
            yield frame, tag, False
        if self.per_field:
            self.repeated_frames += 1
            yield frame if first is None else first, tag, True

    def _failed(self, kind: FrameKind, error: Exception) -> None:
        width, height, pix_fmt, _, _ = kind
        self.failure = f"bwdif cannot take {width}x{height} {pix_fmt} frames ({error})"

    def note(self, kept: int = 0, delivered: int | None = None) -> str | None:
        """What happened to an interlaced clip, for the run's notes (None: nothing to say).
        `kept`: frames an earlier run delivered (--resume), so that a frame is named by its
        number in the output. `delivered`: per field, the frames the caller gave out, where
        it dropped some of those made (a second field past a cut's end); else two a frame."""
        if self.failure is not None:
            return f"the video was not deinterlaced: {self.failure}; its frames went as they are"
        done = self.deinterlaced_frames
        if self.per_field:
            kept_in_time = (
                f"one frame per field ({option('--field-rate', True)}): "
                f"{counted(self.given_frames, 'frame')} became "
                f"{2 * self.given_frames if delivered is None else delivered}, at twice the "
                "frame rate"
            )
            if self.repeated_frames and done:
                kept_in_time += (
                    f"; the {self.repeated_frames} not deinterlaced were each given twice, "
                    "so that the rate stays steady"
                )
        else:
            kept_in_time = "one frame per frame at its own time, so the frame rate stays"
        if done and self.mode in _EVERY_FRAME:
            marked = self.interlaced_frames
            order = {
                "all": "the others taken as top field first",
                "tff": "each taken as top field first",
                "bff": "each taken as bottom field first",
            }[self.mode]
            return (
                f"{were(done, 'frame')} deinterlaced (bwdif, {option('--deinterlace', self.mode)}; "
                f"{marked} of them marked interlaced, {order}), {kept_in_time}"
            )
        if done:
            # Numbered as the output counts them, from 1 as the other notes do (FramePlanes',
            # the siting watch's): per field, two to a frame.
            first = kept + self.first_interlaced * (2 if self.per_field else 1) + 1
            since = f" from frame {first} on" if self.first_interlaced else ""
            return (
                f"the video is interlaced{since}: {were(done, 'frame')} deinterlaced (bwdif) "
                f"before upscaling, {kept_in_time}"
            )
        if self.interlaced_frames:
            return (
                f"the video is interlaced ({counted(self.interlaced_frames, 'frame')}): both fields of "
                "each frame were upscaled together and written as progressive frames "
                f"({option('--deinterlace', 'auto')} deinterlaces them first)"
            )
        if self.per_field and self.given_frames:
            return (
                f"no frame is marked interlaced: {option('--field-rate', True)} gave each of "
                f"the {counted(self.given_frames, 'frame')} twice, to keep its doubled rate "
                f"({option('--deinterlace', 'all')} takes unmarked frames as interlaced)"
            )
        return None
