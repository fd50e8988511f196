"""Timestamps stored in decode order (AVI) are given back in presentation order."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from vsr.video.pts_order import PresentationOrder
from vsr.video.reader import Frame, VideoReader


def _frames(times: list[int | None]) -> list[Frame]:
    return [Frame((np.zeros(1),) * 3, pts, index) for index, pts in enumerate(times)]


def test_times_in_decode_order_come_back_sorted_and_frames_keep_their_order():
    order = PresentationOrder(depth=4)
    # What libav gave an AVI's H.264 with B-frames, frame by frame in presentation order.
    out = list(order(iter(_frames([1, 4, 3, 5, 2, 8, 7, 9, 6, 10]))))
    assert [f.pts for f in out] == list(range(1, 11))
    assert [f.index for f in out] == list(range(10))
    assert order.restamped == 6


def test_times_in_order_and_missing_times_are_left_as_they_are():
    order = PresentationOrder(depth=4)
    times = [0, 3, 3, 7, None, 2, 9]  # a None: the times before it are placed first
    assert [f.pts for f in order(iter(_frames(times)))] == [0, 3, 3, 7, None, 2, 9]
    assert order.restamped == 0


def test_a_clock_that_jumps_back_is_not_mixed_into_the_times_before_it():
    # 100..111 then 0..11 came out 100..103, 0..11, 104..111.
    order = PresentationOrder(depth=4)
    times = [*range(100, 112), *range(12)]
    assert [f.pts for f in order(iter(_frames(times)))] == times
    assert order.restamped == 0


def _avi_with_b_frames(path: Path, count: int) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)  # x264's default: B-frames, pyramid
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(1)
        for index in range(count):
            picture = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)  # B-frames pay
            frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def test_an_avi_with_b_frames_is_read_with_rising_times(tmp_path):
    # Were 1, 4, 3, 5, 2, ...: the writer renumbered them, and frames stayed up for three.
    path = tmp_path / "b_frames.avi"
    _avi_with_b_frames(path, 20)
    with av.open(str(path)) as container:
        as_libav_gives = [f.pts for f in container.decode(video=0)]
    assert as_libav_gives != sorted(as_libav_gives)  # the case, as it is today
    with VideoReader(path) as reader:
        times = [frame.pts for frame in reader.frames()]
    assert times == sorted(as_libav_gives)
    assert any("decode order, as in AVI" in warning for warning in reader.warnings)
