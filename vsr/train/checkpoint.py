"""Training checkpoints: everything `--resume` needs, written atomically, read safely.

A checkpoint is a plain dict of tensors, numbers and strings so that it loads with
``torch.load(weights_only=True)``: RNG states are stored as the uint8 tensors torch gives.
The data order needs no state of its own: each step's batch is a function of (seed, rank,
step), so restoring the step restores the data.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsr.atomic_file import atomic_output
from vsr.errors import VsrError, first_line
from vsr.models.checkpoint import looks_like_torch_save


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # One state per GPU of the machine that saved: a machine with fewer GPUs takes
        # those it has (training draws nothing random on the GPU; this is for exactness).
        for index, cuda_state in enumerate(list(state["cuda"])[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save, written through atomic_output: never a half-written file."""
    # Serialised in memory first: torch.save's own file writer turns a full disk into a
    # RuntimeError without errno ("unexpected pos"), which the CLI cannot tell from a bug.
    # Python's write raises OSError(ENOSPC), shown as one line. A checkpoint is megabytes.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_output(path) as file:
        file.write(buffer.getbuffer())


# What every checkpoint this module writes holds (see training_state).
CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "step", "config")


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise VsrError(f"nothing to resume: {path} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # damaged or foreign files raise many types
        raise VsrError(
            f"{path}: not a readable training checkpoint: {_why_unreadable(path, error)}"
        ) from None
    if not isinstance(state, dict) or not all(key in state for key in CHECKPOINT_KEYS):
        raise VsrError(f"{path}: not a training checkpoint (no training state in it)")
    return state


def _why_unreadable(path: Path, error: Exception) -> str:
    """What kind of problem a failed torch.load means. Its own text is often no help: a bare
    number (a KeyError from a damaged pickle) or a page of advice about weights_only."""
    if not looks_like_torch_save(path):
        return "not a file torch.save writes (damaged, or another kind of file)"
    if "unsupported global" in str(error).lower():
        return "it holds Python objects beyond tensors, which are not loaded (they could run code)"
    line = first_line(error, limit=100)  # a KeyError's is its type name alone
    # A line without words (a bare number) says nothing either.
    helpful = line != type(error).__name__ and any(c.isalpha() for c in line)
    detail = f"{type(error).__name__}: {line}" if helpful else type(error).__name__
    return f"damaged or truncated ({detail})"


def check_same_network(stored: dict[str, Any], config: Any) -> None:
    """A run resumes only with the network it trains: its architecture and scale (another
    scale can start a new run from its weights)."""
    for key in ("arch", "scale"):
        if stored.get(key) != getattr(config, key):
            raise VsrError(
                f"cannot resume: the run in {config.out} has {key}={stored.get(key)}, not "
                f"{getattr(config, key)} (a new run can start from its weights: --init-from)"
            )


def stored_settings(out: str | None) -> dict[str, Any]:
    """The settings the run in folder ``out`` was started with, from its last.pt."""
    if not out:
        raise VsrError("--resume needs the run's folder: --out DIR, or the --config that names it")
    settings = load_checkpoint(Path(out) / "last.pt").get("config")
    if not isinstance(settings, dict):
        raise VsrError(f"{Path(out) / 'last.pt'}: the checkpoint holds no settings")
    return settings


def training_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    best_psnr: float,
    seconds: float,
    config: dict[str, Any],
) -> dict[str, Any]:
    return {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "best_psnr": best_psnr,
        "seconds": seconds,
        "rng": rng_state(),
        "config": config,
    }


def export_weights(
    checkpoint: Path,
    target: Path,
    metadata: dict[str, str] | None = None,
    replace: bool = True,
) -> int:
    """Write the model of a training checkpoint as safetensors (what every command loads);
    returns the training steps it had. ``replace=False``: as save_weights."""
    from vsr.models import create_model, save_weights

    state = load_checkpoint(Path(checkpoint))
    config = state["config"]
    try:
        model = create_model(config["arch"], config["scale"])
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, RuntimeError) as error:  # a config or state of another net
        raise VsrError(
            f"{checkpoint}: its network does not match its recorded settings ({first_line(error)})"
        ) from None
    info = {**_run_details(state), **(metadata or {})}
    save_weights(model, target, info, replace=replace)
    return int(state["step"])


def _run_details(state: dict) -> dict[str, str]:
    """What a run's own weights record of how they were trained (vsr.train.loop's
    _metadata), as far as its checkpoint holds it: an exported file said only the steps,
    so a DDP run's per-process batch could not be told from a whole one."""
    config = state.get("config") or {}
    info = {"steps": str(state["step"])}
    for key in ("patch", "batch"):
        if config.get(key) is not None:
            info[key] = str(config[key])
    info["processes"] = str(state.get("processes", 1))  # the batch is per process
    if state.get("steps_total") is not None:
        info["steps_total"] = str(state["steps_total"])
    if isinstance(config.get("minutes"), int | float) and config["minutes"] > 0:
        info["minutes"] = f"{config['minutes']:g}"
    if config.get("init_from"):
        info["init_from"] = "/".join(Path(str(config["init_from"])).parts[-2:])
    return info
