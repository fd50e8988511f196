"""What `vsr train` says: every line marked `vsr:`, where the weights went, a note on bf16
on the CPU, help for every flag, and a damaged checkpoint named as such."""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_train_loop import make_dataset, tiny_config

import vsr.train.loop as loop
from vsr.cli import main
from vsr.errors import VsrError
from vsr.models import create_model, save_weights


def test_every_line_is_marked_and_the_last_says_where_the_weights_are(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    config = tiny_config(tmp_path, steps=2)
    loop.train(config)
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith("vsr: ") for line in lines), lines
    assert lines.count("vsr: tensorboard is not installed: logging to log.csv only") == 1
    assert lines[-1] == f"vsr: weights: {config.out}/last.safetensors"
    # Before it, the throughput of the run's steps, all of them.
    assert re.fullmatch(
        r"vsr: throughput [\d.]+ steps/s over 2 steps; per step [\d.]+ ms data \+ "
        r"[\d.]+ ms compute \(wall clock\), [\d.]+ ms wall",
        lines[-2],
    ), lines[-2]

    # With validation, the best weights too.
    make_dataset(tmp_path / "val" / "HR", count=1)
    out = tmp_path / "validated"
    loop.train(tiny_config(tmp_path, steps=2, out=str(out), val_dir=str(tmp_path / "val")))
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"vsr: weights: {out}/last.safetensors (best validation, ")
    assert last.endswith(f" dB: {out}/best.safetensors)")


def test_a_newline_in_the_out_folders_name_forges_no_line(tmp_path, capsys) -> None:
    out = tmp_path / "run\nvsr: forged"
    loop.train(tiny_config(tmp_path, steps=2, out=str(out)))
    lines = capsys.readouterr().err.splitlines()
    assert not [line for line in lines if line.startswith("vsr: forged")]
    assert lines[-1] == f"vsr: weights: {tmp_path}/run\\nvsr: forged/last.safetensors"
    assert (out / "last.safetensors").is_file()


def test_training_on_one_image_says_1_image(tmp_path, capsys) -> None:
    make_dataset(tmp_path / "one", count=1)
    loop.train(tiny_config(tmp_path, steps=1, train_dir=str(tmp_path / "one")))
    said = [line for line in capsys.readouterr().err.splitlines() if "vsr: training " in line]
    assert len(said) == 1 and said[0].endswith("): 1 image, batch 4 of 16-pixel HR patches")


def test_bf16_emulated_on_the_cpu_is_a_note_not_an_error(tmp_path, capsys, monkeypatch) -> None:
    from vsr import upscale

    monkeypatch.setattr(upscale, "cpu_computes_bf16", lambda: False)
    loop.train(tiny_config(tmp_path, steps=1, out=str(tmp_path / "bf16"), precision="bf16"))
    err = capsys.readouterr().err
    assert err.count("vsr: bf16 is emulated on this CPU: ") == 1
    assert "--precision fp32 is usually the better choice" in err
    assert (tmp_path / "bf16" / "last.safetensors").is_file()
    loop.train(tiny_config(tmp_path, steps=1, out=str(tmp_path / "auto"), precision="auto"))
    assert "bf16 is emulated" not in capsys.readouterr().err
    # A CPU with bf16 instructions trains bf16 faster than fp32: no note (it was told "far
    # slower than fp32 unless the CPU has native bf16" on one that has).
    monkeypatch.setattr(upscale, "cpu_computes_bf16", lambda: True)
    loop.train(tiny_config(tmp_path, steps=1, out=str(tmp_path / "native"), precision="bf16"))
    assert "slower" not in capsys.readouterr().err


def test_every_flag_has_help(capsys) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["train", "--help"])
    assert exit_status.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "default auto: the CUDA GPU when there is one, else the CPU" in text
    assert "default auto: bf16 on a GPU, fp32 on the CPU" in text


@pytest.fixture
def finished_run(tmp_path):
    config = tiny_config(tmp_path, steps=1)
    loop.train(config)
    return config, tmp_path / "run" / "last.pt"


