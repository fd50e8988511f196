"""Loading and saving weights.

Official IMDN checkpoints are PyTorch state dicts (``torch.load`` with ``weights_only=True``),
sometimes with the ``module.`` prefix that DataParallel adds. The project's own weights are
safetensors. Either way the architecture and scale are read from the tensors themselves, so
a user only ever names a file.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
from pathlib import Path

import torch
from torch import nn

from vsr.errors import VsrError, first_line
from vsr.models.factory import create_model

_SAFETENSORS_MAX_HEADER = 100_000_000

# A checkpoint's shapes decide the size of the network built for it, before its tensors are
# compared. A file of a few KB (zero-size tensors, or stride-0 views in a .pth) can declare
# 20000 features or a x10000 upsampler, i.e. tens to hundreds of GB of parameters. The family's
# largest (IMDN_AS) has 0.75M parameters and IMDN 6 blocks; these bounds leave ample room.
MAX_BLOCKS = 64
MAX_PARAMETERS = 20_000_000


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """From the file's bytes, not safe_open/load_file: those keep about 3-5 KB of Python
    objects and 10-20 KiB of memory per call for the life of the process (safetensors 0.8.0;
    safetensors issue #369), which a service upscaling clip after clip would pile up. The
    metadata is the header's "__metadata__" (8-byte little-endian length, then JSON)."""
    from safetensors.torch import load

    data = path.read_bytes()
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    return load(data), dict(header.get("__metadata__") or {})


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a checkpoint file (torch or safetensors), on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise VsrError(f"weights file not found: {path}")
    try:
        if _looks_like_safetensors(path):
            tensors, metadata = _read_safetensors(path)
        else:
            if not looks_like_torch_save(path):
                raise VsrError(
                    f"{path}: not a readable checkpoint (neither a PyTorch nor a safetensors file)"
                )
            loaded = torch.load(path, map_location="cpu", weights_only=True)
            metadata = {}
            tensors = _tensors_of(loaded)
            if not isinstance(tensors, dict) or not all(
                isinstance(v, torch.Tensor) for v in tensors.values()
            ):
                raise VsrError(f"{path}: not a state dict of tensors")
    except VsrError:
        raise
    except pickle.UnpicklingError as error:
        if "weights only" not in str(error).lower():
            raise VsrError(f"{path}: not a readable checkpoint ({first_line(error)})") from None
        raise VsrError(
            f"{path}: holds pickled Python objects, not only tensors; they are not loaded, "
            "as running them could run any code (save the model's state_dict() instead)"
        ) from None
    except Exception as error:  # torch and safetensors raise many types for damaged files
        raise VsrError(f"{path}: not a readable checkpoint ({first_line(error)})") from None
    return {_strip_prefix(k): v for k, v in tensors.items()}, metadata


def looks_like_torch_save(path: Path) -> bool:
    """Whether ``path`` starts the way a torch.save file does: a zip archive, or before
    torch 1.6 a bare pickle (protocol 2 and up begin with 0x80)."""
    with path.open("rb") as handle:
        head = handle.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _looks_like_safetensors(path: Path) -> bool:
    # A safetensors file starts with an 8-byte little-endian header size followed by JSON.
    with path.open("rb") as handle:
        head = handle.read(9)
    if len(head) < 9:
        return False
    size = int.from_bytes(head[:8], "little")
    return 0 < size < _SAFETENSORS_MAX_HEADER and head[8:9] == b"{"


# Where training code keeps the weights inside a saved dict: PyTorch Lightning and many
# others under "state_dict", BasicSR under "params_ema" (the averaged weights, which it
# evaluates) and "params", vsr train's last.pt under "model" (beside its optimizer).
_WEIGHTS_KEYS = ("state_dict", "params_ema", "params", "model")


def _tensors_of(loaded: object) -> object:
    """The state dict inside what torch.load returned (the object itself when it is one).
    An entry of one of those names that is not all tensors (a "model" of settings, say) is
    passed over."""
    if not isinstance(loaded, dict):
        return None
    for key in _WEIGHTS_KEYS:
        entry = loaded.get(key)
        if isinstance(entry, dict) and all(isinstance(v, torch.Tensor) for v in entry.values()):
            return entry
    return loaded


# Wrappers that prefix every key: DataParallel/DDP ("module.") and torch.compile ("_orig_mod.").
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def _strip_prefix(key: str) -> str:
    while key.startswith(_WRAPPER_PREFIXES):
        key = key.split(".", 1)[1]
    return key


def detect_architecture(state: dict[str, torch.Tensor]) -> tuple[str, int, dict[str, int]]:
    """(arch, scale, size) recognised from key names and tensor shapes alone."""

    def count(pattern: str) -> int:
        return sum(1 for key in state if re.fullmatch(pattern, key))

    def out_channels(weight_key: str) -> int:
        # A damaged or hand-made file may lack the tensor or hold a scalar there.
        if weight_key not in state:
            raise VsrError(f"looks like an IMDN-family checkpoint but has no {weight_key}")
        shape = tuple(state[weight_key].shape)
        if len(shape) != 4:
            raise VsrError(f"{weight_key} has shape {shape}, not that of a convolution")
        if shape[0] == 0:
            # Read as 0 features (or a x0 upsampler), it built a network of that size, torch
            # warned of zero-element tensors, and the error blamed the intact tensors.
            raise VsrError(f"{weight_key} has shape {shape}, an empty tensor, no convolution")
        return shape[0]

    def factor(weight_key: str) -> int:
        # The upsampler conv has 3 * factor**2 output channels.
        channels = out_channels(weight_key)
        root = math.isqrt(channels // 3)
        if channels % 3 or root * root * 3 != channels:
            raise VsrError(f"upsampler has {channels} channels, not 3 x a square")
        return root

    if "model.0.weight" in state and "model.1.sub.0.c1.weight" in state:
        blocks = count(r"model\.1\.sub\.\d+\.c1\.weight")
        features = out_channels("model.0.weight")
        return "imdn_rtc", factor("model.2.weight"), {"features": features, "blocks": blocks}
    if "block1.c1.weight" in state:
        features = out_channels("block1.c1.weight")
        blocks = count(r"block\d+\.c1\.weight")
        return (
            "imdn_rte",
            factor("upsampler.0.weight") // 2,
            {"features": features, "blocks": blocks},
        )
    if "IMDB1.c1.weight" in state:
        blocks = count(r"IMDB\d+\.c1\.weight")
        features = out_channels("IMDB1.c1.weight")
        if "fea_conv.0.weight" in state:
            return "imdn_as", 1, {"features": features, "blocks": blocks}
        return "imdn", factor("upsampler.0.weight"), {"features": features, "blocks": blocks}
    sample = ", ".join(list(state)[:3])
    raise VsrError(f"not an IMDN-family checkpoint (keys start with: {sample})")


def check_finite(state: dict[str, torch.Tensor]) -> None:
    """Refuse weights holding NaN or Inf, as a training run that diverged saves them: every
    output is then NaN, which a run in fp16 or bf16 would blame on the precision ("run it in
    fp32") after its first batch, and a training run started from them on its lr."""
    damaged = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
    if damaged:
        raise VsrError(
            f"its weights hold NaN or Inf values ({len(damaged)} of {len(state)} tensors, "
            f"first: {damaged[0]}), as a training run that diverged leaves them"
        )


def build_from_state(state: dict[str, torch.Tensor]) -> nn.Module:
    """A model of the detected architecture with ``state`` loaded under strict checks."""
    arch, scale, size = detect_architecture(state)
    if size["blocks"] > MAX_BLOCKS:
        raise VsrError(f"declares {size['blocks']} blocks; IMDN-family networks have a few")
    with torch.device("meta"):  # shapes only: nothing is allocated until they are checked
        shell = create_model(arch, scale, **size)
    expected = shell.state_dict()
    parameters = sum(v.numel() for v in expected.values())
    if parameters > MAX_PARAMETERS:
        raise VsrError(
            f"declares an {arch} x{scale} with {size['features']} features, "
            f"{parameters:,} parameters; IMDN-family networks have under a million"
        )
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensors (first: {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (first: {unexpected[0]})")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatches (first: {wrong[0]})")
    if problems:
        raise VsrError(f"checkpoint does not match {arch} x{scale}: " + "; ".join(problems))
    check_finite(state)
    model = create_model(arch, scale, **size)
    model.load_state_dict(state, strict=True)
    return model


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Load an official ``.pth`` or one of our ``.safetensors``; returns the model in eval mode."""
    state, _ = read_state_dict(path)
    try:
        model = build_from_state(state)
    except VsrError as error:
        raise VsrError(f"{path}: {error}") from None
    return model.to(device).eval()


def _unwrapped(model: nn.Module) -> nn.Module:
    """The network inside torch.compile and DDP wrappers, whose keys carry a prefix."""
    while True:
        inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def save_weights(
    model: nn.Module,
    path: str | Path,
    metadata: dict[str, object] | None = None,
    replace: bool = True,
) -> None:
    """Write the model's tensors as safetensors, atomically, with arch and scale recorded
    (and `metadata`, whose values are stored as text, as safetensors holds them). With
    ``replace=False`` a file another writer put at `path` meanwhile is kept (VsrError)."""
    from safetensors.torch import save

    from vsr.atomic_file import atomic_output

    path = Path(path)
    if not path.parent.is_dir():
        raise VsrError(f"cannot write {path}: no folder {path.parent}")
    if path.is_dir():
        raise VsrError(f"{path} is a folder; give a .safetensors file name")
    if not os.access(path.parent, os.W_OK | os.X_OK):  # said of the folder, not of a file in it
        raise VsrError(f"cannot write {path}: {path.parent} is not writable")
    model = _unwrapped(model)
    extra = {str(key): str(value) for key, value in (metadata or {}).items()}
    info = {"arch": model.arch, "scale": str(model.scale), **extra}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    # To bytes, then vsr's own writer: save_file raised its own SafetensorError on a full
    # disk or a size limit (a traceback), and named a temporary too long for a long name.
    data = save(tensors, metadata=info)
    with atomic_output(path, replace=replace) as stream:
        stream.write(data)
