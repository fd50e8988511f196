"""`torch.compile` for the networks, the one way the engine and `vsr bench` do it.

The default mode fuses the element-wise work between IMDN's convolutions (LeakyReLU,
split/concatenate, the attention's statistics and gate) into a few Triton kernels and leaves
the convolutions to cuDNN. "max-autotune" would also time Triton convolution templates
against cuDNN, which for IMDN's 46 small convolutions costs minutes per frame shape.
dynamic=False: a video has one frame shape, so one graph specialised to it.

Compiled kernels are cached on disk under the vsr cache (``$VSR_CACHE/inductor``), so the
second run of the same shape on the same machine skips most of the compilation.
"""

from __future__ import annotations

import os

import torch
from torch import nn


def compile_network(network: nn.Module, mode: str | None = None) -> nn.Module:
    """The compiled network (compilation itself happens on the first call per shape)."""
    from vsr.weights import cache_dir

    # Only a default: a user's own TORCHINDUCTOR_CACHE_DIR wins.
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "inductor"))
    return torch.compile(network, mode=mode, dynamic=False)
