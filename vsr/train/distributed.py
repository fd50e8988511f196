"""The process group under torchrun: NCCL between GPUs, gloo between CPU processes.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (and MASTER_ADDR/PORT); without them the run
is a single process and nothing here does anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vsr.errors import VsrError, describe_error


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

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

    def on_main_alone(self, action: Callable[[], None]) -> None:
        """Run `action` on rank 0 alone, with every rank waiting for it to end; its failure
        ends every rank, where a bare barrier after it had the others wait for a rank that
        had left (NCCL: until its timeout; gloo: "Connection closed by peer")."""
        failure: BaseException | None = None
        if self.is_main:
            try:
                action()
            except BaseException as error:  # Ctrl-C too: the others must not wait for it
                failure = error
        why = describe_error(failure) if failure is not None else None
        why = self.main_object(why)  # rank 0's, and the point where every rank waits for it
        if failure is not None:
            raise failure
        if why is not None:
            raise VsrError(f"rank 0 failed, so this rank stops too: {why}")

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device_type: str) -> Distributed:
    """Join the process group torchrun describes, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)  # before NCCL starts, so each rank owns its GPU
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return Distributed(rank=rank, world=world, local_rank=local_rank)
