"""Time budgets (the steps they fix, what they count as training time) and the steps/s of
log.csv, on a clock the test moves: 10 ms a step, and whatever a stand-in validation or save
is said to take. Real time does not move it, so the counts below are exact on a loaded
machine too."""

from __future__ import annotations

import csv
import importlib
import json
import math
import re
import signal
import sys
import time
from types import ModuleType

import pytest
import torch
from test_train_interrupt import _signal_while_sampling
from test_train_loop import (
    _logged_rates,
    make_dataset,
    tiny_config,
    train_until_the_first_checkpoint,
)

import vsr.train.loop as loop
from vsr.errors import VsrError
from vsr.models.checkpoint import read_state_dict
from vsr.train.budget import StepBudget
from vsr.train.data import PatchStore

STEP_S = 0.01


class Clock:
    """time.perf_counter for the run: it moves only when told to (whole milliseconds, so
    that the sums are exact)."""

    def __init__(self) -> None:
        self.ms = 0

    def __call__(self) -> float:
        return self.ms / 1000

    def advance(self, seconds: float) -> None:
        self.ms += round(seconds * 1000)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "perf_counter", clock)
    make_steps_move(clock, monkeypatch)
    return clock


def make_steps_move(clock: Clock, monkeypatch) -> None:
    """Each batch drawn moves `clock` by a step's time, and steps 3 to 6 measure the speed, in
    the vsr modules imported now: a test that imports vsr afresh calls this again for them."""
    patch_store = importlib.import_module("vsr.train.data").PatchStore
    real_sample = patch_store.sample

    def one_step_s_batch(self, size, generator):
        clock.advance(STEP_S)
        return real_sample(self, size, generator)

    monkeypatch.setattr(patch_store, "sample", one_step_s_batch)
    budget = importlib.import_module("vsr.train.budget")
    monkeypatch.setattr(budget, "WARMUP_STEPS", 2)
    monkeypatch.setattr(budget, "MEASURE_STEPS", 4)


def validator_taking(clock: Clock, seconds: float, calls: list[int] | None = None) -> type:
    """A stand-in validation that takes `seconds` on the clock and scores a little better
    each time (so that each one saves best weights)."""
    scores = calls if calls is not None else []

    class Validator:
        def __init__(self, folder, scale) -> None:
            pass

        def __call__(self, model, device) -> tuple[float, float]:
            clock.advance(seconds)
            scores.append(len(scores))
            return 20.0 + len(scores), 0.5

    return Validator


def measured_rate(err: str) -> float:
    (rate,) = re.findall(r"time budget: ([\d.]+) steps/s measured", err)
    return float(rate)


def test_a_validation_among_the_measured_steps_is_not_counted_as_their_time(
    tmp_path, clock, monkeypatch, capsys
) -> None:
    # A validation at step 4, among the steps 3 to 6 that measure the speed, was counted as
    # theirs: 4 steps of 10 ms and a validation of 1 s measured 3.85 steps/s, not 100, and
    # the fit gave the run a 26th of the steps its budget held.
    monkeypatch.setattr(loop, "Validator", validator_taking(clock, 1.0))
    config = tiny_config(
        tmp_path, steps=1_000_000, minutes=10 / 60, log_every=4, val_every=4,
        val_dir=str(tmp_path),
    )  # fmt: skip
    loop.train(config)
    assert measured_rate(capsys.readouterr().err) == pytest.approx(1 / STEP_S)


