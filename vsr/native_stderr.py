"""Silencing what native libraries write to the process's stderr themselves.

Some libraries print from C or C++ straight to file descriptor 2, past Python's sys.stderr
and past libav's log callback, with no setting to turn them off once the process has
started: torch's Kineto (a "USDT: ... profiler_start/stop" line on every start and stop)
and SVT-AV1 (its SVT_LOG level is read once, at the first encoder it opens).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 points at /dev/null inside the block; Python's own stderr is
    flushed first, so nothing vsr said before is lost."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
