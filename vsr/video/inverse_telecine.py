"""Inverse telecine (`vsr run --deinterlace film`): film carried as 29.97i with 3:2 pulldown
back to its own progressive frames at 24000/1001.

A hard-telecined source (NTSC DVDs and broadcasts of film and of many TV series) spreads
4 film frames over 5 video frames, AA BB BC CD DD in fields: 2 frames of every 5 are
combed (their fields come from two film frames), and all are marked interlaced, so
--deinterlace auto rebuilds each from one field (soft) and keeps the 3:2 judder. Here
libavfilter's usual chain runs instead: `fieldmatch` weaves each frame from the fields that
belong together (the film frame, whole), `bwdif=deint=interlaced` deinterlaces only what
fieldmatch still finds combed (parts shot on video: credits, a mixed broadcast), and
`decimate` drops the repeated picture of every cycle of 5 frames. The graph is split after
fieldmatch, so that this module sees what fieldmatch matched and what it left combed.

Times: decimate renumbers what it keeps; each kept frame is tagged (AVFrame.opaque, which
every filter of the chain copies) with its place among the frames given, so its own frame,
the ones dropped before it and its cycle are known. The 4 frames a cycle keeps lie evenly
over the cycle's own span, from its first frame's time to the next cycle's (5/4 of a frame
apart at a steady rate: the film's moments, 1001/24000 s), so a variable or irregular source
keeps each cycle where it was. A quarter of a frame is not a tick of the source's time base
(29.97 fps in 1/90000 is 3003 ticks a frame), so the frames are delivered in a time base
four times as fine (as --field-rate does with two). The last cycle, cut short by the clip's
end or a cut's, decimate passes whole, its repeat too: the cycle before it tells the
pulldown's phase, so its repeat is dropped here and the rest lie at that cycle's film spacing
(_short_cycle). A short cycle with no whole one before it keeps its frames' own times.

Cycles count from the first frame given, so a run resumed after a point (vsr.video.reader)
decodes the clip, or its cut, from its start again and drops what the earlier run
delivered: the same frames are matched and dropped as in an uninterrupted run.

Soft telecine (the film's progressive frames, coded at 29.97 with repeat-field flags) decodes
to the film's own frames already, 1001/24000 s apart on average: decimate would drop one of
every 5 of those (19.18 fps). The opening frames' spacing tells it from hard telecine, and
its frames pass through, each at its own time. A stream that mixes the two (some DVDs) is
judged by its opening.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain, islice, pairwise
from statistics import median
from typing import TYPE_CHECKING, Generic, TypeVar

import av
import numpy as np

from vsr.counted import counted
from vsr.errors import VsrError, option
from vsr.video.filter_graph import FrameKind, colour_declaring_source, finished_frames, frame_kind

if TYPE_CHECKING:
    from vsr.video.reader import VideoInfo

Tag = TypeVar("Tag")
Item = TypeVar("Item")

CYCLE = 5  # video frames of 3:2 pulldown that hold 4 film frames
FINER = 4  # the delivered time base is the source's divided by this
NTSC = Fraction(30000, 1001)
# The rates that carry 3:2 pulldown (4 film frames in 5 video frames); within this share.
PULLDOWN_RATES = (NTSC, Fraction(30))
RATE_TOLERANCE = Fraction(1, 100)
# Soft telecine decodes to the film's own frames, 5/4 of a video frame apart on average; hard
# telecine's lie a frame apart. Opening frames further apart than this many frames are film.
FILM_SPACING = Fraction(9, 8)
# A picture changed from the one before it by no more than this (mean luma codes, of 255)
# is still: compression noise, no motion.
STILL = 0.5
# The dropped picture of a cycle is a repeat where it changed no more than this share of
# what the kept ones did (a repeated film frame differs only by the noise of its coding).
REPEAT_SHARE = 0.25


def film_info(source: VideoInfo, soft_telecine: bool = False) -> VideoInfo:
    """`source`'s description as its frames are delivered as film: the time base four times
    as fine, the rate 4/5 of the source's (24000/1001 of 30000/1001), and the frame count
    4/5 of the source's, to the nearest (a cycle cut short drops its repeat too, where it
    holds one). A `soft_telecine` source is described at the film's rate already (see
    soft_telecine_rate), and every one of its frames is kept: only the time base changes."""
    finer = {"time_base": source.time_base / FINER, "file_time_base": source.rounding}
    if soft_telecine:
        return dataclasses.replace(source, **finer)
    rate, count = source.average_rate, source.frame_count
    return dataclasses.replace(
        source,
        **finer,
        average_rate=None if rate is None else rate * (CYCLE - 1) / CYCLE,
        frame_count=None if count is None else round(Fraction(count * (CYCLE - 1), CYCLE)),
    )


def carries_pulldown(rate: Fraction | None) -> bool:
    """Whether a source at `rate` can hold 3:2 pulldown: 30000/1001 or 30 frames a second
    (an unknown rate is given the benefit of the doubt). PAL's 25 (film sped up, 2:2) and
    film's own 24000/1001 hold none: decimate would drop a frame of motion of every 5."""
    return rate is None or any(abs(rate / video - 1) <= RATE_TOLERANCE for video in PULLDOWN_RATES)


