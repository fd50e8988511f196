"""ParallelVideoWriter: chunks encoded by several encoders, muxed in order into one file."""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import python_child
from media import make_clip, picture_planes

from vsr.cli import main
from vsr.errors import VsrError
from vsr.runner import upscale_video
from vsr.stop_signals import StopSignal
from vsr.video import encoder_choice, ffmpeg_pipe
from vsr.video.parallel_writer import ParallelVideoWriter, default_chunk_frames
from vsr.video.reader import VideoInfo, VideoReader
from vsr.video.writer import EncodeSettings, VideoWriter

W, H = 64, 48


def source_info(path: Path, frames: int = 30, **clip) -> VideoInfo:
    make_clip(path, W, H, frames, **clip)
    with VideoReader(path) as reader:
        return reader.info


def one_frame_step(info: VideoInfo) -> int:
    return round(1 / (info.average_rate * info.time_base))


def write_frames(target, pts: list[int], pix_fmt: str = "yuv420p") -> None:
    """Write the test picture for each pts through `target` (any writer) and close it."""
    with target as w:
        for index, stamp in enumerate(pts):
            w.write(picture_planes(W, H, index, pix_fmt), stamp)


def video_packets(path: Path) -> list[av.Packet]:
    with av.open(str(path)) as container:
        return [p for p in container.demux(video=0) if p.size]


def audio_packets(path: Path) -> list[tuple[bytes, int]]:
    with av.open(str(path)) as container:
        return [(bytes(p), p.pts) for p in container.demux(audio=0) if p.size]


def decoded(path: Path) -> list:
    with VideoReader(path) as reader:
        return list(reader.frames())


def assert_frames_are(frames: list, pts: list[int], pix_fmt: str = "yuv420p") -> None:
    assert [f.pts for f in frames] == pts
    for index, frame in enumerate(frames):
        for plane, expected in zip(frame.planes, picture_planes(W, H, index, pix_fmt), strict=True):
            np.testing.assert_array_equal(plane, expected)


def encoder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vsr-encode-")]


@pytest.mark.parametrize("encoders", [2, 3])
def test_lossless_h264_in_uneven_chunks_keeps_frames_pts_keyframes_and_audio(tmp_path, encoders):
    info = source_info(tmp_path / "in.mp4")
    step = one_frame_step(info)
    pts = [i * step for i in range(30)]
    lossless = EncodeSettings(options={"qp": "0"})
    out = tmp_path / "parallel.mp4"
    target = ParallelVideoWriter(out, info, W, H, lossless, encoders=encoders, chunk_frames=7)
    assert target.encoders == encoders and not target.notes
    started = time.perf_counter()
    write_frames(target, pts)
    elapsed = time.perf_counter() - started
    write_frames(VideoWriter(tmp_path / "single.mp4", info, W, H, lossless), pts)

    assert_frames_are(decoded(out), pts)
    # 30 frames in chunks of 7: every chunk (the short last one too) opens with a keyframe.
    keyframes = {p.pts * p.time_base for p in video_packets(out) if p.is_keyframe}
    assert {k * step * info.time_base for k in (0, 7, 14, 21, 28)} <= keyframes
    copied = audio_packets(out)
    assert copied and copied == audio_packets(tmp_path / "single.mp4")
    assert target.frames_written == 30 and not encoder_threads()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "parallel.mp4", "single.mp4"]
    # Every worker had chunks, so every one spent time in its encoder.
    assert len(target.encoder_busy_seconds) == encoders
    assert all(0 < seconds < elapsed for seconds in target.encoder_busy_seconds)


def test_h264_with_b_frames_keeps_dts_increasing_across_chunk_joins(tmp_path):
    info = source_info(tmp_path / "in.mp4", audio=False)
    step = one_frame_step(info)
    pts = [i * step for i in range(40)]
    out = tmp_path / "out.mp4"
    write_frames(ParallelVideoWriter(out, info, W, H, EncodeSettings(), chunk_frames=10), pts)

    packets = video_packets(out)
    in_decode_order = [p.pts for p in packets]
    assert in_decode_order != sorted(in_decode_order)  # B-frames are there: reordering
    dts = [p.dts for p in packets]
    assert all(a < b for a, b in zip(dts, dts[1:], strict=False)), dts
    assert all(p.dts <= p.pts for p in packets)
    assert [f.pts for f in decoded(out)] == pts


