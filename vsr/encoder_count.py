"""How many encoders one output may have (`--encoders`, the API's `encoders`).

Each encoder is a thread of vsr's with an encoder context of its own (x264 runs about 1.5
threads a core besides it) and an inbox of up to max(2, N - 1) chunks of frames. Past a few
they add threads and memory, not speed: three reached 162 fps at 1080p on 16 cores where one
did 108. Unbounded, `--encoders 3000` on a 4-frame clip started 3000 threads and stalled.
"""

from __future__ import annotations

from vsr.errors import VsrError, option

MAX_ENCODERS = 16


def check_encoders(encoders: int) -> None:
    """Refuse a number of encoders below 1 or above MAX_ENCODERS."""
    if not 1 <= encoders <= MAX_ENCODERS:
        raise VsrError(
            f"{option('--encoders')} must be from 1 to {MAX_ENCODERS}, not {encoders} (each "
            "is an encoder of its own, on a thread of its own; past a few they add threads, "
            "not speed)"
        )
