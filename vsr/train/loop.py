"""The training loop: L1 on random patches, Adam, a step or cosine schedule, resumable.

Files written to ``config.out``:
  last.pt            full training state for --resume (every save_every steps, at the end,
                     and at the step where Ctrl-C or SIGTERM stopped the run)
  best.safetensors   the weights with the best validation PSNR so far (when val_dir is set)
  last.safetensors   the final weights (vsr.models.save_weights: loadable by every command)
  log.csv            per logging window: loss, lr (the rate its last step trained with),
                     steps/s, data/compute ms per step, GPU
                     utilisation and memory (NVML), validation PSNR/SSIM (see trainlog.py)
  config.json        the settings of the run (with the step count a time budget chose)
  tensorboard/       the same scalars, when the tensorboard package is installed
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from vsr.atomic_file import why_folders_cannot_be_made
from vsr.counted import counted
from vsr.errors import VsrError, option
from vsr.files_left_out import left_out_note
from vsr.models import create_model, save_weights
from vsr.models.checkpoint import check_finite, read_state_dict
from vsr.printable import name_list
from vsr.profiling import allocation_asked, is_allocation_failure
from vsr.progress import on_a_terminal
from vsr.train.budget import StepBudget
from vsr.train.checkpoint import (
    check_same_network,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
    training_state,
)
from vsr.train.config import PATH_FIELDS, TrainConfig
from vsr.train.data import PatchStore, batch_generator
from vsr.train.distributed import Distributed, init_distributed
from vsr.train.interrupt import StopRequest
from vsr.train.meter import WindowMeter
from vsr.train.out_lock import OutFolderLock
from vsr.train.trainlog import TrainLog, note
from vsr.train.transfer import init_from_weights
from vsr.train.unsaved_run import clear_events, left_by_vsr, records_in, trained_to
from vsr.train.validate import Validator
from vsr.upscale import emulated_on, emulation_note

# What a run writes that a new run must not overwrite (log.csv and config.json are remade).
RUN_FILES = ("last.pt", "last.safetensors", "best.safetensors")


def pick_device(config: TrainConfig, local_rank: int) -> torch.device:
    if config.device == "cpu" or (config.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise VsrError("device cuda was asked for but no CUDA GPU is available")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    total_steps: Callable[[], int | None] | None = None,
) -> torch.optim.lr_scheduler.LRScheduler:
    """Step (halve every lr_step) or cosine (to lr_min at the last step), in closed form.

    A closed form of the step number, rather than a recursive scheduler, means a run resumed
    with a larger --steps simply stretches its cosine from where it is, and a time budget
    can fix the total after the first steps. ``total_steps()`` gives the total (default
    config.steps); while it is None (being measured) the cosine holds its starting rate.
    """
    total = total_steps or (lambda: config.steps)
    if config.schedule == "cosine":
        floor = config.lr_min / config.lr

        def factor(step: int) -> float:
            steps = total()
            if steps is None:
                return 1.0
            progress = min(step / steps, 1.0)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    else:

        def factor(step: int) -> float:
            return config.lr_gamma ** (step // config.lr_step)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train(config: TrainConfig, resume: bool = False) -> nn.Module:
    """Train as config says (one process, or one rank under torchrun); returns the model."""
    threads_before = torch.get_num_threads()
    benchmark_before = torch.backends.cudnn.benchmark
    ddp = None
    out_lock = OutFolderLock(Path(config.out))
    # Everything from the first setting changed is inside the try: joining the process
    # group can raise (a peer that never comes), and the caller's settings come back then too.
    try:
        threads_note = None
        if config.threads:
            threads, threads_note = _threads_to_use(config.threads)
            torch.set_num_threads(threads)
        device_type = "cuda" if config.device != "cpu" and torch.cuda.is_available() else "cpu"
        # Every step has the same shapes: let cuDNN pick its fastest kernels once.
        torch.backends.cudnn.benchmark = device_type == "cuda" or benchmark_before
        ddp = init_distributed(device_type)
        # Every rank holds to its CPUs; the run says so once, as it says everything else.
        if threads_note and ddp.is_main:
            note(threads_note)
        return _train(config, resume, ddp, out_lock)
    finally:
        out_lock.release()
        if ddp is not None:
            ddp.close()
        torch.set_num_threads(threads_before)  # callers in the same process keep theirs
        torch.backends.cudnn.benchmark = benchmark_before


def _refusal_of_out(out: Path, resume: bool, out_lock: OutFolderLock) -> str | None:
    """Why --out cannot take this run, or None where it can (and is now held by it)."""
    if out.exists() and not out.is_dir():
        return f"output folder {out} is a file"
    unmakeable = why_folders_cannot_be_made(out)
    if unmakeable:
        return f"cannot create output folder {out}: {unmakeable}"
    # Held before the folder is judged: two runs that judged it empty at once both wrote.
    try:
        out_lock.take()
    except VsrError as error:
        return str(error)
    if resume:
        return None
    # Weights without a checkpoint are a run too (stopped by SIGKILL before its first save).
    written = [name for name in RUN_FILES if (out / name).exists()]
    if written:
        return (
            f"{out} already holds a run ({', '.join(written)}): pass --resume, "
            "or choose another --out"
        )
    # A run writes these before its first checkpoint: the user's own config.json (`--out .`
    # in a project) is not replaced. An earlier run's that saved nothing (it diverged
    # before its first save, or was killed before its first row) are, with a note.
    replaced = records_in(out)
    if replaced and not left_by_vsr(out):
        return (
            f"{out} already holds {', '.join(replaced)}, which a new run would overwrite: "
            "choose another --out, or remove them"
        )
    # A run that saved, its checkpoint and weights deleted since, is not one that saved
    # nothing: its log is kept as the user's own files are (there is nothing to --resume).
    step = trained_to(out) if replaced else None
    if step is not None:
        return (
            f"{out} holds the records of an earlier run that trained to step {step} "
            f"({', '.join(replaced)}), which a new run would overwrite: choose another "
            "--out, or remove them"
        )
    return None


def _verdict_on_out(out: Path, resume: bool, out_lock: OutFolderLock) -> str | None:
    """`_refusal_of_out`, with a folder rank 0 cannot read refused too: raised on rank 0
    alone, before the verdict is sent, it left the other ranks waiting for it."""
    try:
        return _refusal_of_out(out, resume, out_lock)
    except OSError as error:
        return f"cannot read output folder {out}: {error.strerror or error}"


def _train(
    config: TrainConfig, resume: bool, ddp: Distributed, out_lock: OutFolderLock
) -> nn.Module:
    device = pick_device(config, ddp.local_rank)
    out = Path(config.out)
    # Rank 0 alone writes into --out, so its view of the folder decides for every rank: a
    # rank that refused on its own (--out on a per-node disk holding another run's files)
    # would leave the others waiting for it at their next exchange for ever.
    # Rank 0 alone holds the folder's lock, so the ranks of one run never refuse each other.
    refusal = ddp.main_object(_verdict_on_out(out, resume, out_lock) if ddp.is_main else None)
    if refusal is not None:
        raise VsrError(str(refusal))

    torch.manual_seed(config.seed)  # the same initial weights on every rank
    model = create_model(config.arch, config.scale)
    if config.init_from and not resume:
        _initialise_from(model, config.init_from, ddp)
    # On its device (and in its memory format) before the optimiser exists, so that Adam's
    # state is created, and loaded on --resume, beside the parameters.
    model.to(device=device, memory_format=_memory_format(config))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    state, weights_written = (
        ddp.main_alone(lambda: _rank_0s_checkpoint(out, config)) if resume else (None, False)
    )
    begin = _Start() if state is None else _resumed_start(state, config, out, ddp)
    budget = _step_budget(config, begin, state)
    # A finished run stopped between its last checkpoint and its weights goes on to write them.
    weights_pending = begin.ended_at_its_total and begin.step == budget.total
    _refuse_a_finished_run(
        config, out, resume, begin.step, budget, weights_pending, weights_written
    )
    # While a new time budget measures, the cosine holds the rate of the run's previous
    # length rather than jumping back to its peak (a fresh run, and one stopped before its
    # budget fixed its length, hold their starting rate).
    scheduler = make_scheduler(
        optimizer, config, lambda: begin.own_total if budget.total is None else budget.total
    )
    if state is not None:
        _restore_training_state(state, model, optimizer, scheduler, config)
        del state

    step_model = _step_model(model, config, ddp, device)
    use_bf16 = _uses_bf16(config, device)
    store = PatchStore.from_folder(config.train_dir, config.scale, config.patch // config.scale)
    store.to(device)
    validator = Validator(config.val_dir, config.scale) if config.val_dir and ddp.is_main else None
    best_psnr = _start_best_afresh(out) if begin.other_validation_set else begin.best_psnr
    log = None
    if ddp.is_main:  # only once the inputs are known to be good
        log = _open_log(config, out, resume, begin.step, budget, ddp)
        _note_what_trains(config, ddp, device, use_bf16, store)

    model.train()
    started = time.perf_counter()
    window_loss = torch.zeros((), device=device)
    bar = tqdm(
        total=budget.total,
        initial=begin.step,
        unit="it",
        # Without a terminal (a log file) the progress lines below say it all, one per window.
        disable=not ddp.is_main or not on_a_terminal(),
        dynamic_ncols=True,
    )
    meter = WindowMeter(device) if ddp.is_main else None
    run = _Run(
        config=config, ddp=ddp, device=device, out=out, model=model, step_model=step_model,
        optimizer=optimizer, scheduler=scheduler, store=store, budget=budget,
        validator=validator, log=log, meter=meter, bar=bar, seconds_before=begin.seconds,
        started=started, window_loss=window_loss, best_psnr=best_psnr,
        saved_step=begin.step if resume else None, step_lr=optimizer.param_groups[0]["lr"],
        said_total=budget.total,
    )  # fmt: skip
    done, final_psnr = _train_steps(run, begin.step, weights_pending)

    # No rank leaves before the files exist, nor waits for them once rank 0 has failed.
    ddp.main_alone(lambda: _save_last_weights(run, done, final_psnr))
    return model


def _initialise_from(model: nn.Module, weights: str, ddp: Distributed) -> None:
    copied = init_from_weights(model, weights)
    if ddp.is_main:
        whole = len(copied) == len(model.state_dict())
        note(
            f"initialised from {weights}: {len(copied)} tensors"
            + (" (the whole model)" if whole else " (all but the upsampler)")
        )


def _memory_format(config: TrainConfig) -> torch.memory_format:
    return torch.channels_last if config.channels_last else torch.contiguous_format


def _uses_bf16(config: TrainConfig, device: torch.device) -> bool:
    return config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")


@dataclass
class _Start:
    """Where a run starts: at step 0, or where the checkpoint --resume reads left off."""

    step: int = 0
    best_psnr: float = -math.inf
    seconds: float = 0.0  # the training time of the steps before
    own_total: int | None = None  # the step count of the checkpoint's run (None: unfixed)
    stored_total: int | None = None  # the step count its time budget chose, if it still holds
    other_validation_set: bool = False  # decided by the main rank alone

    @property
    def ended_at_its_total(self) -> bool:
        """The checkpoint is the last step of its own run."""
        return self.step == self.own_total


def _rank_0s_checkpoint(out: Path, config: TrainConfig) -> tuple[dict, bool]:
    """The checkpoint to resume and whether the run's final weights are written, as rank 0
    finds them: it alone writes into --out, so on per-node disks the other ranks' copies may
    be missing or older, and each rank that read its own failed alone or went on alone, the
    others waiting for it."""
    return _resumable_state(out / "last.pt", config), (out / "last.safetensors").exists()


def _resumable_state(checkpoint_path: Path, config: TrainConfig) -> dict:
    state = load_checkpoint(checkpoint_path)
    check_same_network(state["config"], config)
    try:  # vsr before cfc1b8f trained on after its loss became NaN, and saved it
        check_finite(state["model"])
    except VsrError as damaged:
        raise VsrError(
            f"{checkpoint_path}: {damaged}; it cannot be resumed: start the run again "
            "(a lower lr may train)"
        ) from None
    return state


def _resumed_start(state: dict, config: TrainConfig, out: Path, ddp: Distributed) -> _Start:
    # best.safetensors may have been written after the checkpoint: never replace it with
    # worse weights.
    best_psnr = max(state["best_psnr"], _saved_psnr(out / "best.safetensors"))
    # The step count a time budget chose holds for that budget only: a new --minutes
    # measures again and fits the rest of the run into it.
    same_budget = state["config"].get("minutes") == config.minutes
    begin = _Start(
        step=state["step"],
        best_psnr=best_psnr,
        seconds=state["seconds"],
        # None where its time budget was still measuring: its rate held at the start, and
        # holds on while this run measures (its config's steps, which a budget does not
        # use, laid a cosine that fell to the floor). Checkpoints from before time budgets
        # have no steps_total: their run was its config's steps long.
        own_total=state.get("steps_total", state["config"]["steps"]),
        stored_total=state.get("steps_total") if same_budget else None,
        # Its best weights are set aside only once everything else has been checked: a
        # resume that fails (a new --val-dir without HR/) must leave best.safetensors be.
        other_validation_set=ddp.is_main and _other_validation_set(state["config"], config),
    )
    if ddp.is_main:
        _note_changed_settings(state["config"], config)
        before = state.get("processes", 1)
        if before != ddp.world:
            note(
                f"resuming on {ddp.world} process(es) instead of {before}: the batch of "
                f"all of them together goes from {before * config.batch} to "
                f"{ddp.world * config.batch}"
            )
    return begin


def _step_budget(config: TrainConfig, begin: _Start, state: dict | None) -> StepBudget:
    budget = StepBudget(config.steps, config.minutes, begin.step, begin.stored_total)
    if state is not None and config.val_dir and not _other_validation_set(state["config"], config):
        # Without it, a run resumed near its budget's end validated in the middle again
        # (none timed yet) and ended past the budget by a validation.
        budget.expect_validation(state.get("validation_s"))
    return budget


def _refuse_a_finished_run(
    config: TrainConfig,
    out: Path,
    resume: bool,
    start: int,
    budget: StepBudget,
    weights_pending: bool,
    weights_written: bool,
) -> None:
    """Refuse to resume a run with no step left to train and nothing left to write. An
    interrupted one (its checkpoint short of its own total) is not finished by a smaller
    total, which would write its weights as final ones."""
    finished = resume and budget.total is not None and start >= budget.total
    if finished and (weights_written or not weights_pending):
        if config.minutes > 0:
            why = (
                f"--minutes {config.minutes:g} fixed {budget.total} steps: pass a larger "
                "--minutes, or --minutes 0 and a larger --steps,"
            )
        else:
            why = f"--steps is {budget.total}: pass a larger --steps"
        raise VsrError(f"the run in {out} is already at step {start} ({why} to go on)")


def _restore_training_state(
    state: dict,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrainConfig,
) -> None:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])  # moves the moments to the device
    scheduler.load_state_dict(state["scheduler"])
    restore_rng_state(state["rng"])
    # Both states carry the rate the run started with: a resume with another --lr must
    # train with it, as it says it does (the schedule is a closed form of the step).
    factor = scheduler.lr_lambdas[0](scheduler.last_epoch)
    scheduler.base_lrs = [config.lr for _ in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["initial_lr"] = config.lr
        group["lr"] = config.lr * factor


def _step_model(
    model: nn.Module, config: TrainConfig, ddp: Distributed, device: torch.device
) -> nn.Module:
    """The model as the steps call it: wrapped for DDP, compiled, or itself."""
    step_model: nn.Module = model
    if ddp.enabled:
        step_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.compile:
        step_model = torch.compile(step_model)
    return step_model


def _settings(config: TrainConfig, total: int | None, ddp: Distributed) -> dict:
    """What config.json holds: the run's settings with the step count a time budget chose."""
    return {**config.to_dict(), "steps": total, "processes": ddp.world}


