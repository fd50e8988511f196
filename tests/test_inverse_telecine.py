"""`vsr run --deinterlace film`: film hard-telecined to 29.97i (3:2 pulldown) back to its own
frames, each once, at its film time (1001/24000 s apart), every stream in step."""

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
    make_interlaced_clip,
    make_soft_telecined_clip,
    make_telecined_clip,
    top_field_first,
)
from test_field_rate import times, tone_at_first_frame
from test_resume import assert_resumed_run_equals_whole, interrupt_after, stream_packets

import vsr.video.parallel_writer as parallel_writer
from vsr.cli import main
from vsr.cluster_segments import run_split
from vsr.errors import VsrError
from vsr.runner import upscale_video
from vsr.video.inverse_telecine import InverseTelecine, _Given
from vsr.video.reader import VideoReader
from vsr.video.trim import time_range

FILM = Fraction(1001, 24000)  # one film frame, in seconds


def vsr(*args: object) -> int:
    return main(["run", *map(str, args), "--quiet"])


def bar_left(luma: np.ndarray) -> int | None:
    """The first column of the bright bar, where every row but the edge ones shows it."""
    columns = np.flatnonzero((luma[2:-2] > 125).all(axis=0))
    return int(columns.min()) if len(columns) else None


def film_frames(clip: Path, deinterlace: str = "film", part=None):
    with VideoReader(clip, part, deinterlace) as reader:
        frames = list(reader.frames())
    return reader, frames


@pytest.mark.parametrize("codec", ["libx264", "mpeg2video"])
def test_each_film_picture_comes_out_once_at_its_film_time(tmp_path, codec):
    clip = tmp_path / "telecined.ts"
    make_telecined_clip(clip, film_frames=12, codec=codec)
    reader, frames = film_frames(clip)
    info = reader.info
    assert (info.time_base, info.average_rate, info.frames_to_expect()[0]) == (
        Fraction(1, 360000),
        Fraction(24000, 1001),
        12,
    )
    assert [bar_left(frame.planes[0]) for frame in frames] == [8 * k for k in range(12)]
    assert max(comb_strength(frame.planes[0]) for frame in frames) < 1
    assert [frame.pts * info.time_base for frame in frames] == [k * FILM for k in range(12)]
    assert reader.deinterlaced_frames == 0
    assert reader.warnings == [
        "inverse telecine (deinterlace='film': fieldmatch, decimate): 15 frames became 12 film "
        "frames at 23.976 fps"
    ]
    # What --deinterlace auto makes of it: 15 frames, the 3:2 judder (the repeats) kept.
    _, deinterlaced = film_frames(clip, "auto")
    assert len(deinterlaced) == 15


def test_the_output_holds_the_film_at_its_rate_with_the_sound_in_step(tmp_path, weights):
    clip, out, report = tmp_path / "telecined.ts", tmp_path / "out.mp4", tmp_path / "r.json"
    make_telecined_clip(clip, film_frames=12, sound=True)
    assert vsr(clip, out, "--weights", weights, "--deinterlace", "film", "--report", report) == 0
    assert times(out) == [k * FILM for k in range(12)]
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.average_rate, video.frames) == (Fraction(24000, 1001), 12)
        assert video.duration * video.time_base == 12 * FILM  # 15 frames of 29.97
    written = json.loads(report.read_text())
    assert written["frames"] == 12
    assert "15 frames became 12 film frames at 23.976 fps" in " ".join(written["notes"])
    assert abs(tone_at_first_frame(out) - tone_at_first_frame(clip)) <= 0.001


def test_parts_shot_on_video_are_deinterlaced_and_named(tmp_path):
    # 8 film frames (10 video frames), then 6 frames shot interlaced: fieldmatch finds no
    # match for those, bwdif deinterlaces them, and decimate drops one of their cycle.
    clip = tmp_path / "mixed.ts"
    make_telecined_clip(clip, film_frames=8, video_frames=6)
    reader, frames = film_frames(clip)
    assert len(frames) == 13
    assert [bar_left(frame.planes[0]) for frame in frames[:8]] == [8 * k for k in range(8)]
    assert max(comb_strength(frame.planes[0]) for frame in frames) < 1
    assert reader.deinterlaced_frames == 6
    assert reader.warnings == [
        "inverse telecine (deinterlace='film': fieldmatch, decimate): 16 frames became 13 film "
        "frames at 23.976 fps; 6 frames whose fields did not match (shot on video, not film) "
        "were deinterlaced (bwdif); 1 of 3 cycles of 5 frames with motion repeated no picture "
        "(not telecined): a frame of motion was dropped from each"
    ]


