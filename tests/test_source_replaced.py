"""A source replaced under its name while a run reads it stops the run: a file made of two
versions (one's picture, the other's sound) is never left (vsr.video.file_version)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from media import make_clip, make_raw_stream

import vsr.runner
from vsr.cli import main
from vsr.video.file_version import SourceChanged
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