def test_variable_frame_rate_chunk_joins_get_an_increasing_dts(tmp_path):
    # Each chunk begins with slow frames and ends with fast ones, so a chunk's reorder
    # delay (measured on its first frames) reaches back past the previous chunk's end.
    info = source_info(tmp_path / "in.mkv", vfr=True, audio=False)
    assert info.time_base == Fraction(1, 1000)
    steps = [200, 200, 200, 10, 10, 10, 10, 10] * 4
    pts = list(np.cumsum([0, *steps[:-1]]))
    out = tmp_path / "out.mp4"
    target = ParallelVideoWriter(out, info, W, H, EncodeSettings(), chunk_frames=8)
    write_frames(target, [int(p) for p in pts])

    dts = [p.dts for p in video_packets(out)]
    assert all(a < b for a, b in zip(dts, dts[1:], strict=False)), dts
    with VideoReader(out) as reader:
        seconds = [f.pts * reader.info.time_base for f in reader.frames()]
    assert seconds == [Fraction(int(p), 1000) for p in pts]
    assert any("dts moved forward" in note for note in target.notes)


def test_ffv1_output_matches_video_writer_packet_for_packet(tmp_path):
    info = source_info(tmp_path / "in.mkv", frames=30, codec="ffv1")
    pts = [int(round(i / (info.average_rate * info.time_base))) for i in range(30)]
    ffv1 = EncodeSettings(codec="ffv1")
    out, single = tmp_path / "parallel.mkv", tmp_path / "single.mkv"
    # ffv1 restarts its context models every 12 frames (gop_size); chunks of 12 keep that.
    write_frames(ParallelVideoWriter(out, info, W, H, ffv1, chunk_frames=12), pts)
    write_frames(VideoWriter(single, info, W, H, ffv1), pts)

    assert_frames_are(decoded(out), pts)
    ours, reference = video_packets(out), video_packets(single)
    assert [(bytes(p), p.pts) for p in ours] == [(bytes(p), p.pts) for p in reference]
    assert audio_packets(out) == audio_packets(single)


def test_one_encoder_writes_what_video_writer_writes(tmp_path):
    info = source_info(tmp_path / "in.mp4", frames=12)
    pts = [i * one_frame_step(info) for i in range(12)]
    # Without mbtree: with it, libx264 on an AVX-512 CPU reads memory it has not written,
    # and two encodes of the same frames differ by a few bytes now and then.
    settings = EncodeSettings(options={"x264-params": "mbtree=0"})
    write_frames(ParallelVideoWriter(tmp_path / "one.mp4", info, W, H, settings, encoders=1), pts)
    write_frames(VideoWriter(tmp_path / "plain.mp4", info, W, H, settings), pts)
    one, plain = video_packets(tmp_path / "one.mp4"), video_packets(tmp_path / "plain.mp4")
    assert [(bytes(p), p.pts, p.dts) for p in one] == [(bytes(p), p.pts, p.dts) for p in plain]
    assert not encoder_threads()


