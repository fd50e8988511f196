"""An animated WebP, which `vsr run` cannot read: libav's WebP decoder takes still pictures
only, so every frame of an animation failed to decode and the file was called empty or
damaged. `vsr image` reads it, through libwebp's own decoder (Pillow's)."""

from __future__ import annotations

import shlex
from pathlib import Path

from PIL import Image

VSR_RUN_CANNOT_READ = (
    "vsr run cannot read an animated WebP (libav's WebP decoder takes stills only)"
)


def is_animated_webp(path: Path) -> bool:
    """Whether `path` is a WebP of more than one frame (False for a file Pillow cannot open)."""
    try:
        with Image.open(path) as image:
            return image.format == "WEBP" and getattr(image, "n_frames", 1) > 1
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


def run_refusal(path: Path) -> str:
    """Why `vsr run` refuses the animated WebP at `path`, with the command that takes it."""
    upscaled = path.with_name(f"{path.stem}_upscaled.webp")
    command = shlex.join(["vsr", "image", str(path), str(upscaled)])
    return f"{path} is an animated WebP: {VSR_RUN_CANNOT_READ}; upscale it with {command}"
