"""`vsr run IN_DIR OUT_DIR --ray` on a local Ray instance (2 CPUs, tiny clips, random weights):
same outputs as a local run, the corrupt clip reported, a killed worker's clip re-run once."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from media import folder_with_outputs, make_clip, truncate

from vsr.cli import main
from vsr.cluster import ClusterReport
from vsr.cluster_task import CRASH_ONCE_ENV, ShippedWeights, remove_stale_temps
from vsr.errors import VsrError
from vsr.video.reader import VideoReader
from vsr.video.temp_lock import keep_finished

# The outputs are compared frame for frame with a local run's. On a CPU with AVX-512,
# libx264's macroblock-tree rate control reads memory it has not written (README, on
# --resume), so identical frames can encode differently: on this project's AMD EPYC under
# load, 12 to 15 of 30 encodes at crf 18 medium differed from the most common stream, none
# with mbtree off or asm limited to AVX2; these tests failed about one run in three.
# Lossless (crf 0) decodes to the same pixels whatever the encoder chose, so what is
# compared is the engine's output.
LOSSLESS = ["--crf", "0"]


@pytest.fixture(scope="module")
def local_ray():
    """One Ray instance for the whole file: starting one takes several seconds."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, weights, local_ray) -> tuple[Path, Path]:
    """Four clips (one truncated, so unreadable) and their outputs from a local run."""
    root = tmp_path_factory.mktemp("clips")
    clips = root / "in"
    clips.mkdir()
    make_clip(clips / "a.mp4", 32, 24, frames=3)
    make_clip(clips / "b.mkv", 24, 16, frames=4)
    make_clip(clips / "c.mp4", 16, 16, frames=2, audio=False)
    make_clip(root / "whole.mp4", 32, 24, frames=4)
    truncate(root / "whole.mp4", 0.4, clips / "d_corrupt.mp4")
    local = root / "local"
    torch.set_num_threads(1)
    args = ["run", str(clips), str(local), "--weights", str(weights), "--quiet", *LOSSLESS]
    assert main(args) == 1
    assert sorted(p.name for p in local.iterdir()) == ["a.mp4", "b.mkv", "c.mp4"]
    return clips, local


def decoded(path: Path) -> list[tuple[int, bytes]]:
    with VideoReader(path) as reader:
        return [(f.pts, b"".join(np.ascontiguousarray(p).tobytes() for p in f.planes)) for f in reader.frames()]  # fmt: skip


def assert_same_as_local(out: Path, local: Path) -> None:
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in local.iterdir()
    )
    for expected in local.iterdir():
        got = decoded(out / expected.name)
        want = decoded(expected)
        assert [pts for pts, _ in got] == [pts for pts, _ in want]
        assert got == want, expected.name
    assert not list(out.glob(".*.tmp*")), "a temp file was left behind"


@pytest.mark.slow  # the Ray instance and local run: 6-12 s
def test_folder_on_ray_equals_local_run_and_reports_the_corrupt_clip(tmp_path, folder, weights):
    clips, local = folder
    out, report = tmp_path / "out", tmp_path / "cluster.json"
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet", *LOSSLESS]
    assert main([*args, "--report", str(report), "--ray"]) == 1
    assert_same_as_local(out, local)

    data = json.loads(report.read_text())
    assert data["summary"]["done"] == 3 and data["summary"]["failed"] == 1
    assert data["summary"]["frames"] == 3 + 4 + 2
    assert data["summary"]["workers"] == 2
    by_name = {Path(c["input"]).name: c for c in data["clips"]}
    assert list(by_name) == ["a.mp4", "b.mkv", "c.mp4", "d_corrupt.mp4"]
    assert by_name["d_corrupt.mp4"]["status"] == "failed"
    assert "d_corrupt.mp4" in by_name["d_corrupt.mp4"]["error"]
    for name in ("a.mp4", "b.mkv", "c.mp4"):
        clip = by_name[name]
        assert clip["status"] == "done" and clip["node"] and clip["gpu"] is None
        assert clip["fps"] > 0 and clip["report"]["device"] == "cpu"

    # A restart skips what is finished and only retries the clip that has no output.
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main([*args, "--report", str(report), "--ray"]) == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes
    summary = json.loads(report.read_text())["summary"]
    assert (summary["skipped"], summary["failed"], summary["done"]) == (3, 1, 0)


@pytest.mark.slow  # the Ray instance and local run: 6-12 s
def test_a_worker_killed_mid_clip_is_rerun_and_every_output_is_written_once(
    tmp_path, folder, weights, monkeypatch
):
    clips, local = folder
    good = tmp_path / "good"
    good.mkdir()
    for name in ("a.mp4", "b.mkv", "c.mp4"):
        (good / name).symlink_to(clips / name)
    out = tmp_path / "out"
    monkeypatch.setenv(CRASH_ONCE_ENV, "b.mkv")
    args = ["run", str(good), str(out), "--weights", str(weights), "--quiet", "--ray", *LOSSLESS]
    assert main(args) == 0
    # The worker really died mid-clip (with its temp file written), and was replaced.
    assert (out / ".vsr-test-crashed-b.mkv").read_text() == "crashed"
    (out / ".vsr-test-crashed-b.mkv").unlink()
    assert_same_as_local(out, local)


