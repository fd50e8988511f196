"""The process group under torchrun: NCCL between GPUs, gloo between CPU processes.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (and MASTER_ADDR/PORT); without them the run
is a single process and nothing here does anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from vsr.errors import VsrError, describe_error

T = TypeVar("T")


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    # A gloo group beside NCCL's for the flags the ranks agree on at every step (a stop
    # asked for): on the CPU, so no step waits for the GPU to read one. None: the default
    # group, which is gloo already on the CPU.
    flags_group: Any = None

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a tensor over all processes (the tensor itself when alone)."""
        if self.enabled:
            value = value.clone()
            dist.all_reduce(value)
            value /= self.world
        return value

    def any_rank(self, flag: bool) -> bool:
        """Whether `flag` is set on any process (`flag` itself when alone)."""
        if not self.enabled:
            return flag
        value = torch.tensor([int(flag)])
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=self.flags_group)
        return bool(value.item())

    def from_main(self, value: torch.Tensor) -> torch.Tensor:
        """Rank 0's value of a tensor, on every process (the tensor itself when alone)."""
        if self.enabled:
            value = value.clone()
            dist.broadcast(value, src=0)
        return value

    def main_object(self, value: object) -> object:
        """Rank 0's value of any picklable object, on every process (itself when alone)."""
        if self.enabled:
            box = [value]
            dist.broadcast_object_list(box, src=0)
            value = box[0]
        return value

    def main_alone(self, action: Callable[[], T]) -> T:
        """Rank 0's result of `action`, run on rank 0 alone, on every rank (which waits for
        it). Its failure ends every rank, where a bare barrier after it had the others wait
        for a rank that had left (NCCL: until its timeout; gloo: "Connection closed by
        peer"), and a rank that did the work on its own (a checkpoint on per-node disks)
        could fail alone or go on alone."""
        result, failure = None, None
        if self.is_main:
            try:
                result = action()
            except BaseException as error:  # Ctrl-C too: the others must not wait for it
                failure = error
        why = describe_error(failure) if failure is not None else None
        result, why = self.main_object((result, why))
        if failure is not None:
            raise failure
        if why is not None:
            raise VsrError(f"rank 0 failed, so this rank stops too: {why}")
        return result

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def _whole_number(name: str, least: int, fix: str) -> int | None:
    """The environment variable `name` as a whole number >= `least`; None where it is unset
    or empty (as `WORLD_SIZE= vsr train` clears it). Anything else is a one-line error
    naming the variable, where int() ended in a ValueError traceback."""
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < least:
        raise VsrError(f"{name}={text!r} is not a whole number >= {least}; {fix}")
    return value


def torchrun_place() -> Distributed:
    """This process's place in the run torchrun describes in its environment (WORLD_SIZE,
    RANK, LOCAL_RANK), without joining it: alone unless WORLD_SIZE is more than 1 (a RANK
    set without it means nothing)."""
    alone = "torchrun sets it; unset it to train in one process"
    world = _whole_number("WORLD_SIZE", 1, alone) or 1
    if world == 1:
        return Distributed()
    under = f"torchrun sets it for each of the WORLD_SIZE={world} processes"
    rank = _whole_number("RANK", 0, under)
    if rank is None or rank >= world:
        said = "RANK is not set" if rank is None else f"RANK={rank} is not below WORLD_SIZE={world}"
        raise VsrError(f"{said}; {under}, from 0")
    local_rank = _whole_number("LOCAL_RANK", 0, under)
    return Distributed(
        rank=rank, world=world, local_rank=rank if local_rank is None else local_rank
    )


def init_distributed(device_type: str) -> Distributed:
    """Join the process group torchrun describes, if any."""
    place = torchrun_place()
    if place.enabled and not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(place.local_rank)  # before NCCL starts: each rank its GPU
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    if place.enabled and dist.get_backend() != "gloo":
        place.flags_group = dist.new_group(backend="gloo")
    return place