def _open_log(
    config: TrainConfig,
    out: Path,
    resume: bool,
    start: int,
    budget: StepBudget,
    ddp: Distributed,
) -> TrainLog:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise VsrError(f"cannot create output folder {out}: {error.strerror}") from None
    earlier = [] if resume else records_in(out)  # vsr's own: the others were refused
    if earlier:  # now, not before the inputs were read: a missing --train-dir kept them
        note(
            f"{out} holds the records of an earlier run that saved nothing "
            f"({name_list(earlier)}): they are replaced"
        )
        clear_events(out)
    log = TrainLog(out, resume, start)
    log.write_config(_settings(config, budget.total, ddp))
    return log


def _note_what_trains(
    config: TrainConfig,
    ddp: Distributed,
    device: torch.device,
    use_bf16: bool,
    store: PatchStore,
) -> None:
    if use_bf16 and emulated_on(device, "bf16"):
        # A recipe written for a GPU, run on a CPU that emulates bf16: worth one line, not an
        # error. Where the CPU has bf16 instructions it trains faster than fp32 (IMDN x2,
        # batches of 16 32x32 patches: 0.57x fp32's step time on an AMD EPYC with AVX512_BF16).
        note(f"{emulation_note('bf16')}: --precision fp32 is usually the better choice")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    note(
        f"training {config.arch} x{config.scale} on {name} ({'bf16' if use_bf16 else 'fp32'}"
        f"{', channels_last' if config.channels_last else ''}): {counted(store.count, 'image')}"
        + (f" ({store.skipped} smaller than the patch left out)" if store.skipped else "")
        + f", batch {config.batch} of {config.patch}-pixel HR patches"
        + (f" per process, {ddp.world} processes" if ddp.enabled else "")
        + (f", time budget {config.minutes:g} min" if config.minutes > 0 else "")
    )
    if left_out := left_out_note(config.train_dir, "training"):
        note(left_out)


