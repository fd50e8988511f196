"""The statistics tags mkvmerge writes on each Matroska track, and when they still hold.

BPS, NUMBER_OF_FRAMES, NUMBER_OF_BYTES and DURATION count a track's own bytes, frames and
time; _STATISTICS_TAGS, _STATISTICS_WRITING_APP and _STATISTICS_WRITING_DATE_UTC say which
those are and who counted them. libav reads a tag of a language other than "und" with the
language after a dash ("BPS-eng"), as ffmpeg writes them back.

They describe the source's packets. A track copied whole has those very packets, so its
counts still hold (as ffmpeg's stream copy keeps them). A track re-encoded, converted or
cut has others: its counts are false, so they are dropped, and no new ones are written
(the Matroska muxer writes its own DURATION, which is all that players read).
"""

from __future__ import annotations

STATISTICS_TAGS = frozenset(
    {
        "bps",
        "duration",
        "number_of_frames",
        "number_of_bytes",
        "_statistics_tags",
        "_statistics_writing_app",
        "_statistics_writing_date_utc",
    }
)


def is_statistics_tag(key: str) -> bool:
    """Whether `key` is one of mkvmerge's statistics tags, under any language ("BPS-eng")."""
    name = key.lower()
    return name in STATISTICS_TAGS or name.split("-", 1)[0] in STATISTICS_TAGS


def without_statistics(tags: dict[str, str]) -> dict[str, str]:
    """`tags` less the statistics tags: for a track whose packets are not the source's."""
    return {key: value for key, value in tags.items() if not is_statistics_tag(key)}