def test_a_clip_that_is_not_telecined_is_told_so(tmp_path):
    clip = tmp_path / "video.ts"
    make_telecined_clip(clip, film_frames=0, video_frames=10)
    reader, frames = film_frames(clip)
    assert len(frames) == 8
    assert reader.warnings == [
        "the video does not look telecined: in none of its 2 cycles of 5 frames with motion "
        "was a picture repeated, so deinterlace='film' dropped a frame of motion from each "
        "(judder): 10 frames became 8 film frames at 23.976 fps; deinterlace='auto' suits it"
    ]


def test_a_resume_at_any_point_and_a_cut_give_the_frames_of_the_whole_clip(tmp_path):
    clip = tmp_path / "telecined.ts"
    make_telecined_clip(clip, film_frames=12)
    _, whole = film_frames(clip)
    for last in range(len(whole) - 1):
        with VideoReader(clip, deinterlace="film") as resumed:
            resumed.resume_after(whole[last].pts, kept=last + 1)
            after = list(resumed.frames())
        assert [frame.pts for frame in after] == [frame.pts for frame in whole[last + 1 :]]
        for made, wanted in zip(after, whole[last + 1 :], strict=True):
            np.testing.assert_array_equal(made.planes[0], wanted.planes[0])
    # From video frame 6 (0.2 s, film frame 5) to before frame 12: cycles from the cut.
    reader, cut = film_frames(clip, part=time_range(0.2, 0.4, None))
    assert reader.info.frames_to_expect()[0] == 5
    assert [bar_left(frame.planes[0]) for frame in cut] == [8 * k for k in range(5, 10)]
    assert [frame.pts * reader.info.time_base for frame in cut] == [k * FILM for k in range(5)]


@pytest.mark.parametrize(
    ("film", "part", "shown"),
    [
        (11, None, range(10)),  # 13 frames: a cycle of 3 cut short by the clip's end
        (15, time_range(0.2, None, None), range(5, 14)),  # 12 frames from 0.2 s: 2 + 2
        (15, time_range(0.2, 0.5, None), range(5, 12)),  # 9 frames: 5 + 4
    ],
)
def test_a_cycle_cut_short_shows_each_film_frame_once_at_its_film_time(
    tmp_path, weights, film, part, shown
):
    # The last cycle of 5 frames, cut short by the clip's end or a cut's, kept every frame
    # decimate gave, its repeated picture too, at the source's times: film frame 9 twice
    # (the 13 frames of 11 film frames gave 11 pictures, the last at 8.8 and 9.6 film
    # frames); a cut's MP4 read back at 25.2 fps, not 23.976. (Film frame 10, of which the
    # clip holds one field, is no film frame.)
    clip = tmp_path / "telecined.ts"
    make_telecined_clip(clip, film_frames=film)
    reader, frames = film_frames(clip, part=part)
    assert [bar_left(frame.planes[0]) for frame in frames] == [8 * k for k in shown]
    assert [frame.pts * reader.info.time_base for frame in frames] == [
        k * FILM for k in range(len(shown))
    ]
    # A resume after any frame goes on with the same frames at the same times.
    for last in range(len(frames) - 1):
        with VideoReader(clip, part, deinterlace="film") as resumed:
            resumed.resume_after(frames[last].pts, kept=last + 1)
            after = list(resumed.frames())
        assert [frame.pts for frame in after] == [frame.pts for frame in frames[last + 1 :]]
    if part is not None and part.end is None:
        out = tmp_path / "cut.mp4"
        assert vsr(clip, out, "--weights", weights, "--deinterlace", "film", "--start", 0.2) == 0
        assert times(out) == [k * FILM for k in range(len(shown))]
        with av.open(str(out)) as container:
            assert container.streams.video[0].average_rate == Fraction(24000, 1001)