@dataclass
class _Run:
    """What the steps of a run share: what they train and write to, and what they keep
    track of from one step to the next."""

    config: TrainConfig
    ddp: Distributed
    device: torch.device
    out: Path
    model: nn.Module
    step_model: nn.Module  # the model wrapped for DDP or compiled
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    store: PatchStore
    budget: StepBudget
    validator: Validator | None  # the main rank's alone
    log: TrainLog | None  # the main rank's alone
    meter: WindowMeter | None  # the main rank's alone
    bar: tqdm
    seconds_before: float  # the training time of the steps before a resume
    started: float  # time.perf_counter() as the first step began
    window_loss: torch.Tensor  # the loss summed over the log window so far
    best_psnr: float
    saved_step: int | None  # the step last.pt holds
    step_lr: float  # the rate the latest step trained with
    said_total: int | None  # the total the run last named (the progress line shows it)
    window_steps: int = 0
    weights_finite_at: int | None = None  # the step whose weights were last found finite
    said_skipping: bool = False  # that the budget leaves no time for validations but the final

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "last.pt"


def _train_steps(run: _Run, start: int, weights_pending: bool) -> tuple[int, float | None]:
    """Train from `start` to the budget's total; returns the step the run ends at and the
    validation PSNR of its weights there (None without one)."""
    done = start
    final_psnr = None  # the validation of the last step, for last.safetensors
    with contextlib.ExitStack() as cleanup:
        stop = cleanup.enter_context(StopRequest())
        cleanup.callback(run.bar.close)  # a stopped run's bar ends before the message below it
        if run.meter is not None:
            cleanup.enter_context(run.meter)
        if run.log is not None:
            cleanup.callback(run.log.close)  # an interrupted run's logs are flushed too
        while run.budget.total is None or done < run.budget.total:
            try:
                loss = _train_one_step(run, done)
            except RuntimeError as error:  # torch.OutOfMemoryError is one too
                if not is_allocation_failure(error):
                    raise
                raise VsrError(_batch_out_of_memory(run, error)) from None
            run.bar.update(1)
            done += 1
            run.window_loss += loss.detach()
            run.window_steps += 1
            _keep_to_the_time_budget(run, done)
            last = done == run.budget.total

            if done % run.config.log_every == 0 or last:
                _end_the_window(run, done)
            psnr = _save_and_validate(run, done, last)
            if psnr is not None:
                final_psnr = psnr if last else None
            # After the step's save and validation, so that a stop asked during them stops
            # here, not a step later. Under DDP the ranks agree at every step, so that all of
            # them stop at the same one and soon: torchrun kills its workers 30 s after it
            # passes them Ctrl-C, which a stop agreed at the next log row (50 steps) missed,
            # and last.pt was never written.
            stopping = run.ddp.any_rank(stop.requested)
            if stopping and not last:  # the last step goes on to write its weights
                # A run stopped between two rows logs the steps since the last one: its
                # resume starts a new window, and those steps' loss would be in no row.
                if run.window_steps:
                    _end_the_window(run, done)
                if run.ddp.is_main:
                    _save_state(run, done)
                    note(f"stopped at step {done}: {run.checkpoint_path} saved, --resume continues")
                raise stop.interruption()
        if weights_pending and run.validator is not None and final_psnr is None:
            # Stopped during its final validation (a second Ctrl-C, after last.pt was
            # saved): the resume, with no step left to train, does that validation now.
            final_psnr = _validate(run, done, save_now=True)
    run.bar.close()
    return done, final_psnr


