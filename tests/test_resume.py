"""`vsr run --resume`: an interrupted run keeps its finished chunks and the next run
continues from them, giving the very file an uninterrupted run gives."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from media import make_clip, make_siting_change_clip

import vsr.runner as runner
import vsr.video.parallel_writer as parallel_writer
from vsr import load_model
from vsr.cli import main
from vsr.default_precision import default_precision
from vsr.engine import Pipeline
from vsr.errors import VsrError
from vsr.runner import upscale_video
from vsr.upscale import memory_needed
from vsr.video.chunk_journal import ChunkRecorder, journal_folder
from vsr.video.writer import EncodeSettings, VideoWriter, temp_path_for


@pytest.fixture(autouse=True)
def one_second_chunks(monkeypatch):
    """Chunks of 25 frames (one second of make_clip's 25 fps) instead of ten seconds."""
    monkeypatch.setattr(parallel_writer, "JOURNAL_CHUNK_SECONDS", 1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("resume") / "in.mkv"
    make_clip(path, frames=60, keyframe_every=10, subtitles=True)  # chunks: 25, 25, 10
    return path


def stream_packets(path: Path) -> dict[str, list[tuple]]:
    """Every packet of every stream: timestamps and bytes."""
    with av.open(str(path)) as container:
        out: dict[str, list[tuple]] = {}
        for packet in container.demux():
            if packet.size:
                out.setdefault(packet.stream.type, []).append(
                    (packet.pts, packet.dts, bytes(packet))
                )
        return out


def interrupt_after(frames: int, target: Path, chunks: int):
    """An on_frames callback that, once `frames` are encoded, waits for `chunks` chunks to be
    stored (the encoder thread writes them) and then stops the run like Ctrl-C."""
    seen = 0

    def on_frames(count: int) -> None:
        nonlocal seen
        seen += count
        if seen < frames:
            return
        last = journal_folder(target) / f"chunk-{chunks - 1:06d}.bin"
        deadline = time.monotonic() + 30
        while not last.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        raise KeyboardInterrupt

    return on_frames


def assert_resumed_run_equals_whole(clip: Path, tmp_path: Path, refused: str, **options) -> None:
    """Run `clip` whole, then interrupted after its first 5-frame chunk (the caller sets the
    chunk size) and resumed, with `options` (resume=True among them): the resumed file must
    be the whole one's, byte for byte, and a resume without the option named `refused`
    refused for its other settings."""
    whole, resumed = tmp_path / "whole.mkv", tmp_path / "resumed.mkv"
    upscale_video(clip, whole, **options)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, resumed, on_frames=interrupt_after(7, resumed, 1), **options)
    plain = {key: options[key] for key in ("weights", "progress", "resume")}
    with pytest.raises(VsrError, match=rf"other settings \({refused}\)"):
        upscale_video(clip, resumed, **plain)
    report = upscale_video(clip, resumed, **options)
    assert (report.resumed_frames, report.frames) == (5, 16)
    got, want = stream_packets(resumed), stream_packets(whole)
    assert sorted(got) == ["audio", "video"] and len(got["video"]) == 16
    assert got == want  # every stream, byte for byte


def test_an_interrupted_run_continues_to_the_file_an_uninterrupted_one_makes(
    clip, weights, tmp_path
):
    whole, resumed = tmp_path / "whole.mkv", tmp_path / "resumed.mkv"
    options = dict(weights=weights, progress=False, resume=True)
    upscale_video(clip, whole, **options)
    assert not journal_folder(whole).exists()  # gone once the output is complete

    with pytest.raises(KeyboardInterrupt) as stopped:
        upscale_video(clip, resumed, on_frames=interrupt_after(52, resumed, 2), **options)
    assert not resumed.exists()
    assert stopped.value.__notes__ == [
        f"50 upscaled frames are kept in {journal_folder(resumed)}: the same command with "
        "resume=True continues from there"
    ]
    report = upscale_video(clip, resumed, **options)
    assert (report.resumed_frames, report.frames) == (50, 60)  # frames: all of the output
    # ...and fps only the 10 made now: the 50 kept took none of this run's time.
    assert report.fps == pytest.approx(10 / report.wall_seconds, rel=0.01)
    assert not journal_folder(resumed).exists()
    got, want = stream_packets(resumed), stream_packets(whole)
    assert sorted(got) == ["audio", "subtitle", "video"]
    assert got == want  # every stream, byte for byte


def test_a_damaged_chunk_and_those_after_it_are_made_again(clip, weights, tmp_path):
    out = tmp_path / "out.mkv"
    lossless = dict(weights=weights, progress=False, resume=True, settings=EncodeSettings("ffv1"))
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, on_frames=interrupt_after(52, out, 2), **lossless)
    second = journal_folder(out) / "chunk-000001.bin"
    second.write_bytes(second.read_bytes()[:-10])  # cut short, as by a full disk
    report = upscale_video(clip, out, **lossless)
    assert (report.resumed_frames, report.frames) == (25, 60)
    whole = tmp_path / "whole.mkv"
    upscale_video(clip, whole, **lossless)
    assert stream_packets(out)["video"] == stream_packets(whole)["video"]