def test_a_wrong_plane_raises_and_leaves_no_file(tmp_path):
    info = source_info(tmp_path / "in.mp4", audio=False)
    out = tmp_path / "out.mp4"
    target = ParallelVideoWriter(out, info, W, H, EncodeSettings(), chunk_frames=4)
    wrong = np.zeros((H + 2, W), np.uint8)
    with pytest.raises(ValueError, match="plane of shape"), target as w:
        for index in range(40):
            y, u, v = picture_planes(W, H, index)
            w.write((wrong if index == 9 else y, u, v), index)
    assert not encoder_threads()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_a_failing_worker_raises_in_the_caller_and_leaves_no_file(tmp_path, monkeypatch):
    opened = []

    class ThirdEncoderFails:  # the first one opened only checks the stream headers
        def __init__(self, encoder) -> None:
            self.encoder, self.number = encoder, len(opened)
            opened.append(self)

        def encode(self, frame):
            if self.number == 2:
                raise RuntimeError("encoder crashed")
            return self.encoder.encode(frame)

    fresh = VideoWriter.fresh_encoder
    monkeypatch.setattr(VideoWriter, "fresh_encoder", lambda w: ThirdEncoderFails(fresh(w)))
    info = source_info(tmp_path / "in.mp4", audio=False)
    target = ParallelVideoWriter(tmp_path / "out.mp4", info, W, H, EncodeSettings(), chunk_frames=4)
    with pytest.raises(RuntimeError, match="encoder crashed"), target as w:
        for index in range(40):
            w.write(picture_planes(W, H, index), index)
    assert not encoder_threads()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_abort_stops_the_workers_and_leaves_no_file(tmp_path):
    info = source_info(tmp_path / "in.mp4")
    target = ParallelVideoWriter(tmp_path / "out.mp4", info, W, H, EncodeSettings(), chunk_frames=3)
    for index in range(10):
        target.write(picture_planes(W, H, index), index)
    assert target.temp_path.exists()
    target.abort()
    assert not encoder_threads()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_a_stop_while_the_workers_start_leaves_no_file_and_no_worker(tmp_path, monkeypatch):
    # A SIGTERM during the start-up of --encoders 3000 was a StopSignal inside
    # Thread.start (threading.Condition.wait); the temporary file was left behind, since
    # the caller never got the writer to abort.
    info = source_info(tmp_path / "in.mp4", frames=4)
    start = threading.Thread.start
    started = []

    def start_twice_then_stop(thread):
        if thread.name.startswith("vsr-encode-") and len(started) == 2:
            raise StopSignal(signal.SIGTERM)
        started.append(thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_twice_then_stop)
    with pytest.raises(StopSignal):
        ParallelVideoWriter(tmp_path / "out.mp4", info, W, H, EncodeSettings(), encoders=3)
    assert len(started) == 2 and not any(thread.is_alive() for thread in started)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