def test_checkpoint_and_best_weight_saves_are_not_counted_as_steps(
    tmp_path, clock, monkeypatch, capsys
) -> None:
    # A save of last.pt or best.safetensors between two log rows was counted as the steps'
    # time: with saves of 0.5 s every 3 steps of 10 ms, log.csv said 7.41, 3.85 and 1.96
    # steps/s, not 100, and last.pt at step 3 and best weights at step 4, among the steps
    # measuring the budget's speed, measured 3.85.
    real_checkpoint, real_weights = loop.save_checkpoint, loop.save_weights
    saved: list[tuple[str, int]] = []  # the file and step of each save the clock saw

    def slow_checkpoint(path, state):
        clock.advance(0.5)
        saved.append((path.name, state["step"]))
        real_checkpoint(path, state)

    def slow_weights(model, path, metadata=None):
        clock.advance(0.5)
        saved.append((path.name, int(metadata["steps"])))
        real_weights(model, path, metadata)

    monkeypatch.setattr(loop, "save_checkpoint", slow_checkpoint)
    monkeypatch.setattr(loop, "save_weights", slow_weights)
    monkeypatch.setattr(loop, "Validator", validator_taking(clock, 0.0))  # best weights: 0.5 s
    config = tiny_config(
        tmp_path, steps=1_000_000, minutes=10 / 60, log_every=4, save_every=3, val_every=4,
        val_dir=str(tmp_path),
    )  # fmt: skip
    loop.train(config)
    assert measured_rate(capsys.readouterr().err) == pytest.approx(1 / STEP_S)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    rates = [float(row["steps_per_s"]) for row in rows if row["loss"]]
    assert len(rates) > 5 and rates == pytest.approx([1 / STEP_S] * len(rates))
    # The saves the clock saw are the run's own: left out, not merely never made.
    validated = [int(row["step"]) for row in rows if row["val_psnr"]]
    assert [step for name, step in saved if name == "best.safetensors"] == validated
    assert ("last.pt", 3) in saved and validated[0] == 4


def test_a_time_budget_ends_with_its_final_validation_within_it(
    tmp_path, clock, monkeypatch, capsys
) -> None:
    # Validations of 1 s every 30 steps of 10 ms, in a budget of 3 s: the validations at
    # steps 90 and 100 (the final one) started near or past its end, and the run ended
    # at 5.0 s. Timed once, a validation is expected to take as long again: its time is
    # kept from the steps for the final one, and one that would leave the final one none is
    # skipped, with a note.
    validations: list[int] = []
    monkeypatch.setattr(loop, "Validator", validator_taking(clock, 1.0, validations))
    seconds = 3.0
    config = tiny_config(
        tmp_path, steps=1_000_000, minutes=seconds / 60, log_every=10, val_every=30,
        val_dir=str(tmp_path),
    )  # fmt: skip
    loop.train(config)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert rows[-1]["val_psnr"] and float(rows[-1]["elapsed_s"]) <= seconds + 1e-6
    # The steps still had the time the two validations left them: 1 s, 100 steps.
    assert int(rows[-1]["step"]) >= 98 and len(validations) == 2
    assert (
        "vsr: time budget: no validation from step 60 on but the final one: one takes 1.0 s, "
        "and the 1.4 s left hold the final one only"
    ) in capsys.readouterr().err


def test_a_resumed_time_budget_still_keeps_time_for_its_final_validation(
    tmp_path, clock, monkeypatch, capsys
) -> None:
    # The run above, stopped after its checkpoint at step 60 and resumed: the validation's
    # time was not in the checkpoint, so the resumed run, having timed none, validated at
    # step 90 (the whole run skips it) and ended at 4.0 s of its 3 s budget.
    validations: list[int] = []
    monkeypatch.setattr(loop, "Validator", validator_taking(clock, 1.0, validations))
    seconds = 3.0
    config = tiny_config(
        tmp_path, steps=1_000_000, minutes=seconds / 60, log_every=10, val_every=30,
        save_every=20, val_dir=str(tmp_path),
    )  # fmt: skip
    real_sample = PatchStore.sample

    def killed_at_step_61(self, size, generator):
        if clock.ms >= 1610:  # 60 steps and the validation at step 30
            raise KeyboardInterrupt
        return real_sample(self, size, generator)

    monkeypatch.setattr(PatchStore, "sample", killed_at_step_61)
    with pytest.raises(KeyboardInterrupt):
        loop.train(config)
    assert validations == [0]
    monkeypatch.setattr(PatchStore, "sample", real_sample)
    loop.train(config, resume=True)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    validated_at = [int(row["step"]) for row in rows if row["val_psnr"]]
    # The final one at step 99 or 100 (a float's last bit in the elapsed time the resumed
    # run adds up), within the budget.
    assert validated_at[0] == 30 and validated_at[1] >= 99 and len(validated_at) == 2
    assert float(rows[-1]["elapsed_s"]) <= seconds + 1e-6


