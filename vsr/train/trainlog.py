"""What a training run writes about itself: log.csv, TensorBoard scalars, config.json, and
progress lines on stderr.

TensorBoard is optional: when its package is missing the run says so once and writes the
CSV alone. A resumed run appends to its CSV under the header the file already has, after
dropping the rows of steps past its checkpoint (logged before a hard kill, trained again now)
and a last row cut short (a power loss, a full disk).
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vsr.atomic_file import atomic_output
from vsr.printable import printable

CSV_FIELDS = [
    "step", "steps_total", "loss", "lr", "steps_per_s", "data_ms", "compute_ms", "gpu_util",
    "gpu_mem_gib", "torch_mem_gib", "elapsed_s", "val_psnr", "val_ssim",
]  # fmt: skip


def note(message: str) -> None:
    """A line on stderr, marked as vsr's like every other message, that does not break the
    progress bar. Its paths are the user's (--out, --train-dir): shown escaped, a newline in
    one cannot forge a line (vsr.printable)."""
    tqdm.write(printable(f"vsr: {message}"), file=sys.stderr)


class TrainLog:
    """log.csv (always), TensorBoard event files (when installed), config.json."""

    def __init__(self, out: Path, resume: bool, start_step: int = 0) -> None:
        self.out = out
        path = out / "log.csv"
        fields = CSV_FIELDS
        if resume and path.is_file():
            fields = _keep_rows_up_to(path, start_step) or CSV_FIELDS
            self.file = path.open("a", newline="")
        else:
            self.file = path.open("w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=fields, extrasaction="ignore")
        if self.file.tell() == 0:
            self.writer.writeheader()
            # On disk now: a run killed before its first row (out of memory) left an empty
            # log.csv, which a new run into --out took for the user's file and refused.
            self.file.flush()
        self.board = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            note("tensorboard is not installed: logging to log.csv only")
        except Exception as error:  # a broken install must not stop a training run
            note(f"TensorBoard is unusable ({type(error).__name__}: {error}): log.csv only")
        else:
            self.board = SummaryWriter(str(out / "tensorboard"))

    def write_config(self, settings: dict[str, Any]) -> None:
        with atomic_output(self.out / "config.json", "w") as file:
            file.write(json.dumps(settings, indent=2) + "\n")

    def row(self, step: int, **values: float | int | None) -> None:
        """One CSV row (missing values left blank) and a TensorBoard scalar per value."""
        self.writer.writerow({"step": step, **{k: _cell(v) for k, v in values.items()}})
        self.file.flush()
        if self.board is not None:
            for key, value in values.items():
                if value is not None and key != "elapsed_s" and math.isfinite(value):
                    self.board.add_scalar(key, value, step)

    def close(self) -> None:
        self.file.close()
        if self.board is not None:
            self.board.close()


def _keep_rows_up_to(path: Path, step: int) -> list[str] | None:
    """Drop the rows of log.csv after `step`, and a last row cut short, atomically; return
    its header (None: not even that is whole, and the file is emptied for a new one).

    Every row ends its line, so a file that does not was cut mid-row (a power loss, a
    full disk): the resumed run's first row, appended to it, was glued onto that stump
    (`4,4,0.378918,...,0.6,6,8,0.331267,...`), and its step cell may hold a prefix of the
    true step, which the step test alone would keep."""
    # utf-8-sig: a log saved by Excel starts with a byte-order mark, which read as part of
    # the first cell ("\ufeffstep") hid the step column, and every row was kept.
    with path.open(newline="", encoding="utf-8-sig") as file:
        text = file.read()
    rows = list(csv.reader(io.StringIO(text)))
    whole = text.endswith("\n")
    if rows and not whole:
        rows.pop()
    if not rows:
        if text:
            path.write_text("")  # a header cut short: the run writes a new one
        return None
    header, rows = rows[0], rows[1:]
    kept = rows  # a header without a step column (not vsr's): only a stump goes
    if "step" in header:
        column = header.index("step")
        whole_rows = (row for row in rows if len(row) == len(header))
        kept = [row for row in whole_rows if _step_of(row[column]) <= step]
    if len(kept) < len(rows) or not whole:
        with atomic_output(path, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(header)
            writer.writerows(kept)
    return header


def _step_of(cell: str) -> float:
    try:
        return int(cell)
    except ValueError:
        return math.inf  # a torn last line of a killed run


def _cell(value: float | int | None) -> str | float | int:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
