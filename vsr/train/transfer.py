"""Initialising one scale from another: the IMDN authors trained x3 and x4 from x2.

Everything but the upsampler (whose output channels depend on the scale) is copied.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vsr.errors import VsrError
from vsr.models.checkpoint import read_state_dict

# The scale-dependent tail of each network.
UPSAMPLER_PREFIX = {"imdn": "upsampler.", "imdn_rte": "upsampler.", "imdn_rtc": "model.2."}


def init_from_other_scale(model: nn.Module, path: str | Path) -> list[str]:
    """Copy all tensors but the upsampler's from the weights at path; return their names."""
    prefix = UPSAMPLER_PREFIX.get(model.arch)
    if prefix is None:
        raise VsrError(f"--init-from does not apply to {model.arch}")
    source, _ = read_state_dict(path)
    target = model.state_dict()
    copied = {}
    for key, value in target.items():
        if key.startswith(prefix):
            continue
        if key not in source or source[key].shape != value.shape:
            found = tuple(source[key].shape) if key in source else "missing"
            raise VsrError(f"{path}: cannot initialise {model.arch} from it ({key}: {found})")
        copied[key] = source[key].to(value.dtype)
    with torch.no_grad():
        for key, value in copied.items():
            target[key].copy_(value)
    return sorted(copied)
