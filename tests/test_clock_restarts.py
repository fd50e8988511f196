"""MPEG-TS recordings joined end to end: the file's clock starts over where they meet."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from media import make_ts_recording

from vsr.errors import VsrError
from vsr.runner import upscale_video
from vsr.video.clock_restarts import find_clock_restarts


def _joined(
    folder: Path, first_sound_seconds: float | None = None, b_frames: int = 0
) -> tuple[Path, int]:
    """Two 10-frame recordings joined with cat; returns the file and the byte where the
    second begins."""
    first, second, joined = folder / "a.ts", folder / "b.ts", folder / "joined.ts"
    make_ts_recording(first, 10, sound_seconds=first_sound_seconds, b_frames=b_frames)
    make_ts_recording(second, 10, b_frames=b_frames)
    joined.write_bytes(first.read_bytes() + second.read_bytes())  # cat a.ts b.ts
    return joined, first.stat().st_size


def _times(path: Path, kind: str) -> list[Fraction]:
    with av.open(str(path)) as container:
        if kind == "video":
            return [f.pts * f.time_base for f in container.decode(video=0)]
        return [p.pts * p.time_base for p in container.demux(audio=0) if p.size]


# With B-frames, the sound told of the join at one place and the pictures at a later one:
# two restarts, and a sliver of the second recording moved by its own offset.
@pytest.mark.parametrize("b_frames", [0, 3])
def test_the_restart_is_found_where_the_second_recording_begins(tmp_path, b_frames):
    joined, second_begins = _joined(tmp_path, b_frames=b_frames)
    restarts = find_clock_restarts(joined)
    assert restarts is not None and len(restarts.positions) == 1
    assert second_begins <= restarts.positions[0] < second_begins + 4 * 188  # TS packets
    assert Fraction(2, 5) <= restarts.offsets[0] < Fraction(1, 2)  # after the first's 0.4 s
    assert find_clock_restarts(tmp_path / "a.ts") is None  # one recording: one clock


def test_a_third_recording_is_placed_after_the_second_not_onto_it(tmp_path):
    # Each part's offset was only the step back where it began: the third, moved as far as
    # the second, landed on top of it.
    parts = []
    for name in ("a.ts", "b.ts", "c.ts"):
        make_ts_recording(tmp_path / name, 10)
        parts.append((tmp_path / name).read_bytes())
    (tmp_path / "joined.ts").write_bytes(b"".join(parts))
    restarts = find_clock_restarts(tmp_path / "joined.ts")
    assert restarts is not None and len(restarts.offsets) == 2
    first, second = restarts.offsets
    assert Fraction(2, 5) <= first < Fraction(1, 2)
    assert second - first == first  # each part as long as the one before: one more step


def test_parts_overlapping_by_a_muxers_jitter_are_one_clock(tmp_path):
    # The second part starts 10 to 50 ms before the first ends: jitter, not a restart (which
    # would refuse --start and --end for the file).
    first, second, joined = tmp_path / "a.ts", tmp_path / "b.ts", tmp_path / "joined.ts"
    make_ts_recording(first, 10, start=90000)  # frames from 1 s, the last at 1.36 s
    make_ts_recording(second, 10, start=90000 + 9 * 3600 - 900)  # from 1.35 s
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    assert find_clock_restarts(joined) is None


def test_joined_recordings_come_out_one_after_the_other_in_sync(tmp_path, weights):
    # The audio's times went back and the muxer refused them: a traceback after all the
    # upscaling. Without sound, the second part was squashed into 1-tick steps. The first
    # recording's sound is shorter than its video: each stream following its own end put
    # the second part's sound 0.3 s early.
    joined, _ = _joined(tmp_path, first_sound_seconds=0.1)
    out = tmp_path / "out.mp4"
    report = upscale_video(joined, out, weights=weights, progress=False)
    shown, heard = _times(out, "video"), _times(out, "audio")
    steps = [b - a for a, b in zip(shown, shown[1:], strict=False)]
    assert len(shown) == 20 and all(step == Fraction(1, 25) for step in steps[:9] + steps[10:])
    assert Fraction(1, 25) <= steps[9] <= Fraction(1, 10)  # the join: no overlap, no squash
    second_video = shown[10]
    second_sound = min(t for t in heard if t > Fraction(1, 5))  # the first's ends at 0.1 s
    assert abs(second_sound - second_video) < Fraction(3, 100)  # moved alike: in sync
    assert heard == sorted(heard)
    note = "the clock starts over once, as where recordings were joined: each part is placed"
    assert any(n.startswith(note) for n in report.notes)


def test_work_that_seeks_on_the_clock_is_refused_before_it_starts(tmp_path, weights):
    joined, _ = _joined(tmp_path)
    with pytest.raises(VsrError, match=r"so start and end cannot be used: join them"):
        upscale_video(joined, tmp_path / "cut.mp4", weights=weights, start=0.5, progress=False)
    # Refused at the first run: at the second, which seeks, its kept work would be lost.
    with pytest.raises(VsrError, match=r"so resume=True cannot be used"):
        upscale_video(joined, tmp_path / "out.mp4", weights=weights, resume=True, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ts", "b.ts", "joined.ts"]


def test_segment_mode_is_refused_before_ray_is_started(tmp_path):
    from vsr.cluster_segments import run_split

    joined, _ = _joined(tmp_path)
    with pytest.raises(VsrError, match=r"so --segments cannot be used"):
        run_split(joined, tmp_path / "out.mkv", count=2)