def test_the_skip_note_shows_fewer_seconds_left_than_two_validations_take(
    tmp_path, clock, monkeypatch, capsys
) -> None:
    # Validations of 0.5 s every 30 steps of 10 ms in a budget of 2.08 s: at step 60, 0.98 s
    # are left, too few for two. Both figures rounded to 0.1 s said "one takes 0.5 s, and the
    # 1.0 s left hold the final one only", room for two by its own numbers.
    monkeypatch.setattr(loop, "Validator", validator_taking(clock, 0.5))
    config = tiny_config(
        tmp_path, steps=1_000_000, minutes=2.08 / 60, log_every=10, val_every=30,
        val_dir=str(tmp_path),
    )  # fmt: skip
    loop.train(config)
    assert (
        "vsr: time budget: no validation from step 60 on but the final one: one takes 0.50 s, "
        "and the 0.98 s left hold the final one only"
    ) in capsys.readouterr().err


def test_the_skip_note_past_the_budget_says_it_is_spent_not_a_negative_time_left() -> None:
    # At a step between log rows the run can be past its budget: "the -0.2 s left".
    budget = StepBudget(steps=0, minutes=3 / 60, start_step=0, stored=None)
    budget.validated(1.0)
    assert not budget.room_to_validate(3.2)
    assert budget.skip_note(90, 3.2) == (
        "time budget: no validation from step 90 on but the final one: one takes 1.0 s, "
        "and the budget's 3 s are spent"
    )


@pytest.mark.parametrize(
    ("validation_s", "shown"), [(0.04, "0.04"), (0.0004, "0.001"), (0.3, "0.3")]
)
def test_the_skip_note_past_the_budget_gives_a_short_validation_its_time_not_0(
    validation_s: float, shown: str
) -> None:
    # Past the budget the validation's time was rounded to 0.1 s alone: a 40 ms one read
    # "one takes 0.0 s", no reason to skip anything.
    budget = StepBudget(steps=0, minutes=1 / 60, start_step=0, stored=None)
    budget.validated(validation_s)
    assert not budget.room_to_validate(1.2)
    assert budget.skip_note(90, 1.2) == (
        f"time budget: no validation from step 90 on but the final one: one takes {shown} s, "
        "and the budget's 1 s are spent"
    )


@pytest.mark.parametrize(
    ("minutes", "told"),
    [
        # 36 ms: spent at step 4 (40 ms), while the speed is still being measured.
        (0.0006, "vsr: time budget: its 0.0006 min are spent at step 4, before the 6 steps "
         "that measure the speed are done: the run ends at step 6, past the budget"),
        # 54 ms: spent by the last measured step, whose speed is known by then.
        (0.0009, "vsr: time budget: the 6 steps that measure the speed outlast its 0.0009 "
         "min (100.00 steps/s measured): the run ends with them, at step 6, past the budget"),
    ],
)  # fmt: skip
def test_a_budget_the_measuring_steps_outlast_is_said_to_be_overrun_once(
    tmp_path, clock, capsys, minutes: float, told: str
) -> None:
    # --minutes 0.05 ran 0.13 min on a CPU without a word: a budgeted run takes its warm-up
    # and measured steps whatever the budget (here 2 + 4 steps of 10 ms).
    config = tiny_config(tmp_path, steps=1_000_000, minutes=minutes, log_every=100)
    loop.train(config)
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "past the budget" in line] == [told], err
    with open(tmp_path / "run" / "log.csv") as file:
        assert [row["step"] for row in csv.DictReader(file)] == ["6"]


def test_a_budget_that_holds_the_measuring_steps_says_nothing_of_overrunning(
    tmp_path, clock, capsys
) -> None:
    loop.train(tiny_config(tmp_path, steps=1_000_000, minutes=1 / 60, log_every=100))
    assert "past the budget" not in capsys.readouterr().err


