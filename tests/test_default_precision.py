"""The precision a device gets when none is asked for: fp16 on CUDA; on the CPU bf16 where
it has bf16 instructions, fp32 elsewhere, and fp32 whenever a preset asks for it."""

from __future__ import annotations

import pytest
import torch

from vsr import default_precision as chooser
from vsr.default_precision import cpu_computes_bf16, default_precision
from vsr.models import create_model
from vsr.upscale import Upscaler

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"),
    [(True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")],
)
def test_the_cpu_gets_bf16_only_with_bf16_instructions(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert cpu_computes_bf16.__wrapped__() == (expected == "bf16")
    monkeypatch.setattr(chooser, "cpu_computes_bf16", cpu_computes_bf16.__wrapped__)
    assert default_precision(CPU) == expected
    assert Upscaler(create_model("imdn_rtc"), device="cpu").precision == expected
    assert default_precision(torch.device("cuda")) == "fp16"  # whatever the host's CPU


@pytest.mark.parametrize(
    ("cap", "bf16"),
    [
        ("AVX512_CORE", False),
        ("avx2", False),
        ("AVX512_CORE_BF16", True),
        ("ALL", True),
        (" ALL", True),  # padded, as a script may write it: ALL all the same
        ("default", True),  # oneDNN's own word for no cap
    ],
)
def test_onednn_capped_below_bf16_instructions_means_fp32(monkeypatch, cap, bf16):
    """Under such a cap oneDNN emulates bf16: 2.2x slower than fp32 at AVX512_CORE."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert cpu_computes_bf16.__wrapped__() == bf16
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", cap)
    assert cpu_computes_bf16.__wrapped__() == bf16


def test_onednn_switched_off_means_fp32(monkeypatch):
    monkeypatch.setattr(chooser, "cpu_computes_bf16", lambda: True)
    assert default_precision(CPU) == "bf16"
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    assert default_precision(CPU) == "fp32"


@pytest.mark.parametrize(
    ("cpuinfo", "fp16"),
    [
        ("flags\t\t: fpu avx2 avx512f avx512_fp16\n", True),
        ("flags\t\t: fpu avx2 avx512f avx512_bf16\n", False),
        (None, True),  # no /proc/cpuinfo (not Linux): no note rather than a wrong one
    ],
)
def test_fp16_in_hardware_is_read_from_the_cpus_flags(monkeypatch, cpuinfo, fp16):
    import io

    def read_cpuinfo(path, *args, **kwargs):
        assert path == "/proc/cpuinfo"
        if cpuinfo is None:
            raise FileNotFoundError(path)
        return io.StringIO(cpuinfo)

    monkeypatch.setattr(torch.cpu, "_is_amx_fp16_supported", lambda: False, raising=False)
    monkeypatch.setattr(chooser, "open", read_cpuinfo, raising=False)
    assert chooser.cpu_computes_fp16.__wrapped__() == fp16


def test_a_torch_without_the_probes_or_onednn_means_fp32(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert not cpu_computes_bf16.__wrapped__()  # bf16 without oneDNN is emulated
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert not cpu_computes_bf16.__wrapped__()


@pytest.mark.parametrize("has_bf16", [True, False])
def test_on_the_cpu_a_preset_decides_the_precision_only_when_it_asks_for_fp32(
    monkeypatch, has_bf16
):
    from vsr.cli import build_parser
    from vsr.commands.run import _settings_and_model_options

    monkeypatch.setattr(chooser, "cpu_computes_bf16", lambda: has_bf16)

    def precision(*flags: str) -> str:
        args = build_parser().parse_args(["run", "in.mp4", "out.mp4", "--device", "cpu", *flags])
        _, model = _settings_and_model_options(args)
        return Upscaler(create_model("imdn_rtc"), "cpu", model["precision"]).precision

    cpu_default = "bf16" if has_bf16 else "fp32"
    assert precision() == cpu_default  # the default preset's fp16 is a GPU setting
    assert precision("--pipeline", "fast") == cpu_default
    assert precision("--pipeline", "archive") == "fp32"  # "full-precision network"
    assert precision("--pipeline", "archive", "--precision", "bf16") == "bf16"


@pytest.mark.skipif(not cpu_computes_bf16(), reason="this CPU runs fp32 by default")
def test_the_cpus_bf16_default_stays_within_a_hundredth_of_a_db_on_a_whole_set5_image():
    """Issue 4 item 3 for the CPU's default: official x2 weights, MATLAB convention (Y,
    shave 2), the whole of butterfly, and at least 50 dB against the fp32 output."""
    from conftest import shared_path

    from vsr.image import upscale_image
    from vsr.imageio import read_image
    from vsr.metrics import crop_to_common, psnr, rgb_to_y
    from vsr.models import load_weights

    checkpoint = shared_path("imdn-official", "checkpoints", "IMDN_x2.pth")
    set5 = shared_path("datasets", "benchmark", "Set5")
    hr = read_image(set5 / "HR" / "butterfly.bmp")[:, :, :3]
    lr = read_image(set5 / "LR_bicubic" / "X2" / "butterflyx2.bmp")[:, :, :3]
    # A fresh network each time: the Upscaler casts the module it is given in place.
    outputs = {
        name: upscale_image(Upscaler(load_weights(checkpoint), "cpu", precision), lr)
        for name, precision in (("fp32", "fp32"), ("default", None))
    }
    y = {name: rgb_to_y(crop_to_common(sr, hr)[0]) for name, sr in outputs.items()}
    reference = rgb_to_y(crop_to_common(outputs["fp32"], hr)[1])
    full = psnr(y["fp32"], reference, shave=2)
    assert 30 < full < 40  # the network works (butterfly x2 is about 35.4 dB whole)
    assert abs(psnr(y["default"], reference, shave=2) - full) <= 0.01
    assert psnr(outputs["default"], outputs["fp32"]) >= 50


def test_bf16_is_given_the_memory_of_fp32():
    """bf16 keeps float32 ends and copies of float32 maps: its peak on the CPU was about
    fp32's (4717 against 5008 bytes per input pixel), so its tiles must not be twice as
    large, which ran a 1100 MiB budget's 960x540 frame whole at 2442 MiB."""
    model = create_model("imdn", 2)
    budget = 64 << 20
    fp32 = Upscaler(model, "cpu", "fp32", max_memory=budget).max_pixels
    assert Upscaler(model, "cpu", "bf16", max_memory=budget).max_pixels == fp32
    assert Upscaler(model, "cpu", "fp16", max_memory=budget).max_pixels > fp32  # fp16 alone


def test_bf16_asked_of_a_cpu_without_bf16_instructions_is_a_note(monkeypatch):
    from vsr import upscale

    monkeypatch.setattr(upscale, "cpu_computes_bf16", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    with pytest.warns(UserWarning, match="bf16 is emulated on this CPU"):
        up = Upscaler(create_model("imdn_rtc"), "cpu", "bf16")
    assert up.notes and "has no bf16 instructions" in up.notes[0]
    assert "50x on an AVX2 CPU" in up.notes[0]
    monkeypatch.setattr(upscale, "cpu_computes_bf16", lambda: True)
    assert Upscaler(create_model("imdn_rtc"), "cpu", "bf16").notes == []


@pytest.mark.parametrize("variable", ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"])
def test_bf16_emulated_under_a_onednn_cap_blames_the_cap_not_the_cpu(monkeypatch, variable):
    # It told a CPU with AVX512_BF16 that it had no bf16 instructions.
    from vsr import upscale

    monkeypatch.setattr(upscale, "cpu_computes_bf16", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setenv(variable, "avx2")
    with pytest.warns(UserWarning, match="bf16 is emulated on this CPU"):
        up = Upscaler(create_model("imdn_rtc"), "cpu", "bf16")
    assert f"{variable}=avx2 keeps oneDNN from this CPU's bf16 instructions" in up.notes[0]
    assert "no bf16 instructions" not in up.notes[0]


@pytest.mark.parametrize(
    ("instructions", "onednn", "cap", "blamed"),
    [
        # Under a cap, a CPU without the instructions was told the cap kept it from them.
        (False, True, "AVX2", "this CPU has no bf16 instructions (AVX512_BF16 or AMX)"),
        (True, True, "AVX2", "ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN from this CPU's bf16"),
        (True, False, None, "this torch is built without oneDNN, which runs bf16 on this"),
        (False, False, None, "this CPU has no bf16 instructions (AVX512_BF16 or AMX)"),
    ],
)
def test_bf16_emulated_is_told_why_by_the_cpu_the_build_and_the_cap(
    monkeypatch, instructions, onednn, cap, blamed
):
    from vsr.default_precision import why_bf16_is_emulated

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: instructions)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: onednn)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert why_bf16_is_emulated().startswith(blamed)


def test_fp16_asked_of_a_cpu_without_fp16_instructions_is_a_note(monkeypatch):
    # It ran without a word at 44 s a frame where fp32 took 0.2 s (128x128, IMDN x2).
    from vsr import upscale

    monkeypatch.setattr(upscale, "cpu_computes_fp16", lambda: False)
    with pytest.warns(UserWarning, match="fp16 is emulated on this CPU"):
        up = Upscaler(create_model("imdn_rtc"), "cpu", "fp16")
    assert up.notes[0].endswith("precision='fp32' or bf16 is far faster")
    monkeypatch.setattr(upscale, "cpu_computes_fp16", lambda: True)
    assert Upscaler(create_model("imdn_rtc"), "cpu", "fp16").notes == []
