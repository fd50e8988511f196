"""Every command answers --help with its own usage."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "command", ["run", "image", "eval", "train", "weights", "bench", "profile", "viz", "report"]
)
def test_every_command_has_help(command, capsys):
    from vsr.cli import main

    with pytest.raises(SystemExit) as stopped:
        main([command, "--help"])
    assert stopped.value.code == 0
    assert f"usage: vsr {command}" in capsys.readouterr().out
