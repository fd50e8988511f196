"""Timestamps stored in decode order (AVI) are given back in presentation order."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from media import frame_from_planes, picture_planes

from vsr.video.pts_order import PresentationOrder
from vsr.video.reader import Frame, VideoReader
from vsr.video.trim import TimeRange


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


def test_a_time_repeating_one_handed_out_is_sorted_in_not_taken_for_a_jump_back():
    # An AVI with a repeated decode time: the second 0 equals the 0 already handed out. Taken
    # for a clock going back, it flushed the window and came out last (0, 2, 4, 0).
    order = PresentationOrder(depth=2)
    assert [f.pts for f in order(iter(_frames([4, 0, 2, 0])))] == [0, 0, 2, 4]


def _avi_with_b_frames(path: Path, count: int) -> None:
    """Moving pictures as H.264 with three B-frames in a pyramid, in AVI."""
    options = {"bf": "3", "b-pyramid": "normal", "crf": "30"}
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(count):
            frame = frame_from_planes(picture_planes(64, 48, index), "yuv420p")
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


def test_a_cut_of_an_avi_with_b_frames_holds_exactly_the_frames_in_it(tmp_path):
    # The range was judged on the decode-order times: frames 24-46 of 24-48, "2 frame(s)
    # could not be decoded", and a resume showed one frame twice and lost another.
    path = tmp_path / "b_frames.avi"
    _avi_with_b_frames(path, 60)
    with VideoReader(path) as reader:
        whole = [(f.pts, f.planes[0].tobytes()) for f in reader.frames()]
        tick = reader.info.time_base
    with VideoReader(path, TimeRange(1, 2)) as reader:
        cut = [f.planes[0].tobytes() for f in reader.frames()]
        assert reader.lost_frames == 0
    inside = [picture for pts, picture in whole if 1 <= pts * tick < 2]
    assert len(cut) == 25 and cut == inside


def test_a_resume_in_an_avi_with_b_frames_goes_on_with_the_next_frame(tmp_path):
    path = tmp_path / "b_frames.avi"
    _avi_with_b_frames(path, 60)
    with VideoReader(path) as reader:
        whole = [(f.pts, f.planes[0].tobytes()) for f in reader.frames()]
    with VideoReader(path) as reader:
        reader.resume_after(whole[29][0])  # an earlier run stopped after 30 frames
        rest = [(f.pts, f.planes[0].tobytes()) for f in reader.frames()]
        assert reader.lost_frames == 0
    assert rest == whole[30:]
