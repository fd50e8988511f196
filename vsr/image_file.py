"""An image file upscaled into another: the pixels, what the file says about them (colour
profile, resolution, EXIF, XMP; vsr.image_metadata), and notes on what the output cannot keep.
vsr.upscale_image, which `vsr image` calls, goes through it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vsr.animated_webp import is_animated_webp
from vsr.animation import ANIMATION_OUTPUTS, gif_limits, is_animation, upscale_animation
from vsr.apng_fallback import file_has_fallback
from vsr.broken_links import not_a_regular_file
from vsr.errors import VsrError, option
from vsr.image import upscale_image
from vsr.image_metadata import ImageMetadata, not_kept, profile_fitted, read_metadata
from vsr.imageio import (
    check_image_output,
    image_type,
    keeps_16_bits,
    keeps_alpha,
    read_image,
    write_image,
)
from vsr.upscale import Upscaler
from vsr.url_input import refuse_a_url


def check_image_input(source: Path) -> None:
    """Refuse `source` as one image file, before any output is made: a folder (named as the
    fault, with what takes one: an output ending in / was blamed instead, "unknown image
    type '' for o2"), a URL, a broken link or a FIFO, or nothing there."""
    if source.is_dir():
        # `vsr image FOLDER` takes the folder's way first: only a call gets here.
        raise VsrError(
            f"{source} is a folder; upscale_image takes one image file (`vsr image {source} "
            "OUT_FOLDER/` upscales every image of a folder)"
        )
    if not source.is_file():
        refuse_a_url(source)
        why = not_a_regular_file(source)
        raise VsrError(f"{source}: {why}" if why else f"image not found: {source}")


def image_output(source: Path, target: Path, folder_meant: bool) -> Path:
    """Where the image file `source` goes for an OUT given as `target`: into it, under the
    input's name, where it is a folder; one not there is made where `folder_meant` (OUT was
    written ending in /, which Path drops: taken for a file name, "newdir/" was "unknown
    image type '' for newdir"), as vsr run makes its output folder."""
    from vsr.folder import make_output_folder

    if folder_meant and not target.is_dir():
        make_output_folder(target)
    return target / source.name if target.is_dir() else target


def check_output_path(source: Path | None, target: Path, overwrite: bool) -> None:
    """Refuse `target` as the output of the image file `source` (None: pixels, not a file)
    before the upscaling, which may take long: the input itself, even with `overwrite`; an
    existing name without it; a type vsr does not write, or a folder not there. Its words
    name the overwrite option as the caller gave it (vsr.errors.option)."""
    if source is not None and target.exists() and target.resolve() == source.resolve():
        raise VsrError(f"{target} is the input image; choose another output path")
    # lexists: a link to nothing is a name taken too (no-clobber would refuse it late).
    if os.path.lexists(target) and not overwrite and not target.is_dir():
        raise VsrError(f"{target} already exists; use {option('--overwrite', True)} to replace it")
    check_image_output(target)


def upscale_file(
    upscaler: Upscaler,
    source: Path,
    target: Path,
    scale: int | None,
    overwrite: bool,
    progress: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Upscale the image file `source` into `target`; the upscaled pixels, and notes on
    what `target` does not keep of `source`. An animation (GIF, WebP, APNG) written to a
    type that holds one is upscaled whole (vsr.animation; its first frame is returned, and
    ``progress`` shows a bar over its frames); elsewhere its first frame is."""
    if image_type(target) in ANIMATION_OUTPUTS and is_animation(source):
        return upscale_animation(upscaler, source, target, scale, overwrite, progress)
    pixels = read_image(source, keep_grey_alpha=True)
    result = upscale_image(upscaler, pixels, scale, fill_clear=keeps_alpha(target))
    factor = result.shape[1] // pixels.shape[1]
    metadata = read_metadata(source).upscaled(factor, result.shape[1], result.shape[0])
    grey = result.shape[2] <= 2 and image_type(target) not in _COLOUR_ONLY
    written = "GRAY" if grey else "RGB"
    metadata, unfit = profile_fitted(metadata, written, str(target))
    write_image(target, result, overwrite, metadata)
    return result, unfit + _notes(source, target, result, metadata)


# Types that hold colour only: WebP has no grey, GIF's palette is RGB.
_COLOUR_ONLY = (".webp", ".gif")


def pixels_not_kept(target: Path, result: np.ndarray) -> list[str]:
    """Notes on what `target`'s type cannot hold of the upscaled pixels themselves, whether
    they came from a file or from an array: their 16 bits, their transparency, or a GIF's
    limits."""
    return (
        _depth_lost(target, result)
        + _transparency_lost(target, result)
        + _gif_limits(target, result)
        + _pillow_cannot_open(target, result)
    )


def _depth_lost(target: Path, result: np.ndarray) -> list[str]:
    # Said as the other losses are: a 16-bit scan or render exported to a JPEG for viewing
    # is fine, but one meant for further editing would lose its smooth gradients unawares.
    if result.dtype == np.uint16 and not keeps_16_bits(target):
        return [
            f"{target} holds 8 bits a sample: the 16-bit pixels were rounded to 8 bits "
            "(.png and .tif keep 16)"
        ]
    return []


def _pillow_cannot_open(target: Path, result: np.ndarray) -> list[str]:
    # A 16-bit grey + alpha TIFF is a valid one (ExtraSamples: alpha), read sample for
    # sample by libtiff, but Pillow has no mode for it: opening it says only "cannot
    # identify image file", which reads as a broken output. A PNG keeps the same pixels.
    two = result.ndim == 3 and result.shape[2] == 2
    if two and result.dtype == np.uint16 and image_type(target) in (".tif", ".tiff"):
        return [
            f"{target} is a 16-bit grey + alpha TIFF, which libtiff reads and Pillow "
            "cannot open (.png keeps the 16 bits and the alpha, and Pillow opens it)"
        ]
    return []


def _has_alpha(result: np.ndarray) -> bool:
    return result.ndim == 3 and result.shape[2] in (2, 4)


def _see_through(result: np.ndarray) -> bool:
    """Whether any pixel's alpha is below opaque: an alpha channel that is opaque throughout
    (a screenshot or a scan saved with one) holds nothing a JPEG could lose."""
    if not _has_alpha(result):
        return False
    return bool((result[..., -1] < np.iinfo(result.dtype).max).any())


def _transparency_lost(target: Path, result: np.ndarray) -> list[str]:
    if _see_through(result) and not keeps_alpha(target):
        return [f"{target} cannot keep the transparency (.png, .webp and .tif keep it)"]
    return []


def _gif_limits(target: Path, result: np.ndarray) -> list[str]:
    if image_type(target) == ".gif":
        return [gif_limits(str(target), alpha=_has_alpha(result))]
    return []


def _notes(source: Path, target: Path, result: np.ndarray, metadata: ImageMetadata) -> list[str]:
    extension = image_type(target)
    notes = _depth_lost(target, result) + _transparency_lost(target, result)
    notes += [f"{target} cannot keep {what}" for what in not_kept(metadata, extension)]
    notes += _gif_limits(target, result) + _pillow_cannot_open(target, result)
    if file_has_fallback(source):
        # Its fallback is frame 0, the picture read as a still: the one meant to stand for
        # the animation where it is not played, and no frame of it (vsr.apng_fallback).
        notes.append(
            f"{source} is an animation of {metadata.frames} frame(s) with a still "
            f"fallback; only the fallback was upscaled, as {extension} holds one picture "
            "(.gif, .webp, .png and .apng keep the animation; vsr run takes it as a video)"
        )
    elif metadata.frames > 1 and is_animation(source):
        # vsr run cannot read an animated WebP (vsr.animated_webp): not named for one.
        as_video = "" if is_animated_webp(source) else "; vsr run takes it as a video"
        notes.append(
            f"{source} is an animation of {metadata.frames} frames; only the first was "
            f"upscaled, as {extension} holds one picture (.gif, .webp, .png and "
            f".apng keep the animation{as_video})"
        )
    elif metadata.frames > 1:
        notes.append(
            f"{source} holds {metadata.frames} pictures (an animation or pages); only "
            "the first was upscaled (vsr run takes an animation as a video)"
        )
    return notes