def no_pulldown_note(rate: Fraction) -> str:
    """The note for a source `carries_pulldown` refuses, which is treated as auto treats it
    (deinterlaced where bwdif can take its frames: its own note says what was done)."""
    return (
        f"{option('--deinterlace', 'film')} undoes 3:2 pulldown, which carries film at 29.97 "
        f"fps; the video is at {float(rate):.3f} fps, which holds none: no frame was dropped, "
        f"and the video is treated as {option('--deinterlace', 'auto')} treats it"
    )


def _lie_film_frames_apart(
    opening: list[tuple[object, int | None, object, object]], step: int
) -> bool:
    """Whether the `opening` frames (frame, pts, tag, length) lie film frames apart, 5/4 of
    a frame (`step` ticks) on average: soft telecine (an NTSC DVD of film, mostly), whose
    decoder gives the film's own progressive frames and leaves the pulldown to repeat-field
    flags, though the stream declares 29.97. A cycle is needed to tell."""
    return lie_film_frames_apart([pts for _, pts, _, _ in opening], step)


def lie_film_frames_apart(times: Iterable[int | None], step: int) -> bool:
    """Whether frames at `times` (in presentation order) lie film frames apart, 5/4 of a
    frame of `step` ticks on average: soft telecine's, as the decoder gives them."""
    times = [pts for pts in times if pts is not None]
    if len(times) < CYCLE or times[-1] <= times[0]:
        return False
    return times[-1] - times[0] > FILM_SPACING * step * (len(times) - 1)


def soft_telecine_rate(stated: Fraction) -> Fraction:
    """The film's own rate in a soft-telecined stream that states `stated` (24000/1001 of
    30000/1001): 4 film frames are shown over the time of 5 stated ones."""
    return stated * (CYCLE - 1) / CYCLE


def frames_after(
    items: Iterable[Item], pts: int, repeats: int, pts_of: Callable[[Item], int | None]
) -> Iterator[Item]:
    """`items` (delivered in increasing time) from the first after the `repeats`-th one
    delivered with `pts`, where an earlier run stopped."""
    items = iter(items)
    seen_at_pts = 0
    for item in items:
        at = pts_of(item)
        if at is not None and at == pts and seen_at_pts < repeats:
            seen_at_pts += 1
            continue
        if at is not None and at < pts:
            continue
        yield item
        break
    yield from items


@dataclass
class FilmFrame(Generic[Tag]):
    """A frame decimate kept: its `picture`, its time in the finer time base (None where the
    source has none), its own frame's `tag`, and the tags of the frames dropped since the
    one kept before it (whose closed captions go with it)."""

    picture: av.VideoFrame
    pts: int | None
    tag: Tag
    dropped: list[Tag] = field(default_factory=list)


