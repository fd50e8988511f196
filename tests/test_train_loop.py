"""The training loop on a tiny dataset: it learns, resumes exactly, and initialises scales."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import vsr.train.loop as loop
from vsr.errors import VsrError
from vsr.models import create_model, load_weights, save_weights
from vsr.models.checkpoint import read_state_dict
from vsr.train.checkpoint import export_weights
from vsr.train.config import TrainConfig, load_config
from vsr.train.data import PatchStore, batch_generator
from vsr.train.transfer import init_from_other_scale


def make_dataset(folder, count: int = 3, size: int = 40) -> None:
    """Smooth random images (learnable, unlike noise) as PNG files."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        coarse = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((size, size), Image.BILINEAR)
        image.save(folder / f"img{i}.png")


def tiny_config(tmp_path, **changes) -> TrainConfig:
    make_dataset(tmp_path / "data")
    settings = dict(
        train_dir=str(tmp_path / "data"), arch="imdn_rtc", scale=2, patch=16, batch=4,
        steps=6, lr=2e-3, schedule="cosine", log_every=2, save_every=100,
        out=str(tmp_path / "run"), threads=1, device="cpu",
    )  # fmt: skip
    settings.update(changes)
    config = TrainConfig(**settings)
    config.validate()
    return config


def test_a_few_steps_reduce_the_loss(tmp_path) -> None:
    # Validation on one training image laid out as a benchmark: enough to exercise it.
    make_dataset(tmp_path / "val" / "HR", count=1)
    config = tiny_config(tmp_path, steps=10, val_dir=str(tmp_path / "val"))
    store = PatchStore.from_folder(config.train_dir, 2, 8)
    fixed = store.sample(16, batch_generator(seed=123, rank=0, step=0))
    lr, hr = fixed.lr.float() / 255, fixed.hr.float() / 255
    torch.manual_seed(config.seed)  # the loop's initial weights
    before = F.l1_loss(create_model("imdn_rtc", 2)(lr), hr).item()
    model = loop.train(config)
    with torch.no_grad():
        after = F.l1_loss(model(lr), hr).item()
    assert after < 0.7 * before  # about 0.5x after 8 steps
    saved = load_weights(tmp_path / "run" / "last.safetensors")
    for key, value in model.state_dict().items():
        assert torch.equal(saved.state_dict()[key], value)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert [int(row["step"]) for row in rows if row["loss"]] == [2, 4, 6, 8, 10]
    (final,) = [row for row in rows if row["val_psnr"]]
    assert int(final["step"]) == 10 and float(final["val_psnr"]) > 10
    assert (tmp_path / "run" / "best.safetensors").is_file()


def test_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch) -> None:
    whole = loop.train(tiny_config(tmp_path, out=str(tmp_path / "whole"), steps=6))

    # The same run, killed right after its checkpoint at step 3, then resumed to step 6.
    class Killed(Exception):
        pass

    real_save = loop.save_checkpoint

    def save_then_die(path, state):
        real_save(path, state)
        raise Killed

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    split = tiny_config(tmp_path, out=str(tmp_path / "split"), steps=6, save_every=3)
    with pytest.raises(Killed):
        loop.train(split)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    assert torch.load(tmp_path / "split" / "last.pt", weights_only=True)["step"] == 3
    with pytest.raises(VsrError, match="resume"):
        loop.train(split)  # an existing run is never overwritten silently
    resumed = loop.train(split, resume=True)

    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 6
    for index, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(b["optimizer"]["state"][index][name], value)
    # A checkpoint exports to the same weights the run wrote at its end.
    export_weights(tmp_path / "split" / "last.pt", tmp_path / "exported.safetensors")
    exported, metadata = read_state_dict(tmp_path / "exported.safetensors")
    final, _ = read_state_dict(tmp_path / "split" / "last.safetensors")
    assert metadata["steps"] == "6" and metadata["arch"] == "imdn_rtc"
    for key, value in final.items():
        assert torch.equal(exported[key], value)


def test_init_from_copies_all_but_the_upsampler(tmp_path) -> None:
    torch.manual_seed(1)
    x2 = create_model("imdn", 2)
    save_weights(x2, tmp_path / "x2.safetensors")
    x3 = create_model("imdn", 3)
    upsampler_before = {k: v.clone() for k, v in x3.state_dict().items() if "upsampler" in k}
    copied = init_from_other_scale(x3, tmp_path / "x2.safetensors")
    source, _ = read_state_dict(tmp_path / "x2.safetensors")
    assert copied and not any(k.startswith("upsampler.") for k in copied)
    for key, value in x3.state_dict().items():
        if key.startswith("upsampler."):
            assert torch.equal(value, upsampler_before[key])
        else:
            assert key in copied
            assert torch.equal(value, source[key])
    save_weights(create_model("imdn_rtc", 2), tmp_path / "rtc.safetensors")
    with pytest.raises(VsrError):
        init_from_other_scale(create_model("imdn", 4), tmp_path / "rtc.safetensors")


def test_config_file_and_overrides(tmp_path) -> None:
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('train_dir = "data"\nsteps = 10\nlr = 1\nschedule = "cosine"\n')
    config = load_config(recipe, {"steps": 20, "batch": None})
    assert config.train_dir == str(tmp_path / "data")  # relative to the recipe
    assert (config.steps, config.lr, config.batch) == (20, 1.0, 16)
    recipe.write_text('train_dir = "data"\nstep = 10\n')
    with pytest.raises(VsrError, match="unknown setting"):
        load_config(recipe)
    with pytest.raises(VsrError, match="multiple of scale"):
        load_config(None, {"train_dir": "x", "scale": 3, "patch": 100})


def test_step_schedule_halves_and_cosine_ends_at_the_floor(tmp_path) -> None:
    model = create_model("imdn_rtc", 2)
    step_config = tiny_config(tmp_path, schedule="step", lr=1.0, lr_step=3, steps=9)
    cosine_config = tiny_config(tmp_path, schedule="cosine", lr=1.0, lr_min=0.01, steps=9)
    for config, expected in [(step_config, [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]),
                             (cosine_config, None)]:  # fmt: skip
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
        scheduler = loop.make_scheduler(optimizer, config)
        rates = []
        for _ in range(10):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        if expected is not None:
            assert rates == pytest.approx(expected)
        else:
            assert rates[0] == 1.0 and rates[9] == pytest.approx(0.01)
            assert all(a > b for a, b in zip(rates[:-1], rates[1:], strict=True))


def test_train_command_reports_user_mistakes(tmp_path, capsys) -> None:
    from vsr.cli import main

    assert main(["train", "--config", str(tmp_path / "absent.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(["train", "--train-dir", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "training folder not found" in capsys.readouterr().err
    assert not out.exists()  # nothing is created for a run that cannot start
