"""A part of a clip (`vsr run --start/--end/--duration`): which frames, their timestamps,
the audio and subtitles cut alike, and the mistakes a user can make."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import (
    corrupt_middle_packets,
    make_clip,
    make_clip_with_sound,
    make_ts_recording,
    mp4_video_timing,
)

from vsr.cli import main
from vsr.errors import VsrError
from vsr.runner import upscale_video
from vsr.video.reader import VideoReader
from vsr.video.remux import AUDIO_PREROLL_SECONDS
from vsr.video.trim import Cut, TimeRange, format_time, parse_time, time_range
from vsr.video.writer import EncodeSettings

RATE = 25  # make_clip's frame k is shown at k / 25 s


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """60 frames (2.4 s) with a keyframe every 10, so a cut seeks; audio and subtitles."""
    folder = tmp_path_factory.mktemp("trim")
    made = {}
    for suffix in (".mp4", ".mkv"):
        made[suffix] = folder / f"clip{suffix}"
        make_clip(made[suffix], frames=60, keyframe_every=10, subtitles=suffix == ".mkv")
    made["vfr"] = folder / "vfr.mkv"
    make_clip(made["vfr"], frames=30, vfr=True, keyframe_every=5)
    return made


def whole(path: Path) -> tuple[list, list[int], Fraction]:
    """Every frame's planes and pts, decoded from the top without a cut."""
    with VideoReader(path) as reader:
        frames = list(reader.frames())
        return [f.planes for f in frames], [f.pts for f in frames], reader.info.time_base