def _train_one_step(run: _Run, done: int) -> torch.Tensor:
    """One optimiser step on the batch of this step and rank; returns its loss."""
    config, meter = run.config, run.meter
    if meter:
        meter.batch_start()
    batch = run.store.sample(config.batch, batch_generator(config.seed, run.ddp.rank, done))
    lr_images = batch.lr.float().div_(255).contiguous(memory_format=_memory_format(config))
    hr_images = batch.hr.float().div_(255)
    if meter:
        meter.batch_ready()
    autocast = (
        torch.autocast(run.device.type, dtype=torch.bfloat16)
        if _uses_bf16(config, run.device)
        else contextlib.nullcontext()
    )
    with autocast:
        sr = run.step_model(lr_images)
    loss = F.l1_loss(sr.float(), hr_images)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.step_lr = run.optimizer.param_groups[0]["lr"]  # the rate this step trains with
    run.optimizer.step()
    run.scheduler.step()
    if meter:
        meter.step_end()
    return loss


def _batch_out_of_memory(run: _Run, error: RuntimeError) -> str:
    """The allocator's failure in a step, said of the setting that sized it: it was a
    traceback ("DefaultCPUAllocator: can't allocate memory") from inside the batch's gather."""
    config = run.config
    asked = allocation_asked(error)
    return (
        f"batch {config.batch} of {config.patch}-pixel HR patches ran out of memory on "
        f"{run.device}{f' (one allocation alone asked {asked})' if asked else ''}; use a "
        f"smaller {option('--batch')}"
    )


