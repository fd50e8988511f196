"""mkvmerge's statistics tags (BPS, NUMBER_OF_FRAMES, NUMBER_OF_BYTES ...) stay only on a
track copied whole, whose packets they still count; re-encoded, converted or cut tracks
lose them."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from media import make_clip

from vsr.cli import main
from vsr.video.lost_track_tags import tags_not_kept_on_track
from vsr.video.statistics_tags import is_statistics_tag


def vsr(*args: object) -> int:
    return main(["run", *map(str, args), "--quiet"])


def _counts(path: Path, index: int) -> tuple[int, int]:
    """The packets of stream `index` and their bytes, as mkvmerge counts them."""
    with av.open(str(path)) as container:
        sizes = [p.size for p in container.demux(container.streams[index]) if p.size]
    return len(sizes), sum(sizes)


def _statistics(frames: int, size: int, language: str = "") -> dict[str, str]:
    """A track's statistics tags as mkvmerge writes them; with ffmpeg's "-eng" suffix
    when `language` is given, as libav reads them from a track of that language."""
    tags = {
        "BPS": str(round(size * 8 / 0.4)),
        "NUMBER_OF_FRAMES": str(frames),
        "NUMBER_OF_BYTES": str(size),
        "_STATISTICS_TAGS": "BPS DURATION NUMBER_OF_FRAMES NUMBER_OF_BYTES",
        "_STATISTICS_WRITING_APP": "mkvmerge v80.0 ('Roundabout') 64-bit",
        "_STATISTICS_WRITING_DATE_UTC": "2024-05-01 12:00:00",
        "DURATION": "00:00:00.400000000",
    }
    return {f"{key}-{language}" if language else key: value for key, value in tags.items()}


def _tagged_source(tmp_path: Path) -> Path:
    """0.4 s of H.264 with PCM sound and SubRip subtitles in .mkv, each track carrying true
    statistics tags and a title; the video's with ffmpeg's "-eng" names."""
    plain = tmp_path / "plain.mkv"
    make_clip(plain, frames=10, audio_codec="pcm_s16le", subtitles=True)
    source = tmp_path / "stats.mkv"
    with av.open(str(plain)) as reader, av.open(str(source), "w") as writer:
        outputs = {}
        for stream in reader.streams:
            output = writer.add_stream_from_template(stream)
            language = "eng" if stream.type == "video" else ""
            output.metadata.update(
                {
                    "title": f"{stream.type} title",
                    **_statistics(*_counts(plain, stream.index), language),
                }
            )
            if language:
                output.metadata["language"] = language
            outputs[stream.index] = output
        for packet in reader.demux():
            if packet.size:
                packet.stream = outputs[packet.stream.index]
                writer.mux(packet)
    return source


@pytest.mark.parametrize(
    ("suffix", "cut", "whole"),
    [
        (".mkv", [], True),  # the video re-encoded, the sound and subtitles copied whole
        (".webm", [], False),  # the sound re-encoded to Opus, the subtitles converted
        (".mkv", ["--duration", 0.2], False),  # every track cut
    ],
)
def test_statistics_tags_stay_only_on_tracks_copied_whole(tmp_path, weights, suffix, cut, whole):
    # They were kept on every track: the upscaled video kept the old frames' byte count and
    # bit rate, Opus the PCM's 1536000 b/s, and a 0.2 s cut the whole 0.4 s's 19 frames.
    source, out = _tagged_source(tmp_path), tmp_path / f"out{suffix}"
    assert vsr(source, out, "--weights", weights, *cut) == 0
    with av.open(str(out)) as container:
        tracks = {s.type: (s.index, dict(s.metadata)) for s in container.streams}
    assert set(tracks) == {"video", "audio", "subtitle"}
    for kind, (index, tags) in tracks.items():
        assert tags.get("title", tags.get("TITLE")) == f"{kind} title"  # other tags stay
        kept = {key for key in tags if is_statistics_tag(key) and key != "DURATION"}
        if kind == "video" or not whole:
            assert not kept, (kind, tags)
            continue
        assert len(kept) == 6, (kind, tags)
        # Kept, they still count the output's own packets.
        frames, size = _counts(out, index)
        assert (int(tags["NUMBER_OF_FRAMES"]), int(tags["NUMBER_OF_BYTES"])) == (frames, size)


@pytest.mark.parametrize(
    ("key", "statistics"),
    [
        ("BPS", True),
        ("bps", True),
        ("BPS-eng", True),
        ("NUMBER_OF_BYTES-fre", True),
        ("_STATISTICS_WRITING_DATE_UTC-eng", True),
        ("DURATION-eng", True),
        ("title", False),
        ("BPSX", False),
        ("language", False),
    ],
)
def test_statistics_tags_are_told_under_any_language(key, statistics):
    assert is_statistics_tag(key) is statistics


def test_statistics_tags_a_muxer_drops_are_not_named_as_lost():
    # An MP4 or MOV keeps a copied track's title (as "name") and drops the rest: the
    # statistics only counted the packets, and are no tag the user would miss.
    given = {"title": "T", "BPS-eng": "1", "NUMBER_OF_FRAMES": "3", "comment": "c"}
    assert tags_not_kept_on_track(given, {"name"}) == ["comment"]
