"""Still-image reading and writing: H x W x C numpy arrays, 8 or 16 bits, EXIF upright.

Pillow reads the EXIF orientation and decodes 8-bit images. It cannot hold 16-bit RGB
(it silently drops to 8 bits), so 16-bit colour PNGs and TIFFs are decoded with FFmpeg's
codecs through PyAV instead, and 16-bit PNGs and TIFFs encoded so (as is a 16-bit grey +
alpha TIFF, which Pillow cannot open at all). Writes go to a temp file beside the target
and are renamed when complete, so a crash never leaves half an image. PyAV is imported
only for 16-bit images, so reading ordinary images (training, evaluation) works where
PyAV is not installed.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vsr.atomic_file import atomic_output
from vsr.broken_links import not_a_regular_file
from vsr.cmyk import to_srgb
from vsr.errors import VsrError
from vsr.gif_palette import gif_picture
from vsr.image_metadata import (
    ImageMetadata,
    pillow_options,
    png_with_metadata,
    tiff_orientation,
    tiff_with_metadata,
)
from vsr.orientation import exif_orientation, exif_tag
from vsr.video.still_threads import STILL_THREADS

IMAGE_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
# What `write_image` writes: the still types, GIF (256 colours, on/off transparency) and APNG,
# kept out of IMAGE_EXTENSIONS, which also names what evaluation and training read as data.
OUTPUT_EXTENSIONS = (*IMAGE_EXTENSIONS, ".gif", ".apng")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bit_depth(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR chunk, or None if not a PNG."""
    with open(path, "rb") as file:
        head = file.read(26)
    if len(head) < 26 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">BB", head[24:26])


def _stretch_grey_key(image: Image.Image, bits: int) -> None:
    """A 2- or 4-bit grey PNG's transparent grey, stretched as Pillow stretches its pixels
    to 8 bits (it leaves the key as stored, so no pixel matched it)."""
    key = image.info.get("transparency")
    if isinstance(key, int):
        image.info["transparency"] = key * (255 // ((1 << bits) - 1))


def _png_colour_key(path: Path) -> tuple[int, ...] | None:
    """A PNG's transparent colour (its tRNS chunk before the pixels): (grey,) or (r, g, b)
    in the file's bit depth; None without one."""
    with open(path, "rb") as file:
        file.seek(8)
        while True:
            head = file.read(8)
            if len(head) < 8 or head[4:] in (b"IDAT", b"IEND"):
                return None
            (length,) = struct.unpack(">I", head[:4])
            if head[4:] == b"tRNS":
                data = file.read(length)
                if length not in (2, 6) or len(data) != length:
                    return None
                return struct.unpack(f">{length // 2}H", data)
            file.seek(length + 4, 1)  # the chunk's data and CRC


def _with_key_alpha(pixels: np.ndarray, key: tuple[int, ...], keep_grey_alpha: bool):
    """16-bit grey or RGB pixels with an alpha channel: clear where they are `key`."""
    clear = (pixels == np.array(key, dtype=pixels.dtype)).all(axis=2)
    alpha = np.where(clear, 0, 65535).astype(np.uint16)[:, :, None]
    if pixels.shape[2] == 1 and not keep_grey_alpha:
        pixels = np.repeat(pixels, 3, axis=2)  # grey + alpha comes as RGBA (read_image)
    return np.concatenate([pixels, alpha], axis=2)


def _decode_png16(path: Path, colour_type: int) -> np.ndarray:
    # PNG colour types: 0 grey, 2 RGB, 4 grey + alpha, 6 RGBA.
    target = {0: "gray16le", 2: "rgb48le", 4: "rgba64le", 6: "rgba64le"}.get(colour_type)
    if target is None:
        raise VsrError(f"{path}: unsupported 16-bit PNG colour type {colour_type}")
    return _decode16(path, target)


def _tiff_colour16(image: Image.Image) -> str | None:
    """The 16-bit format to decode a TIFF of 16-bit colour samples in, else None (Pillow
    reads 16-bit grey itself, as I;16)."""
    if image.format != "TIFF":
        return None
    bits = image.tag_v2.get(258)  # BitsPerSample, one per sample
    bits = bits if isinstance(bits, tuple) else (bits,)
    if len(bits) not in (3, 4) or any(b != 16 for b in bits):
        return None
    if image.tag_v2.get(262) != 2:  # Photometric: RGB; CMYK (5) is Pillow's to convert
        return None
    return "rgb48le" if len(bits) == 3 else "rgba64le"


def _decode16(path: Path, target: str) -> np.ndarray:
    import av

    from vsr.video.media_url import open_source

    try:
        with open_source(path) as container:
            frame = next(container.decode(video=0))
            pixels = frame.to_ndarray(format=target, threads=STILL_THREADS)
    except (av.FFmpegError, StopIteration) as error:
        raise VsrError(f"{path}: cannot decode its 16-bit samples ({error})") from error
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def pillow_pixels(image: Image.Image, keep_grey_alpha: bool) -> np.ndarray:
    """Pixels of a Pillow image as H x W x C, C in (1, 3, 4) (2 for grey + alpha when
    ``keep_grey_alpha``), uint8 or uint16: a palette's colours, not its indices; CMYK and
    YCbCr as RGB, as np.asarray alone would not."""
    mode = image.mode
    if mode == "F":  # 32-bit float TIFF: convert("RGB") would clip it to black
        raise ValueError("32-bit float images are not supported; save it as 8 or 16 bits")
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = _sixteen_bit_grey(image)
        key = image.info.get("transparency")
        if isinstance(key, int):  # a 16-bit grey PNG's transparent grey (tRNS), as read_image
            return _with_key_alpha(grey, (key,), keep_grey_alpha)
        return grey
    # A transparent colour (PNG's tRNS) is an alpha channel too, in any mode.
    if mode in ("1", "L", "RGB") and "transparency" in image.info:
        grey_alpha = mode != "RGB" and keep_grey_alpha
        return np.asarray(image.convert("LA" if grey_alpha else "RGBA"))
    if mode in ("1", "L"):
        return np.asarray(image.convert("L"))[:, :, None]
    # Premultiplied alpha (RGBa, La) as the straight alpha the rest of vsr works in: RGBa
    # went through convert("RGB") and lost its alpha, La had no conversion to L.
    if mode in ("RGBa", "La"):
        image, mode = image.convert(mode.upper()), mode.upper()
    if mode == "LA" and keep_grey_alpha:
        return np.asarray(image)
    if mode in ("LA", "PA", "RGBA") or (mode == "P" and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))
    managed = to_srgb(image) if mode == "CMYK" else None
    return np.asarray(managed if managed is not None else image.convert("RGB"))


