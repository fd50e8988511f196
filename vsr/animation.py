"""An animation (animated GIF, animated WebP, APNG) upscaled into another: every frame, each
with its own duration, and the loop count.

Frames are read as the viewer sees them: GIF and APNG frames may be rectangles drawn over
what the last left (or cleared, or restored), and Pillow's seek composes a GIF's into full
pictures (libwebp's decoder does so for WebP), vsr.apng_compose an APNG's (Pillow's seek
drew a frame blended over the last with wrong alpha). Each is upscaled alone, as a still RGB or RGBA
image is (alpha with bicubic beside the network), and written back as a full frame: simple
and always right, and the writers still store only the rectangle that changed. A grey APNG
(GIF and WebP have no grey frames) is upscaled as a grey still is, to grey (the network's
RGB reduced to luma), and written grey where the type holds it (PNG; a GIF or WebP gets the
grey in each of R, G and B): upscaled as RGB, its frames came out tinted and RGB. A 16-bit
grey APNG's frames are upscaled from their 16 bits and written at 8, with a note (its
transparent grey, tRNS, clear, as a 16-bit grey still's); with alpha, from the 8 bits a
sample Pillow reads of them (as RGBA), as grey all the same. A 16-bit RGB APNG's frames are
read at those 8 bits, its transparent colour (tRNS) clear, matched at 8. Pillow's
writers hold every frame until the file is complete, so the upscaled frames go to them one
at a time, as uint8 (a GIF's as palette indices), and no float copy of more than one frame
exists; an animation whose held frames would not fit a sane limit is refused, with `vsr run`
(which streams to a video) named instead, or for an animated WebP, which vsr run cannot read,
a GIF where one fits.

How many times the animation plays, and each frame's duration, are kept as each type
stores them (vsr.animation_timing: a GIF's loop count is one less than a WebP's or an
APNG's, and its durations are in 10 ms steps). A writer merges a frame
identical to the one before into it (the durations added): what is seen does not change.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vsr.animated_webp import VSR_RUN_CANNOT_READ, is_animated_webp
from vsr.animation_timing import GIF_STEP_MS, loop_option, plays_of, stored_durations
from vsr.apng_compose import composed_apng_frames
from vsr.atomic_file import atomic_output
from vsr.errors import VsrError
from vsr.gif_canvas import keep_alpha_after_the_first_frame
from vsr.gif_loop import gif_loop_count
from vsr.gif_palette import OPAQUE_FROM, gif_picture
from vsr.image_metadata import (
    ImageMetadata,
    not_kept,
    pillow_options,
    profile_fitted,
    read_metadata,
)
from vsr.imageio import image_type, png_bit_depth
from vsr.telemetry import available_host_memory_bytes
from vsr.upscale import Upscaler

# The output types that hold an animation (vsr.imageio.image_type: an .apng is a ".png").
ANIMATION_OUTPUTS = (".gif", ".webp", ".png")
# Pillow's names of the types whose frames are an animation (a TIFF's pages are not one).
_ANIMATED_FORMATS = ("GIF", "PNG", "WEBP")
# Pillow's modes of 16-bit grey frames (a 16-bit grey APNG's), and of all grey frames, with
# or without alpha (an APNG's; a GIF's are "P").
_SIXTEEN_BIT_GREY_MODES = ("I;16", "I;16B", "I;16L", "I")
_GREY_MODES = ("1", "L", "LA", *_SIXTEEN_BIT_GREY_MODES)
# A PNG's IHDR (bit depth, colour type) of 16-bit grey + alpha, which Pillow reads as RGBA
# (R = G = B, the high bytes), not as a grey mode.
_SIXTEEN_BIT_GREY_ALPHA = (16, 4)
# ... and of 16-bit RGB, which Pillow reads as RGB of the high bytes.
_SIXTEEN_BIT_RGB = (16, 2)
# The output types that hold grey frames; the others get the grey as R = G = B.
_GREY_OUTPUTS = (".png",)
# The most the upscaled frames held for the writer may take: 2 GiB is 1035 frames of
# 1920x1080 in a GIF, 129 in an APNG with alpha, 86 in a WebP (held_bytes).
HELD_LIMIT_BYTES = 2 * 2**30
_READ_ERRORS = (OSError, EOFError, SyntaxError, ValueError, Image.DecompressionBombError)
_APNG_OP_NONE, _APNG_OP_SOURCE = 0, 0  # APNG's dispose_op and blend_op for full frames


@dataclass(frozen=True)
class Animation:
    """What the frames of an animation file are: count, size, each one's duration (ms), how
    many times it plays (0: forever), whether any pixel is transparent, and whether every
    frame is grey."""

    frames: int
    width: int
    height: int
    durations: tuple[float, ...]
    plays: int
    transparent: bool
    grey: bool = False


def is_animation(path: Path) -> bool:
    """Whether `path` is a GIF, WebP or PNG of more than one frame (a file Pillow cannot
    open is not: the still reader says what is wrong with it). An APNG of a fallback and one
    frame is one too: its frame, not the fallback, is what an APNG viewer shows."""
    try:
        with Image.open(path) as image:
            return image.format in _ANIMATED_FORMATS and getattr(image, "n_frames", 1) > 1
    except _READ_ERRORS:
        return False


def gif_limits(target_name: str, alpha: bool) -> str:
    """The note on what a GIF output cannot hold of an upscaled picture."""
    kept = "256 colours of each picture"
    if alpha:
        kept += f" and its transparency as on or off (alpha from {OPAQUE_FROM} of 255 on)"
    return f"{target_name} keeps {kept}; .png and .webp keep them all"


def _composed_frames(
    image: Image.Image, source: Path, alpha: bool, grey: bool = False
) -> Iterator[np.ndarray]:
    """Each frame as the viewer sees it, H x W x 4 (or 3 without ``alpha``) uint8; with
    ``grey``, H x W x 2 (or 1), as a grey still is read."""
    from vsr.imageio import apply_orientation, exif_orientation

    orientation = exif_orientation(image)
    colour_key = _colour_key_at_8_bits(image, source)

    def read_pixels(picture: Image.Image) -> np.ndarray:
        if colour_key is not None:  # a seek back to the first frame reads the file's
            picture.info["transparency"] = colour_key
        return _pixels_with_alpha(picture, grey)

    if image.format == "PNG":
        frames = composed_apng_frames(image, read_pixels)
    else:
        frames = _seeked_frames(image, read_pixels)
    number = 1  # as a viewer counts them (an APNG's fallback is none of them)
    try:
        for frame in frames:
            yield apply_orientation(_as_read(frame, alpha, grey), orientation)
            number += 1
    except _READ_ERRORS as error:
        raise VsrError(f"cannot read frame {number} of {source}: {error}") from error


def _seeked_frames(
    image: Image.Image, read_pixels: Callable[[Image.Image], np.ndarray]
) -> Iterator[np.ndarray]:
    """A GIF's or WebP's frames as Pillow's seek composes them."""
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        yield read_pixels(image)
        if index == 0:
            keep_alpha_after_the_first_frame(image)