def _keep_to_the_time_budget(run: _Run, done: int) -> None:
    """Fix the step count once the budget has measured the speed, and fit it again as the
    run goes on; with a note where the measured steps overran the budget."""
    budget, config = run.budget, run.config
    if budget.measuring and budget.after_step(done, _synced_clock(run), _agree_with_rank_0(run)):
        run.bar.total = budget.total
        run.bar.refresh()
        run.said_total = budget.total
        if run.log is not None:
            note(
                f"time budget: {budget.measured_rate:.2f} steps/s measured, so "
                f"{budget.total} steps in all ({config.minutes:g} min)"
            )
            run.log.write_config(_settings(config, budget.total, run.ddp))
    elif config.minutes > 0 and done % config.log_every == 0:
        # Validations, saves and slower steps since the fit took time it did not count.
        before = budget.refit(done, _synced_clock(run), _agree_with_rank_0(run))
        if budget.total != before:
            _follow_the_refit_total(run)
    if run.log is not None and budget.seconds > 0 and done <= budget.measure_to:
        # No wait for the device: the measurement's timing stays as it was.
        overrun = budget.overrun_note(done, _elapsed(run))
        if overrun:
            note(overrun)


def _follow_the_refit_total(run: _Run) -> None:
    budget = run.budget
    run.bar.total = budget.total
    run.bar.refresh()
    # Said when it matters, not for the step or two a speed that drifts moves it by at every
    # row; but such cuts add up, so they are measured against the total last said, which the
    # note names.
    if budget.total < 0.99 * run.said_total:
        if run.log is not None:
            final = budget.validation_s
            kept = f"; {final:.1f} s kept for the final validation" if final else ""
            note(
                f"time budget: {budget.total} steps in all now, not "
                f"{run.said_total}: what the time left holds at "
                f"{budget.measured_rate:.2f} steps/s (validations, saves and "
                f"slower steps took time the fit did not count{kept})"
            )
        run.said_total = budget.total
    if run.log is not None:
        run.log.write_config(_settings(run.config, budget.total, run.ddp))