def _sixteen_bit_grey(image: Image.Image) -> np.ndarray:
    """A grey image of Pillow's 16- or 32-bit integer modes as H x W x 1 uint16."""
    if image.mode != "I":
        return np.asarray(image, dtype=np.uint16)[:, :, None]
    # 16-bit greyscale PNGs open as 32-bit integers in some Pillow versions.
    values = np.asarray(image)
    low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
    if low < 0 or high > 65535:  # a 32-bit TIFF's own values, which 16 bits would clip
        raise ValueError(
            f"its 32-bit integer samples run from {low} to {high}, beyond the 16 bits "
            "vsr reads (0 to 65535); save it as 8 or 16 bits"
        )
    return values.astype(np.uint16)[:, :, None]


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn H x W x C pixels upright according to an EXIF orientation value (1..8)."""
    transposed = pixels.transpose(1, 0, 2)
    upright = {
        2: lambda: pixels[:, ::-1],  # mirrored left-right
        3: lambda: pixels[::-1, ::-1],  # rotated 180
        4: lambda: pixels[::-1, :],  # mirrored top-bottom
        5: lambda: transposed,  # mirrored along the main diagonal
        6: lambda: np.rot90(pixels, -1),  # needs 90 degrees clockwise
        7: lambda: transposed[::-1, ::-1],  # mirrored along the anti-diagonal
        8: lambda: np.rot90(pixels, 1),  # needs 90 degrees counter-clockwise
    }.get(orientation)
    # Pillow hands out read-only buffers; callers (and torch.from_numpy) expect to own them.
    return writable(upright() if upright else pixels)


def writable(array: np.ndarray) -> np.ndarray:
    """``array`` contiguous and writable, for torch.from_numpy: a read-only array (Pillow's,
    np.asarray(Image.open(...))) is copied rather than shared, as torch warns about sharing
    it (an error under -W error)."""
    array = np.ascontiguousarray(array)
    return array if array.flags.writeable else array.copy()


def as_rgba(pixels: np.ndarray) -> np.ndarray:
    """H x W x 3 or 4: grey replicated to three channels, its alpha (if any) kept after."""
    if pixels.shape[2] > 2:
        return pixels
    colour = np.repeat(pixels[:, :, :1], 3, axis=2)
    return np.concatenate([colour, pixels[:, :, 1:]], axis=2)


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """H x W x 3: a grey image's channel replicated to three (as IMDN's own scripts do, and
    as its paper's Set14 figures were scored), an alpha channel dropped."""
    if pixels.shape[2] <= 2:  # grey, or grey and alpha
        return np.repeat(pixels[:, :, :1], 3, axis=2)
    return pixels[:, :, :3]