def _pixels_with_alpha(picture: Image.Image, grey: bool) -> np.ndarray:
    """A frame (or an APNG frame's rectangle) as H x W x 4 uint8, or with ``grey`` H x W x 2;
    a 16-bit grey one as H x W x 2 uint16."""
    if picture.mode in _SIXTEEN_BIT_GREY_MODES:
        return _sixteen_bit_grey(picture, alpha=True)
    return np.asarray(picture.convert("LA" if grey else "RGBA"))


def _as_read(frame: np.ndarray, alpha: bool, grey: bool) -> np.ndarray:
    """A composed frame of `_pixels_with_alpha` as `_composed_frames` gives it: its alpha
    dropped without ``alpha``, and a 16-bit grey one as 8-bit RGB(A) without ``grey``
    (read_animation's look at the frames, as at the rest)."""
    from vsr.imageio import as_rgb, as_rgba, to_uint8

    if not alpha:
        frame = frame[:, :, :-1]
    if frame.dtype == np.uint16 and not grey:
        frame = as_rgba(to_uint8(frame)) if alpha else as_rgb(to_uint8(frame))
    return frame


def _colour_key_at_8_bits(image: Image.Image, source: Path) -> tuple[int, ...] | None:
    """A 16-bit RGB APNG's transparent colour (tRNS) as Pillow reads its frames: at 8 bits,
    the high bytes. Pillow keeps the key as stored, 16 bits, and compares the 8-bit frames
    with it (in convert and in blending a frame over the last), so no pixel was clear. Its
    frames hold 8 bits, so a colour within the key's 8-bit step in R, G and B is clear too;
    None for any other image (call it before the first seek: a seek may rewrite the key)."""
    key = image.info.get("transparency")
    if image.mode != "RGB" or not isinstance(key, tuple):
        return None
    if png_bit_depth(source) != _SIXTEEN_BIT_RGB:
        return None
    return tuple(sample >> 8 for sample in key)