def _end_the_window(run: _Run, done: int) -> None:
    """Log the mean loss of the window's steps and refuse a diverged one (every rank takes
    part, and all of them decide alike)."""
    mean_loss = run.ddp.mean(run.window_loss / run.window_steps).item()
    run.window_loss.zero_()
    run.window_steps = 0
    if run.log is not None and run.meter is not None:
        _log_the_window(run, done, mean_loss)
    _refuse_diverged(run, done, mean_loss)  # after its row: log.csv shows the NaN


def _log_the_window(run: _Run, done: int, mean_loss: float) -> None:
    lr_now = run.step_lr
    figures = run.meter.take()
    run.log.row(
        step=done,
        steps_total=run.budget.total,
        loss=mean_loss,
        lr=lr_now,
        elapsed_s=_elapsed(run),
        **figures,
    )
    run.bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr_now:.2e}")
    if not on_a_terminal():
        line = _progress_line(done, run.budget.total, mean_loss, lr_now, figures)
        note(f"{line}, elapsed {_elapsed(run) / 60:.2f} min")


def _save_and_validate(run: _Run, done: int, last: bool) -> float | None:
    """Save last.pt and validate where this step is due to; returns the validation PSNR
    (None where the step was not validated)."""
    config = run.config
    # Rank 0 alone saves and validates, and stops there if the weights diverged: every
    # rank looks at them at those steps too, or the others would go on into the next
    # step's gradient exchange with no one to answer it (gloo: "Connection closed by
    # peer"; NCCL waits). DDP keeps the weights equal, so all decide alike.
    saving = done % config.save_every == 0 or last
    validating = bool(config.val_dir) and (
        (config.val_every and done % config.val_every == 0) or last
    )
    if not (saving or validating):
        return None
    _refuse_diverged(run, done)
    # The others wait for rank 0's outcome: its failure (a full disk) ends them too, where
    # they went on into the next step's gradient exchange with no one to answer it.
    return run.ddp.main_alone(
        lambda: _rank_0s_save_and_validation(run, done, last, saving, validating)
    )


def _rank_0s_save_and_validation(
    run: _Run, done: int, last: bool, saving: bool, validating: bool
) -> float | None:
    """Rank 0's part of _save_and_validate: last.pt where due, then the validation where
    due and the time budget leaves room for it (it holds the only validator)."""
    # The checkpoint comes before validating: a run stopped during a slow validation
    # (the final one, on a CPU) keeps its steps.
    if saving:
        _save_state(run, done)
    validate_now = run.validator is not None and validating
    if validate_now and not last and not _room_to_validate(run, done):
        validate_now = False
    if validate_now:
        return _validate(run, done, saving)
    return None