def _resume_error(config, capsys) -> str:
    assert main(["train", "--out", config.out, "--resume", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vsr: error: ") and err.count("\n") == 1
    return err


def test_a_checkpoint_of_random_bytes_is_named_as_no_checkpoint(finished_run, capsys) -> None:
    config, checkpoint = finished_run
    checkpoint.write_bytes(np.random.default_rng(1).bytes(5000))  # starts with neither magic
    capsys.readouterr()
    assert (
        f"{checkpoint}: not a readable training checkpoint: not a file torch.save writes"
        in _resume_error(config, capsys)
    )


def test_a_truncated_checkpoint_is_named_as_damaged(finished_run, capsys) -> None:
    config, checkpoint = finished_run
    whole = checkpoint.read_bytes()
    checkpoint.write_bytes(whole[: len(whole) // 2])
    capsys.readouterr()
    err = _resume_error(config, capsys)
    assert f"{checkpoint}: not a readable training checkpoint: damaged or truncated (" in err


def test_a_bare_number_from_torch_is_replaced_by_the_kind_of_problem(
    finished_run, monkeypatch
) -> None:
    config, checkpoint = finished_run

    def fail(*args, **kwargs):
        raise KeyError(174812789)  # what torch said of one damaged checkpoint

    monkeypatch.setattr(torch, "load", fail)
    with pytest.raises(VsrError) as error:
        loop.train(config, resume=True)
    assert str(error.value) == (
        f"{checkpoint}: not a readable training checkpoint: damaged or truncated (KeyError)"
    )


def test_weights_in_place_of_a_checkpoint_are_no_training_state(finished_run, capsys) -> None:
    config, checkpoint = finished_run
    torch.save(torch.load(checkpoint, weights_only=True)["model"], checkpoint)
    capsys.readouterr()
    assert f"{checkpoint}: not a training checkpoint (no training state in it)" in (
        _resume_error(config, capsys)
    )


def test_another_trainers_checkpoint_with_its_model_alone_is_no_training_state(
    finished_run, capsys
) -> None:
    # Its weights under "model", as vsr's are, but no optimiser, step or settings: it is not
    # a run that --resume can go on with.
    config, checkpoint = finished_run
    weights = torch.load(checkpoint, weights_only=True)["model"]
    torch.save({"model": weights, "epoch": 3}, checkpoint)
    capsys.readouterr()
    assert f"{checkpoint}: not a training checkpoint (no training state in it)" in (
        _resume_error(config, capsys)
    )


def test_resuming_at_another_scale_names_the_scale(finished_run, capsys) -> None:
    # Patch 16 is no multiple of 3: the patch size was blamed, not the scale.
    config, _ = finished_run
    assert main(["train", "--out", config.out, "--resume", "--scale", "3"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"vsr: error: cannot resume: the run in {config.out} has scale=2, not 3 (a new run "
        "can start from its weights: --init-from)\n"
    )
    # The same from a recipe that names the run's folder.
    recipe = Path(config.out).parent / "x3.toml"
    recipe.write_text(
        f'train_dir = "{config.train_dir}"\nout = "{config.out}"\narch = "imdn_rtc"\n'
        "scale = 3\npatch = 16\n"
    )
    assert main(["train", "--config", str(recipe), "--resume"]) == 2
    assert "cannot resume: the run in" in capsys.readouterr().err


def test_a_node_without_the_runs_checkpoint_is_told_where_it_is(tmp_path, capsys, monkeypatch):
    # Under torchrun on per-node disks, rank 0 alone writes into --out: another node's rank
    # said "nothing to resume: run/last.pt not found", of a checkpoint rank 0's node holds.
    out = tmp_path / "run"
    missing = f"vsr: error: nothing to resume: {out / 'last.pt'} not found"
    monkeypatch.setenv("RANK", "1")  # set, but not under torchrun: one process
    assert main(["train", "--out", str(out), "--resume"]) == 2
    assert capsys.readouterr().err == missing + "\n"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["train", "--out", str(out), "--resume"]) == 2
    assert capsys.readouterr().err == missing + "\n"  # on rank 0's own node: lost indeed
    monkeypatch.setenv("RANK", "1")
    assert main(["train", "--out", str(out), "--resume"]) == 2
    assert capsys.readouterr().err == (
        f"{missing} on this node (rank 1): rank 0 alone writes into --out, and each node "
        "reads the run's settings from its own before the processes meet; give every node "
        "one --out on a shared disk, or copy rank 0's last.pt into this node's\n"
    )


_UNDER_TORCHRUN = "torchrun sets it for each of the WORLD_SIZE=2 processes"


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not a whole number >= 1; torchrun sets "
         "it; unset it to train in one process"),
        ({"WORLD_SIZE": "2", "RANK": ""}, f"RANK is not set; {_UNDER_TORCHRUN}, from 0"),
        ({"WORLD_SIZE": "2", "RANK": "first"},
         f"RANK='first' is not a whole number >= 0; {_UNDER_TORCHRUN}"),
        ({"WORLD_SIZE": "2", "RANK": "2"},
         f"RANK=2 is not below WORLD_SIZE=2; {_UNDER_TORCHRUN}, from 0"),
    ],
)  # fmt: skip
def test_torchrun_variables_that_name_no_place_are_one_line(
    variables, said, tmp_path, capsys, monkeypatch
):
    # WORLD_SIZE=two ended in int()'s ValueError traceback, where the run joins the others
    # and where vsr train reads the rank before they meet; there an empty RANK was rank 0.
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    config = tiny_config(tmp_path, steps=1)
    flags = ["--train-dir", config.train_dir, "--arch", "imdn_rtc", "--patch", "16"]
    flags += ["--batch", "4", "--steps", "1", "--device", "cpu", "--threads", "1"]
    assert main(["train", *flags, "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == f"vsr: error: {said}\n"
    assert main(["train", "--out", str(tmp_path / "nothing"), "--resume"]) == 2
    assert capsys.readouterr().err == f"vsr: error: {said}\n"


def test_an_empty_world_size_trains_alone(tmp_path, capsys, monkeypatch):
    # As unset: the command line read it as 1, the run's join raised ValueError on it.
    monkeypatch.setenv("WORLD_SIZE", "")
    monkeypatch.setenv("RANK", "1")
    config = tiny_config(tmp_path, steps=1)
    flags = ["--train-dir", config.train_dir, "--arch", "imdn_rtc", "--patch", "16"]
    flags += ["--batch", "4", "--steps", "1", "--device", "cpu", "--threads", "1"]
    assert main(["train", *flags, "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "last.safetensors").is_file()
    capsys.readouterr()
    assert main(["train", "--out", str(tmp_path / "nothing"), "--resume"]) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: nothing to resume: {tmp_path / 'nothing' / 'last.pt'} not found\n"
    )


def test_steps_given_beside_a_time_budget_is_said_to_be_unused(tmp_path, capsys) -> None:
    # --steps 5 --minutes 0.02 trained 162 steps without a word about the 5.
    config = tiny_config(tmp_path, steps=1)
    flags = ["--train-dir", config.train_dir, "--out", str(tmp_path / "timed"), "--arch"]
    flags += ["imdn_rtc", "--patch", "16", "--batch", "4", "--device", "cpu", "--threads", "1"]
    assert main(["train", *flags, "--steps", "5", "--minutes", "0.002"]) == 0
    err = capsys.readouterr().err
    assert "vsr: --steps 5 is not used: --minutes 0.002 chooses the step count" in err


@pytest.mark.parametrize(
    ("failure", "asked"),
    [
        (
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
                "allocate memory: you tried to allocate 204800000000 bytes. Error code 12 "
                "(Cannot allocate memory)"
            ),
            " (one allocation alone asked 204.80 GB)",
        ),
        (
            torch.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 190.73 GiB. GPU 0 has a total "
                "capacity of 139.80 GiB of which 138.20 GiB is free."
            ),
            " (one allocation alone asked 204.79 GB)",
        ),
        (torch.OutOfMemoryError("out of memory"), ""),
    ],
)
def test_a_batch_too_large_for_memory_names_batch(
    tmp_path, capsys, monkeypatch, failure, asked
) -> None:
    # --batch 100000000: "RuntimeError: ... DefaultCPUAllocator: can't allocate memory: you
    # tried to allocate 204800000000 bytes", a traceback from the batch's gather. Its
    # allocator's failure is raised here, never allocated for real (a size in between got
    # the process killed by the kernel).
    def sample(self, size, generator):
        raise failure

    monkeypatch.setattr(loop.PatchStore, "sample", sample)
    config = tiny_config(tmp_path, steps=1)
    flags = ["--train-dir", config.train_dir, "--out", config.out, "--arch", "imdn_rtc"]
    flags += ["--patch", "16", "--batch", "100000000", "--device", "cpu", "--threads", "1"]
    assert main(["train", *flags]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        f"vsr: error: batch 100000000 of 16-pixel HR patches ran out of memory on cpu{asked}; "
        "use a smaller --batch"
    )


def test_a_failure_in_a_step_that_is_no_allocation_is_not_called_out_of_memory(
    tmp_path, monkeypatch
) -> None:
    # Only an allocator's failure is a batch too large: any other RuntimeError of a step
    # (a shape mismatch, a CUDA assert) goes on as itself, not hidden behind --batch advice.
    def sample(self, size, generator):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x6)")

    monkeypatch.setattr(loop.PatchStore, "sample", sample)
    config = tiny_config(tmp_path, steps=1)
    flags = ["--train-dir", config.train_dir, "--out", config.out, "--arch", "imdn_rtc"]
    flags += ["--patch", "16", "--batch", "4", "--device", "cpu", "--threads", "1"]
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        main(["train", *flags])


def test_val_every_without_a_validation_set_is_said_to_be_unused(tmp_path, capsys) -> None:
    # --val-every 2 without --val-dir trained, validated nothing and said nothing.
    config = tiny_config(tmp_path, steps=1)
    flags = ["--train-dir", config.train_dir, "--arch", "imdn_rtc", "--patch", "16"]
    flags += ["--batch", "4", "--steps", "2", "--device", "cpu", "--threads", "1"]
    told = "vsr: --val-every 2 is not used: the run has no validation set (--val-dir names one"
    assert main(["train", *flags, "--out", str(tmp_path / "a"), "--val-every", "2"]) == 0
    assert told in capsys.readouterr().err
    # With a validation set it validates, and nothing is said.
    make_dataset(tmp_path / "val" / "HR", count=1)
    flags += ["--val-dir", str(tmp_path / "val")]
    assert main(["train", *flags, "--out", str(tmp_path / "b"), "--val-every", "2"]) == 0
    assert "is not used" not in capsys.readouterr().err
    # A recipe's val_every is no flag of the user's: nothing is said of it without a val_dir,
    # and with the recipe's val_dir the flag validates on it.
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'train_dir = "{config.train_dir}"\nval_every = 600\n')
    tiny = flags[2:-2]  # the tiny network and steps, without the data folders
    assert main(["train", "--config", str(recipe), *tiny, "--out", str(tmp_path / "c")]) == 0
    assert "is not used" not in capsys.readouterr().err
    recipe.write_text(recipe.read_text() + f'val_dir = "{tmp_path / "val"}"\n')
    out = tmp_path / "d"
    tiny += ["--out", str(out), "--val-every", "1"]
    assert main(["train", "--config", str(recipe), *tiny]) == 0
    assert "is not used" not in capsys.readouterr().err
    with open(out / "log.csv", newline="") as file:
        assert [row["step"] for row in csv.DictReader(file) if row["val_psnr"]] == ["1", "2"]