def test_a_journal_of_other_settings_is_refused_or_with_overwrite_replaced(clip, weights, tmp_path):
    source, out = tmp_path / "in.mkv", tmp_path / "out.mkv"
    source.write_bytes(clip.read_bytes())
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(source, out, on_frames=interrupt_after(30, out, 1), **options)
    faster = EncodeSettings(preset="ultrafast")
    with pytest.raises(
        VsrError, match=r"made with other settings \(encoder settings\); run that command"
    ):
        upscale_video(source, out, settings=faster, **options)
    with pytest.raises(VsrError, match=r"other settings \(output size\)"):
        upscale_video(source, out, scale=1.5, **options)
    with pytest.raises(VsrError, match=r"other settings \(deinterlace\)"):
        upscale_video(source, out, deinterlace="all", **options)
    # Its chunks hold frames from the clip's start: another range's frames are others.
    with pytest.raises(VsrError, match=r"other settings \(time range\)"):
        upscale_video(source, out, start=1.0, **options)
    # Tiles give slightly other pixels than the whole frames the chunks were made of.
    network = load_model(weights, device="cpu")
    budget = memory_needed(network.model, network.dtype, network.device, 2500, True)
    assert load_model(weights, device="cpu", max_memory=budget).plan_for(48, 64).mode == "tiles"
    with pytest.raises(VsrError, match=r"other settings \(tile plan\)"):
        upscale_video(source, out, max_memory=budget, **options)
    # The CPU's default precision depends on the CPU: the message says which one to ask for.
    kept = default_precision(torch.device("cpu"))
    other = "bf16" if kept == "fp32" else "fp32"
    with pytest.raises(
        VsrError,
        match=rf"\(network\); .* \(it ran in {kept} and this run in {other}: with the same "
        rf"weights, precision='{kept}' continues it\)",
    ):
        upscale_video(source, out, precision=other, **options)
    os.utime(source, ns=(1, 1))  # the source was replaced since
    with pytest.raises(
        VsrError, match=r"another version of the source file .* cannot serve; add overwrite=True"
    ):
        upscale_video(source, out, **options)
    assert (journal_folder(out) / "chunk-000000.bin").exists()  # refused: nothing lost
    report = upscale_video(source, out, settings=faster, overwrite=True, **options)
    assert (report.resumed_frames, report.frames) == (0, 60)


