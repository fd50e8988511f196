"""Decoded frames as the engine's planes.

A clip's frames become planar YUV of its first frame's format (info.pix_fmt), or planar RGB
for an RGB-like source, which the engine reads as it is. swscale does the conversions; what
it gets wrong or cannot know is mended here: RGB of fewer than 8 bits a component is
stretched to white, and a frame whose size, pixel format, colour matrix or range differs
from the first's (joined recordings, a broadcast's change of programme) is converted to the
first's, with a note, as ffmpeg does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import av
import numpy as np
from av.video.reformatter import Colorspace

from vsr.video import colors
from vsr.video.pixfmt import is_grey, parse_planar, planar_name, planar_rgb_name

if TYPE_CHECKING:
    from vsr.video.reader import VideoInfo


# The matrices swscale converts between, by PyAV's names for them (SWS_CS_*, not the
# AVColorSpace codes of vsr.video.colors: a code it does not know, as 6 for smpte170m, is
# taken as "the frame's own", which converted nothing).
_SWSCALE_MATRICES = {
    "bt601": Colorspace.ITU601,
    "bt709": Colorspace.ITU709,
    "fcc": Colorspace.FCC,
    "smpte240m": Colorspace.SMPTE240M,
    "bt2020nc": Colorspace.BT2020,
}


def _plane_arrays(frame: av.VideoFrame, bit_depth: int) -> list[np.ndarray]:
    """A planar frame's first three planes as C-contiguous arrays without line padding."""
    dtype = np.dtype(np.uint8 if bit_depth == 8 else "<u2")
    planes = []
    for plane in frame.planes[:3]:
        row = plane.line_size // dtype.itemsize
        view = np.frombuffer(plane, dtype=dtype).reshape(plane.height, row)
        planes.append(np.ascontiguousarray(view[:, : plane.width]))
    return planes


def _range_code_of(frame: av.VideoFrame) -> int:
    """The range code a frame's values are in: full for yuvj formats, whatever the tag."""
    full = frame.format.name.startswith("yuvj") or frame.color_range == colors.RANGE_CODES["pc"]
    return colors.RANGE_CODES["pc" if full else "tv"]