def test_images_smaller_than_the_default_patch_say_to_lower_it(tmp_path, capsys) -> None:
    # A first run on one's own small pictures meets the paper's 192-pixel default patch.
    from PIL import Image

    (tmp_path / "data").mkdir()
    for name, (height, width) in {"a.png": (48, 64), "b.png": (40, 40)}.items():
        Image.new("RGB", (width, height)).save(tmp_path / "data" / name)
    status = main(["train", "--train-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run")])
    assert status == 2
    err = capsys.readouterr().err
    assert err == (
        "vsr: error: no training image is at least 192 pixels on a side (the largest is "
        "64x48): lower --patch, or add larger images\n"
    )
    assert not (tmp_path / "run").exists()


def test_a_flat_validation_folder_says_where_its_images_go(tmp_path, capsys) -> None:
    # A folder of pictures, not a benchmark's HR/ layout: the run says how to lay it out.
    config = tiny_config(tmp_path, steps=1)
    status = main(
        ["train", "--train-dir", config.train_dir, "--val-dir", config.train_dir, "--patch", "16"]
        + ["--out", str(tmp_path / "run"), "--steps", "1", "--arch", "imdn_rtc"]
    )
    assert status == 2
    assert capsys.readouterr().err == (
        f"vsr: error: dataset {config.train_dir} has no HR/ folder: put its high-resolution "
        f"images in {Path(config.train_dir) / 'HR'} (inputs, if any, in LR_bicubic/X2/ and so "
        "on beside it)\n"
    )
    assert not (tmp_path / "run").exists()