def test_a_resumed_runs_own_validation_replaces_the_checkpoints_time() -> None:
    # A checkpoint's 5 s validation (a CPU's) stayed the longest so far on a machine where
    # one takes 1 s, and kept skipping validations the budget had room for.
    budget = StepBudget(steps=0, minutes=1.0, start_step=60, stored=100)
    budget.expect_validation(5.0)
    assert budget.validation_s == 5.0 and not budget.room_to_validate(52.0)
    budget.validated(1.0)
    assert budget.validation_s == 1.0 and budget.room_to_validate(52.0)
    budget.validated(0.5)  # from then on the longest of this run's
    assert budget.validation_s == 1.0
    budget.expect_validation(None)  # a checkpoint from before validation times were kept
    assert budget.validation_s is None and budget.room_to_validate(59.0)


def test_a_run_resumed_with_its_time_budget_still_holds_its_validations(
    tmp_path, clock, monkeypatch
) -> None:
    # A resume with the same budget keeps the count fitted before it, but it had no speed to
    # lower that count by: every validation after the resume came on top of the budget.
    monkeypatch.setattr(loop, "Validator", validator_taking(clock, 0.5))
    seconds = 2.0
    config = tiny_config(
        tmp_path, steps=1_000_000, minutes=seconds / 60, log_every=5, val_every=20,
        save_every=30, val_dir=str(tmp_path),
    )  # fmt: skip
    train_until_the_first_checkpoint(config, monkeypatch)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["step"] == 30 and state["steps_total"] > 60  # validations still ahead
    loop.train(config, resume=True)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    steps = [row for row in rows if row["loss"]]
    assert int(steps[-1]["steps_total"]) == int(steps[-1]["step"]) < state["steps_total"]
    # Past the budget by at most the validation that used up its end and one log window.
    assert float(steps[-1]["elapsed_s"]) < seconds + 0.5 + 0.5


def test_a_run_stopped_while_its_budget_measures_resumes_on_the_uninterrupted_rates(
    tmp_path, clock, monkeypatch
) -> None:
    # A cosine run with --minutes, stopped (Ctrl-C) at step 4 while steps 3 to 6 measured its
    # speed, resumed on a cosine over its --steps 10, which the budget does not use: the
    # rate fell to the floor by step 10, then jumped back up to the cosine over the 30 steps
    # the measurement fixed.
    # 0.305 s: half a step more than 30 steps take, so that the last bit of the floats the
    # resumed run adds its time up in does not cost it a step.
    settings = dict(steps=10, minutes=0.305 / 60, lr=1e-3, lr_min=1e-6, log_every=1)
    loop.train(tiny_config(tmp_path, out=str(tmp_path / "whole"), **settings))
    whole = _logged_rates(tmp_path / "whole")
    split = tiny_config(tmp_path, out=str(tmp_path / "split"), **settings)
    moving = PatchStore.sample  # the clock's
    _signal_while_sampling(monkeypatch, signal.SIGINT, batch=4)
    with pytest.raises(KeyboardInterrupt):
        loop.train(split)
    monkeypatch.setattr(PatchStore, "sample", moving)
    loop.train(split, resume=True)
    resumed = _logged_rates(tmp_path / "split")
    # The resumed run measures its speed again after a warm-up of its own (steps 5-6, then
    # 7-10), holding the starting rate until then as the whole run does until step 6; from
    # there on both follow the cosine over the same total. Only the steps between the two
    # fixes (8 to 11: each trains with the rate set after the step before) differ.
    held = range(8, 12)
    assert max(resumed) == max(whole) == 30
    assert [resumed[step] for step in held] == pytest.approx([1e-3] * len(held))
    assert [whole[step] for step in held] < [1e-3] * len(held)
    assert {step: rate for step, rate in resumed.items() if step not in held} == pytest.approx(
        {step: rate for step, rate in whole.items() if step not in held}
    )


