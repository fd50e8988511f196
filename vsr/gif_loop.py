"""A GIF's loop count wherever in the file its block is.

The count is an application extension (NETSCAPE2.0, or ANIMEXTS1.0 of the same layout) that
the GIF89a practice puts right after the header, and Pillow reads it only there: some
encoders write it after the first frame, where browsers still honour it, and Pillow read
such a GIF as one shown once, so vsr wrote it so. The block's bytes (introducer, label,
length 11, the name, and a sub-block of 3 bytes: 1, then the count as 16 bits
little-endian) are 19 in a row that LZW image data all but never holds, so the file is
scanned for them, a piece at a time, rather than walked block by block.
"""

from __future__ import annotations

import re
from pathlib import Path

_LOOP_BLOCK = re.compile(rb"\x21\xff\x0b(?:NETSCAPE2\.0|ANIMEXTS1\.0)\x03\x01(..)\x00", re.DOTALL)
_BLOCK_BYTES = 19
_PIECE_BYTES = 1 << 20  # read a piece at a time: an animated GIF may be hundreds of MB


def gif_loop_count(path: Path) -> int | None:
    """The loop count of the first loop block anywhere in the GIF at `path` (0: forever);
    None if it has none (or cannot be read: the frames' reader says what is wrong)."""
    tail = b""
    try:
        with open(path, "rb") as file:
            while piece := file.read(_PIECE_BYTES):
                found = _LOOP_BLOCK.search(tail + piece)
                if found:
                    return int.from_bytes(found.group(1), "little")
                # A block may straddle two pieces: keep what could be its start.
                tail = (tail + piece)[-(_BLOCK_BYTES - 1) :]
    except OSError:
        return None
    return None
