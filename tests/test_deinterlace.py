"""Interlaced sources: deinterlaced (bwdif) before upscaling, one frame per frame, at the
frames' own times; `--deinterlace auto` (the default), `all` and `off`."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
from media import (
    comb_strength,
    combed_picture,
    make_interlaced_clip,
    make_interlaced_file,
    top_field_first,
)

from vsr import upscale_video
from vsr.cli import main
from vsr.errors import VsrError
from vsr.video.deinterlace import Deinterlacer
from vsr.video.reader import VideoReader
from vsr.video.trim import time_range

# comb_strength of the test pictures' luma: about 45 woven; deinterlaced, 0-0.1, and up to
# 3.5 for the first frame bwdif meets (it has no frame before it to take motion from).
COMBED, CLEAN = 30, 6


def _lumas(path, deinterlace: str) -> tuple[list[float], list[int | None], list[str]]:
    """(comb strength of each delivered frame's luma, its pts, the reader's notes)."""
    with VideoReader(path, deinterlace=deinterlace) as reader:
        frames = list(reader.frames())
        notes = list(reader.warnings)
    return [comb_strength(frame.planes[0]) for frame in frames], [f.pts for f in frames], notes


def test_each_frame_keeps_its_first_field_in_time(tmp_path):
    # The clip is top field first: the bar of frame i lies at columns 4 + 8i to 15 + 8i
    # on even rows, 4 pixels further on odd ones. A frame rebuilt around the bottom field
    # (the parity misread) would show it 4 pixels right, half a frame late.
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=4)
    with VideoReader(clip, deinterlace="auto") as reader:
        for frame in reader.frames():
            bright = frame.planes[0][2:-2] > 125  # the edge rows are rebuilt from one side
            left = 4 + 8 * frame.index
            columns = np.flatnonzero(bright.any(axis=0))
            assert (columns.min(), columns.max()) == (left, left + 11)
            assert bright[:, left : left + 12].all()


def test_a_field_order_asked_for_wins_over_the_frames_marks(tmp_path):
    # The clip is marked (and is) top field first: "bff" keeps the bottom field, whose bar
    # lies 4 pixels further right; "tff" the top one, as "auto" does.
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=4)
    for mode, shift in (("tff", 0), ("bff", 4)):
        with VideoReader(clip, deinterlace=mode) as reader:
            frames = list(reader.frames())
            notes = reader.warnings
        for frame in frames:
            # Columns bright on every row: the first frame, rebuilt without a frame before
            # it, is partly bright 4 pixels further on some rows.
            columns = np.flatnonzero((frame.planes[0][2:-2] > 125).all(axis=0))
            left = 4 + 8 * frame.index + shift
            assert (columns.min(), columns.max()) == (left, left + 11)
        first = "top" if mode == "tff" else "bottom"
        assert notes == [
            f"4 frames were deinterlaced (bwdif, deinterlace={mode!r}; 4 of them marked "
            f"interlaced, each taken as {first} field first), one frame per frame at its own "
            "time, so the frame rate stays"
        ]


def test_frames_marked_interlaced_are_deinterlaced_at_their_own_times(tmp_path):
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=6)
    combs, pts, notes = _lumas(clip, "auto")
    woven, woven_pts, off_notes = _lumas(clip, "off")
    assert min(woven) > COMBED
    assert max(combs) < CLEAN
    assert pts == woven_pts and len(pts) == 6  # nothing dropped, added or moved
    assert notes == [
        "the video is interlaced: 6 frames were deinterlaced (bwdif) before upscaling, one "
        "frame per frame at its own time, so the frame rate stays"
    ]
    assert off_notes == [
        "the video is interlaced (6 frames): both fields of each frame were upscaled together "
        "and written as progressive frames (deinterlace='auto' deinterlaces them first)"
    ]


def test_auto_leaves_progressive_frames_alone_and_all_takes_every_frame(tmp_path):
    clip = tmp_path / "unmarked.ts"
    make_interlaced_clip(clip, frames=4, marked=False)  # combed, but marked progressive
    with VideoReader(clip, deinterlace="auto") as auto, VideoReader(clip) as off:
        pairs = list(zip(auto.frames(), off.frames(), strict=True))
        assert auto.deinterlaced_frames == 0 and auto.warnings == []
    for kept, plain in pairs:
        for one, other in zip(kept.planes, plain.planes, strict=True):
            np.testing.assert_array_equal(one, other)
    combs, _, notes = _lumas(clip, "all")
    assert max(combs) < CLEAN
    assert notes == [
        "4 frames were deinterlaced (bwdif, deinterlace='all'; 0 of them marked interlaced, "
        "the others taken as top field first), one frame per frame at its own time, so the "
        "frame rate stays"
    ]


def test_interlaced_frames_after_progressive_ones_are_named_from_where_they_start(tmp_path):
    clip = tmp_path / "joined.ts"
    make_interlaced_clip(clip, frames=6, progressive_first=2)
    with VideoReader(clip, deinterlace="auto") as auto, VideoReader(clip) as off:
        pairs = list(zip(auto.frames(), off.frames(), strict=True))
        notes = auto.warnings
    for kept, plain in pairs[:2]:  # before the first interlaced frame: not touched
        np.testing.assert_array_equal(kept.planes[0], plain.planes[0])
    assert [comb_strength(frame.planes[0]) < CLEAN for frame, _ in pairs] == [False] * 2 + [
        True
    ] * 4
    assert notes == [
        "the video is interlaced from frame 3 on: 4 frames were deinterlaced (bwdif) before "
        "upscaling, one frame per frame at its own time, so the frame rate stays"
    ]


def _frame(picture: np.ndarray, pts: int) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format="yuv420p")
    frame.pts, frame.time_base = pts, Fraction(1, 25)
    return frame


def test_a_change_of_frame_size_starts_the_filter_anew_and_keeps_the_order():
    small = [_frame(combed_picture(i), i) for i in range(3)]
    large = [_frame(combed_picture(i, width=96, height=64), 3 + i) for i in range(2)]
    deinterlacer = Deinterlacer("all")
    out = list(deinterlacer((frame, f"tag{frame.pts}") for frame in small + large))
    assert [tag for _, tag in out] == [f"tag{i}" for i in range(5)]
    assert [(f.width, f.height) for f, _ in out] == [(64, 48)] * 3 + [(96, 64)] * 2
    assert all(comb_strength(f.to_ndarray(format="gray")) < CLEAN for f, _ in out)
    assert deinterlacer.deinterlaced_frames == 5


def test_progressive_frames_after_interlaced_ones_are_not_counted_as_deinterlaced():
    # bwdif takes them too, for their neighbours' sake, and hands them back untouched.
    frames = [_frame(combed_picture(i), i) for i in range(6)]
    frames[:3] = [top_field_first(frame) for frame in frames[:3]]
    deinterlacer = Deinterlacer("auto")
    assert len(list(deinterlacer((frame, frame.pts) for frame in frames))) == 6
    assert deinterlacer.deinterlaced_frames == 3
    assert deinterlacer.note().startswith("the video is interlaced: 3 frames were deinterlaced")


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "nv12", "yuyv422"])
def test_a_still_picture_comes_through_in_its_own_format_range_and_matrix(pix_fmt):
    # libavfilter converts NV12 and YUYV for bwdif and back: on frames it was not told the
    # colour of, it converted full-range BT.709 as if from BT.601 limited (22 codes off).
    picture = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    frames = []
    for pts in range(3):
        frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format=pix_fmt)
        frame.colorspace, frame.color_range = 1, 2  # BT.709, full range
        frame.pts, frame.time_base = pts, Fraction(1, 25)
        frames.append(frame)
    out = [frame for frame, _ in Deinterlacer("all")((frame, None) for frame in frames)]
    planar = "yuv422p" if pix_fmt == "yuyv422" else "yuv420p"
    # The first frame has no frame before it to take the other field from; the next ones
    # are rebuilt exactly, as nothing moved.
    for made, source in zip(out[1:], frames[1:], strict=True):
        assert (made.format.name, made.colorspace, made.color_range) == (pix_fmt, 1, 2)
        np.testing.assert_array_equal(
            made.reformat(format=planar).to_ndarray(), source.reformat(format=planar).to_ndarray()
        )


def test_frames_too_small_for_bwdif_go_as_they_came_with_a_note():
    # bwdif takes frames from 6x8 up; a 4x4 frame after 64x48 ones meets it mid-clip.
    frames = [_frame(combed_picture(i), i) for i in range(2)]
    frames += [_frame(np.full((4, 4, 3), 9 * i, np.uint8), 2 + i) for i in range(2)]
    deinterlacer = Deinterlacer("all")
    out = list(deinterlacer((frame, frame.pts) for frame in frames))
    assert [tag for _, tag in out] == [0, 1, 2, 3]
    assert out[2][0] is frames[2] and out[3][0] is frames[3]
    assert deinterlacer.deinterlaced_frames == 2
    assert deinterlacer.note().startswith(
        "the video was not deinterlaced: bwdif cannot take 4x4 yuv420p frames ("
    )


def test_the_run_deinterlaces_by_default_and_reports_it(tmp_path, weights):
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=4)
    reports = {}
    for mode in ("auto", "off"):
        out, report = tmp_path / f"{mode}.mkv", tmp_path / f"{mode}.json"
        flag = [] if mode == "auto" else ["--deinterlace", "off"]
        command = ["run", clip, out, "--weights", weights, "--report", report, *flag]
        assert main([*map(str, command), "--quiet"]) == 0
        reports[mode] = json.loads(report.read_text())
        with av.open(str(out)) as written:
            assert [f.time for f in written.decode(video=0)] == [0, 0.04, 0.08, 0.12]
    assert reports["auto"]["deinterlaced_frames"] == 4
    assert reports["off"]["deinterlaced_frames"] == 0
    assert any("4 frames were deinterlaced" in note for note in reports["auto"]["notes"])


# Every 4th frame a keyframe, or every frame in MP4 (whose index lands a seek on the frame
# before the cut: MPEG-TS lands on the cut's own and seeks further back); frames marked
# interlaced under auto, or unmarked ones under all. The bar stops at the cut's first
# frame: only the frame before it shows bwdif that its bar moved (a bar moving on after
# it looks like motion with or without that frame, and is rebuilt alike).
@pytest.mark.parametrize(
    ("keyframe_every", "marked", "mode", "suffix"),
    [(4, True, "auto", ".ts"), (1, True, "auto", ".mp4"), (4, False, "all", ".ts")],
)
def test_a_cut_starting_on_a_keyframe_comes_out_as_in_the_whole_clip(
    tmp_path, keyframe_every, marked, mode, suffix
):
    # A seek to a keyframe decodes nothing before it: the cut's first frame (as each
    # segment's of --segments) was rebuilt without its neighbour, unlike the whole clip's.
    clip = tmp_path / f"interlaced{suffix}"
    if suffix == ".ts":
        make_interlaced_clip(
            clip, frames=12, marked=marked, keyframe_every=keyframe_every, still_from=4
        )
    else:
        make_interlaced_file(clip, frames=12, keyframe_every=keyframe_every, still_from=4)
    with av.open(str(clip)) as container:
        keyframes = [frame.key_frame for frame in container.decode(video=0)]
    assert keyframes == [index % keyframe_every == 0 for index in range(12)]
    with VideoReader(clip, deinterlace=mode) as whole:
        frames = list(whole.frames())
    with VideoReader(clip, time_range(0.16, 0.32, None), deinterlace=mode) as cut:
        in_cut = list(cut.frames())
    assert len(in_cut) == 4
    for made, wanted in zip(in_cut, frames[4:8], strict=True):
        for plane, wanted_plane in zip(made.planes, wanted.planes, strict=True):
            np.testing.assert_array_equal(plane, wanted_plane)


def test_a_part_starting_at_the_first_interlaced_frame_comes_out_as_in_the_whole_clip(tmp_path):
    # Under "auto" the whole clip's first interlaced frame was rebuilt without the
    # progressive one before it (bwdif started there), a cut's or a resume's from it: up
    # to 170 codes apart in an audit's broadcast.
    clip = tmp_path / "mixed.ts"
    make_interlaced_clip(clip, frames=8, progressive_first=4)
    with VideoReader(clip, deinterlace="auto") as whole:
        frames = list(whole.frames())
    with VideoReader(clip, time_range(0.16, None, None), deinterlace="auto") as cut:
        in_cut = list(cut.frames())
    with VideoReader(clip, deinterlace="auto") as resumed:
        resumed.resume_after(frames[3].pts, kept=4)
        after_resume = list(resumed.frames())
    for part in (in_cut, after_resume):
        assert len(part) == 4
        for made, wanted in zip(part, frames[4:], strict=True):
            for plane, wanted_plane in zip(made.planes, wanted.planes, strict=True):
                np.testing.assert_array_equal(plane, wanted_plane)


def test_an_unknown_mode_is_refused_in_words(tmp_path, weights):
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=2)
    with pytest.raises(
        VsrError, match="deinterlace must be one of auto, all, tff, bff, film, off, not 'yes'"
    ):
        upscale_video(clip, tmp_path / "out.mkv", weights=weights, deinterlace="yes")
    assert not (tmp_path / "out.mkv").exists()


def test_the_frames_at_the_edges_of_a_resume_or_a_cut_come_out_as_in_the_whole_clip(tmp_path):
    # bwdif rebuilds a frame from its neighbours: the first frame after a --resume point and
    # the last before an --end were made without the neighbour the reader had decoded and
    # dropped, so a resumed file differed from an uninterrupted run's at that frame.
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=8)
    with VideoReader(clip, deinterlace="auto") as whole:
        frames = list(whole.frames())
    with VideoReader(clip, deinterlace="auto") as resumed:
        resumed.resume_after(frames[3].pts, kept=4)
        after_resume = list(resumed.frames())
    with VideoReader(clip, time_range(0, 0.2, None), deinterlace="auto") as cut:
        in_cut = list(cut.frames())
    assert len(after_resume) == 4 and len(in_cut) == 5
    for made, want in zip(after_resume + in_cut, frames[4:] + frames[:5], strict=True):
        for plane, wanted_plane in zip(made.planes, want.planes, strict=True):
            np.testing.assert_array_equal(plane, wanted_plane)
