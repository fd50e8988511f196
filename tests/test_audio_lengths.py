"""Copied audio packets that come without a duration (ALAC from Matroska) keep all their
sound in MP4 and MOV, whose last sample lasts as long as its packet says."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from media import make_clip

from vsr.cli import main
from vsr.video.audio_lengths import AudioLengths


def vsr(*args: object) -> int:
    return main(["run", *map(str, args), "--quiet"])


def _audio(path: Path) -> tuple[int, int]:
    """The audio track's packet count and the samples they decode to."""
    with av.open(str(path)) as container:
        packets = sum(1 for p in container.demux(audio=0) if p.size)
    with av.open(str(path)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    return packets, samples


def _alac_in_matroska(path: Path) -> Path:
    """0.4 s of ALAC (4096 samples a packet, the last 2816) at 48 kHz, in .mkv, whose
    demuxer gives ALAC packets no duration."""
    make_clip(path, frames=10, audio_codec="alac")
    with av.open(str(path)) as container:
        assert not any(p.duration for p in container.demux(audio=0) if p.size)
    assert _audio(path) == (5, 19200)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_alac_from_matroska_keeps_its_last_packet_in_mp4_and_mov(tmp_path, weights, suffix):
    # The last packet lasted 0 in the output and fell outside the edit list: 4 packets and
    # 16384 samples of the source's 5 and 19200, without a word.
    source, out = _alac_in_matroska(tmp_path / "alac.mkv"), tmp_path / f"out{suffix}"
    assert vsr(source, out, "--weights", weights) == 0
    assert _audio(out) == (5, 19200)


def test_a_cut_keeps_the_last_alac_packet_it_reaches(tmp_path, weights):
    # 0.2 s keeps the packets at 0, 85 and 171 ms; the last, no longer followed by one,
    # lasted 0 and was lost (2 packets, 8192 samples).
    source, out = _alac_in_matroska(tmp_path / "alac.mkv"), tmp_path / "cut.mp4"
    assert vsr(source, out, "--weights", weights, "--duration", 0.2) == 0
    assert _audio(out) == (3, 3 * 4096)


def test_packets_with_a_duration_pass_unchanged_and_at_once(tmp_path):
    # Only the packets without one are held back and given one.
    source = tmp_path / "aac.mkv"
    make_clip(source, frames=10)
    lengths = AudioLengths()
    with av.open(str(source)) as container:
        packets = [p for p in container.demux(audio=0) if p.size]
        stated = [(p.pts, p.duration) for p in packets]
        assert all(duration for _, duration in stated)
        passed = [ready for p in packets for ready in lengths.take(p)]
        assert passed == packets
        assert lengths.rest() == []
        assert [(p.pts, p.duration) for p in passed] == stated


def test_packets_of_other_tracks_pass_at_once_without_a_duration(tmp_path):
    # Only a sound's last sample needs a length in MP4 and MOV: a picture or a cue without
    # one is not held back to be timed (nor decoded) as sound is.
    source = tmp_path / "clip.mkv"
    make_clip(source, frames=4, subtitles=True)
    lengths = AudioLengths()
    with av.open(str(source)) as container:
        tracks = (container.streams.video[0], container.streams.subtitles[0])
        packets = [p for p in container.demux(*tracks) if p.size]
        for packet in packets:
            packet.duration = 0
        passed = [lengths.take(p) for p in packets]
    assert passed == [[p] for p in packets]
    assert lengths.rest() == []
    assert not any(p.duration for p in packets)


def test_a_packet_without_a_duration_is_ended_by_the_next_and_the_last_by_its_samples(
    tmp_path,
):
    source = _alac_in_matroska(tmp_path / "alac.mkv")
    lengths = AudioLengths()
    with av.open(str(source)) as container:
        stream = container.streams.audio[0]
        assert stream.time_base == Fraction(1, 1000)
        packets = [p for p in container.demux(stream) if p.size]
        starts = [p.pts for p in packets]
        passed = [ready for p in packets for ready in lengths.take(p)]
        assert len(passed) == 4  # the last waits for one that never comes
        passed += lengths.rest()
    assert [p.pts for p in passed] == starts
    steps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # 2816 samples at 48 kHz are 58.7 ms: rounded up, so that every sample is inside.
    assert [p.duration for p in passed] == [*steps, 59]


def test_a_packet_followed_by_one_at_the_same_time_keeps_its_own_length(tmp_path):
    # A glitch repeating a time: the step to the next packet is 0, which is no length; it
    # was taken as one, and the packet's 4096 samples fell outside an MP4's edit list.
    source = _alac_in_matroska(tmp_path / "alac.mkv")
    lengths = AudioLengths()
    with av.open(str(source)) as container:
        packets = [p for p in container.demux(audio=0) if p.size]
        packets[1].pts = packets[1].dts = packets[0].pts
        passed = [ready for p in packets for ready in lengths.take(p)] + lengths.rest()
    assert passed[0].duration == 86  # 4096 samples at 48 kHz: 85.3 ms, rounded up


def test_a_last_packet_that_does_not_decode_is_as_long_as_the_step_before_it(tmp_path):
    # Neither its samples nor a frame size (Matroska's ALAC states none) tell its length:
    # the step before it does, where no length at all left it outside an MP4's edit list.
    source = _alac_in_matroska(tmp_path / "alac.mkv")
    lengths = AudioLengths()
    with av.open(str(source)) as container:
        stream = container.streams.audio[0]
        assert not stream.codec_context.frame_size
        packets = [p for p in container.demux(stream) if p.size]
        damaged = av.Packet(b"\xff" * packets[-1].size)
        damaged.stream, damaged.time_base = stream, packets[-1].time_base
        damaged.pts = damaged.dts = packets[-1].pts
        packets[-1] = damaged
        passed = [ready for p in packets for ready in lengths.take(p)] + lengths.rest()
    assert passed[-1] is damaged
    assert damaged.duration == passed[-2].duration == 85  # 256 ms to 341 ms, the step before
