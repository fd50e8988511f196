"""A decoded frame's side data, read so that a kind PyAV cannot name does not fail it all.

PyAV 18.1 names the side data kinds of FFmpeg 7 (up to VIDEO_HINT, 27), and builds a
frame's list of them whole: one kind FFmpeg 8 added (EXIF, 31, which its TIFF decoder
attaches to every frame) raised ValueError out of the reader, a traceback for
`vsr run 'scans/f_%04d.tif'`. Such a frame is read as carrying none: the kinds vsr looks
for (display matrix, HDR metadata, captions, Dolby Vision) come with video, which carries
no EXIF.
"""

from __future__ import annotations

import av


def side_data_of(frame: av.VideoFrame) -> list:
    """The frame's side data entries; none where PyAV cannot name one of them."""
    try:
        return list(frame.side_data)
    except ValueError:
        return []