def _grey_alpha16_tiff(path: Path, keep_grey_alpha: bool) -> np.ndarray | None:
    """A TIFF of 16-bit grey and alpha samples, which Pillow cannot open, decoded by FFmpeg
    (as `read_image` returns it); None for any other file."""
    with open(path, "rb") as file:
        if file.read(4) not in (b"II*\0", b"MM\0*"):
            return None
    import av

    from vsr.video.media_url import open_source

    try:
        with open_source(path) as container:
            frame = next(container.decode(video=0))
    except (av.FFmpegError, StopIteration):
        return None
    if frame.format.name not in ("ya16le", "ya16be"):
        return None
    pixels = frame.to_ndarray(format="rgba64le", threads=STILL_THREADS)  # R = G = B: the grey
    return pixels[:, :, [0, 3]] if keep_grey_alpha else pixels


def _too_many_pixels(error: Image.DecompressionBombError) -> str:
    """Pillow's refusal of an image over twice Image.MAX_IMAGE_PIXELS, in words for the
    owner of a large scan rather than "could be decompression bomb DOS attack"."""
    sizes = re.findall(r"\d+", str(error))
    if len(sizes) < 2:
        return str(error)
    pixels, limit = (int(size) for size in sizes[:2])
    return (
        f"it has {pixels:,} pixels, more than the {limit:,} Pillow decodes (its guard "
        "against small files made to fill memory); cut it into parts, or raise "
        "PIL.Image.MAX_IMAGE_PIXELS where vsr is called from Python"
    )


def read_image(path: str | Path, keep_grey_alpha: bool = False) -> np.ndarray:
    """Read an image as H x W x C (C = 1, 3 or 4), uint8 or uint16, EXIF orientation applied.

    Grey + alpha comes as RGBA, what the readers of RGB expect, or with ``keep_grey_alpha``
    as C = 2 (grey, alpha), which `write_image` writes back as grey + alpha.
    """
    path = Path(path)
    if path.is_dir():
        raise VsrError(f"{path} is a folder; give an image file in it")
    if not path.is_file():
        why = not_a_regular_file(path)
        raise VsrError(f"{path}: {why}" if why else f"image not found: {path}")
    try:
        with Image.open(path) as image:
            if image.format == "TIFF":
                # Pillow (11 to 13 at least) maps an uncompressed TIFF's grey, 16-bit grey,
                # RGBA or CMYK samples straight from the file at the upright size, the
                # stored width and height swapped by a quarter turn, and reads them
                # garbled; without a file name to map, it decodes them as it does the rest.
                image.filename = ""
            # Read before the pixels, by the reader vsr's metadata goes by too (an XMP
            # orientation, which Pillow then leaves alone, is read only so).
            orientation = exif_orientation(image)
            tagged = exif_tag(image) is not None
            png = png_bit_depth(path)
            tiff = _tiff_colour16(image)
            if png is not None and png[0] == 16:
                pixels = _decode_png16(path, png[1])
                if png[1] == 4 and keep_grey_alpha:
                    pixels = pixels[:, :, [0, 3]]  # decoded as RGBA with R = G = B
                key = _png_colour_key(path) if png[1] in (0, 2) else None
                if key is not None and len(key) == pixels.shape[2]:
                    # FFmpeg's decoder leaves a transparent colour out; Pillow's gives alpha.
                    pixels = _with_key_alpha(pixels, key, keep_grey_alpha)
            elif tiff is not None:
                pixels = _decode16(path, tiff)
            else:
                if png is not None and png[:2] in ((2, 0), (4, 0)) and image.mode == "L":
                    _stretch_grey_key(image, png[0])
                pixels = pillow_pixels(image, keep_grey_alpha)
            if tagged:
                # Pillow 13 turns a TIFF it decodes upright by the tag as it loads it, and
                # takes the tag away (earlier versions leave both to the reader), where
                # FFmpeg's decoders ignore the tag: what is left is what the tag says now.
                orientation = exif_tag(image) or 1
    except UnidentifiedImageError as error:
        try:
            pixels = _grey_alpha16_tiff(path, keep_grey_alpha)
            orientation = tiff_orientation(path.read_bytes())
        except (OSError, ValueError):  # as Pillow's errors below: one clear line
            pixels = None
        if pixels is None:
            raise VsrError(f"cannot read image {path}: {error}") from error
    except Image.DecompressionBombError as error:  # a few KB that would decode to gigabytes
        raise VsrError(f"cannot read image {path}: {_too_many_pixels(error)}") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise VsrError(f"cannot read image {path}: {error}") from error
    return apply_orientation(pixels, orientation)


