"""The records an earlier run left in --out before it saved anything: config.json, log.csv
and TensorBoard events, without a checkpoint or weights beside them.

A run that diverged in its first steps, or was stopped before its first save, leaves them,
and the user starts it again with other settings into the same --out: refusing that folder
sent them to remove vsr's own files by hand. vsr's records are told from a user's own files
of those names (`--out .` in a project) by their contents, and only they are replaced: a
config.json of a run in this very folder must be there (vsr writes it with log.csv), so that
another run's records copied in (its checkpoint elsewhere) are the user's, and none of them
may be a link, which writing the new run's records would follow into another folder.
"""

from __future__ import annotations

import json
from pathlib import Path

RECORD_FILES = ("config.json", "log.csv", "tensorboard")
_EVENTS = "events.out.tfevents."
# The settings every vsr training run's config.json has held, since the first: not all of
# TrainConfig's fields, as one added since (minutes) is missing from an older vsr's, whose
# run that saved nothing must be started again too.
RUN_SETTINGS = {"train_dir", "arch", "scale", "steps", "out"}


def records_in(out: Path) -> list[str]:
    """The names of RECORD_FILES that `out` holds (a link among them even when it leads
    nowhere: the run's log.csv, opened through it, would be made where it leads)."""
    return [name for name in RECORD_FILES if (out / name).exists() or (out / name).is_symlink()]


def left_by_vsr(out: Path) -> bool:
    """Whether the records in `out` are those vsr wrote for a run in `out`: a config.json of
    a training run's settings naming `out`, a log.csv with vsr's header, a tensorboard/ of
    event files only, none of them a link."""
    config, log, board = (out / name for name in RECORD_FILES)
    if any(path.is_symlink() for path in (config, log, board)):
        return False
    return (
        _is_run_config(config, out)
        and (not log.exists() or _has_run_header(log))
        and (not board.exists() or _holds_events_only(board))
    )


def clear_events(out: Path) -> None:
    """Remove the TensorBoard events of the earlier run, which a new run's would otherwise
    be drawn beside, step for step (config.json and log.csv are rewritten anyway)."""
    board = out / "tensorboard"
    if board.is_dir():
        for path in board.iterdir():
            path.unlink()


def _is_run_config(path: Path, out: Path) -> bool:
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    if not (isinstance(settings, dict) and settings.keys() >= RUN_SETTINGS):
        return False
    # Another run's config.json copied here names its own folder, where its checkpoint is.
    return isinstance(settings["out"], str) and Path(settings["out"]).resolve() == out.resolve()


def _has_run_header(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8-sig") as file:
            header = file.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):
        return False
    return header[:3] == ["step", "steps_total", "loss"]


def _holds_events_only(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    return all(p.is_file() and p.name.startswith(_EVENTS) for p in folder.iterdir())
