"""The bench's figures mean what they say: it notices an engine whose frames are shown at
other times than the naive loop's, shows the worst frame's PSNR, and the pressure test and
the profile measure each network without the previous one left on the device."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch import nn

from vsr import bench as bench_module
from vsr import runner as runner_module
from vsr.bench import decoded_psnr, format_bench, parse_variant, run_bench
from vsr.bench_pressure import run_pressure
from vsr.models import create_model
from vsr.profiling import profile_model
from vsr.video import writer as writer_module


def tiny_imdn() -> nn.Module:
    torch.manual_seed(3)
    return create_model("imdn", 2, features=16, blocks=1)


def test_compare_timelines_counts_shifted_stretched_and_missing_frames():
    from vsr.bench import compare_timelines

    naive = [0.0, 0.04, 0.08, 0.12]
    assert compare_timelines(naive, [0.0, 0.04, 0.08, 0.12]) == (0, "")
    assert compare_timelines(naive, [0.0, 0.0405, 0.08, 0.12])[0] == 0  # ms rounding
    stretched, where = compare_timelines(naive, [0.0, 0.08, 0.16, 0.24])
    assert stretched == 3 and where == "frame 1: 0.040 s and 0.080 s"
    missing, where = compare_timelines(naive, naive[:3])
    assert missing == 1 and where == "frame 3: 0.120 s and no frame"
    untimed = [0.0, math.nan, 0.08, 0.12]  # a frame without a timestamp is not on time
    assert compare_timelines(naive, untimed) == (1, "frame 1: 0.040 s and nan s")


def test_bench_notes_an_engine_output_with_other_timestamps(tmp_path, monkeypatch):
    # Same pictures, timeline stretched twofold: the PSNR alone sees nothing wrong.
    original = writer_module.VideoWriter.write

    def write_at_double_time(self, planes, pts):
        return original(self, planes, None if pts is None else 2 * pts)

    monkeypatch.setattr(writer_module.VideoWriter, "write", write_at_double_time)
    result = run_bench(
        48, 32, scale=2, frames=3, model=tiny_imdn(), device="cpu", lossless=True,
        workdir=tmp_path,
    )  # fmt: skip
    engine = result.rows[1]
    assert engine.psnr_vs_naive_db > 45  # the pictures do agree
    assert engine.mistimed_frames == 2  # frames 1 and 2 are shown late
    assert any("other times than the naive" in note for note in result.notes)
    # The engine row's PSNR cells carry the mark, the naive row's none (the legend under
    # the table names "(!)" too, so the whole table's text would always hold one).
    rows = {line.split("  ")[0]: line for line in format_bench(result).splitlines()}
    assert rows[engine.name].endswith(
        f"{engine.psnr_vs_naive_db:.2f} dB (!)  {engine.min_frame_psnr_vs_naive_db:.2f} dB (!)"
    )
    assert "(!)" not in rows["naive loop"]


def test_a_frame_the_engine_lost_is_one_note_with_where_it_went_missing(tmp_path, monkeypatch):
    original = writer_module.VideoWriter.write
    calls = []

    def lose_the_second_frame(self, planes, pts):
        calls.append(pts)
        return None if len(calls) == 2 else original(self, planes, pts)

    monkeypatch.setattr(writer_module.VideoWriter, "write", lose_the_second_frame)
    result = run_bench(
        48, 32, scale=2, frames=3, model=tiny_imdn(), device="cpu", precisions=["fp32"],
        lossless=True, workdir=tmp_path,
    )  # fmt: skip
    # Frame 1 now holds the third picture at its own time: 0.08 s against the naive 0.04 s.
    assert result.rows[1].mistimed_frames == 2
    about_frames = [note for note in result.notes if "frame" in note]
    assert about_frames == [
        "engine fp32 batch 1: 2 frame(s) missing or shown at other times than the naive "
        "loop's (frame 1: 0.040 s and 0.080 s, naive first); the PSNR pairs frames in order"
    ]


def test_bench_table_shows_the_worst_frame(tmp_path):
    result = run_bench(
        48, 32, scale=2, frames=3, model=tiny_imdn(), device="cpu", lossless=True,
        workdir=tmp_path,
    )  # fmt: skip
    naive, engine = result.rows
    # The naive loop's own steady rate, beside the engine's (the README compared the
    # engine's steady fps with the naive loop's wall-clock fps).
    assert 0 < naive.startup_seconds < naive.wall_seconds
    # From fields rounded to 0.1 ms: the three frames take a few ms here, so the rounding
    # alone can move the rate by a few percent.
    steady = naive.wall_seconds - naive.startup_seconds
    slowest, fastest = 3 / (steady + 1e-4), 3 / max(steady - 1e-4, 1e-9)
    assert slowest - 1e-3 <= naive.steady_fps <= fastest + 1e-3
    assert engine.mistimed_frames == 0
    assert f"{engine.min_frame_psnr_vs_naive_db:.2f} dB" in format_bench(result)
    assert not any("other times" in note for note in result.notes)


def write_rgb_frames(path: Path, pictures: list[np.ndarray]) -> None:
    """A lossless clip (FFV1, bgr0) of 8-bit RGB pictures at 25 fps."""
    height, width = pictures[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "bgr0"
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="bgr0")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def test_the_lowest_frame_psnr_is_the_worst_single_frames(tmp_path):
    # Three grey frames, the last 10 codes off everywhere in the second clip: that frame
    # alone is 28.13 dB (MSE 100), the clip 32.90 dB (MSE 100/3). A running average over
    # the frames so far would call the worst frame the clip's 32.90 dB.
    grey = np.full((24, 32, 3), 100, np.uint8)
    write_rgb_frames(tmp_path / "first.mkv", [grey, grey, grey])
    write_rgb_frames(tmp_path / "second.mkv", [grey, grey, grey + 10])
    compared = decoded_psnr(tmp_path / "first.mkv", tmp_path / "second.mkv")
    assert compared.lowest_frame_psnr_db == pytest.approx(10 * math.log10(255**2 / 100))
    assert compared.psnr_db == pytest.approx(10 * math.log10(255**2 / (100 / 3)))
    assert compared.times_first == compared.times_second == [0.0, 0.04, 0.08]


def test_profile_and_pressure_leave_the_callers_networks_where_they_were():
    # The meta device stands in for a GPU: a network moved there and left there would count
    # in the next network's max_memory_allocated.
    model = create_model("imdn_rtc", 2)
    profile_model(model, (8, 8), device="meta", warmup=0, repeats=1)
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    first, second = tiny_imdn(), create_model("imdn_rtc", 2)
    points = run_pressure(
        [("8", (8, 8))], torch.device("meta"), models=[("a", first), ("b", second)],
        warmup=0, repeats=1,
    )  # fmt: skip
    assert [p.status for p in points] == ["ok", "ok"]
    assert {p.device.type for p in first.parameters()} == {"cpu"}


def test_the_naive_rows_encoder_share_leaves_out_its_start_as_the_engines_does(
    tmp_path, monkeypatch
):
    # The legend says "the encoders' busy share of that time" (the wall less start and
    # warm-up), which the engine rows give; the naive row divided by its whole wall, so a
    # slow start read as an idle encoder.
    timed = bench_module.naive_upscale

    def slow_to_start(*args, **kwargs):
        result = timed(*args, **kwargs)
        result.wall_seconds += 1.0  # a second more before the first frame
        result.startup_seconds += 1.0
        return result

    monkeypatch.setattr(bench_module, "naive_upscale", slow_to_start)
    result = run_bench(
        48, 32, scale=2, frames=2, model=tiny_imdn(), device="cpu", lossless=True,
        workdir=tmp_path,
    )  # fmt: skip
    naive = result.rows[0]
    after_start = naive.wall_seconds - naive.startup_seconds
    assert after_start < 1.0  # the second added is not in it
    expected = naive.stage_busy_seconds["encode"] / after_start
    assert naive.encoder_busy_share == pytest.approx(expected, rel=0.05, abs=1e-3)


def test_advice_on_encoders_that_held_a_row_back_names_the_row_and_a_variant(tmp_path, monkeypatch):
    # The engine's note said "--encoders 2 (or a faster --preset) would finish sooner":
    # an option `vsr bench` does not take, about no row in particular.
    monkeypatch.setattr(runner_module, "encoders_busy_share", lambda *args: 0.97)
    result = run_bench(
        48, 32, scale=2, frames=2, model=tiny_imdn(), device="cpu", preset="ultrafast",
        variants=[parse_variant("fp32"), parse_variant("fp32,batch=2,enc=3")], workdir=tmp_path,
    )  # fmt: skip
    advice = [note for note in result.notes if "held it back" in note]
    assert advice == [
        "engine fp32 batch 1: the encoder was busy 97% of the run and held it back: "
        "--variant fp32,enc=2 (or a faster --preset) would finish sooner",
        "engine fp32 batch 2 enc=3: the 3 encoders were busy 97% of the run and held it "
        "back: --variant fp32,batch=2,enc=4 (or a faster --preset) would finish sooner",
    ]
    for note in advice:  # the variant it names is one the bench takes
        parse_variant(note.split("--variant ")[1].split(" ")[0])