@pytest.mark.parametrize(("repeat_change", "dropped"), [(0.4, True), (0.6, False)])
def test_a_still_repeat_in_a_short_cycle_is_dropped_however_slowly_the_film_moves(
    repeat_change, dropped
):
    # A whole cycle (places 0-4, place 2 dropped) then a short one (5-7), the film moving
    # slowly (kept pictures change by about 1 of 255): place 7, in the dropped place, is
    # the repeat where it changed by coding noise alone (<= STILL), though that is more
    # than REPEAT_SHARE of the film's motion; kept, the last film frame showed twice.
    telecine = InverseTelecine(step=3003, rate=None)
    for place in range(8):
        telecine._given[place] = _Given(pts=3003 * place, length=3003, tag=place)
    telecine._cycles, telecine._cycles_of_graph = [(0, 5), (5, 3)], [0, 5]
    telecine._kept = {0, 1, 3, 4}
    telecine._changes = {1: 1.0, 2: 0.1, 3: 1.1, 4: 0.9, 5: 1.0, 6: 1.0, 7: repeat_change}
    assert telecine._short_cycle(1).repeat == (7 if dropped else None)


def test_a_film_frames_notes_name_it_by_its_number_in_the_output_resumed_too(tmp_path):
    # A mid-stream change of range or format is named "from frame N" by the number the
    # reader gives each frame's planes: the output's, which decimate's drops set apart from
    # the decoded frame's, and after a resume the frames kept count once (the clip is
    # decoded from its start again).
    clip = tmp_path / "telecined.ts"
    make_telecined_clip(clip, film_frames=16)

    def numbers(resume=None):
        with VideoReader(clip, deinterlace="film") as reader:
            named, planes = [], reader._planes
            reader._planes = lambda frame, number: (named.append(number), planes(frame, number))[1]
            if resume is not None:
                reader.resume_after(*resume)
            frames = list(reader.frames())
        return frames, named

    whole, named = numbers()
    assert named == list(range(1, 17))
    _, resumed = numbers((whole[7].pts, 1, 8))
    assert resumed == list(range(9, 17))


def test_an_interrupted_run_continues_to_the_file_an_uninterrupted_one_makes(
    tmp_path, weights, monkeypatch
):
    monkeypatch.setattr(parallel_writer, "JOURNAL_CHUNK_SECONDS", 0.1)
    monkeypatch.setattr(parallel_writer, "MIN_CHUNK_FRAMES", 5)
    clip = tmp_path / "telecined.ts"
    make_telecined_clip(clip, film_frames=16, sound=True)
    options = dict(weights=weights, progress=False, resume=True, deinterlace="film")
    assert_resumed_run_equals_whole(clip, tmp_path, "deinterlace", **options)


def test_several_encoders_and_a_folder_run_write_every_film_frame(tmp_path, weights, monkeypatch):
    monkeypatch.setattr(parallel_writer, "CHUNK_SECONDS", 0.1)
    monkeypatch.setattr(parallel_writer, "MIN_CHUNK_FRAMES", 5)
    clips = tmp_path / "in"
    clips.mkdir()
    make_telecined_clip(clips / "a.ts", film_frames=12)
    out = tmp_path / "out.mp4"
    report = upscale_video(
        clips / "a.ts", out, weights=weights, progress=False, encoders=2, deinterlace="film"
    )
    assert not [note for note in report.notes if "one encoder" in note]  # no fallback
    assert report.frames == 12
    assert times(out) == [k * FILM for k in range(12)]
    assert vsr(clips, tmp_path / "folder", "--weights", weights, "--deinterlace", "film") == 0
    assert times(tmp_path / "folder" / "a.mkv") == [
        Fraction(round(k * FILM * 1000), 1000)
        for k in range(12)  # Matroska's milliseconds
    ]


def test_the_captions_of_a_dropped_frame_go_with_the_next_kept_one(tmp_path):
    # Every frame captioned (not telecined: decimate drops a frame of each cycle all the
    # same, at 29.97): the output's captions, in order, are every source frame's. An 11th
    # frame, kept (a cycle cut short), follows whatever the second cycle drops.
    clip = tmp_path / "captioned.ts"
    make_captioned_clip(clip, frames=11, rate=Fraction(30000, 1001))
    with VideoReader(clip, deinterlace="film") as reader:
        reader.captions.collecting = True
        frames = list(reader.frames())
        carried = [reader.captions.take(frame.pts) for frame in frames]
    assert len(frames) == 9
    assert b"".join(carried) == b"".join(caption_triplets(i) for i in range(11))
    assert all(carried)