def _grey_alpha_frame16(pixels: np.ndarray, pix_fmt: str):
    """An FFmpeg ya16be or ya16le frame of H x W x 2 uint16 (PyAV cannot build one from an
    array)."""
    from av.video.frame import VideoFrame

    height, width = pixels.shape[:2]
    frame = VideoFrame(width, height, pix_fmt)
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(height, plane.line_size)
    samples = pixels.astype(">u2" if pix_fmt.endswith("be") else "<u2")
    rows[:, : width * 4] = samples.view(np.uint8).reshape(height, width * 4)
    return frame


# FFmpeg's encoders that keep 16 bits, and the byte order each stores its samples in.
_SIXTEEN_BIT_ENCODERS = {".png": ("png", "be"), ".tif": ("tiff", "le"), ".tiff": ("tiff", "le")}


def image_type(path: Path) -> str:
    """The type a file at ``path`` is written as, by its suffix (lower case): an .apng is a
    PNG (its animation chunks are PNG's own, and one picture of it is a plain PNG, which
    every APNG reader shows), ".png"; any other suffix as it is."""
    extension = path.suffix.lower()
    return ".png" if extension == ".apng" else extension


def keeps_16_bits(path: Path) -> bool:
    """Whether write_image stores 16-bit pixels at ``path`` as they are (PNG, TIFF); the
    other types hold 8 bits a sample, and get them rounded."""
    return image_type(path) in _SIXTEEN_BIT_ENCODERS


# Types whose files drop an alpha channel: JPEG has none, and Pillow writes BMP alpha but
# reads it back as RGB.
_ALPHA_DROPPED = (".jpg", ".jpeg", ".bmp")


def keeps_alpha(path: Path) -> bool:
    """Whether write_image keeps an alpha channel at ``path``; where it does not, the colour
    stored under clear pixels is what shows, and is upscaled as it is (vsr.clear_colour)."""
    return image_type(path) not in _ALPHA_DROPPED


def _encode16(pixels: np.ndarray, extension: str) -> bytes:
    import av
    from av.video.frame import VideoFrame

    name, byte_order = _SIXTEEN_BIT_ENCODERS[extension]
    channels = pixels.shape[2]
    codec = av.CodecContext.create(name, "w")
    codec.width, codec.height = pixels.shape[1], pixels.shape[0]
    if name == "tiff":
        codec.options = {"compression_algo": "deflate"}  # lossless, as PNG's own
    if channels == 2:
        codec.pix_fmt = f"ya16{byte_order}"
        frame = _grey_alpha_frame16(pixels, codec.pix_fmt)
    else:
        source = {1: "gray16le", 3: "rgb48le", 4: "rgba64le"}[channels]
        codec.pix_fmt = source[:-2] + byte_order
        frame = VideoFrame.from_ndarray(
            pixels[:, :, 0] if channels == 1 else np.ascontiguousarray(pixels), format=source
        ).reformat(format=codec.pix_fmt, threads=STILL_THREADS)
    packets = list(codec.encode(frame)) + list(codec.encode(None))
    return b"".join(bytes(packet) for packet in packets)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """uint8 or uint16 pixels as uint8, 16-bit samples rounded to the nearest 8-bit code."""
    if pixels.dtype == np.uint8:
        return pixels
    return np.floor(pixels.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)


