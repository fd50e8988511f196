"""The watch's record of clips done or failed (vsr.watch_state): appended, compacted, read
back after a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vsr.errors import VsrError
from vsr.watch_state import OLD_STATE_FILE, STATE_FILE, WatchState


def _clips(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_bytes(name.encode())
    return [folder / name for name in names]


def test_each_record_appends_a_line_and_a_new_watch_starts_from_one_line_per_clip(tmp_path):
    out = tmp_path / "out"
    a, b = _clips(tmp_path / "in", "a.mp4", "b.mp4")
    state = WatchState(out, tmp_path / "in")
    state.record(a, "failed", "broken clip")
    state.record(b, "done")
    state.record(a, "done")  # retried after it changed
    lines = (out / STATE_FILE).read_text().splitlines()
    assert [json.loads(line)["clip"] for line in lines] == ["a.mp4", "b.mp4", "a.mp4"]

    again = WatchState(out, tmp_path / "in")  # a restart reads the latest record of each clip
    folder = str(tmp_path / "in")
    assert again.clips == {
        "a.mp4": {"status": "done", "signature": WatchState.signature(a), "folder": folder},
        "b.mp4": {"status": "done", "signature": WatchState.signature(b), "folder": folder},
    }
    assert again.settled(a) and again.done_before(a)
    (c,) = _clips(tmp_path / "in", "c.mp4")
    again.record(c, "done")  # its first record rewrites the file: one line per clip
    lines = (out / STATE_FILE).read_text().splitlines()
    assert sorted(json.loads(line)["clip"] for line in lines) == ["a.mp4", "b.mp4", "c.mp4"]
    assert WatchState(out, tmp_path / "in").clips == again.clips


def test_a_record_cut_short_by_a_crash_is_lost_alone(tmp_path):
    out = tmp_path / "out"
    a, b = _clips(tmp_path / "in", "a.mp4", "b.mp4")
    state = WatchState(out, tmp_path / "in")
    state.record(a, "done")
    state.record(b, "done")
    text = (out / STATE_FILE).read_text()
    (out / STATE_FILE).write_text(text[: len(text) - 9])  # the last line, half written
    assert list(WatchState(out, tmp_path / "in").clips) == ["a.mp4"]


def test_an_unreadable_line_before_the_last_is_refused_not_guessed(tmp_path):
    out = tmp_path / "out"
    a, b = _clips(tmp_path / "in", "a.mp4", "b.mp4")
    state = WatchState(out, tmp_path / "in")
    state.record(a, "done")
    state.record(b, "done")
    lines = (out / STATE_FILE).read_text().splitlines(keepends=True)
    (out / STATE_FILE).write_text("{not json\n" + lines[1])
    with pytest.raises(VsrError, match=r"line 1 is not a watch record; move the file away"):
        WatchState(out, tmp_path / "in")
    (out / STATE_FILE).write_text('{"clip": "a.mp4"}\n' + lines[1])  # JSON, not a record
    with pytest.raises(VsrError, match="line 1 is not a watch record"):
        WatchState(out, tmp_path / "in")
    # Nested deeper than Python parses: a RecursionError traceback, exit 1.
    (out / STATE_FILE).write_text("[" * 100_000 + "\n" + lines[1])
    with pytest.raises(VsrError, match="line 1 is not a watch record"):
        WatchState(out, tmp_path / "in")
    # A folder that is no string (a list would end the watch in a TypeError traceback).
    for folder in (["elsewhere"], 5):
        record = {"clip": "a.mp4", "status": "done", "signature": [1, 2], "folder": folder}
        (out / STATE_FILE).write_text(json.dumps(record) + "\n" + lines[1])
        with pytest.raises(VsrError, match="line 1 is not a watch record"):
            WatchState(out, tmp_path / "in")


def test_the_whole_file_state_of_earlier_versions_is_read_and_then_replaced(tmp_path):
    out = tmp_path / "out"
    a, b = _clips(tmp_path / "in", "a.mp4", "b.mp4")
    out.mkdir()
    old = {"clips": {"a.mp4": {"status": "done", "signature": WatchState.signature(a)}}}
    (out / OLD_STATE_FILE).write_text(json.dumps(old))
    state = WatchState(out, tmp_path / "in")
    assert state.settled(a) and not state.settled(b)
    state.record(b, "failed", "broken clip")
    assert not (out / OLD_STATE_FILE).exists()
    folder = str(tmp_path / "in")
    assert WatchState(out, tmp_path / "in").clips == {
        "a.mp4": {**old["clips"]["a.mp4"], "folder": folder},  # taken as this watch's
        "b.mp4": {
            "status": "failed",
            "signature": WatchState.signature(b),
            "folder": folder,
            "error": "broken clip",
        },
    }
    (out / STATE_FILE).unlink()
    (out / OLD_STATE_FILE).write_text("[1, 2")
    with pytest.raises(VsrError, match="is damaged; move it away"):
        WatchState(out, tmp_path / "in")


def test_the_records_of_another_input_folder_are_kept_apart_and_kept(tmp_path):
    out = tmp_path / "out"
    (first,) = _clips(tmp_path / "cam1", "GOPR0001.mp4")
    (second,) = _clips(tmp_path / "cam2", "GOPR0001.mp4")
    WatchState(out, tmp_path / "cam1").record(first, "done")
    state = WatchState(out, tmp_path / "cam2")
    assert state.clips == {} and not state.done_before(second)
    assert state.done_clips() == [first]  # its output is first's, not second's to replace
    state.record(second, "failed", "a clash")  # its first record rewrites the file
    assert WatchState(out, tmp_path / "cam1").settled(first)


def test_another_input_folder_s_failed_clip_is_not_taken_for_an_output(tmp_path):
    # A clip that failed wrote no output: a clip of this folder of its name would be
    # refused as a clash with nothing.
    out = tmp_path / "out"
    failed, done = _clips(tmp_path / "cam1", "x.mp4", "y.mp4")
    earlier = WatchState(out, tmp_path / "cam1")
    earlier.record(failed, "failed", "broken clip")
    earlier.record(done, "done")
    assert WatchState(out, tmp_path / "cam2").done_clips() == [done]


def test_a_clip_done_and_then_failed_on_a_new_version_still_owns_its_output(tmp_path):
    # The output there is the earlier version's, vsr's own: a later version replaces it,
    # and no other clip may take its name, after a restart too.
    out = tmp_path / "out"
    (a,) = _clips(tmp_path / "in", "a.mp4")
    state = WatchState(out, tmp_path / "in")
    state.record(a, "done")
    a.write_bytes(b"a copy read half-way through")
    state.record(a, "failed", "truncated")
    again = WatchState(out, tmp_path / "in")
    for watch in (state, again):
        assert watch.done_before(a) and watch.done_clips() == [a]
    # Failed in this watch: not tried again until it changes; the next watch tries it once.
    assert state.settled(a) and not again.settled(a)
    assert again.clips["a.mp4"]["error"] == "truncated"
