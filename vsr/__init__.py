"""vsr: video super-resolution with IMDN.

The API in one screen: ``load_model`` gives an ``Upscaler``; ``upscale_frames``,
``upscale_image`` and ``upscale_video`` use it. See vsr/api.py for examples.
"""

__version__ = "0.1.0"

from vsr.api import load_model, upscale_frames, upscale_image  # noqa: E402
from vsr.engine import upscale_video  # noqa: E402
from vsr.errors import VsrError  # noqa: E402
from vsr.upscale import Upscaler  # noqa: E402

__all__ = [
    "Upscaler",
    "VsrError",
    "load_model",
    "upscale_frames",
    "upscale_image",
    "upscale_video",
]