class FramePlanes:
    """Turns a clip's decoded frames into planes; its notes go to `warnings`."""

    def __init__(self, info: VideoInfo, first: av.VideoFrame, warnings: list[str]) -> None:
        self.info = info
        self._warnings = warnings
        self._conversion = self._conversion_for(first)
        self._widen = self._widening_tables(first)
        self._first_tag_range = colors.range_name(first.color_range)  # see _range_changed
        self._first_range = _range_code_of(first)  # see _like_the_first
        self._range_noted = self._reshape_noted = self._matrix_noted = False

    def _conversion_for(self, frame: av.VideoFrame) -> list[dict]:
        """The swscale calls (their arguments) that bring a source frame to info.pix_fmt:
        none or one. An RGB-like source is only repacked to planar RGB
        (info.rgb_planes): the engine reads RGB from it as it is, where swscale's RGB -> YUV
        would be biased against the engine's inverse (about +1 code of green at 8 bits,
        +1.4 of luma at 10) and cost a conversion."""
        if self.info.rgb_planes:
            planar_rgb = planar_rgb_name(self.info.bit_depth)
            return [] if frame.format.name == planar_rgb else [{"format": planar_rgb}]
        if frame.format.name == self.info.pix_fmt:
            return []
        source_range = colors.RANGE_CODES["pc"] if frame.format.name.startswith("yuvj") else None
        conversion = {**self._to_planar_yuv(), "src_color_range": source_range}
        if is_grey(frame.format) and self.info.color_range == "tv":
            # swscale takes grey as full range whatever it is told, and squeezed a limited
            # grey's 16-235 into 30-218 on the way to limited YUV: told the destination is
            # full range too, it copies the codes as they are.
            conversion["dst_color_range"] = colors.RANGE_CODES["pc"]
        return [conversion]

    def _to_planar_yuv(self) -> dict:
        """swscale arguments to info's planar YUV, matrix and range."""
        matrix_code = colors.code_of(colors.MATRIX_TAGS, self.info.color_matrix)
        return {
            "format": self.info.pix_fmt,
            "src_colorspace": matrix_code,
            "dst_colorspace": matrix_code,
            "dst_color_range": colors.RANGE_CODES[self.info.color_range],
        }

    def _matrix_of(self, frame: av.VideoFrame) -> str:
        """The matrix a YUV frame's values are in, for the maths: its tag's. An untagged
        frame, and one of RGB or grey, which no matrix converts, count as the clip's."""
        tag = colors.MATRIX_TAGS.get(frame.colorspace)
        grey = is_grey(frame.format)
        if tag in (None, "rgb") or grey or frame.format.is_rgb or self.info.rgb_planes:
            return self.info.color_matrix
        return colors.matrix_for_maths(tag)

    def _convertible(self, matrix: str) -> bool:
        """Whether a frame in `matrix` is converted to the first frame's: another matrix,
        both of them ones swscale converts between (others, YCgCo, ICtCp, are read in the
        first's, as before)."""
        return matrix != self.info.color_matrix and {matrix, self.info.color_matrix} <= set(
            _SWSCALE_MATRICES
        )

    def _reshaped(self, frame: av.VideoFrame) -> bool:
        """Whether a frame has another size or pixel format than the first."""
        info = self.info
        size_and_format = (frame.width, frame.height, frame.format.name)
        return size_and_format != (info.width, info.height, info.source_pix_fmt)

    def _like_the_first(self, frame: av.VideoFrame, number: int) -> av.VideoFrame:
        """A frame of another size, pixel format or colour matrix than the first (a stream
        joined from different recordings, a broadcast's change of programme) scaled and
        converted to the first's, as ffmpeg does: an output has one size, and the engine
        reads every frame with the first's matrix. A note says so once for each kind."""
        info = self.info
        reshaped, matrix = self._reshaped(frame), self._matrix_of(frame)
        recoloured = self._convertible(matrix)
        if (reshaped and not self._reshape_noted) or (recoloured and not self._matrix_noted):
            self._say_how_it_changes(frame, number, reshaped, matrix)
        range_codes = {
            "src_color_range": _range_code_of(frame),
            "dst_color_range": self._first_range,
        }
        if not recoloured:
            return frame.reformat(
                width=info.width,
                height=info.height,
                format=info.source_pix_fmt,
                interpolation="BICUBIC",
                **range_codes,
            )
        # Through 16 bits: swscale's 8-bit YCbCr -> YCbCr change of matrix rounds badly
        # (BT.601 Y 100, Cb 80, Cr 200 came out as Y 88 in BT.709, where 90.2 is right). At
        # the clip's chroma size: through 4:4:4, colour edges came back up to 35 codes off.
        _, chroma_shift = parse_planar(info.pix_fmt)  # type: ignore[misc]
        wide = frame.reformat(
            width=info.width,
            height=info.height,
            format=planar_name(16, chroma_shift),
            interpolation="BICUBIC",
            src_colorspace=_SWSCALE_MATRICES[matrix],
            dst_colorspace=_SWSCALE_MATRICES[info.color_matrix],
            **range_codes,
        )
        first_range = {"src_color_range": self._first_range, "dst_color_range": self._first_range}
        return wide.reformat(format=info.source_pix_fmt, **first_range)

    def _say_how_it_changes(
        self, frame: av.VideoFrame, number: int, reshaped: bool, matrix: str
    ) -> None:
        """The note of _like_the_first: what changes, and what it is converted to."""
        info = self.info
        recoloured = self._convertible(matrix)
        self._reshape_noted |= reshaped
        self._matrix_noted |= recoloured
        if not reshaped:
            self._warnings.append(
                f"the colour matrix changes mid-stream ({matrix} from frame {number}): those "
                f"frames are converted to the first frame's {info.color_matrix}"
            )
            return
        resized = (frame.width, frame.height) != (info.width, info.height)
        in_matrix, in_first = (f" {matrix}", f" {info.color_matrix}") if recoloured else ("", "")
        self._warnings.append(
            f"the video changes to {frame.width}x{frame.height} {frame.format.name}{in_matrix} "
            f"mid-stream (from frame {number}): those frames are "
            f"{'scaled and ' if resized else ''}converted to the first frame's "
            f"{info.width}x{info.height} {info.source_pix_fmt}{in_first}"
        )

    def _range_changed(self, frame: av.VideoFrame, number: int) -> bool:
        """Whether a YUV frame is tagged with another range than the clip's (a recording
        joined from a limited- and a full-range part): it is then converted to the clip's
        range, which the engine works in, and a note says so once."""
        if self.info.rgb_planes or self.info.color_range != self._first_tag_range:
            return False  # RGB, yuvj and untagged grey: full range, whatever the tag
        if colors.range_name(frame.color_range) == self.info.color_range:
            return False
        if is_grey(frame.format) and self.info.color_range == "pc":
            # swscale takes grey as full range whatever it is told: it cannot widen a
            # limited grey frame (its codes came through, "converted" said the note).
            # Kept as it is; a limited frame in a limited grey clip is squeezed rightly.
            return False
        if not self._range_noted:
            self._range_noted = True
            self._warnings.append(
                f"the colour range changes mid-stream ({colors.range_name(frame.color_range)}"
                f" from frame {number}): those frames are converted to the "
                f"first frame's {self.info.color_range} range"
            )
        return True

    def __call__(
        self, frame: av.VideoFrame, number: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The planes of a decoded frame, the `number`-th of the clip (for the notes)."""
        conversion = self._conversion
        if self._reshaped(frame) or self._convertible(self._matrix_of(frame)):
            frame = self._like_the_first(frame, number)  # its range too
        elif self._range_changed(frame, number):
            conversion = [{**self._to_planar_yuv(), "src_color_range": frame.color_range}]
        for step in conversion:
            frame = frame.reformat(**step)
        planes = _plane_arrays(frame, self.info.bit_depth)
        for index, table in enumerate(self._widen):
            if table is not None:
                planes[index] = table[planes[index]]
        return planes[0], planes[1], planes[2]

    def _widening_tables(self, frame: av.VideoFrame) -> list[np.ndarray | None]:
        """Per plane, a table that stretches codes swscale leaves short of white to the
        full range, where it widens RGB of fewer than 8 bits a component by padding with
        zero bits (rgb444: white comes in as 240, bgr8: 252, rgb555: 248); the stretch is
        the bit replication a player does. None where white comes through."""
        if not self.info.rgb_planes or self.info.bit_depth != 8:
            return [None] * 3
        if frame.format.has_palette or frame.format.is_bayer:
            # swscale reads these but cannot write them, so white cannot be made in them
            # to measure; their entries and samples are 8 bits, and white comes through.
            return [None] * 3
        white = av.VideoFrame.from_ndarray(np.full((2, 2, 3), 255, np.uint8), "rgb24")
        white = white.reformat(format=frame.format.name)
        for step in self._conversion:
            white = white.reformat(**step)
        tops = [int(plane.max()) for plane in _plane_arrays(white, 8)]
        codes = np.arange(256)
        return [
            None
            if top in (0, 255)
            else np.minimum(np.rint(codes * 255 / top), 255).astype(np.uint8)
            for top in tops
        ]