def _vsr_without_pyav(monkeypatch) -> ModuleType:
    """vsr re-imported with `import av` failing, as on the GPU machine; returns its cli.

    monkeypatch puts the original modules back afterwards.
    """
    for name in [n for n in sys.modules if n.split(".")[0] in ("vsr", "av")]:
        if name != "vsr.errors":  # VsrError stays the class the CLI catches
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "av", None)
    return importlib.import_module("vsr.cli")


def test_a_time_budget_fixes_the_steps_and_resume_keeps_them(
    tmp_path, clock, monkeypatch, capsys
) -> None:
    make_dataset(tmp_path / "data")
    make_dataset(tmp_path / "val" / "HR", count=1)
    out = tmp_path / "run"
    cli = _vsr_without_pyav(monkeypatch)
    make_steps_move(clock, monkeypatch)  # the CLI trains with the modules just imported
    args = [
        "train", "--train-dir", str(tmp_path / "data"), "--val-dir", str(tmp_path / "val"),
        "--out", str(out), "--arch", "imdn_rtc", "--patch", "16", "--batch", "4",
        "--steps", "1000000", "--minutes", "0.005", "--schedule", "cosine", "--lr", "1e-3",
        "--log-every", "5", "--device", "cpu", "--threads", "1",
    ]  # fmt: skip
    assert cli.main(args) == 0
    assert "av" not in {name.split(".")[0] for name, m in sys.modules.items() if m is not None}
    stderr = capsys.readouterr().err
    _, metadata = read_state_dict(out / "last.safetensors")
    total = int(metadata["steps"])
    # 0.3 s: the 6 steps that measure 100 steps/s, and the 24 steps the 0.24 s left hold.
    assert total == 30 and metadata["steps_total"] == str(total)
    assert metadata["minutes"] == "0.005" and float(metadata["measured_steps_per_s"]) == 100
    assert f"{total} steps in all" in stderr
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == state["steps_total"] == total
    assert json.loads((out / "config.json").read_text())["steps"] == total
    rows = [row for row in csv.DictReader((out / "log.csv").open()) if row["loss"]]
    assert int(rows[-1]["step"]) == total and int(rows[-1]["steps_total"]) == total
    # The cosine was laid over the chosen count, which the steps at their measured speed
    # kept to the end: the last step trained one step short of the floor (each row holds the
    # rate its step used).
    floor = 1e-7 / 1e-3
    last = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (total - 1) / total))
    measured = 2 + 4
    assert {int(row["steps_total"]) for row in rows if int(row["step"]) > measured} == {total}
    assert float(rows[-1]["lr"]) == pytest.approx(1e-3 * last, rel=1e-3)
    # The clock moves as a batch is drawn: the meter gives a step's 10 ms to the data.
    assert float(rows[-1]["steps_per_s"]) == pytest.approx(1 / STEP_S)
    assert float(rows[-1]["data_ms"]) == pytest.approx(1000 * STEP_S)
    assert float(rows[-1]["compute_ms"]) == 0

    # Resumed with the same budget, the run keeps its count instead of measuring again: it
    # is finished, says so, and leaves its weights (and their validation figures) alone.
    config = tiny_config(tmp_path, out=str(out), steps=1_000_000, minutes=0.005)
    # ... and names the ways on: a larger budget, or none and a step count.
    told = f"already at step {total} .*0.005 fixed {total} steps: .*--minutes 0 and a larger"
    with pytest.raises(VsrError, match=told):
        loop.train(config, resume=True)
    _, after = read_state_dict(out / "last.safetensors")
    assert after == metadata and "val_psnr" in after
    # A new budget measures again and fits the rest of the run into it: its 0.36 s hold the
    # 30 steps' 0.3 s and the 6 that measure.
    config = tiny_config(tmp_path, out=str(out), steps=1_000_000, minutes=0.006)
    loop.train(config, resume=True)
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == state["steps_total"] == 36