def test_what_film_cannot_serve_is_refused_in_words(tmp_path, weights, capsys):
    clip = tmp_path / "telecined.ts"
    make_telecined_clip(clip, film_frames=4)
    out = tmp_path / "out.mkv"
    assert vsr(clip, out, "--weights", weights, "--deinterlace", "film", "--field-rate") == 2
    assert "and --deinterlace film gives back the film's frames" in capsys.readouterr().err
    with pytest.raises(VsrError, match="--deinterlace film is not available in segment mode"):
        run_split(clip, out, count=2, engine_options={"deinterlace": "film"})
    assert not out.exists()


def test_frames_fieldmatch_cannot_take_are_refused_with_the_modes_that_can(
    tmp_path, weights, capsys
):
    # 4 rows are too few for fieldmatch (bwdif takes none under 8 either, so the advice
    # says what auto does with them rather than promising them deinterlaced).
    clip = tmp_path / "short.ts"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = 16, 4, "yuv420p"
        stream.options = {"bf": "0", "x264-params": "tff=1"}
        for index in range(6):
            picture = np.full((4, 16, 3), 40 * index, np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1001, 30000)
            container.mux(stream.encode(top_field_first(frame)))
        container.mux(stream.encode(None))
    out = tmp_path / "out.mkv"
    assert vsr(clip, out, "--weights", weights, "--deinterlace", "film") == 2
    told = capsys.readouterr().err
    assert told.startswith("vsr: error: --deinterlace film cannot take 16x4 yuv420p frames (")
    assert "; give --deinterlace auto, which deinterlaces what bwdif can take, or " in told
    assert told.rstrip().endswith("--deinterlace off") and "Traceback" not in told
    assert not out.exists()


def test_soft_telecine_keeps_every_film_frame(tmp_path):
    # The decoder gives soft telecine's film frames (12, 1001/24000 s apart on average),
    # though the stream declares 29.97: decimate dropped 1 of every 5 (10 frames, 19.18 fps).
    clip = tmp_path / "soft.ts"
    make_soft_telecined_clip(clip, film_frames=12)
    reader, frames = film_frames(clip)
    _, decoded = film_frames(clip, "off")
    assert [bar_left(frame.planes[0]) for frame in frames] == [8 * k for k in range(12)]
    assert [4 * frame.pts for frame in decoded] == [frame.pts for frame in frames]
    # Two cycles of the pulldown (AAA BB CCC DD): 8 film frames, 8 * 1001/24000 s.
    assert (frames[8].pts - frames[0].pts) * reader.info.time_base == 8 * FILM
    assert reader.info.average_rate == Fraction(24000, 1001)
    assert reader.warnings == [
        "deinterlace='film': the video's frames are film frames already (soft telecine: the "
        "decoder gives the film's own frames, 1001/24000 s apart on average, and leaves the "
        "3:2 pulldown to repeat-field flags): all 12 kept at their own times, none dropped"
    ]


def declared_rate(path: Path) -> Fraction:
    with av.open(str(path)) as container:
        return container.streams.video[0].average_rate


@pytest.mark.parametrize("name", ["soft.ts", "soft.m2v"])
def test_a_soft_telecined_source_is_declared_at_its_film_rate(tmp_path, weights, name):
    # Its stream states 29.97 (the MPEG-2 frame-rate code) and holds 23.976 frames a second:
    # a Matroska output declared 30000/1001, per field 19001/317 (59.94), not 47.952.
    clip = tmp_path / name
    make_soft_telecined_clip(clip, film_frames=10)
    options = dict(weights=weights, progress=False)
    upscale_video(clip, tmp_path / "out.mkv", **options)
    assert declared_rate(tmp_path / "out.mkv") == Fraction(24000, 1001)
    upscale_video(clip, tmp_path / "fields.mkv", field_rate=True, **options)
    # Matroska stores a frame's length in whole nanoseconds (20854167), read as 7001/146.
    assert round(float(declared_rate(tmp_path / "fields.mkv")), 3) == 47.952  # 48000/1001
    with VideoReader(clip) as reader:
        assert reader.info.average_rate == Fraction(24000, 1001)


def test_progress_expects_a_soft_telecined_clips_film_frames(tmp_path):
    # Its length at the stated 29.97 fps: 24 frames of 20, a cut's 19 of 15.
    clip = tmp_path / "soft.ts"
    make_soft_telecined_clip(clip, film_frames=20)
    with VideoReader(clip) as reader:
        assert reader.info.frames_to_expect() == (19, True)  # 0.8 s, the last frame's end
    with VideoReader(clip, time_range(0.2, None)) as reader:
        assert reader.info.frames_to_expect() == (15, False)
        assert len(list(reader.frames())) == 15


