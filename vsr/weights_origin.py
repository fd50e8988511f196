"""Which weights a network was loaded from, for the run report: "weights" (the manifest name
of a bundled file, else the file's absolute path) and "weights_sha256", as `vsr eval --json`
records them. The architecture alone ("network": "imdn") told the official IMDN_x2.pth and
the bundled imdn_x2.safetensors apart in no way.

The file is hashed as vsr.weights.load_network loads it: once a load (a folder run loads
each network once), and the file as it was loaded, not as it may be by the time a long run
writes its report.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from vsr.errors import VsrError


@dataclass(frozen=True)
class WeightsOrigin:
    weights: str
    sha256: str | None  # None for a network passed in: no file to hash


# As vsr bench names it: a caller's own module, whose weights came from no file vsr read.
PASSED_IN = WeightsOrigin("network passed in", None)

# Weak: a network dropped by its caller takes its entry with it.
_ORIGINS: weakref.WeakKeyDictionary[nn.Module, WeightsOrigin] = weakref.WeakKeyDictionary()


def remember_origin(model: nn.Module, path: Path) -> None:
    """Record that `model` was loaded from the weights file `path`."""
    from vsr.weights import sha256_of

    _ORIGINS[model] = WeightsOrigin(_name_of(path), sha256_of(path))


def origin_of(model: nn.Module) -> WeightsOrigin:
    """Where `model`'s weights came from: PASSED_IN for a module vsr did not load."""
    return _ORIGINS.get(model, PASSED_IN)


def _name_of(path: Path) -> str:
    """A bundled file by its manifest name (the one --weights takes), any other by its
    absolute path."""
    from vsr.weights import WEIGHTS_DIR, load_manifest

    path = path.resolve()
    if path.parent == WEIGHTS_DIR.resolve():
        try:
            manifest = load_manifest()
        except VsrError:  # a bare copy of vsr/: no names to give
            manifest = {}
        for name, entry in manifest.items():
            if not entry.get("url") and entry.get("file") == path.name:
                return name
    return str(path)
