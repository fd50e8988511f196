"""The records an earlier run left in --out before it saved anything: config.json, log.csv
and TensorBoard events, without a checkpoint or weights beside them.

A run that diverged in its first steps, or was stopped before its first save, leaves them,
and the user starts it again with other settings into the same --out: refusing that folder
sent them to remove vsr's own files by hand. vsr's records are told from a user's own files
of those names (`--out .` in a project) by their contents, and only they are replaced: a
config.json of a run in this very folder must be there (vsr writes it with log.csv), so that
another run's records copied in (its checkpoint elsewhere) are the user's, and none of them
may be a link, which writing the new run's records would follow into another folder.

A run that saved, whose checkpoint and weights the user then deleted, leaves the same files:
its log.csv tells it apart (`trained_to`), and it is not replaced. Nor is the log of a run
killed after it logged a step: it cannot be told from that of a run Ctrl-C stopped, which saved.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

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
    a training run's settings naming `out`, a log.csv with vsr's header (or empty), a
    tensorboard/ of event files only, none of them a link."""
    config, log, board = (out / name for name in RECORD_FILES)
    if any(path.is_symlink() for path in (config, log, board)):
        return False
    return (
        _is_run_config(config, out)
        and (not log.exists() or _has_run_header(log))
        and (not board.exists() or _holds_events_only(board))
    )


def trained_to(out: Path) -> int | None:
    """The last step in the log.csv of the earlier run in `out`, where the log shows the run
    may have saved something (None where it cannot have: it diverged before its first save,
    or logged no step at all).

    A run ends at its last row. One with a finite loss may be where Ctrl-C stopped it, which
    saves last.pt at that step whatever the step (and a finished run saves at its last): it
    is taken for a run that saved, as losing its log is worse than asking for another
    --out. One with a loss that is not a number is where it diverged, and it saved only if
    it went past a save (save_every) or validated (best.safetensors) before."""
    settings = _settings_in(out / "config.json") or {}
    rows = _logged_rows(out / "log.csv")
    if not rows:
        return None
    last_step = max(step for step, _, _ in rows)
    save_every = settings.get("save_every")
    # An older config.json without it: every step may have saved.
    first_save = save_every if isinstance(save_every, int) and save_every > 0 else 0
    last_loss = rows[-1][1]
    saved = (
        any(validated for _, _, validated in rows)
        or (last_loss is not None and math.isfinite(last_loss))
        or last_step > first_save
    )
    return last_step if saved else None


def clear_events(out: Path) -> None:
    """Remove the TensorBoard events of the earlier run, which a new run's would otherwise
    be drawn beside, step for step (config.json and log.csv are rewritten anyway)."""
    board = out / "tensorboard"
    if board.is_dir():
        for path in board.iterdir():
            path.unlink()


def _settings_in(path: Path) -> dict[str, Any] | None:
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return settings if isinstance(settings, dict) else None


def _is_run_config(path: Path, out: Path) -> bool:
    settings = _settings_in(path)
    if settings is None or not settings.keys() >= RUN_SETTINGS:
        return False
    # Another run's config.json copied here names its own folder, where its checkpoint is.
    return isinstance(settings["out"], str) and Path(settings["out"]).resolve() == out.resolve()


def _has_run_header(path: Path) -> bool:
    """Whether log.csv starts with vsr's header, or is empty: a run killed between opening
    it and writing its header leaves it so, beside that run's config.json."""
    try:
        with path.open(encoding="utf-8-sig") as file:
            first_line = file.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return not first_line or first_line.strip().split(",")[:3] == ["step", "steps_total", "loss"]


def _logged_rows(path: Path) -> list[tuple[int, float | None, bool]]:
    """(step, loss, whether validated) of each whole row of a vsr log.csv (the loss None in
    a validation's row)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError):
        return []
    lines = list(csv.reader(io.StringIO(text)))
    if lines and not text.endswith("\n"):
        lines.pop()  # cut short by a power loss or a full disk: not a row the run ended at
    if not lines:
        return []
    header, body = lines[0], lines[1:]
    rows = []
    for line in body:
        cells = dict(zip(header, line, strict=False))
        try:
            step = int(cells.get("step", ""))
            loss = float(cells["loss"]) if cells.get("loss") else None
        except ValueError:
            continue
        rows.append((step, loss, bool(cells.get("val_psnr"))))
    return rows


def _holds_events_only(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    return all(p.is_file() and p.name.startswith(_EVENTS) for p in folder.iterdir())