def _sixteen_bit_grey(image: Image.Image, alpha: bool) -> np.ndarray:
    """A 16-bit grey frame as H x W x 1 (or 2, with alpha) uint16, as a 16-bit grey still is
    read: Pillow's convert to "L" or "RGB" clips its samples at 255 (a gradient's frame came
    out 99% white). Its transparent grey (tRNS), which Pillow keeps as stored but leaves out
    of every conversion, is alpha 0, as a 16-bit grey still's is (vsr.imageio.read_image)."""
    grey = np.asarray(image).astype(np.uint16)[:, :, None]
    if not alpha:
        return grey
    key = image.info.get("transparency")
    if isinstance(key, int):
        opacity = np.where(grey == key, 0, 65535).astype(np.uint16)
    else:
        opacity = np.asarray(image.convert("LA"))[:, :, 1:].astype(np.uint16) * 257
    return np.concatenate([grey, opacity], axis=2)


def read_animation(source: Path) -> Animation:
    """The frames' count, size, durations and transparency, read through once (decoding
    only, far quicker than the upscaling), so that a damaged file or one too large to hold
    is told before any frame is upscaled."""
    durations: list[float] = []
    transparent = False
    grey = True
    try:
        with Image.open(source) as image:
            loop = image.info.get("loop")
            if image.format == "GIF" and loop is None:
                loop = gif_loop_count(source)  # its block may come after the first frame
            plays = plays_of(image.format, loop)
            # Read as RGBA, a 16-bit grey + alpha APNG went through the network as colour and
            # came out tinted RGBA: it is grey, as its 8-bit kin (LA) is.
            grey_modes = _GREY_MODES
            if image.format == "PNG" and png_bit_depth(source) == _SIXTEEN_BIT_GREY_ALPHA:
                grey_modes = (*_GREY_MODES, "RGBA")
            for frame in _composed_frames(image, source, alpha=True):
                durations.append(float(image.info.get("duration") or 0))
                transparent = transparent or bool((frame[:, :, 3] < 255).any())
                grey = grey and image.mode in grey_modes
            if not durations:
                raise VsrError(f"{source} holds no frames")
            height, width = frame.shape[:2]
    except _READ_ERRORS as error:
        raise VsrError(f"cannot read animation {source}: {error}") from error
    return Animation(len(durations), width, height, tuple(durations), plays, transparent, grey)


def held_bytes(animation: Animation, scale: int, extension: str) -> int:
    """The memory held for the upscaled frames until the file is written: a byte a pixel
    for a GIF's palette indices; for an APNG the RGB(A) frames twice (listed for Pillow,
    which copies each); for a WebP three times (Pillow lists them, and libwebp keeps each
    frame encoded, as large as the pixels for noise). Measured as the peak RSS of 20 and 60
    frames of 320x240 RGBA noise at x2: 1.0, 8.7 and 11.4 bytes an output pixel. A grey
    APNG's frames are L or LA in a .png (1.8 bytes an output pixel measured for 60 frames of
    grey noise, 6.9 for RGB): counted as RGB, one that fits was refused at a third of it."""
    grey = animation.grey and extension in _GREY_OUTPUTS  # else R, G and B are written
    channels = (1 if grey else 3) + (1 if animation.transparent else 0)
    per_pixel = {".gif": 1, ".png": 2 * channels}.get(extension, 3 * channels)
    return animation.frames * animation.width * animation.height * scale**2 * per_pixel