def check_image_output(path: Path) -> None:
    """An image can be written at ``path``: a known type, in a folder that exists (told
    before the upscaling, not after it)."""
    if path.is_dir():
        raise VsrError(f"{path} is a folder; give an image file name")
    if path.suffix.lower() not in OUTPUT_EXTENSIONS:
        known = ", ".join(e.lstrip(".") for e in OUTPUT_EXTENSIONS)
        raise VsrError(f"unknown image type {path.suffix!r} for {path} (use {known})")
    if not path.parent.is_dir():
        raise VsrError(f"output folder does not exist: {path.parent}")


def write_image(
    path: str | Path,
    pixels: np.ndarray,
    overwrite: bool = True,
    metadata: ImageMetadata | None = None,
) -> None:
    """Write H x W x C (or H x W) uint8/uint16 pixels; the format follows the extension.

    C is 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA). PNG and TIFF keep 16 bits; BMP,
    lossless WebP and JPEG (quality 95, chroma not subsampled) store 8 bits, so 16-bit
    pixels are rounded to 8 bits for them; GIF holds 256 colours and on/off transparency
    (vsr.gif_palette). BMP and JPEG drop an alpha channel; WebP stores
    grey + alpha as RGBA (it has no grey). `metadata` (colour profile, resolution, EXIF, XMP) is
    written where the type holds it (vsr.image_metadata). The file appears complete or not
    at all; without ``overwrite``, an image that another writer put there meanwhile is kept
    and VsrError raised.
    """
    metadata = metadata or ImageMetadata()
    path = Path(path)
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
        raise VsrError(f"cannot write an image of shape {pixels.shape} to {path}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise VsrError(f"cannot write {pixels.dtype} pixels to {path} (need uint8 or uint16)")
    check_image_output(path)
    extension = image_type(path)
    with atomic_output(path, replace=overwrite) as file:
        if extension in _SIXTEEN_BIT_ENCODERS and pixels.dtype == np.uint16:
            encoded = _encode16(pixels, extension)
            add_metadata = png_with_metadata if extension == ".png" else tiff_with_metadata
            file.write(add_metadata(encoded, metadata))
        else:
            eight_bit = to_uint8(pixels)
            alpha = eight_bit.shape[2] in (2, 4)
            if extension == ".gif":
                # One picture of an animation's kind (vsr.animation writes the others).
                picture = gif_picture(as_rgba(eight_bit), transparent=alpha)
                picture.save(file, format="GIF")
                return
            if alpha and not keeps_alpha(path):
                eight_bit = eight_bit[:, :, :-1]
            elif extension == ".webp" and eight_bit.shape[2] == 2:
                eight_bit = eight_bit[:, :, [0, 0, 0, 1]]  # WebP has no grey + alpha
            image = Image.fromarray(eight_bit[:, :, 0] if eight_bit.shape[2] == 1 else eight_bit)
            options = {
                ".png": {"format": "PNG"},
                ".bmp": {"format": "BMP"},
                # exact: keep the colour under fully transparent pixels (WebP drops it).
                ".webp": {"format": "WEBP", "lossless": True, "quality": 100, "exact": True},
                # 4:4:4: halving the chroma would throw away much of what the network drew
                # in fine colour detail (19.5 against 39.0 dB on a test of it).
                ".jpg": {"format": "JPEG", "quality": 95, "subsampling": 0},
                ".jpeg": {"format": "JPEG", "quality": 95, "subsampling": 0},
                # Lossless deflate, as the 16-bit TIFFs (FFmpeg's): uncompressed was 1.3x the
                # size on a photograph (Set5 baby), 1.7x on an upscaled one.
                ".tif": {"format": "TIFF", "compression": "tiff_adobe_deflate"},
                ".tiff": {"format": "TIFF", "compression": "tiff_adobe_deflate"},
            }[extension]
            image.save(file, **options, **pillow_options(metadata, extension))
