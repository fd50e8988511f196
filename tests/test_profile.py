"""`vsr profile`: counts checked against an independent analytic count and the official
parameter numbers; depth checked on a network whose longest path is known."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from torch import nn

from vsr.cli import main
from vsr.errors import VsrError
from vsr.models import create_model, save_weights
from vsr.profiling import (
    KNOWN_MODELS,
    conv_census,
    conv_depth,
    count_flops,
    count_parameters,
    input_for_output,
    profile_model,
)

# Parameter counts of the official checkpoints (Zheng222/IMDN).
OFFICIAL_PARAMETERS = {
    "IMDN x2": 694_404,
    "IMDN x3": 703_059,
    "IMDN x4": 715_176,
    "IMDN_AS": 752_104,
    "IMDN_RTC": 20_190,
    "IMDN_RTE": 89_748,
}


def analytic_conv_macs(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """Multiply-adds and output elements of every Conv2d, from the shapes its hooks see:
    kernel_h * kernel_w * in / groups * out * H_out * W_out per call."""
    macs, elements = [], []

    def hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        kh, kw = module.kernel_size
        per_output = kh * kw * module.in_channels // module.groups
        macs.append(per_output * output.numel())
        elements.append(output.numel())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return sum(macs), sum(elements)


def test_parameter_counts_equal_the_official_checkpoints():
    counts = {
        name: count_parameters(create_model(arch, scale)) for name, arch, scale in KNOWN_MODELS
    }
    assert counts == OFFICIAL_PARAMETERS


@pytest.mark.parametrize("name, arch, scale", KNOWN_MODELS)
def test_flops_and_activations_agree_with_the_analytic_count(name, arch, scale):
    # The acceptance size 3 x 256 x 256, on the meta device: shapes only, no arithmetic.
    model = create_model(arch, scale).to("meta").eval()
    x = torch.empty(1, 3, 256, 256, device="meta")
    macs, elements = analytic_conv_macs(model, x)
    activations, convolutions = conv_census(model, x)
    assert count_flops(model, x) == 2 * macs
    assert activations == elements
    assert convolutions == sum(1 for m in model.modules() if isinstance(m, nn.Conv2d))


def test_multiply_adds_match_the_papers_figures_for_a_720p_output():
    # The paper gives Multi-Adds for a 1280x720 output: 158.8G (x2) and 40.9G (x4).
    x2 = count_flops(create_model("imdn", 2).to("meta"), torch.empty(1, 3, 360, 640, device="meta"))
    x4 = count_flops(create_model("imdn", 4).to("meta"), torch.empty(1, 3, 180, 320, device="meta"))
    assert round(x2 / 2 / 1e9, 1) == 158.8
    assert round(x4 / 2 / 1e9, 1) == 40.9


class TwoBranches(nn.Module):
    """A 3-conv branch and a 1-conv branch joined by a concatenation and a final conv:
    5 convolutions, 4 of them on the longest path."""

    def __init__(self) -> None:
        super().__init__()
        self.long = nn.Sequential(*[nn.Conv2d(3, 3, 3, padding=1) for _ in range(3)])
        self.short = nn.Conv2d(3, 3, 1)
        self.join = nn.Conv2d(6, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.join(torch.cat([self.long(x), torch.relu(self.short(x))], dim=1)) + x


def test_depth_follows_the_longest_path_not_the_number_of_convolutions():
    x = torch.rand(1, 3, 8, 8)
    assert conv_census(TwoBranches(), x)[1] == 5
    assert conv_depth(TwoBranches(), x) == 4
    # IMDN x2: shallow conv, 6 blocks of 4 distillation convs + 2 CCA + 1 fusion conv, then
    # the 1x1 fusion, LR_conv and the upsampler; all of them lie on one chain.
    imdn = create_model("imdn", 2).to("meta")
    assert conv_depth(imdn, torch.empty(1, 3, 16, 16, device="meta")) == 1 + 6 * 7 + 3


def test_profile_model_measures_a_small_input_on_the_cpu():
    profile = profile_model(create_model("imdn_rte", 2), (16, 24), "cpu", warmup=0, repeats=1)
    assert profile.name == "IMDN_RTE"
    assert profile.output_size == (32, 48)
    assert profile.parameters == 89_748
    assert profile.macs * 2 == profile.flops > 0
    assert profile.memory_measure == "peak RSS growth"
    if sys.platform.startswith("linux"):  # VmHWM is Linux's
        assert profile.peak_memory_bytes >= 3 * 32 * 48 * 4  # at least the float output
    assert profile.time_ms > 0
    assert "wall clock" in profile.timing


def test_sizes_the_network_cannot_take_are_refused():
    with pytest.raises(VsrError, match="multiples of 4"):
        profile_model(create_model("imdn_as"), (30, 32), "cpu")


def test_profile_all_checks_every_networks_input_before_timing_any(capsys, monkeypatch):
    # 256x254 suits IMDN x2, x3 and x4 but not IMDN_AS (multiples of 4): the three were
    # timed first, and the refusal came after them with no table printed.
    import vsr.profiling

    timed = []
    real = vsr.profiling.profile_model

    def recording(model, size, *args, **kwargs):
        timed.append(kwargs.get("name"))
        return real(model, size, *args, **kwargs)

    monkeypatch.setattr(vsr.profiling, "profile_model", recording)
    flags = ["--all", "--device", "cpu", "--repeats", "1"]
    assert main(["profile", *flags, "--size", "32x30"]) == 2
    said = capsys.readouterr().err
    assert said == "vsr: error: IMDN_AS needs input sides that are multiples of 4; got 32x30\n"
    assert timed == []
    assert main(["profile", *flags, "--size", "32x32"]) == 0  # the record does record
    assert len(timed) == 6
    # What was timed: fp32, where vsr run's default on this CPU may be bf16.
    assert "\ntime (cpu, fp32) " in capsys.readouterr().out


def test_an_empty_weights_or_model_is_refused_not_taken_for_all(capsys):
    # `vsr profile --weights "$W"` with W unset profiled all six networks (exit 0).
    assert main(["profile", "--weights", "", "--device", "cpu"]) == 2
    assert main(["profile", "--model", "", "--device", "cpu"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "vsr: error: --weights is empty (an unset variable?); give it a value, or leave it out "
        "(see: vsr profile --help)",
        "vsr: error: --model is empty (an unset variable?); give it a value, or leave it out "
        "(see: vsr profile --help)",
    ]


def test_command_prints_a_table_and_writes_json(tmp_path, capsys):
    weights = tmp_path / "x3.safetensors"
    save_weights(create_model("imdn", 3), weights)
    report = tmp_path / "profile.json"
    status = main(
        [
            "profile",
            "--weights",
            str(weights),
            "--size",
            "12x8",  # width x height, as vsr bench and vsr run write sizes
            "--repeats",
            "1",
            "--json",
            str(report),
        ]
    )
    assert status == 0
    table = capsys.readouterr().out
    assert "IMDN x3" in table and "703,059" in table
    cells = {line.split()[0]: line.split()[1:] for line in table.splitlines() if line.strip()}
    assert (cells["input"], cells["output"]) == (["12x8"], ["36x24"])  # width x height
    (record,) = json.loads(report.read_text())["profiles"]
    assert record["parameters"] == 703_059
    # Width first, as every report of vsr's: it was [24, 36], the tensor's order, under the
    # key run and bench reports write [36, 24] under.
    assert (record["input_size"], record["output_size"]) == ([12, 8], [36, 24])
    assert record["sizes"] == "width, height"
    assert record["memory_measure"] == "peak RSS growth"
    assert "memory: how far the process's resident set rose during one pass" in table


def test_a_scale_the_weights_do_not_have_is_refused(tmp_path, capsys):
    # It was ignored: the x3 weights were profiled as asked for x2, without a word.
    weights = tmp_path / "x3.safetensors"
    save_weights(create_model("imdn", 3), weights)
    assert main(["profile", "--weights", str(weights), "--scale", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "vsr: error: x3.safetensors upscales by 3, not by 2 (--scale 2); give --scale 3 or "
        "leave it out"
    )
    as_weights = tmp_path / "as.safetensors"
    save_weights(create_model("imdn_as", 1), as_weights)
    assert main(["profile", "--weights", str(as_weights), "--scale", "2"]) == 2
    assert "as.safetensors keeps its input's size" in capsys.readouterr().err
    # --model imdn_as --scale 2 profiled the same-size network as if it were the x2 asked.
    assert main(["profile", "--model", "imdn_as", "--scale", "2", "--size", "8x8"]) == 2
    assert "imdn_as keeps its input's size" in capsys.readouterr().err
    assert main(["profile", "--scale", "3"]) == 2  # --all profiles every scale
    assert "--scale goes with --model or --weights" in capsys.readouterr().err


def test_command_reports_a_bad_size_on_one_line(capsys):
    status = main(["profile", "--model", "imdn_rte", "--size", "15x16", "--device", "cpu"])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        "vsr: error: IMDN_RTE needs input sides that are multiples of 2; got 15x16"
    )


def test_command_refuses_no_timed_runs_on_one_line(capsys):
    # A median of no timings is no figure to print.
    argv = ["profile", "--model", "imdn_rte", "--size", "16x16", "--device", "cpu"]
    assert main([*argv, "--repeats", "0"]) == 2
    assert capsys.readouterr().err == "vsr: error: --repeats must be at least 1\n"


def test_command_refuses_a_size_beyond_the_memory_before_allocating(capsys):
    status = main(["profile", "--model", "imdn", "--size", "100000x100000", "--device", "cpu"])
    assert status == 2  # was a RuntimeError traceback from the allocator
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("vsr: error: IMDN x2 on a 100000x100000 input needs about ")
    assert line.endswith("; use a smaller --size")
    # Given as an output size, the refusal named the --size nobody typed.
    args = ["profile", "--model", "imdn", "--output", "200000x200000", "--device", "cpu"]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("; use a smaller --output")


def test_one_output_size_gives_each_network_its_own_input_as_the_paper_counts(capsys):
    # The paper's Multi-Adds are for a 1280x720 output: x3 reaches it from 427x240.
    assert input_for_output(create_model("imdn", 3), 1280, 720) == (240, 427)
    assert input_for_output(create_model("imdn_as"), 30, 18) == (20, 32)  # multiples of 4
    assert input_for_output(create_model("imdn_rte", 2), 30, 18) == (10, 16)  # even sides
    status = main(["profile", "--all", "--output", "48x24", "--device", "cpu", "--repeats", "1"])
    assert status == 0
    table = capsys.readouterr().out.splitlines()
    inputs = next(line for line in table if line.startswith("input")).split()[1:]
    assert inputs == ["24x12", "16x8", "12x6", "48x24", "24x12", "24x12"]


def test_without_a_size_a_network_is_profiled_at_the_papers_256x256(capsys, monkeypatch):
    # The size the paper's counts are given at (3 x 256 x 256), as the help promises.
    import vsr.profiling

    asked = []

    def stopping(model, size, *args, **kwargs):
        asked.append(size)
        raise VsrError("stopped before the timing")

    monkeypatch.setattr(vsr.profiling, "profile_model", stopping)
    assert main(["profile", "--model", "imdn_rte", "--device", "cpu", "--repeats", "1"]) == 2
    assert asked == [(256, 256)]
