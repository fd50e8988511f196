"""`vsr run --field-rate`: one output frame per field (50i -> 50p, 59.94i -> 59.94p), each
showing its own field's moment, half a frame after the one before, every stream in step."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import (
    caption_triplets,
    comb_strength,
    make_captioned_clip,
    make_clip,
    make_interlaced_clip,
    make_interlaced_file,
    tone_at,
)
from test_resume import assert_resumed_run_equals_whole

import vsr.video.parallel_writer as parallel_writer
from vsr.cli import main
from vsr.cluster_segments import run_split
from vsr.errors import VsrError
from vsr.runner import upscale_video
from vsr.video.reader import VideoReader
from vsr.video.trim import time_range

NTSC = Fraction(30000, 1001)


def vsr(*args: object) -> int:
    return main(["run", *map(str, args), "--quiet"])


def bar_columns(luma: np.ndarray) -> tuple[int, int]:
    """The first and last column of the bright bar, where every row but the edge ones
    (rebuilt from one side) shows it."""
    columns = np.flatnonzero((luma[2:-2] > 125).all(axis=0))
    return int(columns.min()), int(columns.max())


def times(path: Path) -> list[Fraction]:
    """Each video frame's time from the first frame's, exactly."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    first = frames[0].pts * frames[0].time_base
    return [frame.pts * frame.time_base - first for frame in frames]