def test_the_command_line_says_where_the_work_is_kept_and_goes_on(
    clip, weights, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "out.mp4"
    run = Pipeline.run

    def interrupted(self, frames, writer, progress):
        stop = interrupt_after(52, out, 2)
        return run(self, frames, writer, lambda n: (progress(n), stop(n)))

    monkeypatch.setattr(Pipeline, "run", interrupted)
    command = ["run", str(clip), str(out), "--weights", str(weights), "--resume", "--quiet"]
    assert main(command) == 130
    assert capsys.readouterr().err.splitlines() == [
        "vsr: interrupted",
        f"vsr: 50 upscaled frames are kept in {journal_folder(out)}: the same command with "
        "--resume continues from there",
    ]
    monkeypatch.setattr(Pipeline, "run", run)
    assert main([*command[:-1]]) == 0
    assert "vsr: 60 frames 64x48 -> 128x96 (50 of them kept from an interrupted run)" in (
        capsys.readouterr().err
    )
    with av.open(str(out)) as container:
        assert sum(1 for p in container.demux(video=0) if p.size) == 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_a_run_stopped_before_its_first_chunk_leaves_nothing(clip, weights, tmp_path):
    out = tmp_path / "out.mkv"

    def stop(count: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stopped:
        upscale_video(clip, out, weights=weights, progress=False, resume=True, on_frames=stop)
    assert not getattr(stopped.value, "__notes__", None)
    assert list(tmp_path.iterdir()) == []


def test_a_run_stopped_while_finishing_the_file_makes_no_frame_again(
    clip, weights, tmp_path, monkeypatch
):
    out = tmp_path / "out.mkv"
    options = dict(weights=weights, progress=False, resume=True)

    def stopped(self) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(VideoWriter, "close", stopped)
        with pytest.raises(KeyboardInterrupt):
            upscale_video(clip, out, **options)
    report = upscale_video(clip, out, **options)
    assert (report.resumed_frames, report.frames, report.lost_frames) == (60, 60, 0)
    assert not [n for n in report.notes if "truncated" in n or "could not be decoded" in n]
    with av.open(str(out)) as container:
        assert sum(1 for p in container.demux(video=0) if p.size) == 60


def test_a_journal_another_live_run_holds_is_refused_and_a_dead_ones_taken_over(
    clip, weights, tmp_path
):
    out = tmp_path / "out.mkv"
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, on_frames=interrupt_after(30, out, 1), **options)
    lock = journal_folder(out) / "lock"
    with open(lock, "a+") as held:  # another run holds the journal: it is refused
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(VsrError, match=r"being made by another vsr run \(process \d+\)"):
            upscale_video(clip, out, **options)
        with pytest.raises(VsrError, match=r"being made by another vsr run"):
            upscale_video(clip, out, overwrite=True, **options)

    # A run killed outright holds no lock (the OS dropped it with the process, whatever pid
    # now has its number); its half-written output goes.
    finished = [sys.executable, "-c", "import os; print(os.getpid())"]
    dead = int(subprocess.run(finished, capture_output=True, text=True, check=True).stdout)
    lock.write_text(str(dead))
    left_behind = temp_path_for(out, dead)
    left_behind.write_bytes(b"half a file")
    report = upscale_video(clip, out, **options)
    assert report.resumed_frames == 25
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv"]


def test_a_plain_run_beside_a_live_resume_run_names_it_not_an_interrupted_one(
    clip, weights, tmp_path, capsys
):
    # The live run's journal was called "an interrupted run" to continue or start over, or,
    # with an output of that name already there, one to remove, which crashed the live run.
    out = tmp_path / "out.mkv"
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, weights=weights, progress=False, resume=True,
                      on_frames=interrupt_after(30, out, 1))  # fmt: skip
    lock = journal_folder(out) / "lock"
    kept = sorted(p.name for p in journal_folder(out).iterdir())
    command = ["run", str(clip), str(out), "--weights", str(weights), "--quiet"]
    with open(lock, "a+") as held:  # the live --resume run
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.truncate(0)
        held.write("4242")
        held.flush()
        for output_there in (False, True):
            if output_there:
                out.write_bytes(b"an older output")
            assert main(command) == 2
            assert capsys.readouterr().err == (
                f"vsr: error: {out} is being made by another vsr run (process 4242); wait for "
                "it, or stop it first\n"
            )
    assert sorted(p.name for p in journal_folder(out).iterdir()) == kept
    assert lock.read_text() == "4242"  # only looked at: the next holder clears up after it