@dataclass
class _Given(Generic[Tag]):
    """A frame given to the chain: its time and length (source ticks), its tag."""

    pts: int | None
    length: int | None
    tag: Tag


@dataclass
class _ShortCycle:
    """How a cycle cut short is undone: the place of its repeated picture, dropped (None:
    none), and the span of the whole cycle before it, over which 4 film frames lie (None:
    not telecined, or not known; its frames keep their own times)."""

    repeat: int | None = None
    film_span: int | None = None


def _refusal(kind: FrameKind, error: Exception) -> VsrError:
    width, height, pix_fmt, _, _ = kind
    return VsrError(
        f"{option('--deinterlace', 'film')} cannot take {width}x{height} {pix_fmt} frames "
        f"(libavfilter's fieldmatch and decimate: {error}); give "
        f"{option('--deinterlace', 'auto')}, which deinterlaces what bwdif can take, or "
        f"{option('--deinterlace', 'off')}"
    )


def _chain(graph: av.filter.Graph, *filters: av.filter.Filter) -> None:
    for this, following in pairwise(filters):
        this.link_to(following)
    graph.configure()


class _Graphs:
    """fieldmatch in one graph, bwdif and decimate in another, for frames of one kind."""

    def __init__(self, frame: av.VideoFrame, rate: Fraction) -> None:
        self.kind = frame_kind(frame)
        pix_fmt = self.kind[2]
        # Unmarked frames are taken as top field first, as bwdif takes them; a marked
        # frame's own order wins ("auto" reads each frame's mark).
        order = "auto" if frame.interlaced_frame else "tff"
        self.matching = av.filter.Graph()
        # combmatch=full: where fields do not match (video-shot parts), fieldmatch picks
        # the least combed weave and marks what stays combed, for bwdif.
        _chain(
            self.matching,
            colour_declaring_source(self.matching, frame, rate),
            self.matching.add("fieldmatch", f"order={order}:combmatch=full"),
            self.matching.add("format", pix_fmt),
            self.matching.add("buffersink"),
        )
        self.dropping = av.filter.Graph()
        _chain(
            self.dropping,
            colour_declaring_source(self.dropping, frame, rate),
            self.dropping.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced"),
            self.dropping.add("decimate", f"cycle={CYCLE}"),
            self.dropping.add("format", pix_fmt),
            self.dropping.add("buffersink"),
        )

    def match(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        self.matching.push(frame)
        return finished_frames(self.matching)

    def decimate(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        self.dropping.push(frame)
        return finished_frames(self.dropping)


class InverseTelecine(Generic[Tag]):
    """Gives the film frames of a clip's decoded frames, in order; counts for the note.

    `__call__` takes (frame, pts, tag, length) in presentation order (pts and length in
    the source's time base; length None where not known) and gives FilmFrames. `before`
    and `after` are the source's frames just outside those given (a cut's edges): fieldmatch
    matches the edge frames with them as it does in the whole clip; they are not given out
    and take no place in a cycle. `step`: one frame at the average rate, in source ticks.
    """

    def __init__(self, step: int, rate: Fraction | None) -> None:
        self._step = step
        self._rate = rate or NTSC
        self.source_frames = 0  # given to the chain
        self.film_frames = 0  # given out
        self.combed_frames = 0  # left combed by fieldmatch, deinterlaced by bwdif
        self.lost_tags: list[Tag] = []  # dropped after the last frame kept: nothing follows
        self.soft_telecine = False  # the frames were film frames already: none dropped
        self._given: dict[int, _Given[Tag]] = {}
        self._changes: dict[int, float] = {}  # how far each matched picture is from the last
        self._kept: set[int] = set()
        self._cycles: list[tuple[int, int]] = []  # (first frame, frames) of each cycle
        self._short_cycles: dict[int, _ShortCycle] = {}  # see _short_cycle

    def __call__(
        self,
        frames: Iterable[tuple[av.VideoFrame, int | None, Tag, int | None]],
        before: Callable[[], av.VideoFrame | None] = lambda: None,
        after: Callable[[], av.VideoFrame | None] = lambda: None,
    ) -> Iterator[FilmFrame[Tag]]:
        graphs: _Graphs | None = None
        self._waiting: deque[av.VideoFrame] = deque()  # kept, until their cycle's span is known
        self._previous_luma: np.ndarray | None = None
        self._last_out = -1  # the place of the last frame given out
        self._last_pts: int | None = None
        first = True
        frames = iter(frames)
        opening = list(islice(frames, 2 * CYCLE))
        if _lie_film_frames_apart(opening, self._step):
            yield from self._as_they_are(chain(opening, frames))
            return
        for frame, pts, tag, length in chain(opening, frames):
            if graphs is not None and graphs.kind != frame_kind(frame):
                # Another size or format (a change of programme): finish the frames of the
                # old kind; cycles start again with the new one.
                yield from self._finish(graphs)
                graphs = None
            if graphs is None:
                graphs = self._start(frame)
                if first:
                    yield from self._neighbour(graphs, before())
            first = False
            place = self.source_frames
            self.source_frames += 1
            self._given[place] = _Given(pts, length, tag)
            if place - self._graph_start >= CYCLE * len(self._cycles_of_graph):
                self._cycles.append((place, 0))
                self._cycles_of_graph.append(place)
            start, count = self._cycles[-1]
            self._cycles[-1] = (start, count + 1)
            # A new object each: PyAV keys opaque values by id(), and one small int shared
            # by two frames' tags is forgotten for both when either frame is freed.
            frame.opaque = (place,)
            yield from self._through(graphs, frame)
        if graphs is not None:
            yield from self._neighbour(graphs, after())
            yield from self._finish(graphs)
        self.lost_tags = [self._given[p].tag for p in range(self._last_out + 1, self.source_frames)]

    def _as_they_are(
        self, frames: Iterable[tuple[av.VideoFrame, int | None, Tag, int | None]]
    ) -> Iterator[FilmFrame[Tag]]:
        """Soft telecine's frames, the film's own: each kept at its own time, none dropped
        (decimate would drop a film frame of every 5: 19.18 fps of judder)."""
        self.soft_telecine = True
        for frame, pts, tag, _ in frames:
            self.source_frames += 1
            self.film_frames += 1
            yield FilmFrame(frame, None if pts is None else FINER * pts, tag)

    def _start(self, frame: av.VideoFrame) -> _Graphs:
        try:
            graphs = _Graphs(frame, self._rate)
        except (av.error.FFmpegError, ValueError) as error:
            raise _refusal(frame_kind(frame), error) from None
        self._graph_start = self.source_frames
        self._cycles_of_graph: list[int] = []
        self._previous_luma = None
        return graphs

    def _neighbour(self, graphs: _Graphs, frame: av.VideoFrame | None) -> Iterator[FilmFrame[Tag]]:
        """A frame from outside the clip through fieldmatch alone (untagged: what comes of
        it is not passed on), for its neighbour's match."""
        if frame is None or frame_kind(frame) != graphs.kind:
            return
        frame.opaque = None
        yield from self._through(graphs, frame)

    def _through(self, graphs: _Graphs, frame: av.VideoFrame | None) -> Iterator[FilmFrame[Tag]]:
        """Push `frame` (None: the end) through both graphs; give out what is timed."""
        try:
            matched = graphs.match(frame)
            kept = []
            for picture in matched:
                if picture.opaque is None:
                    continue  # a neighbour's
                self._measure(picture)
                kept += graphs.decimate(picture)
            if frame is None:
                kept += graphs.decimate(None)
        except (av.error.FFmpegError, ValueError) as error:
            raise _refusal(graphs.kind, error) from None
        self._waiting.extend(kept)
        yield from self._timed(ended=frame is None)

    def _finish(self, graphs: _Graphs) -> Iterator[FilmFrame[Tag]]:
        yield from self._through(graphs, None)

    def _measure(self, picture: av.VideoFrame) -> None:
        """Note whether fieldmatch left `picture` combed, and how much it changed from the
        picture before it (every 4th pixel of luma: enough to tell a repeat from motion)."""
        self.combed_frames += bool(picture.interlaced_frame)
        plane = picture.planes[0]
        bits = picture.format.components[0].bits
        dtype = np.uint16 if bits > 8 else np.uint8
        rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)[:, : plane.width]
        luma = rows[::4, ::4].astype(np.float32) / (1 << max(0, bits - 8))
        if self._previous_luma is not None:
            self._changes[picture.opaque[0]] = float(np.abs(luma - self._previous_luma).mean())
        self._previous_luma = luma

    def _timed(self, ended: bool) -> Iterator[FilmFrame[Tag]]:
        """The kept frames whose cycle's span is known (the next cycle has begun), or all
        of them at the end of a graph's frames."""
        while self._waiting:
            picture = self._waiting[0]
            (place,) = picture.opaque
            cycle = self._cycle_of(place)
            start, count = self._cycles[cycle]
            if not ended and start + CYCLE not in self._given:
                return
            self._waiting.popleft()
            if place == self._short_cycle(cycle).repeat:
                continue  # its tag goes with the next kept frame's, as decimate's drops do
            self._kept.add(place)
            yield self._film_frame(picture, place, cycle)

    def _short_cycle(self, cycle: int) -> _ShortCycle:
        """How the last cycle of a run of frames, cut short (the clip's or the cut's end, a
        change of size), is undone: decimate keeps every frame of it, the repeated picture
        of its pulldown too, each at its own time (a film frame shown twice, and the last
        frames 1001/30000 s apart: a cut's average rate read 25.2, not 23.976). The cycle
        before it tells the pulldown's phase: a picture in the place that cycle dropped is
        the same repeat where it barely changed, and is dropped; the rest lie film frames
        apart, at that cycle's spacing. Whole cycles, and a short one with no whole cycle
        before it (nothing to tell the phase by), are left as decimate leaves them."""
        if cycle in self._short_cycles:
            return self._short_cycles[cycle]
        plan = _ShortCycle()
        start, count = self._cycles[cycle]
        previous = start - CYCLE
        whole_before = cycle > 0 and self._cycles[cycle - 1] == (previous, CYCLE)
        if count < CYCLE and whole_before and previous in self._cycles_of_graph:
            dropped = [p for p in range(previous, start) if p not in self._kept]
            plan = self._phase_of(dropped, previous, start, count)
        self._short_cycles[cycle] = plan
        return plan

    def _phase_of(self, dropped: list[int], previous: int, start: int, count: int) -> _ShortCycle:
        """The short cycle at `start` (`count` frames) after the whole one at `previous`,
        which dropped the places `dropped`."""
        first, before = self._given[start].pts, self._given[previous].pts
        if len(dropped) != 1 or first is None or before is None or first <= before:
            return _ShortCycle()
        plan = _ShortCycle(film_span=first - before)
        place = start + dropped[0] - previous
        if place >= start + count or place not in self._changes:
            return plan  # the repeat would have come after the end
        kept = [
            self._changes[p]
            for p in range(previous, start)
            if p in self._kept and p in self._changes
        ]
        change = self._changes[place]
        if change <= STILL or (kept and change <= REPEAT_SHARE * median(kept)):
            plan.repeat = place
        return plan

    def _cycle_of(self, place: int) -> int:
        for index in range(len(self._cycles) - 1, -1, -1):
            if self._cycles[index][0] <= place:
                return index
        return 0

    def _film_frame(self, picture: av.VideoFrame, place: int, cycle: int) -> FilmFrame[Tag]:
        start, count = self._cycles[cycle]
        kept_before = sum(1 for p in range(start, place) if p in self._kept)
        pts = self._film_pts(place, start, count, kept_before)
        if pts is not None and self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # never two frames at one time, whatever the source's
        if pts is not None:
            self._last_pts = pts
        dropped = [self._given[p].tag for p in range(self._last_out + 1, place)]
        self._last_out = place
        self.film_frames += 1
        return FilmFrame(picture, pts, self._given[place].tag, dropped)

    def _film_pts(self, place: int, start: int, count: int, kept_before: int) -> int | None:
        """In the finer time base: the kept frames of a cycle that dropped one, evenly over
        its span; those of a cycle that dropped none, at their own times."""
        own = self._given[place].pts
        first = self._given[start].pts
        if count < CYCLE and first is not None:
            film_span = self._short_cycle(self._cycle_of(place)).film_span
            if film_span is not None:  # a telecined cycle cut short: its film's spacing
                return FINER * first + kept_before * film_span * FINER // (CYCLE - 1)
        if count < CYCLE or first is None:
            return None if own is None else FINER * own
        following = self._given.get(start + CYCLE)
        if following is not None and following.pts is not None and following.pts > first:
            span = following.pts - first
        else:
            last = self._given[start + count - 1]
            length = last.length or self._step
            span = (last.pts if last.pts is not None else first) + length - first
        return FINER * first + kept_before * span * FINER // (CYCLE - 1)

    def note(self) -> str:
        """What was done, for the run's notes."""
        rate = float(self._rate * (CYCLE - 1) / CYCLE)
        done = (
            f"{counted(self.source_frames, 'frame')} became "
            f"{counted(self.film_frames, 'film frame')} at {rate:.3f} fps"
        )
        if self.soft_telecine:
            return (
                f"{option('--deinterlace', 'film')}: the video's frames are film frames "
                "already (soft telecine: the decoder gives the film's own frames, 1001/24000 s "
                "apart on average, and leaves the 3:2 pulldown to repeat-field flags): all "
                f"{self.source_frames} kept at their own times, none dropped"
            )
        telecined, moving = self._telecined_cycles()
        if moving and not telecined:
            return (
                "the video does not look telecined: in none of its "
                f"{moving} cycles of 5 frames with motion was a picture repeated, so "
                f"{option('--deinterlace', 'film')} dropped a frame of motion from each "
                f"(judder): {done}; {option('--deinterlace', 'auto')} suits it"
            )
        film = option("--deinterlace", "film")
        note = f"inverse telecine ({film}: fieldmatch, decimate): {done}"
        if self.combed_frames:
            note += (
                f"; {counted(self.combed_frames, 'frame')} whose fields did not match (shot on "
                f"video, not film) {'was' if self.combed_frames == 1 else 'were'} deinterlaced "
                "(bwdif)"
            )
        if moving > telecined:
            note += (
                f"; {moving - telecined} of {moving} cycles of 5 frames with motion repeated "
                "no picture (not telecined): a frame of motion was dropped from each"
            )
        return note

    def _telecined_cycles(self) -> tuple[int, int]:
        """(cycles that dropped a repeated picture, cycles with motion), of the whole cycles."""
        telecined = moving = 0
        for start, count in self._cycles:
            places = range(start, start + count)
            dropped = [p for p in places if p not in self._kept]
            if count < CYCLE or len(dropped) != 1 or dropped[0] not in self._changes:
                continue
            # The first picture of the clip (or of a change of size) has nothing to differ
            # from: the cycle is judged by the others.
            changes = [self._changes[p] for p in places if p in self._changes]
            kept_changes = [
                self._changes[p] for p in places if p in self._kept and p in self._changes
            ]
            if max(changes) <= STILL:
                continue  # a still picture: nothing to judder
            moving += 1
            change = self._changes[dropped[0]]
            telecined += change <= STILL or change <= REPEAT_SHARE * median(kept_changes)
        return telecined, moving
