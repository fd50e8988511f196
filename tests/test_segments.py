"""Segment mode: a clip split at keyframes, upscaled by Ray tasks and joined, equals the
unsplit run frame for frame (FFV1), with the same timestamps and the audio copied once."""

from __future__ import annotations

import json
import os
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import (
    corrupt_middle_packets,
    make_captioned_clip,
    make_interlaced_clip,
    make_raw_stream,
    make_slide_show,
    make_ts_recording,
    picture_planes,
)

from vsr.cli import main
from vsr.errors import VsrError
from vsr.segments import Segment, extract_segment, join_segments, plan_segments
from vsr.video import temp_lock
from vsr.video.decoding import seek_targets
from vsr.video.reader import VideoReader
from vsr.video.trim import time_range
from vsr.video.writer import EncodeSettings, VideoWriter


def make_gop_clip(path: Path, frames: int = 14, gop: int = 4, width: int = 32, height: int = 24):
    """H.264 with a keyframe every `gop` frames, B-frames (so decode order != display
    order), a 1/12800 time base as MP4 writes it, and an AAC tone."""
    with av.open(str(path), "w") as out:
        video = out.add_stream(
            "libx264", rate=25, options={"g": str(gop), "keyint_min": str(gop), "bf": "2", "sc_threshold": "0", "preset": "ultrafast", "crf": "18"}
        )  # fmt: skip
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "mono"
        for index in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, data in zip(frame.planes, picture_planes(width, height, index), strict=True):
                view = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
                view[:, : data.shape[1]] = data
            frame.pts, frame.time_base = index, Fraction(1, 25)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = int(frames / 25 * 48000)
        for start in range(0, samples, 1024):
            tone = np.sin(np.arange(start, start + 1024) / 48000 * 2 * np.pi * 440)
            chunk = av.AudioFrame.from_ndarray(
                (0.3 * tone).astype(np.float32)[None], format="flt", layout="mono"
            )
            chunk.sample_rate, chunk.pts, chunk.time_base = 48000, start, Fraction(1, 48000)
            out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))


def decoded(path: Path) -> list[tuple[int, bytes]]:
    with VideoReader(path) as reader:
        return [(f.pts, b"".join(p.tobytes() for p in f.planes)) for f in reader.frames()]