def packets(path: Path, kind: str) -> list[tuple[Fraction, Fraction]]:
    """(start, duration) in seconds of every packet of the first `kind` stream."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        tb = stream.time_base
        return [
            (p.pts * tb, (p.duration or 0) * tb)
            for p in container.demux(stream)
            if p.size and p.pts is not None
        ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90.5", 90.5), (".5", 0.5), ("1:30", 90.0), ("1:02:03.5", 3723.5), (7, 7.0)],
)
def test_times_read_as_seconds_or_a_clock(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("1:75", "below 60"),
        ("1:60", "below 60"),  # 60 s after a colon is the next minute: 2:00
        ("1:60:00", "minutes after a colon"),
        ("-3", "give seconds"),
        ("\uff11", "give seconds"),  # a full-width 1: digits are ASCII digits
        ("99999999999999999999", "longer than any clip"),
        ("ten", "give seconds"),
        (float("nan"), "at least 0 s"),
        (-1.0, "at least 0 s"),
        (True, "time in seconds"),
    ],
)
def test_a_bad_time_is_one_clear_error(text, complaint):
    with pytest.raises(VsrError, match=complaint):
        parse_time(text, "--start")


def test_a_range_must_run_forwards_and_name_one_end():
    assert time_range() is None
    assert time_range("1:00", duration="30") == TimeRange(60.0, 90.0)
    assert time_range(end="2") == TimeRange(0.0, 2.0)
    with pytest.raises(VsrError, match="must come after the start"):
        time_range("10", end="5")
    with pytest.raises(VsrError, match="must come after the start"):  # an empty range
        time_range("5", end="5")
    with pytest.raises(VsrError, match="not both"):
        time_range(end="5", duration="1")
    with pytest.raises(VsrError, match="longer than 0 s"):
        time_range(duration="0")
    # Exact decimals: 0.04 + 0.2 ends at 0.24, not at the float just above it.
    assert time_range("0.04", duration=0.2).end == Fraction(6, 25)
    assert time_range("1:08.80").start == Fraction(344, 5)
    assert format_time(95) == "1:35.000" and format_time(3723.5) == "1:02:03.500"


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize(
    ("start", "end", "first", "count"),
    [
        (0.5, 1.0, 13, 12),  # 0.52 .. 0.96 s: 0.5 falls between frames 12 and 13
        (0.0, 0.2, 0, 5),  # a frame shown exactly at the end is not in the range
        (1.2, None, 30, 30),  # on a frame, to the end
        (2.3, 9.0, 58, 2),  # the clip ends before the range does
    ],
)
def test_a_cut_delivers_exactly_the_frames_shown_in_it(clips, suffix, start, end, first, count):
    planes, stamps, time_base = whole(clips[suffix])
    with VideoReader(clips[suffix], TimeRange(start, end)) as reader:
        kept = list(reader.frames())
        info = reader.info
    assert len(kept) == count
    # The progress bar's estimate: exact where the file counts its frames (MP4); Matroska
    # gives only a duration, rounded and covering the audio too.
    assert abs(info.frame_count - count) <= (0 if suffix == ".mp4" else 2)
    for frame, index in zip(kept, range(first, first + count), strict=True):
        for got, want in zip(frame.planes, planes[index], strict=True):
            np.testing.assert_array_equal(got, want)
        # Moved back so the first kept frame is at zero, the spacing untouched.
        assert frame.pts == stamps[index] - stamps[first]
    assert [f.index for f in kept] == list(range(count))
    assert info.cut.offset == stamps[first] * time_base == Fraction(first, RATE)
    assert reader.lost_frames == 0
    past_the_end = [w for w in reader.warnings if "before the requested end" in w]
    assert bool(past_the_end) == (end == 9.0)


def test_times_between_ticks_of_the_files_clock_are_not_rounded_onto_a_frame(tmp_path):
    # Matroska counts milliseconds: 0.0401 s is 40.1 ticks, past the frame at 40 ms, which
    # was delivered from a start rounded down; an end of 0.0405 s rounded to 40 dropped it.
    path = tmp_path / "six.mkv"
    make_clip(path, frames=6, audio=False)
    with VideoReader(path, TimeRange(Fraction("0.0401"))) as reader:
        assert len(list(reader.frames())) == 4
        assert reader.info.cut.offset == Fraction(2, RATE)
    with VideoReader(path, TimeRange(0, Fraction("0.0405"))) as reader:
        assert [f.pts for f in reader.frames()] == [0, 40]


def test_a_cut_of_a_variable_rate_clip_keeps_its_own_steps(clips):
    planes, stamps, time_base = whole(clips["vfr"])
    seconds = [s * time_base for s in stamps]
    start, end = Fraction(1, 2), Fraction(6, 5)
    wanted = [i for i, t in enumerate(seconds) if start <= t < end]
    with VideoReader(clips["vfr"], TimeRange(0.5, 1.2)) as reader:
        kept = list(reader.frames())
    assert len(kept) == len(wanted) > 5
    assert [f.pts for f in kept] == [stamps[i] - stamps[wanted[0]] for i in wanted]
    np.testing.assert_array_equal(kept[-1].planes[0], planes[wanted[-1]][0])


def test_damage_is_reported_where_the_range_holds_it_only(tmp_path):
    clip = tmp_path / "damaged.mp4"
    make_clip(clip, frames=60, keyframe_every=10, audio=False)
    assert corrupt_middle_packets(clip, 2) == [29, 30]  # frames 29 and 30: 1.16 s, 1.2 s
    reports = {}
    for start, end in ((0.8, 1.6), (0.0, 0.8), (1.6, None)):
        with VideoReader(clip, TimeRange(start, end)) as reader:
            assert len(list(reader.frames())) == 20
            reports[start] = (reader.lost_frames + reader.damaged_frames, reader.warnings)
    count, warnings = reports[0.8]
    assert count >= 1 and any("damaged" in w or "could not be decoded" in w for w in warnings)
    assert reports[0.0] == (0, []) and reports[1.6] == (0, [])


def test_a_range_without_frames_says_why(clips):
    with pytest.raises(VsrError, match=r"no frame from 5\.000 s to the end \(the clip is 2\.400 s"):
        VideoReader(clips[".mp4"], TimeRange(Fraction(5)))
    with pytest.raises(VsrError, match=r"between frames; the nearest are at 0\.520 s and 0\.560 s"):
        VideoReader(clips[".mp4"], TimeRange(Fraction(53, 100), Fraction(55, 100)))


def test_the_upscaled_part_matches_the_same_frames_of_a_whole_run(clips, weights, tmp_path):
    lossless = EncodeSettings(codec="ffv1")
    full, part = tmp_path / "full.mkv", tmp_path / "part.mkv"
    upscale_video(clips[".mkv"], full, weights=weights, settings=lossless, progress=False)
    report = upscale_video(
        clips[".mkv"],
        part,
        weights=weights,
        settings=lossless,
        progress=False,
        start="0:00.5",
        duration=0.8,
    )
    assert report.frames == 20
    assert report.cut == {
        "start_s": 0.5,
        "end_s": 1.3,
        "first_frame_s": 0.52,
        "ended_before_the_cut_end": False,
    }
    full_planes, full_stamps, _ = whole(full)
    part_planes, part_stamps, time_base = whole(part)
    assert len(part_planes) == 20
    for got, want in zip(part_planes, full_planes[13:33], strict=True):
        np.testing.assert_array_equal(got[0], want[0])
    assert part_stamps[0] == 0
    assert part_stamps == [s - full_stamps[13] for s in full_stamps[13:33]]

    # The audio heard from 0.52 s to 1.3 s, moved back by 0.52 s: every packet that starts
    # in the range, no other (at most one packet's length is lost at the cut).
    # The audio heard from 0.52 s to 1.3 s, moved back by 0.52 s: every packet that ends
    # after the first frame and starts before the end, the one spanning the start included.
    offset = Fraction(13, RATE)
    wanted = [t - offset for t, d in packets(clips[".mkv"], "audio") if t + d > offset and t < 1.3]
    got = [t for t, _ in packets(part, "audio")]
    assert got == wanted
    assert -Fraction(1, 40) < got[0] <= 0 < got[1] and got[-1] < Fraction(4, 5)
    # The subtitle shown at 1.2 s now shows at 0.68 s; the one at 0 s is gone.
    assert packets(part, "subtitles") == [(Fraction(17, 25), Fraction(1, 10))]


def test_a_subtitle_showing_at_the_cut_starts_at_zero_for_what_is_left(clips, weights, tmp_path):
    out = tmp_path / "late.mkv"
    # The subtitle from 1.2 s to 1.3 s; the first frame at or after 1.25 s is at 1.28 s.
    upscale_video(clips[".mkv"], out, weights=weights, progress=False, start=1.25, end=1.5)
    assert packets(out, "subtitles") == [(0, Fraction(1, 50))]


def clip_with_open_ended_subtitles(path: Path, shown: dict[int, bytes]) -> None:
    """50 frames with bitmap (VobSub) subtitle packets of no duration at the frames named:
    each shows until the next, as PGS's do. The payloads are markers, not real pictures
    (the muxer and vsr copy them as they are)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        subtitles = out.add_stream("dvdsub")
        for index in range(50):
            picture = np.full((48, 64, 3), index * 4, np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
            if index in shown:
                packet = av.Packet(shown[index])
                packet.stream, packet.time_base = subtitles, Fraction(1, 1000)
                packet.pts = packet.dts = index * 1000 // RATE
                packet.duration = 0
                out.mux(packet)
        out.mux(video.encode(None))


@pytest.mark.parametrize(
    ("start", "end", "wanted"),
    [
        (0.6, None, [(0, b"first"), (Fraction(6, 10), b"clear")]),  # "first" still showing
        (1.4, None, [(0, b"clear")]),  # the clear is the one showing: harmless at zero
        (0.1, 0.3, []),  # nothing shown yet
        (0.4, 0.5, [(0, b"first")]),  # shown at the cut's first frame exactly
    ],
)
def test_a_bitmap_subtitle_showing_at_the_cut_is_kept_from_zero(
    weights, tmp_path, start, end, wanted
):
    source, out = tmp_path / "pgs.mkv", tmp_path / "cut.mkv"
    clip_with_open_ended_subtitles(source, {10: b"first", 30: b"clear"})
    upscale_video(source, out, weights=weights, progress=False, start=start, end=end)
    with av.open(str(out)) as container:
        stream = container.streams.subtitles[0]
        got = [(p.pts * p.time_base, bytes(p)) for p in container.demux(stream) if p.size]
    assert got == wanted


def test_mp4_audio_is_cut_on_its_own_time_base(clips, weights, tmp_path):
    out = tmp_path / "tail.mp4"
    report = upscale_video(clips[".mp4"], out, weights=weights, progress=False, start=2)
    assert report.frames == 10
    got = packets(out, "audio")
    # From the pre-roll before the cut on: the edit list trims it, decoders need it.
    early = 2 - Fraction(AUDIO_PREROLL_SECONDS)
    wanted = [(t - 2, d) for t, d in packets(clips[".mp4"], "audio") if t + d >= early]
    assert got[0][0] < -Fraction(AUDIO_PREROLL_SECONDS) + Fraction(1, 50)
    assert [d for _, d in got] == [d for _, d in wanted]
    # MP4 states where the audio starts in its movie time scale, milliseconds here.
    assert all(abs(g - w) <= Fraction(1, 1000) for (g, _), (w, _) in zip(got, wanted, strict=True))


def test_another_streams_offset_is_the_nearest_tick_of_its_clock():
    # 2/30 s is 66.67 ms: 67 on a 1 ms clock, not 66 (the sound a tick off the picture).
    cut = Cut(TimeRange(Fraction(1, 20)), offset=Fraction(2, 30), end=None, file_start=0.0)
    assert cut.offset_in(Fraction(1, 1000)) == 67
    assert cut.shift(100, Fraction(1, 1000)) == 33


def test_an_audio_packet_starting_at_the_cut_end_is_left_out(clips, weights, tmp_path):
    # AAC packets of 1024 samples at 48 kHz: the 31st starts exactly at 0.64 s, the end;
    # it was kept, the sound running on past the last picture.
    out = tmp_path / "head.mkv"
    upscale_video(clips[".mkv"], out, weights=weights, progress=False, end=Fraction(16, 25))
    source_starts = [t for t, _ in packets(clips[".mkv"], "audio")]
    assert Fraction(16, 25) in source_starts
    assert [t for t, _ in packets(out, "audio")] == [
        t for t in source_starts if t < Fraction(16, 25)
    ]


def run(*args: object) -> int:
    return main(["run", *map(str, args), "--quiet"])


def test_the_command_line_cuts_and_refuses_mistakes(clips, weights, tmp_path, capsys):
    out = tmp_path / "cut.mp4"
    assert run(clips[".mp4"], out, "--weights", weights, "--start", "1:01", "--end", "1") == 2
    assert "must come after the start" in capsys.readouterr().err
    assert run(clips[".mp4"], out, "--weights", weights, "--start", "1:75") == 2
    assert "seconds after a colon must be below 60" in capsys.readouterr().err
    assert run(clips[".mp4"], out, "--weights", weights, "--start", "30") == 2
    assert "the clip is 2.400 s long" in capsys.readouterr().err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == []
    assert run(clips[".mp4"], out, "--end", "2", "--duration", "1") == 2
    assert capsys.readouterr().err == "vsr: error: give an end or a duration, not both\n"

    assert run(clips[".mp4"], out, "--weights", weights, "--duration", "0.4") == 0
    _, stamps, time_base = whole(out)
    assert len(stamps) == 10 and stamps[0] == 0


def test_an_end_past_the_clip_is_said_as_the_clips_end(clips, weights, tmp_path, capsys):
    # "--end 100" on a 2.4 s clip was summed up as "from 2.000 s to 1:40.000", a time the
    # output never reaches; an end inside the last frame's showing is where it is cut.
    out = tmp_path / "cut.mp4"
    report = tmp_path / "cut.json"
    args = ("--weights", weights, "--report", report, "--start", "2", "--end", "100")
    assert main(["run", *map(str, [clips[".mp4"], out, *args])]) == 0
    assert "(from 2.000 s to the end)" in capsys.readouterr().err
    assert json.loads(report.read_text())["cut"]["ended_before_the_cut_end"] is True
    out.unlink()
    args = ("--weights", weights, "--start", "2", "--end", "2.39")
    assert main(["run", *map(str, [clips[".mp4"], out, *args])]) == 0
    assert "(from 2.000 s to 2.390 s)" in capsys.readouterr().err


def test_a_folder_run_cuts_every_clip(clips, weights, tmp_path):
    folder, done = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (folder / name).write_bytes(clips[".mp4"].read_bytes())
    assert run(folder, done, "--weights", weights, "--start", "2") == 0
    assert [len(whole(done / name)[1]) for name in ("a.mp4", "b.mp4")] == [10, 10]


def decoded_audio(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(time of each sample in seconds from the first video frame, sample) of the first
    audio stream, mono. Times run on from the first audio frame's: Matroska's millisecond
    stamps are too coarse for a tone."""
    samples, start, rate = [], None, None
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        picture = float((video.start_time or 0) * video.time_base)
        for frame in container.decode(audio=0):
            if start is None:
                start, rate = float(frame.pts * frame.time_base), frame.sample_rate
            samples.append(frame.to_ndarray().reshape(-1, frame.samples)[0])
    audio = np.concatenate(samples)
    return start - picture + np.arange(len(audio)) / rate, audio


@pytest.mark.parametrize(("suffix", "codec"), [(".webm", "libopus"), (".mov", "aac")])
def test_reencoded_audio_of_a_cut_is_where_the_source_had_it(
    clips, tmp_path, weights, suffix, codec
):
    """WebM cannot hold AAC, nor MOV Opus: the audio is decoded and encoded again. The
    sound at output time t (from the first frame) must be the source's at 0.52 s + t."""
    source = tmp_path / "in.mkv"
    opus = "libopus" if codec == "aac" else None
    make_clip(source, frames=60, keyframe_every=10, audio_codec=opus, chirp=True)
    out = tmp_path / f"cut{suffix}"
    video = EncodeSettings(codec="libvpx-vp9", options={"deadline": "realtime", "cpu-used": "8"})
    settings = video if suffix == ".webm" else None
    report = upscale_video(
        source, out, weights=weights, settings=settings, progress=False, start=0.5, end=1.3
    )
    assert any(f"re-encoded to {codec}" in note for note in report.notes)
    times, samples = decoded_audio(out)
    source_times, source_samples = decoded_audio(source)
    inside = (times > 0.05) & (times < 0.7)  # clear of the codecs' edges

    def error(lag_ms: float) -> float:
        expected = np.interp(times[inside] + 0.52 + lag_ms / 1000, source_times, source_samples)
        return float(np.sqrt(np.mean((samples[inside] - expected) ** 2)))

    # In sync within 2 ms: codecs trim their priming to a few samples, and decoders date
    # the trimmed frames loosely. The rising tone matches itself at no other shift.
    best = min(np.arange(-40, 40.01, 0.125), key=error)
    assert abs(best) <= 2 and error(best) < 0.03, (best, error(best))
    # The sound ends where the cut does, 1.3 s - 0.52 s, not with the source's packet
    # across it (25 ms later). MOV's edit list ends it at 0.78 s to the sample, but
    # libav decodes AAC's last frame whole, its padding (3.3 ms here) with it.
    assert abs(times[-1] - 0.78) < 0.004, times[-1]


def test_reencoded_audio_keeps_the_frame_across_the_cut_start(tmp_path, weights):
    # 8-bit PCM in 1000-sample frames (20.8 ms), which .mp4 cannot hold: the cut at 0.2 s
    # falls inside the frame from 187.5 ms. It was dropped as a decoder's pre-roll, and the
    # output's sound began 8 ms late.
    source, out = tmp_path / "pcm.mkv", tmp_path / "cut.mp4"
    tone = np.full((1, 1000), 200, np.uint8)
    make_clip_with_sound(source, 10, "pcm_u8", tone, "u8", 19, rate=RATE)
    report = upscale_video(source, out, weights=weights, progress=False, start=0.2)
    assert any("re-encoded to flac" in note for note in report.notes)
    times, _ = decoded_audio(out)
    assert times[0] <= 0.001


@pytest.mark.parametrize(
    ("codec", "source_suffix", "suffix"),
    [("libmp3lame", ".mkv", ".mp4"), ("aac", ".mp4", ".mov"), ("libopus", ".mkv", ".mp4")],
)
def test_audio_copied_across_a_cut_sounds_as_the_source_from_its_first_sample(
    tmp_path, weights, codec, source_suffix, suffix
):
    """Audio copied into MP4 or MOV keeps the packets before the cut that its decoder
    needs; with only the packet across the cut, MP3 began with 73 ms of silence, AAC's
    first 10 ms and Opus's first 80 ms were wrong."""
    source = tmp_path / f"in{source_suffix}"
    make_clip(source, frames=25, keyframe_every=5, audio_codec=codec, chirp=True)
    out = tmp_path / f"cut{suffix}"
    upscale_video(source, out, weights=weights, progress=False, start=0.2)
    times, samples = decoded_audio(out)
    source_times, source_samples = decoded_audio(source)
    opening = (times >= 0) & (times < 0.1)

    def error(lag_ms: float) -> float:
        expected = np.interp(times[opening] + 0.2 + lag_ms / 1000, source_times, source_samples)
        return float(np.sqrt(np.mean((samples[opening] - expected) ** 2)))

    # Within a millisecond: a Matroska source's stamps are rounded to it. A stretch that
    # is silent or wrong costs 0.2 (a tone of 0.3); none costs 0.006 at most.
    best = min(np.arange(-1, 1.01, 0.125), key=error)
    assert times[0] <= 0.002 and error(best) < 0.02, (times[0], best, error(best))


def test_subtitles_end_where_the_range_ends(clips, weights, tmp_path):
    out = tmp_path / "short.mkv"
    # The subtitle from 1.2 s to 1.3 s, cut at 1.25 s: shown from 1.2 s - 1.0 s = 0.2 s.
    upscale_video(clips[".mkv"], out, weights=weights, progress=False, start=1.0, end=1.25)
    assert packets(out, "subtitles") == [(Fraction(1, 5), Fraction(1, 20))]


def test_start_zero_keeps_every_audio_packet(clips, weights, tmp_path):
    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    upscale_video(clips[".mp4"], whole, weights=weights, progress=False)
    upscale_video(clips[".mp4"], cut, weights=weights, progress=False, start=0)
    assert packets(cut, "audio") == packets(whole, "audio")  # the priming packet included


@pytest.mark.parametrize(("suffix", "tracks"), [(".mkv", 1), (".mp4", 0)])
def test_a_cut_without_sound_says_what_became_of_the_audio_track(tmp_path, weights, suffix, tracks):
    """The audio ends at 0.06 s, the cut starts at 0.5 s: Matroska keeps an empty track,
    MP4 none; either way the notes say so rather than leave a user to find out."""
    source, out = tmp_path / "early_sound.ts", tmp_path / f"out{suffix}"
    make_ts_recording(source, 20, sound_seconds=0.064)  # three AAC frames
    report = upscale_video(source, out, weights=weights, progress=False, start=0.5)
    with av.open(str(out)) as container:
        assert len(container.streams.audio) == tracks
        assert not any(p.size for s in container.streams.audio for p in container.demux(s))
    track = "an empty track" if tracks else "no track"
    note = (
        f"audio stream #1 (aac): no sound of it lies in the cut, so the output has {track} for it"
    )
    assert note in report.notes


def test_a_video_that_starts_before_zero_is_moved_to_zero_whole(tmp_path, weights):
    """An MPEG-TS recording across its 33-bit clock's wrap: libav gives the frames before
    the wrap negative times. MP4 hid them (5 of 10 frames showed), without a word."""
    source, out = tmp_path / "wrapped.ts", tmp_path / "out.mp4"
    make_ts_recording(source, 10, start=2**33 - 18000)
    with av.open(str(source)) as container:
        assert container.streams.video[0].start_time == -18000  # the wrap, as libav reads it
    report = upscale_video(source, out, weights=weights, progress=False)
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        shown = [frame.pts * frame.time_base for frame in container.decode(video)]
    sound = [start for start, _ in packets(out, "audio")]
    assert shown == [Fraction(index, RATE) for index in range(10)]
    assert -0.03 < sound[0] <= 0 and sound[-1] > Fraction(7, 20)  # with the video, whole
    assert report.cut is None  # no range was asked for
    assert "the video starts at -0.200 s, before zero: every stream is moved" in report.notes[0]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_file_whose_clock_starts_late_starts_at_zero(tmp_path, weights, suffix):
    """A TS recording's clock starts anywhere (here at 600 s): the output kept it, with ten
    minutes of nothing before the picture (an empty edit in MP4). Every stream moves back
    by the file's start, as ffmpeg does; the gap between sound and picture stays."""
    source, out = tmp_path / "late.ts", tmp_path / f"out{suffix}"
    make_ts_recording(source, 10, start=90000 * 600, b_frames=2)
    with av.open(str(source)) as container:
        file_start = Fraction(container.start_time, av.time_base)
        video_start = container.streams.video[0].start_time
        lead = video_start * container.streams.video[0].time_base - file_start
    assert file_start > 599
    report = upscale_video(source, out, weights=weights, progress=False)
    with av.open(str(out)) as container:
        assert container.duration / av.time_base < 1
        shown = [frame.pts * frame.time_base for frame in container.decode(video=0)]
    sound = [start for start, _ in packets(out, "audio")]
    assert [t - shown[0] for t in shown] == [Fraction(index, RATE) for index in range(10)]
    assert abs(shown[0] - lead) < 0.001 and abs(sound[0]) < 0.001  # as in the source
    assert report.cut is None  # no range was asked for
    if suffix == ".mp4":
        assert mp4_video_timing(out).edit_seconds < 1  # no empty edit before the picture


def test_a_late_clock_moved_to_zero_is_no_cut_to_speak_of(tmp_path, weights):
    # An empty sound track of a file starting at 10 s got "no sound of it lies in the cut",
    # though no cut was asked for (the same file starting at zero got no note).
    source, out = tmp_path / "late.mkv", tmp_path / "out.mp4"
    container = av.open(str(source), "w")
    video = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
    video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
    video.codec_context.time_base = video.time_base = Fraction(1, 25)
    sound = container.add_stream("aac", rate=48000)
    sound.layout = "mono"
    for index in range(10):
        picture = np.full((48, 64, 3), index, np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, "rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = 250 + index, Fraction(1, 25)
        container.mux(video.encode(frame))
    container.mux(video.encode(None))
    container.close()
    report = upscale_video(source, out, weights=weights, progress=False)
    assert not any("lies in the cut" in note for note in report.notes)
    assert report.frames == 10


def test_times_count_from_the_videos_first_frame_in_a_late_starting_stream(tmp_path, weights):
    clip, source, out = tmp_path / "clip.ts", tmp_path / "late.ts", tmp_path / "cut.mkv"
    make_clip(clip, frames=60, audio=False)
    # A broadcast capture: its clock starts at 1.4 s, not at zero.
    with av.open(str(clip)) as original, av.open(str(source), "w", format="mpegts") as late:
        stream = late.add_stream_from_template(original.streams.video[0])
        step = round(Fraction(7, 5) / original.streams.video[0].time_base)
        for packet in original.demux(video=0):
            if packet.size:
                packet.pts, packet.dts = packet.pts + step, packet.dts + step
                packet.stream = stream
                late.mux(packet)
    report = upscale_video(source, out, weights=weights, progress=False, start=0.5, end=1.3)
    assert report.frames == 20
    assert report.cut == {
        "start_s": 0.5,
        "end_s": 1.3,
        "first_frame_s": 0.52,
        "ended_before_the_cut_end": False,
    }


def chapter_marks(path: Path) -> list[tuple[Fraction, Fraction, str]]:
    with av.open(str(path)) as container:
        return [
            (c["start"] * c["time_base"], c["end"] * c["time_base"], c["metadata"]["title"])
            for c in container.chapters()
        ]


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_chapters_are_kept_and_cut_with_the_clip(tmp_path, weights, suffix):
    source = tmp_path / "chapters.mkv"
    marks = [(0.0, 1.0, "One"), (1.0, 2.0, "Two"), (2.0, 2.4, "Three")]
    make_clip(source, frames=60, keyframe_every=10, audio=False, chapters=marks)
    whole, part = tmp_path / f"whole{suffix}", tmp_path / f"part{suffix}"
    upscale_video(source, whole, weights=weights, progress=False)
    assert chapter_marks(whole) == chapter_marks(source)
    upscale_video(source, part, weights=weights, progress=False, start=0.5, end=1.5)
    # From the first kept frame (0.52 s) to the end of the range, "Three" outside it.
    assert chapter_marks(part) == [
        (0, Fraction(12, 25), "One"),
        (Fraction(12, 25), Fraction(49, 50), "Two"),
    ]


def test_a_chapter_that_only_touches_the_cut_is_left_out():
    # One that ends where the cut starts, or starts where it ends, has nothing inside it:
    # kept, it was a chapter of no length at the output's start or end.
    from types import SimpleNamespace

    from vsr.video.remux import StreamCopier

    cut = SimpleNamespace(offset_in=lambda time_base: 100, end_in=lambda time_base: 200)
    copier = SimpleNamespace(_cut=cut)
    within = [
        StreamCopier._chapter_within_cut(copier, {"start": s, "end": e, "time_base": 1})
        for s, e in ((0, 100), (50, 150), (150, 250), (200, 300))
    ]
    assert [c and (c["start"], c["end"]) for c in within] == [None, (0, 50), (50, 100), None]


def frame_times(path: Path) -> list[Fraction]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        return sorted(f.pts * video.time_base for f in container.decode(video))


@pytest.mark.parametrize("suffix", [".mkv", ".webm"])
@pytest.mark.parametrize("cut", [False, True])
@pytest.mark.parametrize("source_suffix", [".mp4", ".mkv"])
def test_chapters_move_with_the_frames_the_muxer_moves(
    tmp_path, weights, suffix, cut, source_suffix
):
    # From an MP4 with AAC sound, whose priming its edit list keeps before zero, Matroska
    # stores every stream about 21 ms later; the chapters stayed where they were, so "Two"
    # opened on the frame before the one at 0.4 s and ended before the video. A priming the
    # track keeps as its CodecDelay (WebM's Opus, an MKV source's AAC copied) moves nothing,
    # yet the AAC's moved the chapters 21 ms alone, onto the frame after the one they marked.
    source, out = tmp_path / f"chapters{source_suffix}", tmp_path / f"out{suffix}"
    make_clip(source, frames=25, chapters=[(0.0, 0.4, "One"), (0.4, 1.0, "Two")])
    part = {"start": 0.3, "duration": 0.4} if cut else {}
    upscale_video(source, out, weights=weights, progress=False, **part)
    frames = frame_times(out)
    first = frames[0]  # the source's frame at 0 s, or the cut's first (0.32 s)
    if source_suffix == ".mp4":
        assert (first > 0) == (suffix == ".mkv")
    # The frame that was at 0.4 s: the 11th, or the 3rd of the cut.
    two = frames[2] if cut else frames[10]
    # The whole clip's end is the video's; the cut's, where the range ends (0.7 s).
    end = first + Fraction(19, 50) if cut else frames[-1] + Fraction(1, RATE)
    assert chapter_marks(out) == [(first, two, "One"), (two, end, "Two")]


def test_an_mp4_without_audio_keeps_its_chapters_as_chapters_not_as_subtitles(tmp_path, weights):
    # With a timecode and no audio, libav shows an MP4's chapter text track as a mov_text
    # subtitle stream; copied as one, players showed the chapter titles as subtitles.
    plain, source, out = tmp_path / "plain.mp4", tmp_path / "talk.mp4", tmp_path / "big.mp4"
    make_clip(plain, frames=25, audio=False, chapters=[(0.0, 0.5, "Intro"), (0.5, 1.0, "End")])
    with av.open(str(plain)) as clip, av.open(str(source), "w") as tagged:
        video = tagged.add_stream_from_template(clip.streams.video[0])
        video.metadata["timecode"] = "01:00:00:00"  # MP4 writes it as a timecode track too
        tagged.set_chapters(clip.chapters())
        for packet in clip.demux(clip.streams.video[0]):
            if packet.size:
                packet.stream = video
                tagged.mux(packet)

    def tracks(path: Path) -> list[tuple[str, str]]:
        with av.open(str(path)) as container:
            return [(s.type, s.metadata.get("handler_name", "")) for s in container.streams]

    # The chapters' text track, as libav shows it here, and the timecode track.
    assert tracks(source)[1:] == [("subtitle", "SubtitleHandler"), ("data", "TimeCodeHandler")]
    report = upscale_video(source, out, weights=weights, progress=False)
    # The muxer writes one chapter track for the chapters; no copy of the old one beside it.
    assert [kind for kind, _ in tracks(out)] == ["video", "subtitle", "data"]
    with av.open(str(out)) as container:
        assert container.streams.video[0].metadata["timecode"] == "01:00:00:00"
    assert chapter_marks(out) == chapter_marks(source)
    assert not any("subtitle" in note for note in report.notes)


def test_a_real_subtitle_track_beside_chapters_is_kept(tmp_path, weights):
    # One cue, and the empty sample that ends an MP4 text track: as many samples as the two
    # chapters, ending with them. Only the cues' texts and times tell it from the chapters.
    plain, source, out = tmp_path / "plain.mp4", tmp_path / "talk.mp4", tmp_path / "big.mp4"
    make_clip(plain, frames=25, audio=False, chapters=[(0.0, 0.5, "Intro"), (0.5, 1.0, "End")])
    with av.open(str(plain)) as clip, av.open(str(source), "w") as tagged:
        video = tagged.add_stream_from_template(clip.streams.video[0])
        text = tagged.add_mux_stream("mov_text")
        tagged.set_chapters(clip.chapters())
        for packet in clip.demux(clip.streams.video[0]):
            if packet.size:
                packet.stream = video
                tagged.mux(packet)
        cue = av.Packet(len(b"Hello there").to_bytes(2, "big") + b"Hello there")
        cue.stream, cue.time_base = text, Fraction(1, 1000)
        cue.pts = cue.dts = 0
        cue.duration = 1000
        tagged.mux(cue)
    with av.open(str(source)) as container:
        assert container.streams.subtitles[0].frames == 2  # the cue and the end sample
    report = upscale_video(source, out, weights=weights, progress=False)
    with av.open(str(out)) as container:
        (subtitles,) = container.streams.subtitles
        cues = [bytes(p)[2:] for p in container.demux(subtitles) if p.size > 2]
    assert cues == [b"Hello there"]
    assert chapter_marks(out) == chapter_marks(source)
    assert not any("subtitle" in note for note in report.notes)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_variable_rate_ts_cut_ends_its_video_at_the_cut_end(tmp_path, weights, suffix):
    # The frames at 0.08, 0.097, 0.18, 0.22 and 0.253 s are kept, the next is at 0.373 s:
    # the video of --start 0.05 --end 0.3 must end at 0.22 s. MPEG-TS packets have no
    # duration, and the last frame lasted one average frame: the video ended at 0.193 s.
    # In MP4 its packet, the last decoded too, then ended the decode steps at 0.22 s but
    # the edit list (its pts + duration) still at 0.193 s.
    milliseconds = [0, 40, 80, 97, 180, 220, 253, 373, 413, 453]
    source, out = tmp_path / "vfr.ts", tmp_path / f"cut{suffix}"
    make_ts_recording(source, 10, times=[90 * ms for ms in milliseconds], sound_seconds=0.5)
    assert run(source, out, "--weights", weights, "--start", "0.05", "--end", "0.3") == 0
    with av.open(str(out)) as container:
        # Matroska moves every stream later alike where the sound starts before zero.
        shown = [frame.time for frame in container.decode(video=0)]
    assert [t - shown[0] for t in shown] == pytest.approx([0, 0.017, 0.1, 0.14, 0.173], abs=1e-3)
    if suffix == ".mp4":  # the edit list and the decode steps, as players read them
        timing = mp4_video_timing(out)
        assert (timing.edit_seconds, timing.sample_seconds) == (Fraction(11, 50), Fraction(11, 50))
    else:  # the latest pts + duration
        ends = [start + length for start, length in packets(out, "video")]
        assert float(max(ends)) - shown[0] == pytest.approx(0.22, abs=1e-3)


def test_a_steady_rate_cut_between_frames_keeps_its_last_frames_whole_length(
    clips, weights, tmp_path
):
    # README's Cuts: at a steady rate the last kept frame lasts one frame, as ffmpeg's -t
    # has it, so the output keeps its rate: --end 0.1 keeps the frames at 0, 0.04 and
    # 0.08 s, and the video ends at 0.12 s, not at the cut's end.
    out = tmp_path / "head.mp4"
    upscale_video(clips[".mp4"], out, weights=weights, progress=False, end=Fraction(1, 10))
    timing = mp4_video_timing(out)
    assert (timing.edit_seconds, timing.sample_seconds) == (Fraction(3, 25), Fraction(3, 25))
