"""The encoder options that vsr sets itself, refused when given with -e.

libav takes the fields of an encoder's context as options too, and -e options reach the
encoder after vsr's own settings, so they replace them without vsr knowing:
-e video_size=320x180 wrote a 320x180 file while vsr said 128x72, and -e time_base=1/10
upscaled the whole clip, then died in a traceback at the mux. The colour tags (colorspace,
color_range, color_primaries, color_trc) and the pixel shape (sar) stay open to -e: they
relabel a mislabelled source, and vsr.video.writer says so.
"""

from __future__ import annotations

from vsr.errors import VsrError, option


def check_no_option_vsr_sets(options: dict[str, str]) -> None:
    """A VsrError for the first of the encoder `options` (-e KEY=VALUE) that replaces a
    setting vsr makes itself, naming what sets it instead."""
    for key, value in options.items():
        instead = _what_sets(key, value)
        if instead is not None:
            raise VsrError(f"{option('-e', f'{key}={value}')}: {instead}")


def _what_sets(key: str, value: str) -> str | None:
    """What sets encoder option `key` in vsr, or None where -e may set it."""
    if key == "video_size":
        return f"vsr sets the output size; use {option('--size', value)}"
    if key == "pixel_format":
        return f"vsr sets the pixel format; use {option('--pix-fmt', value, setting=True)}"
    if key == "time_base":
        # Chosen per encoder (vsr.video.encoder_time_base) and used to time every packet.
        return "vsr sets the encoder's time base from the source's timing, which it keeps"
    return None