def test_a_time_budget_holds_the_validations_in_the_middle_of_the_run(
    tmp_path, clock, monkeypatch, capsys
) -> None:
    # The fit counted only the steps: each validation after it (a Set5 pass takes seconds on
    # a CPU) came on top of the budget, and a run validating often overran it many times.
    monkeypatch.setattr(loop, "Validator", validator_taking(clock, 0.5))
    seconds = 1.5
    config = tiny_config(
        tmp_path, steps=1_000_000, minutes=seconds / 60, log_every=5, val_every=20,
        val_dir=str(tmp_path),
    )  # fmt: skip
    loop.train(config)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    steps = [row for row in rows if row["loss"]]
    total = int(steps[-1]["step"])
    assert int(steps[-1]["steps_total"]) == total
    # The final validation ends within the budget: the fit's 150 steps, never lowered for
    # the validation at step 20, ended at 2.0 s and their final validation at 2.5 s.
    assert rows[-1]["val_psnr"] and float(rows[-1]["elapsed_s"]) <= seconds + 1e-6
    assert "steps in all now, not " in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["steps"] == total


def test_a_time_budget_cut_by_small_steps_is_said_from_the_total_last_said(
    tmp_path, clock, monkeypatch, capsys
) -> None:
    # Steps that slow down after the fit lower the total by a step or two at each row, each
    # cut under the 1% that is said: the cuts added up unsaid, and a note, if any came,
    # named the row's total before ("not 833") where the run had said 984.
    real_sample = PatchStore.sample
    measured = 2 + 4

    def slower_after_the_fit(self, size, generator, calls=[]):  # noqa: B006 - a counter
        calls.append(None)
        if len(calls) > measured:
            clock.advance(STEP_S)  # 20 ms a step: a slower pace, not one long stall
        return real_sample(self, size, generator)

    monkeypatch.setattr(PatchStore, "sample", slower_after_the_fit)
    config = tiny_config(tmp_path, steps=1_000_000, minutes=1.5 / 60, log_every=1)
    loop.train(config)
    err = capsys.readouterr().err
    (fitted,) = re.findall(r"so (\d+) steps in all", err)
    said = [int(fitted)]
    for now, before in re.findall(r"(\d+) steps in all now, not (\d+)", err):
        assert int(before) == said[-1]  # what the user was told, not the row's total
        said.append(int(now))
    final = json.loads((tmp_path / "run" / "config.json").read_text())["steps"]
    assert final < 0.9 * int(fitted)  # the slower steps cut it by half or so
    assert final >= 0.99 * said[-1]


def one_process(total: int) -> int:
    """StepBudget's `agree` for a run alone: the total it proposes is the one it takes."""
    return total


def test_a_refit_lowers_the_total_to_the_time_left_and_never_raises_it() -> None:
    # 50 measured steps in 5 s (10 steps/s), fixed at step 60 and 6 s of a 60 s budget:
    # 60 + 10 * 54 = 600 steps in all.
    budget = StepBudget(steps=0, minutes=1.0, start_step=0, stored=None)
    assert (budget.measure_from, budget.measure_to) == (10, 60)
    assert not budget.after_step(10, lambda: 1.0, one_process)
    assert budget.after_step(60, lambda: 6.0, one_process)
    assert budget.total == 600
    # Steps faster than measured leave time for 620: the run keeps the 600 it fixed.
    assert budget.refit(100, lambda: 8.0, one_process) == 600
    assert budget.total == 600
    # Slower ones (a validation, a save) leave 30 s for 300 more: lowered to 500.
    assert budget.refit(200, lambda: 30.0, one_process) == 600
    assert budget.total == 500


def test_only_time_left_out_among_the_measured_steps_is_taken_from_their_time() -> None:
    # A save in the warm-up (steps 1 to 10) is before the measurement's start: taking its
    # 2 s from the measured steps' time as well gave them 50 steps in 3 s, not 5.
    budget = StepBudget(steps=0, minutes=1.0, start_step=0, stored=None)
    assert (budget.measure_from, budget.measure_to) == (10, 60)
    budget.leave_out(2.0)  # a save at step 5
    budget.after_step(10, lambda: 3.0, one_process)
    budget.leave_out(1.0)  # a validation at step 30, within the measurement
    budget.after_step(60, lambda: 9.0, one_process)
    assert budget.measured_rate == 10.0  # 50 steps in 9 - 3 - 1 = 5 s
    assert budget.total == 60 + 10 * 51
