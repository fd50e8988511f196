"""The training loop on a tiny dataset: it learns, resumes exactly, and initialises scales."""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import vsr.train.loop as loop
from vsr.errors import VsrError
from vsr.models import create_model, load_weights, save_weights
from vsr.models.checkpoint import read_state_dict
from vsr.train.budget import MEASURE_STEPS, WARMUP_STEPS
from vsr.train.checkpoint import export_weights
from vsr.train.config import TrainConfig, load_config
from vsr.train.data import PatchStore, batch_generator
from vsr.train.trainlog import CSV_FIELDS
from vsr.train.transfer import init_from_weights


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


class Killed(Exception):
    """Stands in for the process being killed."""


def train_until_the_first_checkpoint(config: TrainConfig, monkeypatch) -> None:
    """Run `config` until it has saved its first checkpoint, then kill it (as a crash
    would, with nothing else written)."""
    real_save = loop.save_checkpoint

    def save_then_die(path, state):
        real_save(path, state)
        raise Killed

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        loop.train(config)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)


def test_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch) -> None:
    whole = loop.train(tiny_config(tmp_path, out=str(tmp_path / "whole"), steps=6))

    # The same run, killed right after its checkpoint at step 3, then resumed to step 6.
    split = tiny_config(tmp_path, out=str(tmp_path / "split"), steps=6, save_every=3)
    train_until_the_first_checkpoint(split, monkeypatch)
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


def test_init_from_another_scale_copies_all_but_the_upsampler(tmp_path) -> None:
    torch.manual_seed(1)
    x2 = create_model("imdn", 2)
    save_weights(x2, tmp_path / "x2.safetensors")
    x3 = create_model("imdn", 3)
    upsampler_before = {k: v.clone() for k, v in x3.state_dict().items() if "upsampler" in k}
    copied = init_from_weights(x3, tmp_path / "x2.safetensors")
    source, _ = read_state_dict(tmp_path / "x2.safetensors")
    assert copied and not any(k.startswith("upsampler.") for k in copied)
    for key, value in x3.state_dict().items():
        if key.startswith("upsampler."):
            assert torch.equal(value, upsampler_before[key])
        else:
            assert key in copied
            assert torch.equal(value, source[key])
    # From the same scale the upsampler is copied too: a whole-model fine-tuning start.
    torch.manual_seed(2)
    other_x2 = create_model("imdn", 2)
    copied = init_from_weights(other_x2, tmp_path / "x2.safetensors")
    assert len(copied) == len(source) and any(k.startswith("upsampler.") for k in copied)
    for key, value in other_x2.state_dict().items():
        assert torch.equal(value, source[key]), key
    save_weights(create_model("imdn_rtc", 2), tmp_path / "rtc.safetensors")
    with pytest.raises(VsrError, match="cannot initialise imdn from it .they are imdn_rtc x2"):
        init_from_weights(create_model("imdn", 4), tmp_path / "rtc.safetensors")


def test_init_from_takes_a_name_from_the_weights_list() -> None:
    from vsr.weights import resolve_weights

    x3 = create_model("imdn", 3)
    copied = init_from_weights(x3, "vsr_imdn_x2")  # the bundled x2, all but its upsampler
    source, _ = read_state_dict(resolve_weights("vsr_imdn_x2"))
    assert copied and not any(k.startswith("upsampler.") for k in copied)
    assert all(torch.equal(x3.state_dict()[k], source[k]) for k in copied)
    with pytest.raises(VsrError, match="no_such_weights"):
        init_from_weights(x3, "no_such_weights")


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


def _logged_rates(run) -> dict[int, float]:
    with open(run / "log.csv", newline="") as file:
        return {int(r["step"]): float(r["lr"]) for r in csv.DictReader(file) if r["lr"]}


