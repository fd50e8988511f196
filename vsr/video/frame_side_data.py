"""A decoded frame's side data, read so that a kind PyAV cannot name does not fail it all.

PyAV 18.1 names the side data kinds of FFmpeg 7 (up to VIDEO_HINT, 27), and builds a
frame's list of them whole, naming each: one kind FFmpeg 8 added raised ValueError out of
the reader. Its decoders attach such kinds beside ones vsr needs: a JPEG with an EXIF
orientation carries its EXIF (31) and, made from it, its display matrix, which says a
mirror that `frame.rotation` cannot (see vsr.video.display_matrix); the TIFF decoder
attaches EXIF to every frame. So only the entries of kinds PyAV cannot name are left out.

PyAV offers no way to take a frame's entries one by one: its list is built through the
`Type` enum, which fails on a number it lacks. For the frames with such a kind (only
those), the list is built while that enum answers an unknown number with a stand-in
member; the frame keeps that list, and the entries whose kind cannot be named (outside
that moment, asking raises ValueError again) are left out of what is handed on.
"""

from __future__ import annotations

import threading

import av
from av.sidedata.sidedata import Type

# The stand-in member of `Type` is put in place and taken away again by one thread at a
# time: two overlapping would remove it under the other.
_STAND_IN_LOCK = threading.Lock()


def side_data_of(frame: av.VideoFrame) -> list:
    """The frame's side data entries, less those of a kind PyAV cannot name."""
    try:
        entries = list(frame.side_data)
    except ValueError:
        with _STAND_IN_LOCK:
            own = Type.__dict__.get("_missing_")  # None: Enum's, inherited
            Type._missing_ = classmethod(_stand_in)
            try:
                entries = list(frame.side_data)
            finally:  # PyAV's enum as it was: it behaves as without vsr
                if own is None:
                    del Type._missing_
                else:
                    Type._missing_ = own
    # The frame keeps the list it built: its unnamed entries fail whenever asked their kind.
    return [entry for entry in entries if _named(entry)]


def _named(entry) -> bool:
    try:
        entry.type  # noqa: B018 (asked for the error it raises)
    except ValueError:
        return False
    return True


def _stand_in(enum: type[Type], value: object) -> Type:
    """A member of `Type` outside its list, for a kind number it does not name (Enum
    accepts from _missing_ any instance of the class, as Flag's combined values are)."""
    member = object.__new__(enum)
    member._name_ = f"UNNAMED_{value}"
    member._value_ = value
    return member