def test_a_chunk_with_a_flipped_bit_is_made_again(clip, weights, tmp_path):
    out, whole = tmp_path / "out.mkv", tmp_path / "whole.mkv"
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, on_frames=interrupt_after(52, out, 2), **options)
    second = journal_folder(out) / "chunk-000001.bin"
    data = bytearray(second.read_bytes())
    data[100] ^= 1  # inside the first packet's bytes; sizes and header still agree
    second.write_bytes(bytes(data))
    report = upscale_video(clip, out, **options)
    assert report.resumed_frames == 25
    upscale_video(clip, whole, **options)
    assert stream_packets(out) == stream_packets(whole)


def _record_of_an_older_layout(text: str) -> str:
    """The record as a version of vsr whose journal format was another would have written it:
    the same settings, work files that may not mean what they mean now."""
    return json.dumps({**json.loads(text), "format": "vsr-chunk-journal-1"})


@pytest.mark.parametrize(
    "damage", [lambda text: "{", _record_of_an_older_layout], ids=["cut-short", "older-layout"]
)
def test_an_unreadable_record_is_refused_and_with_overwrite_replaced(
    damage, clip, weights, tmp_path
):
    out = tmp_path / "out.mkv"
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, on_frames=interrupt_after(30, out, 1), **options)
    record = journal_folder(out) / "run.json"
    record.write_text(damage(record.read_text()))
    with pytest.raises(VsrError, match="has an unreadable record of its settings"):
        upscale_video(clip, out, **options)
    report = upscale_video(clip, out, overwrite=True, **options)
    assert report.resumed_frames == 0


