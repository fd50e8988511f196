"""The training loop: L1 on random patches, Adam, a step or cosine schedule, resumable.

Files written to ``config.out``:
  last.pt            full training state for --resume (every save_every steps and at the end)
  best.safetensors   the weights with the best validation PSNR so far (when val_dir is set)
  last.safetensors   the final weights (vsr.models.save_weights: loadable by every command)
  log.csv            step, loss, lr, steps/s, elapsed seconds, validation PSNR/SSIM
  config.json        the settings of the run
A TensorBoard event file is added when the tensorboard package is installed.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from vsr.errors import VsrError
from vsr.models import create_model, save_weights
from vsr.train.checkpoint import (
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
    training_state,
)
from vsr.train.config import TrainConfig
from vsr.train.data import PatchStore, batch_generator
from vsr.train.distributed import Distributed, init_distributed
from vsr.train.transfer import init_from_other_scale
from vsr.train.validate import Validator

CSV_FIELDS = ["step", "loss", "lr", "steps_per_s", "elapsed_s", "val_psnr", "val_ssim"]


def pick_device(config: TrainConfig, local_rank: int) -> torch.device:
    if config.device == "cpu" or (config.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise VsrError("device cuda was asked for but no CUDA GPU is available")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler:
    """Step (halve every lr_step) or cosine (to lr_min at config.steps), in closed form.

    A closed form of the step number, rather than a recursive scheduler, means a run resumed
    with a larger --steps simply stretches its cosine from where it is.
    """
    if config.schedule == "cosine":
        floor = config.lr_min / config.lr

        def factor(step: int) -> float:
            progress = min(step / config.steps, 1.0)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    else:

        def factor(step: int) -> float:
            return config.lr_gamma ** (step // config.lr_step)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train(config: TrainConfig, resume: bool = False) -> nn.Module:
    """Train as config says (one process, or one rank under torchrun); returns the model."""
    threads_before = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    device_type = "cuda" if config.device != "cpu" and torch.cuda.is_available() else "cpu"
    ddp = init_distributed(device_type)
    try:
        return _train(config, resume, ddp)
    finally:
        ddp.close()
        torch.set_num_threads(threads_before)  # callers in the same process keep theirs


def _train(config: TrainConfig, resume: bool, ddp: Distributed) -> nn.Module:
    device = pick_device(config, ddp.local_rank)
    out = Path(config.out)
    checkpoint_path = out / "last.pt"
    if not resume and checkpoint_path.exists():
        raise VsrError(f"{out} already holds a run: pass --resume, or choose another --out")

    torch.manual_seed(config.seed)  # the same initial weights on every rank
    model = create_model(config.arch, config.scale)
    if config.init_from and not resume:
        init_from_other_scale(model, config.init_from)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = make_scheduler(optimizer, config)
    start, best_psnr, seconds_before = 0, -math.inf, 0.0
    if resume:
        state = load_checkpoint(checkpoint_path)
        for key in ("arch", "scale"):
            if state["config"][key] != getattr(config, key):
                raise VsrError(
                    f"cannot resume: the checkpoint has {key}={state['config'][key]}, "
                    f"the config {key}={getattr(config, key)}"
                )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng_state(state["rng"])
        start, best_psnr, seconds_before = state["step"], state["best_psnr"], state["seconds"]
    model.to(device)
    _move_optimizer_state(optimizer, device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)

    step_model: nn.Module = model
    if ddp.enabled:
        step_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.compile:
        step_model = torch.compile(step_model)
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")

    store = PatchStore.from_folder(config.train_dir, config.scale, config.patch // config.scale)
    store.to(device)
    validator = Validator(config.val_dir, config.scale) if config.val_dir and ddp.is_main else None
    if ddp.is_main:  # only once the inputs are known to be good
        out.mkdir(parents=True, exist_ok=True)
    log = _Log(out, config, resume) if ddp.is_main else None

    model.train()
    started = time.perf_counter()
    window_loss = torch.zeros((), device=device)
    window_start, window_steps = time.perf_counter(), 0
    bar = tqdm(
        total=config.steps,
        initial=start,
        unit="it",
        disable=not ddp.is_main,
        dynamic_ncols=True,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
    )
    for step in range(start, config.steps):
        batch = store.sample(config.batch, batch_generator(config.seed, ddp.rank, step))
        lr_images = batch.lr.float().div_(255).contiguous(memory_format=memory_format)
        hr_images = batch.hr.float().div_(255)
        autocast = (
            torch.autocast(device.type, dtype=torch.bfloat16)
            if use_bf16
            else contextlib.nullcontext()
        )
        with autocast:
            sr = step_model(lr_images)
        loss = F.l1_loss(sr.float(), hr_images)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        bar.update(1)
        done = step + 1
        window_loss += loss.detach()
        window_steps += 1

        if done % config.log_every == 0 or done == config.steps:
            mean_loss = ddp.mean(window_loss / window_steps).item()  # every rank takes part
            now = time.perf_counter()
            rate = window_steps / (now - window_start)
            window_loss.zero_()
            window_start, window_steps = now, 0
            if log is not None:
                lr_now = optimizer.param_groups[0]["lr"]
                elapsed = seconds_before + now - started
                log.row(step=done, loss=mean_loss, lr=lr_now, steps_per_s=rate, elapsed_s=elapsed)
                bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr_now:.2e}")
                if not sys.stderr.isatty():
                    tqdm.write(
                        f"step {done}/{config.steps} loss {mean_loss:.5f} lr {lr_now:.3g} "
                        f"{rate:.2f} it/s elapsed {elapsed / 60:.1f} min",
                        file=sys.stderr,
                    )

        validate_now = validator is not None and (
            (config.val_every and done % config.val_every == 0) or done == config.steps
        )
        if validate_now:
            psnr, ssim = validator(model, device)
            elapsed = seconds_before + time.perf_counter() - started
            log.row(step=done, elapsed_s=elapsed, val_psnr=psnr, val_ssim=ssim)
            tqdm.write(
                f"step {done}: validation PSNR {psnr:.3f} dB SSIM {ssim:.4f}", file=sys.stderr
            )
            if psnr > best_psnr:
                best_psnr = psnr
                save_weights(model, out / "best.safetensors", _metadata(config, done, psnr))

        if ddp.is_main and (done % config.save_every == 0 or done == config.steps):
            elapsed = seconds_before + time.perf_counter() - started
            state = training_state(
                model, optimizer, scheduler, done, best_psnr, elapsed, config.to_dict()
            )
            save_checkpoint(checkpoint_path, state)
    bar.close()

    if ddp.is_main:
        save_weights(model, out / "last.safetensors", _metadata(config, config.steps, None))
        if log is not None:
            log.close()
    ddp.barrier()  # no rank leaves before the files exist
    return model


def _move_optimizer_state(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    # Adam's moments load on the CPU; they must live beside their parameters. Its "step"
    # counters stay on the CPU, where Adam expects them unless capturable.
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and key != "step":
                state[key] = value.to(device)


def _metadata(config: TrainConfig, step: int, psnr: float | None) -> dict[str, str]:
    info = {"steps": str(step), "patch": str(config.patch), "batch": str(config.batch)}
    if psnr is not None:
        info["val_psnr"] = f"{psnr:.4f}"
    return info


class _Log:
    """CSV always; TensorBoard too when its package is installed (it is optional)."""

    def __init__(self, out: Path, config: TrainConfig, resume: bool) -> None:
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        path = out / "log.csv"
        new = not (resume and path.exists())
        self.file = path.open("w" if new else "a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=CSV_FIELDS)
        if new:
            self.writer.writeheader()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.board = None
        else:
            self.board = SummaryWriter(str(out / "tensorboard"))

    def row(self, step: int, **values: float) -> None:
        self.writer.writerow({"step": step, **values})
        self.file.flush()
        if self.board is not None:
            for key, value in values.items():
                if key != "elapsed_s":
                    self.board.add_scalar(key, value, step)

    def close(self) -> None:
        self.file.close()
        if self.board is not None:
            self.board.close()
