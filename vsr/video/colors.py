"""Colour tags: FFmpeg's numeric codes <-> the names vsr uses in VideoInfo and reports.

Names follow FFmpeg's own (``ffprobe`` prints the same strings), except that the two
equivalent BT.601 matrices (bt470bg and smpte170m) are both called "bt601" for the
conversion maths; the exact tag is kept separately so it can be written back unchanged.
"""

from __future__ import annotations

# The "matrix" of planes that hold an RGB picture as G, B, R (FFmpeg's planar RGB order):
# an RGB source's planes, repacked, and an RGB output's. vsr.ops.yuv reads and writes them
# without a matrix; its tag is "rgb".
GBR = "gbr"

# AVColorSpace (the YUV<->RGB matrix).
MATRIX_TAGS = {
    0: "rgb",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    14: "ictcp",
}
# AVColorPrimaries.
PRIMARIES = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
# AVColorTransferCharacteristic.
TRANSFERS = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
UNSPECIFIED = 2  # the "unspecified" code of all three enums above
RANGE_CODES = {"tv": 1, "pc": 2}  # AVColorRange: 0 is unspecified, which means tv


def matrix_for_maths(tag: str) -> str:
    """The matrix the conversion maths uses for a tag: both BT.601 variants are one matrix."""
    return "bt601" if tag in ("bt470bg", "smpte170m") else tag


def guess_matrix(width: int, height: int) -> str:
    """What players assume for an untagged clip: HD is BT.709. HD by its width too, as mpv
    and libplacebo judge it: a 1280x544 film (720p cropped to 2.39:1) is HD, and was
    converted as BT.601 and tagged so, its colours shifted against what the player showed."""
    return "bt709" if width >= 1280 or height > 576 else "bt601"


def range_name(code: int) -> str:
    return "pc" if code == RANGE_CODES["pc"] else "tv"


def code_of(table: dict[int, str], name: str | None) -> int:
    """The FFmpeg code for a tag name (unspecified when unknown or None)."""
    if name == "bt601":
        return 6  # smpte170m: the common tag for BT.601 material
    for code, tag in table.items():
        if tag == name:
            return code
    return UNSPECIFIED
