"""Image reading/writing: layouts, 16-bit PNG, EXIF orientation, errors, atomic writes."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from vsr.errors import VsrError
from vsr.imageio import pillow_pixels, read_image, write_image


def _pixels(channels: int, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max + 1, size=(5, 7, channels), dtype=dtype)


@pytest.mark.parametrize("extension", [".png", ".bmp", ".webp"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_lossless_round_trip_8_bit(tmp_path, extension, channels):
    pixels = _pixels(channels)
    path = tmp_path / f"image{extension}"
    write_image(path, pixels)
    result = read_image(path)
    if extension == ".webp" and channels == 1:
        # WebP stores colour only: grey comes back as three equal channels.
        np.testing.assert_array_equal(result, np.repeat(pixels, 3, axis=2))
    elif extension == ".bmp" and channels == 4:
        np.testing.assert_array_equal(result, pixels[:, :, :3])  # BMP keeps no alpha
    else:
        assert result.dtype == np.uint8
        np.testing.assert_array_equal(result, pixels)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


@pytest.mark.parametrize("extension", [".png", ".tif", ".tiff"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16_bit_png_and_tiff_keep_all_bits(tmp_path, channels, extension):
    # TIFF was written with 8 bits.
    pixels = _pixels(channels, np.uint16, seed=channels)
    assert (pixels % 257 != 0).any()  # values an 8-bit round trip could not keep
    path = tmp_path / f"deep{extension}"
    write_image(path, pixels)
    result = read_image(path)
    assert result.dtype == np.uint16
    np.testing.assert_array_equal(result, pixels)
    if extension != ".png":
        with Image.open(path) as stored:  # a TIFF other programs read: 16 bits a sample
            assert stored.tag_v2[258] == (16,) * channels


def test_a_big_endian_16_bit_grey_tiff_keeps_all_bits(tmp_path):
    # Pillow opens a big-endian ("MM") 16-bit grey TIFF in mode I;16B, not I;16: read as
    # any other mode (convert("RGB")), its 16 bits would become 8.
    pixels = _pixels(1, np.uint16, seed=5)
    path = tmp_path / "big_endian.tif"
    Image.fromarray(pixels[:, :, 0].astype(">u2")).save(path)
    with Image.open(path) as stored:
        assert stored.mode == "I;16B"
        np.testing.assert_array_equal(pillow_pixels(stored, keep_grey_alpha=False), pixels)
    result = read_image(path)
    assert result.dtype == np.uint16
    np.testing.assert_array_equal(result, pixels)


@pytest.mark.parametrize("keep_grey_alpha", [False, True])
def test_a_16_bit_grey_pillow_image_with_a_transparent_grey_reads_as_its_file(
    tmp_path, keep_grey_alpha
):
    # Opened with Pillow, a 16-bit grey PNG's tRNS key is info["transparency"]: its pixels
    # come as the file's do, grey + alpha only when kept, RGBA (grey thrice) otherwise.
    grey = _pixels(1, np.uint16, seed=6)
    grey[:, :3] = 1234
    path = tmp_path / "key.png"
    Image.fromarray(grey[:, :, 0]).save(path, transparency=1234)
    from_file = read_image(path, keep_grey_alpha=keep_grey_alpha)
    assert from_file.shape == (5, 7, 2 if keep_grey_alpha else 4)
    assert (from_file[:, :3, -1] == 0).all()
    with Image.open(path) as stored:
        assert (stored.mode, stored.info["transparency"]) == ("I;16", 1234)
        np.testing.assert_array_equal(pillow_pixels(stored, keep_grey_alpha), from_file)


@pytest.mark.parametrize(("channels", "pix_fmt"), [(3, "rgb48le"), (4, "rgba64le")])
def test_16_bit_colour_tiff_keeps_all_bits(tmp_path, channels, pix_fmt):
    # Pillow reads 16-bit RGB TIFF as 8-bit RGB without a word; it was read so.
    import av

    pixels = _pixels(channels, np.uint16, seed=channels)
    codec = av.CodecContext.create("tiff", "w")
    codec.width, codec.height, codec.pix_fmt = pixels.shape[1], pixels.shape[0], pix_fmt
    frame = av.VideoFrame.from_ndarray(pixels, format=pix_fmt)
    path = tmp_path / "deep.tif"
    path.write_bytes(b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)]))
    result = read_image(path)
    assert result.dtype == np.uint16
    np.testing.assert_array_equal(result, pixels)


def test_16_bit_to_8_bit_format_rounds(tmp_path):
    pixels = np.array([[[0, 257, 65535]]], dtype=np.uint16)
    write_image(tmp_path / "shallow.bmp", pixels)
    np.testing.assert_array_equal(read_image(tmp_path / "shallow.bmp"), [[[0, 1, 255]]])


def test_jpeg_is_close(tmp_path):
    pixels = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (16, 1, 3))
    write_image(tmp_path / "photo.jpg", pixels)
    result = read_image(tmp_path / "photo.jpg")
    assert result.shape == pixels.shape
    assert np.abs(result.astype(int) - pixels).mean() < 2


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(tmp_path, orientation):
    pixels = _pixels(3, seed=orientation)
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "rotated.png"
    image.save(path, exif=exif)
    with Image.open(path) as stored:
        expected = np.asarray(ImageOps.exif_transpose(stored).convert("RGB"))
    result = read_image(path)
    np.testing.assert_array_equal(result, expected)
    if orientation in (5, 6, 7, 8):
        assert result.shape == (7, 5, 3)


def test_palette_with_transparency_becomes_rgba(tmp_path):
    image = Image.new("P", (4, 3))
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.info["transparency"] = 0
    image.save(tmp_path / "palette.png", transparency=0)
    result = read_image(tmp_path / "palette.png")
    assert result.shape == (3, 4, 4)
    assert tuple(result[1, 1]) == (0, 255, 0, 255)
    assert tuple(result[0, 0]) == (255, 0, 0, 0)


def test_read_errors(tmp_path):
    with pytest.raises(VsrError, match="not found"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"this is not an image")
    with pytest.raises(VsrError, match="cannot read"):
        read_image(tmp_path / "junk.png")
    Image.fromarray(np.full((4, 4), 0.5, np.float32), mode="F").save(tmp_path / "float.tif")
    with pytest.raises(VsrError, match="32-bit float images are not supported"):
        read_image(tmp_path / "float.tif")  # converted to RGB it would have come out black


def test_write_errors_leave_nothing(tmp_path):
    pixels = _pixels(3)
    with pytest.raises(VsrError, match="unknown image type"):
        write_image(tmp_path / "image.xyz", pixels)
    with pytest.raises(VsrError, match="does not exist"):
        write_image(tmp_path / "no" / "image.png", pixels)
    with pytest.raises(VsrError, match="uint8 or uint16"):
        write_image(tmp_path / "image.png", pixels.astype(np.float32))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("extension", "dtype"),
    [(".png", np.uint8), (".tif", np.uint8), (".png", np.uint16), (".tif", np.uint16)],
)
def test_grey_alpha_round_trips_as_grey_alpha(tmp_path, extension, dtype):
    pixels = _pixels(2, dtype, seed=11)
    path = tmp_path / f"la{extension}"
    write_image(path, pixels)  # was refused: 2 channels
    # A 16-bit one in TIFF is a file Pillow cannot open: FFmpeg decodes it.
    result = read_image(path, keep_grey_alpha=True)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, pixels)
    # Readers that want colour (training, evaluation) still get RGBA by default.
    np.testing.assert_array_equal(read_image(path), pixels[:, :, [0, 0, 0, 1]])
    if dtype == np.uint8:
        with Image.open(path) as stored:
            assert stored.mode == "LA"


def test_grey_alpha_in_formats_without_it(tmp_path):
    pixels = _pixels(2, seed=12)
    write_image(tmp_path / "la.webp", pixels)  # WebP has no grey: RGBA, losslessly
    np.testing.assert_array_equal(read_image(tmp_path / "la.webp"), pixels[:, :, [0, 0, 0, 1]])
    write_image(tmp_path / "la.bmp", pixels)  # no alpha either: grey
    np.testing.assert_array_equal(read_image(tmp_path / "la.bmp"), pixels[:, :, :1])


def test_write_errors_name_every_type_and_refuse_a_folder(tmp_path):
    with pytest.raises(VsrError, match=r"\(use png, bmp, jpg, jpeg, webp, tif, tiff, gif, apng\)$"):
        write_image(tmp_path / "image.xyz", _pixels(3))
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(VsrError, match="taken.png is a folder"):  # was IsADirectoryError
        write_image(tmp_path / "taken.png", _pixels(3))
    assert [p.name for p in tmp_path.iterdir()] == ["taken.png"]


def _huge_png(path, width, height, bit_depth=8):
    """A PNG whose header declares width x height (Pillow checks the size on opening, before
    any pixel is decoded, so one row of data is enough to stand for the rest)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    row = zlib.compress(b"\0" * (1 + width * bit_depth // 8))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_a_decompression_bomb_is_one_clear_error(tmp_path, bit_depth):
    path = tmp_path / "bomb.png"
    _huge_png(path, 20000, 20000, bit_depth)
    with pytest.raises(VsrError, match="bomb.png.*pixels"):
        read_image(path)


def test_read_image_says_a_fifo_is_not_a_regular_file_and_a_missing_one_not_found(tmp_path):
    # Something is there: "image not found" would send the user looking for a missing file.
    fifo, missing = tmp_path / "q.png", tmp_path / "gone.png"
    os.mkfifo(fifo)
    with pytest.raises(VsrError) as refused:
        read_image(fifo)
    assert str(refused.value) == f"{fifo}: not a regular file"
    with pytest.raises(VsrError) as refused:
        read_image(missing)
    assert str(refused.value) == f"image not found: {missing}"


def test_an_8_bit_colour_png_with_a_transparent_colour_stays_colour_for_vsr_image(tmp_path):
    # vsr image reads with keep_grey_alpha: only a grey PNG's key may make grey + alpha.
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0], rgb[..., 2] = 200, 50
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "key.png", transparency=(1, 2, 3))
    pixels = read_image(tmp_path / "key.png", keep_grey_alpha=True)
    assert pixels.shape == (4, 5, 4)
    assert pixels[1, 1].tolist() == [200, 0, 50, 255] and pixels[0, 0, 3] == 0


def test_a_16_bit_colour_png_key_clears_only_pixels_of_exactly_that_colour(tmp_path):
    from vsr.image_metadata import _png_chunk

    rgb = np.full((2, 3, 3), 1000, np.uint16)
    rgb[0, 0] = (7, 8, 9)  # the key
    rgb[1, 1] = (7, 2000, 3000)  # shares only its red with the key
    write_image(tmp_path / "key.png", rgb)
    data = (tmp_path / "key.png").read_bytes()
    at = data.index(b"IDAT") - 4
    key = _png_chunk(b"tRNS", struct.pack(">3H", 7, 8, 9))
    (tmp_path / "key.png").write_bytes(data[:at] + key + data[at:])
    alpha = read_image(tmp_path / "key.png")[:, :, 3]
    assert alpha.tolist() == [[0, 65535, 65535], [65535, 65535, 65535]]


def test_a_32_bit_tiff_with_negative_samples_is_refused_not_wrapped(tmp_path):
    # Read into 16 bits, -5 would be 65531: black shown as white.
    path = tmp_path / "negative.tif"
    Image.fromarray(np.array([[-5, 0, 100]] * 4, np.int32), "I").save(path)
    with pytest.raises(VsrError):
        read_image(path)
