"""An image file upscaled into another: the pixels, what the file says about them (colour
profile, resolution, EXIF; vsr.image_metadata), and notes on what the output cannot keep.
`vsr image` and vsr.upscale_image both go through it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from vsr.image import upscale_image
from vsr.image_metadata import ImageMetadata, not_kept, profile_colours, read_metadata
from vsr.imageio import read_image, write_image
from vsr.upscale import Upscaler


def upscale_file(
    upscaler: Upscaler, source: Path, target: Path, scale: int | None, overwrite: bool
) -> tuple[np.ndarray, list[str]]:
    """Upscale the image file `source` into `target`; the upscaled pixels, and notes on
    what `target` does not keep of `source`."""
    pixels = read_image(source, keep_grey_alpha=True)
    result = upscale_image(upscaler, pixels, scale)
    factor = result.shape[1] // pixels.shape[1]
    metadata = read_metadata(source).upscaled(factor, result.shape[1], result.shape[0])
    # A profile describes colours of one kind: a CMYK one (the pixels came out RGB) or a
    # grey one on RGB (WebP has no grey) would tell viewers to read the output wrongly.
    written = "GRAY" if result.shape[2] <= 2 and target.suffix.lower() != ".webp" else "RGB"
    unfit = metadata.icc_profile and profile_colours(metadata.icc_profile) != written
    if unfit:
        source_colours = profile_colours(metadata.icc_profile)
        metadata = replace(metadata, icc_profile=None)
    write_image(target, result, overwrite, metadata)
    notes = _notes(source, target, result, metadata)
    if unfit:
        notes.insert(
            0,
            f"{target.name} cannot keep the colour profile: it is for {source_colours} "
            f"colours and the output's are {written} (viewers will take them as sRGB)",
        )
    return result, notes


def _notes(source: Path, target: Path, result: np.ndarray, metadata: ImageMetadata) -> list[str]:
    extension = target.suffix.lower()
    lost = not_kept(metadata, extension)
    if result.shape[2] in (2, 4) and extension in (".jpg", ".jpeg", ".bmp"):
        lost.insert(0, "the transparency (.png, .webp and .tif keep it)")
    notes = [f"{target.name} cannot keep {what}" for what in lost]
    if metadata.frames > 1:
        notes.append(
            f"{source.name} holds {metadata.frames} pictures (an animation or pages); only "
            "the first was upscaled (vsr run takes an animation as a video)"
        )
    return notes
