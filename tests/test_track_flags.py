"""Track flags (forced, commentary, hearing impaired) an output container cannot keep are
named in the notes, and those it keeps come through."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from media import make_clip

from vsr.cli import main
from vsr.video.track_flags import dropped_flags

Disposition = av.stream.Disposition


def _flagged_mkv(path: Path) -> None:
    """A Matroska clip whose audio is a commentary and whose subtitles are forced."""
    plain = path.with_name("plain.mkv")
    make_clip(plain, frames=3, subtitles=True)
    flags = {"audio": Disposition.default | Disposition.comment, "subtitle": Disposition.forced}
    with av.open(str(plain)) as source, av.open(str(path), "w") as out:
        copies = {}
        for stream in source.streams:
            copies[stream.index] = out.add_stream_from_template(stream)
            copies[stream.index].disposition = flags.get(stream.type, Disposition.default)
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = copies[packet.stream.index]
                out.mux(packet)


def _flags_read_back(path: Path) -> dict[str, int]:
    with av.open(str(path)) as container:
        return {s.type: int(s.disposition) for s in container.streams if s.type != "video"}


@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
def test_track_flags_the_container_cannot_keep_are_named(tmp_path, weights, suffix):
    # MOV's muxer writes no track flags: an MKV's forced subtitles and its commentary came
    # out of a .mov output as ordinary tracks, with no note.
    source, out, report = tmp_path / "flagged.mkv", tmp_path / f"out{suffix}", tmp_path / "r.json"
    _flagged_mkv(source)
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet",
                 "--codec", "ffv1" if suffix == ".mkv" else "libx264",
                 "--report", str(report)]) == 0  # fmt: skip
    notes = [n for n in json.loads(report.read_text())["notes"] if "flag" in n]
    read_back = _flags_read_back(out)
    if suffix == ".mov":
        assert notes == [
            "audio stream #1 (aac): .mov cannot keep its commentary flag",
            "subtitle stream #2 (srt): .mov cannot keep its forced flag",
        ]
        # What the notes say is what the file holds.
        assert not read_back["audio"] & Disposition.comment
        assert not read_back["subtitle"] & Disposition.forced
    else:
        assert notes == []
        assert read_back["audio"] & Disposition.comment
        assert read_back["subtitle"] & Disposition.forced


def test_a_flag_kept_under_its_other_name_is_not_named():
    # MP4 reads a hearing-impaired track back as captions too; Matroska has no captions
    # flag, but keeps the hearing-impaired one, which says the same.
    both = int(Disposition.hearing_impaired | Disposition.captions)
    assert dropped_flags(both, "matroska", "subtitle") == []
    assert dropped_flags(both, "mov", "subtitle") == ["hearing impaired", "captions"]
    assert dropped_flags(int(Disposition.forced), "webm", "audio") == []
    assert dropped_flags(int(Disposition.comment), "webm", "audio") == ["commentary"]
    assert dropped_flags(int(Disposition.attached_pic), "mov", "video") == []


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_subtitle_track_the_muxer_marks_shown_is_said(tmp_path, weights, suffix):
    # MP4 and MOV enable the first subtitle track where the source marks none default:
    # English subtitles left off in the source came out marked to be shown, unsaid.
    plain = tmp_path / "plain.mkv"
    make_clip(plain, frames=3, subtitles=True, audio=False)
    source = tmp_path / "off.mkv"
    with av.open(str(plain)) as clip, av.open(str(source), "w") as out:
        copies = {s.index: out.add_stream_from_template(s) for s in clip.streams}
        for stream in clip.streams:
            copies[stream.index].disposition = (
                Disposition.default if stream.type == "video" else Disposition(0)
            )
            if stream.type == "subtitle":
                copies[stream.index].metadata["language"] = "eng"
        for packet in clip.demux():
            if packet.dts is not None:
                packet.stream = copies[packet.stream.index]
                out.mux(packet)
    assert _flags_read_back(source)["subtitle"] == 0
    out, report = tmp_path / f"out{suffix}", tmp_path / "r.json"
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet",
                 "--report", str(report)]) == 0  # fmt: skip
    notes = [n for n in json.loads(report.read_text())["notes"] if "marks" in n]
    shown = _flags_read_back(out)["subtitle"] & Disposition.default
    if suffix == ".mp4":
        assert shown  # what the note says
        assert notes == [
            "the source marks no subtitle track to be shown, and .mp4 marks its first (eng) "
            "so (the muxer always does): players may show it unasked; .mkv keeps none marked"
        ]
    else:
        assert not shown and notes == []
