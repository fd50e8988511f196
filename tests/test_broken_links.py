"""Links that lead to no file (into a share that is not mounted, or looping) are named with
why, as failed clips or images, not left out without a word (vsr.broken_links)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from media import folder_with_outputs
from test_folder import Recorder, ScriptedTime

from vsr.cli import main
from vsr.folder import process_folder, watch_folder
from vsr.imageio import write_image


def _broken_links(folder: Path, suffix: str) -> dict[str, str]:
    """A link into a share that is not mounted and one to itself, in `folder`, with what
    vsr says of each."""
    share = folder.parent / "nas"  # not there
    (folder / f"b{suffix}").symlink_to(share / f"b{suffix}")
    (folder / f"loop{suffix}").symlink_to(f"loop{suffix}")
    return {
        f"b{suffix}": f"links to {share / f'b{suffix}'}, which is not there",
        f"loop{suffix}": "a link that loops",
    }


def test_a_folder_run_fails_links_that_lead_to_no_file_and_says_why(tmp_path):
    # They were left out without a word: "1 done, 0 skipped, 0 failed", exit 0.
    clips = tmp_path / "in"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    why = _broken_links(clips, ".mp4")
    lines: list[str] = []
    runner = Recorder()
    summary = process_folder(clips, tmp_path / "out", runner, progress=False, log=lines.append)
    assert runner.calls == [("a.mp4", 4)]
    assert [(Path(c["input"]).name, c["status"], c.get("error")) for c in summary.clips] == [
        ("a.mp4", "done", None),
        ("b.mp4", "failed", why["b.mp4"]),
        ("loop.mp4", "failed", why["loop.mp4"]),
    ]
    assert f"vsr: b.mp4: failed: {why['b.mp4']}" in lines
    assert "vsr: loop.mp4: failed: a link that loops" in lines


def test_a_broken_link_whose_output_is_there_is_skipped_as_a_done_clip(tmp_path):
    # A rerun while the share was unmounted failed the clips it had upscaled before (exit 1)
    # where it skips every other done clip.
    clips, out = folder_with_outputs(tmp_path, {}, {"b.mp4": b"done before"})
    why = _broken_links(clips, ".mp4")
    summary = process_folder(clips, out, Recorder(), progress=False, log=lambda line: None)
    assert [(Path(c["input"]).name, c["status"]) for c in summary.clips] == [
        ("b.mp4", "skipped"),
        ("loop.mp4", "failed"),
    ]
    assert summary.clips[1]["error"] == why["loop.mp4"]
    assert (out / "b.mp4").read_bytes() == b"done before"


def test_with_overwrite_a_broken_link_whose_output_is_there_fails_for_its_link(tmp_path):
    # Its output is to be made again, and there is nothing to make it from.
    clips, out = folder_with_outputs(tmp_path, {}, {"b.mp4": b"done before"})
    why = _broken_links(clips, ".mp4")
    runner = Recorder()
    summary = process_folder(
        clips, out, runner, overwrite=True, progress=False, log=lambda line: None
    )
    assert runner.calls == []
    assert [(Path(c["input"]).name, c["status"], c.get("error")) for c in summary.clips] == [
        ("b.mp4", "failed", why["b.mp4"]),
        ("loop.mp4", "failed", why["loop.mp4"]),
    ]
    assert (out / "b.mp4").read_bytes() == b"done before"


def test_a_folder_of_links_into_an_unmounted_share_is_not_called_one_without_clips(
    tmp_path, capsys
):
    # "vsr: error: no video clips in fl2 (looked for ...)", exit 2, which is untrue.
    clips = tmp_path / "in"
    clips.mkdir()
    why = _broken_links(clips, ".mp4")
    assert main(["run", str(clips), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "no video clips" not in err
    assert "vsr: 0 done, 0 skipped, 2 failed" in err
    assert f"vsr:   failed: b.mp4: {why['b.mp4']}" in err
    assert "vsr:   failed: loop.mp4: a link that loops" in err


def test_a_watch_fails_a_broken_link_once_and_takes_it_once_mended(tmp_path):
    clips, share = tmp_path / "in", tmp_path / "nas"
    clips.mkdir()
    why = _broken_links(clips, ".mp4")

    def mount() -> None:
        share.mkdir()
        (share / "b.mp4").write_bytes(b"12345")

    time_ = ScriptedTime({3: mount})
    lines: list[str] = []
    failures: list[str] = []  # said even under --quiet, which holds back `log`
    runner = Recorder()
    summary = watch_folder(
        clips, tmp_path / "out", runner, interval_s=1, idle_exit_s=5, log=lines.append,
        warn=failures.append, clock=time_.clock, sleep=time_.sleep,
    )  # fmt: skip
    assert sorted(failures) == [  # once each, not at every look
        f"vsr: b.mp4: failed: {why['b.mp4']}",
        "vsr: loop.mp4: failed: a link that loops",
    ]
    assert not [line for line in lines if "failed" in line]
    assert runner.calls == [("b.mp4", 5)]
    assert sorted((Path(c["input"]).name, c["status"]) for c in summary.clips) == [
        ("b.mp4", "done"),
        ("loop.mp4", "failed"),
    ]


def test_a_watch_tells_a_mended_link_that_fails_again(tmp_path):
    # The share came back and the clip was upscaled; the share went away again: the watch
    # said nothing of the second failure, and its report kept the clip "done".
    clips, share = tmp_path / "in", tmp_path / "nas"
    clips.mkdir()
    why = _broken_links(clips, ".mp4")
    (clips / "loop.mp4").unlink()

    def mount() -> None:
        share.mkdir()
        (share / "b.mp4").write_bytes(b"12345")

    time_ = ScriptedTime({1: mount, 5: lambda: (share / "b.mp4").unlink()})
    failures: list[str] = []
    runner = Recorder()
    summary = watch_folder(
        clips, tmp_path / "out", runner, interval_s=1, idle_exit_s=8, log=lambda _: None,
        warn=failures.append, clock=time_.clock, sleep=time_.sleep,
    )  # fmt: skip
    assert runner.calls == [("b.mp4", 5)]
    assert failures == [f"vsr: b.mp4: failed: {why['b.mp4']}"] * 2
    assert [(Path(c["input"]).name, c["status"]) for c in summary.clips] == [("b.mp4", "failed")]


def test_a_link_through_a_file_is_said_to_lead_to_nothing_there(tmp_path):
    # A path that runs through a file ("notes.txt/b.mp4") is as absent as one into an empty
    # share: it read "which cannot be reached (Not a directory)".
    clips = tmp_path / "in"
    clips.mkdir()
    (tmp_path / "notes.txt").write_text("not a folder")
    (clips / "b.mp4").symlink_to(tmp_path / "notes.txt" / "b.mp4")
    summary = process_folder(clips, tmp_path / "out", Recorder(), progress=False, log=print)
    assert [(Path(c["input"]).name, c["status"], c.get("error")) for c in summary.clips] == [
        ("b.mp4", "failed", f"links to {tmp_path / 'notes.txt' / 'b.mp4'}, which is not there")
    ]


def test_a_fifo_named_like_a_clip_fails_as_no_regular_file(tmp_path, capsys):
    # A folder run left it out without a word; alone it was "not a file".
    clips = tmp_path / "in"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"1234")
    os.mkfifo(clips / "x.mp4")
    runner = Recorder()
    summary = process_folder(clips, tmp_path / "out", runner, progress=False, log=print)
    assert runner.calls == [("a.mp4", 4)]
    assert [(Path(c["input"]).name, c["status"], c.get("error")) for c in summary.clips] == [
        ("a.mp4", "done", None),
        ("x.mp4", "failed", "not a regular file"),
    ]
    capsys.readouterr()
    assert main(["run", str(clips / "x.mp4"), str(tmp_path / "out.mp4")]) == 2
    assert capsys.readouterr().err == f"vsr: error: {clips / 'x.mp4'}: not a regular file\n"


def test_a_single_clip_that_is_a_broken_link_is_not_called_missing(tmp_path, capsys):
    # A link that loops was "loop.mp4: no such file".
    why = _broken_links(tmp_path, ".mp4")
    for name in ("b.mp4", "loop.mp4"):
        assert main(["run", str(tmp_path / name), str(tmp_path / "out.mp4")]) == 2
        assert capsys.readouterr().err == f"vsr: error: {tmp_path / name}: {why[name]}\n"


def test_images_that_are_broken_links_are_said_as_clips_are(tmp_path, weights, capsys):
    # "failed: loop.png: image not found".
    images = tmp_path / "in"
    images.mkdir()
    write_image(images / "a.png", np.zeros((4, 4, 3), np.uint8))
    why = _broken_links(images, ".png")
    tiny = ["--weights", str(weights), "--device", "cpu"]
    assert main(["image", str(images / "loop.png"), str(tmp_path / "o.png"), *tiny]) == 2
    assert capsys.readouterr().err == f"vsr: error: {images / 'loop.png'}: a link that loops\n"
    assert main(["image", str(images), str(tmp_path / "out"), *tiny]) == 1
    err = capsys.readouterr().err
    assert f"vsr:   failed: b.png: {why['b.png']}" in err
    assert "vsr:   failed: loop.png: a link that loops" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


def test_a_ray_folder_run_fails_broken_links_as_a_local_run(tmp_path, monkeypatch):
    pytest.importorskip("ray")  # the README's test set-up installs no Ray
    from vsr import cluster

    clips = tmp_path / "in"
    clips.mkdir()
    why = _broken_links(clips, ".mp4")

    def no_cluster(*args, **kwargs):
        raise AssertionError("Ray was started though nothing could run")

    monkeypatch.setattr(cluster, "connect", no_cluster)
    lines: list[str] = []
    summary = cluster.run_folder(clips, tmp_path / "out", progress=False, log=lines.append)
    assert sorted((Path(c["input"]).name, c["status"], c["error"]) for c in summary.clips) == [
        ("b.mp4", "failed", why["b.mp4"]),
        ("loop.mp4", "failed", why["loop.mp4"]),
    ]
    assert lines == [f"vsr: {name}: failed: {reason}" for name, reason in why.items()]
    # One upscaled before its share went away is skipped, as a local run skips it.
    (tmp_path / "out" / "b.mp4").write_bytes(b"done before")
    summary = cluster.run_folder(clips, tmp_path / "out", progress=False, log=lines.append)
    assert sorted((Path(c["input"]).name, c["status"]) for c in summary.clips) == [
        ("b.mp4", "skipped"),
        ("loop.mp4", "failed"),
    ]


@pytest.mark.parametrize("mode", ["folder", "ray"])
@pytest.mark.parametrize("in_the_way", ["an empty file", "a folder"])
def test_a_broken_link_whose_output_name_holds_no_finished_output_fails_for_its_link(
    tmp_path, monkeypatch, mode, in_the_way
):
    # What stands at its output name is no output it had: the link fails for itself, as
    # with nothing there. A --ray run counted it as skipped (done); a local one failed it
    # for what was in the way, not for its link.
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    out.mkdir()
    why = _broken_links(clips, ".mp4")
    if in_the_way == "a folder":
        (out / "b.mp4").mkdir()
    else:
        (out / "b.mp4").touch()
    lines: list[str] = []
    if mode == "ray":
        pytest.importorskip("ray")  # the README's test set-up installs no Ray
        from vsr import cluster

        def no_cluster(*args, **kwargs):
            raise AssertionError("Ray was started though nothing could run")

        monkeypatch.setattr(cluster, "connect", no_cluster)
        summary = cluster.run_folder(clips, out, progress=False, log=lines.append)
    else:
        summary = process_folder(clips, out, Recorder(), progress=False, log=lines.append)
    assert sorted((Path(c["input"]).name, c["status"], c["error"]) for c in summary.clips) == [
        ("b.mp4", "failed", why["b.mp4"]),
        ("loop.mp4", "failed", why["loop.mp4"]),
    ]
