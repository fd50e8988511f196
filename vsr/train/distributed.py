"""The process group under torchrun: NCCL between GPUs, gloo between CPU processes.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (and MASTER_ADDR/PORT); without them the run
is a single process and nothing here does anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

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
