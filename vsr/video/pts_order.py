"""Timestamps put back in presentation order, for files that store them in decode order.

AVI has no presentation times: libav gives each packet its decode time, and the decoder
hands the frames over in presentation order, each with the time of the packet it was in
(1, 4, 3, 5, 2, 8, ... for H.264 with B-frames). The times are right, their order is not:
the frame shown k-th is given the k-th smallest time. A frame's time arrives at most as
many frames late as the decoder reorders, so a window that deep finds it. In a file whose
times are in order already, the window changes nothing.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator
from typing import Protocol, TypeVar


class _Timed(Protocol):
    pts: int | None


Stamped = TypeVar("Stamped", bound=_Timed)  # a decoded av.VideoFrame, or the reader's Frame

# Frames a time may arrive late: B-frame pyramids of x264 and x265 reorder up to 4 or 5.
REORDER_DEPTH = 8


class PresentationOrder:
    """Restamps a stream of frames in presentation order, in place; `restamped` counts the
    frames whose time changed. A time earlier than one handed out starts it afresh."""

    def __init__(self, depth: int = REORDER_DEPTH) -> None:
        self.depth = depth
        self.restamped = 0
        self._given: int | None = None  # the latest time handed out

    def __call__(self, frames: Iterator[Stamped]) -> Iterator[Stamped]:
        waiting: deque[Stamped] = deque()
        times: list[int] = []  # a heap of the waiting frames' times
        for frame in frames:
            if frame.pts is None:  # no time to sort: what came before goes first
                yield from self._drain(waiting, times)
                yield frame
                continue
            if self._given is not None and frame.pts < self._given:
                # Earlier than a time already handed out: no reordering the window can mend
                # (a clock that jumps back). What waits goes first, in order, and the window
                # starts afresh; the writer deals with the jump as with any other.
                yield from self._drain(waiting, times)
                self._given = None
            waiting.append(frame)
            heapq.heappush(times, frame.pts)
            if len(waiting) > self.depth:
                yield self._stamp(waiting.popleft(), heapq.heappop(times))
        yield from self._drain(waiting, times)

    def _drain(self, waiting: deque[Stamped], times: list[int]) -> Iterator[Stamped]:
        while waiting:
            yield self._stamp(waiting.popleft(), heapq.heappop(times))

    def _stamp(self, frame: Stamped, pts: int) -> Stamped:
        self._given = pts
        if frame.pts != pts:
            self.restamped += 1
            frame.pts = pts
        return frame
