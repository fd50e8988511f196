"""The containers vsr writes, by their file suffix, and the codecs each one's muxer lists."""

from __future__ import annotations

import io
from functools import cache

import av

# Output suffixes and the libav muxer each is written with.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}


@cache
def codecs_held_by(container_format: str) -> tuple[frozenset[str], str]:
    """Codec and encoder names a muxer can store, and its default video codec."""
    with av.open(io.BytesIO(), "w", format=container_format) as probe:
        return frozenset(probe.supported_codecs), probe.default_video_codec
