"""A run stores absolute paths, so that `vsr train --out DIR --resume` works from any
directory; an --init-from that names weights rather than a file stays a name."""

from __future__ import annotations

import json

import torch
from test_train_loop import make_dataset

from vsr.cli import main
from vsr.train.config import load_config


def test_a_run_started_with_relative_paths_resumes_from_another_directory(
    tmp_path, monkeypatch
) -> None:
    start = tmp_path / "A"
    make_dataset(start / "train")
    make_dataset(start / "val" / "HR", count=1)
    monkeypatch.chdir(start)
    args = [
        "train", "--train-dir", "train", "--val-dir", "val", "--out", "X", "--arch",
        "imdn_rtc", "--patch", "16", "--batch", "2", "--steps", "2", "--device", "cpu",
        "--threads", "1",
    ]  # fmt: skip
    assert main(args) == 0
    stored = json.loads((start / "X" / "config.json").read_text())
    assert stored["train_dir"] == str((start / "train").resolve())
    assert stored["val_dir"] == str((start / "val").resolve())
    assert stored["out"] == str((start / "X").resolve())

    monkeypatch.chdir(tmp_path / "..")
    assert main(["train", "--out", str(start / "X"), "--resume", "--steps", "3"]) == 0
    state = torch.load(start / "X" / "last.pt", weights_only=True)
    assert state["step"] == 3
    assert state["config"]["train_dir"] == str((start / "train").resolve())


def test_the_default_out_is_stored_absolute_and_judged_alike_from_anywhere(
    tmp_path, monkeypatch
) -> None:
    # The default runs/train was stored as written: the records of a run started in sub/
    # that diverged at once were refused from sub/'s parent ("already holds config.json,
    # log.csv") and replaced from sub/.
    make_dataset(tmp_path / "train")
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    flags = [
        "train", "--train-dir", str(tmp_path / "train"), "--arch", "imdn_rtc", "--patch",
        "16", "--batch", "2", "--device", "cpu", "--threads", "1", "--log-every", "1",
    ]  # fmt: skip
    assert main([*flags, "--steps", "4", "--lr", "1e30"]) == 2  # diverges, saves nothing
    run = sub.resolve() / "runs" / "train"
    assert json.loads((run / "config.json").read_text())["out"] == str(run)
    monkeypatch.chdir(tmp_path)
    assert main([*flags, "--steps", "1", "--out", "sub/runs/train"]) == 0
    assert (run / "last.safetensors").is_file()


def test_init_from_becomes_absolute_only_when_it_is_a_path(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain").write_bytes(b"")  # an existing file, even without an extension

    def init_from(value: str) -> str:
        return load_config(None, {"train_dir": "data", "init_from": value}).init_from

    here = tmp_path.resolve()
    assert init_from("IMDN_x2") == "IMDN_x2"  # a weights name, not a file here
    assert init_from("plain") == str(here / "plain")
    assert init_from("new.safetensors") == str(here / "new.safetensors")
    assert init_from("old.pth") == str(here / "old.pth")
    assert init_from("w/x2") == str(here / "w" / "x2")
    assert init_from(str(tmp_path / "abs.pth")) == str(tmp_path / "abs.pth")
    assert load_config(None, {"train_dir": "data"}).init_from == ""  # empty stays empty


def test_init_from_in_a_recipe_is_relative_to_the_recipe_unless_a_name(tmp_path) -> None:
    recipe = tmp_path / "recipes" / "r.toml"
    recipe.parent.mkdir()
    recipe.write_text('train_dir = "data"\ninit_from = "IMDN_x2"\n')
    assert load_config(recipe).init_from == "IMDN_x2"
    recipe.write_text('train_dir = "data"\ninit_from = "../w/x2.safetensors"\n')
    assert load_config(recipe).init_from == str((tmp_path / "w" / "x2.safetensors").resolve())


def test_an_out_through_a_link_to_nowhere_stays_the_link_s_not_its_target(
    tmp_path, monkeypatch
) -> None:
    # resolve() followed the link to an unmounted share, and the run made the folders it
    # pointed to and trained onto them; a link loop raised RuntimeError.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "share").symlink_to(tmp_path / "unmounted" / "results")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert load_config(None, {"train_dir": "d", "out": "share/run"}).out == str(
        tmp_path / "share" / "run"
    )
    assert load_config(None, {"train_dir": "d", "out": "loop/run"}).out == str(
        tmp_path / "loop" / "run"
    )