def test_a_recipes_missing_data_folder_names_the_recipe_and_the_flag(tmp_path, capsys) -> None:
    # weights/recipes/ find ../shared beside the repository; from a checkout elsewhere the
    # folder is missing, and the user did not type that path.
    config = tiny_config(tmp_path, steps=1)
    recipe = tmp_path / "recipes" / "tiny.toml"
    recipe.parent.mkdir()
    recipe.write_text(
        'train_dir = "../../no_shared_here/train"\nval_dir = "../../no_shared_here/Set5"\narch = "imdn_rtc"\n'
        'patch = 16\nbatch = 2\nsteps = 1\nthreads = 1\ndevice = "cpu"\n'
    )
    out = str(tmp_path / "run")
    assert main(["train", "--config", str(recipe), "--out", out]) == 2
    missing = (tmp_path / ".." / "no_shared_here" / "train").resolve()
    assert capsys.readouterr().err == (
        f"vsr: error: train_dir {missing} (from {recipe}, relative to it) not found: pass "
        "--train-dir with the folder to use\n"
    )
    flags = ["--train-dir", config.train_dir]
    assert main(["train", "--config", str(recipe), "--out", out, *flags]) == 2
    assert "vsr: error: val_dir " in capsys.readouterr().err
    # With both folders given, the recipe trains.
    make_dataset(tmp_path / "val" / "HR", count=1)
    flags += ["--val-dir", str(tmp_path / "val")]
    assert main(["train", "--config", str(recipe), "--out", out, *flags]) == 0
    assert (tmp_path / "run" / "last.safetensors").is_file()


