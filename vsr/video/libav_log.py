"""libav's messages, caught while a block runs: its log level raised for the block, shared.

libav's log level is one for the process. Overlapping blocks in threads (trial opens of
encoders, readers of a chroma siting) each need messages up to some level: the most verbose
level any of them asks for is in force while they run, and the last to leave puts the
host's level back (vsr.shared_change). Two separate changes of the one level would restore
out of order: a block asking for INFO would lose it to one that left, and leave its own
level behind when it left last.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import av

from vsr.shared_change import SharedChange

# The first block in saves the host's level, the last out restores it.
_HOSTS_LEVEL = SharedChange(av.logging.get_level, av.logging.set_level)
_asked: Counter[int] = Counter()  # the levels the blocks running now asked for
_asked_lock = threading.Lock()


def _ask(level: int, blocks: int) -> None:
    with _asked_lock:
        _asked[level] += blocks
        if +_asked:  # else the host's level comes back as the last block leaves
            # Never quieter than the host's own: its other threads keep their messages.
            hosts = _HOSTS_LEVEL.saved if _HOSTS_LEVEL.saved is not None else 0
            av.logging.set_level(max(max(+_asked), hosts))


@contextmanager
def libav_messages(said: list[str], up_to: int = av.logging.WARNING) -> Iterator[None]:
    """Collect libav's messages of this thread, of level `up_to` or more severe (warnings
    and errors unless told), while the block runs."""
    with _HOSTS_LEVEL:
        _ask(up_to, 1)
        try:
            with av.logging.Capture() as logs:
                yield
        finally:
            _ask(up_to, -1)
            said.extend(text.strip() for level, _, text in logs if level <= up_to)


def reason_said(said: list[str]) -> str | None:
    """The line of libav's that says why, from `said`: its last line, unless that ends a
    list an earlier line introduced ("Valid DNxHD profiles:" and 54 rows): then that
    line, with the list counted. The last row alone ("Frame size: 1440x1080i; bitrate:
    110Mbps") read as the cause."""
    if not said:
        return None
    headers = [i for i, line in enumerate(said) if line.endswith(":")]
    if headers and headers[-1] < len(said) - 1:
        at = headers[-1]
        rows = len(said) - at - 1
        return f"{said[at].rstrip(':').rstrip()} (libav lists {rows})"
    return said[-1]
