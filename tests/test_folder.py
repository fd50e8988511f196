"""Folder mode and --watch: keep going past failures, skip finished work, exactly once."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest
from media import folder_with_outputs, make_clip, make_vob

from vsr.bench_clip import make_bench_clip
from vsr.cli import main
from vsr.errors import VsrError
from vsr.folder import process_folder, watch_folder
from vsr.report import FolderReport, RunReport
from vsr.watch_state import LOCK_FILE, STATE_FILE, WatchState


def test_folder_keeps_going_past_a_bad_clip_then_skips_finished_ones(tmp_path, weights, capsys):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    make_clip(clips / "a.mp4", 32, 24, frames=2)
    (clips / "b.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    make_clip(clips / "c.mkv", 32, 24, frames=3)
    (clips / "notes.txt").write_text("not a clip")
    report = tmp_path / "folder.json"

    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet"]
    assert main([*args, "--report", str(report)]) == 1  # one failed: non-zero
    assert "failed: b.mp4" in capsys.readouterr().err  # even with --quiet
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "c.mkv"]
    data = json.loads(report.read_text())
    assert data["summary"]["done"] == 2 and data["summary"]["failed"] == 1
    assert data["summary"]["frames"] == 5
    assert [Path(c["input"]).name for c in data["clips"]] == ["a.mp4", "b.mp4", "c.mkv"]
    failed = [c for c in data["clips"] if c["status"] == "failed"]
    assert [Path(c["input"]).name for c in failed] == ["b.mp4"]
    assert "b.mp4" in failed[0]["error"] or "media" in failed[0]["error"]

    mtime = (out / "a.mp4").stat().st_mtime_ns
    assert main([*args, "--report", str(report)]) == 1  # b still fails; a and c skipped
    assert (out / "a.mp4").stat().st_mtime_ns == mtime
    assert json.loads(report.read_text())["summary"]["skipped"] == 2

    (clips / "b.mp4").unlink()
    assert main([*args, "--overwrite", "--report", str(report)]) == 0
    assert json.loads(report.read_text())["summary"]["done"] == 2
    assert (out / "a.mp4").stat().st_mtime_ns != mtime


def _frames(path: Path) -> int:
    """Frames decoded from a clip's video."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# A watch that looks every 50 ms, ends after 0.2 s without new clips, and says nothing.
QUICK_WATCH = {"interval_s": 0.05, "idle_exit_s": 0.2, "log": lambda _: None}


class Recorder:
    """A stand-in clip runner: remembers what it saw, fails on request."""

    def __init__(self, fail: set[str] = frozenset()) -> None:
        self.calls: list[tuple[str, int]] = []
        self.replaced: list[str] = []  # the clips run with replace=True (redone)
        self.fail = fail

    def __call__(self, clip: Path, output: Path, replace: bool = False) -> RunReport:
        self.calls.append((clip.name, clip.stat().st_size))
        if replace:
            self.replaced.append(clip.name)
        if clip.name in self.fail:
            raise ValueError("broken clip")
        output.write_bytes(b"done")
        return RunReport(
            str(clip), str(output), 1, 0, 0.1, 10.0, {}, 1.0, 0.0, 0.0, "cpu", None, "fp32", 1, 2.0,
            "imdn", 2, (1, 1), (2, 2), None, "libx264", "yuv420p", 0,
        )  # fmt: skip


