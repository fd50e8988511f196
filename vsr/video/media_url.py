"""How vsr names files to FFmpeg: as plain files, never as URLs or lists of other files.

FFmpeg reads a name such as ``concat:a.mp4`` or ``12:30 meeting.mp4`` as a protocol
(``concat``, ``12``) rather than as a file, and some demuxers open further files named
inside the one they read: an HLS playlist (.m3u8) any media file on the machine, an
ffconcat list (recognised whatever its extension) the files of its folder. A service that
upscales an upload could then hand back another user's video. So names go to FFmpeg as
``file:`` URLs, and sources are opened with those demuxers left out.
"""

from __future__ import annotations

import os
from fractions import Fraction

import av

# Demuxers that open other files or URLs named inside their input.
_INDIRECT = {"hls", "concat", "dash", "imf"}
# The others, as FFmpeg's `format_whitelist` option takes them (also for the ffmpeg binary).
DIRECT_DEMUXERS = ",".join(sorted(set(av.formats_available) - _INDIRECT))


def file_url(path: str | os.PathLike) -> str:
    """``path`` as a URL that FFmpeg opens as a plain file, whatever its name holds."""
    return "file:" + os.fspath(path)


def open_source(
    path: str | os.PathLike, rate: Fraction | None = None
) -> av.container.InputContainer:
    """The media file at ``path``, opened for reading by a demuxer that reads only it.
    FFmpeg's errors pass through (a playlist or concat list fails as an unreadable file).
    An image sequence pattern (``scans/f_%04d.png``) opens its frames, at ``rate`` (None:
    25 fps), as one clip (vsr.video.image_sequence), for the reader and the stream copier
    alike; VsrError where it names no whole sequence."""
    from vsr.video.image_sequence import ImageSequence, is_image_sequence

    if is_image_sequence(path):
        return ImageSequence.find(path).open(rate)
    return av.open(file_url(path), options={"format_whitelist": DIRECT_DEMUXERS})