def test_each_step_is_adam_on_the_l1_loss_of_its_batch_at_the_rate_logged_for_it(tmp_path):
    # The paper's training written out: the loop's initial weights, each step's batch, the
    # L1 loss against HR in [0, 1] (/255), Adam at the rate log.csv gives that step. The
    # other tests only asked the loss to fall, which it did on MSE, on targets /256, and
    # with each step at the next step's rate (the scheduler stepped first).
    config = tiny_config(tmp_path, steps=3, log_every=1)
    model = loop.train(config)
    with open(tmp_path / "run" / "log.csv", newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["loss"]]
    assert [int(row["step"]) for row in rows] == [1, 2, 3]
    torch.manual_seed(config.seed)
    reference = create_model(config.arch, config.scale)
    optimizer = torch.optim.Adam(reference.parameters(), lr=config.lr)
    store = PatchStore.from_folder(config.train_dir, config.scale, config.patch // config.scale)
    for step, row in enumerate(rows):
        batch = store.sample(config.batch, batch_generator(config.seed, 0, step))
        loss = (reference(batch.lr.float() / 255) - batch.hr.float() / 255).abs().mean()
        assert float(row["loss"]) == pytest.approx(loss.item(), rel=1e-4)
        optimizer.zero_grad()
        loss.backward()
        optimizer.param_groups[0]["lr"] = float(row["lr"])
        optimizer.step()
    assert float(rows[0]["lr"]) == config.lr and float(rows[2]["lr"]) < config.lr  # cosine
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=1e-4, atol=1e-6)


def test_a_resume_with_another_lr_trains_with_it(tmp_path) -> None:
    loop.train(tiny_config(tmp_path, schedule="step", lr=1e-3, steps=4, log_every=1))
    assert _logged_rates(tmp_path / "run")[4] == pytest.approx(1e-3)
    # It says "lr 0.001 -> 1e-05" and writes 1e-05 into config.json: the optimiser's and the
    # scheduler's saved states must not put the old rate back.
    changed = tiny_config(tmp_path, schedule="step", lr=1e-5, steps=6, log_every=1)
    loop.train(changed, resume=True)
    assert _logged_rates(tmp_path / "run")[6] == pytest.approx(1e-5)