def test_a_clip_finishes_in_the_background_while_the_next_one_runs(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (clips / name).write_bytes(b"1234")
    events: list[str] = []
    started_b = threading.Event()

    def run_clip(clip: Path, output: Path):
        events.append(f"run {clip.name}")
        if clip.name == "b.mp4":
            started_b.set()

        def finish():
            if clip.name == "a.mp4":
                assert started_b.wait(5)  # a's flush overlaps b's run
            events.append(f"finish {clip.name}")
            if clip.name == "c.mp4":
                raise OSError("rename failed")
            return Recorder()(clip, output)

        return finish

    summary = process_folder(clips, out, run_clip, progress=False, log=lambda _: None)
    assert events.index("run b.mp4") < events.index("finish a.mp4")
    outcome = [(Path(c["input"]).name, c["status"]) for c in summary.clips]
    assert outcome == [("a.mp4", "done"), ("b.mp4", "done"), ("c.mp4", "failed")]
    assert "rename failed" in summary.clips[2]["error"]


class ScriptedTime:
    """A clock and a sleep for watch_folder: each sleep moves the clock on and then does
    what the script holds for that look (the world changing between two looks), so a test
    does not depend on how fast threads run on a loaded machine."""

    def __init__(self, script: dict[int, Callable[[], None]]) -> None:
        self.now, self.looks, self.script = 0.0, 0, script

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.looks += 1
        self.script.get(self.looks, lambda: None)()
        assert self.looks < 1000, "the watch never ended"


def test_watch_waits_until_a_growing_clip_stops_changing(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()

    def grow() -> None:
        with open(clips / "slow.mp4", "ab") as stream:
            stream.write(b"x" * 1000)

    # The copy grows between every two looks for ten looks, then stops.
    time_ = ScriptedTime(dict.fromkeys(range(1, 11), grow))
    runner = Recorder()
    watch_folder(
        clips, out, runner, interval_s=0.3, idle_exit_s=0.7, log=lambda _: None,
        clock=time_.clock, sleep=time_.sleep,
    )  # fmt: skip
    assert runner.calls == [("slow.mp4", 10000)]  # once, and only when complete


def test_watch_does_each_clip_once_and_a_restart_retries_only_failures(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mp4", "bad.mp4"):
        (clips / name).write_bytes(b"1234")
    first = Recorder(fail={"bad.mp4"})
    summary = watch_folder(clips, out, first, **QUICK_WATCH)
    assert sorted(first.calls) == [("a.mp4", 4), ("bad.mp4", 4)]
    assert summary.count("failed") == 1
    state = WatchState(out, clips).clips
    assert state["a.mp4"]["status"] == "done" and state["bad.mp4"]["status"] == "failed"
    assert "broken clip" in state["bad.mp4"]["error"]

    # A restart: the new clip, and the failed one once more (what failed it may have been
    # the run's, and mended since: a corrected command found every clip marked failed).
    (clips / "new.mp4").write_bytes(b"5678")
    second = Recorder(fail={"bad.mp4"})
    watch_folder(clips, out, second, **QUICK_WATCH)
    assert sorted(second.calls) == [("bad.mp4", 4), ("new.mp4", 4)]
    assert WatchState(out, clips).clips["bad.mp4"]["status"] == "failed"

    (clips / "bad.mp4").write_bytes(b"fixed clip")  # a changed file gets another chance
    third = Recorder(fail={"bad.mp4"})
    watch_folder(clips, out, third, **QUICK_WATCH)
    assert third.calls == [("bad.mp4", 10)]  # once within a watch, however long it runs


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--weights", "missing.safetensors"], "weights file not found: missing.safetensors"),
        (["--codec", "bogus"], "unknown video codec 'bogus'"),
        (["--pix-fmt", "bogus"], "--pix-fmt bogus: vsr encodes planar YUV"),
        (["--pix-fmt", "yuvj420p"], "--pix-fmt yuvj420p: that is yuv420p in full range"),
        (["--scale", "0"], "--scale must be a positive number, not 0.0"),
        (["--device", "mps"], "vsr runs on cpu or cuda, not on mps"),
        # Of the codec asked for, which every clip gets: each clip failed with these.
        (["--codec", "libx264", "--crf", "60"], "crf 60: libx264 takes 0 to 51"),
        (["--codec", "libx264", "--preset", "fastest"], "libx264 has no preset 'fastest'"),
        (["--codec", "libx264", "--pix-fmt", "gbrp"], "--pix-fmt gbrp: libx264 takes yuv420p"),
        (["--codec", "utvideo"], "utvideo cannot be stored in any file vsr writes"),
        (["-e", "time_base=1/10"], "-e time_base=1/10: vsr sets the encoder's time base"),
        (["--codec", "libx264", "-e", "foo=1"], "libx264 has no option foo"),
        # Without --codec too, where no encoder a clip may get has it: a watch's .webm
        # clips swap the codec, so each of its clips failed with this one in turn.
        (["-e", "foo=1"], "libx264 has no option foo"),
    ],
)
@pytest.mark.parametrize("mode", ["folder", "watch", "ray"])
def test_a_mistake_every_clip_would_meet_stops_a_folder_run_once(
    tmp_path, weights, capsys, flags, message, mode
):
    # Each clip failed in turn (exit 1, the error twice a clip), and a watch recorded them
    # all as failed, so the corrected command then did nothing.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_clip(clips / name, 32, 24, frames=2, audio=False)
    args = ["run", str(clips), str(out), "--quiet"]
    if "--weights" not in flags:
        args += ["--weights", str(weights)]
    if mode == "watch":
        args += ["--watch", "--watch-interval", "0.05", "--idle-exit", "0.3"]
    if mode == "ray":  # refused before Ray starts (it started, and every clip failed)
        args += ["--ray"]
    assert main([*args, *flags]) == 2
    err = capsys.readouterr().err
    assert err.count(message) == 1 and "failed" not in err
    assert not out.exists() or not any(out.iterdir())  # no outputs, no watch records
    if mode == "ray":
        return
    if "--weights" in flags:
        flags = ["--weights", str(weights)]
    elif "--device" in flags:
        flags = ["--device", "cpu"]
    else:
        flags = []
    assert main([*args, *flags]) == 0  # corrected: every clip is done
    assert sorted(p.name for p in out.glob("*.mp4")) == ["a.mp4", "b.mp4"]


@pytest.mark.parametrize(
    ("preset", "message"),
    [
        ('[options]\nfoo = "1"\n', "[options] foo: libx264 has no such option"),
        ("max_memory = 1\n", "is less than the network needs for its smallest windows"),
    ],
)
@pytest.mark.parametrize("mode", ["folder", "watch"])
def test_a_pipelines_mistake_every_clip_would_meet_stops_a_folder_run_once(
    tmp_path, weights, capsys, preset, message, mode
):
    # An option the codec lacks, or a budget below the smallest windows', failed each clip
    # in turn (exit 1), as did -e foo=1 and --max-memory 1.
    clips, out, pipeline = tmp_path / "in", tmp_path / "out", tmp_path / "p.toml"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_clip(clips / name, 32, 24, frames=2, audio=False)
    pipeline.write_text(preset)
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet"]
    args += ["--pipeline", str(pipeline), "--codec", "libx264"]
    if mode == "watch":
        args += ["--watch", "--watch-interval", "0.05", "--idle-exit", "0.3"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count(message) == 1 and "failed" not in err
    assert not out.exists() or not any(out.iterdir())


def test_a_memory_budget_below_the_smallest_windows_stops_a_folder_run_once(
    tmp_path, weights, capsys
):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_clip(clips / name, 32, 24, frames=2, audio=False)
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet"]
    assert main([*args, "--max-memory", "1"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("vsr: error: the memory budget (0.0 KiB) is less than the network")
    assert line.endswith("raise --max-memory") and not out.exists()
    assert main([*args, "--max-memory", "1GiB"]) == 0  # a budget the windows keep to


def test_a_setting_the_default_codec_refuses_stops_a_folder_of_mp4_clips_once(
    tmp_path, weights, capsys
):
    # Without --codec the check up front gave way to the .webm clip a folder might hold,
    # so a folder of .mp4 clips, every one encoded with libx264, failed clip by clip.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_clip(clips / name, 32, 24, frames=2, audio=False)
    args = ["run", str(clips), str(out), "--weights", str(weights), "--crf", "60", "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["vsr: error: crf 60: libx264 takes 0 to 51"]
    assert not out.exists()


def test_a_setting_of_the_default_codec_a_webm_clip_does_not_get_is_left_to_each_clip(
    tmp_path, weights, capsys
):
    # Without --codec a .webm clip is encoded with VP9, which takes crf 60 (libx264 stops
    # at 51): the run is not refused up front; the .mp4 clip alone fails with it.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    make_clip(clips / "a.mp4", 32, 24, frames=2, audio=False)
    make_clip(clips / "b.webm", 32, 24, frames=2, audio=False, codec="libvpx-vp9")
    args = ["run", str(clips), str(out), "--weights", str(weights), "--crf", "60", "--quiet"]
    assert main(args) == 1
    assert "failed: a.mp4: crf 60: libx264 takes 0 to 51" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["b.webm"]


@pytest.mark.parametrize("mode", ["folder", "watch"])
def test_an_e_option_only_a_webm_clip_s_codec_has_is_left_to_each_clip(
    tmp_path, weights, capsys, mode
):
    # Without --codec a .webm clip is encoded with VP9, which has cpu-used (libx264 has
    # not): the run is not refused up front; the .mp4 clip alone fails with it.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    make_clip(clips / "a.mp4", 32, 24, frames=2, audio=False)
    make_clip(clips / "b.webm", 32, 24, frames=2, audio=False, codec="libvpx-vp9")
    args = ["run", str(clips), str(out), "--weights", str(weights), "-e", "cpu-used=4", "--quiet"]
    if mode == "watch":
        args += ["--watch", "--watch-interval", "0.05", "--idle-exit", "0.3"]
    assert main(args) == 1
    failure = next(line for line in capsys.readouterr().err.splitlines() if "failed" in line)
    assert "a.mp4" in failure and failure.endswith(
        "libx264 has no option cpu-used (check -e KEY=VALUE)"
    )
    assert _frames(out / "b.webm") == 2 and not (out / "a.mp4").exists()


def test_an_e_option_only_av1_has_is_left_to_a_deeper_webm_clip_that_gets_it(tmp_path, weights):
    # A .webm clip of more than 8 bits is encoded with SVT-AV1 (PyAV's VP9 has 8 bits
    # only), which has svtav1-params where libx264 and VP9 have not: the run is not refused
    # up front, and that clip is done.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    make_clip(
        clips / "deep.webm", 32, 24, frames=2, audio=False, codec="libsvtav1",
        pix_fmt="yuv420p10le",
    )  # fmt: skip
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet"]
    assert main([*args, "-e", "svtav1-params=lp=1"]) == 0
    with av.open(str(out / "deep.webm")) as written:
        assert written.streams.video[0].codec_context.name in ("av1", "libdav1d")
    assert _frames(out / "deep.webm") == 2


def test_watch_treats_an_output_finished_before_a_crash_as_done(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    out.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    (out / "a.mp4").write_bytes(b"finished earlier")  # the state write was lost
    runner = Recorder()
    watch_folder(clips, out, runner, interval_s=0.05, idle_exit_s=0.2, log=lambda _: None)
    assert runner.calls == []
    assert WatchState(out, clips).clips["a.mp4"]["status"] == "done"


def test_watch_from_the_command_line(tmp_path, weights):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    make_clip(clips / "a.mp4", 32, 24, frames=2)
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet", "--watch"]
    assert main([*args, "--watch-interval", "0.1", "--idle-exit", "0.5"]) == 0
    assert _frames(out / "a.mp4") == 2
    assert WatchState(out, clips).clips["a.mp4"]["status"] == "done"


def test_a_watch_without_an_interval_looks_every_two_seconds(tmp_path, weights, monkeypatch):
    # The README's promise: a clip must be still for one --watch-interval, 2 s unless given.
    import vsr.folder

    asked = {}

    def watch(*args, interval_s, **kwargs):
        asked["interval_s"] = interval_s
        return kwargs["summary"]

    monkeypatch.setattr(vsr.folder, "watch_folder", watch)
    clips = tmp_path / "in"
    clips.mkdir()
    args = ["run", str(clips), str(tmp_path / "out"), "--weights", str(weights), "--watch"]
    assert main([*args, "--quiet"]) == 0
    assert asked == {"interval_s": 2.0}


def test_a_watch_ended_with_ctrl_c_says_what_it_did_and_what_failed(
    tmp_path, weights, monkeypatch, capsys
):
    # Ctrl-C, a watch's usual end, printed only "vsr: interrupted": no count and no list of
    # the clips that failed, which the same watch ended by --idle-exit prints.
    import vsr.folder

    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    make_clip(clips / "a.mp4", 32, 24, frames=2, audio=False)
    (clips / "bad.mp4").write_bytes(b"not a video")
    watch = vsr.folder.watch_folder

    looks = []

    def ctrl_c_once_both_were_tried(seconds: float) -> None:
        looks.append(seconds)
        tried = WatchState(out, clips).clips if out.exists() else {}
        statuses = sorted(clip.get("status") for clip in tried.values())
        if statuses == ["done", "failed"] or len(looks) > 200:
            raise KeyboardInterrupt
        time.sleep(seconds)

    monkeypatch.setattr(
        vsr.folder,
        "watch_folder",
        lambda *a, **kw: watch(*a, **kw, sleep=ctrl_c_once_both_were_tried),
    )
    args = ["run", str(clips), str(out), "--weights", str(weights), "--watch"]
    assert main([*args, "--watch-interval", "0.05"]) == 130
    said = capsys.readouterr().err.splitlines()
    assert said[-1] == "vsr: interrupted"
    assert said[-3].startswith("vsr: 1 done, 0 skipped, 1 failed (2 frames in ")
    assert said[-2].startswith("vsr:   failed: bad.mp4: ")


def test_a_watch_of_a_folder_that_is_not_there_says_so(tmp_path, weights, capsys):
    # It said "--watch needs a folder INPUT" of a folder name mistyped.
    args = ["--weights", str(weights), "--watch"]
    assert main(["run", str(tmp_path / "inbox"), str(tmp_path / "out"), *args]) == 2
    make_clip(tmp_path / "a.mp4", 32, 24, frames=2, audio=False)
    assert main(["run", str(tmp_path / "a.mp4"), str(tmp_path / "out"), *args]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"vsr: error: {tmp_path / 'inbox'}: no such folder to watch",
        "vsr: error: --watch needs a folder INPUT",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]


def test_the_clips_of_a_folder_share_one_network_and_one_upscaler(tmp_path, weights):
    from vsr.network_cache import NetworkCache
    from vsr.runner import upscale_video

    cache = NetworkCache(str(weights))
    for name in ("a", "b"):
        make_clip(tmp_path / f"{name}.mkv", 32, 24, frames=2, audio=False)
        report = upscale_video(
            tmp_path / f"{name}.mkv",
            tmp_path / f"{name}-x2.mkv",
            weights=cache,
            device="cpu",
            progress=False,
        )
        assert report.frames == 2 and report.warmup_s == 0.0
    assert len(cache.models) == 1 and len(cache.upscalers) == 1
    # Given weights serve a clip of any factor: one that needs x3 loads them no second time.
    assert cache.get(3) is cache.get(2) and len(cache.models) == 1


def test_folder_mode_writes_clips_in_containers_vsr_cannot_write(tmp_path, weights):
    clips = tmp_path / "in"
    clips.mkdir()
    make_clip(clips / "a.ts", 32, 24, frames=4, audio=False)  # found, but vsr cannot write TS
    assert (
        main(["run", str(clips), str(tmp_path / "out"), "--weights", str(weights), "--quiet"]) == 0
    )
    assert _frames(tmp_path / "out" / "a.mkv") == 4


def test_folder_mode_takes_the_vob_clips_of_a_dvd(tmp_path, weights):
    clips = tmp_path / "VIDEO_TS"
    clips.mkdir()
    make_vob(clips / "VTS_01_1.VOB", [(Fraction(4, 3), 4)])  # a disc's names are upper-case
    out = tmp_path / "out"
    assert main(["run", str(clips), str(out), "--weights", str(weights), "--quiet"]) == 0
    assert _frames(out / "VTS_01_1.mkv") == 4


def test_folder_input_with_a_file_like_output_is_refused(tmp_path, weights):
    (tmp_path / "in").mkdir()
    args = [str(tmp_path / "in"), str(tmp_path / "out.mp4"), "--weights", str(weights)]
    assert main(["run", *args]) == 2
    assert not (tmp_path / "out.mp4").exists()


def test_watch_survives_a_clip_removed_while_it_runs_and_records_it(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "gone.mp4").write_bytes(b"1234")
    (clips / "kept.mp4").write_bytes(b"5678")

    class RemovesItsClip(Recorder):
        def __call__(self, clip: Path, output: Path) -> RunReport:
            report = super().__call__(clip, output)
            if clip.name == "gone.mp4":
                clip.unlink()  # moved away by the user while (or right after) it ran
            return report

    runner = RemovesItsClip()
    summary = watch_folder(clips, out, runner, interval_s=0.05, idle_exit_s=0.2, log=lambda _: None)
    assert sorted(runner.calls) == [("gone.mp4", 4), ("kept.mp4", 4)]
    assert summary.count("done") == 2
    state = WatchState(out, clips).clips
    assert state["gone.mp4"]["status"] == "done" and state["gone.mp4"]["signature"][0] == 4


def test_an_empty_file_does_not_hold_off_idle_exit(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "placeholder.mp4").write_bytes(b"")  # a copy that never started
    runner = Recorder()
    finished: list[bool] = []
    watcher = threading.Thread(
        target=lambda: finished.append(
            watch_folder(clips, out, runner, interval_s=0.05, idle_exit_s=0.3, log=lambda _: None)
            is not None
        ),
        daemon=True,
    )
    watcher.start()
    watcher.join(timeout=5)
    assert finished == [True] and runner.calls == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--watch-interval", "0"], "--watch-interval must be more than 0"),
        (["--watch-interval", "-1"], "--watch-interval must be more than 0"),
        (["--watch-interval", "inf"], "--watch-interval must be .* at most a day"),  # overflowed
        (["--idle-exit", "-5"], "--idle-exit must be 0 seconds or more"),
    ],
)
def test_watch_timings_out_of_range_are_one_clear_error(tmp_path, flags, message, capsys):
    clips = tmp_path / "in"
    clips.mkdir()
    status = main(["run", str(clips), str(tmp_path / "out"), "--watch", "--device", "cpu", *flags])
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and re.match(f"vsr: error: {message}", lines[0])


def test_watch_timings_at_the_ends_of_their_range_are_taken(tmp_path, capsys):
    # "at most a day": a day itself is allowed, as is an --idle-exit of 0 (at once).
    clips = tmp_path / "in"
    clips.mkdir()
    flags = ["--watch-interval", "86400", "--idle-exit", "0"]
    assert (
        main(["run", str(clips), str(tmp_path / "out"), "--watch", "--device", "cpu", *flags]) == 0
    )
    assert capsys.readouterr().err.startswith("vsr: 0 done, 0 skipped, 0 failed (0 frames in ")


@pytest.mark.parametrize("watch", [False, True])
def test_an_output_folder_that_cannot_be_written_stops_the_run_at_once(
    tmp_path, monkeypatch, capsys, watch
):
    # Every clip was upscaled and then failed to be written (exit 1). Tests run as root,
    # who may write anywhere: the folder's permission is what os.access says.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    out.mkdir()
    (clips / "a.mp4").write_bytes(b"")
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: Path(path) != out and real_access(path, mode)
    )
    watching = ["--watch", "--idle-exit", "0"] if watch else []
    assert main(["run", str(clips), str(out), "--device", "cpu", *watching]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"vsr: error: {out}: output folder is not writable"]


def test_a_report_path_that_is_a_folder_is_one_clear_error(tmp_path):
    from vsr.errors import VsrError
    from vsr.folder import write_folder_report
    from vsr.report import FolderReport

    with pytest.raises(VsrError, match="cannot write the report"):
        write_folder_report(FolderReport(), tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(VsrError, match="cannot write the report"):
        write_folder_report(FolderReport(), tmp_path / "file" / "run.json")


@pytest.mark.parametrize(
    ("mode", "name", "refusal"),
    [
        ([], "b.mkv", "would replace the OUTPUT video of b.mkv"),
        ([], "c.mkv", "would replace the OUTPUT video of c.avi"),  # c.avi is written as c.mkv
        (["--ray"], "b.mkv", "would replace the OUTPUT video of b.mkv"),  # before Ray starts
        (["--watch", "--idle-exit", "0"], "b.mkv", "would replace the OUTPUT video of b.mkv"),
        (["--watch", "--idle-exit", "0"], "later.MP4", "under a video's name, which a clip"),
        # The next watch stopped: "line 1 is not a watch record".
        (["--watch", "--idle-exit", "0"], STATE_FILE, "would replace the watch's record"),
        (["--watch", "--idle-exit", "0"], LOCK_FILE, "would replace the watch's record"),
    ],
)
def test_a_report_is_never_written_over_a_clips_output(tmp_path, weights, capsys, mode, name, refusal):  # fmt: skip
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    make_clip(clips / "b.mkv", 32, 24, frames=2, audio=False)
    (clips / "c.avi").write_bytes(b"never read: the run is refused first")
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet", *mode]
    assert main([*args, "--report", str(out / name)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsr: error: the report") and refusal in lines[0]
    assert not (out / name).exists() and not (out / "b.mkv").exists()


@pytest.mark.parametrize("report", ["out/b.mkv", "link/b.mkv"])
def test_a_report_named_relatively_or_through_a_link_is_never_written_over_a_clips_output(
    tmp_path, weights, monkeypatch, capsys, report
):
    # Compared as given, out/b.mkv (or link/b.mkv, link -> out) was no output's name: the JSON
    # was written over the upscaled b.mkv, and the next run skipped b.mkv as done.
    monkeypatch.chdir(tmp_path)
    Path("in").mkdir()
    Path("out").mkdir()
    Path("link").symlink_to(tmp_path / "out")
    make_clip(Path("in/b.mkv"), 32, 24, frames=2, audio=False)
    argv = ["run", "in", "out", "--weights", str(weights), "--quiet", "--report", report]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"vsr: error: the report {report} would replace the OUTPUT video of b.mkv; name another file"  # fmt: skip
    assert not Path("out/b.mkv").exists()


@pytest.mark.parametrize("mode", [["--ray"], ["--ray", "--segments", "2"]])
def test_a_ray_run_of_one_clip_refuses_a_report_over_its_output_before_it_starts(
    tmp_path, weights, capsys, mode
):
    # It wrote the JSON over the finished video.
    source, out = tmp_path / "b.mkv", tmp_path / "out.mkv"
    make_clip(source, 32, 24, frames=2, audio=False)
    args = ["run", str(source), str(out), "--weights", str(weights), "--quiet", *mode]
    assert main([*args, "--report", str(out)]) == 2
    assert "the report" in capsys.readouterr().err and not out.exists()


def test_a_ray_run_sends_its_workers_absolute_paths(tmp_path, weights, monkeypatch):
    # Workers of a cluster started elsewhere run in the folder `ray start` ran in: a
    # relative path failed every clip there ("fin3/a.mkv: no such file").
    from vsr import cluster

    clips = tmp_path / "in"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    sent = []

    def run_on_the_cluster(jobs, summary, **_):
        sent.extend(jobs)
        return summary

    monkeypatch.setattr(cluster, "_run_on_the_cluster", run_on_the_cluster)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "in", "out", "--weights", str(weights), "--quiet", "--ray"]) == 0
    assert sent == [cluster.ClipJob(tmp_path / "in" / "a.mp4", tmp_path / "out" / "a.mp4")]


def test_a_ray_run_leaves_weights_in_a_folder_only_workers_have_to_them(tmp_path, monkeypatch):
    # The up-front check refused them ("weights file not found"), though each worker
    # could open the path on the cluster's own disk.
    from vsr import cluster

    clips = tmp_path / "in"
    clips.mkdir()
    sent = []
    monkeypatch.setattr(
        cluster,
        "run_folder",
        lambda *_, weights, **__: sent.append(weights) or cluster.ClusterReport(),
    )
    only_there = "/cluster-disk-of-the-workers/imdn_x2.safetensors"
    args = ["run", str(clips), str(tmp_path / "out"), "--quiet", "--ray"]
    assert main([*args, "--weights", only_there]) == 0
    assert sent == [only_there]


def test_a_json_report_in_the_output_folder_of_a_watch_is_written(tmp_path, weights):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    make_clip(clips / "b.mkv", 32, 24, frames=2, audio=False)
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet", "--watch"]
    assert main([*args, "--idle-exit", "0", "--report", str(out / "run.json")]) == 0
    assert json.loads((out / "run.json").read_text())["summary"]["done"] == 1
    assert _frames(out / "b.mkv") == 2


def test_two_clips_with_one_output_name_never_share_it(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.avi").write_bytes(b"avi!")  # written as a.mkv, the name a.mkv has too
    (clips / "a.mkv").write_bytes(b"matroska")
    for overwrite in (False, True):
        runner = Recorder()
        summary = process_folder(clips, out, runner, overwrite=overwrite, progress=False, log=lambda _: None)  # fmt: skip
        assert runner.calls == [("a.mkv", 8)]  # a.mkv owns its name; a.avi is refused
        failed = [c for c in summary.clips if c["status"] == "failed"]
        assert len(failed) == 1 and "a.avi" in failed[0]["input"]
        assert failed[0]["error"] == "would be written as a.mkv, as a.mkv would; rename one of them"
        (out / "a.mkv").unlink()


def test_an_output_named_like_a_clip_in_capitals_is_taken_for_a_file_name(tmp_path):
    # A clip's suffix in any case: `vsr run clips/ OUT.MP4` must make no folder of that name.
    clips = tmp_path / "in"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    with pytest.raises(VsrError, match="OUT.MP4 looks like a file name; a folder INPUT needs a"):
        process_folder(clips, tmp_path / "OUT.MP4", Recorder(), progress=False, log=lambda _: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_watch_does_not_take_an_earlier_clips_output_for_a_new_clips(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.avi").write_bytes(b"avi!")
    first = Recorder()
    watch_folder(clips, out, first, **QUICK_WATCH)
    assert first.calls == [("a.avi", 4)] and (out / "a.mkv").read_bytes() == b"done"

    (clips / "a.mkv").write_bytes(b"matroska")  # arrives later, same output name
    second = Recorder()
    failures: list[str] = []  # said even under --quiet, which holds back `log`
    summary = watch_folder(clips, out, second, warn=failures.append, **QUICK_WATCH)
    assert second.calls == []
    assert [c["status"] for c in summary.clips] == ["failed"]
    assert "which a.avi already was" in summary.clips[0]["error"]
    assert failures == ["vsr: a.mkv: failed: would be written as a.mkv, which a.avi already was"]
    state = WatchState(out, clips).clips
    assert state["a.mkv"]["status"] == "failed" and state["a.avi"]["status"] == "done"


def test_a_watch_of_another_folder_does_not_take_its_clips_output_for_its_own(tmp_path):
    # cam2's clip was "changed after it was upscaled" and replaced cam1's clip's output: the
    # record named the clip but not its folder.
    cam1, cam2, out = tmp_path / "cam1", tmp_path / "cam2", tmp_path / "out"
    for folder in (cam1, cam2):
        folder.mkdir()
        (folder / "GOPR0001.mp4").write_bytes(folder.name.encode())
    watch_folder(cam1, out, Replacer(), **QUICK_WATCH)
    second = Replacer()
    summary = watch_folder(cam2, out, second, **QUICK_WATCH)
    assert second.calls == []
    assert [c["status"] for c in summary.clips] == ["failed"]
    assert f"which {cam1 / 'GOPR0001.mp4'} already was" in summary.clips[0]["error"]


def test_a_watched_folder_moved_elsewhere_keeps_its_clips_done(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    watch_folder(clips, out, Replacer(), **QUICK_WATCH)
    moved = clips.rename(tmp_path / "moved")  # the same files, the same times
    again = Replacer()
    summary = watch_folder(moved, out, again, **QUICK_WATCH)
    assert again.calls == [] and [c["status"] for c in summary.clips] == ["skipped"]


def test_idle_exit_zero_is_not_held_off_by_an_empty_file_seen_new(tmp_path):
    # An empty file is no new work, even at the look that first sees it: with --idle-exit 0
    # the watch ends at its first look, and a placeholder touched now and then never held
    # it at all.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "placeholder.mp4").write_bytes(b"")
    time_, runner = ScriptedTime({}), Recorder()
    watch_folder(
        clips, out, runner, interval_s=5, idle_exit_s=0, log=lambda _: None,
        clock=time_.clock, sleep=time_.sleep,
    )  # fmt: skip
    assert time_.looks == 0 and runner.calls == []


def test_idle_exit_zero_still_takes_the_clips_already_there(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    runner = Recorder()
    summary = watch_folder(clips, out, runner, interval_s=0.05, idle_exit_s=0, log=lambda _: None)
    assert runner.calls == [("a.mp4", 4)] and summary.count("done") == 1


def test_the_folder_summary_times_the_run_not_the_sum_of_overlapping_clips(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (clips / name).write_bytes(b"1234")
    recorder = Recorder()

    def slow_report(clip: Path, output: Path) -> RunReport:
        report = recorder(clip, output)
        report.wall_seconds = 100.0  # as if each clip had taken 100 s, overlapping
        return report

    summary = process_folder(clips, out, slow_report, progress=False, log=lambda line: None)
    totals = summary.to_dict()["summary"]
    assert totals["clip_seconds"] == 200.0  # the clips' own times
    assert totals["wall_seconds"] < 60  # the run itself: well under a second here
    assert totals["fps"] == pytest.approx(2 / summary.elapsed_seconds, rel=1e-3)


@pytest.mark.parametrize(
    ("clips_there", "totals"),
    [
        # Seen at 0 s, taken at 2 s and done in 0.5 s, then 6 s idle: the watch's 8.5 s, not
        # the clip's 0.1 s; its fps over the 0.5 s of work (was 1 frame / 8.5 s, 0.118).
        (
            ["a.mp4"],
            {"wall_seconds": 8.5, "clip_seconds": 0.1, "work_seconds": 0.5, "fps": 2.0},
        ),
        # Nothing made: no fps.
        ([], {"wall_seconds": 6.0, "clip_seconds": 0, "work_seconds": 0.0, "fps": None}),
    ],
)
def test_a_watchs_summary_times_the_watch_and_its_work_apart(tmp_path, clips_there, totals):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in clips_there:
        (clips / name).write_bytes(b"1234")
    time = ScriptedTime({})

    def half_a_second(clip: Path, output: Path) -> RunReport:
        time.now += 0.5
        return Recorder()(clip, output)

    summary = watch_folder(
        clips, out, half_a_second, interval_s=2.0, idle_exit_s=6.0, log=lambda _: None,
        clock=time.clock, sleep=time.sleep,
    )  # fmt: skip
    got = summary.to_dict()["summary"]
    assert {key: got[key] for key in totals} == totals


def test_a_watchs_summary_line_gives_its_work_and_its_watching_apart():
    from vsr.commands.run import folder_summary_line

    totals = {"done": 1, "skipped": 0, "failed": 0, "frames": 12, "resumed_frames": 0}
    totals |= {"wall_seconds": 4.2, "work_seconds": 0.2, "fps": 60.0}
    # Was "(12 frames in 4.2 s, 2.86 fps)": the idle looks read as a slow clip.
    assert folder_summary_line(totals) == (
        "vsr: 1 done, 0 skipped, 0 failed (12 frames in 0.2 s of work, 4.2 s watching, 60.00 fps)"
    )


def test_a_folder_run_with_every_clip_skipped_gives_no_fps(tmp_path):
    clips, out = folder_with_outputs(tmp_path, {"a.mp4": b"1234"}, {"a.mp4": b"done before"})
    summary = process_folder(clips, out, Recorder(), progress=False, log=lambda _: None)
    got = summary.to_dict()["summary"]
    assert (got["skipped"], got["frames"], got["fps"]) == (1, 0, None)  # as a watch says
    assert summary.elapsed_seconds is not None and summary.elapsed_seconds > 0


def _truncated_mkv(path: Path) -> Path:
    """A Matroska clip cut at 60% of its bytes: it decodes, but loses its last frames."""
    whole = make_bench_clip(path.with_name("whole-" + path.name), 64, 48, 4)
    data = whole.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    whole.unlink()
    return path


def test_folder_mode_names_every_damaged_clip_even_with_quiet(tmp_path, weights, capsys):
    clips, out, report = tmp_path / "in", tmp_path / "out", tmp_path / "run.json"
    clips.mkdir()
    _truncated_mkv(clips / "h1.mkv")
    _truncated_mkv(clips / "h2.mkv")  # the same damage: the same note text as h1's
    args = ["run", str(clips), str(out), "--weights", str(weights), "--device", "cpu"]
    assert main([*args, "--quiet", "--report", str(report)]) == 0
    err = capsys.readouterr().err
    assert "damaged: h1.mkv" in err and "damaged: h2.mkv" in err
    summary = json.loads(report.read_text())["summary"]
    assert summary["damaged"] == 2 and summary["lost_frames"] > 0

    # Without --quiet, the second clip's own notes are shown too, not swallowed as repeats.
    assert main([*args, "--overwrite"]) == 0
    err = capsys.readouterr().err
    assert "h2.mkv: note:" in err


def test_a_quiet_watch_names_a_failed_or_damaged_clip_when_it_happens(tmp_path, weights, capsys):
    # A quiet watch named them only in the list it prints once stopped, which for a watch
    # that runs for days is days late: --quiet holds back chatter, not failures.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "bad.mp4").write_bytes(b"not a video at all")
    _truncated_mkv(clips / "cut.mkv")
    args = ["run", str(clips), str(out), "--weights", str(weights), "--device", "cpu"]
    watch = ["--watch", "--watch-interval", "0.05", "--idle-exit", "0.3", "--quiet"]
    assert main([*args, *watch]) == 1
    said = capsys.readouterr().err.splitlines()
    assert said[0].startswith("vsr: bad.mp4: failed: ")  # as it happened, then at the end
    assert said[1].startswith("vsr: cut.mkv: ") and "lost (damaged source)" in said[1]
    assert said[2].startswith("vsr:   failed: bad.mp4: ")


def test_a_single_damaged_clip_is_named_even_with_quiet(tmp_path, weights, capsys):
    # --quiet said nothing of a truncated clip run alone (exit 0, frames lost), where a
    # folder run names it: its help promises damaged clips are still named.
    _truncated_mkv(tmp_path / "cut.mkv")
    args = ["run", str(tmp_path / "cut.mkv"), str(tmp_path / "up.mp4"), "--weights"]
    assert main([*args, str(weights), "--device", "cpu", "--quiet"]) == 0
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("vsr: damaged: cut.mkv: ") and line.endswith(
        " frame(s) could not be decoded; the output is shorter than the clip"
    )


def test_an_interrupted_folder_run_still_writes_its_report_of_every_clip(
    tmp_path, weights, monkeypatch, capsys
):
    # The report named only the clips done, and the summary line counted them alone: a
    # folder of three clips stopped on the second read as a folder of one, all done.
    import vsr.runner

    clips, out, report = tmp_path / "in", tmp_path / "out", tmp_path / "run.json"
    clips.mkdir()
    for name in ("a", "b", "c"):
        make_bench_clip(clips / f"{name}.mkv", 64, 48, 2)
    real = vsr.runner.start_upscale

    def interrupted_on_b(clip, output, **options):
        if Path(clip).name == "b.mkv":
            raise KeyboardInterrupt
        return real(clip, output, **options)

    monkeypatch.setattr(vsr.runner, "start_upscale", interrupted_on_b)
    args = ["run", str(clips), str(out), "--weights", str(weights), "--device", "cpu"]
    assert main([*args, "--quiet", "--report", str(report)]) == 130
    data = json.loads(report.read_text())
    assert [(Path(c["input"]).name, c["status"]) for c in data["clips"]] == [
        ("a.mkv", "done"),
        ("b.mkv", "interrupted"),
        ("c.mkv", "not started"),
    ]
    summary = data["summary"]
    assert (summary["clips"], summary["done"], summary["failed"]) == (3, 1, 0)
    assert (summary["interrupted"], summary["not_started"]) == (1, 1)
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv"]
    # With --quiet, the stopped clip is still named, as failed ones are.
    said = capsys.readouterr().err.splitlines()
    assert said == [
        "vsr:   interrupted: b.mkv: stopped by Ctrl-C before it was finished",
        "vsr: interrupted",
    ]
    (out / "a.mkv").unlink()
    assert main(args) == 130
    said = capsys.readouterr().err.splitlines()
    assert said[-3].startswith("vsr: 1 done, 0 skipped, 0 failed, 1 interrupted, 1 not started (")


def test_a_folder_run_stopped_by_sigterm_says_so_not_ctrl_c(tmp_path, weights, monkeypatch, capsys):
    # A scheduler's SIGTERM stops vsr as Ctrl-C does (vsr.stop_signals), but the report and
    # the last line said "stopped by Ctrl-C", sending whoever read them after a pre-emption
    # looking for a person at a keyboard.
    import vsr.runner

    clips, out, report = tmp_path / "in", tmp_path / "out", tmp_path / "run.json"
    clips.mkdir()
    for name in ("a", "b"):
        make_bench_clip(clips / f"{name}.mkv", 64, 48, 2)
    real = vsr.runner.start_upscale

    def terminated_on_b(clip, output, **options):
        if Path(clip).name == "b.mkv":
            signal.raise_signal(signal.SIGTERM)
        return real(clip, output, **options)

    monkeypatch.setattr(vsr.runner, "start_upscale", terminated_on_b)
    args = ["run", str(clips), str(out), "--weights", str(weights), "--device", "cpu"]
    assert main([*args, "--quiet", "--report", str(report)]) == 130
    stopped = [c for c in json.loads(report.read_text())["clips"] if c["status"] == "interrupted"]
    assert [(Path(c["input"]).name, c["error"]) for c in stopped] == [
        ("b.mkv", "stopped by SIGTERM before it was finished")
    ]
    assert capsys.readouterr().err.splitlines() == [
        "vsr:   interrupted: b.mkv: stopped by SIGTERM before it was finished",
        "vsr: interrupted by SIGTERM",
    ]
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv"]


def test_a_watch_stopped_in_the_middle_of_a_clip_reports_it_and_redoes_it_next_time(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"a clip")

    def ctrl_c(clip: Path, output: Path) -> RunReport:
        raise KeyboardInterrupt

    summary = FolderReport()
    with pytest.raises(KeyboardInterrupt):
        watch_folder(clips, out, ctrl_c, interval_s=0.01, log=lambda _: None, summary=summary)
    assert [(Path(c["input"]).name, c["status"]) for c in summary.clips] == [
        ("a.mp4", "interrupted")
    ]
    assert summary.to_dict()["summary"]["interrupted"] == 1
    redo = Recorder()
    watch_folder(clips, out, redo, interval_s=0.01, idle_exit_s=0.05, log=lambda _: None)
    assert redo.calls == [("a.mp4", 6)]  # not taken for done or failed by the stop


class Replacer(Recorder):
    """A runner that also takes the watch's `replace`, as the command line's does."""

    def __call__(self, clip: Path, output: Path, replace: bool = False) -> RunReport:
        if output.exists() and not replace:
            raise FileExistsError(output)
        return super().__call__(clip, output)


def test_watch_upscales_again_a_clip_that_changed_after_it_was_done(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    quick = {"interval_s": 0.05, "idle_exit_s": 0.2}
    (clips / "stalled.mp4").write_bytes(b"half")  # a copy that paused past the interval
    first = Replacer()
    watch_folder(clips, out, first, log=lambda _: None, **quick)
    assert first.calls == [("stalled.mp4", 4)]

    with open(clips / "stalled.mp4", "ab") as stream:
        stream.write(b" and the rest")  # the copy goes on
    lines: list[str] = []
    second = Replacer()
    summary = watch_folder(clips, out, second, log=lines.append, **quick)
    assert second.calls == [("stalled.mp4", 17)]  # the whole file, over the half's output
    assert [c["status"] for c in summary.clips] == ["done"]
    assert "vsr: stalled.mp4 changed after it was upscaled: upscaling it again" in lines

    third = Replacer()
    watch_folder(clips, out, third, log=lambda _: None, **quick)
    assert third.calls == []  # this version is done


def test_a_changed_clip_whose_redo_failed_is_still_upscaled_again_over_its_output(tmp_path):
    # The redo failed on the half of a copy, and each later try (the copy complete, every
    # restart) failed "already exists": only the latest record, "failed", was looked at.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"v1")
    watch_folder(clips, out, Replacer(), **QUICK_WATCH)
    (clips / "a.mp4").write_bytes(b"half")
    watch_folder(clips, out, Replacer(fail={"a.mp4"}), **QUICK_WATCH)
    (clips / "a.mp4").write_bytes(b"half and the rest")
    last = Replacer()
    summary = watch_folder(clips, out, last, **QUICK_WATCH)
    assert last.calls == [("a.mp4", 17)]
    assert [c["status"] for c in summary.clips] == ["done"]


def test_a_watch_started_again_with_overwrite_redoes_each_clip_once(tmp_path):
    # It said "0 done, 0 skipped, 0 failed" and kept the outputs: the record settled every
    # clip before --overwrite was looked at.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    watch_folder(clips, out, Replacer(), **QUICK_WATCH)
    again = Replacer()
    lines: list[str] = []
    summary = watch_folder(
        clips, out, again, overwrite=True, **{**QUICK_WATCH, "log": lines.append}
    )
    assert again.calls == [("a.mp4", 4)] and [c["status"] for c in summary.clips] == ["done"]
    assert not [line for line in lines if "changed" in line]  # it did not change


def test_a_second_watch_of_the_same_output_folder_is_refused(tmp_path, weights, capsys):
    # Both upscaled a.mp4 (one of them into a.2.mp4), and the second's rewrite of the record
    # dropped the first's "done" line: a restart then failed a.mp4 "already exists" for good.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    out.mkdir()
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet", "--watch"]
    first = WatchState(out, clips, hold=True)  # as a watch holds it while it runs
    assert main([*args, "--idle-exit", "0"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"vsr: error: {out} is being watched by another vsr run (process {os.getpid()}); stop "
        "it first, or give this watch another OUTPUT folder"
    ]
    first.close()
    assert main([*args, "--idle-exit", "0"]) == 0


def test_watch_waits_for_a_folder_that_went_away(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    lines: list[str] = []

    def come_back() -> None:
        (tmp_path / "away").rename(clips)
        (clips / "a.mp4").write_bytes(b"1234")

    # Unmounted after the third look, back after the ninth with a clip in it.
    time_ = ScriptedTime({3: lambda: clips.rename(tmp_path / "away"), 9: come_back})
    runner = Recorder()
    watch_folder(
        clips, out, runner, interval_s=0.05, idle_exit_s=0.8, log=lines.append,
        clock=time_.clock, sleep=time_.sleep,
    )  # fmt: skip
    assert runner.calls == [("a.mp4", 4)]
    assert any("cannot be read" in line and "waiting for it" in line for line in lines)
    assert f"vsr: {clips}: readable again" in lines


def test_a_watch_makes_its_output_folder_again_once_it_was_moved_away(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")

    def archive_the_outputs() -> None:
        out.rename(tmp_path / "out.old")
        (clips / "b.mp4").write_bytes(b"56789")

    class SecondWatchTried(Recorder):
        """Tries, during b.mp4, to start a second watch of the folder made again."""

        refusal = ""

        def __call__(self, clip: Path, output: Path) -> RunReport:
            if clip.name == "b.mp4":
                with pytest.raises(VsrError, match="is being watched by another") as refused:
                    WatchState(out, clips, hold=True).close()
                self.refusal = str(refused.value)
            return super().__call__(clip, output)

    # a.mp4 is done at the second look; the outputs are moved away after the fourth.
    time_ = ScriptedTime({4: archive_the_outputs})
    runner, lines = SecondWatchTried(), []
    summary = watch_folder(
        clips, out, runner, interval_s=0.05, idle_exit_s=0.5, log=lines.append,
        clock=time_.clock, sleep=time_.sleep,
    )  # fmt: skip
    assert runner.calls == [("a.mp4", 4), ("b.mp4", 5)]
    assert summary.count("done") == 2 and (out / "b.mp4").read_bytes() == b"done"
    assert (
        lines.count(
            f"vsr: note: the output folder {out} was gone (moved or removed); made it again"
        )
        == 1
    )
    # The record is whole again in the new folder: a restart does neither clip again.
    assert sorted(WatchState(out, clips).clips) == ["a.mp4", "b.mp4"]
    # And held again there: the lock had gone with the folder moved away, and a second
    # watch of the new one started, and upscaled the next clip beside the first.
    assert runner.refusal.startswith(f"{out} is being watched by another vsr run")


def test_subfolders_are_named_as_left_alone(tmp_path):
    clips = tmp_path / "in"
    (clips / "more clips").mkdir(parents=True)
    (clips / "more clips" / "b.mp4").write_bytes(b"1234")
    (clips / "a.mp4").write_bytes(b"1234")
    (clips / "upscaled").mkdir()  # the output folder inside the input one is no news
    lines: list[str] = []
    runner = Recorder()
    process_folder(clips, clips / "upscaled", runner, progress=False, log=lines.append)
    assert runner.calls == [("a.mp4", 4)]
    assert (
        f"vsr: note: 1 subfolder(s) of {clips} left alone (more clips): only the clips "
        "directly inside are upscaled"
    ) in lines


def test_an_upper_case_suffix_is_kept_and_its_earlier_output_is_seen(tmp_path):
    # A camera's CLIP.MP4 was written as CLIP.mkv, and OLD.MOV, upscaled by an earlier run
    # as OLD.MOV, was not seen as done: it was upscaled again as OLD.mkv.
    clips, out = folder_with_outputs(
        tmp_path,
        {"CLIP.MP4": b"1234", "OLD.MOV": b"12345"},
        {"OLD.MOV": b"an earlier run's output"},
    )
    runner = Recorder()
    summary = process_folder(clips, out, runner, progress=False, log=lambda _: None)
    assert runner.calls == [("CLIP.MP4", 4)]
    assert sorted(p.name for p in out.iterdir()) == ["CLIP.MP4", "OLD.MOV"]
    assert [(Path(c["input"]).name, c["status"]) for c in summary.clips] == [
        ("CLIP.MP4", "done"), ("OLD.MOV", "skipped")
    ]  # fmt: skip


def test_hidden_files_beside_a_clip_are_left_out_of_a_folder_run(tmp_path):
    # macOS's AppleDouble ._a.mp4 and a download's .partial.mp4 are no clips of the folder:
    # taken, the first failed the run (exit 1) and the second was upscaled as out/.partial.mp4.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    (clips / "._a.mp4").write_bytes(b"\x00\x05\x16\x07" + b"\0" * 100)
    (clips / ".partial.mp4").write_bytes(b"12345")
    runner = Recorder()
    summary = process_folder(clips, out, runner, progress=False, log=lambda _: None)
    assert runner.calls == [("a.mp4", 4)]
    assert [(Path(c["input"]).name, c["status"]) for c in summary.clips] == [("a.mp4", "done")]
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4"]


def test_a_subfolder_named_like_a_clip_is_left_alone_not_failed(tmp_path):
    # A "day1.mp4" folder of parts (a camera card's "DCIM.mov") failed as "not a regular file".
    clips = tmp_path / "in"
    (clips / "day1.mp4").mkdir(parents=True)
    (clips / "day1.mp4" / "part1.mp4").write_bytes(b"12345")
    (clips / "a.mp4").write_bytes(b"1234")
    lines: list[str] = []
    runner = Recorder()
    summary = process_folder(clips, tmp_path / "out", runner, progress=False, log=lines.append)
    assert runner.calls == [("a.mp4", 4)]
    assert [(Path(c["input"]).name, c["status"]) for c in summary.clips] == [("a.mp4", "done")]
    assert (
        f"vsr: note: 1 subfolder(s) of {clips} left alone (day1.mp4): only the clips "
        "directly inside are upscaled"
    ) in lines


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="making a link another user owns takes root (lchown)"
)


def _drop_folder_and_private_one(tmp_path: Path) -> tuple[Path, Path]:
    """A drop folder others write into, and a folder of the user's own beside it."""
    clips, private = tmp_path / "drop", tmp_path / "private"
    clips.mkdir()
    private.mkdir()
    return clips, private


def _link_by(owner: int, link: Path, target: Path) -> None:
    link.symlink_to(target)
    os.lchown(link, owner, -1)


@needs_root
def test_links_another_user_made_are_left_alone_and_named(tmp_path):
    clips, private = _drop_folder_and_private_one(tmp_path)
    (private / "secret.mp4").write_bytes(b"not theirs to read" * 10)
    _link_by(4242, clips / "grab.mp4", private / "secret.mp4")
    (private / "mine.mp4").write_bytes(b"1234")
    (clips / "mine.mp4").symlink_to(private / "mine.mp4")  # the user's own: taken
    (clips / "own.mp4").write_bytes(b"12345")
    lines: list[str] = []
    runner = Recorder()
    summary = process_folder(clips, tmp_path / "out", runner, progress=False, log=lines.append)
    assert runner.calls == [("mine.mp4", 4), ("own.mp4", 5)]
    assert [Path(c["input"]).name for c in summary.clips] == ["mine.mp4", "own.mp4"]
    assert (
        "vsr: note: 1 link(s) made by another user left alone (grab.mp4): a link can point at "
        "any file you can read; copy the clip in, or link it yourself"
    ) in lines


@needs_root
def test_a_watch_names_a_link_another_user_plants_later_once(tmp_path):
    clips, out = tmp_path / "drop", tmp_path / "out"
    clips.mkdir()
    (tmp_path / "secret.mp4").write_bytes(b"x" * 100)
    time_ = ScriptedTime({2: lambda: _link_by(4242, clips / "grab.mp4", tmp_path / "secret.mp4")})
    lines: list[str] = []
    runner = Recorder()
    watch_folder(
        clips, out, runner, interval_s=1, idle_exit_s=5, log=lines.append,
        clock=time_.clock, sleep=time_.sleep,
    )  # fmt: skip
    assert runner.calls == []
    assert sum("link(s) made by another user left alone (grab.mp4)" in line for line in lines) == 1


@needs_root
def test_a_file_swapped_for_a_link_while_it_waits_its_turn_is_refused(tmp_path):
    clips, private = _drop_folder_and_private_one(tmp_path)
    (private / "secret.mp4").write_bytes(b"s" * 999)
    (clips / "a.mp4").write_bytes(b"1234")
    (clips / "b.mp4").write_bytes(b"12345")  # listed as a plain file

    class Swapper(Recorder):
        def __call__(self, clip: Path, output: Path) -> RunReport:
            if clip.name == "a.mp4":  # while a runs, b becomes a link to the secret
                swap = clips / "swap.tmp"
                _link_by(4242, swap, private / "secret.mp4")
                swap.replace(clips / "b.mp4")
            return super().__call__(clip, output)

    runner = Swapper()
    summary = process_folder(clips, tmp_path / "out", runner, progress=False, log=lambda _: None)
    assert runner.calls == [("a.mp4", 4)]
    assert [(Path(c["input"]).name, c["status"]) for c in summary.clips] == [
        ("a.mp4", "done"), ("b.mp4", "failed")
    ]  # fmt: skip
    assert "link made by another user" in summary.clips[1]["error"]


def test_a_link_to_its_makers_own_file_is_taken(tmp_path, monkeypatch):
    # What the link shows, its maker could read anyway. (Run as anyone: the clips here are
    # the test's own, so vsr is told it runs as someone else.)
    import vsr.foreign_links

    clips = tmp_path / "drop"
    clips.mkdir()
    (tmp_path / "theirs.mp4").write_bytes(b"1234")
    (clips / "shared.mp4").symlink_to(tmp_path / "theirs.mp4")
    monkeypatch.setattr(vsr.foreign_links.os, "geteuid", lambda: os.getuid() + 1)
    lines: list[str] = []
    runner = Recorder()
    process_folder(clips, tmp_path / "out", runner, progress=False, log=lines.append)
    assert runner.calls == [("shared.mp4", 4)] and not any("link" in line for line in lines)


@needs_root
def test_the_users_own_link_to_a_file_of_another_user_is_taken(tmp_path):
    # Their own link is no one else's doing: it was left alone as another user's, and the
    # clip was never upscaled (exit 0).
    clips = tmp_path / "drop"
    clips.mkdir()
    (tmp_path / "theirs.mp4").write_bytes(b"1234")
    os.chown(tmp_path / "theirs.mp4", 4242, -1)
    (clips / "shared.mp4").symlink_to(tmp_path / "theirs.mp4")
    lines: list[str] = []
    runner = Recorder()
    process_folder(clips, tmp_path / "out", runner, progress=False, log=lines.append)
    assert runner.calls == [("shared.mp4", 4)] and not any("link" in line for line in lines)


def test_a_clip_that_failed_then_changed_and_succeeded_counts_once_as_done(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"half")

    class FailsFirst(Recorder):
        def __call__(self, clip, output, replace=False):
            if not self.calls:
                self.calls.append((clip.name, clip.stat().st_size))
                clip.write_bytes(b"the whole clip")  # the rest arrives after the failure
                raise ValueError("truncated")
            return super().__call__(clip, output)

    runner = FailsFirst()
    summary = watch_folder(clips, out, runner, interval_s=0.05, idle_exit_s=0.3, log=lambda _: None)
    assert runner.calls == [("a.mp4", 4), ("a.mp4", 14)]
    assert [c["status"] for c in summary.clips] == ["done"]  # its last attempt is its outcome
    assert summary.to_dict()["summary"]["failed"] == 0


def test_frames_kept_from_an_interrupted_run_are_not_counted_as_this_runs_work():
    from vsr.report import FolderReport

    report = Recorder()(Path(__file__), Path("/dev/null"))
    report.frames, report.resumed_frames, report.wall_seconds = 300, 250, 1.0
    folder = FolderReport(elapsed_seconds=2.0)
    folder.add(Path("a.mkv"), "done", report)
    totals = folder.to_dict()["summary"]
    assert (totals["frames"], totals["resumed_frames"], totals["fps"]) == (300, 250, 25.0)


def test_a_resumed_clips_line_says_how_many_frames_were_kept(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "long.mp4").write_bytes(b"1234")

    def resumed(clip: Path, output: Path) -> RunReport:
        report = Recorder()(clip, output)
        # 96 frames made now in 157.2 s: the fps of those, not 120 / 157.2.
        report.frames, report.resumed_frames, report.wall_seconds, report.fps = 120, 24, 157.2, 0.61
        return report

    lines: list[str] = []
    process_folder(clips, out, resumed, progress=False, log=lines.append)
    assert lines == [
        "vsr: long.mp4: 120 frames (24 of them kept from an interrupted run) in 157.2 s (0.61 fps)"
    ]


def test_the_folder_summary_line_times_the_frames_made_now():
    from vsr.commands.run import folder_summary_line

    totals = {"done": 2, "skipped": 0, "failed": 0, "frames": 60, "resumed_frames": 25}
    totals |= {"wall_seconds": 5.2, "fps": 6.73}
    # Was "(60 frames, 25 of them kept in 5.2 s, 6.73 fps)": as if 25 frames took 5.2 s.
    assert folder_summary_line(totals) == (
        "vsr: 2 done, 0 skipped, 0 failed "
        "(60 frames, 25 of them kept from interrupted runs; 35 made in 5.2 s, 6.73 fps)"
    )
    totals |= {"resumed_frames": 0, "frames": 0, "fps": None}
    assert folder_summary_line(totals) == "vsr: 2 done, 0 skipped, 0 failed (0 frames in 5.2 s)"
    totals |= {"frames": 1}  # was "(1 frames in 5.2 s)"
    assert folder_summary_line(totals) == "vsr: 2 done, 0 skipped, 0 failed (1 frame in 5.2 s)"


def test_a_clips_line_is_told_when_it_is_finished_not_after_the_next_clip(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (clips / name).write_bytes(b"1234")
    lines: list[str] = []
    told_in_time = []

    def run_clip(clip: Path, output: Path):
        if clip.name == "b.mp4":  # b's upscaling: a's flush is done by now, and told
            deadline = time.monotonic() + 5
            while not any("a.mp4: 1 frame " in line for line in lines):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            told_in_time.append(any("a.mp4: 1 frame " in line for line in lines))
        return lambda: Recorder()(clip, output)

    summary = process_folder(clips, out, run_clip, progress=False, log=lines.append)
    assert told_in_time == [True]
    assert [Path(c["input"]).name for c in summary.clips] == ["a.mp4", "b.mp4"]  # in order


def _disk_full(clip: Path) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(clip.with_suffix(".tmp.mp4")))


@pytest.mark.parametrize("when", ["upscaling", "finishing", "finishing the last"])
def test_a_full_disk_stops_the_folder_run_instead_of_failing_every_clip_after(tmp_path, when):
    # Each later clip was upscaled and then failed the same way: hours of work, one line
    # per clip. The run now stops with the disk's error, and the finished clips are kept.
    # Met while the last clip is finished, with no clip after to meet it, the run returned
    # as one with a failed clip, without the disk's error and its "stopped at" note.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    names = (
        ["a.mp4", "b.mp4"] if when == "finishing the last" else ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]
    )
    for name in names:
        (clips / name).write_bytes(b"1234")
    started: list[str] = []

    def run_clip(clip: Path, output: Path):
        started.append(clip.name)
        if clip.name == "b.mp4" and when == "upscaling":
            raise _disk_full(clip)

        def finish():
            if clip.name == "b.mp4":
                raise _disk_full(clip)
            return Recorder()(clip, output)

        return finish

    summary = FolderReport()
    with pytest.raises(OSError) as stopped:
        process_folder(clips, out, run_clip, progress=False, log=lambda _: None, summary=summary)
    assert stopped.value.errno == errno.ENOSPC
    assert "stopped at b.mp4" in " ".join(stopped.value.__notes__)
    # A finish runs while the next clip is upscaled: that one (c) is still completed.
    wanted = ["a.mp4", "b.mp4", "c.mp4"] if when == "finishing" else ["a.mp4", "b.mp4"]
    assert started == wanted
    outcome = [(Path(c["input"]).name, c["status"]) for c in summary.clips]
    assert outcome == [("a.mp4", "done"), ("b.mp4", "failed"), *((n, "done") for n in wanted[2:])]


def test_a_watch_stopped_by_a_full_disk_takes_the_clip_again_on_its_next_start(tmp_path):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")

    def full(clip: Path, output: Path):
        raise _disk_full(clip)

    with pytest.raises(OSError, match="No space left"):
        watch_folder(clips, out, full, **QUICK_WATCH)
    # Not recorded as failed (it would have been skipped for good); space is freed.
    assert not (out / STATE_FILE).exists() or "a.mp4" not in (out / STATE_FILE).read_text()
    again = Recorder()
    watch_folder(clips, out, again, **QUICK_WATCH)
    assert again.calls == [("a.mp4", 4)]


def test_a_full_disk_in_folder_mode_is_one_error_line_with_the_summary_kept(
    tmp_path, monkeypatch, capsys
):
    import vsr.runner

    clips, out, report = tmp_path / "in", tmp_path / "out", tmp_path / "run.json"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (clips / name).write_bytes(b"1234")

    def start_upscale(clip: Path, *args, **options):
        raise _disk_full(clip)

    monkeypatch.setattr(vsr.runner, "start_upscale", start_upscale)
    assert main(["run", str(clips), str(out), "--report", str(report), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "vsr: error:" in err and "No space left on device" in err
    assert "stopped at a.mp4" in err and "Traceback" not in err
    written = json.loads(report.read_text())
    assert [Path(c["input"]).name for c in written["clips"]] == ["a.mp4"]


@pytest.mark.parametrize("number", ["EDQUOT", "EROFS"])
def test_over_quota_and_read_only_disks_stop_the_folder_run(tmp_path, number):
    import errno

    from vsr.folder import process_folder
    from vsr.report import FolderReport

    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (clips / name).write_bytes(b"1234")
    started: list[str] = []

    def run_clip(clip, output):
        started.append(clip.name)
        if clip.name == "b.mp4":
            code = getattr(errno, number)
            raise OSError(code, "disk trouble", str(clip))
        return lambda: Recorder()(clip, output)

    summary = FolderReport()
    with pytest.raises(OSError):
        process_folder(clips, out, run_clip, progress=False, log=lambda _: None, summary=summary)
    assert started == ["a.mp4", "b.mp4"]


def test_raw_streams_and_the_rarer_containers_are_found_and_written_as_matroska(tmp_path, weights):
    # Folder mode skipped them all, though `vsr run` reads each.
    from media import make_raw_stream

    ntsc = Fraction(30000, 1001)
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    made = {
        "a.h264": ("h264", "libx264"), "b.264": ("h264", "libx264"),
        "c.avc": ("h264", "libx264"), "d.hevc": ("hevc", "libx265"),
        "e.h265": ("hevc", "libx265"), "f.265": ("hevc", "libx265"),
        "g.m1v": ("mpeg1video", "mpeg1video"), "h.m2v": ("mpeg2video", "mpeg2video"),
        "i.mxf": ("mxf", "mpeg2video"), "l.asf": ("asf", "mpeg4"), "m.f4v": ("f4v", "libx264"),
        "n.3g2": ("3g2", "libx264"), "o.nut": ("nut", "mpeg4"), "p.ivf": ("ivf", "libvpx-vp9"),
    }  # fmt: skip
    for name, (fmt, codec) in made.items():
        rate = 25 if fmt in ("mxf", "asf", "f4v", "3g2", "nut", "ivf") else ntsc
        make_raw_stream(clips / name, fmt, codec, rate, frames=2, width=32, height=24)
    make_raw_stream(clips / "j.dv", "dv", "dvvideo", ntsc, 1, 720, 480, "yuv411p")
    make_raw_stream(clips / "k.dif", "dv", "dvvideo", 25, 1, 720, 576, "yuv420p")
    make_raw_stream(clips / "q.obu", "obu", "libsvtav1", 25, frames=2, width=64, height=64)
    assert main(["run", str(clips), str(out), "--weights", str(weights), "--quiet"]) == 0
    written = sorted(out.iterdir())
    assert [p.name for p in written] == [f"{p.stem}.mkv" for p in sorted(clips.iterdir())]
    for path in written:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(stream))
        rate = 25 if path.stem in "iklmnopq" else ntsc  # SVT-AV1's q.obu states none: 25
        assert (path.name, stream.average_rate, frames) == (
            path.name, rate, 1 if path.stem in "jk" else 2
        )  # fmt: skip


def test_a_folder_run_whose_outputs_all_exist_says_so_as_vsr_image_does(tmp_path, weights, capsys):
    clips, out = folder_with_outputs(tmp_path, {"a.mp4": b"1234"}, {"a.mp4": b"done before"})
    assert main(["run", str(clips), str(out), "--weights", str(weights)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-2:] == [
        f"vsr: nothing to do: every output already exists in {out} (--overwrite redoes them)",
        "vsr: 0 done, 1 skipped, 0 failed (0 frames in 0.0 s)",
    ]


_DOUBLE_STOP = """
import os, signal, sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from test_folder import Recorder
from vsr.folder import process_folder
from vsr.report import FolderReport

root = Path(sys.argv[1])
summary = FolderReport()
stops = []
second_stop_raised = threading.Event()

def stop(signum, frame):  # Python's own Ctrl-C, counted
    stops.append(signum)
    if len(stops) == 2:
        second_stop_raised.set()
    raise KeyboardInterrupt

signal.signal(signal.SIGINT, stop)

def main_thread_waits_for_the_finish():
    frame = sys._current_frames()[threading.main_thread().ident]
    stack = []
    while frame is not None:
        stack.append((Path(frame.f_code.co_filename).name, frame.f_code.co_name))
        frame = frame.f_back
    # blocked in threading (an Event's or a Thread's wait) under the finisher's wait
    return stack[0][0] == "threading.py" and ("folder.py", "wait") in stack

def run_clip(clip, output):
    if clip.name == "a.mp4":
        def finish():
            # The second Ctrl-C comes while the run, stopped by the first, waits for a.
            while not main_thread_waits_for_the_finish():
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGINT)
            assert second_stop_raised.wait(60)
            return Recorder()(clip, output)
        return finish
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while b is upscaled
    time.sleep(60)  # ended by that Ctrl-C

try:
    process_folder(root / "in", root / "out", run_clip, progress=False, summary=summary)
except KeyboardInterrupt:
    print([(Path(c["input"]).name, c["status"]) for c in summary.clips])
    print((root / "out" / "a.mp4").read_bytes() if (root / "out" / "a.mp4").exists() else None)
"""


def test_a_second_ctrl_c_while_a_clip_is_finished_keeps_it_and_the_report(tmp_path):
    # Python 3.11's Thread.join, interrupted, took the finishing thread for ended: the clip's
    # rename was lost, the report emptied, and a ValueError traceback ended the run.
    (tmp_path / "in").mkdir()
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / "in" / name).write_bytes(b"1234")
    tests = Path(__file__).parent
    done = subprocess.run(
        [sys.executable, "-c", _DOUBLE_STOP, str(tmp_path), str(tests)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout.splitlines() == [
        "[('a.mp4', 'done'), ('b.mp4', 'interrupted')]",
        "b'done'",
    ]


def test_a_ctrl_c_while_the_run_waits_for_a_clip_to_be_finished_stops_it(tmp_path):
    # The Ctrl-C came while b was upscaled and the run waited for a's flush and rename. It is
    # held until a is recorded, and must then stop the run: dropped, the run went on to c.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (clips / name).write_bytes(b"1234")
    upscaled: list[str] = []
    b_upscaled = threading.Event()

    def run_clip(clip: Path, output: Path):
        upscaled.append(clip.name)
        if clip.name == "b.mp4":
            b_upscaled.set()

        def finish():
            if clip.name == "a.mp4":
                assert b_upscaled.wait(5)
                time.sleep(0.2)  # the run waits for a by now
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)  # a is still being finished when the Ctrl-C is raised
            return Recorder()(clip, output)

        return finish

    summary = FolderReport()
    with pytest.raises(KeyboardInterrupt):
        process_folder(clips, out, run_clip, progress=False, log=lambda _: None, summary=summary)
    assert upscaled == ["a.mp4", "b.mp4"]
    assert [(Path(c["input"]).name, c["status"]) for c in summary.clips] == [
        ("a.mp4", "done"),
        ("b.mp4", "interrupted"),
        ("c.mp4", "not started"),
    ]
    assert (out / "a.mp4").read_bytes() == b"done"


def test_a_log_that_fails_as_a_clip_is_finished_does_not_hang_the_run(tmp_path, monkeypatch):
    # The clip's line is told on the finishing thread, after its outcome is kept: a log that
    # raises there (a --log file on a full disk) must still let the run's wait for it end.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")

    def full_disk_log(line: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    escaped: list = []  # the log's error, which ends the finishing thread
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    summaries: list[FolderReport] = []
    run = threading.Thread(
        target=lambda: summaries.append(
            process_folder(clips, out, Recorder(), progress=False, log=full_disk_log)
        ),
        daemon=True,  # left behind if it hangs
    )
    run.start()
    run.join(10)
    assert not run.is_alive(), "the folder run waits for ever for a finished clip"
    assert [c["status"] for c in summaries[0].clips] == ["done"]
    deadline = time.monotonic() + 10
    while not escaped and time.monotonic() < deadline:
        time.sleep(0.01)  # the thread says its error after it said it was done
    assert [hook.exc_type for hook in escaped] == [OSError]


def test_a_folder_runs_weights_are_hashed_once_and_named_in_every_clips_report(
    tmp_path, weights, monkeypatch
):
    # Each clip's report names the weights (vsr.weights_origin); their file, loaded once
    # for the folder, is hashed once, not once a clip.
    import vsr.weights

    hashed = []
    real = vsr.weights.sha256_of
    monkeypatch.setattr(vsr.weights, "sha256_of", lambda path: hashed.append(path) or real(path))
    clips, out, report = tmp_path / "in", tmp_path / "out", tmp_path / "folder.json"
    clips.mkdir()
    for name in ("a.mkv", "b.mkv"):
        make_clip(clips / name, 32, 18, frames=1, codec="ffv1", audio=False)
    args = ["run", str(clips), str(out), "--weights", str(weights), "--codec", "ffv1"]
    assert main([*args, "--quiet", "--report", str(report)]) == 0
    assert hashed == [weights]
    done = [clip["report"] for clip in json.loads(report.read_text())["clips"]]
    assert [(r["weights"], r["weights_sha256"]) for r in done] == 2 * [
        (str(weights.resolve()), real(weights))
    ]


@pytest.mark.parametrize("watch", [False, True])
def test_an_output_name_taken_by_a_folder_a_broken_link_an_empty_file_or_a_fifo_fails_with_why(
    tmp_path, watch
):
    # Each counted as a finished output: the clip was skipped, and never upscaled.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4"):
        (clips / name).write_bytes(b"1234")
    (out / "a.mp4").mkdir(parents=True)
    (out / "b.mp4").symlink_to(tmp_path / "gone.mp4")
    (out / "c.mp4").write_bytes(b"")
    os.mkfifo(out / "e.mp4")  # not called an empty file, which it is not
    runner = Recorder()
    if watch:
        summary = watch_folder(clips, out, runner, warn=lambda _: None, **QUICK_WATCH)
    else:
        summary = process_folder(clips, out, runner, progress=False, log=lambda _: None)
    assert runner.calls == [("d.mp4", 4)]
    outcomes = {Path(c["input"]).name: (c["status"], c.get("error")) for c in summary.clips}
    replace = "(remove it, or use overwrite=True)"
    assert outcomes == {
        "a.mp4": ("failed", f"{out / 'a.mp4'} is a folder"),
        "b.mp4": (
            "failed",
            f"{out / 'b.mp4'} links to {tmp_path / 'gone.mp4'}, which is not there {replace}",
        ),  # fmt: skip
        "c.mp4": ("failed", f"{out / 'c.mp4'} is an empty file, no finished output {replace}"),
        "d.mp4": ("done", None),
        "e.mp4": ("failed", f"{out / 'e.mp4'} is not a regular file {replace}"),
    }


def test_a_watch_says_what_is_in_the_way_once_and_takes_the_clip_once_it_is_gone(tmp_path):
    # Recorded as failed on the clip's version, the clip was never tried again after the
    # folder in its way was removed, though the message says to remove it.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    (clips / "b.mp4").write_bytes(b"12345")
    (out / "a.mp4").mkdir(parents=True)
    (out / "b.mp4").write_bytes(b"")
    time_ = ScriptedTime({5: (out / "a.mp4").rmdir})  # some looks after it was said
    failures: list[str] = []
    runner = Recorder()
    summary = watch_folder(
        clips, out, runner, interval_s=1, idle_exit_s=8, log=lambda _: None,
        warn=failures.append, clock=time_.clock, sleep=time_.sleep,
    )  # fmt: skip
    assert failures == [  # once each, not at every look
        f"vsr: a.mp4: failed: {out / 'a.mp4'} is a folder",
        f"vsr: b.mp4: failed: {out / 'b.mp4'} is an empty file, no finished output "
        "(remove it, or use overwrite=True)",
    ]
    assert runner.calls == [("a.mp4", 4)]
    assert [(Path(c["input"]).name, c["status"]) for c in summary.clips] == [
        ("b.mp4", "failed"),
        ("a.mp4", "done"),
    ]
    state = WatchState(out, clips)
    assert state.clips["a.mp4"]["status"] == "done" and "b.mp4" not in state.clips


def test_a_watch_redoes_a_changed_clip_whose_output_was_emptied(tmp_path):
    # The output of a clip done before is the watch's own: emptied since, it is written
    # again for the changed clip, where a clip the watch never took is told to remove
    # what is in the way.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    watch_folder(clips, out, Recorder(), **QUICK_WATCH)
    (out / "a.mp4").write_bytes(b"")
    (clips / "a.mp4").write_bytes(b"changed")
    failures: list[str] = []
    again = Recorder()
    watch_folder(clips, out, again, **QUICK_WATCH, warn=failures.append)
    assert again.calls == [("a.mp4", 7)] and again.replaced == ["a.mp4"] and failures == []
    assert (out / "a.mp4").read_bytes() == b"done"
    assert WatchState(out, clips).clips["a.mp4"]["status"] == "done"


def test_a_ray_folder_run_fails_an_output_name_taken_by_a_folder_as_a_local_run(
    tmp_path, monkeypatch
):
    pytest.importorskip("ray")  # the README's test set-up installs no Ray
    from vsr import cluster

    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    (out / "a.mp4").mkdir(parents=True)

    def no_cluster(*args, **kwargs):
        raise AssertionError("Ray was started though nothing could run")

    monkeypatch.setattr(cluster, "connect", no_cluster)
    lines: list[str] = []
    summary = cluster.run_folder(clips, out, progress=False, log=lines.append)
    assert [(c["status"], c["error"]) for c in summary.clips] == [
        ("failed", f"{out / 'a.mp4'} is a folder")
    ]
    assert lines == [f"vsr: a.mp4: failed: {out / 'a.mp4'} is a folder"]


@pytest.mark.parametrize("mode", ["folder", "watch"])
def test_a_pipelines_crf_its_codec_refuses_stops_a_folder_with_webm_clips_once(
    tmp_path, weights, capsys, mode
):
    # A .webm clip's output gets VP9, which takes crf 60, but the .mp4 clip's gets the
    # file's libx264, which does not: the file's values went unchecked where one output
    # swapped the codec, and that clip failed as "crf 60: ...", its file unnamed.
    clips, out, pipeline = tmp_path / "in", tmp_path / "out", tmp_path / "p.toml"
    clips.mkdir()
    make_clip(clips / "a.webm", 32, 24, frames=2, audio=False, codec="libvpx-vp9")
    make_clip(clips / "b.mp4", 32, 24, frames=2, audio=False)
    pipeline.write_text("crf = 60\n")
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet"]
    args += ["--pipeline", str(pipeline)]
    if mode == "watch":
        args += ["--watch", "--watch-interval", "0.05", "--idle-exit", "0.3"]
    assert main(args) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == f"vsr: error: pipeline {pipeline}: crf 60: libx264 takes 0 to 51"
    assert not out.exists() or not any(out.iterdir())
    pipeline.write_text("crf = 30\n")
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "a.webm",
        "b.mp4",
    ]