def test_a_journal_left_beside_a_finished_output_goes_with_the_next_run(clip, weights, tmp_path):
    out = tmp_path / "out.mkv"
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, on_frames=interrupt_after(30, out, 1), **options)
    # Without --resume the kept frames would be upscaled again and then deleted: refused.
    with pytest.raises(VsrError, match="upscaled frames of an interrupted run: add resume=True"):
        upscale_video(clip, out, weights=weights, progress=False)
    # Made with --overwrite (start over) instead: the journal has no use left.
    upscale_video(clip, out, weights=weights, progress=False, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv"]


def test_a_finished_run_leaves_a_resume_folder_holding_a_users_file(clip, weights, tmp_path):
    # The folder's name is vsr's, but a file in it is not: it is not vsr's to remove.
    out = tmp_path / "out.mkv"
    folder = journal_folder(out)
    folder.mkdir()
    (folder / "my notes.txt").write_text("mine")
    upscale_video(clip, out, weights=weights, progress=False)
    assert out.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["my notes.txt"]


def test_a_long_run_stopped_without_resume_says_how_to_keep_work(
    clip, weights, tmp_path, monkeypatch
):
    monkeypatch.setattr(runner, "RESUME_HINT_SECONDS", 0.0)  # any run counts as long here

    def stop(count: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stopped:
        upscale_video(clip, tmp_path / "out.mkv", weights=weights, progress=False, on_frames=stop)
    assert stopped.value.__notes__ == [
        "the upscaled frames are lost: with resume=True a run keeps its finished "
        "part, and the same command continues from there"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_resume_folder_removed_mid_run_is_one_line(clip, weights, tmp_path, monkeypatch, capsys):
    # A clean-up of hidden folders (or advice followed) removed a live run's journal: the
    # next chunk's file could not be made, and the run ended with a FileNotFoundError
    # traceback and exit 1.
    out = tmp_path / "out.mkv"
    add = ChunkRecorder.add

    def removing_the_folder(self, packet) -> None:
        shutil.rmtree(journal_folder(out), ignore_errors=True)
        add(self, packet)

    monkeypatch.setattr(ChunkRecorder, "add", removing_the_folder)
    command = ["run", str(clip), str(out), "--weights", str(weights), "--resume", "--quiet"]
    assert main(command) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: {out}: its resume folder {journal_folder(out).name} was removed during "
        "the run (by a clean-up of the folder?); nothing was written\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_resume_run_whose_output_another_run_finished_first_keeps_no_chunks(
    clip, weights, tmp_path, monkeypatch, capsys
):
    # Its output kept as out.2.mkv, it left its whole journal behind and said "the same
    # command with --resume continues from there", which was then refused (out.mkv exists).
    out = tmp_path / "out.mkv"
    add = ChunkRecorder.add

    def while_another_run_finishes(self, packet) -> None:
        if not out.exists():
            out.write_bytes(b"the other run's output")
        add(self, packet)

    monkeypatch.setattr(ChunkRecorder, "add", while_another_run_finishes)
    command = ["run", str(clip), str(out), "--weights", str(weights), "--resume", "--quiet"]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err == (
        f"vsr: error: {out} was written by another run meanwhile, and is kept; this run's "
        "output is out.2.mkv beside it (--overwrite replaces instead)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.2.mkv", "out.mkv"]
    assert out.read_bytes() == b"the other run's output"


def test_a_full_disk_is_one_line_and_the_finished_chunks_stay(
    clip, weights, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "out.mkv"
    add = ChunkRecorder.add
    written = 0

    def filling(self, packet) -> None:
        nonlocal written
        written += 1
        if written > 40:  # into the second chunk
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path) + ".partial")
        add(self, packet)

    monkeypatch.setattr(ChunkRecorder, "add", filling)
    command = ["run", str(clip), str(out), "--weights", str(weights), "--resume", "--quiet"]
    assert main(command) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("vsr: error: ") and err[0].endswith(": No space left on device")
    assert err[1].startswith("vsr: 25 upscaled frames are kept in ")
    monkeypatch.setattr(ChunkRecorder, "add", add)
    assert main(command) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv"]


def test_running_out_of_gpu_memory_around_the_network_is_one_line_and_the_chunks_stay(
    clip, weights, tmp_path, monkeypatch, capsys
):
    import vsr.engine

    out = tmp_path / "out.mkv"
    convert = vsr.engine.rgb_to_yuv
    converted = 0

    def out_of_memory_in_the_second_chunk(*args, **kwargs):
        nonlocal converted
        converted += 1
        if converted <= 30:
            return convert(*args, **kwargs)
        first_chunk = journal_folder(out) / "chunk-000000.bin"
        deadline = time.monotonic() + 30
        while not first_chunk.exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # the encoder thread stores it
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 530.00 MiB")

    monkeypatch.setattr(vsr.engine, "rgb_to_yuv", out_of_memory_in_the_second_chunk)
    command = ["run", str(clip), str(out), "--weights", str(weights), "--resume", "--quiet"]
    assert main(command) == 2
    assert capsys.readouterr().err.splitlines() == [
        "vsr: error: the GPU ran out of memory outside the network, on a batch of 1 frame: "
        "use a lower --max-memory, free GPU memory (another process may hold it), or use "
        "--device cpu",
        f"vsr: 25 upscaled frames are kept in {journal_folder(out)}: the same command with "
        "--resume continues from there",
    ]
    monkeypatch.setattr(vsr.engine, "rgb_to_yuv", convert)
    assert main(command) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv"]


@pytest.mark.parametrize("shared", [24, 23], ids=["chunk-ends-on-the-first", "on-the-second"])
def test_frames_that_share_a_timestamp_across_a_chunk_join_are_all_kept(shared, weights, tmp_path):
    """A damaged source gives three frames one pts; chunk 0 (frames 0-24) ends on the first
    or the second of them. The resumed run must skip those of them chunk 0 holds, no more
    (frames lost) and no fewer (one written twice), and give the next chunk room for an
    increasing dts after the pts chunk 0's last frame was written at."""
    source = tmp_path / "repeats.mkv"
    stamps = [*range(shared + 1), shared, shared, *range(shared + 1, shared + 21)]
    with av.open(str(source), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 25)
        for index, pts in enumerate(stamps):
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), index * 5, np.uint8), format="rgb24"
            ).reformat(format="yuv420p")
            frame.pts, frame.time_base = pts, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    options = dict(weights=weights, progress=False, resume=True, settings=EncodeSettings("ffv1"))
    whole, out = tmp_path / "whole.mkv", tmp_path / "out.mkv"
    upscale_video(source, whole, **options)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(source, out, on_frames=interrupt_after(30, out, 1), **options)
    report = upscale_video(source, out, **options)
    assert (report.resumed_frames, report.frames) == (25, len(stamps))
    assert stream_packets(out)["video"] == stream_packets(whole)["video"]


