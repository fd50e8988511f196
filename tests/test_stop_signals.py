"""SIGTERM and SIGHUP (a closed terminal or SSH session) stop the `vsr` command as Ctrl-C
does, and leave the caller's handlers as they were (vsr.stop_signals). A run's temporary
file going with it is tested in test_run_command.py, a training run's step in
test_train_interrupt.py."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import subprocess
import sys
import termios
from pathlib import Path

from vsr.cli import main
from vsr.commands import weights

REPO = Path(__file__).resolve().parent.parent


def test_the_cli_puts_back_the_sigterm_and_sighup_handlers_it_installs(capsys):
    # main() may run inside another program (or a test session): it must not leave vsr's
    # handler, which turns SIGTERM and SIGHUP into KeyboardInterrupt, behind.
    def own_handler(number, frame):
        pass

    before = signal.signal(signal.SIGHUP, own_handler)
    try:
        term_before = signal.getsignal(signal.SIGTERM)
        assert main(["weights", "list"]) == 0
        assert signal.getsignal(signal.SIGTERM) is term_before
        assert signal.getsignal(signal.SIGHUP) is own_handler
    finally:
        signal.signal(signal.SIGHUP, before)


def test_the_cli_leaves_an_ignored_sighup_ignored(monkeypatch):
    # `nohup vsr run ...` asks vsr to outlive its terminal: a handler of vsr's in place of
    # the ignored SIGHUP would stop it when the terminal closes.
    during = []

    def list_weights(args):
        during.append(signal.getsignal(signal.SIGHUP))
        return 0

    monkeypatch.setattr(weights, "list_weights", list_weights)  # read by the parser
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        assert main(["weights", "list"]) == 0
    finally:
        signal.signal(signal.SIGHUP, before)
    assert during == [signal.SIG_IGN]


# A command that waits, in a process whose terminal is a pseudo-terminal the test closes.
_WAITING_COMMAND = """
import sys, time
from vsr import cli
from vsr.commands import weights

def wait(args):
    print("waiting", flush=True)
    time.sleep(60)

weights.list_weights = wait
sys.exit(cli.main(["weights", "list"]))
"""


def _take_as_controlling_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_a_closed_terminal_ends_the_command_as_ctrl_c_does():
    # Closing the terminal sends SIGHUP, which ended vsr on the spot (exit 129); and every
    # write to the closed terminal fails, so "vsr: interrupted" itself ended it in a
    # traceback that nobody saw (exit 1).
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", _WAITING_COMMAND],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        preexec_fn=_take_as_controlling_terminal,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    os.close(follower)
    try:
        said = b""
        while b"waiting" not in said:
            said += os.read(leader, 100)
    finally:
        os.close(leader)  # the terminal closes: the kernel sends its session SIGHUP
    assert process.wait(timeout=30) == 130


def test_ctrl_c_while_the_commands_are_loaded_is_one_line(monkeypatch, capsys):
    # build_parser imports every command's module, seconds on a loaded machine: a Ctrl-C
    # then printed a traceback of the imports and ended the process with SIGINT's status.
    import vsr.cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(vsr.cli, "build_parser", interrupted)
    assert main(["weights", "list"]) == 130
    assert capsys.readouterr().err == "vsr: interrupted\n"
