"""Ctrl-C, SIGTERM or SIGHUP during training: the run finishes its step, saves it, and resumes
exactly; a second signal stops at once."""

from __future__ import annotations

import signal

import pytest
import torch
from test_train_loop import tiny_config

import vsr.train.loop as loop
from vsr.cli import _terminate
from vsr.stop_signals import STOP_SIGNALS, stopped_by
from vsr.train.data import PatchStore
from vsr.train.out_lock import LOCK_FILE


@pytest.fixture
def vsr_signal_handlers():
    """SIGTERM and SIGHUP handled as the `vsr` command handles them (otherwise they would
    end pytest)."""
    before = {number: signal.signal(number, _terminate) for number in STOP_SIGNALS}
    yield
    for number, handler in before.items():
        signal.signal(number, handler)


def _signal_while_sampling(monkeypatch, number: int, batch: int, times: int = 1) -> None:
    """Send ourselves signal `number` `times` times while batch number `batch` is drawn."""
    real_sample = PatchStore.sample
    calls = []

    def sample(self, size, generator):
        calls.append(None)
        if len(calls) == batch:
            for _ in range(times):
                signal.raise_signal(number)
        return real_sample(self, size, generator)

    monkeypatch.setattr(PatchStore, "sample", sample)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_saves_the_step_it_stopped_at_and_resume_continues_exactly(
    tmp_path, monkeypatch, vsr_signal_handlers, number, capsys
) -> None:
    whole = loop.train(tiny_config(tmp_path, out=str(tmp_path / "whole"), steps=6))
    # save_every is 100: before stopping cleanly, the signal lost all four steps.
    split = tiny_config(tmp_path, out=str(tmp_path / "split"), steps=6)
    numbers = (signal.SIGINT, *STOP_SIGNALS)
    handlers = [signal.getsignal(n) for n in numbers]
    _signal_while_sampling(monkeypatch, number, batch=4)
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt) as raised:
        loop.train(split)
    # Said when the signal came, not only once the step (or a long validation) was done:
    # silence read as a hang, and a second Ctrl-C lost the checkpoint.
    err = capsys.readouterr().err
    assert err.index("vsr: stopping once the current step") < err.index("stopped at step 4")
    # Named as the signal it was: a SIGTERM ended in "vsr: interrupted", not "interrupted
    # by SIGTERM", after a note that "Ctrl-C again stops at once".
    name = "Ctrl-C" if number == signal.SIGINT else signal.Signals(number).name
    assert stopped_by(raised.value) == name
    assert f"{name} again stops at once" in err
    monkeypatch.undo()
    assert [signal.getsignal(n) for n in numbers] == handlers
    assert torch.load(tmp_path / "split" / "last.pt", weights_only=True)["step"] == 4
    # Nothing half-written: no temporary file, no weights of an unfinished run.
    # (The run's lock, held while it lived, stays for the next run to take.)
    kept = sorted(p.name for p in (tmp_path / "split").iterdir() if p.name != "tensorboard")
    assert kept == [
        LOCK_FILE,
        "config.json",
        "last.pt",
        "log.csv",
    ]
    resumed = loop.train(split, resume=True)
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_the_steps_since_the_last_row_are_logged_when_a_run_stops_between_rows(
    tmp_path, monkeypatch
) -> None:
    import csv

    config = tiny_config(tmp_path, steps=8, log_every=4)
    _signal_while_sampling(monkeypatch, signal.SIGINT, batch=7)  # stops after step 7
    with pytest.raises(KeyboardInterrupt):
        loop.train(config)
    monkeypatch.undo()
    loop.train(config, resume=True)
    with open(tmp_path / "run" / "log.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    # Steps 5 to 7 were in no row: the resumed run's window starts at step 8.
    assert [row["step"] for row in rows] == ["4", "7", "8"]
    assert all(float(row["loss"]) > 0 for row in rows)


def test_a_signal_during_a_validation_stops_at_that_step(tmp_path, monkeypatch) -> None:
    # The stop was looked at before the step's validation and not after it: a Ctrl-C during
    # a Set5 pass trained one more step (seconds on a CPU) and said "stopped at step 3".
    class ValidatorStopped:
        def __init__(self, folder, scale) -> None:
            pass

        def __call__(self, model, device) -> tuple[float, float]:
            signal.raise_signal(signal.SIGINT)
            return 20.0, 0.5

    monkeypatch.setattr(loop, "Validator", ValidatorStopped)
    config = tiny_config(tmp_path, steps=4, val_every=2, val_dir=str(tmp_path), log_every=100)
    with pytest.raises(KeyboardInterrupt):
        loop.train(config)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 2


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_stops_at_once(tmp_path, monkeypatch, vsr_signal_handlers, number) -> None:
    config = tiny_config(tmp_path, steps=6)
    _signal_while_sampling(monkeypatch, number, batch=4, times=2)
    with pytest.raises(KeyboardInterrupt) as raised:
        loop.train(config)
    monkeypatch.undo()
    assert stopped_by(raised.value) == ("Ctrl-C" if number == signal.SIGINT else "SIGTERM")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not (tmp_path / "run" / "last.pt").exists()  # mid-step: nothing consistent to save
    assert not [
        p for p in (tmp_path / "run").iterdir() if p.name.startswith(".") and p.name != LOCK_FILE
    ]


def test_a_signal_during_the_last_step_lets_the_run_write_its_weights(tmp_path, monkeypatch):
    # The step that stops is the run's last: it ends as a finished run, weights written.
    _signal_while_sampling(monkeypatch, signal.SIGINT, batch=4)
    try:
        loop.train(tiny_config(tmp_path, steps=4))
    except KeyboardInterrupt:  # not let out: pytest would take it for its own Ctrl-C
        pytest.fail("the run stopped at its last step instead of finishing")
    assert (tmp_path / "run" / "last.safetensors").is_file()
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 4