def test_a_run_resumed_and_interrupted_again_keeps_its_chunks_apart(clip, weights, tmp_path):
    """Stopped after chunk 0, resumed and stopped again after chunk 1: the second run must
    number its chunk after the one it continued, not store it over chunk 0. Each stop
    leaves the finished chunks alone: the one being recorded (.partial) goes with it."""
    whole, out = tmp_path / "whole.mkv", tmp_path / "out.mkv"
    options = dict(weights=weights, progress=False, resume=True)
    upscale_video(clip, whole, **options)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, on_frames=interrupt_after(27, out, 1), **options)
    assert sorted(p.name for p in journal_folder(out).glob("chunk-*")) == ["chunk-000000.bin"]
    first = (journal_folder(out) / "chunk-000000.bin").read_bytes()
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, on_frames=interrupt_after(27, out, 2), **options)
    kept = sorted(p.name for p in journal_folder(out).glob("chunk-*"))
    assert kept == ["chunk-000000.bin", "chunk-000001.bin"]
    assert (journal_folder(out) / "chunk-000000.bin").read_bytes() == first
    report = upscale_video(clip, out, **options)
    assert (report.resumed_frames, report.frames) == (50, 60)
    assert stream_packets(out)["video"] == stream_packets(whole)["video"]


def test_an_output_beside_kept_chunks_names_them_and_removes_nothing(clip, weights, tmp_path):
    # Killed between the output's rename and the journal's removal, or a file of someone
    # else's: vsr cannot tell, so it says which choices there are.
    out = tmp_path / "out.mkv"
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, on_frames=interrupt_after(27, out, 1), **options)
    out.write_bytes(b"an output")
    with pytest.raises(VsrError, match="already exists") as refused:
        upscale_video(clip, out, **options)
    assert refused.value.__notes__ == [
        f"{journal_folder(out)} holds 25 upscaled frames: if out.mkv is their finished "
        "output, remove that folder; overwrite=True with resume=True continues them into a new one"
    ]
    assert (journal_folder(out) / "chunk-000000.bin").exists()
    report = upscale_video(clip, out, overwrite=True, **options)  # what the note offers
    assert (report.resumed_frames, report.frames) == (25, 60)


def _folder_run_interrupted_after_a_chunk(clip: Path, weights, tmp_path: Path, monkeypatch):
    """A folder of one clip (a.mkv) run with --resume and stopped like Ctrl-C once its
    first chunk is kept: (the clips' folder, the output folder, the command)."""
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    out.mkdir()
    (clips / "a.mkv").write_bytes(clip.read_bytes())
    command = ["run", str(clips), str(out), "--weights", str(weights), "--resume", "--quiet"]
    with monkeypatch.context() as patch:
        real = runner.start_upscale
        stop = interrupt_after(27, out / "a.mkv", 1)
        patch.setattr(runner, "start_upscale", lambda *a, **k: real(*a, on_frames=stop, **k))
        assert main(command) == 130
    return clips, out, command


