"""A Matroska track's language (BCP 47, two letters, ISO 639-2 bibliographic) goes into an
MP4 or MOV in a form those store, and what they cannot store is named."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from media import make_clip

from vsr.cli import main
from vsr.video.track_language import fit_language


def _mkv_with_languages(path: Path, languages: dict[str, str]) -> None:
    """A Matroska clip (video, audio, SubRip) whose tracks carry `languages` by type."""
    plain = path.with_name("plain.mkv")
    make_clip(plain, frames=3, subtitles=True)
    with av.open(str(plain)) as source, av.open(str(path), "w") as out:
        copies = {}
        for stream in source.streams:
            copies[stream.index] = out.add_stream_from_template(stream)
            copies[stream.index].metadata["language"] = languages[stream.type]
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = copies[packet.stream.index]
                out.mux(packet)


def _run(source: Path, out: Path, weights: Path) -> list[str]:
    report = out.with_suffix(".json")
    args = ["run", str(source), str(out), "--weights", str(weights), "--quiet"]
    assert main([*args, "--report", str(report)]) == 0
    return [n for n in json.loads(report.read_text())["notes"] if "language" in n]


def _languages(path: Path) -> dict[str, str | None]:
    with av.open(str(path)) as container:
        return {s.type: s.metadata.get("language") for s in container.streams}


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        (".mp4", {"video": "eng", "audio": "por", "subtitle": "fre"}),
        # QuickTime's own list has "fra", not the bibliographic "fre".
        (".mov", {"video": "eng", "audio": "por", "subtitle": "fra"}),
        (".mkv", {"video": "en", "audio": "pt-BR", "subtitle": "fre"}),
    ],
)
def test_a_language_goes_in_as_the_container_stores_it(tmp_path, weights, suffix, expected):
    # MP4 and MOV muxers wrote "en" and "pt-BR" (and MOV "fre") as undetermined, without
    # a word: players listed the tracks as "Unknown".
    source, out = tmp_path / "tagged.mkv", tmp_path / f"out{suffix}"
    _mkv_with_languages(source, {"video": "en", "audio": "pt-BR", "subtitle": "fre"})
    notes = _run(source, out, weights)
    assert _languages(out) == expected
    if suffix == ".mkv":
        assert notes == []
    else:  # the region is the part that does not fit, and is named
        assert notes == [
            f"audio stream #1 (aac): language pt-BR written as por ({suffix} stores no more)"
        ]


def test_a_language_the_container_cannot_store_is_named(tmp_path, weights):
    # Swiss German has an ISO 639-2 code, but QuickTime's list has no place for it.
    source, out = tmp_path / "tagged.mkv", tmp_path / "out.mov"
    _mkv_with_languages(source, {"video": "und", "audio": "gsw", "subtitle": "eng"})
    notes = _run(source, out, weights)
    assert notes == [
        "audio stream #1 (aac): .mov cannot store the language gsw (it reads undetermined)"
    ]
    assert _languages(out)["subtitle"] == "eng"


@pytest.mark.parametrize("suffix", [".ts", ".avi", ".ivf"])
def test_a_language_that_cannot_be_measured_is_written_without_a_note(tmp_path, suffix):
    # These take no plain text track to write a language on and read it back; MPEG-TS keeps
    # "fre" (a PMT language descriptor), so "cannot store" would be false there.
    notes: list[str] = []
    with av.open(str(tmp_path / f"out{suffix}"), "w") as output:
        tags = fit_language({"language": "fre"}, output, "audio stream #1", notes)
    assert (tags, notes) == ({"language": "fre"}, [])


@pytest.mark.parametrize("suffix", [".mkv", ".mov"])
def test_an_undetermined_language_is_no_language_lost(tmp_path, weights, suffix):
    # An MP4's tracks without a language read back "und", which Matroska and MOV read back
    # as no language at all: that is nothing lost, and no note.
    source = tmp_path / "in.mp4"
    make_clip(source, frames=3)
    assert _languages(source) == {"video": "und", "audio": "und"}
    assert _run(source, tmp_path / f"out{suffix}", weights) == []


def test_a_region_written_with_an_underscore_is_named_as_it_goes(tmp_path):
    # "pt_BR" (a locale's spelling, as some tools write the tag) loses its region in MP4 as
    # "pt-BR" does, and is said to.
    notes: list[str] = []
    with av.open(str(tmp_path / "out.mp4"), "w") as output:
        tags = fit_language({"language": "pt_BR"}, output, "audio stream #1", notes)
    assert tags == {"language": "por"}
    assert notes == ["audio stream #1: language pt_BR written as por (.mp4 stores no more)"]