def audio_packets(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as container:
        return [(p.pts, bytes(p)) for p in container.demux(audio=0) if p.size]


def test_segments_start_at_keyframes_and_cover_every_frame_once(tmp_path):
    clip = tmp_path / "gop.mp4"
    make_gop_clip(clip, frames=14, gop=4)
    segments = plan_segments(clip, count=3)
    with av.open(str(clip)) as container:
        keys = {p.pts for p in container.demux(video=0) if p.is_keyframe and p.size}
    assert len(segments) == 3
    assert segments[0].start is None and segments[-1].end is None
    assert all(s.start in keys for s in segments[1:])
    assert all(a.end == b.start for a, b in zip(segments, segments[1:], strict=False))
    assert len(plan_segments(clip, count=50)) == len(keys)  # never more cuts than keyframes

    whole = decoded(clip)
    pieces = []
    for segment in segments:
        pts = extract_segment(clip, segment, tmp_path / f"{segment.index}.mkv", "left").pts
        frames = decoded(tmp_path / f"{segment.index}.mkv")
        assert len(frames) == len(pts)
        pieces += [(p, pixels) for p, (_, pixels) in zip(pts, frames, strict=True)]
    assert pieces == whole  # same pixels, same pts, nothing dropped or doubled


def test_segments_of_a_ts_with_b_frames_one_gop_long_are_all_found(tmp_path):
    # Seeking an MPEG-TS with B-frames lands on the keyframe after the one asked for: past
    # a segment one GOP long, which then held "no decodable frame" (3 of 5 failed).
    clip = tmp_path / "rec.ts"
    make_ts_recording(clip, 50, gop=10, b_frames=2)
    whole = decoded(clip)
    pieces = []
    for segment in plan_segments(clip, count=5):
        pts = extract_segment(clip, segment, tmp_path / f"{segment.index}.mkv", "left").pts
        pieces += [(p, px) for p, (_, px) in zip(pts, decoded(tmp_path / f"{segment.index}.mkv"), strict=True)]  # fmt: skip
    # The reader moves the recording's clock (1.4 s, the TS muxer's) to zero; the pieces
    # keep the file's, which the join moves alike.
    shift = pieces[0][0] - whole[0][0]
    assert len(whole) == 50 and [(p - shift, px) for p, px in pieces] == whole


def test_a_segment_to_deinterlace_is_stored_with_the_frames_around_it(tmp_path):
    # bwdif rebuilds a frame from the ones on either side: a segment stored without them
    # made its first and last frames unlike an unsplit run's.
    clip = tmp_path / "interlaced.ts"
    make_interlaced_clip(clip, frames=12, keyframe_every=4)
    whole = decoded(clip)
    middle = plan_segments(clip, count=3)[1]
    part = tmp_path / "part.mkv"
    extracted = extract_segment(clip, middle, part, "left", deinterlace="auto")
    shift = middle.start - whole[4][0]  # the TS clock's start, which the reader moves to zero
    assert extracted.pts == [p + shift for p, _ in whole[4:8]] and middle.end == whole[8][0] + shift
    assert [px for _, px in decoded(part)] == [px for _, px in whole[3:9]]
    # The window (--start/--end of the part) halfway between a neighbour and the segment.
    assert extracted.window == (Fraction(1, 50), Fraction(9, 50))
    with VideoReader(part, time_range(*extracted.window, None)) as window:
        assert len(list(window.frames())) == 4
    # Without deinterlacing, the segment's frames alone.
    extracted = extract_segment(clip, middle, part, "left", deinterlace="off")
    assert extracted.window is None and len(decoded(part)) == 4


def test_seeks_go_ever_further_back_and_at_last_from_the_top():
    # Where MPEG-TS lands a seek past the keyframe asked for, the next seek is further back
    # (a seek forward, or none from the top at last, decoded the whole source or failed).
    assert list(seek_targets(20 * 90000, Fraction(1, 90000))) == [
        20 * 90000,
        19 * 90000,
        16 * 90000,
        4 * 90000,
        None,
    ]


def test_a_range_starting_mid_gop_still_decodes_exactly(tmp_path):
    clip = tmp_path / "gop.mp4"
    make_gop_clip(clip, frames=10, gop=5)
    whole = decoded(clip)
    start, end = whole[3][0], whole[8][0]  # not keyframes: seek back, skip ahead
    pts = extract_segment(clip, Segment(0, start, end), tmp_path / "mid.mkv", "left").pts
    assert pts == [p for p, _ in whole[3:8]]
    assert [px for _, px in decoded(tmp_path / "mid.mkv")] == [px for _, px in whole[3:8]]


def test_a_damaged_segment_loses_the_frames_a_local_run_loses_and_says_so(tmp_path):
    clip = tmp_path / "gop.mkv"
    make_gop_clip(clip, frames=14, gop=4)
    corrupt_middle_packets(clip, count=2)
    whole = decoded(clip)  # what a local run's reader delivers
    assert len(whole) < 14
    kept, lost = [], 0
    for segment in plan_segments(clip, count=3):
        extracted = extract_segment(clip, segment, tmp_path / f"{segment.index}.mkv", "left")
        frames = decoded(tmp_path / f"{segment.index}.mkv")
        kept += [(p, pixels) for p, (_, pixels) in zip(extracted.pts, frames, strict=True)]
        lost += extracted.undecodable
    assert kept == whole and lost > 0


def test_a_segment_task_counts_the_frames_its_part_of_the_source_could_not_give(tmp_path, weights):
    # The lossless cut holds only the frames that decoded: the task adds those it lost, or
    # a damaged source's segments said nothing was lost.
    pytest.importorskip("ray")  # a task asks Ray where it runs
    import torch

    from vsr.cluster_segments import upscale_segment
    from vsr.segments import colour_and_layout

    clip = tmp_path / "gop.mkv"
    make_gop_clip(clip, frames=14, gop=4)
    corrupt_middle_packets(clip, count=2)
    with VideoReader(clip) as reader:
        layout = colour_and_layout(reader.info)
    made, lost, threads = 0, 0, torch.get_num_threads()
    try:
        for segment in plan_segments(clip, count=3):
            output = str(tmp_path / f"segment-{segment.index}.mkv")
            done = upscale_segment(str(clip), segment, output, str(weights), {}, 1, layout)
            assert done["status"] == "done", done.get("error")
            made, lost = made + done["frames"], lost + done["report"]["lost_frames"]
    finally:
        torch.set_num_threads(threads)
    assert made == len(decoded(clip)) and lost == 14 - made > 0


def _with_hidden_start(clip: Path, out: Path, hidden: int) -> None:
    """`clip` remuxed into MOV with its first `hidden` frames before zero: the edit list
    then starts the presentation after them (as a stream-copied cut does)."""
    with av.open(str(clip)) as source, av.open(str(out), "w") as target:
        stream = source.streams.video[0]
        copy = target.add_stream_from_template(stream)
        step = round(1 / (stream.average_rate * stream.time_base))
        for packet in source.demux(stream):
            if packet.size:
                packet.pts -= hidden * step
                packet.dts -= hidden * step
                packet.stream = copy
                target.mux(packet)


def test_frames_an_edit_list_hides_are_not_counted_as_lost(tmp_path):
    clip, trimmed = tmp_path / "gop.mp4", tmp_path / "trimmed.mov"
    make_gop_clip(clip, frames=14, gop=4)
    _with_hidden_start(clip, trimmed, hidden=3)
    with av.open(str(trimmed)) as container:
        assert sum(p.is_discard for p in container.demux(video=0)) == 3
    whole = decoded(trimmed)
    assert len(whole) == 11  # what a local run's reader delivers
    with VideoReader(trimmed) as reader:  # which decodes the hidden three, and drops them
        assert len(list(reader.frames())) == 11
    assert (reader.lost_frames, reader.warnings) == (0, [])
    kept, lost = [], 0
    for segment in plan_segments(trimmed, count=2):
        extracted = extract_segment(trimmed, segment, tmp_path / f"{segment.index}.mkv", "left")
        kept += extracted.pts
        lost += extracted.undecodable
    assert kept == [p for p, _ in whole] and lost == 0


def _clip_and_its_unsplit_run(tmp_path: Path, weights: Path) -> tuple[Path, Path, list[str]]:
    """A 14-frame clip with a keyframe every 4, its local (unsplit) lossless run, and the
    options both runs share."""
    clip, whole = tmp_path / "long.mp4", tmp_path / "whole.mkv"
    make_gop_clip(clip, frames=14, gop=4)
    common = ["--weights", str(weights), "--codec", "ffv1", "--quiet"]
    assert main(["run", str(clip), str(whole), *common]) == 0
    return clip, whole, common


# Not marked slow (7-9 s): the one Ray run of the default suite.
def test_split_run_on_ray_equals_the_unsplit_run(tmp_path, weights, capsys):
    ray = pytest.importorskip("ray")
    clip, whole, common = _clip_and_its_unsplit_run(tmp_path, weights)
    split, report = tmp_path / "split.mkv", tmp_path / "r.json"
    # A video that starts before zero (a wrapped MPEG-TS clock) is moved to zero as a whole:
    # its first segment sought that negative time and found no frame.
    wrapped, wrapped_whole = tmp_path / "wrapped.ts", tmp_path / "wrapped_whole.mkv"
    make_ts_recording(wrapped, 12, start=2**33 - 18000, b_frames=3)
    slides = make_slide_show(tmp_path / "slides.mkv")
    assert main(["run", str(wrapped), str(wrapped_whole), *common]) == 0
    # A deinterlaced segment's first and last frames were rebuilt without their neighbours.
    interlaced, interlaced_whole = tmp_path / "interlaced.ts", tmp_path / "interlaced_whole.mkv"
    make_interlaced_clip(interlaced, frames=12, keyframe_every=4)
    assert main(["run", str(interlaced), str(interlaced_whole), *common]) == 0
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        args = ["run", str(clip), str(split), *common, "--report", str(report)]
        assert main([*args, "--segments", "3", "--ray"]) == 0
        interlaced_split = tmp_path / "interlaced_split.mkv"
        interlaced_run = ["run", str(interlaced), str(interlaced_split), *common]
        capsys.readouterr()
        loud = [arg for arg in interlaced_run if arg != "--quiet"]
        assert main([*loud, "--segments", "3", "--ray"]) == 0
        # The segments' notes were in the report alone: the terminal heard nothing of them.
        err = capsys.readouterr().err
        for index in range(3):
            assert f"vsr: segment {index}: note: the video is interlaced: 4 frames" in err
        wrapped_split = tmp_path / "wrapped_split.mkv"
        assert (
            main(["run", str(wrapped), str(wrapped_split), *common, "--segments", "2", "--ray"])
            == 0
        )
        # A slide show's last slide (5 s) ended one average frame after it began: 4.33 s
        # of 7, and 3.33 of 6 with --start 0.5.
        # The lossless parts of a run killed outright stayed for good (GBs at real sizes).
        dead = tmp_path / ".slides_split.mkv.segments.4000001"
        dead.mkdir()
        (dead / "segment-00000.mkv").write_bytes(b"lossless part")
        (dead / temp_lock.FOLDER_LOCK).write_bytes(b"")
        an_hour_ago = time.time() - 3600
        os.utime(dead / temp_lock.FOLDER_LOCK, (an_hour_ago, an_hour_ago))
        # The same slides in vsr's own MP4 with B-frames, whose last frame's packet says
        # 1 s (another frame's decode step): 8 s of 12 in the review's clip.
        b_frames = tmp_path / "slides.mp4"
        force = ["-e", "x264-params=b-adapt=0:scenecut=0"]
        assert main(["run", str(slides), str(b_frames), *common[:2], "--quiet", *force]) == 0
        capsys.readouterr()
        for cut, length, source in (([], 7.0, slides), (["--start", "0.5"], 6.0, slides), ([], 7.0, b_frames)):  # fmt: skip
            slides_split = tmp_path / "slides_split.mkv"
            run = ["run", str(source), str(slides_split), *common, *cut, "--overwrite"]
            loud = [arg for arg in run if arg != "--quiet"]
            assert main([*loud, "--segments", "2", "--ray"]) == 0
            # One keyframe: one segment, which was said nowhere.
            said = "vsr: note: 1 segment, not 2: the clip has no more keyframes to split at"
            assert said in capsys.readouterr().err
            with av.open(str(slides_split)) as container:
                assert container.duration / av.time_base == pytest.approx(length, abs=0.002)
        assert not dead.exists()
        # Closed captions, which a local run keeps, were lost without a word; and where
        # the first frame had none, the note (which looked at it alone) was missing too.
        captioned, captioned_split = tmp_path / "captioned.ts", tmp_path / "captioned.mp4"
        make_captioned_clip(captioned, captioned=[2, 3])
        loud = ["run", str(captioned), str(captioned_split), *common[:2], "--segments", "2"]
        assert main([*loud, "--ray"]) == 0
        from vsr.cluster_segments import SEGMENTS_LOSE_CAPTIONS

        assert f"vsr: note: {SEGMENTS_LOSE_CAPTIONS}" in capsys.readouterr().err
    finally:
        ray.shutdown()
    assert decoded(wrapped_split) == decoded(wrapped_whole)
    assert decoded(interlaced_split) == decoded(interlaced_whole)
    assert audio_packets(wrapped_split) == audio_packets(wrapped_whole)
    got, want = decoded(split), decoded(whole)
    assert [p for p, _ in got] == [p for p, _ in want] and len(got) == 14
    assert got == want
    assert audio_packets(split) == audio_packets(whole)  # copied once, not per segment
    data = json.loads(report.read_text())
    assert data["summary"]["done"] == 3 and data["summary"]["frames"] == 14
    assert [c["segment"] for c in data["clips"]] == [0, 1, 2]
    assert all(not c["report"]["lost_frames"] and not c["report"]["notes"] for c in data["clips"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # work files gone


def make_clip_keyed_at(path: Path, frames: int, keys: set[int]) -> list[int]:
    """H.264 with keyframes at the frames `keys` only; the pts of those keyframes."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        video.options = {"x264-params": "keyint=1000:scenecut=0:bframes=0", "forced-idr": "1"}
        for index in range(frames):
            frame = av.VideoFrame(32, 24, "yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            frame.pict_type = av.video.frame.PictureType.I if index in keys else 0
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    with av.open(str(path)) as container:
        return [p.pts for p in container.demux(video=0) if p.is_keyframe and p.size]


def test_segments_use_every_keyframe_they_need_however_uneven(tmp_path):
    # Keyframes at frames 40, 45 and 50 of 60: the ideal cuts near 15, 30 and 44 all lay
    # nearest 40 or 45, so 3 segments came, not 4, beside an unused keyframe at 50.
    clip = tmp_path / "uneven.mkv"
    keys = make_clip_keyed_at(clip, 60, {0, 40, 45, 50})
    assert len(keys) == 4
    assert [s.start for s in plan_segments(clip, count=4)] == [None, *keys[1:]]
    assert [s.start for s in plan_segments(clip, count=3)] == [None, *keys[1:3]]

    # Keyframes at frames 0, 2 and 20: the first ideal cut (frame 15) lies nearest 20,
    # which the second cut needs; taken by the first, it left none (a ValueError).
    clip = tmp_path / "early.mkv"
    keys = make_clip_keyed_at(clip, 60, {0, 2, 20})
    assert len(keys) == 3
    assert [s.start for s in plan_segments(clip, count=4)] == [None, *keys[1:]]


def test_a_split_says_when_the_clip_has_fewer_keyframes_than_segments_asked(tmp_path, weights):
    from vsr.cluster_segments import _plan_split

    clip = tmp_path / "two_gops.mkv"
    make_clip_keyed_at(clip, 8, {0, 4})
    said = []
    assert len(_plan_split(clip, {}, 2, None, weights, said.append).segments) == 2
    assert said == []  # as many as asked: nothing to say
    assert len(_plan_split(clip, {}, 3, None, weights, said.append).segments) == 2
    assert said == ["vsr: note: 2 segments, not 3: the clip has no more keyframes to split at"]


def test_segments_plan_only_the_range_asked_for(tmp_path):
    clip = tmp_path / "gop.mp4"
    make_gop_clip(clip, frames=14, gop=4)
    whole = [p for p, _ in decoded(clip)]
    low, high = whole[2], whole[11]  # mid-GOP at both ends
    segments = plan_segments(clip, count=3, within=(low, high))
    assert segments[0].start == low and segments[-1].end == high
    cuts = [s.start for s in segments[1:]]
    assert cuts == sorted(cuts) and all(low < cut < high for cut in cuts)
    kept = []
    for segment in segments:
        kept += extract_segment(clip, segment, tmp_path / f"{segment.index}.mkv", "left").pts
    assert kept == whole[2:11]  # every frame of the range once


def test_a_keyframe_where_the_range_ends_is_not_a_cut(tmp_path):
    # The range is [start, end): a keyframe at end begins no frame of it, and a cut there
    # would make a last segment that holds nothing.
    clip = tmp_path / "gop.mp4"
    make_gop_clip(clip, frames=14, gop=4)
    whole = [p for p, _ in decoded(clip)]
    low, high = whole[1], whole[8]  # frame 8 is a keyframe
    for segments in (
        plan_segments(clip, count=3, within=(low, high)),
        plan_segments(clip, seconds=0.1, within=(low, high)),
    ):
        assert [(s.start, s.end) for s in segments] == [(low, whole[4]), (whole[4], high)]


def test_joined_segments_end_at_the_cut_inside_a_long_last_frame(tmp_path):
    # The last slide is shown from 2 s for 5 s; --end 4.5 cuts it, and the joined video
    # ends there, as a local run of the range does, not where the slide's own length ends.
    slides = make_slide_show(tmp_path / "slides.mkv")
    with VideoReader(slides) as reader:
        info, pts = reader.info, [frame.pts for frame in reader.frames()]
    assert pts == [0, 1000, 2000] and info.time_base == Fraction(1, 1000)
    ends = {}
    for end in (None, 4500):
        out = tmp_path / f"joined-{end}.mkv"
        writer = VideoWriter(out, info, 64, 48, EncodeSettings("ffv1"))
        assert join_segments(writer, [(slides, pts)], end=end) == 3
        writer.close()
        with av.open(str(out)) as container:
            last = [p for p in container.demux(video=0) if p.size][-1]
            ends[end] = (last.pts + last.duration) * last.time_base
    assert ends == {None: 7, 4500: Fraction(9, 2)}


@pytest.mark.slow  # a Ray instance and two runs: 7-9 s
def test_a_split_run_of_a_range_equals_the_local_run_of_it(tmp_path, weights):
    ray = pytest.importorskip("ray")
    clip = tmp_path / "long.mp4"
    make_gop_clip(clip, frames=14, gop=4)
    local, split = tmp_path / "local.mkv", tmp_path / "split.mkv"
    common = ["--weights", str(weights), "--codec", "ffv1", "--quiet", "--start", "0.1"]
    common += ["--end", "0.45"]  # frames 3 to 11 of 14, at 25 fps
    assert main(["run", str(clip), str(local), *common]) == 0
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        assert main(["run", str(clip), str(split), *common, "--segments", "2", "--ray"]) == 0
    finally:
        ray.shutdown()
    got, want = decoded(split), decoded(local)
    # Moved to zero (Matroska may start every stream a few ms later to hold the audio
    # packet that spans the start), the same frames and times as the local run.
    assert len(got) == 9 and got[0][0] < 40
    assert got == want
    assert audio_packets(split) == audio_packets(local)


@pytest.mark.slow  # a Ray instance and two runs: 7-9 s
def test_an_interrupted_split_run_resumes_with_only_the_segments_it_lacks(
    tmp_path, weights, monkeypatch, capsys
):
    ray = pytest.importorskip("ray")
    from vsr import cluster_segments
    from vsr.segment_store import store_folder

    clip, whole, common = _clip_and_its_unsplit_run(tmp_path, weights)
    split, report = tmp_path / "split.mkv", tmp_path / "r.json"
    command = ["run", str(clip), str(split), *common, "--segments", "3", "--resume"]
    store = store_folder(split)

    def interrupted_join(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C once every segment is made, before the join

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(cluster_segments, "join_segments", interrupted_join)
            assert main([*command, "--ray"]) == 130
        assert (
            f"vsr: 3 of 3 upscaled segments are kept in {store}: the same command with "
            "--resume joins them"
        ) in capsys.readouterr().err
        assert not split.exists()
        assert sorted(p.name for p in store.glob("segment-*")) == [
            f"segment-0000{i}.{ext}" for i in range(3) for ext in ("json", "mkv")
        ]

        # Another plan cannot be joined to these segments: refused, and nothing lost.
        assert main([*command[:-3], "--segments", "2", "--resume", "--ray"]) == 2
        assert "made with other settings (segments); run that command" in capsys.readouterr().err
        assert len(list(store.glob("segment-*.mkv"))) == 3

        # Segment 1 was never recorded (the driver died first) and segment 2 is damaged:
        # both are made again, segment 0 is joined as it is.
        (store / "segment-00001.json").unlink()
        damaged = bytearray((store / "segment-00002.mkv").read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF
        (store / "segment-00002.mkv").write_bytes(bytes(damaged))
        loud = [word for word in command if word != "--quiet"]
        assert main([*loud, "--report", str(report), "--ray"]) == 0
    finally:
        ray.shutdown()
    said = capsys.readouterr().err
    assert "vsr: 1 of 3 segments kept from an earlier run; upscaling the other 2" in said
    data = json.loads(report.read_text())
    kept = data["clips"][0]["frames"]  # segment 0's, joined as it was
    assert data["summary"]["kept_frames"] == kept > 0
    assert (data["summary"]["output"], data["summary"]["output_frames"]) == (str(split), 14)
    assert f"vsr: 14 frames ({kept} of them kept from an interrupted run) in" in said
    assert [c["status"] for c in data["clips"]] == ["skipped", "done", "done"]
    assert data["clips"][0]["reason"] == "kept from an earlier run"
    assert decoded(split) == decoded(whole)  # every frame, every timestamp
    assert audio_packets(split) == audio_packets(whole)
    assert not store.exists()  # it has served


def _store_with_one_segment(output: Path):
    from vsr.segment_store import SegmentStore, file_crc32

    store = SegmentStore(output)
    assert store.start({"plan": 1}) == []
    store.segment_path(0).write_bytes(b"an upscaled segment")
    store.keep(0, [0, 1, 2], file_crc32(store.segment_path(0)), lost_frames=1)
    store.release()
    return store


def test_a_kept_segment_with_a_flipped_bit_is_made_again(tmp_path):
    # Bit rot keeps the file's size: only its checksum tells it would join wrong pixels.
    from vsr.segment_store import SegmentStore

    output = tmp_path / "film.mkv"
    segment = _store_with_one_segment(output).segment_path(0)
    damaged = bytearray(segment.read_bytes())
    damaged[5] ^= 1
    segment.write_bytes(bytes(damaged))
    store = SegmentStore(output)
    assert store.start({"plan": 1}) == []
    assert not list(store.folder.glob("segment-*"))  # its file and record: made again
    intact = _store_with_one_segment(tmp_path / "other.mkv")  # the same, undamaged: kept
    assert [s.index for s in SegmentStore(intact.output).start({"plan": 1})] == [0]


def test_a_store_beside_an_existing_output_is_named_not_removed(tmp_path):
    from vsr.cluster_segments import _check_kept_segments

    output = tmp_path / "film.mkv"
    store = _store_with_one_segment(output)
    output.write_bytes(b"finished, or someone else's")
    with pytest.raises(VsrError, match="holds 1 upscaled segments: if film.mkv is their"):
        _check_kept_segments(output, resume=True, overwrite=False)
    _check_kept_segments(output, resume=True, overwrite=True)  # --overwrite --resume joins them
    output.unlink()
    with pytest.raises(VsrError, match="segments of an interrupted run: add --resume"):
        _check_kept_segments(output, resume=False, overwrite=False)  # it would remake them
    assert store.segment_path(0).exists()


def test_a_store_that_kept_no_segment_goes_when_the_join_is_abandoned(tmp_path):
    # Every segment failed under --resume: "0 of 8 upscaled segments are kept in ...: the
    # same command with --resume makes only the other 8", and a store of run.json and lock.
    from vsr.cluster import ClusterReport
    from vsr.cluster_segments import _abandon_the_join
    from vsr.segment_store import SegmentStore

    class Writer:
        def abort(self) -> None:
            pass

    store, said = SegmentStore(tmp_path / "film.mkv"), []
    assert store.start({"plan": 1}) == []
    _abandon_the_join(Writer(), store, ClusterReport(), 8, said.append)
    assert said == [] and not store.folder.exists()
    kept = _store_with_one_segment(tmp_path / "other.mkv")  # one kept: it stays, and is said
    reopened = SegmentStore(tmp_path / "other.mkv")
    reopened.start({"plan": 1})
    _abandon_the_join(Writer(), reopened, ClusterReport(), 8, said.append)
    assert said == [
        f"vsr: 1 of 8 upscaled segments are kept in {kept.folder}: the same command with "
        "--resume makes only the other 7"
    ]


def test_a_join_abandoned_without_resume_says_its_finished_segments_are_not_kept():
    from vsr.cluster import ClusterReport
    from vsr.cluster_segments import _abandon_the_join

    class Writer:
        def abort(self) -> None:
            pass

    said = []
    for finished in (1, 2):
        summary = ClusterReport()
        for index in range(finished):
            summary.add({"input": f"a.mp4#{index}", "status": "done", "frames": 4})
        summary.add({"input": "a.mp4#9", "status": "failed", "error": "broken"})
        _abandon_the_join(Writer(), None, summary, 8, said.append)
    assert said == [
        "vsr: the 1 finished segment is not kept: with --resume, a rerun makes only the "
        "failed ones",
        "vsr: the 2 finished segments are not kept: with --resume, a rerun makes only the "
        "failed ones",
    ]


def test_a_join_of_kept_segments_still_says_the_captions_of_a_captioned_source_are_lost(
    tmp_path, monkeypatch
):
    # Kept segments do not say how many captioned frames they copied: the source's own
    # first frame, read by the driver, is then the only word on its captions.
    from types import SimpleNamespace

    from vsr import cluster_segments
    from vsr.cluster import ClusterReport
    from vsr.segment_store import KeptSegment

    class Writer:
        def __init__(self) -> None:
            self.notes: list[str] = []

        def close(self) -> None:
            pass

    monkeypatch.setattr(cluster_segments, "join_segments", lambda *args: None)
    source, target = tmp_path / "captioned.ts", tmp_path / "out.mkv"
    summary = ClusterReport()
    summary.add(cluster_segments._kept_outcome(source, KeptSegment(0, tmp_path / "s0.mkv", [0])))
    said = []
    for captioned in (True, False):
        plan = SimpleNamespace(
            info=SimpleNamespace(closed_captions=captioned), within=None, shift=0
        )
        pts = {0: [0]}
        cluster_segments._join_into_target(Writer(), summary, pts, plan, target, said.append)
    joined = f"vsr: joined 1 segment into {target}"
    assert said == [f"vsr: note: {cluster_segments.SEGMENTS_LOSE_CAPTIONS}", joined, joined]


def test_ctrl_c_keeps_the_segments_finished_meanwhile_and_cancels_the_rest(tmp_path, monkeypatch):
    # With --resume, a segment whose task ended while Ctrl-C came is kept, not made again.
    ray = pytest.importorskip("ray")
    from vsr.cluster_segments import _run_segments

    outcome = {"status": "done", "frames": 2, "pts": [0, 1], "crc32": 7}
    outcome["report"] = {"lost_frames": 0, "notes": []}
    refs, cancelled = [], []

    class Task:
        def options(self, **_):
            return self

        def remote(self, source, segment, *_):
            refs.append(f"ref{segment.index}")
            return refs[-1]

    def wait(pending, num_returns, timeout=None):
        if timeout is None:  # waiting for the next task to end: Ctrl-C
            raise KeyboardInterrupt
        return ["ref0"], [ref for ref in pending if ref != "ref0"]

    for name, stand_in in {
        "remote": lambda function: Task(),
        "put": lambda value: value,
        "cluster_resources": lambda: {"CPU": 2.0},
        "wait": wait,
        "get": lambda ref: {"input": "a.mp4#0", "output": "s0.mkv", **outcome},
        "cancel": lambda ref, force: cancelled.append(ref),
    }.items():
        monkeypatch.setattr(ray, name, stand_in)
    kept = []
    segments = [Segment(0, None, 2), Segment(1, 2, None)]
    with pytest.raises(KeyboardInterrupt):
        _run_segments(
            tmp_path / "a.mp4", segments, tmp_path, None, {}, None, False, lambda _: None,
            lambda *segment: kept.append(segment),
        )  # fmt: skip
    assert kept == [(0, [0, 1], 7, 0)] and cancelled == ["ref1"]


def test_a_kept_segment_is_reported_as_skipped_with_its_frames_and_those_it_lost(tmp_path):
    from vsr.cluster import ClusterReport
    from vsr.cluster_segments import _kept_outcome
    from vsr.segment_store import KeptSegment

    kept = KeptSegment(0, tmp_path / "segment-00000.mkv", [0, 512, 1024], lost_frames=1)
    summary = ClusterReport(output=str(tmp_path / "film.mkv"))
    summary.add(_kept_outcome(tmp_path / "film.mp4", kept))
    made = {"input": f"{tmp_path / 'film.mp4'}#1", "segment": 1, "status": "done", "frames": 4}
    summary.add({**made, "report": {"lost_frames": 0}})
    totals = summary.to_dict()["summary"]
    assert summary.clips[0]["status"] == "skipped"
    # Frames are this run's work; the output holds the kept ones too, and what they lost.
    assert (totals["frames"], totals["output_frames"], totals["kept_frames"]) == (4, 7, 3)
    assert totals["lost_frames"] == 1


def test_a_store_names_a_foreign_file_and_a_file_it_cannot_clear(tmp_path):
    from vsr.segment_store import SegmentStore

    output = tmp_path / "film.mkv"
    store = _store_with_one_segment(output)
    (store.folder / "notes.txt").write_text("mine")
    with pytest.raises(VsrError, match=r"holds notes.txt, which vsr did not write; move it out"):
        SegmentStore(output).start({"plan": 1})
    (store.folder / "notes.txt").unlink()
    reopened = SegmentStore(output)
    kept = reopened.start({"plan": 1})
    assert [(k.index, k.pts, k.lost_frames) for k in kept] == [(0, [0, 1, 2], 1)]
    reopened.release()

    (store.folder / ".segment-00001.77.cut.mkv").mkdir()  # cannot be unlinked
    with pytest.raises(VsrError, match="cannot keep segments there"):
        SegmentStore(output).start({"plan": 1})


def test_ray_leaves_the_sigterm_handler_of_vsr_in_place():
    # ray.init puts its own (sys.exit) in place of vsr's, which turns a SIGTERM (a job
    # scheduler's pre-emption) into "vsr: interrupted" with the note on what is kept.
    ray = pytest.importorskip("ray")
    import signal

    from vsr import cluster

    def vsr_handler(signum, frame):
        raise KeyboardInterrupt

    assert not ray.is_initialized()  # this file's tests start and stop their own
    before = signal.signal(signal.SIGTERM, vsr_handler)
    try:
        assert cluster.connect(None, 1)  # a private local instance
        assert signal.getsignal(signal.SIGTERM) is vsr_handler
        cluster.disconnect()
        assert signal.getsignal(signal.SIGTERM) is vsr_handler
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.slow  # a Ray instance: about 15 s on two shared cores
def test_split_run_of_a_rotated_clip_takes_height_as_displayed(tmp_path, weights):
    from media import make_clip

    ray = pytest.importorskip("ray")
    clip = tmp_path / "phone.mp4"
    make_clip(clip, 64, 48, frames=3, rotation=90, audio=False)  # displayed 48x64
    common = ["--weights", str(weights), "--quiet", "--height", "96"]
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        assert (
            main(
                ["run", str(clip), str(tmp_path / "split.mp4"), *common, "--segments", "1", "--ray"]
            )
            == 0
        )
    finally:
        ray.shutdown()
    with av.open(str(tmp_path / "split.mp4")) as container:
        frame = next(container.decode(video=0))
        # Coded 96x72, shown quarter-turned: 72 wide and the 96 asked for high.
        assert (frame.width, frame.height, round(frame.rotation) % 180) == (96, 72, 90)


def test_segments_of_about_n_seconds_start_at_keyframes_and_cover_every_frame(tmp_path):
    import av

    from vsr.errors import VsrError
    from vsr.segments import extract_segment, plan_segments

    clip = tmp_path / "gop.mp4"
    make_gop_clip(clip, frames=16, gop=4)  # keyframes every 0.16 s, 0.64 s in all
    with av.open(str(clip)) as container:
        keys = sorted(p.pts for p in container.demux(video=0) if p.is_keyframe and p.size)
    segments = plan_segments(clip, seconds=0.32)
    assert len(segments) == 2 and segments[1].start == keys[2]  # cut at 0.32 s
    kept = []
    for segment in segments:
        kept += extract_segment(clip, segment, tmp_path / f"{segment.index}.mkv", "left").pts
    assert kept == [p for p, _ in decoded(clip)]
    with pytest.raises(VsrError, match="either --segments or --segment-seconds"):
        plan_segments(clip, count=2, seconds=1.0)
    with pytest.raises(VsrError, match="--segment-seconds must be positive"):
        plan_segments(clip, seconds=0)


def test_a_segment_task_does_not_read_the_whole_source_again(tmp_path, weights, monkeypatch):
    pytest.importorskip("ray")  # vsr run --ray refuses to start without it
    # Each task opened the whole source to compare its layout with its part's: for an
    # MPEG-TS that is a scan of the whole file for clock restarts, once per segment.
    from vsr import cluster_segments
    from vsr.segments import colour_and_layout
    from vsr.video import reader as reader_module
    from vsr.video.reader import VideoReader

    clip = tmp_path / "rec.ts"
    make_ts_recording(clip, 20, gop=10)
    scanned = []
    real_scan = reader_module.find_clock_restarts

    def scan_seen(path):
        scanned.append(path)
        return real_scan(path)

    monkeypatch.setattr(reader_module, "find_clock_restarts", scan_seen)
    with VideoReader(clip) as whole:  # the driver's one read: the scan is seen where made
        layout = colour_and_layout(whole.info)
    assert scanned == [clip]
    scanned.clear()
    segment = plan_segments(clip, count=2)[-1]
    outcome = cluster_segments.upscale_segment(
        str(clip), segment, str(tmp_path / "part.mkv"), str(weights), {}, 1, layout
    )
    assert outcome["status"] == "done", outcome.get("error")
    assert scanned == []


@pytest.mark.parametrize("has_bf16", [True, False])
def test_cpu_segments_run_in_this_machines_precision_whatever_the_workers(
    tmp_path, weights, monkeypatch, has_bf16
):
    """A CPU worker's own default follows its CPU (bf16 with bf16 instructions): segments
    of one output, and a resumed run's, must be made alike, and as a local run here."""
    from vsr import cluster_segments
    from vsr import default_precision as chooser
    from vsr.cluster import options_for_workers

    clip = tmp_path / "long.mp4"
    make_gop_clip(clip, frames=14, gop=4)
    sent = []

    def no_cluster(source, todo, work, weights, options, *rest):
        sent.append(options)
        raise KeyboardInterrupt  # what the tasks would get is all this test needs

    monkeypatch.setattr(cluster_segments, "connect", lambda *args: False)
    monkeypatch.setattr(cluster_segments, "_run_segments", no_cluster)
    monkeypatch.setattr(chooser, "cpu_computes_bf16", lambda: has_bf16)
    gpu = {"precision": "fp16", "batch": 4}
    for engine_options in ({"resume": True, "gpu_options": gpu}, {}):
        with pytest.raises(KeyboardInterrupt):
            cluster_segments.run_split(
                clip, tmp_path / "out.mkv", count=2, weights=weights,
                engine_options=engine_options, progress=False,
            )  # fmt: skip
    here = "bf16" if has_bf16 else "fp32"
    assert [options_for_workers(o, on_gpu=False)["precision"] for o in sent] == [here, here]
    # GPU tasks keep the GPU's: the preset's, or the device's default where none is set.
    assert [options_for_workers(o, on_gpu=True)["precision"] for o in sent] == ["fp16", None]


def test_segments_kept_in_another_precision_are_refused_with_the_flag_that_continues_them(
    tmp_path,
):
    from vsr.resume_folder import KeptWorkMismatch

    stored = {"network": ["imdn", "abc"], "precision": ["fp32", "fp16"], "segments": [1]}
    now = {**stored, "precision": ["bf16", "fp16"]}
    message = str(KeptWorkMismatch(tmp_path / "out.mkv", tmp_path / ".kept", stored, now))
    assert message.endswith(
        "other settings (precision); run that command again to continue it, or add "
        "overwrite=True to start over (it ran in fp32 and this run in bf16: with the same "
        "weights, precision='fp32' continues it)"
    )


def test_a_dv_segment_states_the_clips_own_rate(tmp_path):
    # A segment of DV stated libavformat's turned-over time base (30000 fps at 29.97) as its
    # rate: its upscaling expected "frame 1 of ~7200" for 6 frames and compiled for a clip
    # that long, and the output declared 30000 fps.
    ntsc = Fraction(30000, 1001)
    clip, part = tmp_path / "in.dv", tmp_path / "part.mkv"
    make_raw_stream(clip, "dv", "dvvideo", ntsc, 3, 720, 480, "yuv411p")
    (segment,) = plan_segments(clip, count=1)
    assert len(extract_segment(clip, segment, part, "left").pts) == 3
    with VideoReader(part) as reader:
        assert reader.info.average_rate == ntsc
        assert reader.info.frames_to_expect() == (3, True)
