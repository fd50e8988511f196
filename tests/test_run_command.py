"""`vsr run` on real (tiny) clips: frames, timestamps, pixels, audio, sizes, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
import torch
from conftest import failing_compiler
from media import (
    corrupt_middle_packets,
    make_audio_only,
    make_clip,
    make_slide_show,
    mp4_video_timing,
)

from vsr.bench_clip import make_bench_clip
from vsr.cli import main
from vsr.errors import VsrError
from vsr.models import create_model, load_weights, save_weights
from vsr.ops.yuv import rgb_to_yuv, yuv_to_rgb
from vsr.runner import upscale_video
from vsr.upscale import Upscaler
from vsr.video.reader import VideoReader

REPO = Path(__file__).resolve().parent.parent


def vsr(*args: object) -> int:
    return main(["run", *map(str, args), "--quiet"])


def decoded(path: Path) -> tuple[list, list[Fraction], object]:
    """(frames, presentation times in seconds, info) of a clip's video stream."""
    with VideoReader(path) as reader:
        frames = list(reader.frames())
        times = [f.pts * reader.info.time_base for f in frames]
        return frames, times, reader.info


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_lossless_output_is_the_model_applied_to_each_frame(tmp_path, weights):
    source = tmp_path / "in.mkv"
    make_clip(source, 48, 32, frames=5, vfr=True)
    out = tmp_path / "out.mkv"
    report = tmp_path / "report.json"
    flags = ["--codec", "ffv1", "--precision", "fp32", "--report", report]  # as compared below
    assert vsr(source, out, "--weights", weights, *flags) == 0

    frames_in, times_in, info_in = decoded(source)
    frames_out, times_out, info_out = decoded(out)
    assert len(frames_out) == len(frames_in) == 5
    assert times_out == times_in  # variable frame rate kept, frame for frame
    assert (info_out.width, info_out.height) == (96, 64)
    assert info_out.pix_fmt == info_in.pix_fmt == "yuv420p"

    upscaler = Upscaler(load_weights(weights), device="cpu", precision="fp32")
    m, r, bits = info_in.color_matrix, info_in.color_range, info_in.bit_depth
    for frame_in, frame_out in zip(frames_in, frames_out, strict=True):
        planes = [torch.from_numpy(p)[None] for p in frame_in.planes]
        expected = rgb_to_yuv(upscaler(yuv_to_rgb(*planes, m, r, bits)), m, r, bits, (1, 1))
        for got, want in zip(frame_out.planes, expected, strict=True):
            diff = np.abs(got.astype(int) - want[0].numpy().astype(int))
            assert diff.max() <= 1

    assert audio_packets(out) == audio_packets(source)  # copied, not re-encoded
    data = json.loads(report.read_text())
    assert data["frames"] == 5 and data["lost_frames"] == 0
    assert data["output_size"] == [96, 64] and data["network_scale"] == 2
    assert set(data["stages"]) == {"decode", "upload", "model", "download", "encode"}
    assert data["stages"]["model"]["busy_s"] > 0
    assert data["gpu_summary"] is None and data["gpu_samples"] is None  # no GPU: null
    assert data["device"] == "cpu" and data["precision"] == "fp32"


def test_odd_size_854x480_keeps_frames_timestamps_and_audio(tmp_path, weights):
    source = tmp_path / "wide.mp4"
    make_clip(source, 854, 480, frames=2)
    out = tmp_path / "wide_x2.mp4"
    assert vsr(source, out, "--weights", weights, "--preset", "ultrafast") == 0
    frames_in, times_in, _ = decoded(source)
    frames_out, times_out, info = decoded(out)
    assert (info.width, info.height) == (1708, 960)
    assert times_out == times_in and len(frames_out) == 2
    assert audio_packets(out) == audio_packets(source)


def test_101x57_to_an_exact_odd_size(tmp_path, weights, capsys):
    source = tmp_path / "tiny.mkv"
    make_clip(source, 101, 57, frames=3, codec="ffv1", audio=False)
    out = tmp_path / "tiny_up.mkv"
    # 151x85 is x1.5 (rounded); it runs the x2 network and resizes down on the device.
    assert main(["run", str(source), str(out), "--weights", str(weights), "--size", "151x85"]) == 0
    frames_out, times_out, info = decoded(out)
    assert (info.width, info.height) == (151, 85)
    assert len(frames_out) == 3 and times_out == decoded(source)[1]
    assert "odd size" in capsys.readouterr().err  # the writer's decision is shown


def test_height_target_720_to_1080_ratio(tmp_path, weights):
    source = tmp_path / "small.mkv"
    make_clip(source, 64, 48, frames=2, audio=False, codec="ffv1")
    out = tmp_path / "small_h72.mkv"
    assert vsr(source, out, "--weights", weights, "--height", "72", "--codec", "ffv1") == 0
    _, _, info = decoded(out)
    assert (info.width, info.height) == (96, 72)  # x1.5, like 720p -> 1080p


def test_ten_bit_stays_ten_bit(tmp_path, weights):
    source = tmp_path / "deep.mkv"
    make_clip(source, 32, 24, frames=3, pix_fmt="yuv420p10le", codec="ffv1", audio=False)
    out = tmp_path / "deep_x2.mkv"
    assert vsr(source, out, "--weights", weights, "--codec", "ffv1") == 0
    frames_out, _, info = decoded(out)
    assert info.pix_fmt == "yuv420p10le" and info.bit_depth == 10
    assert frames_out[0].planes[0].dtype == np.uint16
    assert frames_out[0].planes[0].max() > 255


@pytest.fixture
def clip(tmp_path) -> Path:
    path = tmp_path / "clip.mp4"
    make_clip(path, 32, 24, frames=2)
    return path


