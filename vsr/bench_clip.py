"""The synthetic clip `vsr bench` measures on: deterministic, any size, made in seconds.

The picture has what makes real video cost something to upscale and encode: smooth
gradients, fine texture, edges, and motion (a drifting texture and a moving square), so
the encoder's motion search and the network both have work. Every run with the same
arguments writes the same frames.

The clip is tagged BT.601 limited range. That is what swscale assumes for an untagged
frame, so the naive loop (written as a user writes it, with no colour arguments) converts
colours the same way the engine does, and the PSNR between them measures the engine, not a
matrix mismatch.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.errors import VsrError
from vsr.video.media_url import file_url

BT601 = 6  # AVColorSpace smpte170m
TV_RANGE = 1  # AVColorRange mpeg


def picture(width: int, height: int, index: int, chroma_shift: int) -> list[np.ndarray]:
    """Y, U, V uint8 planes of frame `index` (chroma subsampled by 2**chroma_shift)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # A gradient, a texture that drifts a little each frame, and a bright moving square.
    texture = np.sin((xx + 2.0 * index) * 0.31) * np.cos((yy - index) * 0.23)
    luma = 40.0 + 150.0 * (xx / max(1, width - 1)) * 0.6 + 90.0 * (yy / max(1, height - 1)) * 0.4
    luma += 25.0 * texture
    side = max(2, min(width, height) // 5)
    x0 = (index * 5) % max(1, width - side)
    y0 = (index * 3) % max(1, height - side)
    luma[y0 : y0 + side, x0 : x0 + side] = 225.0
    step = 1 << chroma_shift
    cy, cx = yy[::step, ::step], xx[::step, ::step]
    u = 128.0 + 40.0 * np.sin(cx * 0.05 * step + index * 0.1)
    v = 128.0 + 40.0 * np.cos(cy * 0.07 * step - index * 0.05)
    return [np.clip(p, 16, 240).round().astype(np.uint8) for p in (luma, u, v)]


def _video_frame(planes: list[np.ndarray], width: int, height: int, pix_fmt: str) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane, data in zip(frame.planes, planes, strict=True):
        # Encoder planes may carry padding at the end of each row.
        row = plane.line_size
        np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, row)[:, : data.shape[1]] = data
    frame.colorspace = BT601
    frame.color_range = TV_RANGE
    return frame


def _woven(top: list[np.ndarray], bottom: list[np.ndarray]) -> list[np.ndarray]:
    """The planes of an interlaced frame: even rows from `top`, odd rows from `bottom`."""
    woven = [plane.copy() for plane in top]
    for plane, later in zip(woven, bottom, strict=True):
        plane[1::2] = later[1::2]
    return woven


def top_field_first(frame: av.VideoFrame) -> av.VideoFrame:
    """`frame` marked interlaced, top field first (libavfilter's setfield): libx264 codes
    the field order each frame is marked with, and an unmarked frame bottom field first."""
    graph = av.filter.Graph()
    source = graph.add_buffer(template=frame, time_base=frame.time_base)
    marked, sink = graph.add("setfield", "tff"), graph.add("buffersink")
    source.link_to(marked)
    marked.link_to(sink)
    graph.configure()
    graph.push(frame)
    return graph.pull()


def check_clip_shape(width: int, height: int, frames: int) -> None:
    """The bench clip can be made: even sides of at least 2 (4:2:0), one frame or more."""
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise VsrError(f"bench clip size must be even and at least 2x2, not {width}x{height}")
    if frames < 1:
        raise VsrError(f"--frames must be at least 1, not {frames}")


def make_bench_clip(
    path: str | Path,
    width: int,
    height: int,
    frames: int,
    *,
    lossless: bool = False,
    rate: int = 25,
    interlaced: bool = False,
) -> Path:
    """Write the bench's source clip and return its path.

    Default: H.264 4:2:0, the kind of file users bring, in the container `path` names.
    `lossless`: FFV1 4:4:4, so that no chroma resampling or coding loss stands between the
    two outputs (Matroska holds it). `interlaced`: H.264 coded interlaced, top field first,
    each field a moment of its own (the picture of moment 2i on even rows, 2i + 1 on odd
    ones), as a 1080i camera takes it: what deinterlacing and --field-rate cost."""
    check_clip_shape(width, height, frames)
    if interlaced and lossless:
        raise VsrError("the bench clip is either lossless or interlaced, not both")
    path = Path(path)
    if lossless:
        codec, pix_fmt, options, shift = "ffv1", "yuv444p", {}, 0
    else:
        codec, pix_fmt, options, shift = "libx264", "yuv420p", {"preset": "ultrafast"}, 1
        options["crf"] = "16"
        if interlaced:
            options["x264-params"] = "tff=1"
    with av.open(file_url(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        time_base = Fraction(1, rate)
        stream.codec_context.time_base = time_base
        stream.time_base = time_base  # a request: the muxer may pick another one
        stream.codec_context.colorspace = BT601
        stream.codec_context.color_range = TV_RANGE
        stream.codec_context.color_primaries = BT601
        stream.codec_context.color_trc = BT601
        for index in range(frames):
            if interlaced:
                planes = _woven(
                    picture(width, height, 2 * index, shift),
                    picture(width, height, 2 * index + 1, shift),
                )
            else:
                planes = picture(width, height, index, shift)
            frame = _video_frame(planes, width, height, pix_fmt)
            frame.pts = index
            frame.time_base = time_base
            container.mux(stream.encode(top_field_first(frame) if interlaced else frame))
        container.mux(stream.encode(None))
    return path
