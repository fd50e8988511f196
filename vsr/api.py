"""The Python API: what the command line is built on, for code that embeds `vsr`.

import vsr
upscaler = vsr.load_model(scale=2)                 # our default x2 weights
big = vsr.upscale_frames(upscaler, frames)         # N x H x W x 3 uint8 -> uint8
vsr.upscale_image(upscaler, "in.png", "out.png")   # grey / RGBA / 16-bit kept
vsr.upscale_video("in.mp4", "out.mp4", scale=2)    # decode once, encode once
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from vsr.argument_types import check_path, check_pixels_type, check_switch, given
from vsr.caller_warning import warn_the_caller
from vsr.errors import VsrError, VsrTypeError
from vsr.upscale import Upscaler, check_dense_tensor, check_precision, resolve_device


def load_model(
    weights: str | Path | nn.Module | None = None,
    *,
    scale: int | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
    max_memory: int | None = None,
    channels_last: bool | None = None,
) -> Upscaler:
    """An Upscaler for ``weights``: a file, a manifest name (e.g. "IMDN_x2", downloaded and
    verified on first use), a built network, or None for the project's own weights for
    ``scale`` (default 2). A given ``scale`` is served as `upscale_video` serves it: by
    weights of that factor, or of a larger one, whose output is shrunk to it (x4 weights
    for scale=2), and by IMDN_AS, which works on enlarged input, up to 4 (loaded without a
    ``scale``, it restores at the input's size). ``device`` defaults to
    CUDA when present; ``precision`` to fp16 on CUDA, and on the CPU to bf16 where it has
    bf16 instructions, else fp32 (vsr.default_precision); ``max_memory``
    (bytes) bounds the network's memory through tiling. ``channels_last`` defaults to on
    for the CPU, where it measured 1.3-1.45x faster, and off on a GPU, where it paid with
    batches and CUDA graphs (the video presets) but is unmeasured for single images.
    """
    from vsr.network_cache import load_network_for
    from vsr.scaling import check_scale_served
    from vsr.weights import check_scale

    scale = check_scale(scale)
    if precision is not None:  # before the weights are read, or fetched
        check_precision(precision)
    model = load_network_for(weights, scale)
    if scale is not None:
        check_scale_served(model.scale, scale)
    device = resolve_device(device)
    if channels_last is None:
        channels_last = device.type == "cpu"
    upscaler = Upscaler(
        model,
        device=device,
        precision=precision,
        max_memory=max_memory,
        channels_last=channels_last,
    )
    if scale is not None:
        upscaler.output_scale = scale  # IMDN_AS: the helpers enlarge by it
    return upscaler


def _sizes(frames: Iterable[object]) -> str:
    """ ": 8x6 (frame 0), 6x8 (frame 2)", the first frame of each size in a list of frames
    of several, for the error that refuses it; "" where they cannot be told."""
    first_of: dict[tuple[int, ...], int] = {}
    try:
        for index, frame in enumerate(frames):
            first_of.setdefault(tuple(np.shape(frame)), index)
    except (TypeError, ValueError):
        return ""
    named = [
        f"{shape[1]}x{shape[0]} (frame {index})" if len(shape) >= 2 else f"{shape} (frame {index})"
        for shape, index in list(first_of.items())[:3]
    ]
    more = ", ..." if len(first_of) > 3 else ""
    return f": {', '.join(named)}{more}" if len(first_of) > 1 else ""


def upscale_frames(
    upscaler: Upscaler, frames: np.ndarray | torch.Tensor, scale: int | None = None
) -> np.ndarray:
    """Upscale a batch of RGB frames: N x H x W x 3 uint8 -> N x sH x sW x 3 uint8 (a
    numpy array; a torch tensor on any device is taken too).

    ``scale`` defaults to the one the upscaler was loaded for; IMDN_AS (same-size) gets a
    bicubic enlargement by it first, as `upscale_image` does. On the CPU, a batch whose
    result would not fit in the free memory is refused (VsrError) before the network runs.
    """
    from vsr.image import check_batch_memory, output_scale, upscaled_by
    from vsr.imageio import writable

    check_upscaler(upscaler)
    check_pixels_type(frames, "frames", "an N x H x W x 3 uint8 array, or a tensor of one")
    frames = _on_host(frames, "frames must be N x H x W x 3 uint8")
    try:
        frames = np.asarray(frames)
    except ValueError:  # a list of frames of different sizes
        raise VsrError(f"frames must be N x H x W x 3 uint8 of one size{_sizes(frames)}") from None
    except OSError as error:  # Pillow images whose files fail to load, as _pillow_pixels says
        raise VsrError(f"cannot read the frames: {error}") from None
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        # As upscale_image says of an image: torch's layout is the likely slip.
        hint = (
            " (channels first? give N x H x W x 3)"
            if frames.ndim == 4 and frames.shape[1] == 3 and frames.shape[3] != 3
            else ""
        )
        raise VsrError(
            f"frames must be N x H x W x 3 uint8, got {frames.shape} {frames.dtype}{hint}"
        )
    scale = output_scale(upscaler, scale)
    count, height, width = frames.shape[:3]
    if height == 0 or width == 0:
        raise VsrError(f"cannot upscale an empty frame ({width}x{height})")
    if count == 0:
        return np.zeros((0, height * scale, width * scale, 3), np.uint8)
    if upscaler.device.type == "cpu":  # on a GPU the results are there, until uint8
        # The network's own output is the larger where it is shrunk to the scale.
        largest = max(scale, upscaler.scale)
        check_batch_memory(count, height, width, largest, enlarged=upscaler.scale == 1 != scale)
    x = torch.from_numpy(writable(frames)).to(upscaler.device)
    y = upscaled_by(upscaler, x.permute(0, 3, 1, 2).float().div_(255), scale)
    return y.mul_(255).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def upscale_image(
    upscaler: Upscaler,
    image: np.ndarray | torch.Tensor | Image.Image | str | os.PathLike,
    output: str | os.PathLike | None = None,
    scale: int | None = None,
    overwrite: bool = False,
    *,
    progress: bool = False,
    on_note: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Upscale an image (an H x W x C or H x W array, a CPU or GPU tensor of one, a Pillow
    image, or a file); grey, grey + alpha, RGBA and 16-bit are kept, an array in its own
    layout, a grey file or Pillow image as H x W (as Pillow reads it). ``scale`` defaults
    to the one the upscaler was loaded for.

    With ``output`` the result is also written there (format from the extension); an
    existing ``output`` is refused unless ``overwrite``, and never the input file itself.
    From a file, an ``output`` that is a folder, or a str ending in / (a folder, made if
    missing), takes the image under the input's name, as `vsr image` does. A folder of
    images is `vsr image`'s alone: one given as ``image`` is refused, so named.
    From a file to a file, the colour profile, the resolution (times the scale) and the
    EXIF go along where the output's type holds them; a warning names what does not (a
    BMP's colour profile, an animation's other frames), and, from an array too, what the
    output cannot hold of the pixels (16 bits in a JPEG, WebP, GIF or BMP, a JPEG's or
    BMP's transparency, a GIF's 256 colours).
    An animated GIF, WebP or APNG written to a .gif, .webp or .png (.apng) is upscaled
    whole, each frame with its duration (vsr.animation), and its first upscaled frame
    returned (H x W for a grey APNG, as for a grey still); ``progress`` draws a bar over
    its frames; so is a Pillow image of one, opened from its file and not seeked (a frame
    seeked to is upscaled alone, with a note). ``on_note(text)``, if given, is told each
    note in place of the warning.
    Raises VsrError for a user mistake; for an argument of the wrong type, one that is a
    TypeError too (vsr.errors.VsrTypeError).
    """
    from vsr.image import upscale_image as upscale_pixels
    from vsr.image_file import (
        check_image_input,
        check_output_path,
        image_output,
        pixels_not_kept,
        upscale_file,
    )
    from vsr.imageio import keeps_alpha, read_image, write_image

    check_upscaler(upscaler)
    # np.asarray reads a Pillow image's current frame alone: one opened from a file of
    # several (an animation, pages) is upscaled as that file is, with its notes.
    if output is not None and isinstance(image, Image.Image):
        frames_file = _file_of_frames(image)
        if frames_file is not None:
            return upscale_image(
                upscaler, frames_file, output, scale, overwrite, progress=progress, on_note=on_note
            )
    is_file = isinstance(image, str | os.PathLike)
    if is_file:
        image = check_path(image, "image")
        check_image_input(image)  # a folder is named as the fault before OUT is looked at
    else:
        check_pixels_type(image, "image", IMAGES_TAKEN)
    overwrite = check_switch(overwrite, "overwrite")
    progress = check_switch(progress, "progress")
    if on_note is not None and not callable(on_note):
        raise VsrTypeError(f"on_note must be a function of the note's text, not {given(on_note)}")
    if output is not None:
        # A str's trailing slash means a folder, as on the command line; Path drops it.
        folder_meant = isinstance(output, str) and output.endswith(("/", os.sep))
        output = check_path(output, "output")
        if is_file:
            output = image_output(image, output, folder_meant)
        elif folder_meant:  # was "unknown image type '' for o2", the slash lost
            raise VsrError(
                f"{output}{os.sep} is a folder; pixels have no file name to take in it: "
                "give an image file name"
            )
        check_output_path(Path(image) if is_file else None, output, overwrite)
    if is_file and output is not None:
        # Without overwrite, an output another call wrote meanwhile is kept, not replaced.
        result, notes = upscale_file(upscaler, Path(image), output, scale, overwrite, progress)
        _tell(notes, on_note)
        return _as_readers_give(result)
    # np.asarray reads a palette picture's indices and CMYK's or YCbCr's planes as if they
    # were grey or RGB: a Pillow image is converted as a file of its mode is, and grey
    # comes back H x W as from a file.
    from_pillow = isinstance(image, Image.Image)
    if is_file:
        pixels = read_image(image, keep_grey_alpha=True)
    elif from_pillow:
        pixels = _pillow_pixels(image)
    else:
        pixels = _on_host(image, "images must be 8 or 16 bits per sample")
    result = upscale_pixels(upscaler, pixels, scale, output is None or keeps_alpha(output))
    if output is not None:
        write_image(output, result, overwrite)
        # As from a file: an array's alpha dropped by a JPEG is as lost as a file's.
        left_out = _frames_left_out(image) if from_pillow else []
        _tell(pixels_not_kept(output, result) + left_out, on_note)
    return _as_readers_give(result) if is_file or from_pillow else result


def _tell(notes: list[str], on_note: Callable[[str], None] | None) -> None:
    """upscale_image's notes, to `on_note` or as warnings of its caller's line."""
    for note in notes:
        if on_note is None:
            warn_the_caller(note)
        else:
            on_note(note)


IMAGES_TAKEN = (
    "an H x W or H x W x C array, a tensor of one, a Pillow image, or a path (str or os.PathLike)"
)


def _on_host(pixels: object, rule: str) -> object:
    """A tensor's values as a numpy array, from any device and whether or not it requires
    grad (numpy refuses both, with torch's own error); anything else as it came. A tensor
    of a type numpy has no counterpart for (bfloat16, float8) is refused by ``rule``, the
    caller's own message for a wrong type, as numpy's types are: torch's TypeError said
    only "Got unsupported ScalarType BFloat16"."""
    if not isinstance(pixels, torch.Tensor):
        return pixels
    # numpy's copy refuses both with words about torch's internals ("Cannot copy out of
    # meta tensor"), or a sparse one with a dtype error that names the wrong fault.
    check_dense_tensor(pixels, rule)
    try:
        return pixels.detach().cpu().numpy()
    except TypeError:
        raise VsrError(f"{rule}, not {pixels.dtype}") from None


def _pillow_pixels(image: Image.Image) -> np.ndarray:
    """The pixels of a Pillow image as those of a file of its mode, turned upright by its
    EXIF orientation as a file is (Image.open leaves a phone's portrait photo on its side;
    ImageOps.exif_transpose's result has no orientation left to apply)."""
    from vsr.imageio import apply_orientation, exif_orientation, pillow_pixels

    try:
        pixels = pillow_pixels(image, keep_grey_alpha=True)
    except (OSError, ValueError) as error:  # a 32-bit float or integer picture, a bad file
        raise VsrError(f"cannot read the image: {error}") from None
    return apply_orientation(pixels, exif_orientation(image))


def _frame_count(image: Image.Image) -> int:
    """How many frames (or pages) a Pillow image holds; 1 where it cannot tell."""
    try:
        return int(getattr(image, "n_frames", 1))
    except (OSError, ValueError):  # a closed file: reading its pixels says so
        return 1


def _file_of_frames(image: Image.Image) -> Path | None:
    """The file a Pillow image of several frames was opened from, while it is at its first
    frame (Image.open's), for the file's own path: an animation whole where the output
    holds one, else its first frame and a note. None for one frame, for an image not from
    a file, or one seeked to another frame, which is the caller's choice of picture."""
    filename = getattr(image, "filename", "")
    if not isinstance(filename, str) or not os.path.isfile(filename):
        return None
    return Path(filename) if _frame_count(image) > 1 and image.tell() == 0 else None


def _frames_left_out(image: Image.Image) -> list[str]:
    """The note on a Pillow image of several frames whose current one alone was written."""
    frames = _frame_count(image)
    if frames <= 1:
        return []
    return [
        f"the image holds {frames} frames (an animation or pages); only its current one, "
        f"frame {image.tell() + 1}, was upscaled (its file's path upscales an animation whole)"
    ]


def _as_readers_give(pixels: np.ndarray) -> np.ndarray:
    """A grey file's pixels H x W, as Pillow (np.asarray(Image.open(...))) and other
    readers give a grey image, and as Image.fromarray takes one: H x W x 1 it refuses. An
    array keeps the layout it came in."""
    return pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels


def check_upscaler(upscaler: object) -> None:
    """The helpers' first argument is what load_model returns, not weights: anything else is
    a wrong type, a TypeError as well as a VsrError, as the API's other arguments are."""
    if not isinstance(upscaler, Upscaler):
        raise VsrTypeError(
            f"the first argument must be a vsr.Upscaler (from vsr.load_model), not a "
            f"{type(upscaler).__name__}"
        )
