"""Mistakes in a training run's settings and inputs: each wrong setting ends as one
`vsr: error:` line and exit status 2 before anything is written; images too small for the
patch are named as left out."""

from __future__ import annotations

import os

import pytest
import torch
from test_train_loop import make_dataset, tiny_config

from vsr.cli import main
from vsr.errors import VsrError
from vsr.train import loop
from vsr.train.config import TrainConfig, load_config
from vsr.train.distributed import Distributed


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--arch", "imdn_as"], "arch must be imdn, imdn_rtc or imdn_rte, not 'imdn_as'"),
        (["--arch", "imdn_rtc", "--scale", "5"], "imdn_rtc trains at scale 2, 3 or 4, not 5"),
        (["--arch", "imdn_rte", "--patch", "18"], "imdn_rte x2 needs a patch that is a multiple"),
        (["--lr", "0"], "lr must be positive, not 0.0"),
        (["--lr", "-1"], "lr must be positive"),
        (["--lr", "nan"], "lr must be a finite number, not nan"),
        (["--minutes", "nan"], "minutes must be a finite number"),
        (["--threads", "-1"], "threads must be 0 or more, not -1"),
        (["--val-every", "-5"], "val_every must be 0 or more, not -5"),
        # Beyond torch.manual_seed's 64 bits: "ValueError: Overflow when unpacking long long".
        (
            ["--seed", "18446744073709551616"],
            "seed must be between -9223372036854775808 and 18446744073709551615, not "
            "18446744073709551616",
        ),
        (["--seed", "-9223372036854775809"], "seed must be between"),
    ],
)
def test_wrong_settings_are_one_line_errors(tmp_path, capsys, flags, message) -> None:
    make_dataset(tmp_path / "data", count=1)
    out = tmp_path / "run"
    args = ["train", "--train-dir", str(tmp_path / "data"), "--out", str(out)]
    patch = [] if "--patch" in flags else ["--patch", "16"]  # a flag is given once
    assert main([*args, *patch, "--steps", "1", "--device", "cpu", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vsr: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("seed", [-(2**63), 2**64 - 1])
def test_the_seeds_at_either_end_of_torchs_range_are_taken(tmp_path, seed) -> None:
    # The range's ends are torch's own: it seeds with both, so neither may be refused.
    torch.Generator().manual_seed(seed)
    assert load_config(None, {"train_dir": str(tmp_path), "seed": seed}).seed == seed
    with pytest.raises(VsrError, match="^seed must be between"):
        load_config(None, {"train_dir": str(tmp_path), "seed": seed + (1 if seed > 0 else -1)})


@pytest.mark.parametrize(
    ("taken", "refused", "message"),
    [
        # The smallest patch, 4 LR pixels a side, and the next multiple of the scale down.
        ({"scale": 2, "patch": 8}, {"scale": 2, "patch": 6}, "patch 6 is too small for scale 2"),
        ({"scale": 4, "patch": 16}, {"scale": 4, "patch": 12}, "patch 12 is too small for scale 4"),
        # A constant rate, by either schedule: lowered by nothing, or from lr down to lr.
        ({"lr_gamma": 1.0}, {"lr_gamma": 1.01}, "lr_gamma 1.01 is above 1"),
        (
            {"schedule": "cosine", "lr_min": 2e-4},
            {"schedule": "cosine", "lr_min": 2.1e-4},
            "lr_min 0.00021 is above lr 0.0002",
        ),
    ],
)
def test_the_settings_at_the_edge_of_what_trains_are_taken(
    tmp_path, taken, refused, message
) -> None:
    folder = {"train_dir": str(tmp_path)}
    config = load_config(None, {**folder, **taken})
    assert {key: getattr(config, key) for key in taken} == taken
    with pytest.raises(VsrError) as refusal:
        load_config(None, {**folder, **refused})
    assert str(refusal.value).startswith(message)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("lr_step = 0", "lr_step must be positive, not 0"),
        ("lr_min = -1e-6", "lr_min must be"),
        ("out = 5", "setting out must be str, not 5"),
        # Python's True is the int 1: a batch of one patch, trained without a word.
        ("batch = true", "setting batch must be int, not True"),
        # Trained into the recipe's folder, the run's files among the recipes.
        ('out = ""', "out is empty; give the folder for checkpoints, logs and weights"),
        # Raised "RuntimeError: value cannot be converted to type float without overflow"
        # from inside Adam, a traceback, after the first step.
        ("lr = 1e39", "lr 1e+39 is beyond float32 (at most 3.403e+38)"),
        # Accepted: the cosine then climbed from 2e-4 to 0.5 over the run.
        ('schedule = "cosine"\nlr_min = 0.5', "lr_min 0.5 is above lr 0.0002"),
        # Accepted: the rate grew tenfold every lr_step steps, and with lr = 1e38 (under
        # float32's limit) Adam's overflow traceback came at step 2 all the same.
        ('schedule = "step"\nlr_gamma = 10', "lr_gamma 10 is above 1: the step schedule lowers"),
        ("seed = 18446744073709551616", "seed must be between -9223372036854775808 and"),
    ],
)
def test_wrong_recipe_values_are_one_line_errors(tmp_path, capsys, setting, message) -> None:
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'train_dir = "data"\nsteps = 1\npatch = 16\n{setting}\n')
    assert main(["train", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vsr: error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("out", "  ", "out is empty; give the folder for checkpoints, logs and weights"),
        ("val_dir", "  ", "val_dir '  ' is blank; give a path, or leave it empty for none"),
        ("init_from", " ", "init_from ' ' is blank; give a path, or leave it empty for none"),
        ("train_dir", "  ", "train_dir '  ' is blank; give a path"),
    ],
)
def test_a_blank_recipe_path_is_refused_not_taken_for_a_folder_of_spaces(
    tmp_path, capsys, key, value, message
) -> None:
    # Made absolute against the recipe's folder before it was checked, out = "  " passed as
    # ".../  ", and the run wrote into a folder named two spaces beside the recipe.
    make_dataset(tmp_path / "data", count=1)
    settings = {"train_dir": "data", "out": "run", "steps": 1, "patch": 16, "device": "cpu"}
    settings[key] = value
    recipe = tmp_path / "recipe.toml"
    recipe.write_text("".join(f"{name} = {given!r}\n" for name, given in settings.items()))
    assert main(["train", "--config", str(recipe)]) == 2
    assert capsys.readouterr().err == f"vsr: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "recipe.toml"]