def test_in_folder_mode_a_clip_changed_since_its_chunks_were_kept_starts_over(
    clip, weights, tmp_path, capsys, monkeypatch
):
    # --overwrite would redo every clip of the folder, and the kept frames can never serve
    # the new version: that clip starts over on its own, and says so.
    clips, out, command = _folder_run_interrupted_after_a_chunk(
        clip, weights, tmp_path, monkeypatch
    )
    os.utime(clips / "a.mkv", ns=(1, 1))  # a new version of the clip arrived
    assert main(command[:-1]) == 0
    said = capsys.readouterr().err
    assert "vsr: a.mkv: note: its kept frames were of an earlier version; starting over" in said
    assert stream_packets(out / "a.mkv")["video"] and not journal_folder(out / "a.mkv").exists()


def test_in_folder_mode_kept_work_of_other_settings_is_told_how_to_start_that_clip_over(
    clip, weights, tmp_path, capsys, monkeypatch
):
    # It advised --overwrite, which in a folder run redoes every clip already finished.
    _, out, command = _folder_run_interrupted_after_a_chunk(clip, weights, tmp_path, monkeypatch)
    capsys.readouterr()
    assert main([*command, "--crf", "30"]) == 1
    kept = journal_folder(out / "a.mkv")
    said = capsys.readouterr().err
    assert (
        f"failed: a.mkv: {out / 'a.mkv'}: the run kept in {kept} was made with other settings "
        f"(encoder settings); run that command again to continue it, or remove {kept} to start "
        "this clip over (--overwrite would redo every clip of the folder)"
    ) in said
    assert kept.is_dir()


def test_in_folder_mode_kept_work_met_without_resume_is_told_how_to_start_that_clip_over(
    clip, weights, tmp_path, capsys, monkeypatch
):
    # It advised --overwrite here too, which redoes every clip of the folder already finished.
    _, out, command = _folder_run_interrupted_after_a_chunk(clip, weights, tmp_path, monkeypatch)
    capsys.readouterr()
    without_resume = [word for word in command if word != "--resume"]
    assert main(without_resume) == 1
    kept = journal_folder(out / "a.mkv")
    assert (
        f"failed: a.mkv: {kept} holds 25 upscaled frames of an interrupted run: add --resume to "
        f"continue it, or remove {kept} to start this clip over (--overwrite would redo every "
        "clip of the folder)"
    ) in capsys.readouterr().err
    assert kept.is_dir()


def test_chunks_kept_for_the_same_name_in_another_container_are_named(clip, weights, tmp_path):
    mkv, mp4 = tmp_path / "film.mkv", tmp_path / "film.mp4"
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, mkv, on_frames=interrupt_after(27, mkv, 1), **options)
    report = upscale_video(clip, mp4, **options)  # another container: those chunks can't serve
    assert (report.resumed_frames, report.frames) == (0, 60)
    assert (
        f"{journal_folder(mkv)} holds 25 upscaled frames kept for film.mkv, which only that "
        "output name continues (remove it if unwanted)"
    ) in report.notes
    assert journal_folder(mkv).exists()  # nothing removed


def test_a_resumed_mp4_is_byte_for_byte_the_uninterrupted_one(tmp_path, weights, monkeypatch):
    from media import make_clip

    import vsr.video.parallel_writer as parallel_writer
    from vsr.runner import upscale_video

    monkeypatch.setattr(parallel_writer, "JOURNAL_CHUNK_SECONDS", 1)
    clip = tmp_path / "in.mp4"
    make_clip(clip, frames=60, keyframe_every=10)
    whole, resumed = tmp_path / "whole.mp4", tmp_path / "resumed.mp4"
    # mbtree off: libx264's own output varies with it on an AVX-512 CPU (see the README).
    settings = EncodeSettings(options={"x264-params": "mbtree=0"})
    options = dict(weights=weights, progress=False, resume=True, settings=settings)
    upscale_video(clip, whole, **options)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, resumed, on_frames=interrupt_after(52, resumed, 2), **options)
    assert upscale_video(clip, resumed, **options).resumed_frames == 50
    assert resumed.read_bytes() == whole.read_bytes()  # README: byte for byte in MP4 and MOV


