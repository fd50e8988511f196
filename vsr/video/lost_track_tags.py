"""The tags of a track that the output's muxer did not store.

MP4 and MOV keep a track's title (as "name"), language and handler, and drop any other tag
without a word (a comment, a tool's own keys); the file's tags are checked apart, in
vsr.video.writer.
"""

from __future__ import annotations

from vsr.video.statistics_tags import is_statistics_tag

# Read back under another name: MP4 and MOV write a track's title as its "name" atom.
_READ_BACK_AS = {"title": "name"}
# Tags with a note of their own where they are lost, or that become something else: the
# language is fitted to the container (vsr.video.track_language), a timecode and its reel
# name become a timecode track (vsr.video.timecode), and a lost stereo 3D layout is said
# by vsr.video.writer.
_SAID_ELSEWHERE = frozenset({"language", "timecode", "reel_name", "stereo_mode"})
# What a muxer or encoder wrote of itself, no user's data: a MOV's vendor code ("FFMP"),
# which MP4 has no place for and a MOV output writes its own of; the encoder that made a
# copied track ("Lavc aac"), kept where the container stores it (Matroska) and not worth a
# note on every ffmpeg-made MKV put in an MP4.
_MUXERS_OWN = frozenset({"vendor_id", "encoder"})


def tags_not_kept_on_track(given: dict[str, str], read_back: set[str]) -> list[str]:
    """The keys of `given` (a track's tags as they were handed to the muxer) that are not
    among `read_back` (the keys, lower-cased, of that track in the finished file). A
    statistics tag (BPS, NUMBER_OF_FRAMES) is not named: it only counted the packets."""
    lost = []
    for key in given:
        low = key.lower()
        if low in _SAID_ELSEWHERE or low in _MUXERS_OWN or is_statistics_tag(key):
            continue
        if low not in read_back and _READ_BACK_AS.get(low) not in read_back:
            lost.append(key)
    return sorted(lost)
