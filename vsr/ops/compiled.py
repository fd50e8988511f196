"""Compiling the networks, the one way the engine and `vsr bench` do it.

Inductor fuses the element-wise work between IMDN's convolutions (LeakyReLU,
split/concatenate, the attention's statistics and gate) into a few kernels and leaves the
convolutions to cuDNN. "max-autotune-no-cudagraphs" also times Triton convolution templates
against cuDNN and keeps the faster per convolution; on an H100 most of IMDN's convolutions
go to Triton, and the network runs 2x faster than eager in fp16 (5.15 against 10.2 ms per
960x540 frame, torch.compile), after 25-40 s of compilation per frame shape.

On the CPU the network is compiled ahead of time (vsr.ops.aot_package): one package per
frame shape, kept in the vsr cache, so a later run loads it in milliseconds instead of
tracing the network again. On CUDA it is compiled with torch.compile (see
`packages_on`). `ahead_of_time=False` is torch.compile itself (dynamic=False: a video has
one frame shape), for `vsr bench` to set the two side by side. Its kernels and autotuning
results are cached on disk too (``$VSR_CACHE/inductor``), but every process still imports
dynamo and traces the network before its first frame."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

from vsr.errors import VsrError
from vsr.ops.aot_package import PACKAGES_FOLDER, PackagedNetwork

MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# Two modes also replay the network as CUDA graphs of inductor's own, which would clash
# with the engine's (vsr/ops/cuda_graph.py). They compile as their graph-free twins, and
# the engine's graphs replay the result (vsr.upscale.with_speed_switches).
_GRAPH_FREE = {"max-autotune": "max-autotune-no-cudagraphs", "reduce-overhead": "default"}


def captures_graphs(mode: str | None) -> bool:
    """Whether torch.compile's ``mode`` asks for the network to be replayed as CUDA graphs."""
    return mode in _GRAPH_FREE


def packages_on(device: torch.device) -> bool:
    """Whether networks on ``device`` are compiled ahead of time into kept packages.

    Not on CUDA. On an H100 (torch 2.11, CUDA 13) a package of the 540p network built
    there in 128 s, and loading it crashed the process with a segmentation fault, through
    torch's own loader (torch._inductor.aoti_load_package) as well as ours. A crash is no
    exception that the fallback to torch.compile could catch, so CUDA compiles with
    torch.compile: 45 s the first time there, then 4.93 ms per 540p frame (fp16, batch 4)."""
    return device.type != "cuda"


def compile_network(
    network: nn.Module,
    mode: str | None = None,
    ahead_of_time: bool | None = None,
    builds: bool = True,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The compiled network; compilation (or loading a kept package) happens on the first
    call of each input shape. A mode that captures CUDA graphs compiles without them: the
    caller replays the engine's own. `ahead_of_time` defaults to what the network's device
    takes (packages_on). `builds=False` only loads kept packages, and runs the shapes that
    have none uncompiled (ahead of time only: torch.compile keeps no package to load)."""
    from vsr.weights import made_cache_folder

    if mode is not None and mode not in MODES:
        raise VsrError(f"unknown compile mode {mode!r}; use one of {', '.join(MODES)}")
    if ahead_of_time is None:
        ahead_of_time = packages_on(_device_of(network))
    if not (builds or ahead_of_time):
        raise ValueError("only packages compiled ahead of time can be loaded without a build")
    # Checked before torch imports inductor, whose import fails half-way (and cannot be
    # retried in the process) when the cache cannot be made.
    if ahead_of_time:
        packages = made_cache_folder(PACKAGES_FOLDER, "compiled networks", private_only=True)
    mode = _GRAPH_FREE.get(mode, mode) or "default"
    if not builds:  # nothing is compiled here: inductor and its kernel cache stay unused
        return PackagedNetwork(network, mode, packages, builds=False)
    # Only a default: a user's own TORCHINDUCTOR_CACHE_DIR wins (and is theirs to judge).
    if not os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        kernels = made_cache_folder("inductor", "compiled networks", private_only=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(kernels)
    if ahead_of_time:
        return PackagedNetwork(network, mode, packages)
    return torch.compile(network, mode=mode, dynamic=False)


def _device_of(network: nn.Module) -> torch.device:
    """Where the network's weights are (the CPU for one without any)."""
    weight = next(network.parameters(), None)
    return weight.device if weight is not None else torch.device("cpu")