def test_a_resumed_runs_note_names_the_frame_as_the_output_counts_it(
    weights, tmp_path, monkeypatch
):
    # The reader counted the frames of a resumed run from the resume: a siting that changed
    # at the output's 31st frame was "seen at frame 10" of a run that kept 25, not at 35.
    from vsr.video import siting_watch

    monkeypatch.setattr(siting_watch, "LOOK_EVERY", 10)
    source, out = tmp_path / "joined.ts", tmp_path / "out.mkv"
    make_siting_change_clip(source, [("left", 30), ("topleft", 30)], gop=1)
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(source, out, on_frames=interrupt_after(27, out, 1), **options)
    report = upscale_video(source, out, **options)
    assert (report.resumed_frames, report.frames) == (25, 60)
    said = [note for note in report.notes if "siting changes mid-stream" in note]
    assert len(said) == 1 and "(to topleft, seen at frame 35)" in said[0], report.notes


def test_a_resumed_run_compiles_only_where_the_frames_left_repay_the_build(
    clip, weights, tmp_path, monkeypatch
):
    # A 60-frame clip interrupted after 50 frames: "auto" built a package (15 s on 2 cores)
    # for the 10 frames left, because all 60 repaid it, and said the clip was long enough.
    from vsr import upscale as upscale_module
    from vsr.ops import compile_policy

    compiled = []

    def compile_network(network, mode=None, ahead_of_time=True, builds=True):
        def call(x):  # stands in for the package
            compiled.append(tuple(x.shape))
            return network(x)

        return call

    monkeypatch.setattr(upscale_module, "compile_network", compile_network)
    monkeypatch.setattr(upscale_module, "cpp_compiler_found", lambda: True)
    monkeypatch.setattr(compile_policy, "PIXELS_THAT_REPAY_A_BUILD", 30 * 48 * 64)
    out = tmp_path / "out.mkv"
    options = dict(weights=weights, progress=False, resume=True, device="cpu")
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, on_frames=interrupt_after(52, out, 2), **options)
    compiled.clear()
    report = upscale_video(clip, out, compile="auto", **options)
    assert (report.resumed_frames, report.frames) == (50, 60)
    assert compiled == []
    assert report.fast_path["compile"] is False


def test_a_failure_before_the_writer_opens_removes_a_journal_that_holds_nothing(
    clip, weights, tmp_path, monkeypatch
):
    # The journal is started before the writer opens: an error between the two (here the
    # look at other names' journals) left a new, empty folder behind, locked.
    out = tmp_path / "out.mkv"

    def unreadable(target: Path) -> list[str]:
        raise PermissionError(errno.EACCES, "Permission denied", str(target.parent))

    monkeypatch.setattr(runner, "notes_on_journals_of_other_names", unreadable)
    with pytest.raises(PermissionError):
        upscale_video(clip, out, weights=weights, progress=False, resume=True)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_before_the_writer_opens_keeps_the_chunks_and_lets_them_go(
    clip, weights, tmp_path, monkeypatch
):
    # The same run, with chunks kept: they stay, the error says so, and its lock is let go
    # at once, not when the journal is collected (here the traceback holds it): the next
    # run of the same process continues them.
    out = tmp_path / "out.mkv"
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, on_frames=interrupt_after(52, out, 2), **options)

    def refused(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(runner, "open_writer", refused)
        with pytest.raises(KeyboardInterrupt) as stopped:
            upscale_video(clip, out, **options)
    assert stopped.value.__notes__ == [
        f"50 upscaled frames are kept in {journal_folder(out)}: the same command with "
        "resume=True continues from there"
    ]
    report = upscale_video(clip, out, **options)
    assert (report.resumed_frames, report.frames) == (50, 60)