def test_a_hard_telecined_or_progressive_clip_keeps_its_stated_rate(tmp_path):
    hard, progressive = tmp_path / "hard.ts", tmp_path / "progressive.ts"
    make_telecined_clip(hard, film_frames=12)
    make_interlaced_clip(progressive, frames=10, rate=Fraction(30000, 1001))
    for clip in (hard, progressive):
        with VideoReader(clip) as reader:
            assert reader.info.average_rate == Fraction(30000, 1001)


def test_a_resumed_soft_telecined_run_per_field_equals_the_whole(tmp_path, weights, monkeypatch):
    monkeypatch.setattr(parallel_writer, "JOURNAL_CHUNK_SECONDS", 0.1)
    monkeypatch.setattr(parallel_writer, "MIN_CHUNK_FRAMES", 5)
    clip, whole, resumed = tmp_path / "soft.ts", tmp_path / "whole.mkv", tmp_path / "resumed.mkv"
    make_soft_telecined_clip(clip, film_frames=10)
    options = dict(weights=weights, progress=False, resume=True, field_rate=True)
    upscale_video(clip, whole, **options)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, resumed, on_frames=interrupt_after(7, resumed, 1), **options)
    report = upscale_video(clip, resumed, **options)
    assert (report.resumed_frames, report.frames) == (5, 20)
    assert stream_packets(resumed) == stream_packets(whole)


@pytest.mark.parametrize("rate", [Fraction(25), Fraction(24000, 1001)])
def test_a_source_at_a_rate_without_pulldown_keeps_every_frame(tmp_path, rate):
    # PAL (25 fps: film sped up, no 3:2 pulldown) and film at its own rate: decimate dropped
    # a frame of motion of every 5 (8 of 10) and declared 4/5 of the rate (20 fps).
    clip = tmp_path / "pal.ts"
    make_interlaced_clip(clip, frames=10, rate=rate)
    reader, frames = film_frames(clip)
    _, auto = film_frames(clip, "auto")
    assert len(frames) == 10
    assert [frame.pts for frame in frames] == [frame.pts for frame in auto]
    assert (reader.info.average_rate, reader.info.time_base) == (rate, Fraction(1, 90000))
    assert reader.deinterlaced_frames == 10
    assert reader.warnings[0] == (
        "deinterlace='film' undoes 3:2 pulldown, which carries film at 29.97 fps; the video "
        f"is at {float(rate):.3f} fps, which holds none: no frame was dropped, and the video "
        "is treated as deinterlace='auto' treats it"
    )


def test_the_soft_telecine_check_of_a_timed_clip_decodes_nothing_more(tmp_path, monkeypatch):
    # Every 29.97 fps H.264 or MPEG-2 MKV or TS was decoded again, 10 frames, to tell soft
    # telecine (0.27 s for a 1080p H.264): its packets' times are its frames' own.
    import vsr.video.reader as reader_module

    decodes = []
    decode = reader_module.decode_packets
    monkeypatch.setattr(
        reader_module, "decode_packets", lambda *a, **k: decodes.append(1) or decode(*a, **k)
    )
    soft, progressive = tmp_path / "soft.ts", tmp_path / "progressive.mkv"
    make_soft_telecined_clip(soft, film_frames=10)
    make_interlaced_clip(progressive, frames=10, rate=Fraction(30000, 1001))
    # B-frames 8 deep: its first 10 packets' times run to frame 16, further apart than film's.
    reordered = tmp_path / "reordered.mkv"
    with av.open(str(reordered), "w") as out:
        options = {"preset": "medium", "bf": "8", "b-pyramid": "normal"}
        stream = out.add_stream("libx264", rate=Fraction(30000, 1001), options=options)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for index in range(20):
            picture = np.zeros((96, 128, 3), np.uint8)
            picture[:, 3 * index : 3 * index + 10] = 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    for clip, rate in (
        (soft, Fraction(24000, 1001)),
        (progressive, Fraction(30000, 1001)),
        (reordered, Fraction(30000, 1001)),
    ):
        decodes.clear()
        with VideoReader(clip) as reader:
            assert reader.info.average_rate == rate
        assert len(decodes) == 1  # the reader's own