def test_a_retry_removes_only_temps_of_its_own_output(tmp_path):
    target = tmp_path / "clip.mp4"
    stale = tmp_path / ".clip.999999.tmp.mp4"
    mine = tmp_path / f".clip.{os.getpid()}.tmp.mp4"
    other_clip = tmp_path / ".clip.b.999999.tmp.mp4"
    other_suffix = tmp_path / ".clip.999999.tmp.mkv"
    # A finished output that could not be given its name, kept under the temp's (read-only).
    kept = tmp_path / ".clip.888888.tmp.mp4"
    for path in (stale, mine, other_clip, other_suffix, kept):
        path.write_bytes(b"x")
    assert keep_finished(kept)
    assert remove_stale_temps(target) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (mine, other_clip, other_suffix, kept)
    )


@pytest.mark.slow  # the Ray instance and local run: 6-12 s
def test_one_clip_on_ray_equals_the_local_run(tmp_path, folder, weights):
    clips, local = folder
    out = tmp_path / "a.mp4"
    args = ["run", str(clips / "a.mp4"), str(out), "--weights", str(weights), "--quiet", "--ray"]
    args += LOSSLESS
    assert main(args) == 0
    assert decoded(out) == decoded(local / "a.mp4")
    assert main(args) == 2  # exists: the same refusal as a local run