def tone_at_first_frame(path: Path) -> float:
    """Where in the rising tone (tone_at, in s) the sound is at the first video frame's
    time. Sample times run on from the first audio frame's: Matroska's millisecond stamps
    are too coarse for a tone."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        first = (video.start_time or 0) * video.time_base
        decoded = list(container.decode(audio=0))
    samples = np.concatenate(
        [frame.to_ndarray().reshape(-1, frame.samples)[0] for frame in decoded]
    )
    heard = float(decoded[0].pts * decoded[0].time_base - first)
    at = heard + np.arange(len(samples)) / decoded[0].sample_rate
    inside = (at > 0.03) & (at < 0.15)  # clear of the codecs' edges

    def error(offset: float) -> float:
        expected = tone_at(at[inside] + offset, chirp=True)
        return float(np.sqrt(np.mean((samples[inside] - expected) ** 2)))

    # The rising tone matches itself at no other shift.
    return min(np.arange(-0.2, 0.3, 0.000125), key=error)


def test_each_field_becomes_a_frame_half_a_frame_after_the_one_before(tmp_path):
    # Frame i's bar lies at 4 + 8i on its top field (first in time), 4 pixels further on
    # its bottom field: the frames delivered show one, then the other, 1/50 s apart.
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=6)
    with VideoReader(clip, deinterlace="auto", field_rate=True) as reader:
        frames = list(reader.frames())
        info, notes = reader.info, reader.warnings
    assert (info.time_base, info.average_rate, info.frames_to_expect()) == (
        Fraction(1, 180000),
        50,
        (12, True),
    )
    assert [frame.pts * info.time_base for frame in frames] == [Fraction(k, 50) for k in range(12)]
    assert [frame.index for frame in frames] == list(range(12))
    assert [bar_columns(frame.planes[0]) for frame in frames] == [
        (4 + 4 * k, 15 + 4 * k) for k in range(12)
    ]
    assert max(comb_strength(frame.planes[0]) for frame in frames) < 6
    assert notes == [
        "the video is interlaced: 6 frames were deinterlaced (bwdif) before upscaling, one "
        "frame per field (field_rate=True): 6 frames became 12, at twice the frame rate"
    ]


def test_a_field_order_asked_for_puts_that_field_first(tmp_path):
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=4)
    with VideoReader(clip, deinterlace="bff", field_rate=True) as reader:
        frames = list(reader.frames())
    # The bottom field first: the later picture, then the earlier one, of each frame.
    expected = [(8 + 8 * (k // 2) - 4 * (k % 2), 19 + 8 * (k // 2) - 4 * (k % 2)) for k in range(8)]
    assert [bar_columns(frame.planes[0]) for frame in frames] == expected


def test_59_94i_becomes_59_94p_in_a_time_base_that_holds_half_a_frame(tmp_path, weights):
    # 3003 ticks of 1/90000 a frame: half a frame (1501.5) is no tick of the source's.
    clip, out, report = tmp_path / "ntsc.ts", tmp_path / "out.mp4", tmp_path / "report.json"
    make_interlaced_clip(clip, frames=6, rate=NTSC, sound=True)
    assert vsr(clip, out, "--weights", weights, "--field-rate", "--report", report) == 0
    assert times(out) == [Fraction(1001 * k, 60000) for k in range(12)]
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.average_rate, video.frames) == (2 * NTSC, 12)
        # The last frame ends half a frame after it starts: the video lasts 6 frames.
        assert video.duration * video.time_base == 6 / NTSC
    written = json.loads(report.read_text())
    assert (written["frames"], written["field_rate"], written["deinterlaced_frames"]) == (
        12,
        True,
        6,
    )
    assert "6 frames became 12, at twice the frame rate" in written["notes"][0]
    assert abs(tone_at_first_frame(out) - tone_at_first_frame(clip)) <= 0.001


def test_a_variable_rate_puts_each_second_field_halfway_to_the_next_frame(tmp_path):
    # Frames 40, 40, 60, 20, 100 and 33 ms apart (MP4, 1/16000): the second field of the
    # 33 ms frame lies 16.5 ms on, which the halved time base holds; the last frame's own
    # length (where the track ends) halves too.
    clip = tmp_path / "vfr.mp4"
    starts = [Fraction(frame.pts, 1000) for frame in make_clip(clip, frames=7, vfr=True)]
    with VideoReader(clip, deinterlace="all", field_rate=True) as reader:
        times = [frame.pts * reader.info.time_base for frame in reader.frames()]
        end = reader.own_end_of_last_frame() * reader.info.time_base
    assert end == Fraction(333, 1000)
    ends = [*starts[1:], end]
    halfway = [(start + end) / 2 for start, end in zip(starts, ends, strict=True)]
    assert times == [t for pair in zip(starts, halfway, strict=True) for t in pair]


def test_frames_not_interlaced_are_given_twice_so_the_rate_stays_steady(tmp_path):
    clip = tmp_path / "joined.ts"
    make_interlaced_clip(clip, frames=6, progressive_first=2)
    with (
        VideoReader(clip, deinterlace="auto", field_rate=True) as reader,
        VideoReader(clip) as woven,
    ):
        frames = list(reader.frames())
        as_decoded = list(woven.frames())
        notes = reader.warnings
    assert [frame.pts * reader.info.time_base for frame in frames] == [
        Fraction(k, 50) for k in range(12)
    ]
    for k in range(4):  # the progressive frames, each twice as it is (comb and all)
        np.testing.assert_array_equal(frames[k].planes[0], as_decoded[k // 2].planes[0])
    assert [bar_columns(frame.planes[0]) for frame in frames[4:]] == [
        (4 + 4 * k, 15 + 4 * k) for k in range(4, 12)
    ]
    assert notes == [
        "the video is interlaced from frame 5 on: 4 frames were deinterlaced (bwdif) before "
        "upscaling, one frame per field (field_rate=True): 6 frames became 12, at twice the "
        "frame rate; the 2 not deinterlaced were each given twice, so that the rate stays steady"
    ]


def test_a_resume_inside_a_frame_names_the_first_interlaced_frame_as_the_whole_run_does(
    tmp_path,
):
    # Two progressive frames, then interlaced ones: output frame 5 (from 1) is the first
    # interlaced.
    # A run stopped after the first field of source frame 1 (output frame 2) goes on from
    # that frame, whose first field the earlier run delivered.
    clip = tmp_path / "joined.ts"
    make_interlaced_clip(clip, frames=6, progressive_first=2)
    with VideoReader(clip, deinterlace="auto", field_rate=True) as whole:
        frames = list(whole.frames())
    with VideoReader(clip, deinterlace="auto", field_rate=True) as resumed:
        resumed.resume_after(frames[2].pts, kept=3)
        assert len(list(resumed.frames())) == 9
    assert resumed.warnings[0].startswith(
        "the video is interlaced from frame 5 on: 4 frames were deinterlaced"
    )
    assert whole.warnings[0].startswith("the video is interlaced from frame 5 on:")


def test_a_cut_and_a_resume_deliver_the_frames_of_the_whole_clip(tmp_path):
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=8)
    with VideoReader(clip, deinterlace="auto", field_rate=True) as whole:
        frames = list(whole.frames())
    # After the first field of frame 3 (the earlier run's chunk ended inside the frame),
    # and after its second.
    for last in (6, 7):
        with VideoReader(clip, deinterlace="auto", field_rate=True) as resumed:
            resumed.resume_after(frames[last].pts, kept=last + 1)
            after = list(resumed.frames())
        assert [frame.pts for frame in after] == [frame.pts for frame in frames[last + 1 :]]
        for made, wanted in zip(after, frames[last + 1 :], strict=True):
            for plane, wanted_plane in zip(made.planes, wanted.planes, strict=True):
                np.testing.assert_array_equal(plane, wanted_plane)
    # Frames 2 to 4 (0.08 s to 0.2 s): their six fields from zero, as in the whole clip.
    with VideoReader(clip, time_range(0.08, 0.2, None), "auto", field_rate=True) as cut:
        in_cut = list(cut.frames())
        assert cut.info.frames_to_expect()[0] == 6
    assert [frame.pts for frame in in_cut] == [frame.pts - frames[4].pts for frame in frames[4:10]]
    # The frame before the cut (its first frame's neighbour) and the one at its end are
    # decoded too: every field is the whole clip's.
    for made, wanted in zip(in_cut, frames[4:10], strict=True):
        np.testing.assert_array_equal(made.planes[0], wanted.planes[0])


def test_a_cut_ends_at_the_field_its_end_falls_on(tmp_path, weights):
    # 25i: frame 2 (0.08 s) shows before an end at 0.10 s, its second field (0.10 s) does
    # not; an end at 0.18 s likewise keeps 0.16 s but not 0.18 s. An end between two
    # fields (0.11 s) keeps the one before it.
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=8)
    for start, end, kept in ((0, 0.1, 5), (0, 0.11, 6), (0.08, 0.18, 5), (0.08, 0.2, 6)):
        with VideoReader(clip, time_range(start, end, None), "auto", field_rate=True) as cut:
            made = [frame.pts * cut.info.time_base for frame in cut.frames()]
            total = cut.info.frames_to_expect()[0]  # the progress bar's
        assert made == [Fraction(k, 50) for k in range(kept)]
        assert total == kept
    out, report = tmp_path / "cut.mp4", tmp_path / "report.json"
    assert (
        vsr(clip, out, "--weights", weights, "--field-rate", "--end", "0.1", "--report", report)
        == 0
    )
    assert times(out) == [Fraction(k, 50) for k in range(5)]
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert video.duration * video.time_base == Fraction(1, 10)
    written = json.loads(report.read_text())
    assert written["frames"] == 5
    assert "3 frames became 5, at twice the frame rate" in written["notes"][0]


def test_a_cut_keeps_the_field_before_an_end_within_half_a_tick_of_it(tmp_path):
    # 0.11 s is 5.5 half-ticks of 1/25: the field at 0.10 s (5 half-ticks) lies before the
    # end and is kept; the end's tick rounded down would have dropped it.
    clip = tmp_path / "interlaced.avi"
    make_interlaced_file(clip, frames=6)
    with VideoReader(clip, time_range(0, 0.11, None), "auto", field_rate=True) as cut:
        first = cut.info.cut.offset
        made = [first + frame.pts * cut.info.time_base for frame in cut.frames()]
    assert made[-1] == Fraction(1, 10)
    assert made == [first + Fraction(k, 50) for k in range(len(made))]


@pytest.mark.parametrize(("field_rate", "made"), [(False, 2), (True, 4)])
def test_a_cut_of_a_video_whose_first_frame_is_late_expects_what_it_delivers(
    tmp_path, field_rate, made
):
    # The AVI's stream starts at 0 and its first frame at 0.04 s: an end at 0.11 s keeps
    # the frames at 0.04 and 0.08 s. The progress total counted a frame at 0 too (3, or 6
    # fields).
    clip = tmp_path / "interlaced.avi"
    make_interlaced_file(clip, frames=6)
    with VideoReader(clip, time_range(0, 0.11, None), "auto", field_rate=field_rate) as cut:
        assert cut.info.cut.offset - cut.info.cut.origin == Fraction(1, 25)
        assert len(list(cut.frames())) == made
        assert cut.info.frames_to_expect()[0] == made


def test_a_cut_keeps_the_sound_in_step(tmp_path, weights):
    clip, out = tmp_path / "interlaced.ts", tmp_path / "cut.mkv"
    make_interlaced_clip(clip, frames=10, sound=True)
    assert vsr(clip, out, "--weights", weights, "--field-rate", "--start", "0.08") == 0
    assert times(out) == [Fraction(k, 50) for k in range(16)]
    assert abs(tone_at_first_frame(out) - tone_at_first_frame(clip) - 0.08) <= 0.0015


def test_an_interrupted_run_continues_to_the_file_an_uninterrupted_one_makes(
    tmp_path, weights, monkeypatch
):
    # Chunks of 5 frames: the first ends on the first field of the source's third frame.
    monkeypatch.setattr(parallel_writer, "JOURNAL_CHUNK_SECONDS", 0.1)
    monkeypatch.setattr(parallel_writer, "MIN_CHUNK_FRAMES", 5)
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=8, sound=True)
    options = dict(weights=weights, progress=False, resume=True, field_rate=True)
    assert_resumed_run_equals_whole(clip, tmp_path, "field rate", **options)


def test_several_encoders_write_every_field(tmp_path, weights, monkeypatch):
    monkeypatch.setattr(parallel_writer, "CHUNK_SECONDS", 0.1)
    monkeypatch.setattr(parallel_writer, "MIN_CHUNK_FRAMES", 5)
    clip, out = tmp_path / "interlaced.ts", tmp_path / "out.mp4"
    make_interlaced_clip(clip, frames=8)
    report = upscale_video(clip, out, weights=weights, progress=False, encoders=2, field_rate=True)
    assert not [note for note in report.notes if "one encoder" in note]  # no fallback
    assert report.frames == 16
    assert times(out) == [Fraction(k, 50) for k in range(16)]


def test_the_first_field_of_a_frame_carries_its_captions(tmp_path, weights):
    clip, out = tmp_path / "captioned.ts", tmp_path / "out.mp4"
    make_captioned_clip(clip, frames=4, captioned=(0, 2, 3))
    assert vsr(clip, out, "--weights", weights, "--deinterlace", "all", "--field-rate") == 0
    with av.open(str(out)) as container:
        found = [
            [bytes(side) for side in frame.side_data if side.type.name == "A53_CC"]
            for frame in container.decode(video=0)
        ]
    # Frames 0, 2 and 3 carry captions: in the first of their two output frames.
    first_fields = [[caption_triplets(i)] if i in (0, 2, 3) else [] for i in range(4)]
    assert found == [captions for first in first_fields for captions in (first, [])]


def test_a_clip_without_interlaced_frames_says_each_frame_was_given_twice(tmp_path):
    clip = tmp_path / "progressive.ts"
    make_interlaced_clip(clip, frames=4, marked=False)
    with VideoReader(clip, deinterlace="auto", field_rate=True) as reader:
        assert len(list(reader.frames())) == 8
        assert reader.warnings == [
            "no frame is marked interlaced: field_rate=True gave each of the 4 frames twice, to "
            "keep its doubled rate (deinterlace='all' takes unmarked frames as interlaced)"
        ]


def test_what_field_rate_cannot_serve_is_refused_in_words(tmp_path, weights, capsys):
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=2)
    out = tmp_path / "out.mkv"
    assert vsr(clip, out, "--weights", weights, "--field-rate", "--deinterlace", "off") == 2
    assert "--field-rate makes a frame of each field, which deinterlaces: " in (
        capsys.readouterr().err
    )
    with pytest.raises(VsrError, match="field_rate must be True or False, not str 'yes'"):
        upscale_video(clip, out, weights=weights, field_rate="yes")
    with pytest.raises(VsrError, match="--field-rate is not available in segment mode"):
        run_split(clip, out, count=2, engine_options={"field_rate": True})
    assert not out.exists()


def test_a_folder_run_refuses_what_field_rate_cannot_serve_before_any_clip(
    tmp_path, weights, capsys
):
    # Refused at each clip, it failed every clip of the folder in turn (exit 1), and a watch
    # recorded them all as failed, so the corrected command found nothing to do.
    clips, out = tmp_path / "clips", tmp_path / "out"
    clips.mkdir()
    make_interlaced_clip(clips / "a.ts", frames=2)
    assert vsr(clips, out, "--weights", weights, "--field-rate", "--deinterlace", "off") == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("vsr: error: --field-rate makes a frame of each field, which ")
    assert not out.exists()


def test_the_help_names_every_mode_field_rate_refuses(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "with the --deinterlace modes but off and film." in help_text
    assert "at 23.976 fps; a source at another rate as auto); off, none" in help_text


def test_a_folder_run_gives_each_clip_a_frame_per_field(tmp_path, weights):
    clips = tmp_path / "in"
    clips.mkdir()
    make_interlaced_clip(clips / "a.ts", frames=4)
    assert vsr(clips, tmp_path / "out", "--weights", weights, "--field-rate") == 0
    assert times(tmp_path / "out" / "a.mkv") == [Fraction(k, 50) for k in range(8)]