def _room_to_validate(run: _Run, done: int) -> bool:
    """Whether the time budget leaves room for this validation, with a note the first time
    it does not: the final validation, of the weights the run ends with, is the one kept."""
    now = _elapsed(run)
    if run.budget.room_to_validate(now):
        return True
    if not run.said_skipping:
        note(run.budget.skip_note(done, now))
        run.said_skipping = True
    return False


def _elapsed(run: _Run, sync: bool = False) -> float:
    if sync and run.device.type == "cuda":
        torch.cuda.synchronize(run.device)
    return run.seconds_before + time.perf_counter() - run.started


def _synced_clock(run: _Run) -> Callable[[], float]:
    return lambda: _elapsed(run, sync=True)


def _agree_with_rank_0(run: _Run) -> Callable[[int], int]:
    """The total every rank takes: rank 0's. It alone validates and saves, and so knows
    what to leave out of the speed and keep for the final validation; the others wait
    for its outcome and take that time for their steps' (a mean fitted 58 steps where rank
    0's figures held 100)."""
    return lambda value: int(run.ddp.from_main(torch.tensor(value, device=run.device)).item())


def _refuse_diverged(run: _Run, done: int, loss: float | None = None) -> None:
    """Stop a run whose loss or weights are no longer numbers: every later step would be
    NaN as well, and its last.pt and weights would hold no network (a run without a
    validation set went on to the end and wrote them). Checked where the loop waits
    for the device anyway: logging, saving, validating; the weights once a step."""
    loss_finite = loss is None or math.isfinite(loss)
    if loss_finite and (run.weights_finite_at == done or _all_finite(run.model)):
        run.weights_finite_at = done
        return
    what = f"the loss is {loss}" if not loss_finite else "the weights hold NaN or Inf"
    kept = (
        f"{run.checkpoint_path} keeps step {run.saved_step}"
        if run.saved_step is not None
        else "nothing was saved"
    )
    # bf16 keeps 8 bits of mantissa: where the run is in bf16, fp32 is the other remedy.
    in_bf16 = _uses_bf16(run.config, run.device)
    raise VsrError(
        f"training diverged by step {done}: {what} (lr {run.step_lr:.3g}); {kept}. "
        + ("A lower lr (or --precision fp32) may train" if in_bf16 else "A lower lr may train")
    )


def _leave_out(run: _Run, began: float) -> float:
    """Take the time since `began` (a validation, a save) out of the steps' speed, the log
    window's and the time budget's measurement: a Set5 pass on the CPU took a window from
    5 to 0.18 steps/s. Returns that time."""
    taken = _elapsed(run) - began
    if run.meter is not None:
        run.meter.leave_out(taken)
    run.budget.leave_out(taken)
    return taken


def _save_state(run: _Run, done: int) -> None:
    _refuse_diverged(run, done)
    began = _elapsed(run, sync=True)
    state = training_state(
        run.model, run.optimizer, run.scheduler, done, run.best_psnr, began, run.config.to_dict()
    )
    state["steps_total"] = run.budget.total  # None while a time budget is measuring
    state["processes"] = run.ddp.world  # the batch is per process: this makes it whole
    state["validation_s"] = run.budget.validation_s  # a resumed run keeps its final one's time
    save_checkpoint(run.checkpoint_path, state)
    run.saved_step = done
    _leave_out(run, began)


def _validate(run: _Run, done: int, save_now: bool) -> float:
    """Score the model on the validation set, log it, and keep it if it is the best."""
    _refuse_diverged(run, done)  # not "the network produced NaN" from the upscaler
    began = _elapsed(run, sync=True)  # the steps' own work is theirs
    psnr, ssim = run.validator(run.model, run.device)
    run.budget.validated(_leave_out(run, began))
    run.log.row(step=done, elapsed_s=_elapsed(run), val_psnr=psnr, val_ssim=ssim)
    note(f"step {done}: validation PSNR {psnr:.3f} dB SSIM {ssim:.4f}")
    if psnr > run.best_psnr:
        run.best_psnr = psnr
        info = _metadata(run.config, done, psnr, run.budget, run.device, run.ddp.world)
        began = _elapsed(run)
        save_weights(run.model, run.out / "best.safetensors", info)
        _leave_out(run, began)
        if save_now:
            _save_state(run, done)  # with the new best, for --resume
    return psnr


def _save_last_weights(run: _Run, done: int, final_psnr: float | None) -> None:
    info = _metadata(run.config, done, final_psnr, run.budget, run.device, run.ddp.world)
    info["train_seconds"] = f"{_elapsed(run):.1f}"
    save_weights(run.model, run.out / "last.safetensors", info)
    if run.meter is not None and run.meter.total_steps:
        note(run.meter.summary())
    note(_where_the_weights_are(run.out, run.best_psnr))


