"""A source replaced under its name while a run reads it stops the run: a file made of two
versions (one's picture, the other's sound) is never left (vsr.video.file_version). One
deleted or moved away once it was opened is upscaled whole."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import pytest
from media import make_clip, make_raw_stream

import vsr.runner
from vsr.cli import main
from vsr.video.file_version import FileVersion, HeldSource, SourceChanged, SourceRemoved
from vsr.video.reader import VideoReader


def _replace_when_the_network_loads(monkeypatch, source: Path, replacement: Path) -> None:
    """Move `replacement` onto `source` once the reader has it open, while the network
    loads, as rsync or an export that renames its file into place would."""
    load = vsr.runner._network_for

    def load_after_the_replacement(*args, **kwargs):
        if replacement.exists():  # the first clip only
            os.replace(replacement, source)
        return load(*args, **kwargs)

    monkeypatch.setattr(vsr.runner, "_network_for", load_after_the_replacement)


def _message(source: Path) -> str:
    return f"{source} changed while it was being read"


@pytest.mark.parametrize("resume", [False, True])
def test_a_source_replaced_while_the_network_loads_stops_the_run(
    tmp_path, weights, monkeypatch, capsys, resume
):
    source, later = tmp_path / "in.mp4", tmp_path / "in.next.mp4"
    make_clip(source, 32, 24, frames=2)
    make_clip(later, 48, 32, frames=6, chirp=True)
    _replace_when_the_network_loads(monkeypatch, source, later)
    out = tmp_path / "out" / "x.mp4"
    out.parent.mkdir()
    flags = ["--resume"] if resume else []
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vsr: error: {_message(source)}") and err.count("\n") == 1
    # No output, no temporary file, no journal that would name the new file's version
    # as the one its frames were made of.
    assert list(out.parent.iterdir()) == []


def test_a_clip_replaced_in_a_folder_run_fails_with_that_reason(tmp_path, weights, monkeypatch):
    clips, out, later = tmp_path / "in", tmp_path / "out", tmp_path / "a.next.mp4"
    clips.mkdir()
    make_clip(clips / "a.mp4", 32, 24, frames=2)
    make_clip(clips / "b.mp4", 32, 24, frames=2)
    make_clip(later, 48, 32, frames=6, chirp=True)
    _replace_when_the_network_loads(monkeypatch, clips / "a.mp4", later)
    report = tmp_path / "folder.json"
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet"]
    assert main([*args, "--report", str(report)]) == 1
    clips_run = {Path(c["input"]).name: c for c in json.loads(report.read_text())["clips"]}
    assert clips_run["a.mp4"]["status"] == "failed"
    assert _message(clips / "a.mp4") in clips_run["a.mp4"]["error"]
    assert clips_run["b.mp4"]["status"] == "done"
    assert sorted(p.name for p in out.iterdir()) == ["b.mp4"]


def test_a_reader_that_opens_its_source_again_finds_the_version_it_read(tmp_path):
    source, later = tmp_path / "in.h264", tmp_path / "in.next.h264"
    make_raw_stream(source, frames=4)
    make_raw_stream(later, frames=6)
    with VideoReader(source) as reader:
        reader.resume_after(1)  # a raw stream, without an index, is decoded again from the top
        os.replace(later, source)
        with pytest.raises(SourceChanged, match="changed while it was being read"):
            next(reader.frames())


def test_a_reader_that_opens_its_source_again_once_it_is_gone_says_it_was_removed(tmp_path):
    source = tmp_path / "in.h264"
    make_raw_stream(source, frames=4)
    with VideoReader(source) as reader:
        reader.resume_after(1)
        source.unlink()
        with pytest.raises(SourceRemoved, match="was removed while it was being upscaled"):
            next(reader.frames())


def test_a_source_replaced_before_the_writer_holds_it_is_refused_as_it_is_opened(tmp_path):
    # Held unchecked, the replacement is what the writer holds all run long, and only the
    # end check, after all the work, could object.
    source, later = tmp_path / "in.mp4", tmp_path / "in.next.mp4"
    make_clip(source, 32, 24, frames=2)
    make_clip(later, 48, 32, frames=6, chirp=True)
    version = FileVersion.of(source)
    os.replace(later, source)
    with pytest.raises(SourceChanged, match=f"^{_message(source)}"):
        HeldSource(source, version)


def test_a_source_gone_is_kept_only_where_no_opening_of_it_went_unchecked(tmp_path):
    # The ffmpeg encoder process opens the source when it will: a file put under the name
    # and removed since may be what it read.
    source = tmp_path / "in.mp4"
    make_clip(source, 32, 24, frames=2)
    held = HeldSource(source, FileVersion.of(source))
    source.unlink()
    held.end_check(every_opening_checked=True)
    with pytest.raises(SourceRemoved):
        held.end_check(every_opening_checked=False)
    held.close()


def test_a_source_that_grows_while_it_is_read_is_upscaled_as_it_was(tmp_path, weights, monkeypatch):
    # A recording still being written grows under the run: the same file, only longer. It
    # must not be refused after all the work as "changed", as a replaced one is.
    source, out = tmp_path / "rec.mkv", tmp_path / "out.mkv"
    make_clip(source, 32, 24, frames=4)
    load = vsr.runner._network_for

    def load_after_the_file_grew(*args, **kwargs):
        with open(source, "ab") as recording:
            recording.write(bytes(1024))  # what a recorder adds next (here: padding)
        return load(*args, **kwargs)

    monkeypatch.setattr(vsr.runner, "_network_for", load_after_the_file_grew)
    args = ["run", str(source), str(out), "--weights", str(weights), "--quiet"]
    assert main(args) == 0
    with VideoReader(out) as reader:
        assert sum(1 for _ in reader.frames()) == 4


def _after_the_frames_are_encoded(monkeypatch, do) -> None:
    """Call `do(source)` once every frame is encoded, before the file is finished: after
    every opening of the source that the run makes by name."""
    encode = vsr.runner._encode_frames

    def encode_then_do(reader, *args, **kwargs):
        encoded = encode(reader, *args, **kwargs)
        do(reader.path)
        return encoded

    monkeypatch.setattr(vsr.runner, "_encode_frames", encode_then_do)


def _move_away(source: Path) -> None:
    source.rename(source.with_name("archived.mp4"))


@pytest.mark.parametrize("go", [Path.unlink, _move_away], ids=["deleted", "moved away"])
def test_a_source_gone_once_it_was_read_is_still_upscaled_whole(tmp_path, weights, monkeypatch, go):
    # The file read was the clip, whole: "changed (replaced or cut short); run again"
    # threw the work away, and no run can be made again of a file that is gone.
    source, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(source, 32, 24, frames=4)
    _after_the_frames_are_encoded(monkeypatch, go)
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet"]) == 0
    with VideoReader(out) as reader:
        assert sum(1 for _ in reader.frames()) == 4
    with av.open(str(out)) as output:  # the sound, copied from the file held open
        assert sum(1 for p in output.demux(audio=0) if p.size) > 0


def test_a_source_cut_short_and_then_removed_still_stops_the_run(tmp_path, weights, monkeypatch):
    # What the end check protects: a file rewritten in place, then gone, was not read whole.
    source, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(source, 32, 24, frames=4)

    def cut_short_then_remove(path: Path) -> None:
        os.truncate(path, path.stat().st_size // 2)
        path.unlink()

    _after_the_frames_are_encoded(monkeypatch, cut_short_then_remove)
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet"]) == 2
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


@pytest.mark.parametrize("resume", [False, True])
def test_a_source_removed_before_it_is_opened_again_is_said_to_be_removed(
    tmp_path, weights, monkeypatch, capsys, resume
):
    source = tmp_path / "in.mp4"
    make_clip(source, 32, 24, frames=2)
    load = vsr.runner._network_for

    def load_after_the_removal(*args, **kwargs):
        source.unlink()
        return load(*args, **kwargs)

    monkeypatch.setattr(vsr.runner, "_network_for", load_after_the_removal)
    out = tmp_path / "out" / "x.mp4"
    out.parent.mkdir()
    flags = ["--resume"] if resume else []
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet", *flags]) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: {source} was removed while it was being upscaled (deleted or moved away)\n"
    )
    assert list(out.parent.iterdir()) == []


def test_a_watch_keeps_the_output_of_a_clip_moved_away_while_it_ran(tmp_path, weights, monkeypatch):
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    make_clip(clips / "a.mp4", 32, 24, frames=2)
    _after_the_frames_are_encoded(monkeypatch, lambda path: path.rename(tmp_path / "a.mp4"))
    watch = ["--watch", "--watch-interval", "0.05", "--idle-exit", "0.2"]
    assert main(["run", str(clips), str(out), "--weights", str(weights), "--quiet", *watch]) == 0
    assert (out / "a.mp4").exists()
