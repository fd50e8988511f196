"""vsr: video super-resolution with IMDN.

The API in one screen: ``load_model`` gives an ``Upscaler``; ``upscale_frames``,
``upscale_image`` and ``upscale_video`` use it. See vsr/api.py for examples.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Where each public name lives. They are imported on first use (PEP 562), because the API
# pulls in torch (about 2.5 s), and `vsr --help` or a mistyped flag should answer at once.
_PUBLIC = {
    "Upscaler": "vsr.upscale",
    "VsrError": "vsr.errors",
    "VsrTypeError": "vsr.errors",
    "VsrWarning": "vsr.caller_warning",
    "load_model": "vsr.api",
    "upscale_frames": "vsr.api",
    "upscale_image": "vsr.api",
    "upscale_video": "vsr.runner",
    # Named in the signatures above: what upscale_video takes and gives, and the tile plan
    # an Upscaler makes.
    "EncodeSettings": "vsr.video.encode_settings",
    "RunReport": "vsr.report",
    "TilePlan": "vsr.ops.tiling",
}

if TYPE_CHECKING:
    from vsr.api import load_model, upscale_frames, upscale_image
    from vsr.caller_warning import VsrWarning
    from vsr.errors import VsrError, VsrTypeError
    from vsr.ops.tiling import TilePlan
    from vsr.report import RunReport
    from vsr.runner import upscale_video
    from vsr.upscale import Upscaler
    from vsr.video.encode_settings import EncodeSettings

__all__ = [
    "EncodeSettings",
    "RunReport",
    "TilePlan",
    "Upscaler",
    "VsrError",
    "VsrTypeError",
    "VsrWarning",
    "load_model",
    "upscale_frames",
    "upscale_image",
    "upscale_video",
]


def __getattr__(name: str) -> object:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'vsr' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})  # a set: a name used once is in both
