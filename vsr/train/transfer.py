"""Starting a run from existing weights (``init_from``).

Every tensor is copied. The upsampler is the one scale-dependent part (its output channels
are 3 * scale**2), so from weights of another scale it is left freshly initialised: that is
how the IMDN authors trained x3 and x4 from x2. From weights of the same scale it is copied
too, which makes ``init_from`` a whole-model fine-tuning start.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vsr.errors import VsrError
from vsr.models.checkpoint import check_finite, detect_architecture, read_state_dict

# The scale-dependent tail of each network.
UPSAMPLER_PREFIX = {"imdn": "upsampler.", "imdn_rte": "upsampler.", "imdn_rtc": "model.2."}


def init_from_weights(model: nn.Module, path: str | Path) -> list[str]:
    """Copy the weights at path (a file, or a name from `vsr weights list`) into model (the
    upsampler only if it fits); return the names of the tensors copied."""
    from vsr.weights import resolve_weights

    path = resolve_weights(path)
    prefix = UPSAMPLER_PREFIX.get(model.arch)
    if prefix is None:
        raise VsrError(f"--init-from does not apply to {model.arch}")
    source, _ = read_state_dict(path)
    target = model.state_dict()
    tail = [key for key in target if key.startswith(prefix)]
    same_scale = all(key in source and source[key].shape == target[key].shape for key in tail)
    copied = {}
    for key, value in target.items():
        if key in tail and not same_scale:
            continue
        if key not in source or source[key].shape != value.shape:
            raise VsrError(
                f"{path}: cannot initialise {model.arch} from it ({_why(source, key, model.arch)})"
            )
        copied[key] = source[key].to(value.dtype)
    try:
        check_finite(copied)  # else the run "diverged by step 2" and blamed its lr
    except VsrError as error:
        raise VsrError(f"{path}: {error}") from None
    with torch.no_grad():
        for key, value in copied.items():
            target[key].copy_(value)
    return sorted(copied)


def _why(source: dict[str, torch.Tensor], key: str, wanted: str) -> str:
    """What the weights are, when they are another network; else the tensor that differs."""
    try:
        arch, scale, _ = detect_architecture(source)
    except VsrError:
        arch = None
    if arch is not None and arch != wanted:
        return f"they are {arch} x{scale} weights"
    found = tuple(source[key].shape) if key in source else "missing"
    return f"{key}: {found}"
