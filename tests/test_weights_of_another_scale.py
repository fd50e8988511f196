"""Weights asked to upscale by another factor than their own are refused in the same words
by every command that runs them at their own factor (vsr.weights.load_network), before any
heavy work. vsr run, vsr image and the API's load_model serve a smaller factor instead (their
output shrunk; tests/test_image_command.py, tests/test_api.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vsr
import vsr.bench
import vsr.weights
from vsr.cli import main
from vsr.imageio import write_image
from vsr.models import create_model, save_weights

REFUSAL = "x3.safetensors upscales by 3, not by 2 (--scale 2); give --scale 3 or leave it out"


@pytest.fixture
def x3_weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "x3.safetensors"
    save_weights(create_model("imdn", 3, features=16, blocks=1), path)
    return path


def _image(tmp_path):
    path = tmp_path / "in.png"
    write_image(path, np.zeros((8, 8, 3), np.uint8))
    return path


def _empty_dataset(tmp_path):
    (tmp_path / "Tiny" / "HR").mkdir(parents=True)  # scoring it would be refused: no images
    return tmp_path / "Tiny"


COMMANDS = {
    "eval": lambda tmp: ["eval", str(_empty_dataset(tmp)), "--device", "cpu"],
    "profile": lambda tmp: ["profile", "--size", "8x8", "--device", "cpu"],
    "viz": lambda tmp: [
        "viz",
        "feature-maps",
        str(_image(tmp)),
        "--block",
        "1",
        "-o",
        str(tmp / "maps.png"),
    ],
    "bench --model-only": lambda tmp: ["bench", "--model-only", "--sizes", "8", "--device", "cpu"],
    "bench": lambda tmp: ["bench", "--width", "16", "--height", "16", "--device", "cpu"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_weights_of_another_scale_are_refused_in_the_same_words(
    command, x3_weights, tmp_path, capsys, monkeypatch
):
    # The same mistake was told four ways: bench's "these weights upscale x3; pass --scale 3",
    # profile's and viz's "... upscales by 3, not by 2 (--scale)", image's and eval's
    # "... upscales by 3, not by 2".
    def no_clip(*args, **kwargs):
        raise AssertionError("the bench clip was made before the weights were checked")

    monkeypatch.setattr(vsr.bench, "make_bench_clip", no_clip)
    argv = [*COMMANDS[command](tmp_path), "--weights", str(x3_weights), "--scale", "2"]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"vsr: error: {REFUSAL}\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".png") == (
        ["in.png"] if command == "viz" else []
    )


def test_a_manifest_name_says_it_in_the_same_words(x3_weights, monkeypatch):
    entry = {"file": x3_weights.name, "scale": 3}
    monkeypatch.setattr(vsr.weights, "load_manifest", lambda: {"IMDN_x3": entry})
    with pytest.raises(vsr.VsrError) as refused:
        vsr.weights.load_network("IMDN_x3", 2)
    assert str(refused.value) == (
        "IMDN_x3 upscales by 3, not by 2 (scale=2); give scale=3 or leave it out"
    )
    with pytest.raises(vsr.VsrError) as refused:
        vsr.weights.load_network(x3_weights, 2)
    assert str(refused.value) == REFUSAL.replace("--scale ", "scale=")