def _check_memory(animation: Animation, scale: int, source: Path, target: Path) -> None:
    held = held_bytes(animation, scale, image_type(target))
    available = available_host_memory_bytes()
    limit = HELD_LIMIT_BYTES if available is None else min(HELD_LIMIT_BYTES, available // 2)
    if held > limit:
        size = f"{animation.width * scale}x{animation.height * scale}"
        raise VsrError(
            f"{source.name}'s {animation.frames} frames upscaled x{scale} to {size} would "
            f"need about {held / 2**20:,.0f} MiB held for writing {target.name} (the limit is "
            f"{limit / 2**20:,.0f} MiB); {_way_round(animation, scale, source, target, limit)}"
        )


def _way_round(animation: Animation, scale: int, source: Path, target: Path, limit: int) -> str:
    """What takes an animation too large to hold, as a command to type (the paths as given):
    `vsr run`, which streams the frames into a video; for an animated WebP, which vsr run
    cannot read, a GIF where its frames (a byte a pixel) fit."""
    if not is_animated_webp(source):
        command = shlex.join(["vsr", "run", str(source), str(target.with_suffix(".mp4"))])
        return f"upscale it as a video: {command}"
    if image_type(target) == ".gif" or held_bytes(animation, scale, ".gif") > limit:
        return VSR_RUN_CANNOT_READ
    command = shlex.join(["vsr", "image", str(source), str(target.with_suffix(".gif"))])
    return f"{VSR_RUN_CANNOT_READ}; a .gif holds it, in 256 colours a frame: {command}"


def upscale_animation(
    upscaler: Upscaler,
    source: Path,
    target: Path,
    scale: int | None,
    overwrite: bool,
    progress: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Upscale every frame of the animation `source` into the animation `target` (.gif,
    .webp or .png); the first upscaled frame (H x W x 1 or 2 for a grey animation, as a grey
    still comes out), and notes on what `target` does not keep."""
    from vsr.image import output_scale, upscale_image
    from vsr.imageio import as_rgba, to_uint8
    from vsr.progress import bars_shown, frame_bar

    scale = output_scale(upscaler, scale)
    animation = read_animation(source)
    _check_memory(animation, scale, source, target)
    extension = image_type(target)
    width, height = animation.width * scale, animation.height * scale
    metadata = read_metadata(source).upscaled(scale, width, height)
    grey_written = animation.grey and extension in _GREY_OUTPUTS
    metadata, notes = profile_fitted(metadata, "GRAY" if grey_written else "RGB", str(target))
    bar = frame_bar(bars_shown(progress), total=animation.frames, unit="frame")

    def written(frame: np.ndarray) -> Image.Image:
        # 8 bits a sample, in every type: Pillow's APNG writer took two different 16-bit
        # frames for the same one and merged them.
        frame = to_uint8(frame)
        if not grey_written:
            frame = as_rgba(frame)  # grey in each of R, G and B
        if extension == ".gif":
            return gif_picture(frame, animation.transparent)
        return Image.fromarray(frame[:, :, 0] if frame.shape[2] == 1 else frame)

    with Image.open(source) as image, bar:
        upscaled = (
            upscale_image(upscaler, frame, scale)
            for frame in _composed_frames(image, source, animation.transparent, animation.grey)
        )
        first = next(upscaled)
        bar.update()

        def the_rest() -> Iterator[Image.Image]:
            for frame in upscaled:
                yield written(frame)
                bar.update()

        rest: Iterator[Image.Image] | list[Image.Image] = the_rest()
        if extension == ".png":
            # Pillow's APNG writer goes through the frames twice (their modes and sizes
            # first): a generator would be spent on the first pass.
            rest = list(rest)
        options = _save_options(animation, extension, metadata)
        with atomic_output(target, replace=overwrite) as file:
            written(first).save(file, save_all=True, append_images=rest, **options)
    notes += [f"{target} cannot keep {what}" for what in not_kept(metadata, extension)]
    if first.dtype == np.uint16:
        notes.append(
            f"{target} holds 8 bits a sample in an animation: the 16-bit frames were "
            "rounded to 8 bits"
        )
    elif (png_bit_depth(source) or (0,))[0] == 16:
        # Pillow reads a 16-bit colour or grey + alpha APNG's frames at 8 bits (the high
        # bytes), and the writers take 8: said as a 16-bit grey one's rounding is, as a
        # still PNG would have kept the 16.
        notes.append(
            f"{source}'s 16-bit frames were read at 8 bits a sample (Pillow reads a "
            f"colour or grey + alpha APNG so), and {target} holds 8 in an animation"
        )
    if extension == ".gif":
        notes.append(gif_limits(str(target), animation.transparent))
    return first, notes


def _save_options(animation: Animation, extension: str, metadata: ImageMetadata) -> dict:
    """Pillow's options for writing the frames as an animation of this type."""
    loop = loop_option(animation.plays, extension)
    if extension == ".gif":
        options: dict = {
            "format": "GIF",
            "duration": stored_durations(animation.durations, GIF_STEP_MS),
        }
        if loop is not None:
            options["loop"] = loop  # none written: the GIF plays once
        if animation.transparent:
            # Full frames with clear pixels: each must clear the last (disposal 2, restore
            # to background), or what was there shows through.
            options["disposal"] = 2
            # Every frame keeps its transparent index, opaque ones too: Pillow's palette
            # optimising drops an unused one, and a decoder that restores to background
            # (Pillow, vsr itself, the GIF spec's letter) clears to transparent only after a
            # frame that had one; else holes after an opaque frame came back opaque.
            options["optimize"] = False
        return options
    if extension == ".webp":
        return {
            "format": "WEBP",
            "duration": stored_durations(animation.durations, 1),
            "loop": loop,
            "lossless": True,  # as a still WebP is written
            "quality": 100,
            **pillow_options(metadata, extension),
        }
    return {
        "format": "PNG",
        "duration": list(animation.durations),
        "loop": loop,
        "default_image": False,
        "disposal": _APNG_OP_NONE,
        "blend": _APNG_OP_SOURCE,  # a frame's rectangle replaces what was there, alpha too
        **pillow_options(metadata, extension),
    }
