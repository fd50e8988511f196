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

from vsr.errors import VsrError, option
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
                f"{path}: cannot initialise {model.arch} from it ({_why(source, key, model)}"
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


def _why(source: dict[str, torch.Tensor], key: str, model: nn.Module) -> str:
    """What the weights are, and what to pass instead, when they are another network; else
    the tensor that differs. The why alone ("they are imdn_as x1 weights") left the way on
    to be guessed."""
    try:
        arch, scale, _ = detect_architecture(source)
    except VsrError:
        arch = None
    if arch is not None and arch != model.arch:
        instead = (
            f"pass {option('--init-from')} weights of an {model.arch} network"
            f"{_listed_weights(model.arch, model.scale)}"
        )
        if arch not in UPSAMPLER_PREFIX:  # imdn_as: --arch cannot choose it
            return f"they are {arch} weights, a network vsr does not train): {instead}"
        return (
            f"they are {arch} x{scale} weights): {instead}; or {option('--arch', arch)} to "
            "train the network they hold"
        )
    found = tuple(source[key].shape) if key in source else "missing"
    return f"{key}: {found})"


def _listed_weights(arch: str, scale: int) -> str:
    """ ", e.g. vsr_imdn_x2, IMDN_x2": weights of ``arch`` from `vsr weights list`, those of
    ``scale`` (the whole model copied) first; "" where there are none."""
    from vsr.weights import load_manifest

    try:
        manifest = load_manifest()
    except VsrError:
        return ""  # a bare copy of vsr/ without its manifest: the refusal stands as it is
    names = [name for name, entry in manifest.items() if entry.get("arch") == arch]
    names.sort(key=lambda name: manifest[name].get("scale") != scale)
    return f", e.g. {', '.join(names[:3])}" if names else ""
