"""23.976 fps from Matroska into MP4/MOV stays 24000/1001 (vsr.video.rate_snap): the
source's millisecond roundings came out as a variable frame rate."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import make_interlaced_clip, make_telecined_clip

from vsr.cli import main
from vsr.video.rate_snap import RateSnap

NTSC_FILM = Fraction(24000, 1001)


def _matroska_at(
    path: Path,
    rate: Fraction,
    frames: int,
    jitter_ms: dict[int, int],
    start_ms: Fraction | int = 0,
    sound: bool = False,
    last_shown_ms: int | None = None,
) -> None:
    """A clip at `rate` in Matroska's milliseconds, as ffmpeg and mkvmerge store it (each
    time rounded to the millisecond), frame i moved by jitter_ms[i] besides; its picture
    starts at `start_ms` (a recording's late start), its `sound` (silence) at zero; its
    last frame shown for `last_shown_ms` (a slide show's), if given."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        audio = container.add_stream("aac", rate=48000) if sound else None
        if audio is not None:
            audio.layout = "mono"
        packets = []
        for i in range(frames):
            picture = ((np.indices((36, 64)).sum(0) * 3 + i * 9) % 256).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.repeat(picture[..., None], 3, 2), "rgb24")
            frame.pts = round(start_ms + i / rate * 1000) + jitter_ms.get(i, 0)
            frame.time_base = Fraction(1, 1000)
            packets += stream.encode(frame)
        packets += stream.encode(None)
        last = max(packet.pts for packet in packets)
        for packet in packets:
            if last_shown_ms is not None and packet.pts == last:
                packet.duration = last_shown_ms
            container.mux(packet)
        if audio is not None:
            for first in range(0, round((start_ms / 1000 + frames / rate) * 48000), 1024):
                silence = np.zeros((1, 1024), np.float32)
                samples = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
                samples.sample_rate, samples.pts = 48000, first
                samples.time_base = Fraction(1, 48000)
                container.mux(audio.encode(samples))
            container.mux(audio.encode(None))


def _in_milliseconds(ts: Path, mkv: Path) -> None:
    """`ts`'s video in Matroska, from zero: its times rounded to milliseconds, as
    `ffmpeg -c copy` stores them."""
    with av.open(str(ts)) as source, av.open(str(mkv), "w") as out:
        given = source.streams.video[0]
        stream = out.add_stream_from_template(given)
        first = None
        for packet in source.demux(given):
            if packet.dts is None:
                continue
            first = packet.dts if first is None else first
            packet.pts, packet.dts = packet.pts - first, packet.dts - first
            packet.stream = stream
            out.mux(packet)


def _steps(path: Path) -> tuple[Fraction, Counter, Fraction, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
        return (
            stream.time_base,
            Counter(b - a for a, b in zip(times, times[1:], strict=False)),
            stream.average_rate,
            len(times),
        )


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_a_matroska_ntsc_film_keeps_its_steady_rate_in_mp4_and_mov(tmp_path, weights, suffix):
    # Steps of 672 and 656 ticks of 1/16000 (33 and 14 of them), 23.9798 fps on average.
    source = tmp_path / "film.mkv"
    _matroska_at(source, NTSC_FILM, 48, {})
    assert _steps(source)[1] == Counter({42: 33, 41: 14})
    out = tmp_path / f"film{suffix}"
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet"]) == 0
    time_base, steps, rate, frames = _steps(out)
    assert (time_base, steps, rate, frames) == (
        Fraction(1, 24000),
        Counter({1001: 47}),
        NTSC_FILM,
        48,
    )
    with av.open(str(out)) as container:
        assert container.duration == 2_002_000  # 48 frames of 1001/24000 s


def test_a_long_last_frame_keeps_its_length_on_the_mp4s_finer_clock(tmp_path, weights):
    # 8 frames, the last shown 2 s: the track ends at 0.292 + 2 s. The end, in the source's
    # milliseconds, was not moved onto the snap's 1/24000 clock: 2292 ticks of it, before
    # the last frame began, and the track lasted 0.334 s (that frame one frame long).
    source, out = tmp_path / "slides.mkv", tmp_path / "slides.mp4"
    _matroska_at(source, NTSC_FILM, 8, {}, last_shown_ms=2000)
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet"]) == 0
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.time_base == Fraction(1, 24000) and stream.frames == 8
        assert abs(stream.duration * stream.time_base - Fraction(2292, 1000)) <= Fraction(1, 1000)


@pytest.mark.parametrize(
    ("suffix", "start", "late_ms"), [(".mp4", "0.2", 0), (".mov", "0.3", 0), (".mp4", "0.2", 10000)]
)
def test_a_cut_of_a_matroska_ntsc_film_keeps_its_steady_rate(
    tmp_path, weights, suffix, start, late_ms
):
    # The cut moved every time back by its first frame's rounded time (209 ms for 0.2 s)
    # before the snap: what was left lay up to 1 ms off the grid, and the steps ran 984,
    # 1018, 1001, 981, 1008 ... The grid is the whole clip's, from its clock's (late) start.
    source = tmp_path / "film.mkv"
    _matroska_at(source, NTSC_FILM, 24, {}, start_ms=late_ms)
    out = tmp_path / f"cut{suffix}"
    cut = ["--start", start, "--duration", "0.4"]
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet", *cut]) == 0
    time_base, steps, rate, frames = _steps(out)
    assert (time_base, steps, rate) == (Fraction(1, 24000), Counter({1001: frames - 1}), NTSC_FILM)
    assert frames in (9, 10)
    with av.open(str(out)) as container:
        first = next(p.pts for p in container.demux(video=0) if p.pts is not None)
    assert first == 0


@pytest.mark.parametrize(
    ("start_ms", "sound"),
    [
        (Fraction(1234567, 10000), True),  # a TS recording remuxed: sound from zero
        (Fraction(1001, 30), False),  # a clock that starts late, moved back by 33 ms
    ],
)
def test_a_video_that_starts_off_the_zeros_grid_keeps_its_steady_rate(
    tmp_path, weights, start_ms, sound
):
    # The grid lay from zero, so no frame of a picture that starts 123.46 ms in (or at
    # 33.37 ms, moved back by its rounded 33) was within half a millisecond of it: the
    # steps ran 1020 and 990 (1020, 982, 1017 ...), 29.959 fps on average.
    rate = Fraction(30000, 1001)
    source = tmp_path / "rec.mkv"
    _matroska_at(source, rate, 30, {}, start_ms=start_ms, sound=sound)
    out = tmp_path / "rec.mp4"
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet"]) == 0
    assert _steps(out) == (Fraction(1, 30000), Counter({1001: 29}), rate, 30)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        first = next(p.pts for p in container.demux(stream) if p.pts is not None)
        start = float(first * stream.time_base)
    # Where the picture starts, after the sound, to the millisecond of the MP4's edit list.
    assert abs(start - (float(start_ms) / 1000 if sound else 0)) < 0.001


@pytest.mark.parametrize(
    ("made", "options", "suffix", "rate"),
    [
        ("interlaced", ["--field-rate"], ".mp4", Fraction(60000, 1001)),
        ("telecined", ["--deinterlace", "film"], ".mov", NTSC_FILM),
    ],
)
def test_fields_and_film_from_milliseconds_keep_their_steady_rate(
    tmp_path, weights, made, options, suffix, rate
):
    # Delivered in a time base 2 or 4 times as fine as the file's, the snap took half of
    # that finer tick (0.25, 0.125 ms) for the rounding, where the file's is 0.5 ms: the
    # steps ran 975 to 1029 of 1/60000, 993 to 1005 of 1/24000.
    ts, source = tmp_path / f"{made}.ts", tmp_path / f"{made}.mkv"
    if made == "interlaced":
        make_interlaced_clip(ts, frames=12, rate=Fraction(30000, 1001))
    else:
        make_telecined_clip(ts, film_frames=24)
    _in_milliseconds(ts, source)
    out = tmp_path / f"out{suffix}"
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet", *options]) == 0
    time_base, steps, stated, frames = _steps(out)
    assert (time_base, steps, stated) == (1 / (rate * 1001), Counter({1001: frames - 1}), rate)
    assert frames == 24


def test_a_frame_off_the_grid_by_more_than_the_rounding_keeps_its_time(tmp_path, weights):
    source = tmp_path / "vfr.mkv"
    _matroska_at(source, NTSC_FILM, 12, {6: 9})  # frame 6 is 9 ms late: a real irregularity
    out = tmp_path / "vfr.mp4"
    assert main(["run", str(source), str(out), "--weights", str(weights), "--quiet"]) == 0
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        times = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
    assert times == [i * 1001 for i in range(6)] + [(250 + 9) * 24] + [
        i * 1001 for i in range(7, 12)
    ]


def test_the_snap_only_where_times_are_rounded():
    assert RateSnap.for_source(Fraction(1, 1000), Fraction(25)) is None  # 40 ms: exact
    assert RateSnap.for_source(Fraction(1, 90000), Fraction(30000, 1001)) is None  # 3003 ticks
    # MPEG-TS's 90 kHz rounds a 23.976 fps frame (3753.75 ticks) too.
    assert RateSnap.for_source(Fraction(1, 90000), NTSC_FILM).time_base == Fraction(1, 360000)
    snap = RateSnap.for_source(Fraction(1, 1000), Fraction(30000, 1001))
    assert (snap.time_base, snap.per_tick, snap.step) == (Fraction(1, 30000), 30, 1001)
    assert _snapped(snap, [0, 33, 67, 100, 105]) == [0, 1001, 2002, 3003, 3150]
    assert RateSnap.for_source(Fraction(1, 1000), Fraction(2997, 100)) is None  # no 1001 rate
    # Fields of milliseconds, delivered in 1/2000: rounded by half the file's millisecond.
    snap = RateSnap.for_source(Fraction(1, 2000), Fraction(60000, 1001), Fraction(1, 1000))
    assert (snap.time_base, snap.per_tick, snap.step, snap.reach) == (
        Fraction(1, 60000),
        30,
        1001,
        30,
    )


def test_the_grid_is_the_one_the_first_frames_agree_with():
    # A cut whose first frame is the clip's 209 ms (208.54 on the grid), moved to zero: the
    # grid lies 0.46 ms before it. One frame off it keeps its time (to within the half
    # millisecond that the snapped zero moved).
    snap = RateSnap.for_source(Fraction(1, 1000), NTSC_FILM)
    cut = [ms - 209 for ms in (209, 250, 292, 300, 334, 375)]
    times = _snapped(snap, cut)
    assert times[:3] + times[4:] == [0, 1001, 2002, 3003, 4004]
    assert abs(times[3] - (300 - 209) * 24) <= 12
    # The packets wait for a cycle of the roundings: 24 frames at 23.976 in milliseconds.
    snap = RateSnap.for_source(Fraction(1, 1000), NTSC_FILM)
    film = [_packet(round(i * 1001 / 24)) for i in range(30)]
    assert snap.packets(film[:23]) == []
    assert [p.pts for p in snap.packets(film[23:24])] == [i * 1001 for i in range(24)]
    assert [p.pts for p in snap.packets(film[24:])] == [i * 1001 for i in range(24, 30)]


def test_a_last_fields_guessed_time_does_not_choose_the_grid():
    # 29.97i from 33.37 ms, moved back by its rounded 33, one frame per field (in 1/2000).
    # The last field's time is its frame's plus half a guessed 33 ms, 0.58 ms early: the
    # phase that it agrees with, as many times did as with the true one, put the 7th
    # frame's first field 0.6 ms off, and the steps ran 1037 and 965 there.
    frames = [0, 34, 67, 100, 134, 167, 201, 234, 267, 301, 334, 367]
    fields = [f for a, b in zip(frames, frames[1:], strict=False) for f in (2 * a, a + b)]
    fields += [2 * frames[-1], 2 * frames[-1] + 33]
    snap = RateSnap.for_source(Fraction(1, 2000), Fraction(60000, 1001), Fraction(1, 1000))
    times = _snapped(snap, fields)
    assert times[:-1] == [i * 1001 for i in range(23)]


def test_a_59_94_fps_cut_is_snapped_once_a_whole_cycle_is_heard():
    # At 59.94 fps in milliseconds the roundings repeat every 60 frames (1001 ms). A cut
    # from the second frame, given a packet at a time as a stream gives them: the phase the
    # first 24 agree with put later frames half a millisecond off the grid.
    snap = RateSnap.for_source(Fraction(1, 1000), Fraction(60000, 1001))
    ms = [round(i * Fraction(1001, 60)) for i in range(1, 71)]
    times = []
    for t in ms:
        times += [packet.pts for packet in snap.packets([_packet(t - ms[0])])]
    times += [packet.pts for packet in snap.packets([], last=True)]
    assert times == [i * 1001 for i in range(70)]


def test_times_that_snap_onto_one_point_keep_their_own():
    # Fields delivered in half milliseconds and rounded to whole ones: two of them half a
    # millisecond apart (16.5 and 17 ms) both lie within the rounding of the grid's 16.68 ms.
    # The second keeps its time, where the same time twice is one a muxer refuses; and a
    # packet whose end snaps onto its start still lasts a tick, not none.
    snap = RateSnap.for_source(Fraction(1, 2000), Fraction(60000, 1001), Fraction(1, 1000))
    packets = [_packet(pts) for pts in (0, 33, 34, 67)]
    for packet, duration in zip(packets, (33, 1, 33, 33), strict=True):
        packet.duration = duration
    snapped = snap.packets(packets, last=True)
    assert [(p.pts, p.dts, p.duration) for p in snapped] == [
        (0, 0, 1001),
        (1001, 1001, 1),
        (1020, 1020, 982),
        (2002, 2002, 1001),
    ]


def _packet(pts: int) -> av.Packet:
    packet = av.Packet(b"")
    packet.pts = packet.dts = pts
    return packet


def _snapped(snap: RateSnap, times: list[int]) -> list[int]:
    """`times` as `snap` puts them, given as a stream's only packets."""
    return [packet.pts for packet in snap.packets([_packet(t) for t in times], last=True)]