def _note_changed_settings(stored: dict, config: TrainConfig) -> None:
    """Name the settings a resumed run changes: a resume goes on with the settings it is
    given (a longer --steps is the usual reason), which may not be the run's own."""

    def same(key: str, before: object, now: object) -> bool:
        if key in PATH_FIELDS and before and now:
            return Path(str(before)).resolve() == Path(str(now)).resolve()
        return before == now

    ignored = ("out", "threads", "init_from")  # init_from applies only to a new run
    changed = [
        f"{key} {stored[key]} -> {value}"
        for key, value in config.to_dict().items()
        if key in stored and key not in ignored and not same(key, stored[key], value)
    ]
    if changed:
        note(f"resuming with changed settings: {', '.join(changed)}")


def _where_the_weights_are(out: Path, best_psnr: float) -> str:
    line = f"weights: {out / 'last.safetensors'}"
    best = out / "best.safetensors"
    if best.is_file():
        psnr = f", {best_psnr:.3f} dB" if math.isfinite(best_psnr) else ""
        line += f" (best validation{psnr}: {best})"
    return line


def _threads_to_use(asked: int) -> tuple[int, str | None]:
    """At most the CPUs this process may run on: more threads only queue behind each other,
    and past the system's limit on threads OpenMP's start killed the run with SIGSEGV and
    not a word (threads = 100000). With a note when fewer than asked, for the main rank to
    print: known before the process group is, which says which rank this is."""
    if hasattr(os, "sched_getaffinity"):
        available = len(os.sched_getaffinity(0))
    else:
        available = os.cpu_count() or 1
    if asked <= available:
        return asked, None
    return available, (
        f"threads {asked} is more than the {available} CPUs this run may use: using {available}"
    )


def _all_finite(model: nn.Module) -> bool:
    """Whether every parameter is a finite number (one wait for the device, not one each)."""
    return bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all())


def _other_validation_set(stored: dict, config: TrainConfig) -> bool:
    before, now = stored.get("val_dir"), config.val_dir
    if not before or not now:
        return False
    return Path(str(before)).resolve() != Path(str(now)).resolve()


def _start_best_afresh(out: Path) -> float:
    """PSNRs of two validation sets cannot be compared: the best weights so far are kept
    under another name, and the best on the new set starts from nothing."""
    best = out / "best.safetensors"
    if best.is_file():
        kept, number = best.with_name("best_previous_val.safetensors"), 1
        while kept.exists():  # a set changed twice: no earlier best is replaced
            number += 1
            kept = best.with_name(f"best_previous_val_{number}.safetensors")
        os.replace(best, kept)
        note(f"the validation set changed: the best weights so far are kept as {kept}")
    return -math.inf


def _saved_psnr(path: Path) -> float:
    """The validation PSNR in the metadata of weights this loop wrote (-inf without one)."""
    if not path.is_file():
        return -math.inf
    try:
        _, metadata = read_state_dict(path)
        return float(metadata.get("val_psnr", "-inf"))
    except (VsrError, ValueError):
        return -math.inf


def _progress_line(
    done: int, total: int | None, loss: float, lr: float, figures: dict[str, float | None]
) -> str:
    line = (
        f"step {done}/{total or '?'} loss {loss:.5f} lr {lr:.3g} "
        f"{figures['steps_per_s']:.2f} it/s, data {figures['data_ms']:.2f} ms "
        f"compute {figures['compute_ms']:.2f} ms per step"
    )
    if figures["gpu_util"] is not None:
        line += f", GPU {figures['gpu_util']:.0f}% {figures['gpu_mem_gib']:.1f} GiB"
    if figures["torch_mem_gib"] is not None:
        line += f" (torch peak {figures['torch_mem_gib']:.1f} GiB)"
    return line


def _metadata(
    config: TrainConfig,
    step: int,
    psnr: float | None,
    budget: StepBudget,
    device: torch.device,
    processes: int,
) -> dict[str, str]:
    info = {"steps": str(step), "patch": str(config.patch), "batch": str(config.batch)}
    info["processes"] = str(processes)  # the batch is per process
    if budget.total is not None:
        info["steps_total"] = str(budget.total)
    if config.minutes > 0:
        info["minutes"] = f"{config.minutes:g}"
    if budget.measured_rate is not None:
        info["measured_steps_per_s"] = f"{budget.measured_rate:.3f}"
    if config.init_from:
        info["init_from"] = "/".join(Path(config.init_from).parts[-2:])
    info["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    if psnr is not None:
        info["val_psnr"] = f"{psnr:.4f}"
    return info
