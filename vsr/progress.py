"""Progress for a terminal and for a log file.

On a terminal, tqdm draws bars. When stderr is a file or a pipe (a job's log), the bars'
carriage returns and cursor moves would fill it with thousands of overwritten lines, so
the bars are off there and a long clip says how far it is in a plain line now and then.
Those lines go through Python's logging (logger "vsr.progress", level INFO), so that a
program embedding vsr decides where they go; the command line prints them to stderr.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from vsr.printable import printable

if TYPE_CHECKING:
    from tqdm import tqdm

# Seconds between two progress lines in a log.
LOG_INTERVAL_S = 30.0
LOGGER = logging.getLogger("vsr.progress")


def _log(line: str) -> None:
    LOGGER.info(line)


def on_a_terminal() -> bool:
    """Whether progress bars can be drawn (stderr is a terminal). A program that embeds vsr
    may have no stderr (pythonw, a daemon started with it closed: None), a closed one, or
    one of its own that sends lines to logging, with no isatty(): none is a terminal."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def bars_shown(progress: bool = True) -> bool:
    """Whether to draw tqdm bars: progress was asked for and stderr is a terminal."""
    return progress and on_a_terminal()


def frame_bar(shown: bool, **options: object) -> tqdm:
    """A tqdm bar, drawn only where `shown`. A hidden one is built without tqdm's monitor
    thread: that thread only tunes how often a drawn bar refreshes, and, started by every
    bar (a disabled one too) and stopped only by the close of a drawn one, it outlived
    upscale_video's call for the life of the host's process."""
    from tqdm import tqdm

    if shown:
        return tqdm(**options)

    class HiddenBar(tqdm):
        monitor_interval = 0

    return HiddenBar(disable=True, **options)


class ProgressLines:
    """Counts frames and writes "vsr: NAME: frame 1200 of 3000 (40%), 12.3 fps, 2 min 26 s
    left" at most every `interval` seconds (default LOG_INTERVAL_S). A total that is an
    estimate (`about`) is written "of ~3000"; past it, the line says only the frame. Call
    it with the frames finished since the last call."""

    def __init__(
        self,
        name: str,
        total: int | None,
        initial: int = 0,
        interval: float | None = None,
        write: Callable[[str], None] = _log,
        clock: Callable[[], float] = time.monotonic,
        about: bool = False,
    ) -> None:
        self.name, self.total, self.done = printable(name), total, initial
        self.interval = LOG_INTERVAL_S if interval is None else interval
        self._write, self._clock = write, clock
        self._started = self._last = clock()
        self._initial = initial
        self._about = "~" if about else ""

    def __call__(self, frames: int) -> None:
        self.done += frames
        now = self._clock()
        if now - self._last < self.interval:
            return
        self._last = now
        rate = (self.done - self._initial) / (now - self._started)
        line = f"vsr: {self.name}: frame {self.done}"
        if self.total and self.done <= self.total:
            line += f" of {self._about}{self.total} ({self.done / self.total:.0%})"
        line += f", {rate:.1f} fps"
        if self.total and self.done < self.total and rate > 0:
            line += f", {time_left((self.total - self.done) / rate)} left"
        self._write(line)


def time_left(seconds: float) -> str:
    """ "35 s", "2 min 26 s", "1 h 02 min": as precise as a remaining time is worth."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
