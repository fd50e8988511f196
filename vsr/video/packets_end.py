"""Where a file's packets end, whichever stream they belong to.

A container that states no length for its video stream (FLV, some AVI) states the whole
file's, sound included. When the pictures stop before that length, either the file was
cut short or another stream simply runs on past the pictures (sound longer than the
video, a common capture). The packets tell which: a cut file has none near its stated
end; a healthy one has its sound's there.
"""

from __future__ import annotations

from pathlib import Path

import av

from vsr.video.media_url import open_source

# How far before the stated end to start reading: a seek lands at or before the asked
# time, at a keyframe or an index entry, so this is a floor, not the amount read.
_LOOK_BACK_SECONDS = 10.0


def packets_end_seconds(path: Path, stated_seconds: float) -> float | None:
    """The latest end of any packet in the file, in seconds from the file's start, read
    from about `_LOOK_BACK_SECONDS` before `stated_seconds` on (the whole file where
    seeking fails). None where the file cannot be read or no packet has a time."""
    try:
        container = open_source(path)  # a plain file, as the reader opened it
    except (av.error.FFmpegError, OSError):
        return None
    with container:
        origin = container.start_time or 0
        target = max(0.0, stated_seconds - _LOOK_BACK_SECONDS)
        latest = None
        try:
            if target > 0:
                container.seek(origin + int(target * av.time_base), backward=True)
        except av.error.FFmpegError:
            pass  # not seekable: the demuxer still stands at the start, so read it all
        try:
            for packet in container.demux():
                if packet.pts is None or not packet.time_base:
                    continue
                end = (packet.pts + (packet.duration or 0)) * packet.time_base
                latest = end if latest is None else max(latest, end)
        except av.error.FFmpegError:
            pass  # a damaged tail: what could be read
        if latest is None:
            return None
        return float(latest) - origin / av.time_base
