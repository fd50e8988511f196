"""A training run's outputs are never overwritten silently: not by a new run, not by resuming
a finished one, and best.safetensors never by worse weights."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import signal

import pytest
import torch
from test_train_interrupt import _signal_while_sampling
from test_train_loop import make_dataset, tiny_config

import vsr.train.loop as loop
from vsr import cli
from vsr.errors import VsrError
from vsr.models import create_model, save_weights
from vsr.models.checkpoint import read_state_dict
from vsr.process_lock import HeldByAnother, hold_lock_file
from vsr.train.out_lock import LOCK_FILE


def test_weights_without_a_checkpoint_are_not_overwritten(tmp_path) -> None:
    config = tiny_config(tmp_path, steps=1)
    (tmp_path / "run").mkdir()
    best = tmp_path / "run" / "best.safetensors"
    save_weights(create_model("imdn_rtc"), best, {"val_psnr": "30.0"})
    before = best.read_bytes()
    with pytest.raises(VsrError, match=r"already holds a run \(best.safetensors\)"):
        loop.train(config)
    assert best.read_bytes() == before


def test_a_new_run_does_not_overwrite_a_config_json_or_log_csv_in_its_folder(
    tmp_path, capsys
) -> None:
    # `--out .` in a project folder: its own config.json and log.csv are not the run's.
    config = tiny_config(tmp_path, steps=1)
    (tmp_path / "run").mkdir()
    mine = {"config.json": '{"name": "my project"}\n', "log.csv": "date,value\n"}
    for name, text in mine.items():
        (tmp_path / "run" / name).write_text(text)
    with pytest.raises(VsrError, match=r"already holds config.json, log.csv, which a new run"):
        loop.train(config)
    for name, text in mine.items():
        assert (tmp_path / "run" / name).read_text() == text
    assert not (tmp_path / "run" / "last.pt").exists()
    # From the command line: one line, exit status 2.
    status = cli.main(["train", "--train-dir", config.train_dir, "--out", config.out])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vsr: error: ") and "choose another --out" in err
    assert len(err.splitlines()) == 1


def test_a_run_that_saved_nothing_is_started_again_over_its_own_records(tmp_path, capsys) -> None:
    # A run that diverged at once left config.json and log.csv and no checkpoint; its rerun
    # with a lower lr was refused ("already holds config.json, log.csv"), and --resume had
    # nothing to resume: the user had to remove vsr's own files by hand.
    with pytest.raises(VsrError, match="training diverged"):
        loop.train(tiny_config(tmp_path, lr=100.0, steps=8, log_every=4, save_every=100))
    run = tmp_path / "run"
    assert {"config.json", "log.csv"} <= {p.name for p in run.iterdir()}
    assert not (run / "last.pt").exists()
    board = run / "tensorboard"
    board.mkdir(exist_ok=True)
    (board / "events.out.tfevents.1.host.1.0").write_bytes(b"the earlier run's")
    # A rerun whose inputs fail leaves them as they were: the events were removed first.
    missing = dataclasses.replace(tiny_config(tmp_path, steps=2), train_dir=str(tmp_path / "no"))
    with pytest.raises(VsrError, match="not found"):
        loop.train(missing)
    assert (board / "events.out.tfevents.1.host.1.0").exists()
    assert "they are replaced" not in capsys.readouterr().err
    loop.train(tiny_config(tmp_path, lr=1e-4, steps=2))
    assert (run / "last.safetensors").is_file()
    assert json.loads((run / "config.json").read_text())["lr"] == 1e-4
    assert [row["step"] for row in csv.DictReader((run / "log.csv").open())][-1] == "2"
    assert not (board / "events.out.tfevents.1.host.1.0").exists()
    assert (
        f"vsr: {run} holds the records of an earlier run that saved nothing "
        "(config.json, log.csv, tensorboard): they are replaced"
    ) in capsys.readouterr().err


def test_an_older_vsrs_run_that_saved_nothing_is_started_again(tmp_path) -> None:
    # vsr before c64a01b wrote no "minutes" into config.json: its run that diverged at once
    # was taken for a user's files ("already holds config.json, log.csv"), as every field of
    # today's TrainConfig was asked of it.
    with pytest.raises(VsrError, match="training diverged"):
        loop.train(tiny_config(tmp_path, lr=100.0, steps=8, log_every=4))
    config_json = tmp_path / "run" / "config.json"
    settings = json.loads(config_json.read_text())
    del settings["minutes"]
    config_json.write_text(json.dumps(settings))
    loop.train(tiny_config(tmp_path, lr=1e-4, steps=2))
    assert json.loads(config_json.read_text())["minutes"] == 0.0
    assert (tmp_path / "run" / "last.safetensors").is_file()


class _Killed(Exception):
    """Where the test kills a run, as SIGKILL would (out of memory)."""


@pytest.mark.parametrize("killed", ["before its first row", "before its header"])
def test_a_run_killed_before_it_logged_a_step_is_started_again(
    tmp_path, monkeypatch, killed
) -> None:
    # A run killed before its first log row (out of memory) left config.json and an empty
    # log.csv, its header never flushed: the next run took them for the user's files
    # ("already holds config.json, log.csv"), and --resume had nothing to resume.
    run = tmp_path / "run"
    on_disk = {}

    def killed_in_its_first_step(*args, **kwargs):
        # What SIGKILL leaves is what is on disk: the files as read by another process.
        on_disk.update({p.name: p.read_bytes() for p in run.iterdir() if p.is_file()})
        raise _Killed

    monkeypatch.setattr(loop, "_train_one_step", killed_in_its_first_step)
    with pytest.raises(_Killed):
        loop.train(tiny_config(tmp_path, steps=2))
    monkeypatch.undo()
    assert on_disk["log.csv"].startswith(b"step,steps_total,loss,")
    if killed == "before its header":  # between opening log.csv and writing to it
        on_disk["log.csv"] = b""
    for name, data in on_disk.items():
        (run / name).write_bytes(data)
    assert {"config.json", "log.csv"} <= set(on_disk) and "last.pt" not in on_disk
    loop.train(tiny_config(tmp_path, steps=2))
    assert (run / "last.safetensors").is_file()
    assert [row["step"] for row in csv.DictReader((run / "log.csv").open())] == ["2"]


@pytest.mark.parametrize("copied", ["config.json and log.csv", "log.csv alone", "a link"])
def test_another_runs_records_copied_into_out_are_not_replaced(tmp_path, copied) -> None:
    # A run that saved (its checkpoint in other/) has its config.json and log.csv copied into
    # a project folder: they were taken for vsr's records of a run there that saved nothing,
    # and the new run wrote over them with only a note.
    loop.train(tiny_config(tmp_path, steps=1, out=str(tmp_path / "other")))
    other = tmp_path / "other"
    run = tmp_path / "run"
    run.mkdir()
    names = ["log.csv"] if copied == "log.csv alone" else ["config.json", "log.csv"]
    if copied == "a link":
        # The run's own config.json, beside a log.csv linked to other/'s: the new run's log
        # would be written through the link, over the other run's.
        with pytest.raises(VsrError, match="training diverged"):
            loop.train(tiny_config(tmp_path, lr=100.0, steps=8, log_every=4))
        names = ["log.csv"]
        (run / "log.csv").unlink()
        (run / "log.csv").symlink_to(other / "log.csv")
    for name in names:
        if not (run / name).exists():
            (run / name).write_bytes((other / name).read_bytes())
    before = {name: (other / name).read_bytes() for name in names}
    with pytest.raises(VsrError, match=r"already holds .*log.csv, which a new run"):
        loop.train(tiny_config(tmp_path, steps=1))
    for name in names:
        assert (run / name).read_bytes() == before[name]
        assert (other / name).read_bytes() == before[name]
    assert not (run / "last.pt").exists()


def test_a_log_csv_linked_to_nowhere_is_refused_not_followed(tmp_path) -> None:
    # A log.csv link to a file not there was not taken for a record at all: the new run
    # opened it for writing and made the file where the link leads, outside --out.
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.csv").symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(VsrError, match=r"already holds log.csv, which a new run"):
        loop.train(tiny_config(tmp_path, steps=1))
    assert not (tmp_path / "elsewhere.csv").exists()


def test_resuming_a_finished_run_is_an_error_and_keeps_its_weights(tmp_path) -> None:
    loop.train(tiny_config(tmp_path, steps=2))
    weights = tmp_path / "run" / "last.safetensors"
    before = weights.read_bytes()
    for steps in (2, 1):
        with pytest.raises(VsrError, match=f"already at step 2 \\(--steps is {steps}: pass a"):
            loop.train(tiny_config(tmp_path, steps=steps), resume=True)
    assert weights.read_bytes() == before
    # A finished checkpoint whose weights were never written (stopped between the two)
    # writes them on --resume.
    weights.unlink()
    loop.train(tiny_config(tmp_path, steps=2), resume=True)
    _, metadata = read_state_dict(weights)
    assert metadata["steps"] == "2"
    # And a larger --steps goes on.
    loop.train(tiny_config(tmp_path, steps=3), resume=True)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 3


def test_an_interrupted_run_is_not_finished_by_a_smaller_steps(tmp_path, monkeypatch) -> None:
    class Killed(Exception):
        pass

    real_save = loop.save_checkpoint

    def save_then_die(path, state):  # as if stopped right after its checkpoint at step 3
        real_save(path, state)
        raise Killed

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        loop.train(tiny_config(tmp_path, steps=6, save_every=3))
    monkeypatch.undo()
    run = tmp_path / "run"
    checkpoint = (run / "last.pt").read_bytes()
    settings = (run / "config.json").read_text()
    for steps in (3, 1):
        with pytest.raises(VsrError, match=f"already at step 3 \\(--steps is {steps}: pass a"):
            loop.train(tiny_config(tmp_path, steps=steps, save_every=3), resume=True)
    # Nothing written: no weights passed off as final, the run's settings and state kept.
    assert not (run / "last.safetensors").exists()
    assert (run / "config.json").read_text() == settings
    assert (run / "last.pt").read_bytes() == checkpoint
    loop.train(tiny_config(tmp_path, steps=6, save_every=3), resume=True)
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 6
    assert read_state_dict(run / "last.safetensors")[1]["steps"] == "6"


def test_resume_never_replaces_best_weights_with_worse(tmp_path) -> None:
    make_dataset(tmp_path / "val" / "HR", count=1)
    validated = dict(val_dir=str(tmp_path / "val"), val_every=1, save_every=1)
    loop.train(tiny_config(tmp_path, steps=1, **validated))
    # As if best.safetensors had been written after the checkpoint (validation between two
    # saves, then a hard kill): the checkpoint does not know its PSNR.
    run = tmp_path / "run"
    state = torch.load(run / "last.pt", weights_only=True)
    state["best_psnr"] = -math.inf
    torch.save(state, run / "last.pt")
    save_weights(create_model("imdn_rtc"), run / "best.safetensors", {"val_psnr": "99.0"})
    before = (run / "best.safetensors").read_bytes()
    loop.train(tiny_config(tmp_path, steps=2, **validated), resume=True)
    assert (run / "best.safetensors").read_bytes() == before


def test_best_weights_are_those_that_first_reached_the_best_psnr(tmp_path, monkeypatch) -> None:
    # A later validation that only equals the best is no better: its weights are not kept.
    class SameScoreEveryTime:
        def __init__(self, folder, scale) -> None:
            pass

        def __call__(self, model, device) -> tuple[float, float]:
            return 30.0, 0.9

    monkeypatch.setattr(loop, "Validator", SameScoreEveryTime)
    loop.train(tiny_config(tmp_path, steps=4, val_every=2, val_dir=str(tmp_path / "val")))
    _, metadata = read_state_dict(tmp_path / "run" / "best.safetensors")
    assert (metadata["steps"], metadata["val_psnr"]) == ("2", "30.0000")


def test_resume_drops_log_rows_past_its_checkpoint(tmp_path, monkeypatch) -> None:
    real_save = loop.save_checkpoint

    def save_step_2_only(path, state):  # as if killed hard after step 4, saved at step 2
        if state["step"] == 2:
            real_save(path, state)

    monkeypatch.setattr(loop, "save_checkpoint", save_step_2_only)
    loop.train(tiny_config(tmp_path, steps=4, log_every=1, save_every=2))
    monkeypatch.undo()
    (tmp_path / "run" / "last.safetensors").unlink()
    loop.train(tiny_config(tmp_path, steps=4, log_every=1, save_every=2), resume=True)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert [int(row["step"]) for row in rows] == [1, 2, 3, 4]


def test_resume_names_the_settings_it_changes(tmp_path, capsys) -> None:
    loop.train(tiny_config(tmp_path, steps=1))
    capsys.readouterr()
    loop.train(tiny_config(tmp_path, steps=2, batch=2), resume=True)
    err = capsys.readouterr().err
    assert "resuming with changed settings: batch 4 -> 2, steps 1 -> 2\n" in err


def test_resume_on_another_number_of_processes_names_the_whole_batch(tmp_path, capsys) -> None:
    # The batch is per process: a run of two processes resumed alone trains on half of it.
    loop.train(tiny_config(tmp_path, steps=1))
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    state["processes"] = 2
    torch.save(state, tmp_path / "run" / "last.pt")
    capsys.readouterr()
    loop.train(tiny_config(tmp_path, steps=2), resume=True)
    assert (
        "vsr: resuming on 1 process(es) instead of 2: the batch of all of them together goes "
        "from 8 to 4\n"
    ) in capsys.readouterr().err


def test_resume_with_only_the_run_folder_goes_on_with_the_runs_own_settings(
    tmp_path, capsys
) -> None:
    from vsr.cli import main

    config = tiny_config(tmp_path, steps=2)
    loop.train(config)
    capsys.readouterr()
    # No recipe and no flags but --steps: data, architecture, patch, batch and schedule
    # come from the checkpoint, not from the defaults.
    assert main(["train", "--out", config.out, "--resume", "--steps", "3"]) == 0
    assert "resuming with changed settings: steps 2 -> 3\n" in capsys.readouterr().err
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["step"] == 3
    assert state["config"] == {**config.to_dict(), "steps": 3}


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--resume"], "--resume needs the run's folder: --out DIR"),
        (["--resume", "--out", "{tmp}/none"], "nothing to resume: {tmp}/none/last.pt not found"),
    ],
)
def test_resume_without_a_run_is_one_clear_error(tmp_path, capsys, flags, message) -> None:
    from vsr.cli import main

    flags = [flag.format(tmp=tmp_path) for flag in flags]
    assert main(["train", *flags]) == 2
    assert f"vsr: error: {message.format(tmp=tmp_path)}" in capsys.readouterr().err


def test_a_run_stopped_during_its_final_validation_validates_on_resume(
    tmp_path, monkeypatch
) -> None:
    # A second Ctrl-C during the last validation: last.pt holds the final step, and the
    # resume wrote last.safetensors without any validation and no best.safetensors.
    make_dataset(tmp_path / "val" / "HR", count=1)
    config = tiny_config(tmp_path, steps=2, val_dir=str(tmp_path / "val"))
    real_call = loop.Validator.__call__

    def stopped(self, model, device):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop.Validator, "__call__", stopped)
    with pytest.raises(KeyboardInterrupt):
        loop.train(config)
    monkeypatch.setattr(loop.Validator, "__call__", real_call)
    run = tmp_path / "run"
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 2
    assert not (run / "last.safetensors").exists() and not (run / "best.safetensors").exists()
    loop.train(config, resume=True)
    _, last = read_state_dict(run / "last.safetensors")
    _, best = read_state_dict(run / "best.safetensors")
    assert last["val_psnr"] == best["val_psnr"]
    rows = [r for r in csv.DictReader((run / "log.csv").open()) if r["val_psnr"]]
    assert [int(r["step"]) for r in rows] == [2]
    assert float(rows[0]["val_psnr"]) == pytest.approx(float(last["val_psnr"]), abs=1e-3)


def test_an_out_folder_that_cannot_be_read_is_one_refusal(tmp_path, monkeypatch) -> None:
    # Raised on rank 0 alone (an unreadable tensorboard/), before it sent its verdict on
    # --out, the error left the other ranks waiting at the broadcast.
    def unreadable(out):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(loop, "records_in", unreadable)
    config = tiny_config(tmp_path, steps=1)
    with pytest.raises(VsrError, match=r"^cannot read output folder .*run: Permission denied$"):
        loop.train(config)


@pytest.mark.parametrize("how", ["it finished", "Ctrl-C stopped it"])
def test_a_run_that_saved_keeps_its_log_once_its_checkpoint_and_weights_are_deleted(
    tmp_path, monkeypatch, capsys, how
) -> None:
    # With last.pt and its weights gone, the run was taken for one that saved nothing, and a
    # new run into its --out replaced its log.csv and config.json with only a note.
    config = tiny_config(tmp_path, steps=6)  # log_every 2, save_every 100
    run = tmp_path / "run"
    if how == "it finished":
        loop.train(config)
    else:
        # At step 4, a row like any other: Ctrl-C saves last.pt at whatever step it stops.
        _signal_while_sampling(monkeypatch, signal.SIGINT, batch=4)
        with pytest.raises(KeyboardInterrupt):
            loop.train(config)
        monkeypatch.undo()
    for name in loop.RUN_FILES:
        (run / name).unlink(missing_ok=True)
    records = {name: (run / name).read_bytes() for name in ("config.json", "log.csv")}
    step = 6 if how == "it finished" else 4
    refusal = f"{run} holds the records of an earlier run that trained to step {step} ("
    with pytest.raises(VsrError, match=re.escape(refusal)):
        loop.train(tiny_config(tmp_path, steps=2, lr=1e-4))
    status = cli.main(["train", "--train-dir", config.train_dir, "--out", str(run)])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("vsr: error: ") and err.endswith("choose another --out, or remove them")
    assert {name: (run / name).read_bytes() for name in records} == records
    assert not (run / "last.pt").exists()


@pytest.mark.parametrize(
    ("rows", "trained_to"),
    [
        ("4,8,nan,,,,,,,,,,\n", None),  # diverged in its first window
        ("4,8,0.2,,,,,,,,,,\n8,8,nan,,,,,,,,,,\n", None),  # before its save at step 10
        ("8,8,0.2,,,,,,,,,,\n12,12,inf,,,,,,,,,,\n", 12),  # past its save at step 10
        ("4,8,0.2,,,,,,,,,,\n4,,,,,,,,,,,30.1,0.9\n8,8,nan,,,,,,,,,,\n", 8),  # best weights
        ("4,8,0.2,,,,,,,,,,\n", 4),  # a finite last row: maybe a stop, which saves
        ("4,8,0.2,,,,,,,,,,\n8,8,na", 4),  # a last row cut short is no row
        ("", None),
    ],
)
def test_what_a_log_shows_of_a_runs_saves(tmp_path, rows, trained_to) -> None:
    from vsr.train.trainlog import CSV_FIELDS
    from vsr.train.unsaved_run import trained_to as trained_to_of

    (tmp_path / "config.json").write_text(json.dumps({"save_every": 10}))
    (tmp_path / "log.csv").write_text(",".join(CSV_FIELDS) + "\n" + rows)
    assert trained_to_of(tmp_path) == trained_to


def test_an_out_under_a_link_to_nowhere_is_refused_as_mkdir_p_refuses_it(tmp_path) -> None:
    # The run made the folders the link pointed to (an unmounted share's) and trained there.
    (tmp_path / "share").symlink_to(tmp_path / "unmounted" / "results")
    config = tiny_config(tmp_path, steps=1, out=str(tmp_path / "share" / "run"))
    with pytest.raises(
        VsrError, match=r"cannot create output folder .*share: links to .*, which is not there"
    ):
        loop.train(config)
    assert not (tmp_path / "unmounted").exists()


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_into_a_folder_another_run_is_training_is_refused(tmp_path, capsys, resume) -> None:
    # Two runs into one --out (two starts within the first's start-up, or two --resume)
    # both trained and both exited 0, each writing last.pt, config.json and log.csv over
    # the other's. The other run is simulated by holding its lock.
    config = tiny_config(tmp_path, steps=2)
    loop.train(config)
    capsys.readouterr()
    run = tmp_path / "run"
    before = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    other, _ = hold_lock_file(run / LOCK_FILE)
    try:
        flags = ["--resume", "--steps", "4"] if resume else []
        status = cli.main(["train", "--train-dir", config.train_dir, "--out", str(run), *flags])
    finally:
        other.close()
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"vsr: error: {run} is being trained by another vsr run (process {os.getpid()}); "
        "wait for it, stop it, or choose another --out"
    )
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == before


def test_a_run_holds_its_folder_from_before_its_first_file_to_its_end(tmp_path) -> None:
    config = tiny_config(tmp_path, steps=2, log_every=1)
    run = tmp_path / "run"
    held_at = []

    class LogThatTriesTheLock(loop.TrainLog):
        def __init__(self, *args, **kwargs) -> None:
            held_at.append(_held_by_another(run))  # before log.csv and config.json
            super().__init__(*args, **kwargs)

        def row(self, step, **values) -> None:
            held_at.append(_held_by_another(run))
            super().row(step, **values)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "TrainLog", LogThatTriesTheLock)
        loop.train(config)
    assert held_at == [True, True, True]
    assert not _held_by_another(run)  # let go at its end


def test_a_run_that_cannot_start_leaves_no_folder_for_its_lock(tmp_path) -> None:
    config = tiny_config(tmp_path, out=str(tmp_path / "new" / "run"))
    (tmp_path / "data" / "img0.png").write_bytes(b"not a picture")
    with pytest.raises(VsrError):
        loop.train(config)
    assert not (tmp_path / "new").exists()
    # A folder made for the run beforehand is the user's: it stays, with the lock alone in it.
    made_beforehand = tmp_path / "empty"
    made_beforehand.mkdir()
    with pytest.raises(VsrError):
        loop.train(dataclasses.replace(config, out=str(made_beforehand)))
    assert [path.name for path in made_beforehand.iterdir()] == [LOCK_FILE]


def _held_by_another(run) -> bool:
    try:
        handle, _ = hold_lock_file(run / LOCK_FILE)
    except HeldByAnother:
        return True
    handle.close()
    return False