def test_without_ray_installed_the_flag_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    (tmp_path / "in").mkdir()
    assert main(["run", str(tmp_path / "in"), str(tmp_path / "out"), "--ray"]) == 2
    assert "pip install 'ray>=2.60'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [(["--segments", "2"], "add --ray"), (["--segments", "2", "--ray"], "one clip")],
)
def test_segment_flags_need_ray_and_one_clip(tmp_path, extra, message, capsys):
    (tmp_path / "in").mkdir()
    assert main(["run", str(tmp_path / "in"), str(tmp_path / "out"), *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--ray"], ["--ray", "--segments", "2"]])
def test_a_url_with_ray_is_refused_as_a_url(tmp_path, extra, capsys, monkeypatch):
    # It became ./https:/example.com/a.mp4 before the URL check: "no such file" of a mangled
    # path, where a local run says what a URL is refused for.
    monkeypatch.chdir(tmp_path)
    assert main(["run", "https://example.com/a.mp4", "u.mkv", *extra]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "vsr: error: https://example.com/a.mp4: vsr reads local files, not URLs; download it first"
    ]


def test_an_unreadable_clip_with_ray_is_one_line_before_ray_starts(tmp_path, capsys, monkeypatch):
    # Ray started, the worker failed it, and it was told three times over, exit 1.
    import vsr.cluster

    def no_cluster(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(vsr.cluster, "_run_on_the_cluster", no_cluster)
    (tmp_path / "broken.mp4").write_bytes(bytes(range(256)) * 8)
    assert main(["run", str(tmp_path / "broken.mp4"), str(tmp_path / "o.mkv"), "--ray"]) == 2
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and said[0].startswith(f"vsr: error: {tmp_path / 'broken.mp4'}: ")


def test_a_ray_folder_run_names_what_is_in_the_way_as_typed_as_a_local_run(
    tmp_path, capsys, monkeypatch
):
    # It said "failed: /abs/out/a.mp4 is a folder" where a local run says "out/a.mp4".
    pytest.importorskip("ray")  # the README's test set-up installs no Ray
    import vsr.cluster

    def no_cluster(*args, **kwargs):
        raise AssertionError("Ray was started though nothing could run")

    monkeypatch.setattr(vsr.cluster, "connect", no_cluster)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp4").write_bytes(b"1234")
    (tmp_path / "out" / "a.mp4").mkdir(parents=True)
    assert main(["run", "in", "out", "--ray", "--report", "r.json"]) == 1
    said = capsys.readouterr().err
    assert f"vsr: a.mp4: failed: {Path('out', 'a.mp4')} is a folder\n" in said
    assert str(tmp_path) not in said
    (clip,) = json.loads((tmp_path / "r.json").read_text())["clips"]
    assert clip["error"] == f"{Path('out', 'a.mp4')} is a folder"
    assert clip["input"] == str(tmp_path / "in" / "a.mp4")  # the report's paths, as before


def test_a_ray_folder_run_stopped_by_ctrl_c_says_its_summary_line(tmp_path, capsys, monkeypatch):
    # The report listed every clip, but the terminal said only "vsr: interrupted", where a
    # local folder run says its summary line and the clips it stopped first.
    import vsr.cluster

    def stopped_after_one_clip(in_dir, out_dir, *, summary, **options):
        summary.add({"input": str(in_dir / "a.mkv"), "status": "done", "frames": 4})
        summary.add(
            {"input": str(in_dir / "b.mkv"), "status": "interrupted", "error": "stopped by Ctrl-C"}
        )
        raise KeyboardInterrupt

    monkeypatch.setattr(vsr.cluster, "run_folder", stopped_after_one_clip)
    (tmp_path / "in").mkdir()
    assert main(["run", str(tmp_path / "in"), str(tmp_path / "out"), "--ray"]) == 130
    said = capsys.readouterr().err.splitlines()
    assert said[0].startswith("vsr: 1 done, 0 skipped, 0 failed, 1 interrupted (4 frames in ")
    assert said[1:] == ["vsr:   interrupted: b.mkv: stopped by Ctrl-C", "vsr: interrupted"]


def test_gpu_settings_from_the_command_line_apply_where_the_workers_have_gpus():
    from vsr.cli import build_parser
    from vsr.cluster import options_for_workers
    from vsr.commands.run import _settings_and_model_options
    from vsr.pipelines import load_preset

    args = build_parser().parse_args(["run", "in/", "out/", "--ray", "--pipeline", "fast"])
    _, cpu = _settings_and_model_options(args, on_gpu=False)
    _, gpu = _settings_and_model_options(args, on_gpu=True)
    options = {**cpu, "gpu_options": gpu}

    on_gpus = options_for_workers(options, on_gpu=True)
    assert on_gpus["device"] == "cuda" and "gpu_options" not in on_gpus
    assert (on_gpus["precision"], on_gpus["batch"], on_gpus["cuda_graphs"]) == ("fp16", 4, True)
    on_cpus = options_for_workers(options, on_gpu=False)
    assert on_cpus["device"] == "cpu" and "gpu_options" not in on_cpus
    assert (on_cpus["precision"], on_cpus["batch"], on_cpus["cuda_graphs"]) == (None, None, False)
    # CPU workers decide per clip (vsr.ops.compile_policy); a GPU worker never gets "auto".
    assert (on_gpus["compile"], on_cpus["compile"]) == ("max-autotune-no-cudagraphs", "auto")
    # An encoder setting, not a GPU one: both kinds of worker keep the preset's.
    assert on_cpus["encoders"] == on_gpus["encoders"] == load_preset("fast").encoders > 1


def test_workers_report_frames_so_far_per_clip_and_a_retry_starts_from_zero():
    from vsr.cluster_task import FrameReporter, FrameTally

    tally = FrameTally()
    sent: list[tuple[str, int]] = []

    def report(clip: str, frames: int) -> None:
        sent.append((clip, frames))
        tally.report(clip, frames)

    on_frames = FrameReporter(report, "a.mp4", interval=3600)  # only the first call sends
    on_frames(0)
    for _ in range(5):
        on_frames(4)
    assert sent == [("a.mp4", 0)]  # rate-limited
    on_frames.flush()
    assert sent[-1] == ("a.mp4", 20) and tally.total() == 20
    on_frames.flush()
    assert len(sent) == 2  # nothing new, nothing sent

    retry = FrameReporter(report, "a.mp4", interval=0)  # the clip again, after a dead worker
    retry(0)
    retry(8)
    other = FrameReporter(report, "b.mp4", interval=0)
    other(3)
    assert tally.total() == 8 + 3


def test_a_clip_done_on_a_worker_says_what_it_lost_and_its_notes():
    from vsr.cluster import _log_outcome

    lines: list[str] = []
    report = {"fps": 12.0, "lost_frames": 3, "notes": ["the file looks truncated"]}
    outcome = {"input": "/c/h.mkv", "status": "done", "frames": 9, "node": "n1", "report": report}
    _log_outcome(outcome, lines.append)
    assert lines == [
        "vsr: h.mkv: 9 frames, 3 lost (damaged source) on n1 (12.00 fps)",
        "vsr: h.mkv: note: the file looks truncated",
    ]


def test_a_cluster_run_that_made_no_frame_gives_no_fps_as_a_local_one():
    from vsr.cluster import ClusterReport

    summary = ClusterReport(wall_seconds=2.0)  # the driver's time, spent on nothing
    summary.add({"input": "/c/a.mp4", "status": "skipped"})
    assert summary.to_dict()["summary"]["fps"] is None
    summary.add({"input": "/c/b.mp4", "status": "done", "frames": 9})
    assert summary.to_dict()["summary"]["fps"] == 4.5


def test_a_cluster_run_counts_its_damaged_clips():
    # run.json's summary, which vsr report's runs table shows: done, but frames short.
    summary = ClusterReport()
    summary.add({"input": "/c/a.mp4", "status": "done", "frames": 7, "report": {"lost_frames": 3}})
    summary.add({"input": "/c/b.mp4", "status": "done", "frames": 10, "report": {"lost_frames": 0}})
    summary.add({"input": "/c/c.mp4", "status": "done", "frames": 8, "lost_frames": 2})  # a segment
    summary.add({"input": "/c/d.mp4", "status": "failed", "error": "not a video"})
    totals = summary.to_dict()["summary"]
    assert (totals["done"], totals["failed"], totals["damaged"], totals["lost_frames"]) == (
        3,
        1,
        2,
        5,
    )


def test_a_rerun_with_every_output_there_starts_no_cluster(tmp_path, monkeypatch):
    pytest.importorskip("ray")  # the README's test set-up installs no Ray
    from vsr import cluster

    clips, out = folder_with_outputs(tmp_path, {"a.mp4": b"1234"}, {"a.mp4": b"done before"})

    def no_cluster(*args, **kwargs):
        raise AssertionError("Ray was started for nothing")

    monkeypatch.setattr(cluster, "connect", no_cluster)
    summary = cluster.run_folder(clips, out, progress=False, log=lambda _: None)
    assert [c["status"] for c in summary.clips] == ["skipped"]


def test_ray_auto_without_a_cluster_says_what_to_do(monkeypatch):
    ray = pytest.importorskip("ray")
    from vsr import cluster

    monkeypatch.setattr(ray, "is_initialized", lambda: False)

    def no_cluster_found(**options):
        raise ConnectionError("Could not find any running Ray instance. Please specify ...")

    monkeypatch.setattr(ray, "init", no_cluster_found)
    with pytest.raises(VsrError, match="--ray auto found no Ray cluster started on this"):
        cluster.connect("auto")


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_an_address_nobody_answers_on_is_told_at_once(monkeypatch, address):
    # ray.init waited for minutes, printing its own warnings.
    ray = pytest.importorskip("ray")
    from vsr import cluster

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **options: pytest.fail("ray.init was called"))
    with pytest.raises(VsrError, match=rf"cannot reach the Ray cluster at {address} \(Conn"):
        cluster.connect(address)


def test_two_clips_of_one_output_name_are_refused_as_in_a_local_run(tmp_path, monkeypatch):
    pytest.importorskip("ray")  # the README's test set-up installs no Ray
    from vsr import cluster

    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    out.mkdir()
    (clips / "a.mkv").write_bytes(b"1234")
    (clips / "a.ts").write_bytes(b"5678")  # a .ts is written as .mkv: the same output
    (out / "a.mkv").write_bytes(b"a.mkv, done before")

    def no_cluster(*args, **kwargs):
        raise AssertionError("Ray was started though nothing could run")

    monkeypatch.setattr(cluster, "connect", no_cluster)
    lines = []
    summary = cluster.run_folder(clips, out, progress=False, log=lines.append)
    by_name = {Path(c["input"]).name: c for c in summary.clips}
    assert by_name["a.mkv"]["status"] == "skipped"
    assert by_name["a.ts"]["status"] == "failed"
    assert (
        by_name["a.ts"]["error"] == "would be written as a.mkv, as a.mkv would; rename one of them"
    )
    assert lines == [f"vsr: a.ts: failed: {by_name['a.ts']['error']}"]
    assert (out / "a.mkv").read_bytes() == b"a.mkv, done before"


def test_shipped_weights_replace_a_planted_file_and_stay_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VSR_CACHE", str(tmp_path / "cache"))
    data = b"the driver's weights"
    shipped = ShippedWeights("w.safetensors", data)
    first = shipped.local_path()
    assert first.parent == tmp_path / "cache" / "shipped-weights"
    assert first.read_bytes() == data
    first.write_bytes(b"someone else's weights")  # planted under the same name
    assert shipped.local_path().read_bytes() == data
    digest = hashlib.sha256(data).hexdigest()
    assert first.name == f"{digest[:16]}.safetensors"


def _folder_of_two(tmp_path: Path) -> tuple[Path, Path]:
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mkv", "b.mkv"):
        make_clip(clips / name, 32, 24, frames=2, audio=False)
    return clips, out


def test_ctrl_c_in_a_ray_folder_run_still_writes_its_report(tmp_path, weights, monkeypatch):
    pytest.importorskip("ray")  # vsr run --ray refuses to start without it
    # The report was written only after every clip: Ctrl-C left none, where a local
    # folder run reports the clips finished so far.
    from vsr import cluster

    clips, out = _folder_of_two(tmp_path)
    monkeypatch.setattr(cluster, "connect", lambda *args: False)

    def interrupted(jobs, *, summary, **_):
        summary.add({"input": str(jobs[0].source), "status": "done", "frames": 2})
        raise KeyboardInterrupt

    monkeypatch.setattr(cluster, "run_clips", interrupted)
    report = tmp_path / "r.json"
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet", "--ray"]
    assert main([*args, "--report", str(report)]) == 130
    done = json.loads(report.read_text())["clips"]
    assert [(Path(c["input"]).name, c["status"]) for c in done] == [("a.mkv", "done")]


def test_a_ray_folder_run_names_damaged_clips_even_with_quiet(tmp_path, weights, monkeypatch, capsys):  # fmt: skip
    pytest.importorskip("ray")  # vsr run --ray refuses to start without it
    # A local folder run names them at its end; a Ray one said nothing, --quiet or not.
    from vsr import cluster

    clips, out = _folder_of_two(tmp_path)
    monkeypatch.setattr(cluster, "connect", lambda *args: False)

    def one_damaged(jobs, *, summary, **_):
        for job, lost in zip(jobs, (0, 17), strict=True):
            report = {"frames": 2, "lost_frames": lost, "wall_seconds": 1.0}
            summary.add({"input": str(job.source), "status": "done", "report": report})
        return summary

    monkeypatch.setattr(cluster, "run_clips", one_damaged)
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet", "--ray"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "vsr:   damaged: b.mkv: 17 frame(s) could not be decoded" in err and "a.mkv" not in err


@pytest.mark.parametrize("segments", [[], ["--segments", "2"]])
def test_a_worker_names_the_flags_of_the_command_line_it_runs_for(
    tmp_path, weights, local_ray, segments, capsys
):
    # A Ray worker is a process of its own, which vsr.cli.main's choice of words did not
    # reach: its messages named the API's keywords ("raise max_memory") to a CLI user.
    (tmp_path / "in").mkdir()
    clip = tmp_path / "in" / "a.mp4"
    make_clip(clip, 64, 48, frames=4)
    source, target = (clip, tmp_path / "out.mkv") if segments else (clip.parent, tmp_path / "out")
    args = ["run", str(source), str(target), "--weights", str(weights), "--quiet", "--ray"]
    assert main([*args, "--max-memory", "1KiB", *segments]) in (1, 2)
    err = capsys.readouterr().err
    assert "less than the network needs for its smallest windows" in err
    assert "raise --max-memory" in err
    assert "max_memory" not in err


def test_a_link_to_nothing_at_a_ray_output_is_a_name_taken_as_in_a_local_run(
    tmp_path, weights, monkeypatch, capsys
):
    # One clip: exists() passed it, Ray was started and the worker's run refused it, a
    # failed clip (exit 1) where a local run refuses at once (exit 2). A folder: it was
    # upscaled where a local folder run fails it, naming the link (vsr.output_in_the_way).
    from vsr import cluster

    def no_cluster(*args, **kwargs):
        raise AssertionError("Ray was started for an output that is there")

    monkeypatch.setattr(cluster, "connect", no_cluster)
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    out.mkdir()
    make_clip(clips / "a.mkv", 32, 24, frames=2, audio=False)
    (out / "a.mkv").symlink_to(tmp_path / "nowhere.mkv")
    args = ["--weights", str(weights), "--quiet", "--ray"]
    assert main(["run", str(clips / "a.mkv"), str(out / "a.mkv"), *args]) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: {out / 'a.mkv'} already exists; use --overwrite to replace it\n"
    )
    summary = cluster.run_folder(clips, out, progress=False, log=lambda _: None)
    why = f"{out / 'a.mkv'} links to {tmp_path / 'nowhere.mkv'}, which is not there"
    assert [(c["status"], c["error"]) for c in summary.clips] == [
        ("failed", f"{why} (remove it, or use overwrite=True)")
    ]


def test_a_segment_runs_last_line_words_its_frames_as_a_folder_runs_clip_line(
    tmp_path, weights, monkeypatch, capsys
):
    # It said "kept from an earlier run" where every other line says "interrupted run".
    from vsr import cluster_segments
    from vsr.cluster import ClusterReport

    def joined(source, target, **_):
        summary = ClusterReport(wall_seconds=2.0, output=str(target))
        summary.add({"input": "0", "status": "skipped", "frames": 6})
        summary.add({"input": "1", "status": "done", "frames": 8, "report": {"lost_frames": 2}})
        return summary

    monkeypatch.setattr(cluster_segments, "run_split", joined)
    make_clip(tmp_path / "a.mkv", 32, 24, frames=2, audio=False)
    out = tmp_path / "out.mkv"
    args = ["run", str(tmp_path / "a.mkv"), str(out), "--weights", str(weights), "--ray"]
    assert main([*args, "--segments", "2"]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        "vsr: 14 frames, 2 lost (damaged source) (6 of them kept from an interrupted run) in "
        f"2.0 s (4.00 fps) -> {out}"
    )


def test_a_segment_run_with_a_failed_segment_fails_and_names_no_output(
    tmp_path, weights, monkeypatch, capsys
):
    from vsr import cluster_segments
    from vsr.cluster import ClusterReport

    def one_failed(source, target, **_):
        summary = ClusterReport(wall_seconds=2.0)  # abandoned: no output joined
        summary.add({"input": f"{source}#0", "status": "done", "frames": 8})
        summary.add({"input": f"{source}#1", "status": "failed", "error": "out of memory"})
        return summary

    monkeypatch.setattr(cluster_segments, "run_split", one_failed)
    make_clip(tmp_path / "a.mkv", 32, 24, frames=2, audio=False)
    out = tmp_path / "out.mkv"
    args = ["run", str(tmp_path / "a.mkv"), str(out), "--weights", str(weights), "--ray"]
    assert main([*args, "--segments", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vsr: 1 done, 0 skipped, 1 failed (8 frames in ")
    assert f"-> {out}" not in err


def test_a_resumed_ray_run_counts_its_kept_frames_apart_as_a_local_one(
    tmp_path, weights, monkeypatch, capsys
):
    pytest.importorskip("ray")  # vsr run --ray refuses to start without it
    # The kept frames counted as this run's work: "400 frames on vm (29.98 fps)", and a
    # summary of 400 frames at 33.88 fps with no resumed_frames.
    from vsr import cluster

    clips, out = _folder_of_two(tmp_path)
    monkeypatch.setattr(cluster, "connect", lambda *args: False)

    def resumed(jobs, *, summary, log, **_):
        report = {"frames": 400, "resumed_frames": 100, "fps": 30.0, "lost_frames": 0}
        outcome = {"input": str(jobs[0].source), "status": "done", "frames": 400}
        outcome.update(node="vm", report=report)
        cluster._log_outcome(outcome, log)
        summary.add(outcome)
        summary.add({"input": str(jobs[1].source), "status": "done", "frames": 2})
        summary.wall_seconds = 10.0
        return summary

    monkeypatch.setattr(cluster, "run_clips", resumed)
    report = tmp_path / "r.json"
    args = ["run", str(clips), str(out), "--weights", str(weights), "--ray", "--resume"]
    assert main([*args, "--report", str(report)]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert "vsr: a.mkv: 400 frames (100 of them kept from an interrupted run) on vm (30.00 fps)" in lines  # fmt: skip
    assert lines[-1] == (
        "vsr: 2 done, 0 skipped, 0 failed (402 frames, 100 of them kept from interrupted runs; "
        "302 made in 10.0 s, 30.20 fps)"
    )
    summary = json.loads(report.read_text())["summary"]
    assert (summary["frames"], summary["resumed_frames"], summary["fps"]) == (402, 100, 30.2)


def test_an_interrupted_ray_run_reports_the_clips_finished_meanwhile(tmp_path, weights, local_ray):
    # Ctrl-C cancelled every task not yet collected: a clip whose output was already
    # written went missing from the report, which named 1 clip of 3.
    from vsr.cluster import ClipJob, run_clips

    clips, out = _folder_of_two(tmp_path)
    make_clip(clips / "c.mkv", 32, 24, frames=2, audio=False)
    out.mkdir()
    jobs = [ClipJob(clip, out / clip.name) for clip in sorted(clips.iterdir())]

    told: list[str] = []

    def stop_once_all_are_written(line: str) -> None:
        told.append(line)
        if len(told) > 1:
            return
        for _ in range(600):  # the others finish while the first is being told
            if all(job.target.exists() for job in jobs):
                break
            time.sleep(0.1)
        time.sleep(2)  # and their tasks return, just after the rename
        raise KeyboardInterrupt

    summary = ClusterReport()
    with pytest.raises(KeyboardInterrupt):
        run_clips(
            jobs,
            weights=weights,
            engine_options={},
            progress=False,
            log=stop_once_all_are_written,
            summary=summary,
        )
    assert [clip["status"] for clip in summary.clips] == ["done"] * 3
    assert len(told) == 3  # each said, as a local run says the clip it finishes

    # Stopped at once: every clip is still listed, those not done as a local run lists them.
    def stop_at_once(line: str) -> None:
        told.append(line)
        if len(told) == 4:  # the first line of this run; the clips done meanwhile are told
            raise KeyboardInterrupt

    again = [ClipJob(job.source, tmp_path / "again" / job.target.name) for job in jobs]
    again[0].target.parent.mkdir()
    summary = ClusterReport()
    with pytest.raises(KeyboardInterrupt):
        run_clips(again, weights=weights, engine_options={}, progress=False, log=stop_at_once, summary=summary)  # fmt: skip
    assert [Path(clip["input"]).name for clip in summary.clips] == ["a.mkv", "b.mkv", "c.mkv"]
    totals = summary.to_dict()["summary"]
    assert totals["done"] >= 1 and totals["clips"] == 3
    assert totals["done"] + totals["interrupted"] + totals["not_started"] == 3


def test_the_clips_an_interrupted_ray_run_stopped_are_reported_as_a_local_run_does():
    # They were left out: a report of 6 clips said clips 1, with no interrupted or
    # not_started count.
    from vsr.cluster import ClipJob, _stopped
    from vsr.stop_signals import StopSignal

    jobs = [ClipJob(Path(f"/c/{name}.mkv"), Path(f"/o/{name}.mkv")) for name in "abc"]
    summary = ClusterReport()
    summary.add({"input": "/c/a.mkv", "status": "done", "frames": 2})
    for entry in _stopped(jobs[1:], {"/c/b.mkv"}, StopSignal(signal.SIGTERM)).values():
        summary.add(entry)
    assert [(c["status"], c["error"]) for c in summary.clips[1:]] == [
        ("interrupted", "stopped by SIGTERM before it was finished"),
        ("not started", "not started: the run was stopped before it"),
    ]
    totals = summary.to_dict()["summary"]
    assert (totals["clips"], totals["done"], totals["interrupted"], totals["not_started"]) == (3, 1, 1, 1)  # fmt: skip


def test_a_task_run_outside_ray_starts_no_ray_instance():
    # A task's report asked Ray for its node and GPU, which outside a worker (a task function
    # run in-process) started a local Ray instance and left it running.
    # In a process of its own: this file's Ray instance runs in this one.
    pytest.importorskip("ray")
    check = (
        "import ray; from vsr.cluster_task import where_am_i; place = where_am_i(); "
        "print(ray.is_initialized(), place['gpu'], bool(place['node']))"
    )
    said = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert said.stdout.split() == ["False", "None", "True"], said.stderr


def test_an_ipv6_address_is_asked_for_without_its_brackets(monkeypatch):
    # "[::1]:6379" is how a cluster's IPv6 address is written; the socket takes "::1".
    ray = pytest.importorskip("ray")
    from vsr import cluster

    asked = []

    def refused(address, timeout):
        asked.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(cluster.socket, "create_connection", refused)
    with pytest.raises(VsrError, match=r"at \[::1\]:6379 \(Connection refused\)"):
        cluster.connect("[::1]:6379")
    assert asked == [("::1", 6379)]


def test_a_weights_file_travels_by_value_and_a_name_or_none_as_it_is(tmp_path):
    from vsr.cluster import ship_weights

    weights = tmp_path / "mine.safetensors"
    weights.write_bytes(b"the driver's weights")
    assert ship_weights(weights) == ShippedWeights("mine.safetensors", b"the driver's weights")
    assert ship_weights("imdn-x4") == "imdn-x4"  # a manifest name, resolved by each worker
    assert ship_weights(None) is None  # each worker's default, not a file named "None"


def test_tasks_take_a_gpu_where_the_cluster_has_one_unless_the_device_is_cpu(monkeypatch):
    ray = pytest.importorskip("ray")
    from vsr.cluster import cluster_slots, task_resources

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0, "GPU": 1.0})
    assert task_resources() == task_resources("cuda:0") == {"num_gpus": 1, "num_cpus": 1}
    assert task_resources("cpu") == {"num_cpus": 1}
    assert (cluster_slots(ray, on_gpu=True), cluster_slots(ray, on_gpu=False)) == (1, 8)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0})
    assert task_resources() == {"num_cpus": 1}


def test_a_device_given_reaches_the_workers_as_given():
    from vsr.cluster import options_for_workers

    assert options_for_workers({"device": "cuda:1"}, on_gpu=True)["device"] == "cuda:1"
    assert options_for_workers({}, on_gpu=True)["device"] == "cuda"
    assert options_for_workers({"device": None}, on_gpu=False)["device"] == "cpu"


def test_a_task_ray_gave_up_on_is_failed_with_the_first_line_of_ray_s_reason():
    ray = pytest.importorskip("ray")
    from vsr.cluster import outcome_or_failure

    def get(ref):
        raise ray.exceptions.RayError("The worker died unexpectedly.\nTraceback, logs ...")

    gave_up = SimpleNamespace(get=get, exceptions=ray.exceptions)
    assert outcome_or_failure(gave_up, object(), input="/c/a.mkv", output="/o/a.mkv") == {
        "input": "/c/a.mkv",
        "output": "/o/a.mkv",
        "status": "failed",
        "node": None,
        "gpu": None,
        "error": "RayError after 3 retries: The worker died unexpectedly.",
    }


class _Tally:
    """A FrameTally actor's handle, as a task calls it (`tally.report.remote(...)`)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []
        self.report = SimpleNamespace(remote=lambda clip, frames: self.sent.append((clip, frames)))


def test_a_task_counts_its_frames_from_zero_to_the_last_and_does_not_redo_a_finished_output(
    tmp_path, weights
):
    pytest.importorskip("ray")  # a task asks Ray where it runs
    from vsr.cluster_task import run_clip

    source, target = tmp_path / "a.mkv", tmp_path / "out" / "a.mkv"
    make_clip(source, 32, 24, frames=5, audio=False)
    target.parent.mkdir()
    tally = _Tally()
    threads = torch.get_num_threads()

    def task(overwrite: bool, submitted_at: float) -> dict:
        clip = (str(source), str(target), str(weights), {})
        return run_clip(*clip, overwrite=overwrite, submitted_at=submitted_at, threads=1, tally=tally)  # fmt: skip

    try:
        submitted_at = time.time()
        done = task(overwrite=True, submitted_at=submitted_at)
        # From zero (a retried clip's count starts again), and the last count however fast.
        assert tally.sent[0] == (str(source), 0) and tally.sent[-1] == (str(source), 5)
        # A retry of an attempt that renamed its output into place and died before saying
        # so; without --overwrite, an output there at all is a finished one.
        retried = task(overwrite=True, submitted_at=submitted_at)
        there = task(overwrite=False, submitted_at=time.time())
        redone = task(overwrite=True, submitted_at=time.time())  # --overwrite: made anew
    finally:
        torch.set_num_threads(threads)
    assert (done["status"], done["frames"], done["report"]["frames"]) == ("done", 5, 5)
    for outcome in (retried, there):
        assert (outcome["status"], outcome["frames"], outcome["report"]) == ("done", 5, None)
        assert outcome["note"] == "finished by an earlier attempt"
    assert (redone["status"], redone["report"]["frames"]) == ("done", 5) and "note" not in redone


def test_a_task_refuses_a_clip_swapped_for_another_user_s_link(tmp_path, weights, monkeypatch):
    pytest.importorskip("ray")  # a task asks Ray where it runs
    from vsr import cluster_task
    from vsr.foreign_links import REFUSAL

    monkeypatch.setattr(cluster_task, "linked_by_another_user", lambda path: True)
    source = tmp_path / "a.mkv"
    make_clip(source, 32, 24, frames=2, audio=False)
    task = {"overwrite": False, "submitted_at": time.time(), "threads": torch.get_num_threads()}
    outcome = cluster_task.run_clip(str(source), str(tmp_path / "o.mkv"), str(weights), {}, **task)
    assert outcome["status"] == "failed" and REFUSAL in outcome["error"]
    assert not (tmp_path / "o.mkv").exists()


def test_watch_and_ray_together_are_refused(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    assert main(["run", str(tmp_path / "in"), str(tmp_path / "out"), "--ray", "--watch"]) == 2
    assert capsys.readouterr().err == "vsr: error: --watch is not available with --ray\n"


def test_the_device_flag_reaches_the_ray_workers(tmp_path, monkeypatch):
    from vsr import cluster

    given = {}

    def run_folder(in_dir, out_dir, *, summary, engine_options, **_):
        given.update(engine_options)
        return summary

    monkeypatch.setattr(cluster, "run_folder", run_folder)
    (tmp_path / "in").mkdir()
    assert (
        main(["run", str(tmp_path / "in"), str(tmp_path / "out"), "--ray", "--device", "cpu"]) == 0
    )
    assert given["device"] == "cpu"


def test_a_folder_of_only_links_to_nothing_fails_them_as_a_local_run_does(tmp_path, monkeypatch):
    # Not "no video clips in in": each link is a clip that cannot be read, and said so.
    pytest.importorskip("ray")  # the README's test set-up installs no Ray
    from vsr import cluster

    def no_cluster(*args, **kwargs):
        raise AssertionError("Ray was started though nothing could run")

    monkeypatch.setattr(cluster, "connect", no_cluster)
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    (clips / "a.mkv").symlink_to(tmp_path / "gone.mkv")
    lines = []
    summary = cluster.run_folder(clips, out, progress=False, log=lines.append)
    (clip,) = summary.clips
    assert (clip["status"], clip["input"]) == ("failed", str(clips / "a.mkv"))
    assert lines == [f"vsr: a.mkv: failed: {clip['error']}"] and "gone.mkv" in clip["error"]


def test_a_ray_folder_run_reports_its_clips_in_name_order_whatever_became_of_them(
    tmp_path, monkeypatch
):
    # The skipped and the refused are known before the cluster runs the rest: a report
    # in that order read as another folder's.
    pytest.importorskip("ray")  # the README's test set-up installs no Ray
    from vsr import cluster

    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    for name in ("a.mkv", "b.mkv", "c.mkv"):
        (clips / name).write_bytes(b"1234")
    (out / "b.mkv").parent.mkdir()
    (out / "b.mkv").write_bytes(b"done before")
    (out / "c.mkv").mkdir()  # in the way

    def run_clips(jobs, *, summary, **_):
        for job in jobs:
            summary.add({"input": str(job.source), "status": "done", "frames": 2})
        return summary

    monkeypatch.setattr(cluster, "connect", lambda *args: False)
    monkeypatch.setattr(cluster, "run_clips", run_clips)
    report = tmp_path / "r.json"
    summary = cluster.run_folder(clips, out, progress=False, report=report, log=lambda _: None)
    expected = [("a.mkv", "done"), ("b.mkv", "skipped"), ("c.mkv", "failed")]
    assert [(Path(c["input"]).name, c["status"]) for c in summary.clips] == expected
    written = json.loads(report.read_text())["clips"]
    assert [(Path(c["input"]).name, c["status"]) for c in written] == expected


def test_overwrite_in_a_ray_folder_run_redoes_the_finished_outputs(tmp_path, monkeypatch):
    pytest.importorskip("ray")  # the README's test set-up installs no Ray
    from vsr import cluster

    clips, out = folder_with_outputs(tmp_path, {"a.mkv": b"1234"}, {"a.mkv": b"done before"})
    submitted = []

    def run_clips(jobs, *, summary, overwrite, **_):
        submitted.extend((job.source.name, overwrite) for job in jobs)
        return summary

    monkeypatch.setattr(cluster, "connect", lambda *args: False)
    monkeypatch.setattr(cluster, "run_clips", run_clips)
    summary = cluster.run_folder(clips, out, overwrite=True, progress=False, log=lambda _: None)
    assert submitted == [("a.mkv", True)] and summary.count("skipped") == 0


def test_ray_weights_in_a_folder_only_the_workers_have_are_left_to_them(tmp_path, monkeypatch):
    # A path on the cluster's own disk cannot be looked at here: refusing it as "not found"
    # made --ray unusable with weights kept there. One in a folder this machine has is a typo.
    import vsr.commands.run_ray

    given = []

    def run_on_ray(args, options, say):
        given.append(args.weights)
        return 0

    monkeypatch.setattr(vsr.commands.run_ray, "run_on_ray", run_on_ray)
    clip = tmp_path / "a.mp4"
    make_clip(clip, 16, 16, frames=2, audio=False)
    elsewhere = "/only-on-the-workers/w.safetensors"
    args = ["run", str(clip), str(tmp_path / "out.mp4"), "--quiet", "--ray"]
    assert main([*args, "--weights", elsewhere]) == 0
    assert given == [elsewhere]
    assert main([*args, "--weights", str(tmp_path / "typo.safetensors")]) == 2
    assert given == [elsewhere]