@pytest.mark.parametrize("encoders", [0, 17, 3000])
def test_encoders_beyond_the_bound_are_refused_before_a_file_or_thread(tmp_path, encoders, capsys):
    # --encoders 3000 on a 4-frame clip started 3000 threads and stalled.
    info = source_info(tmp_path / "in.mp4", frames=4)
    said = rf"^encoders must be from 1 to 16, not {encoders} \(each is an encoder"
    with pytest.raises(VsrError, match=said):
        ParallelVideoWriter(tmp_path / "out.mp4", info, W, H, EncodeSettings(), encoders=encoders)
    if encoders > 0:  # 0 is the API's "a whole number >= 1", as for any count
        with pytest.raises(VsrError, match=said):
            upscale_video(tmp_path / "in.mp4", tmp_path / "out.mp4", encoders=encoders)
    run = ["run", str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4")]
    assert main([*run, "--encoders", str(encoders), "--device", "cpu"]) == 2
    assert capsys.readouterr().err.startswith(
        f"vsr: error: --encoders must be from 1 to 16, not {encoders} (each is an encoder"
    )
    assert not encoder_threads()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_mismatched_stream_headers_fall_back_to_one_encoder(tmp_path, monkeypatch):
    def refuse(self):
        raise RuntimeError("a second libx264 encoder produced different stream headers")

    monkeypatch.setattr(VideoWriter, "fresh_encoder", refuse)
    info = source_info(tmp_path / "in.mp4", frames=6)
    out = tmp_path / "out.mp4"
    target = ParallelVideoWriter(out, info, W, H, EncodeSettings(options={"qp": "0"}))
    assert target.encoders == 1
    assert any("one encoder" in note for note in target.notes)
    write_frames(target, list(range(6)))
    assert_frames_are(decoded(out), list(range(6)))


def test_a_run_whose_writer_fell_back_reports_the_one_encoder_that_ran(tmp_path, monkeypatch):
    # fast_path said the 3 asked for, and vsr bench advised 4 for a row held back by one.
    def refuse(self):
        raise RuntimeError("a second libx264 encoder produced different stream headers")

    monkeypatch.setattr(VideoWriter, "fresh_encoder", refuse)
    source = tmp_path / "in.mp4"
    make_clip(source, frames=4, audio=False)
    report = upscale_video(source, tmp_path / "out.mp4", encoders=3, progress=False)
    assert report.fast_path["encoders"] == 1
    assert any("encoding with one encoder (not 3)" in note for note in report.notes)


def test_the_ffmpeg_cli_path_uses_one_encoder(tmp_path, monkeypatch):
    class FakePipe:
        def __init__(self, plan):
            self.plan = plan

        def write(self, planes, pts):
            pass

        def close(self):
            self.plan.output.write_bytes(b"encoded")

        def abort(self):
            pass

    monkeypatch.setattr(encoder_choice, "trial_open", lambda *a: "Function not implemented")
    monkeypatch.setattr(ffmpeg_pipe, "ffmpeg_available", lambda: True)
    monkeypatch.setattr(ffmpeg_pipe, "FfmpegPipe", FakePipe)
    info = source_info(tmp_path / "in.mp4", frames=3, audio=False)
    target = ParallelVideoWriter(tmp_path / "out.mp4", info, W, H, EncodeSettings(), encoders=3)
    assert target.encoders == 1
    assert any("ffmpeg CLI encodes with one encoder" in note for note in target.notes)
    write_frames(target, [0, 1, 2])
    assert (tmp_path / "out.mp4").read_bytes() == b"encoded"
    assert target.frames_written == 3


def test_default_chunk_is_two_seconds_or_whole_gops():
    info = VideoInfo(
        Path("x.mp4"), W, H, "yuv420p", 8, (1, 1), Fraction(1, 12800), Fraction(30000, 1001),
        None, None, "bt709", "tv", None, None, 0, "h264",
    )  # fmt: skip
    assert default_chunk_frames(EncodeSettings(), info) == 60
    assert default_chunk_frames(EncodeSettings(options={"g": "25"}), info) == 50
    assert default_chunk_frames(EncodeSettings(options={"g": "250"}), info) == 250
    slow = dataclasses.replace(info, average_rate=Fraction(5))
    assert default_chunk_frames(EncodeSettings(), slow) == 24


def test_x265_encoders_stay_quiet_on_stderr_unless_asked(tmp_path, capfd):
    info = source_info(tmp_path / "in.mkv", frames=12)
    pts = [i * one_frame_step(info) for i in range(12)]
    settings = EncodeSettings(codec="libx265", preset="ultrafast")
    target = ParallelVideoWriter(
        tmp_path / "out.mkv", info, W, H, settings, encoders=2, chunk_frames=4
    )
    write_frames(target, pts)
    assert len(decoded(tmp_path / "out.mkv")) == 12
    assert "x265 [info]" not in capfd.readouterr().err  # one banner per chunk otherwise

    chatty = EncodeSettings(
        codec="libx265", preset="ultrafast", options={"x265-params": "log-level=info"}
    )
    write_frames(VideoWriter(tmp_path / "chatty.mkv", info, W, H, chatty), pts)
    assert "x265 [info]" in capfd.readouterr().err


def test_mpeg4_in_chunks_encodes_at_libavs_default_rate(tmp_path):
    # The chunk encoders once got an explicit bit rate of 0, on which libavcodec's rate
    # control aborts the process: run in a child, so that a regression fails this test alone.
    script = f"""
from fractions import Fraction
from pathlib import Path
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from media import make_clip, picture_planes
from vsr.video.parallel_writer import ParallelVideoWriter
from vsr.video.reader import VideoReader
from vsr.video.writer import EncodeSettings
folder = Path({str(tmp_path)!r})
make_clip(folder / "in.mkv", {W}, {H}, 12)
with VideoReader(folder / "in.mkv") as reader:
    info = reader.info
step = round(1 / (info.average_rate * info.time_base))
settings = EncodeSettings(codec="mpeg4")
with ParallelVideoWriter(folder / "out.mkv", info, {W}, {H}, settings, encoders=2, chunk_frames=4) as out:
    for index in range(12):
        out.write(picture_planes({W}, {H}, index, "yuv420p"), index * step)
"""
    done = python_child(script)
    assert done.returncode == 0, done.stderr[-2000:]
    frames = decoded(tmp_path / "out.mkv")
    assert [f.pts for f in frames] == [i * frames[1].pts for i in range(12)]