def test_init_from_beside_resume_is_said_to_be_unused(tmp_path, capsys) -> None:
    # --resume --init-from W went on from last.pt without a word about W.
    config = tiny_config(tmp_path, steps=1)
    loop.train(config)
    weights = tmp_path / "other.safetensors"
    torch.manual_seed(1)
    save_weights(create_model("imdn_rtc", 2), weights)
    capsys.readouterr()
    flags = ["--out", config.out, "--resume", "--steps", "2", "--init-from", str(weights)]
    assert main(["train", *flags]) == 0
    assert (
        f"vsr: --init-from {weights} is not used: --resume goes on from the run's own last.pt "
        f"(a new --out starts a run from {weights})\n"
    ) in capsys.readouterr().err
    # A recipe's init_from on resume (the GPU recipes have one) is no flag of the user's.
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f'train_dir = "{config.train_dir}"\nout = "{config.out}"\narch = "imdn_rtc"\n'
        f'init_from = "{weights}"\npatch = 16\nbatch = 4\nsteps = 3\ndevice = "cpu"\n'
        'threads = 1\nlr = 2e-3\nschedule = "cosine"\nlog_every = 2\nsave_every = 100\n'
    )
    assert main(["train", "--config", str(recipe), "--resume"]) == 0
    assert "is not used" not in capsys.readouterr().err


def test_files_training_does_not_read_are_named_once(tmp_path, capsys) -> None:
    # An animated GIF and a text file beside the PNGs were passed over without a word.
    config = tiny_config(tmp_path, steps=1)
    frames = [Image.new("RGB", (40, 40), colour) for colour in ("red", "blue")]
    frames[0].save(Path(config.train_dir) / "clip.gif", save_all=True, append_images=frames[1:])
    (Path(config.train_dir) / "notes.txt").write_text("where these came from")
    (Path(config.train_dir) / "._img0.png").write_bytes(b"AppleDouble")  # hidden: not named
    (Path(config.train_dir) / "more").mkdir()  # a folder is not a file left out
    loop.train(config)
    err = capsys.readouterr().err.splitlines()
    told = [line for line in err if "left out" in line]
    assert told == [
        f"vsr: 2 file(s) in {config.train_dir} left out (clip.gif, notes.txt): "
        "training reads PNG, BMP, WebP, JPEG and TIFF"
    ], err
    assert (Path(config.out) / "last.safetensors").is_file()

    # A folder of images alone says nothing of the kind.
    loop.train(tiny_config(tmp_path / "clean", steps=1))
    assert "left out" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("source_arch", "told"),
    [
        # IMDN_AS is the same size as IMDN, and no --arch trains it: only other weights do.
        ("imdn_as", "they are imdn_as weights, a network vsr does not train): pass --init-from "
         "weights of an imdn network, e.g. vsr_imdn_x2, vsr_imdn_x2_cpu, IMDN_x2"),
        ("imdn_rtc", "they are imdn_rtc x2 weights): pass --init-from weights of an imdn "
         "network, e.g. vsr_imdn_x2, vsr_imdn_x2_cpu, IMDN_x2; or --arch imdn_rtc to train "
         "the network they hold"),
    ],
)  # fmt: skip
def test_init_from_another_network_says_what_to_pass(
    tmp_path, capsys, source_arch: str, told: str
) -> None:
    weights = tmp_path / f"{source_arch}.safetensors"
    save_weights(create_model(source_arch, 2), weights)
    make_dataset(tmp_path / "data")
    flags = ["--train-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--arch"]
    flags += ["imdn", "--scale", "2", "--patch", "16", "--steps", "1", "--device", "cpu"]
    assert main(["train", *flags, "--init-from", str(weights)]) == 2
    err = capsys.readouterr().err
    assert err == f"vsr: error: {weights}: cannot initialise imdn from it ({told}\n"
    assert not (tmp_path / "run").exists()