def test_a_resume_after_a_row_cut_short_starts_its_rows_on_a_line_of_their_own(tmp_path) -> None:
    # A power loss or a full disk cut log.csv mid-row; the resumed run's first row was
    # appended to that stump, one line of 25 cells ("...,0.6,6,8,0.331267,...").
    loop.train(tiny_config(tmp_path, steps=4, log_every=2))
    log = tmp_path / "run" / "log.csv"
    text = log.read_text()
    log.write_text(text[: text.rindex(",0.", 0, -20)])  # row 4 ends within its rate
    loop.train(tiny_config(tmp_path, steps=8, log_every=2), resume=True)
    with open(log, newline="") as file:
        header, *rows = list(csv.reader(file))
    assert all(len(row) == len(header) for row in rows), rows
    assert [int(row[0]) for row in rows] == [2, 6, 8]  # the stump of row 4 dropped
    # A stump of the header alone: the file starts again with a whole one.
    log.write_text(text[:20])
    loop.train(tiny_config(tmp_path, steps=10, log_every=2), resume=True)
    with open(log, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == CSV_FIELDS  # not the stump's "step,steps_total,los"
    assert [row["step"] for row in rows] == ["10"]


def test_a_resume_drops_the_rows_past_its_checkpoint_from_a_log_saved_with_a_bom(
    tmp_path, monkeypatch
) -> None:
    # log.csv opened and saved in Excel starts with a UTF-8 byte-order mark: its header's
    # first cell read "\ufeffstep", so no step column was found, a resume kept the rows past
    # its checkpoint and wrote its own with the step cell empty (1,2,3,4,,).
    config = tiny_config(tmp_path, steps=4, log_every=1, save_every=2)
    real_save = loop.save_checkpoint
    saves = []

    def die_at_the_second_save(path, state):  # last.pt holds step 2, log.csv rows 1 to 4
        saves.append(state["step"])
        if len(saves) == 2:
            raise Killed
        real_save(path, state)

    monkeypatch.setattr(loop, "save_checkpoint", die_at_the_second_save)
    with pytest.raises(Killed):
        loop.train(config)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    log = tmp_path / "run" / "log.csv"
    log.write_bytes(b"\xef\xbb\xbf" + log.read_bytes())
    loop.train(config, resume=True)
    with open(log, newline="", encoding="utf-8-sig") as file:
        assert [row["step"] for row in csv.DictReader(file)] == ["1", "2", "3", "4"]


def test_while_a_new_time_budget_measures_the_rate_stays_on_the_old_curve(tmp_path) -> None:
    # A cosine run of 6 steps ended at its floor; resumed with a time budget, the steps
    # measuring its speed must not train at the peak rate again. The budget (6 ms) is spent
    # before the measurement ends, so the run stops there whatever this machine's speed: a
    # budget the measurement does not use up lays a new cosine over the steps after it.
    loop.train(tiny_config(tmp_path, lr=1e-3, lr_min=1e-6, steps=6, log_every=1))
    budget = tiny_config(tmp_path, lr=1e-3, lr_min=1e-6, minutes=1e-4, log_every=1)
    loop.train(budget, resume=True)
    rates = _logged_rates(tmp_path / "run")
    assert rates[1] == pytest.approx(1e-3)  # each row: the rate its step trained with
    assert max(rates) == 6 + WARMUP_STEPS + MEASURE_STEPS
    assert all(rate == pytest.approx(1e-6) for step, rate in rates.items() if step > 6)


def test_a_resume_on_another_validation_set_keeps_the_old_best_apart(tmp_path) -> None:
    make_dataset(tmp_path / "valA" / "HR", count=1, size=32)
    make_dataset(tmp_path / "valB" / "HR", count=2, size=48)
    loop.train(tiny_config(tmp_path, steps=2, val_dir=str(tmp_path / "valA")))
    run = tmp_path / "run"
    before = (run / "best.safetensors").read_bytes()
    # A resume that fails on its new set (no HR/ in it) leaves the best weights where they
    # were: they had been renamed before the set was looked at.
    (tmp_path / "valC").mkdir()
    with pytest.raises(VsrError, match="no HR/ folder"):
        loop.train(tiny_config(tmp_path, steps=4, val_dir=str(tmp_path / "valC")), resume=True)
    assert (run / "best.safetensors").read_bytes() == before
    assert not (run / "best_previous_val.safetensors").exists()
    loop.train(tiny_config(tmp_path, steps=4, val_dir=str(tmp_path / "valB")), resume=True)
    # Set A's PSNR says nothing about set B: the old best stays, under another name, and
    # best.safetensors is the best on set B.
    assert (run / "best_previous_val.safetensors").read_bytes() == before
    rows = [r for r in csv.DictReader((run / "log.csv").open()) if r["val_psnr"]]
    best_on_b = max(float(r["val_psnr"]) for r in rows if int(r["step"]) > 2)
    _, metadata = read_state_dict(run / "best.safetensors")
    assert float(metadata["val_psnr"]) == pytest.approx(best_on_b, abs=1e-4)


def test_every_change_of_validation_set_keeps_the_best_weights_before_it(tmp_path) -> None:
    # The third set's change replaced the weights kept at the second's.
    for earlier in (b"set A", b"set B", b"set C"):
        (tmp_path / "best.safetensors").write_bytes(earlier)
        assert loop._start_best_afresh(tmp_path) == -math.inf
    assert not (tmp_path / "best.safetensors").exists()
    kept = ["best_previous_val", "best_previous_val_2", "best_previous_val_3"]
    assert [(tmp_path / f"{name}.safetensors").read_bytes() for name in kept] == [
        b"set A",
        b"set B",
        b"set C",
    ]


def test_train_command_reports_user_mistakes(tmp_path, capsys) -> None:
    from vsr.cli import main

    assert main(["train", "--config", str(tmp_path / "absent.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(["train", "--train-dir", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "training folder not found" in capsys.readouterr().err
    assert not out.exists()  # nothing is created for a run that cannot start
    # One image given for its folder was "not found", though it was there.
    picture = tmp_path / "photo.png"
    picture.write_bytes(b"")
    assert main(["train", "--train-dir", str(picture), "--out", str(out)]) == 2
    said = capsys.readouterr().err
    assert f"{picture} is a file; the training data is a folder of images" in said
    assert not out.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_bf16_channels_last_with_a_budget_and_a_resume(tmp_path, monkeypatch) -> None:
    # Every CUDA path at once: pinned index copies, bf16 autocast, channels_last, CUDA-event
    # timing, a time budget, validation on the GPU, and a resume that moves Adam's state.
    import vsr.train.budget as budget

    monkeypatch.setattr(budget, "WARMUP_STEPS", 2)
    monkeypatch.setattr(budget, "MEASURE_STEPS", 3)
    make_dataset(tmp_path / "val" / "HR", count=1)
    config = tiny_config(
        tmp_path, device="cuda", precision="bf16", channels_last=True, minutes=0.005,
        steps=1_000_000, save_every=4, val_dir=str(tmp_path / "val"),
    )  # fmt: skip
    model = loop.train(config)
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    total = state["steps_total"]
    assert state["step"] == total >= 5
    extended = tiny_config(
        tmp_path, device="cuda", precision="bf16", channels_last=True, steps=total + 4,
        val_dir=str(tmp_path / "val"),
    )  # fmt: skip
    loop.train(extended, resume=True)
    _, metadata = read_state_dict(tmp_path / "run" / "last.safetensors")
    assert metadata["steps"] == str(total + 4) and metadata["device"] != "cpu"
    rows = [row for row in csv.DictReader((tmp_path / "run" / "log.csv").open()) if row["loss"]]
    assert float(rows[-1]["torch_mem_gib"]) > 0


def test_vsr_weights_export_writes_the_network_of_a_stopped_run(tmp_path, monkeypatch, capsys):
    from vsr.cli import main

    # Stopped after step 2, before any weights were written.
    config = tiny_config(tmp_path, out=str(tmp_path / "run"), steps=6, save_every=2)
    train_until_the_first_checkpoint(config, monkeypatch)
    assert not (tmp_path / "run" / "last.safetensors").exists()
    checkpoint, out = tmp_path / "run" / "last.pt", tmp_path / "stopped.safetensors"
    assert main(["weights", "export", str(checkpoint), str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith("(the network after 2 training steps)")
    exported, metadata = read_state_dict(out)
    state = torch.load(checkpoint, weights_only=True)["model"]
    assert metadata["steps"] == "2" and set(exported) == set(state)
    # As the run's own weights record them: an exported file said only the steps, and a
    # DDP run's per-process batch could not be told from a whole one.
    recorded = {key: metadata[key] for key in ("patch", "batch", "processes", "steps_total")}
    assert recorded == {
        "patch": str(config.patch), "batch": str(config.batch), "processes": "1",
        "steps_total": "6",
    }  # fmt: skip
    assert all(torch.equal(exported[key], value) for key, value in state.items())
    assert load_weights(out).arch == "imdn_rtc"
    forged = tmp_path / "w\nvsr: error: forged.safetensors"
    assert main(["weights", "export", str(checkpoint), str(forged)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and "w\\nvsr: error: forged.safetensors" in printed
    assert read_state_dict(forged)[1]["steps"] == "2"
    # A legal name too long for the temporary ".NAME.tmp.<pid>": was "File name too long".
    longest = tmp_path / ("w" * 243 + ".safetensors")
    assert main(["weights", "export", str(checkpoint), str(longest)]) == 0
    capsys.readouterr()
    dangling = tmp_path / "dangling.safetensors"
    dangling.symlink_to(tmp_path / "elsewhere.safetensors")  # was replaced without a word
    for args, message in [
        ([str(checkpoint), str(out)], "already exists; add --overwrite"),
        ([str(checkpoint), str(dangling)], "already exists; add --overwrite"),
        ([str(checkpoint), str(tmp_path / "w.pth")], "written as .safetensors"),
        ([str(tmp_path / "none.pt"), str(tmp_path / "x.safetensors")], "no such file"),
        ([str(out), str(tmp_path / "x.safetensors")], "not a training checkpoint"),
        # The run's folder: was "no such file", though it is there.
        (
            [str(tmp_path / "run"), str(tmp_path / "x.safetensors")],
            f"is a folder: give its checkpoint, {checkpoint}",
        ),
        (
            [str(tmp_path), str(tmp_path / "x.safetensors")],
            f"{tmp_path} is a folder: give a run's last.pt (there is none in it)",
        ),
    ]:
        assert main(["weights", "export", *args]) == 2
        assert message in capsys.readouterr().err
    # A folder, and a folder that cannot be written: were tracebacks. As root the permission
    # bits stop nothing: os.access is what vsr asks.
    taken = tmp_path / "taken.safetensors"
    taken.mkdir()
    assert main(["weights", "export", str(checkpoint), str(taken), "--overwrite"]) == 2
    assert f"{taken} is a folder; give a .safetensors file name" in capsys.readouterr().err
    shut = tmp_path / "shut"
    shut.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != shut and real_access(p, mode))
    assert main(["weights", "export", str(checkpoint), str(shut / "w.safetensors")]) == 2
    assert f"{shut} is not writable" in capsys.readouterr().err
    assert list(shut.iterdir()) == []


def test_an_export_made_meanwhile_is_kept_without_overwrite(tmp_path, monkeypatch, capsys):
    # Two exports into one name at once both said "wrote", and the later replaced the
    # earlier. The other export is simulated by a file made while this one reads its
    # checkpoint, after the check for an existing output.
    import vsr.train.checkpoint as train_checkpoint
    from vsr.cli import main

    config = tiny_config(tmp_path, out=str(tmp_path / "run"), steps=6, save_every=2)
    train_until_the_first_checkpoint(config, monkeypatch)
    capsys.readouterr()
    checkpoint, out = tmp_path / "run" / "last.pt", tmp_path / "w.safetensors"
    real_load = train_checkpoint.load_checkpoint

    def load_while_another_exports(path):
        out.write_bytes(b"the other export")
        return real_load(path)

    monkeypatch.setattr(train_checkpoint, "load_checkpoint", load_while_another_exports)
    assert main(["weights", "export", str(checkpoint), str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"vsr: error: {out} was written by someone else meanwhile; it is kept\n"
    assert out.read_bytes() == b"the other export"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # --overwrite replaces it, as asked.
    assert main(["weights", "export", str(checkpoint), str(out), "--overwrite"]) == 0
    assert read_state_dict(out)[1]["steps"] == "2"


@pytest.mark.parametrize(
    ("log_every", "save_every", "step"),
    [(4, 100, 4), (100, 2, 2)],
    ids=["found-at-a-log-row", "found-before-a-save"],
)
def test_a_run_whose_loss_becomes_nan_stops_and_writes_no_nan_weights(
    tmp_path, log_every, save_every, step
) -> None:
    # lr 100 makes the weights NaN by the second step; the run used to go on to its end and
    # write them as last.pt and last.safetensors, the loss logged as nan all the while.
    config = tiny_config(tmp_path, lr=100.0, steps=8, log_every=log_every, save_every=save_every)
    # It ran in fp32, and was advised "fp32 in place of bf16" all the same.
    said = rf"^training diverged by step {step}: .*nothing was saved\. A lower lr may train$"
    with pytest.raises(VsrError, match=said):
        loop.train(config)
    run = tmp_path / "run"
    assert not (run / "last.pt").exists() and not (run / "last.safetensors").exists()


def test_a_diverged_bf16_run_is_advised_fp32_too(tmp_path) -> None:
    config = tiny_config(tmp_path, lr=100.0, steps=8, log_every=2, precision="bf16")
    with pytest.raises(VsrError, match=r"A lower lr \(or --precision fp32\) may train$"):
        loop.train(config)


def _slow_validator(seconds: float) -> type:
    """A stand-in validation that takes `seconds` (a Set5 pass takes seconds on a CPU) and
    scores 20 dB."""

    class SlowValidator:
        def __init__(self, folder, scale) -> None:
            pass

        def __call__(self, model, device) -> tuple[float, float]:
            time.sleep(seconds)
            return 20.0, 0.5

    return SlowValidator


def test_a_validation_s_time_is_not_counted_in_the_steps_per_second(tmp_path, monkeypatch) -> None:
    # A validation between two log rows was counted as training time: on the CPU a Set5 pass
    # took the window after it from 5 to 0.18 steps/s in log.csv and the progress line.
    monkeypatch.setattr(loop, "Validator", _slow_validator(1.0))
    config = tiny_config(tmp_path, steps=4, log_every=2, val_every=2, val_dir=str(tmp_path))
    loop.train(config)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    rates = [float(row["steps_per_s"]) for row in rows if row["loss"]]
    assert [row["val_psnr"] for row in rows if row["val_psnr"]] == ["20", "20"]
    # Two steps of a tiny network take milliseconds: the window after the validation at
    # step 2 lasts far less than that validation's second.
    assert len(rates) == 2 and 2 / rates[1] < 0.5


def test_a_run_is_not_started_from_weights_holding_nan(tmp_path) -> None:
    # Loading weights refused NaN everywhere but --init-from: a run started from a diverged
    # run's weights went on until its first log row said 'training diverged by step 2: the
    # loss is nan (lr 0.00187) ... A lower lr (or fp32 in place of bf16) may train'.
    diverged = create_model("imdn_rtc", 2)
    with torch.no_grad():
        diverged.state_dict()["model.0.weight"][0, 0, 0, 0] = float("nan")
    save_weights(diverged, tmp_path / "nan.safetensors")
    config = tiny_config(tmp_path, init_from=str(tmp_path / "nan.safetensors"))
    with pytest.raises(VsrError) as refused:
        loop.train(config)
    assert str(refused.value) == (
        f"{tmp_path / 'nan.safetensors'}: its weights hold NaN or Inf values (1 of 56 tensors, "
        "first: model.0.weight), as a training run that diverged leaves them"
    )
    assert not (tmp_path / "run").exists()


def test_a_checkpoint_holding_nan_is_not_resumed(tmp_path) -> None:
    # A last.pt saved NaN by a vsr before the divergence check was resumed, and the run
    # stopped at its first row blaming its lr ('training diverged by step 8 ...').
    from vsr.train.checkpoint import load_checkpoint, save_checkpoint

    config = tiny_config(tmp_path)
    loop.train(config)
    checkpoint = tmp_path / "run" / "last.pt"
    state = load_checkpoint(checkpoint)
    state["model"]["model.0.weight"][0, 0, 0, 0] = float("nan")
    save_checkpoint(checkpoint, state)
    with pytest.raises(VsrError) as refused:
        loop.train(tiny_config(tmp_path, steps=10), resume=True)
    assert str(refused.value).startswith(
        f"{checkpoint}: its weights hold NaN or Inf values (1 of 56 tensors, first: "
        "model.0.weight), as a training run that diverged leaves them; it cannot be resumed"
    )