def test_a_clip_into_an_existing_folder_goes_in_under_its_own_name(tmp_path, clip, weights, capsys):
    # As `vsr image photo.jpg out/` and cp do; it said "out is a folder; give an output file
    # name". A container vsr cannot write becomes Matroska, as in folder mode.
    out = tmp_path / "out"
    out.mkdir()
    assert main(["run", str(clip), str(out), "--weights", str(weights), "--quiet"]) == 0
    assert [p.name for p in out.iterdir()] == ["clip.mp4"]
    with av.open(str(out / "clip.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (64, 48)
        assert sum(1 for _ in container.decode(stream)) == 2
    tape = tmp_path / "tape.ts"
    make_clip(tape, 32, 24, frames=10, audio=False)
    assert main(["run", str(tape), str(out), "--weights", str(weights), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4", "tape.mkv"]
    # Into the clip's own folder it would be the clip itself: refused, nothing touched.
    before = clip.read_bytes()
    assert main(["run", str(clip), str(tmp_path), "--weights", str(weights)]) == 2
    assert "is the input file itself" in capsys.readouterr().err
    assert clip.read_bytes() == before
    # A missing folder written with its slash is made: it said "new: the output needs a
    # file type (...), as in new.mp4", the slash lost to Path.
    assert main(["run", str(clip), f"{tmp_path / 'new'}/", "--weights", str(weights)]) == 0
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["clip.mp4"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file"),
        ("not media", "not a readable media file"),
        ("no video", "no video stream"),
        ("same file", "is the input file itself"),
        ("no folder", "does not exist"),
        ("unknown codec", "libnope"),
        ("unsupported scale", "x2"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(
    case, message, tmp_path, clip, weights, capsys
):
    out = tmp_path / "out.mp4"
    args: list[object] = [clip, out, "--weights", weights]
    if case == "missing":
        args[0] = tmp_path / "absent.mp4"
    elif case == "not media":
        fake = tmp_path / "notes.mp4"
        fake.write_text("this is not a video\n" * 50)
        args[0] = fake
    elif case == "no video":
        make_audio_only(tmp_path / "sound.mp4")
        args[0] = tmp_path / "sound.mp4"
    elif case == "same file":
        args[1] = clip
    elif case == "no folder":
        args[1] = tmp_path / "missing_dir" / "out.mp4"
    elif case == "unknown codec":
        args += ["--codec", "libnope"]
    elif case == "unsupported scale":
        args += ["--scale", "3"]
    before = set(os.listdir(tmp_path))
    assert vsr(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vsr: error: ")
    assert message in err[0]
    assert set(os.listdir(tmp_path)) == before  # nothing written, no temp file


def test_pipeline_presets_and_flags_override(tmp_path, clip, weights, capsys):
    out = tmp_path / "fast.mp4"
    assert vsr(clip, out, "--weights", weights, "--pipeline", "fast", "--crf", "30") == 0
    with av.open(str(out)) as container:  # x264 writes its settings into its first packet
        settings = bytes(next(p for p in container.demux(video=0) if p.size))
    assert b"crf=30.0" in settings  # the flag over the preset's crf
    assert vsr(clip, tmp_path / "x.mp4", "--weights", weights, "--pipeline", "turbo") == 2
    err = capsys.readouterr().err
    assert "unknown pipeline 'turbo'" in err and "archive, default, fast" in err


@pytest.mark.slow  # a fresh interpreter importing torch: 5-8 s on two shared cores
def test_ctrl_c_removes_the_temporary_file_and_exits_130(tmp_path, weights):
    source = tmp_path / "long.mp4"
    make_clip(source, 64, 48, frames=150, audio=False)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "vsr.cli", "run", str(source), str(out_dir / "o.mp4")]
    process = subprocess.Popen(
        [*command, "--weights", str(weights), "--quiet"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(out_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until the encoder has opened its temporary file
    assert any(out_dir.iterdir()), "the run never started writing"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert list(out_dir.iterdir()) == []


def test_any_scale_network_runs_on_the_enlarged_frame(tmp_path):
    """IMDN_AS (scale 1) gets the frame bicubic-enlarged to the target: the paper's path."""
    torch.manual_seed(1)
    as_weights = tmp_path / "as.safetensors"
    save_weights(create_model("imdn_as"), as_weights)
    source = tmp_path / "s.mkv"
    make_clip(source, 32, 24, frames=2, codec="ffv1", audio=False)
    out = tmp_path / "s_up.mkv"
    assert vsr(source, out, "--weights", as_weights, "--scale", "1.5", "--codec", "ffv1") == 0
    frames, _, info = decoded(out)
    assert (info.width, info.height) == (48, 36) and len(frames) == 2
    # Without a target, its own factor, as vsr image keeps the size: it made x2 here.
    same = tmp_path / "s_same.mkv"
    assert vsr(source, same, "--weights", as_weights, "--codec", "ffv1") == 0
    frames, _, info = decoded(same)
    assert (info.width, info.height) == (32, 24) and len(frames) == 2


def test_given_weights_upscale_by_their_own_factor_unless_asked_otherwise(tmp_path):
    # x4 weights made x2 without a word (the default scale), at x4's cost.
    torch.manual_seed(1)
    x4 = tmp_path / "rtc_x4.safetensors"
    save_weights(create_model("imdn_rtc", 4), x4)
    source, report = tmp_path / "s.mkv", tmp_path / "r.json"
    make_clip(source, 16, 12, frames=2, codec="ffv1", audio=False)
    assert vsr(source, tmp_path / "own.mkv", "--weights", x4, "--report", report) == 0
    assert decoded(tmp_path / "own.mkv")[2].width == 64
    assert not any("more than" in note for note in json.loads(report.read_text())["notes"])
    assert vsr(source, tmp_path / "x2.mkv", "--weights", x4, "--scale", 2, "--report", report) == 0
    assert decoded(tmp_path / "x2.mkv")[2].width == 32
    notes = json.loads(report.read_text())["notes"]
    assert (
        "the weights upscale x4, more than x2, the smallest factor that reaches this size: "
        "their output is shrunk to it (x2 weights would be faster)" in notes
    )


def test_preset_fields_are_overridden_by_flags():
    from vsr.cli import build_parser
    from vsr.commands.run import _settings_and_model_options

    def merged(*flags: str):
        args = build_parser().parse_args(["run", "in.mp4", "out.mp4", *flags])
        return _settings_and_model_options(args)

    settings, _ = merged()  # no --pipeline: pipelines/default.toml
    assert (settings.codec, settings.crf, settings.preset) == ("libx264", 18, "medium")
    settings, model = merged("--pipeline", "archive")
    assert (settings.codec, settings.crf, settings.pix_fmt) == ("libx265", 16, "yuv420p10le")
    settings, model = merged(
        "--pipeline", "archive", "--crf", "22", "--codec", "libx264", "-e", "tune=film",
        "--max-memory", "2GiB", "--batch", "3", "--precision", "bf16", "--device", "cpu",
    )  # fmt: skip
    assert (settings.codec, settings.crf, settings.preset) == ("libx264", 22, "slow")
    assert settings.options == {"tune": "film"}  # the x265 options left with x265
    assert model == {
        "precision": "bf16",
        "batch": 3,
        "max_memory": 2 << 30,
        "encoders": 1,
        "channels_last": True,  # the preset's: it applies on the CPU too
        "compile": "auto",  # the preset's is a GPU setting; on the CPU the clip decides
        "cuda_graphs": False,
    }
    _, on_cpu = merged("--device", "cpu")
    assert on_cpu["channels_last"] and not on_cpu["cuda_graphs"]
    assert on_cpu["compile"] == "auto"
    assert not merged("--device", "cpu", "--no-channels-last")[1]["channels_last"]


def test_crf_and_preset_flags_replace_those_of_a_pipeline_s_options(tmp_path):
    # As they replace its crf and preset fields: kept beside the flags, the file's were
    # refused as set twice, or won without a word.
    from vsr.cli import build_parser
    from vsr.commands.run import _settings_and_model_options

    preset = tmp_path / "quick.toml"
    preset.write_text('[options]\ncrf = 30\npreset = "slow"\ntune = "film"\n')
    argv = ["run", "in.mp4", "out.mp4", "--pipeline", str(preset)]
    flags = ["--crf", "20", "--preset", "veryfast"]
    settings, _ = _settings_and_model_options(build_parser().parse_args([*argv, *flags]))
    assert (settings.crf, settings.preset) == (20, "veryfast")
    assert settings.options == {"tune": "film"}


def test_device_auto_takes_the_preset_s_gpu_settings_where_there_is_a_gpu(monkeypatch):
    # "auto" is the default spelled out: with a GPU found, the preset's fp16 and batch 4
    # apply to it as they do to no --device at all.
    from vsr.cli import build_parser
    from vsr.commands.run import _settings_and_model_options

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for device in ([], ["--device", "auto"]):
        args = build_parser().parse_args(["run", "in.mp4", "out.mp4", *device])
        _, model = _settings_and_model_options(args)
        assert (model["precision"], model["batch"], model["cuda_graphs"]) == ("fp16", 4, True)


def test_the_closing_line_names_warming_up_from_half_a_second():
    # A first-run cost worth naming (compilation, graph capture), not every run's "0.0 s".
    from vsr.commands.run import _where

    def where(warmup_s: float) -> str:
        report = SimpleNamespace(
            device="cpu", precision="fp32", gpu_summary=None, warmup_s=warmup_s
        )
        return _where(report)

    assert where(0.0) == where(0.49) == "cpu, fp32"
    assert where(0.5) == "cpu, fp32, 0.5 s warming up"


def test_speed_switches_come_from_the_preset_on_a_gpu_only_and_flags_win(tmp_path):
    from vsr.cli import build_parser
    from vsr.commands.run import _settings_and_model_options

    preset = tmp_path / "quick.toml"
    preset.write_text("compile = true\ncuda_graphs = true\nencoders = 3\n")

    def merged(*flags: str):
        command = ["run", "in.mp4", "out.mp4", "--pipeline", str(preset), *flags]
        args = build_parser().parse_args(command)
        return _settings_and_model_options(args)[1]

    on_cpu = merged("--device", "cpu")
    # The preset's compile is a GPU setting: on the CPU the clip's length decides.
    assert (on_cpu["compile"], on_cpu["cuda_graphs"], on_cpu["encoders"]) == ("auto", False, 3)
    flagged = merged("--device", "cpu", "--compile", "--channels-last", "--encoders", "2")
    assert (flagged["compile"], flagged["channels_last"], flagged["encoders"]) == (True, True, 2)
    with pytest.raises(VsrError, match="encoders"):
        merged("--encoders", "0")


def test_encoders_are_taken_up_to_the_16_the_help_gives():
    from vsr.cli import build_parser
    from vsr.commands.run import _settings_and_model_options

    def encoders(count: str) -> int:
        command = ["run", "in.mp4", "out.mp4", "--device", "cpu", "--encoders", count]
        return _settings_and_model_options(build_parser().parse_args(command))[1]["encoders"]

    assert (encoders("1"), encoders("16")) == (1, 16)
    with pytest.raises(VsrError, match=r"^encoders must be from 1 to 16, not 17 \("):
        encoders("17")


def test_output_geometry_rounds_and_picks_the_next_larger_network():
    from vsr.errors import VsrError
    from vsr.scaling import parse_size, plan_geometry

    g = plan_geometry(1280, 720, height=1080)
    assert (g.width, g.height, g.network_scale) == (1920, 1080, 2)
    g = plan_geometry(101, 57, scale=1.5)  # 151.5 -> 152, 85.5 -> 86: half rounds up
    assert (g.width, g.height, g.network_scale) == (152, 86, 2)
    assert g.scale == 1.5  # the factor asked for, not 152 / 101 as rounded
    g = plan_geometry(99, 35, scale=1.5)  # 148.5 -> 149, 52.5 -> 53: up, not to the even
    assert (g.width, g.height) == (149, 53)
    g = plan_geometry(64, 48, height=70)  # 93.3 wide: the derived side is made even
    assert (g.width, g.height) == (94, 70)
    g = plan_geometry(62, 40, height=60)  # 93 wide, as far from 92 as from 94: up
    assert (g.width, g.height) == (94, 60)
    g = plan_geometry(100, 50, scale=2.5)
    assert (g.width, g.height, g.network_scale) == (250, 125, 3)
    g = plan_geometry(64, 48, scale=4)
    assert (g.width, g.height, g.network_scale) == (256, 192, 4)  # the network's own size
    # A --size of another aspect than the source's: the side enlarged most picks the network
    # (the resize after it shrinks the other side), and a side made smaller than the source's
    # is no refusal while the other grows.
    g = plan_geometry(320, 180, size=(1280, 400))  # x4 wide, x2.22 high
    assert (g.width, g.height, g.scale, g.network_scale) == (1280, 400, 4.0, 4)
    g = plan_geometry(320, 180, size=(640, 720))  # x2 wide, x4 high
    assert (g.width, g.height, g.scale, g.network_scale) == (640, 720, 4.0, 4)
    g = plan_geometry(64, 48, size=(128, 40))  # x2 wide, x0.83 high
    assert (g.width, g.height, g.scale, g.network_scale) == (128, 40, 2.0, 2)
    assert parse_size("1920x1080") == (1920, 1080)
    for bad in ("1920", "0x10", "axb"):
        with pytest.raises(VsrError):
            parse_size(bad)
    with pytest.raises(VsrError, match="largest"):
        plan_geometry(64, 48, scale=5)
    with pytest.raises(VsrError, match="largest"):
        plan_geometry(64, 48, scale=1e308)  # was an OverflowError traceback
    g = plan_geometry(64, 48, scale=4.001)  # 256.06 x 192.05: rounds to the x4 network's size
    assert (g.width, g.height, g.network_scale) == (256, 192, 4)
    with pytest.raises(VsrError, match=r"^scale 4\.3 is larger"):  # the number given
        plan_geometry(64, 48, scale=4.3)
    with pytest.raises(VsrError, match="only upscales"):
        plan_geometry(64, 48, size=(32, 24))


def test_corrupt_packets_are_counted_not_hidden(tmp_path, weights):
    """Decode what can be decoded and say how many frames were lost; never shorten silently."""
    source = tmp_path / "in.mkv"
    make_clip(source, 48, 32, frames=8, codec="ffv1", audio=False)
    damaged = corrupt_middle_packets(source, count=2)
    out, report = tmp_path / "out.mkv", tmp_path / "report.json"
    assert vsr(source, out, "--weights", weights, "--codec", "ffv1", "--report", report) == 0
    data = json.loads(report.read_text())
    frames_out, _, _ = decoded(out)
    assert len(frames_out) == data["frames"] == 8 - len(damaged)
    assert data["lost_frames"] == len(damaged)
    assert any("could not be decoded" in note for note in data["notes"])


def test_speed_flags_on_the_cpu_run_and_say_what_they_could_not_do(tmp_path, weights):
    source, out, report = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "run.json"
    make_clip(source, 48, 32, frames=6)
    flags = ["--channels-last", "--cuda-graphs", "--encoders", "2", "--report", report]
    assert vsr(source, out, "--weights", weights, "--device", "cpu", *flags) == 0
    frames, times, _ = decoded(out)
    assert len(frames) == 6 and times == decoded(source)[1]
    data = json.loads(report.read_text())
    assert data["fast_path"] == {
        "channels_last": True,
        "compile": False,
        "cuda_graphs": False,
        "encoders": 2,
    }
    assert "CUDA graphs need a GPU: ignored on the CPU" in data["notes"]
    assert 0 < data["encoder_busy_share"] <= 1  # the two workers' mean


def test_a_run_held_back_by_its_encoders_says_how_to_go_faster():
    from vsr.errors import speaking_to_the_command_line
    from vsr.runner import encoder_advice

    with speaking_to_the_command_line():
        advice = encoder_advice(0.93, encoders=1)
        several = encoder_advice(0.91, encoders=3)
    assert advice is not None and "93%" in advice and "--encoders 2" in advice
    assert several is not None and "3 encoders were busy 91%" in several
    assert "--encoders 4" in several and "idle cores" in several
    assert "encoders=4 may finish sooner" in encoder_advice(0.91, encoders=3)  # the API's
    assert encoder_advice(0.4, encoders=1) is None  # the network was the bottleneck
    assert encoder_advice(None, encoders=2) is None  # a run too short to tell
    at_the_bound = encoder_advice(0.95, encoders=16)  # advised 17, which is refused
    assert at_the_bound is not None and "encoders=" not in at_the_bound
    assert at_the_bound.endswith("a faster settings=EncodeSettings(preset=...) will finish sooner")


def test_a_run_with_no_time_after_its_warm_up_has_no_encoder_share():
    # A clip done within its start-up and warm-up: no share to tell, and no advice from it.
    from types import SimpleNamespace

    from vsr.runner import encoders_busy_share

    clock = SimpleNamespace(busy={"encode": 0.5})
    assert encoders_busy_share(SimpleNamespace(), clock, 0.0) is None
    assert encoders_busy_share(SimpleNamespace(), clock, 1.0) == 0.5
    assert encoders_busy_share(SimpleNamespace(), clock, 0.25) == 1.0  # overlapping waits


def test_a_run_says_it_fell_back_to_the_cpu_only_where_no_device_was_asked_for(
    tmp_path, clip, weights, monkeypatch
):
    # device="cpu" is what was asked for: "no CUDA device" would be news of nothing.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fell_back = upscale_video(clip, tmp_path / "a.mkv", weights=weights, progress=False)
    asked = upscale_video(clip, tmp_path / "b.mkv", weights=weights, device="cpu", progress=False)
    assert "no CUDA device: ran on the CPU" in fell_back.notes
    assert "no CUDA device: ran on the CPU" not in asked.notes


def test_a_pipelines_crf_and_speed_preset_go_only_to_codecs_they_mean_something_to():
    from vsr.cli import build_parser
    from vsr.commands.run import _settings_and_model_options

    def settings(*flags: str):
        args = build_parser().parse_args(["run", "in.mp4", "out.mp4", *flags])
        return _settings_and_model_options(args)[0]

    assert settings("--codec", "libx265").preset == "medium"  # x264 and x265 share names
    assert settings("--codec", "libsvtav1").preset is None  # SVT-AV1 numbers them: its default
    assert settings("--codec", "libsvtav1", "--preset", "8").preset == "8"  # a flag always wins
    lossless = settings("--codec", "ffv1")
    assert (lossless.crf, lossless.preset) == (None, None)  # FFV1 has neither


def test_a_pipelines_options_are_marked_as_its_own_and_the_typed_ones_are_not(tmp_path):
    """Where the container takes its own codec, a preset's options are dropped and the
    user's -e options go to that codec: the settings say which are which."""
    from vsr.cli import build_parser
    from vsr.commands.run import _settings_and_model_options

    preset = tmp_path / "tuned.toml"
    preset.write_text('[options]\ntune = "film"\nbf = "2"\n')
    command = ["run", "in.mp4", "out.webm", "--pipeline", str(preset), "-e", "bf=3", "-e", "g=9"]
    settings = _settings_and_model_options(build_parser().parse_args(command))[0]
    assert settings.options == {"tune": "film", "bf": "3", "g": "9"}
    assert settings.preset_option_names == {"tune"}  # bf typed over the preset's is the user's


@pytest.mark.parametrize("codec", ["libx265", "hevc"])
def test_a_pipelines_options_stay_with_its_encoder_by_any_name(tmp_path, codec):
    # --codec hevc opens the preset's libx265, yet its x265-params were dropped without a
    # word (the output's x265 info said bframes=4 where the preset said 0).
    from vsr.cli import build_parser
    from vsr.commands.run import _settings_and_model_options

    preset = tmp_path / "x265.toml"
    preset.write_text('codec = "libx265"\ncrf = 20\n[options]\nx265-params = "bframes=0"\n')
    command = ["run", "in.mp4", "out.mkv", "--pipeline", str(preset), "--codec", codec]
    settings = _settings_and_model_options(build_parser().parse_args(command))[0]
    assert (settings.crf, settings.options) == (20, {"x265-params": "bframes=0"})
    assert settings.preset_option_names == {"x265-params"}


def test_a_preset_may_name_the_compile_mode_and_the_flags_keep_or_drop_it(tmp_path):
    from vsr.cli import build_parser
    from vsr.commands.run import _settings_and_model_options

    preset = tmp_path / "tuned.toml"
    preset.write_text('compile = "max-autotune-no-cudagraphs"\n')

    def compile_setting(*flags: str):
        command = ["run", "in.mp4", "out.mp4", "--pipeline", str(preset), *flags]
        return _settings_and_model_options(build_parser().parse_args(command))[1]["compile"]

    assert compile_setting("--device", "cuda") == "max-autotune-no-cudagraphs"
    assert compile_setting("--device", "cuda", "--compile") == "max-autotune-no-cudagraphs"
    assert compile_setting("--device", "cuda", "--no-compile") is False
    # On the CPU the clip's length decides (vsr.ops.compile_policy), unless a flag does.
    assert compile_setting("--device", "cpu") == "auto"
    assert compile_setting("--device", "cpu", "--no-compile") is False
    # The preset's mode is a GPU setting: on the CPU --compile means the default mode.
    assert compile_setting("--device", "cpu", "--compile") is True

    preset.write_text('compile = "fastest"\n')
    with pytest.raises(VsrError, match="compile must be true, false or a mode"):
        compile_setting("--device", "cuda")


def test_an_unknown_compile_mode_is_a_user_error():
    from vsr.ops.compiled import compile_network

    with pytest.raises(VsrError, match="unknown compile mode 'fastest'"):
        compile_network(torch.nn.Conv2d(3, 3, 1), "fastest")


def test_a_mode_that_captures_graphs_compiles_without_them_and_gets_ours():
    from vsr.ops.aot_package import PackagedNetwork
    from vsr.ops.cuda_graph import GraphedNetwork
    from vsr.upscale import with_speed_switches

    net = torch.nn.Conv2d(3, 3, 1)
    for mode, graphs in (("max-autotune", False), ("max-autotune", True), ("default", True)):
        run = with_speed_switches(net, mode, cuda_graphs=graphs)
        assert isinstance(run, GraphedNetwork) and isinstance(run.network, PackagedNetwork)
    packaged = with_speed_switches(net, "default", cuda_graphs=False)
    assert isinstance(packaged, PackagedNetwork) and packaged.mode == "default"
    # Inductor's own graphs would clash with ours: the graph-free twin is compiled.
    autotuned = with_speed_switches(net, "max-autotune", cuda_graphs=True).network
    assert autotuned.mode == "max-autotune-no-cudagraphs"
    assert with_speed_switches(net, "reduce-overhead", cuda_graphs=True).network.mode == "default"
    assert with_speed_switches(net, True, cuda_graphs=False).mode == "default"


def test_a_network_on_cuda_is_never_packaged():
    # Loading a package crashed the process on an H100 (vsr.ops.compiled.packages_on): a
    # network on CUDA gets torch.compile even where the caller does not say which.
    from torch._dynamo.eval_frame import OptimizedModule

    from vsr.ops.aot_package import PackagedNetwork
    from vsr.upscale import with_speed_switches

    class OnCuda(torch.nn.Conv2d):
        def parameters(self, recurse: bool = True):  # as if moved there; CI has no GPU
            return iter([SimpleNamespace(device=torch.device("cuda", 0))])

    assert isinstance(with_speed_switches(OnCuda(3, 3, 1), True, False), OptimizedModule)
    on_cpu = torch.nn.Conv2d(3, 3, 1)
    assert isinstance(with_speed_switches(on_cpu, True, False), PackagedNetwork)


def test_the_progress_bar_says_when_the_network_is_compiling():
    import io

    from tqdm import tqdm

    from vsr.runner import _bar_after_compiling

    model = create_model("imdn", 2, features=16, blocks=1)
    shown = io.StringIO()
    bar = tqdm(total=10, file=shown, mininterval=0)
    advance = _bar_after_compiling(bar, Upscaler(model, device="cpu", compile=True), (32, 48))
    assert "compiling the network" in bar.postfix
    advance(4)
    assert not bar.postfix and bar.n == 4
    plain = tqdm(total=10, file=io.StringIO())
    assert _bar_after_compiling(plain, Upscaler(model, device="cpu"), (32, 48)) == plain.update


def test_the_progress_bar_says_so_for_each_frame_size_a_folder_compiles_for(monkeypatch):
    # A folder's clips share an upscaler: the build for a second frame size showed a bar at
    # 0 without a word, as the words came only before the upscaler's first warm-up.
    import io

    from tqdm import tqdm

    from vsr import upscale as upscale_module
    from vsr.runner import _bar_after_compiling

    monkeypatch.setattr(upscale_module, "compile_network", lambda network, *a, **k: network)
    upscaler = Upscaler(create_model("imdn", 2, features=16, blocks=1), "cpu", compile=True)
    upscaler(torch.rand(1, 3, 32, 48))  # the folder's first clip
    for size, says in (((64, 96), True), ((32, 48), False)):
        bar = tqdm(total=10, file=io.StringIO(), mininterval=0)
        advance = _bar_after_compiling(bar, upscaler, size)
        assert ("compiling the network" in (bar.postfix or "")) is says, size
        assert (advance == bar.update) is not says
    # Only loading what is kept takes a moment: a frame size without a package would run
    # uncompiled under the words.
    kept = Upscaler(create_model("imdn", 2, features=16, blocks=1), "cpu", compile="kept")
    bar = tqdm(total=10, file=io.StringIO(), mininterval=0)
    assert _bar_after_compiling(bar, kept, (32, 48)) == bar.update


def test_a_failing_compile_is_one_warning_line_and_a_note_and_the_run_completes(
    tmp_path, weights, monkeypatch, capsys
):
    from vsr import upscale as upscale_module

    monkeypatch.setattr(
        upscale_module, "compile_network", failing_compiler("no working C compiler")
    )
    source, out, report = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "run.json"
    make_clip(source, 48, 32, frames=5)
    flags = ["--weights", weights, "--device", "cpu", "--compile", "--report", report]
    assert vsr(source, out, *flags) == 0
    assert len(decoded(out)[0]) == 5
    said = [
        "compiling the network ahead of time failed (no working C compiler); torch.compile "
        "compiles it in this process instead",
        "compiling the network failed (no working C compiler); it ran uncompiled",
    ]
    err = capsys.readouterr().err
    assert all(f"vsr: warning: {line}\n" in err for line in said)  # even with --quiet
    told = json.loads(report.read_text())
    assert set(said) <= set(told["notes"])
    assert told["fast_path"]["compile"] is False  # it said true: what was asked, not what ran


def _auto_compiling_with(monkeypatch, compile_network, pixels: int) -> None:
    """compile="auto" on the CPU with `compile_network` in place of the real one (no C++
    build here), a compiler taken as found, and `pixels` of network input repaying a build."""
    from vsr import upscale as upscale_module
    from vsr.ops import compile_policy

    monkeypatch.setattr(upscale_module, "compile_network", compile_network)
    monkeypatch.setattr(upscale_module, "cpp_compiler_found", lambda: True)
    monkeypatch.setattr(compile_policy, "PIXELS_THAT_REPAY_A_BUILD", pixels)


def test_on_the_cpu_a_clip_long_enough_to_repay_the_build_is_compiled_and_says_so(
    tmp_path, weights, monkeypatch
):
    compiled = []

    def compile_network(network, mode=None, ahead_of_time=True, builds=True):
        def call(x):  # stands in for the package: the network's own result
            call.built = 1  # built on its first call, as PackagedNetwork counts it
            compiled.append(tuple(x.shape))
            return network(x)

        call.built = 0
        return call

    # 48 x 32 input pixels a frame: 6 frames repay the build, 5 do not.
    _auto_compiling_with(monkeypatch, compile_network, pixels=6 * 48 * 32)
    flags = ["--weights", weights, "--device", "cpu"]
    for frames, pays in ((5, False), (6, True)):
        source, out = tmp_path / f"in{frames}.mp4", tmp_path / f"out{frames}.mp4"
        report = tmp_path / f"run{frames}.json"
        make_clip(source, 48, 32, frames=frames)
        compiled.clear()
        assert vsr(source, out, *flags, "--report", report) == 0
        assert len(decoded(out)[0]) == frames
        assert compiled == ([(1, 3, 32, 48)] * frames if pays else [])
        said = json.loads(report.read_text())
        assert said["fast_path"]["compile"] is pays
        told = [n for n in said["notes"] if n.startswith("the network was compiled")]
        assert len(told) == pays
    # A flag wins over the clip's length.
    compiled.clear()
    assert vsr(source, tmp_path / "flag.mp4", *flags, "--no-compile") == 0
    assert compiled == []


def test_a_warning_that_is_also_a_note_is_printed_once_and_kept_in_the_report(
    tmp_path, weights, monkeypatch, capsys
):
    # bf16 emulated and a failed compile are warnings (for the API) and notes (for the
    # report): the command printed each twice, as a warning and again as a note.
    from vsr import upscale as upscale_module

    monkeypatch.setattr(upscale_module, "cpu_computes_bf16", lambda: False)
    monkeypatch.setattr(upscale_module, "compile_network", failing_compiler("no C compiler"))
    source, out, report = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "run.json"
    make_clip(source, 48, 32, frames=2, audio=False)
    flags = ["--weights", weights, "--device", "cpu", "--precision", "bf16", "--compile"]
    assert main(["run", str(source), str(out), *map(str, flags), "--report", str(report)]) == 0
    err = capsys.readouterr().err
    notes = json.loads(report.read_text())["notes"]
    said = [note for note in notes if "bf16 is emulated" in note or "compiling" in note]
    assert len(said) == 3  # bf16, then the two steps of the failed compile
    for note in said:
        assert err.count(note) == 1, err
        assert f"vsr: warning: {note}\n" in err


def test_a_command_forgets_the_warnings_an_earlier_command_of_its_process_printed(tmp_path):
    # Python shows a warning of one place once a process: a second main() (a script calling
    # it per file) is not warned again, so its notes of that text must be printed.
    from vsr.shown_warnings import remember, shown_as_warning

    remember("bf16 is emulated on this CPU")
    assert main(["run", str(tmp_path / "none.mp4"), str(tmp_path / "out.mp4")]) == 2
    assert not shown_as_warning("bf16 is emulated on this CPU")


def test_a_command_puts_back_the_warning_printer_it_found(tmp_path):
    # main() prints warnings its own way while a command runs; a script that calls it (per
    # file, or among its own work) must get its own printer back, not vsr's one-line form.
    import warnings

    before = warnings.showwarning
    assert main(["run", str(tmp_path / "none.mp4"), str(tmp_path / "out.mp4")]) == 2
    assert warnings.showwarning is before


def test_a_package_loaded_from_the_cache_is_not_told_as_compiled(tmp_path, weights, monkeypatch):
    def compile_network(network, mode=None, ahead_of_time=True, builds=True):
        def call(x):  # a kept package: loaded, nothing built (PackagedNetwork.built == 0)
            return network(x)

        call.built = 0
        return call

    _auto_compiling_with(monkeypatch, compile_network, pixels=1)
    source, out, report = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "run.json"
    make_clip(source, 48, 32, frames=3)
    assert vsr(source, out, "--weights", weights, "--device", "cpu", "--report", report) == 0
    said = json.loads(report.read_text())
    assert said["fast_path"]["compile"] is True
    # The run did not pause to compile: "the network was compiled ... warm-up 0.0 s" on
    # every later run would be news of nothing.
    assert not [n for n in said["notes"] if n.startswith("the network was compiled")]


def test_a_folder_clip_finished_while_the_next_builds_keeps_its_own_warm_up(
    tmp_path, weights, monkeypatch
):
    from vsr.network_cache import NetworkCache
    from vsr.runner import start_upscale

    def compile_network(network, mode=None, ahead_of_time=True, builds=True):
        def call(x):  # 48x32 frames: a kept package; 96x64: built now, which takes a while
            if x.shape[-1] == 96 and not call.built:
                call.built = 1
                time.sleep(0.5)
            return network(x)

        call.built = 0
        return call

    _auto_compiling_with(monkeypatch, compile_network, pixels=1)
    networks = NetworkCache(weights)
    options = dict(weights=networks, device="cpu", compile="auto", progress=False)
    for name, (width, height) in (("a", (48, 32)), ("b", (96, 64))):
        make_clip(tmp_path / f"{name}.mp4", width, height, frames=2)
    # Folder mode finishes a clip (its encoder's flush) while the next one runs.
    first = start_upscale(tmp_path / "a.mp4", tmp_path / "a_out.mp4", **options)
    second = start_upscale(tmp_path / "b.mp4", tmp_path / "b_out.mp4", **options)
    first_report, second_report = first.finish(), second.finish()
    assert first_report.warmup_s < 0.25 <= second_report.warmup_s
    told = [
        [n for n in r.notes if n.startswith("the network was compiled")]
        for r in (first_report, second_report)
    ]
    assert [len(t) for t in told] == [0, 1]


def test_a_folder_clip_does_not_carry_the_failed_build_of_an_earlier_clip(
    tmp_path, weights, monkeypatch
):
    # The upscaler is shared by the folder's clips: a build that failed in the first long
    # clip was reported again, "compiling the network failed", by every later one.
    from vsr.network_cache import NetworkCache
    from vsr.runner import start_upscale

    def compile_network(network, mode=None, ahead_of_time=True, builds=True):
        def call(x):
            raise RuntimeError("C++ compile error")

        return call

    monkeypatch.setenv("VSR_CACHE", str(tmp_path / "cache"))  # the failure is remembered
    _auto_compiling_with(monkeypatch, compile_network, pixels=1)
    networks = NetworkCache(weights)
    options = dict(weights=networks, device="cpu", compile="auto", progress=False)
    failed = "compiling the network failed (C++ compile error); it ran uncompiled"
    reports = []
    for name in "ab":
        make_clip(tmp_path / f"{name}.mp4", 48, 32, frames=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = start_upscale(tmp_path / f"{name}.mp4", tmp_path / f"{name}_out.mp4", **options)
            reports.append(run.finish())
    assert [failed in r.notes for r in reports] == [True, False]
    assert [r.fast_path["compile"] for r in reports] == [False, False]


def _packages_kept_for_widths(monkeypatch, folder: Path, loads: list, builds: list) -> None:
    """Packages as a file per network input width in `folder`, loaded as a nearest-pixel
    x2 (no C++ build here), each load's path in `loads`; a build only lands in `builds`."""
    from vsr.ops import aot_package

    def load_package(path, device):
        loads.append(path.name)
        if path.read_bytes() == b"damaged":
            raise RuntimeError("PytorchStreamReader failed reading zip archive")
        if path.read_bytes() == b"fails to run":

            def fail(x):
                raise RuntimeError("run_impl failed")

            return fail
        return lambda x: torch.nn.functional.interpolate(x, scale_factor=2)

    monkeypatch.setattr(
        aot_package.PackagedNetwork, "package_path", lambda self, x: folder / f"{x.shape[-1]}.pt2"
    )
    monkeypatch.setattr(aot_package, "load_package", load_package)
    # These packages are no zips; their checksums are test_aot_package's to check.
    monkeypatch.setattr(aot_package, "_intact", lambda path: True)
    monkeypatch.setattr(aot_package, "build_package", lambda *args: builds.append(args))


def test_a_clip_too_short_to_repay_a_build_runs_the_package_an_earlier_run_kept(
    tmp_path, weights, monkeypatch
):
    # A short clip ran uncompiled even where a long one had kept a package for its frame
    # size, which loads in milliseconds (vsr.ops.compile_policy).
    from vsr.ops import compile_policy
    from vsr.ops.compile_policy import earlier_failure

    loads, builds = [], []
    _packages_kept_for_widths(monkeypatch, tmp_path, loads, builds)
    monkeypatch.setenv("VSR_CACHE", str(tmp_path / "cache"))  # where a failure is kept
    monkeypatch.setenv("CXX", "/nonexistent/c++")  # loading needs no compiler
    # 48 x 32 input pixels a frame: 3 frames repay a load, 2 do not; none repays a build.
    monkeypatch.setattr(compile_policy, "PIXELS_THAT_REPAY_A_LOAD", 3 * 48 * 32)
    flags = ["--weights", weights, "--device", "cpu"]
    kept_note = "the network ran compiled, from the package an earlier run kept"
    failed_note = (
        "the compiled network kept in the cache failed (run_impl failed); it ran uncompiled"
    )
    for frames, package, ran_compiled, told in (
        (3, b"package", True, [kept_note]),
        (3, None, False, []),
        (3, b"damaged", False, []),  # loaded, and failed to: no build, no failure to tell
        (3, b"fails to run", False, [failed_note]),  # not a build's failure: not remembered
        (2, b"package", False, []),
    ):
        (tmp_path / "48.pt2").unlink(missing_ok=True)
        if package is not None:
            (tmp_path / "48.pt2").write_bytes(package)
        source, out = tmp_path / f"in{frames}.mp4", tmp_path / "out.mp4"
        report = tmp_path / "run.json"
        make_clip(source, 48, 32, frames=frames)
        loads.clear()
        assert vsr(source, out, *flags, "--report", report, "--overwrite") == 0
        assert len(decoded(out)[0]) == frames
        said = json.loads(report.read_text())
        assert said["fast_path"]["compile"] is ran_compiled, (frames, package)
        about_compiling = [n for n in said["notes"] if "compil" in n]
        assert len(about_compiling) == len(told), about_compiling
        assert all(n.startswith(t) for n, t in zip(about_compiling, told, strict=True))
        assert loads == (["48.pt2"] if frames == 3 and package else [])
        if package in (None, b"damaged"):  # nothing loaded: no warm-up to count
            assert said["warmup_s"] == 0
    assert builds == [] and earlier_failure() is None
    # --no-compile never runs a package.
    loads.clear()
    (tmp_path / "48.pt2").write_bytes(b"package")
    source = tmp_path / "in3.mp4"
    assert vsr(source, tmp_path / "plain.mp4", *flags, "--no-compile") == 0
    assert loads == []


def test_a_folder_clip_reports_the_kept_package_only_where_its_frame_size_had_one(
    tmp_path, weights, monkeypatch
):
    # Short clips of a folder share one "kept" upscaler: it stays compiled after a clip
    # whose frame size had a package, though the next clip's size may have none.
    from vsr.network_cache import NetworkCache
    from vsr.ops import compile_policy
    from vsr.runner import start_upscale

    loads, builds = [], []
    _packages_kept_for_widths(monkeypatch, tmp_path, loads, builds)
    (tmp_path / "48.pt2").write_bytes(b"package")  # 48x32 has one, 96x64 none
    monkeypatch.setattr(compile_policy, "PIXELS_THAT_REPAY_A_LOAD", 1)
    networks = NetworkCache(weights)
    options = dict(weights=networks, device="cpu", compile="auto", progress=False)
    reports = []
    for name, (width, height) in (("a", (48, 32)), ("b", (96, 64)), ("c", (48, 32))):
        make_clip(tmp_path / f"{name}.mp4", width, height, frames=2)
        run = start_upscale(tmp_path / f"{name}.mp4", tmp_path / f"{name}_out.mp4", **options)
        reports.append(run.finish())
    assert [r.fast_path["compile"] for r in reports] == [True, False, True]
    assert loads == ["48.pt2"] and builds == []  # once: the upscaler keeps what it loaded


@pytest.mark.parametrize("compile", ["auto", True])
def test_a_folder_clip_after_a_failed_build_says_briefly_why_it_ran_uncompiled(
    tmp_path, weights, monkeypatch, compile
):
    # After the first long clip's build failed, the later ones ran uncompiled with only
    # fast_path.compile false to say so (and --compile's said true, with no note at all).
    from vsr.network_cache import NetworkCache
    from vsr.runner import start_upscale

    monkeypatch.setenv("VSR_CACHE", str(tmp_path / "cache"))  # the failure is remembered
    _auto_compiling_with(monkeypatch, failing_compiler("C++ compile error"), pixels=2 * 48 * 32)
    networks = NetworkCache(weights)
    options = dict(weights=networks, device="cpu", compile=compile, progress=False)
    brief = (
        "the network ran uncompiled: compiling it failed for an earlier clip of this run "
        "(its notes say why)"
    )
    reports, warned = [], []
    for name, frames in (("a", 2), ("b", 2), ("c", 1)):  # "auto" compiles 2 frames, not 1
        make_clip(tmp_path / f"{name}.mp4", 48, 32, frames=frames)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = start_upscale(tmp_path / f"{name}.mp4", tmp_path / f"{name}_out.mp4", **options)
            reports.append(run.finish())
        warned.append([str(w.message) for w in caught if "compil" in str(w.message)])
    assert [r.fast_path["compile"] for r in reports] == [False, False, False]
    # The clip that would not have compiled anyway ("auto", 1 frame) is told nothing.
    assert [brief in r.notes for r in reports] == [False, True, compile is True]
    assert [len(w) for w in warned] == [len(warned[0]), 0, 0] and warned[0]
    assert all("C++ compile error" not in n for r in reports[1:] for n in r.notes)


def test_a_second_command_in_a_process_prints_the_note_its_warning_no_longer_gives(
    tmp_path, weights, monkeypatch, capsys
):
    # Python shows a warning of one place and text once a process: a script calling main()
    # per clip got the bf16 warning from the first run only, and the later runs left out
    # its note too, as printed already: they said nothing of a run several times slower.
    from vsr import upscale as upscale_module

    monkeypatch.setattr(upscale_module, "cpu_computes_bf16", lambda: False)
    source = tmp_path / "in.mp4"
    make_clip(source, 48, 32, frames=1, audio=False)
    flags = ["--weights", weights, "--device", "cpu", "--precision", "bf16"]
    for run in range(2):
        out = tmp_path / f"out{run}.mp4"
        assert main(["run", str(source), str(out), *map(str, flags)]) == 0
        err = capsys.readouterr().err
        assert err.count("bf16 is emulated") == 1, (run, err)


def test_the_summary_of_a_one_frame_clip_says_1_frame(tmp_path, weights, capsys):
    source, output = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(source, 32, 18, frames=1, audio=False)
    assert (
        main(["run", str(source), str(output), "--weights", str(weights), "--device", "cpu"]) == 0
    )
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert summary.startswith("vsr: 1 frame 32x18 -> 64x36 in "), summary


def test_vsr_warnings_print_as_one_line_and_other_warnings_as_python_does(capsys):
    import io

    from vsr import upscale as upscale_module
    from vsr.caller_warning import VsrWarning
    from vsr.cli import _show_warning

    shown = io.StringIO()
    _show_warning(UserWarning("out of GPU memory"), UserWarning, upscale_module.__file__, 9, shown)
    assert shown.getvalue() == "vsr: warning: out of GPU memory\n"
    # warn_the_caller names the first line outside vsr: through the console script, the
    # script itself. A VsrWarning is vsr's wherever it is said to come from.
    shown = io.StringIO()
    script = str(Path(sys.executable).parent / "vsr")
    _show_warning(VsrWarning("out of GPU memory"), VsrWarning, script, 8, shown)
    assert shown.getvalue() == "vsr: warning: out of GPU memory\n"
    shown = io.StringIO()
    _show_warning(UserWarning("deprecated"), UserWarning, json.__file__, 9, shown)
    assert "json" in shown.getvalue() and "UserWarning: deprecated" in shown.getvalue()
    # torch's notes to its own users of what it will change (export, in a compile build),
    # which the build held back with a filter of every thread's: the command drops them.
    import torch

    for category in (FutureWarning, DeprecationWarning):
        shown = io.StringIO()
        _show_warning(category("export will change"), category, torch.export.__file__, 9, shown)
        assert shown.getvalue() == ""
    shown = io.StringIO()
    _show_warning(FutureWarning("will change"), FutureWarning, json.__file__, 9, shown)
    assert "FutureWarning: will change" in shown.getvalue()  # another library's: shown
    # Given under torch's code by another library, with a stacklevel that points past both
    # (pytree's LeafSpec note: typing_extensions' deprecated() warned as copy.deepcopy
    # rebuilt a spec in a --compile run, and named copyreg.py): dropped too.
    namespace: dict = {}
    library = "import warnings\ndef new():\n    warnings.warn('LeafSpec', FutureWarning, 3)\n"
    exec(compile(library, str(Path(json.__file__).parent / "library.py"), "exec"), namespace)
    torch_file = str(Path(torch.__file__).parent / "utils" / "_pytree.py")
    exec(compile("def rebuild():\n    new()\n", torch_file, "exec"), namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _show_warning
        namespace["rebuild"]()
        namespace["new"]()  # the library's own, not under torch: shown
    assert capsys.readouterr().err.count("FutureWarning: LeafSpec") == 1


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_mirrored_clip_stays_mirrored(tmp_path, weights, suffix):
    # A front camera's mirror, and a mirror across the diagonal (a transpose): written back
    # as a rotation angle, the first played upside down and the second turned.
    from vsr.video.display_matrix import display_matrix_of

    one, w = 1 << 16, 1 << 30  # 1.0 in 16.16 and in 2.30 fixed point
    for matrix in ([-one, 0, 0, 0, one, 0, 0, 0, w], [0, one, 0, one, 0, 0, 0, 0, w]):
        source, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
        make_clip(source, 64, 48, frames=2, display_matrix=matrix, audio=False)
        assert vsr(source, out, "--weights", weights, "--overwrite") == 0
        with av.open(str(out)) as container:
            frame = next(container.decode(video=0))
            assert display_matrix_of(frame) == tuple(matrix)


def test_a_display_matrixs_translation_is_left_out(tmp_path):
    # The translation counts the source's pixels, which the upscaled picture does not have:
    # an identity matrix with one is nothing to write, a mirror with one is the mirror alone.
    from vsr.video.display_matrix import display_matrix_of

    one, w = 1 << 16, 1 << 30
    for index, (linear, kept) in enumerate(
        [((one, 0, 0, 0, one, 0), None), ((-one, 0, 0, 0, one, 0), (-one, 0, 0, 0, one, 0))]
    ):
        source = tmp_path / f"in{index}.mp4"
        make_clip(source, 64, 48, frames=1, display_matrix=[*linear, 100, 50, w], audio=False)
        with av.open(str(source)) as container:
            frame = next(container.decode(video=0))
            assert display_matrix_of(frame) == (None if kept is None else (*kept, 0, 0, w))


@pytest.mark.parametrize(
    ("suffix", "b_frames"),
    [(".mp4", False), (".mp4", True), (".mov", True), (".mkv", True), (".webm", False)],
)
def test_a_long_last_frame_keeps_its_length(tmp_path, weights, suffix, b_frames):
    # The last slide's 5 s came out as one average frame (2.33 s in MP4, 1 s in Matroska).
    # With B-frames (x264 places them on real slides) MP4 still ended at 6 s: the last
    # packet in decode order is a B-frame shown at 1 s, not the last slide.
    source = make_slide_show(tmp_path / "slides.mkv")
    out = tmp_path / f"out{suffix}"
    force = ["-e", "x264-params=b-adapt=0:scenecut=0"] if b_frames else []
    assert vsr(source, out, "--weights", weights, *force) == 0
    with av.open(str(out)) as container:
        assert container.duration / av.time_base == pytest.approx(7.0, abs=0.002)
        shown = [p.pts for p in container.demux(video=0) if p.size]  # in decode order
        assert (shown != sorted(shown)) == b_frames
    with av.open(str(out)) as container:
        assert [float(f.time) for f in container.decode(video=0)] == [0.0, 1.0, 2.0]
    if suffix in (".mp4", ".mov"):  # the decode steps and the edit list, as players read them
        timing = mp4_video_timing(out)
        assert timing.edit_seconds == timing.sample_seconds == 7


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_long_last_frame_survives_a_second_pass_through_b_frames(tmp_path, weights, suffix):
    # vsr's own output with B-frames as the source came out 3 s long, not 7: the last
    # slide's 5 s sat on the B-frame packet shown before it (Matroska), and an MP4 frame's
    # duration is its sample's decode step, another frame's. A "truncated" note came too.
    force = ["-e", "x264-params=b-adapt=0:scenecut=0"]
    first, second = tmp_path / f"first{suffix}", tmp_path / f"second{suffix}"
    assert vsr(make_slide_show(tmp_path / "slides.mkv"), first, "--weights", weights, *force) == 0
    with av.open(str(first)) as container:
        shown = [
            (float(f.time), float(f.duration * f.time_base)) for f in container.decode(video=0)
        ]
    if suffix == ".mkv":  # in MP4 a frame's duration is its decode step, whatever it shows
        assert shown[-1] == (2.0, 5.0)  # the last slide carries its own length
    report = upscale_video(first, second, weights=weights, progress=False)
    assert report.lost_frames == 0 and not any("truncated" in n for n in report.notes)
    with av.open(str(second)) as container:
        assert container.duration / av.time_base == pytest.approx(7.0, abs=0.002)
    # With a range, which reads from a keyframe on, the MP4 was called truncated (3 frames
    # "lost") and its last slide cut short: 6 s here.
    third = tmp_path / f"third{suffix}"
    report = upscale_video(first, third, weights=weights, progress=False, start=0.5)
    assert report.lost_frames == 0 and not any("truncated" in n for n in report.notes)
    with av.open(str(third)) as container:
        assert container.duration / av.time_base == pytest.approx(6.0, abs=0.002)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize(
    ("flags", "length"), [(["--start", "0.5"], 6.0), (["--start", "0.5", "--end", "4"], 3.0)]
)
def test_a_cut_keeps_what_it_holds_of_a_long_last_frame(tmp_path, weights, suffix, flags, length):
    # The slides at 1 and 2 s move to 0 and 1 s; the last one stays up to the clip's end
    # (7 s), or to the cut's (4 s). It lasted one average frame: 3.33 s in all.
    out = tmp_path / f"out{suffix}"
    assert vsr(make_slide_show(tmp_path / "slides.mkv"), out, "--weights", weights, *flags) == 0
    with av.open(str(out)) as container:
        assert container.duration / av.time_base == pytest.approx(length, abs=0.002)
        assert [float(f.time) for f in container.decode(video=0)] == [0.0, 1.0]


def test_an_end_within_a_long_frame_of_an_mp4_with_b_frames_is_kept(tmp_path, weights):
    # Slides each second, the one at 4 s shown for 3 s, through vsr's own MP4 with
    # B-frames: --end 6 ended the output at 5 s, the 4 s slide taken as lasting its
    # sample's decode step (1 s), another frame's.
    times = [0, 1, 2, 3, 4, *range(7, 14)]
    slides = tmp_path / "slides.mkv"
    out = av.open(str(slides), "w")
    video = out.add_stream("libx264", rate=1, options={"preset": "ultrafast"})
    video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
    video.codec_context.time_base = video.time_base = Fraction(1, 1000)
    packets = []
    for index, second in enumerate(times):
        rgb = np.full((48, 64, 3), 20 * index, np.uint8)
        rgb[:, : 4 * index] = 255
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = 1000 * second, Fraction(1, 1000)
        packets += video.encode(frame)
    ends = dict(zip(times, [*times[1:], times[-1] + 1], strict=True))
    for packet in packets + video.encode(None):
        packet.duration = 1000 * ends[packet.pts // 1000] - packet.pts
        out.mux(packet)
    out.close()
    force = ["-e", "x264-params=b-adapt=0:scenecut=0"]
    b_frames, cut = tmp_path / "b.mp4", tmp_path / "cut.mkv"
    assert vsr(slides, b_frames, "--weights", weights, *force) == 0
    assert vsr(b_frames, cut, "--weights", weights, "--end", "6") == 0
    with av.open(str(cut)) as container:
        assert container.duration / av.time_base == pytest.approx(6.0, abs=0.002)
        assert [float(f.time) for f in container.decode(video=0)] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_height_names_the_displayed_height_of_a_rotated_clip(tmp_path, weights):
    source = tmp_path / "in.mp4"
    make_clip(source, 64, 48, frames=3, rotation=90, audio=False)  # displayed 48x64
    out = tmp_path / "out.mp4"
    assert vsr(source, out, "--weights", weights, "--height", "128") == 0
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height, round(frame.rotation) % 180) == (128, 96, 90)
    # 52.5 wide as displayed: made even, so H.264 stays 4:2:0 (52 coded rows here).
    assert vsr(source, out, "--weights", weights, "--height", "70", "--overwrite") == 0
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.format.name) == (70, 52, "yuv420p")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-e", "nonsense=1"], "no option nonsense"),  # was silently ignored
        (["--idle-exit", "5"], "--idle-exit: only with --watch"),  # was silently ignored
        (["--batch", "0"], "--batch must be at least 1, not 0"),  # was the preset's batch
    ],
)
def test_flags_that_would_do_nothing_are_refused(tmp_path, weights, capsys, flags, message):
    source = tmp_path / "in.mp4"
    make_clip(source, 32, 24, frames=2, audio=False)
    assert vsr(source, tmp_path / "out.mp4", "--weights", weights, *flags) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("pipe_end", ["input", "output"])
def test_a_pipe_is_refused_for_what_it_is(tmp_path, weights, capsys, monkeypatch, pipe_end):
    # Was "-: no such file", or "unknown output container ''".
    source = tmp_path / "in.mp4"
    make_clip(source, 32, 24, frames=2, audio=False)
    monkeypatch.chdir(tmp_path)
    ends = ["-", "out.mp4"] if pipe_end == "input" else [source, "-"]
    assert vsr(*ends, "--weights", weights) == 2
    assert "vsr run takes files, not pipes (-)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_without_codec_a_webm_output_is_written_in_webms_own(tmp_path, weights):
    source, out, report = tmp_path / "in.mkv", tmp_path / "out.webm", tmp_path / "r.json"
    make_clip(source, frames=3, audio=False)
    assert vsr(source, out, "--weights", weights, "--report", report) == 0
    written = json.loads(report.read_text())
    assert written["codec"] == "libvpx-vp9"
    assert any("encoding with libvpx-vp9" in note for note in written["notes"])
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "vp9"
    assert vsr(source, tmp_path / "x.webm", "--weights", weights, "--codec", "libx264") == 2


def test_a_10_bit_source_into_webm_keeps_its_bits_with_av1(tmp_path, weights):
    # PyAV's libvpx has 8 bits only: VP9 turned 10-bit (and HDR) sources into 8 bits.
    source = tmp_path / "in.mkv"
    make_clip(source, frames=3, pix_fmt="yuv420p10le", codec="ffv1", audio=False)
    for name, flags, codec, pix_fmt in (
        ("deep.webm", (), "av1", "yuv420p10le"),
        ("asked-8.webm", ("--pix-fmt", "yuv420p"), "vp9", "yuv420p"),
    ):
        assert vsr(source, tmp_path / name, "--weights", weights, *flags) == 0
        with av.open(str(tmp_path / name)) as container:
            context = container.streams.video[0].codec_context
            assert (context.codec.id, context.pix_fmt) == (av.Codec(codec, "r").id, pix_fmt)


def test_an_asked_10_bit_format_into_webm_is_kept_with_av1(tmp_path, weights):
    # An 8-bit source with --pix-fmt yuv420p10le got VP9 at 8 bits, the format dropped.
    source, out, report = tmp_path / "in.mkv", tmp_path / "out.webm", tmp_path / "r.json"
    make_clip(source, frames=3, audio=False)
    flags = ("--pix-fmt", "yuv420p10le", "--report", report)
    assert vsr(source, out, "--weights", weights, *flags) == 0
    with av.open(str(out)) as container:
        context = container.streams.video[0].codec_context
        assert (context.codec.id, context.pix_fmt) == (av.Codec("av1", "r").id, "yuv420p10le")
    notes = json.loads(report.read_text())["notes"]
    assert any("encoding with libsvtav1 for yuv420p10le" in n for n in notes)


def test_a_presets_codec_settings_do_not_follow_it_into_webm(tmp_path, weights):
    """The archive preset's x265 options and 10-bit format belong to x265, not to VP9."""
    source, out, report = tmp_path / "in.mkv", tmp_path / "out.webm", tmp_path / "r.json"
    make_clip(source, frames=3, audio=False)
    assert vsr(source, out, "--weights", weights, "--pipeline", "archive", "--report", report) == 0
    notes = json.loads(report.read_text())["notes"]
    assert any("encoding with libvpx-vp9" in n and "do not apply" in n for n in notes)
    with av.open(str(out)) as container:
        assert sum(1 for p in container.demux(video=0) if p.size) == 3
        assert container.streams.video[0].codec_context.name == "vp9"  # its 10 bits: no AV1


@pytest.mark.parametrize("folder_input", [False, True])
def test_a_report_path_that_cannot_be_written_is_refused_before_upscaling(
    tmp_path, weights, folder_input, capsys
):
    clips = tmp_path / "in"
    clips.mkdir()
    clip = make_bench_clip(clips / "a.mkv", 64, 48, 2)
    source, out = (clips, tmp_path / "out") if folder_input else (clip, tmp_path / "a_x2.mkv")
    (tmp_path / "file").write_text("x")
    kept = clip.read_bytes()
    # The last: one of the input clips, which a report was written over.
    for report in (tmp_path, tmp_path / "file" / "run.json", clip):
        args = ["run", str(source), str(out), "--weights", str(weights), "--device", "cpu"]
        assert main([*args, "--quiet", "--report", str(report)]) == 2
        errors = capsys.readouterr().err.strip().splitlines()
        assert len(errors) == 1 and errors[0].startswith("vsr: error: ")
    # A folder's clip is a file in the way; a single clip is the run's own input.
    said = "a.mkv exists and is not a vsr JSON report" if folder_input else "replace the input"
    assert said in errors[0]
    assert clip.read_bytes() == kept
    assert not out.exists()  # refused before any work


@pytest.mark.parametrize(
    ("report", "role"), [("in.mkv", "input"), ("./in.mkv", "input"), ("out.mkv", "output")]
)
def test_a_report_naming_the_clip_by_a_relative_name_is_refused_as_such(
    tmp_path, weights, monkeypatch, capsys, report, role
):
    # The input named as typed, relative: it was refused as "in.mkv exists and is not a vsr
    # JSON report; ... (remove it first)", advice to delete the video to be upscaled.
    monkeypatch.chdir(tmp_path)
    kept = make_bench_clip(tmp_path / "in.mkv", 64, 48, 2).read_bytes()
    args = ["run", "in.mkv", "out.mkv", "--weights", str(weights), "--device", "cpu"]
    assert main([*args, "--quiet", "--report", report]) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: the report {report} would replace the {role} video; name another file\n"
    )
    assert (tmp_path / "in.mkv").read_bytes() == kept
    assert not (tmp_path / "out.mkv").exists()


def test_progress_in_a_log_is_plain_lines_not_a_bar(tmp_path, weights, capsys, monkeypatch):
    from vsr import progress

    # stderr is a file here (pytest captures it): no bar, and a line at every "interval".
    assert not progress.on_a_terminal()
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    clip = make_bench_clip(tmp_path / "a.mp4", 64, 48, 3)  # MP4 states its frame count
    args = ["run", str(clip), str(tmp_path / "out.mkv"), "--weights", str(weights)]
    assert main([*args, "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b[" not in err  # no carriage returns, no cursor moves
    assert "vsr: a.mp4: frame 3 of 3 (100%)" in err


def test_progress_lines_count_frames_and_wait_their_interval():
    from vsr.progress import ProgressLines

    now, lines = [0.0], []
    counter = ProgressLines("film.mkv", 300, 100, 30.0, lines.append, lambda: now[0])
    for _ in range(5):
        now[0] += 10.0
        counter(20)
    # 20 frames every 10 s: a line at 30 s; 60 s, the next, is not reached (50 s).
    assert lines == ["vsr: film.mkv: frame 160 of 300 (53%), 2.0 fps, 1 min 10 s left"]


def test_progress_lines_estimate_a_total_the_file_does_not_state(tmp_path, weights, capsys, monkeypatch):  # fmt: skip
    from vsr import progress

    # Matroska states no frame count: the lines had no total, share or time left.
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    source = tmp_path / "a.mkv"
    make_clip(source, 32, 24, frames=8, audio=False)
    assert main(["run", str(source), str(tmp_path / "out.mkv"), "--weights", str(weights)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if ": frame " in line]
    assert lines[0].startswith("vsr: a.mkv: frame 1 of ~8 (12%), ")
    assert lines[0].endswith(" s left") and not lines[-1].endswith(" left")


def test_a_remaining_time_is_as_precise_as_it_is_worth():
    from vsr.progress import time_left

    assert [time_left(s) for s in (34.6, 146, 3720)] == ["35 s", "2 min 26 s", "1 h 02 min"]
    # A minute and an hour are said in the larger unit, not as "60 s" or "60 min 00 s".
    assert [time_left(s) for s in (59.4, 59.6, 3599, 3600)] == [
        "59 s",
        "1 min 00 s",
        "59 min 59 s",
        "1 h 00 min",
    ]


def test_quiet_is_quiet_and_notes_are_said_once(tmp_path, weights, capsys):
    source = tmp_path / "in.mp4"
    make_clip(source, 32, 24, frames=3, audio=False)
    args = ["run", str(source), str(tmp_path / "a.mkv"), "--weights", str(weights)]
    assert main([*args, "--encoders", "2", "--quiet"]) == 0
    assert capsys.readouterr().err == ""  # not even the writer's debugging log
    args = ["run", str(source), str(tmp_path / "b.mkv"), "--weights", str(weights)]
    assert main([*args, "--codec", "mpeg4", "--encoders", "2"]) == 0
    err = capsys.readouterr().err.splitlines()
    notes = [line for line in err if "mpeg4 has no crf" in line]
    assert len(notes) == 1 and notes[0].startswith("vsr: note: ")


def test_a_memory_budget_tiles_the_run_and_says_so_in_the_report(tmp_path, weights):
    import json

    from media import make_clip

    from vsr.cli import main

    source = tmp_path / "in.mkv"
    make_clip(source, 96, 64, frames=2, codec="ffv1", audio=False)
    common = [str(source), "--weights", str(weights), "--codec", "ffv1", "--quiet"]
    whole, tiled, report = tmp_path / "whole.mkv", tmp_path / "tiled.mkv", tmp_path / "r.json"
    assert main(["run", common[0], str(whole), *common[1:]]) == 0
    assert main(["run", common[0], str(tiled), *common[1:], "--max-memory", "35MiB",
                 "--report", str(report)]) == 0  # fmt: skip
    plan = json.loads(report.read_text())["tile_plan"]
    assert plan["mode"] == "tiles"
    a, b = decoded(whole)[0], decoded(tiled)[0]
    assert len(a) == len(b) == 2
    for x, y in zip(a, b, strict=True):
        diff = x.planes[0].astype(float) - y.planes[0].astype(float)
        assert 10 * np.log10(255**2 / max(np.mean(diff**2), 1e-9)) > 35


def test_overlapping_cli_calls_print_each_progress_line_once_and_restore_the_logger(
    monkeypatch, capsys
):
    import logging
    import threading

    import vsr.commands.weights as weights_command

    both_inside = threading.Barrier(2)

    def command(args):
        both_inside.wait(10)
        logging.getLogger("vsr.progress").info("vsr: a progress line")
        both_inside.wait(10)
        return 0

    monkeypatch.setattr(weights_command, "list_weights", command)
    threads = [threading.Thread(target=main, args=(["weights", "list"],)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert capsys.readouterr().err.count("vsr: a progress line") == 2  # one per call
    logger = logging.getLogger("vsr.progress")
    assert (logger.level, logger.propagate, logger.handlers) == (logging.NOTSET, True, [])


def test_an_output_name_too_long_for_its_temporary_file_is_one_clear_error(
    tmp_path, weights, capsys
):
    source = tmp_path / "in.mp4"
    make_clip(source, 32, 24, frames=2, audio=False)
    out = tmp_path / ("o" * 246 + ".mkv")  # 250 bytes: the temporary name adds the pid
    assert vsr(source, out, "--weights", weights) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the name is too long by " in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_the_report_names_the_compile_mode_that_ran(tmp_path, weights, monkeypatch):
    # A preset's mode (--compile keeps it) was reported as true once the report also
    # checked that every call ran compiled.
    from vsr import upscale as upscale_module

    monkeypatch.setattr(upscale_module, "compile_network", lambda network, *a, **k: network)
    source = tmp_path / "in.mp4"
    make_clip(source, 48, 32, frames=2)
    for compile in ("max-autotune-no-cudagraphs", True, False):
        report = upscale_video(
            source,
            tmp_path / "out.mp4",
            weights=weights,
            device="cpu",
            compile=compile,
            progress=False,
            overwrite=True,
        )
        assert report.fast_path["compile"] == compile, compile


def test_crf_minus_1_for_an_encoder_without_crf_is_ignored_with_a_note_as_any_crf(
    tmp_path, weights, capsys
):
    # Was "vsr: error: crf -1: ffv1 reads it as unset (its default); use 0 or more", exit 2,
    # where --crf 5 runs with the note: ffv1 has no crf to read -1 in.
    clip = tmp_path / "in.mp4"
    make_clip(clip, 32, 24, frames=2, audio=False)
    output = tmp_path / "out.mkv"
    status = main(["run", str(clip), str(output), "--weights", str(weights),
                   "--codec", "ffv1", "--crf", "-1"])  # fmt: skip
    assert status == 0
    assert "vsr: note: ffv1 has no crf option; --crf ignored" in capsys.readouterr().err
    with av.open(str(output)) as done:
        assert done.streams.video[0].codec_context.name == "ffv1"
        assert sum(1 for _ in done.decode(video=0)) == 2


def test_a_negative_crf_is_one_line_that_names_the_range(tmp_path, weights, capsys):
    # Was "vsr: error: libx264 rejected crf=-5 (Numerical result out of range)".
    clip = tmp_path / "in.mp4"
    make_clip(clip, 32, 24, frames=2, audio=False)
    status = main(["run", str(clip), str(tmp_path / "out.mp4"), "--weights", str(weights),
                   "--crf", "-5", "--quiet"])  # fmt: skip
    assert status == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "vsr: error: crf -5: libx264 takes 0 to 51"
    ]
    assert not (tmp_path / "out.mp4").exists()


def test_a_closed_terminal_stops_a_run_as_ctrl_c_does(tmp_path, weights, monkeypatch, capsys):
    # SIGHUP (the terminal or SSH session closed) ended vsr on the spot: exit 129 and its
    # hidden temporary output left in the output's folder.
    source = tmp_path / "in.mkv"
    make_clip(source, 32, 24, frames=4, codec="ffv1", audio=False)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    real_frames = VideoReader.frames
    seen_while_writing = []

    def frames(self, *args, **kwargs):
        for number, frame in enumerate(real_frames(self, *args, **kwargs)):
            if number == 2:
                seen_while_writing.extend(out_dir.iterdir())
                signal.raise_signal(signal.SIGHUP)
            yield frame

    monkeypatch.setattr(VideoReader, "frames", frames)
    # Without vsr's own handler, this one, not SIGHUP's default (which would end pytest).
    heard = []
    before = signal.signal(signal.SIGHUP, lambda number, frame: heard.append(number))
    try:
        status = vsr(source, out_dir / "o.mkv", "--weights", weights, "--codec", "ffv1")
    finally:
        signal.signal(signal.SIGHUP, before)
    assert seen_while_writing, "the signal came before the temporary file was made"
    assert status == 130 and "vsr: interrupted" in capsys.readouterr().err
    assert list(out_dir.iterdir()) == []


def test_the_report_names_the_weights_that_ran_not_only_the_architecture(tmp_path, weights):
    # Every report said "network": "imdn" alone: the official IMDN_x2.pth and the bundled
    # imdn_x2.safetensors could not be told apart. Now as vsr eval --json names them.
    import hashlib
    import json

    from vsr.weights import WEIGHTS_DIR, load_manifest

    source = tmp_path / "in.mkv"
    make_clip(source, 32, 18, frames=1, codec="ffv1", audio=False)
    report = tmp_path / "r.json"
    common = [str(source), str(tmp_path / "out.mkv"), "--codec", "ffv1", "--quiet", "--overwrite"]
    assert main(["run", *common, "--weights", str(weights), "--report", str(report)]) == 0
    recorded = json.loads(report.read_text())
    assert recorded["network"] == "imdn_rtc"
    assert recorded["weights"] == str(weights.resolve())
    assert recorded["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()

    assert main(["run", *common, "--report", str(report)]) == 0  # the bundled x2 weights
    recorded = json.loads(report.read_text())
    bundled = load_manifest()["vsr_imdn_x2"]
    assert (recorded["network"], recorded["weights"]) == ("imdn", "vsr_imdn_x2")
    assert recorded["weights_sha256"] == bundled["sha256"]
    assert (WEIGHTS_DIR / bundled["file"]).is_file()

    torch.manual_seed(0)
    module = create_model("imdn", 2, features=16, blocks=1)
    passed_in = upscale_video(source, tmp_path / "m.mkv", weights=module, device="cpu",
                              progress=False)  # fmt: skip
    assert (passed_in.network, passed_in.weights, passed_in.weights_sha256) == (
        "imdn",
        "network passed in",
        None,
    )


def test_an_output_s_container_is_known_whatever_the_case_of_its_suffix():
    # OUT.WEBM is written as a WebM like out.webm: checked as one before the run, not only
    # when its clip gets there.
    from vsr.cli import build_parser
    from vsr.commands.run import _containers_written

    def written(output: str):
        return _containers_written(build_parser().parse_args(["run", "in.mp4", output]))

    assert written("OUT.WEBM") == written("out.webm") is not None
    assert written("Out.Mkv") == written("out.mkv") is not None
    assert written("out.xyz") is None  # a type vsr does not write: refused later
