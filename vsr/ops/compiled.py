"""`torch.compile` for the networks, the one way the engine and `vsr bench` do it.

The default mode fuses the element-wise work between IMDN's convolutions (LeakyReLU,
split/concatenate, the attention's statistics and gate) into a few Triton kernels and leaves
the convolutions to cuDNN. "max-autotune-no-cudagraphs" also times Triton convolution
templates against cuDNN and keeps the faster per convolution; on an H100 most of IMDN's
convolutions go to Triton, and the network runs 2x faster than eager in fp16 (5.15 against
10.2 ms per 960x540 frame), after 25-40 s of compilation per frame shape.
dynamic=False: a video has one frame shape, so one graph specialised to it.

Compiled kernels and autotuning results are cached on disk under the vsr cache
(``$VSR_CACHE/inductor``), so the next run of the same shape on the same machine skips
most of the compilation."""

from __future__ import annotations

import os

import torch
from torch import nn

from vsr.errors import VsrError

# torch.compile's modes. The two that capture CUDA graphs themselves ("reduce-overhead",
# "max-autotune") clash with the engine's own graphs (vsr/ops/cuda_graph.py): with those,
# "max-autotune-no-cudagraphs" is the one to use.
MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_OWN_GRAPHS = ("reduce-overhead", "max-autotune")


def check_with_cuda_graphs(mode: str | None) -> None:
    """Refuse a mode that captures CUDA graphs itself, for a network we replay as a graph."""
    if mode in _OWN_GRAPHS:
        raise VsrError(
            f"compile mode {mode!r} captures CUDA graphs itself, which clashes with "
            "--cuda-graphs: use max-autotune-no-cudagraphs, or --no-cuda-graphs"
        )


def compile_network(network: nn.Module, mode: str | None = None) -> nn.Module:
    """The compiled network (compilation itself happens on the first call per shape)."""
    from vsr.weights import cache_dir

    if mode is not None and mode not in MODES:
        raise VsrError(f"unknown compile mode {mode!r}; use one of {', '.join(MODES)}")
    # Only a default: a user's own TORCHINDUCTOR_CACHE_DIR wins.
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "inductor"))
    return torch.compile(network, mode=mode, dynamic=False)