@pytest.mark.parametrize("given", ["", " "])
@pytest.mark.parametrize("flag", ["--out", "--val-dir", "--init-from", "--train-dir"])
def test_an_empty_path_flag_is_refused_not_taken_for_the_working_folder(
    tmp_path, capsys, monkeypatch, flag, given
) -> None:
    # `--out "$DIR"` with DIR unset trained into the working folder without a word, and an
    # empty --val-dir or --init-from was dropped as silently.
    make_dataset(tmp_path / "data", count=1)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    args = {"--train-dir": str(tmp_path / "data"), "--out": str(tmp_path / "run"), flag: given}
    words = [word for pair in args.items() for word in pair]
    assert main(["train", *words, "--patch", "16", "--steps", "1", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vsr: error: {flag} is empty (an unset variable?); give ")
    assert err.count("\n") == 1
    assert list(here.iterdir()) == [] and not (tmp_path / "run").exists()


@pytest.mark.parametrize("given", ["", "  "])
@pytest.mark.parametrize("key", ["out", "val_dir", "init_from", "train_dir"])
def test_an_empty_path_override_names_the_keyword_to_an_api_caller(tmp_path, key, given) -> None:
    # The command line refuses an empty value itself; an API caller's empty val_dir or
    # init_from was dropped for the recipe's without a word.
    settings = {"train_dir": str(tmp_path), key: given}
    with pytest.raises(VsrError, match=rf"^{key} is empty \(an unset variable\?\); give "):
        load_config(None, settings)


def test_a_blank_out_is_refused_by_the_settings_themselves(tmp_path) -> None:
    # A TrainConfig built by hand, as an API caller may, is checked by validate() alone.
    config = TrainConfig(train_dir=str(tmp_path), out="  ")
    with pytest.raises(VsrError, match=r"^out is empty; give the folder for checkpoints"):
        config.validate()


def test_an_output_folder_that_is_a_file_is_an_error(tmp_path, capsys) -> None:
    make_dataset(tmp_path / "data", count=1)
    out = tmp_path / "run"
    out.write_text("not a folder")
    args = ["--train-dir", str(tmp_path / "data"), "--out", str(out), "--patch", "16"]
    assert main(["train", *args, "--steps", "1", "--device", "cpu"]) == 2
    assert capsys.readouterr().err == f"vsr: error: output folder {out} is a file\n"
    assert out.read_text() == "not a folder"


def test_recipe_paths_may_start_at_the_home_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    recipe = tmp_path / "recipes" / "recipe.toml"
    recipe.parent.mkdir()
    recipe.write_text('train_dir = "~/data"\nval_dir = "sets/Set5"\n')
    config = load_config(recipe)
    assert config.train_dir == str(tmp_path / "home" / "data")
    assert config.val_dir == str(tmp_path / "recipes" / "sets" / "Set5")


def test_an_output_folder_that_cannot_be_made_is_an_error(tmp_path, capsys) -> None:
    make_dataset(tmp_path / "data", count=1)
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "run"
    args = ["--train-dir", str(tmp_path / "data"), "--out", str(out), "--patch", "16"]
    assert main(["train", *args, "--steps", "1", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err == f"vsr: error: cannot create output folder {out}: Not a directory\n"


def test_images_smaller_than_the_patch_are_named_as_left_out(tmp_path, capsys) -> None:
    make_dataset(tmp_path / "data", count=2, size=40)
    make_dataset(tmp_path / "small", count=1, size=8)
    (tmp_path / "small" / "img0.png").rename(tmp_path / "data" / "small.png")
    args = ["--train-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run")]
    flags = ["--patch", "16", "--arch", "imdn_rtc", "--batch", "1", "--threads", "1"]
    assert main(["train", *args, *flags, "--steps", "1", "--device", "cpu"]) == 0
    assert "2 images (1 smaller than the patch left out), batch 1" in capsys.readouterr().err


def test_more_threads_than_cpus_is_a_note_and_the_cpus_are_used(tmp_path, capsys) -> None:
    # threads = 100000 killed the run with SIGSEGV (OpenMP starting more threads than the
    # system allows), without a word; a value above the CPUs only made threads queue.
    make_dataset(tmp_path / "data", count=1)
    cpus = len(os.sched_getaffinity(0))
    flags = ["--patch", "16", "--arch", "imdn_rtc", "--batch", "1", "--steps", "1"]
    flags += ["--device", "cpu", "--threads", str(cpus + 1)]
    threads_before = torch.get_num_threads()
    seen = []
    original = torch.set_num_threads

    def record(count: int) -> None:
        seen.append(count)
        original(count)

    args = ["train", "--train-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "set_num_threads", record)
        assert main([*args, *flags]) == 0
    assert seen[0] == cpus and torch.get_num_threads() == threads_before
    err = capsys.readouterr().err
    assert f"vsr: threads {cpus + 1} is more than the {cpus} CPUs this run may use" in err


def test_as_many_threads_as_cpus_are_taken_without_a_note(tmp_path, capsys, monkeypatch):
    cpus = len(os.sched_getaffinity(0))
    seen = []
    monkeypatch.setattr(loop, "_train", lambda *_: seen.append(torch.get_num_threads()))
    loop.train(tiny_config(tmp_path, threads=cpus))
    assert seen == [cpus]
    assert "threads" not in capsys.readouterr().err


@pytest.mark.parametrize("rank", [0, 1])
def test_under_ddp_only_the_main_rank_notes_the_threads(tmp_path, capsys, monkeypatch, rank):
    # Each rank printed its own "threads ... using N": N lines for one fact, unlike every
    # other note of a run. Every rank still holds to its CPUs.
    cpus = len(os.sched_getaffinity(0))
    config = tiny_config(tmp_path, threads=cpus + 1)
    threads_before = torch.get_num_threads()
    seen = []
    monkeypatch.setattr(loop, "init_distributed", lambda _: Distributed(rank, 2, rank))
    monkeypatch.setattr(loop, "_train", lambda *_: seen.append(torch.get_num_threads()))
    loop.train(config)
    assert seen == [cpus] and torch.get_num_threads() == threads_before
    noted = f"vsr: threads {cpus + 1} is more than the {cpus} CPUs" in capsys.readouterr().err
    assert noted == (rank == 0)


def test_a_failed_join_of_the_process_group_gives_back_the_callers_settings(
    tmp_path, monkeypatch
) -> None:
    # The thread count and cuDNN's benchmark switch were set before init_distributed, outside
    # the try that restores them: a join that raised left the caller with the run's thread count.
    threads_before = torch.get_num_threads()
    benchmark_before = torch.backends.cudnn.benchmark
    torch.set_num_threads(2)
    try:

        def join_fails(device_type: str) -> Distributed:
            assert torch.get_num_threads() == 1  # the run's, set before the join
            raise RuntimeError("the process group timed out")

        monkeypatch.setattr(loop, "init_distributed", join_fails)
        with pytest.raises(RuntimeError, match="timed out"):
            loop.train(tiny_config(tmp_path, threads=1))
        assert torch.get_num_threads() == 2
        assert torch.backends.cudnn.benchmark == benchmark_before
    finally:
        torch.set_num_threads(threads_before)
