"""What `vsr image` and vsr.upscale_image keep of an image file besides its pixels: the
colour profile, the resolution (times the scale) and the EXIF, in every output type that
holds them, 16-bit PNG and TIFF (written by FFmpeg) included; notes for what is not kept."""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

import vsr
from vsr.cli import main
from vsr.imageio import read_image, write_image
from vsr.models import create_model, save_weights

PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
CAMERA, SHOT_AT, LATITUDE_REF = 0x010F, 0x9003, 0x0001


@pytest.fixture(scope="module")
def upscaler():
    return vsr.load_model(create_model("imdn_rtc", 2), device="cpu", precision="fp32")


def _exif(width: int, height: int, orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[CAMERA] = "Camera Maker"
    exif[0x0112] = orientation
    details = exif.get_ifd(0x8769)
    details[SHOT_AT] = "2026:11:27 10:00:00"
    details[0xA002], details[0xA003] = width, height
    exif.get_ifd(0x8825)[LATITUDE_REF] = "N"
    return exif


def _source(tmp_path, name: str, sixteen_bit: bool = False):
    """A 20x12 picture with a colour profile, 300 dpi and EXIF."""
    rng = np.random.default_rng(0)
    if sixteen_bit:
        pixels = rng.integers(0, 65536, (12, 20, 3), dtype=np.uint16)
        path = tmp_path / name
        write_image(path, pixels)  # FFmpeg's 16-bit file; then the metadata, as an output
        from vsr.image_metadata import ImageMetadata, png_with_metadata, tiff_with_metadata

        metadata = ImageMetadata(PROFILE, (300.0, 300.0), _exif(20, 12).tobytes())
        add = png_with_metadata if path.suffix == ".png" else tiff_with_metadata
        path.write_bytes(add(path.read_bytes(), metadata))
        return path
    image = Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8))
    path = tmp_path / name
    image.save(path, icc_profile=PROFILE, dpi=(300, 300), exif=_exif(20, 12))
    return path


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("in.jpg", "out.png"),
        ("in.png", "out.jpg"),
        ("in.png", "out.webp"),
        ("in.webp", "out.png"),
        ("in16.png", "out16.png"),
        ("in16.tif", "out16.png"),
    ],
)
def test_the_profile_the_resolution_and_the_exif_go_along(tmp_path, upscaler, source, output):
    path = _source(tmp_path, source, sixteen_bit="16" in source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = vsr.upscale_image(upscaler, path, tmp_path / output)
    said = [str(w.message) for w in caught]
    webp_output = output.endswith(".webp")
    assert said == ([f"{tmp_path / output} cannot keep the resolution (.png, .jpg and .tif keep it)"]
                    if webp_output else [])  # fmt: skip
    assert result.dtype == (np.uint16 if "16" in output else np.uint8)
    with Image.open(tmp_path / output) as written:
        assert written.info.get("icc_profile") == PROFILE
        ImageCms.ImageCmsProfile(io.BytesIO(written.info["icc_profile"]))  # a valid one
        if ".webp" not in (path.suffix, output[-5:]):  # WebP has no resolution field
            assert written.info["dpi"] == pytest.approx((600, 600), abs=0.05)  # 300 x 2
        if path.suffix == ".tif":
            return  # a TIFF holds EXIF's descriptive tags only (a note says so)
        exif = written.getexif()
        assert exif[CAMERA] == "Camera Maker" and 0x0112 not in exif  # already upright
        details = exif.get_ifd(0x8769)
        assert details[SHOT_AT] == "2026:11:27 10:00:00"
        assert (details[0xA002], details[0xA003]) == (40, 24)  # the new size
        assert exif.get_ifd(0x8825)[LATITUDE_REF] == "N"


def test_a_16_bit_tiff_gets_the_profile_and_the_true_resolution(tmp_path, upscaler):
    with pytest.warns(UserWarning, match="scan.tif cannot keep the EXIF's exposure and GPS"):
        vsr.upscale_image(upscaler, _source(tmp_path, "in.png"), tmp_path / "scan.tif")
    pixels = read_image(tmp_path / "scan.tif")
    with Image.open(tmp_path / "scan.tif") as written:
        assert written.info.get("icc_profile") == PROFILE
        assert written.info["dpi"] == pytest.approx((600, 600))
        assert written.info["compression"] == "tiff_adobe_deflate"
        assert written.getexif()[CAMERA] == "Camera Maker"  # as the note says
    sixteen = _source(tmp_path, "in16.png", sixteen_bit=True)
    with pytest.warns(UserWarning, match="out16.tif cannot keep the EXIF's exposure and GPS"):
        vsr.upscale_image(upscaler, sixteen, tmp_path / "out16.tif")
    with Image.open(tmp_path / "out16.tif") as written:
        assert written.tag_v2[258] == (16, 16, 16)  # still 16 bits, from FFmpeg
        assert written.info.get("icc_profile") == PROFILE
        assert written.info["dpi"] == pytest.approx((600, 600))
        assert 305 not in written.tag_v2  # FFmpeg's software tag
        assert written.getexif()[CAMERA] == "Camera Maker"  # as an 8-bit TIFF keeps it
    assert read_image(tmp_path / "out16.tif").shape == (24, 40, 3) and pixels.shape[2] == 3
    # Without a resolution in the source, none is claimed (FFmpeg says 72 dpi).
    plain = tmp_path / "plain16.png"
    write_image(plain, np.full((6, 8, 3), 30000, np.uint16))
    vsr.upscale_image(upscaler, plain, tmp_path / "plain16.tif")
    with Image.open(tmp_path / "plain16.tif") as written:
        assert not {282, 283, 296} & set(written.tag_v2)  # no resolution at all
        assert "icc_profile" not in written.info
    with Image.open(tmp_path / "plain16.png") as png:
        assert "dpi" not in png.info and "aspect" not in png.info  # FFmpeg's 0:1 pHYs gone


def test_a_16_bit_tiff_keeps_the_descriptive_tags_an_8_bit_one_keeps(tmp_path, upscaler):
    exif = _exif(20, 12)
    exif[0x010E], exif[0x0131], exif[0x8298] = "a harbour at dawn", "a raw developer", "(c) me"
    Image.fromarray(np.zeros((12, 20, 3), np.uint8)).save(tmp_path / "in.png", exif=exif)
    from vsr.image_metadata import ImageMetadata

    write_image(tmp_path / "in16.png", np.full((12, 20, 3), 30000, np.uint16),
                metadata=ImageMetadata(exif=exif.tobytes()))  # fmt: skip
    kept = []
    for source, target in (("in.png", "out8.tif"), ("in16.png", "out16.tif")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the note on the EXIF's details, as above
            vsr.upscale_image(upscaler, tmp_path / source, tmp_path / target)
        with Image.open(tmp_path / target) as written:
            kept.append({tag: written.tag_v2.get(tag) for tag in (0x010E, 0x010F, 0x0131, 0x8298)})
    assert kept[1] == kept[0] == {
        0x010E: "a harbour at dawn", 0x010F: "Camera Maker", 0x0131: "a raw developer",
        0x8298: "(c) me",
    }  # fmt: skip


def test_a_tiff_notes_no_loss_when_the_exif_has_no_details(tmp_path, upscaler):
    """A scanner's EXIF: the maker and model, no exposure or GPS directory. A TIFF keeps
    all of it, so there is nothing to note."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Epson", "Perfection V850"
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(tmp_path / "scan.jpg", exif=exif)
    from vsr.image_metadata import ImageMetadata

    write_image(tmp_path / "scan16.png", np.full((6, 8, 3), 30000, np.uint16),
                metadata=ImageMetadata(exif=exif.tobytes()))  # fmt: skip
    for source, target in (("scan.jpg", "out8.tif"), ("scan16.png", "out16.tif")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vsr.upscale_image(upscaler, tmp_path / source, tmp_path / target)
        assert [str(w.message) for w in caught] == []
        with Image.open(tmp_path / target) as written:
            assert (written.tag_v2[0x010F], written.tag_v2[0x0110]) == ("Epson", "Perfection V850")


def test_the_16_bit_files_stay_exact(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 65536, (7, 9, 3), dtype=np.uint16)
    for name in ("a.png", "a.tif"):
        from vsr.image_metadata import ImageMetadata

        metadata = ImageMetadata(PROFILE, (72.5, 96.0), _exif(9, 7).tobytes())
        write_image(tmp_path / name, pixels, metadata=metadata)
        assert np.array_equal(read_image(tmp_path / name), pixels)
        with Image.open(tmp_path / name) as written:
            # A PNG holds dots per metre: 3780 of them are 96.012 dpi.
            assert written.info["dpi"] == pytest.approx((72.5, 96.0), abs=0.05)


def test_an_8_bit_tiff_is_compressed_without_loss(tmp_path):
    pixels = np.random.default_rng(3).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    write_image(tmp_path / "a.tif", pixels)
    with Image.open(tmp_path / "a.tif") as written:
        assert written.info["compression"] == "tiff_adobe_deflate"
    assert np.array_equal(read_image(tmp_path / "a.tif"), pixels)


def test_jpeg_output_keeps_the_chroma_at_full_resolution(tmp_path):
    write_image(tmp_path / "a.jpg", np.zeros((16, 16, 3), np.uint8))
    with Image.open(tmp_path / "a.jpg") as written:
        assert JpegImagePlugin.get_sampling(written) == 0  # 4:4:4


def test_a_transparent_colour_becomes_an_alpha_channel(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:2] = 200
    Image.fromarray(rgb).save(tmp_path / "key.png", transparency=(0, 0, 0))
    pixels = read_image(tmp_path / "key.png")
    assert pixels.shape == (4, 6, 4)
    assert (pixels[:2, :, 3] == 255).all() and (pixels[2:, :, 3] == 0).all()
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "grey_key.png", transparency=0)
    assert read_image(tmp_path / "grey_key.png", keep_grey_alpha=True).shape == (4, 6, 2)


def test_what_an_output_cannot_keep_is_a_note(tmp_path, capsys):
    weights = tmp_path / "tiny.safetensors"
    save_weights(create_model("imdn_rtc", 2), weights)
    source = _source(tmp_path, "in.jpg")
    assert main(["image", str(source), str(tmp_path / "out.bmp"), "--weights", str(weights)]) == 0
    err = capsys.readouterr().err
    bmp = tmp_path / "out.bmp"
    assert f"vsr: note: {bmp} cannot keep the colour profile: viewers will take" in err
    assert f"vsr: note: {bmp} cannot keep the EXIF (.png, .jpg and .webp keep it)" in err
    assert main(["image", str(source), str(tmp_path / "out.png"), "--weights", str(weights)]) == 0
    assert "note" not in capsys.readouterr().err

    logo = tmp_path / "logo.png"
    Image.fromarray(np.zeros((6, 8, 4), np.uint8)).save(logo)
    frames = [Image.new("RGB", (8, 6), colour) for colour in ("red", "blue", "green")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    upscaler = vsr.load_model(weights, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vsr.upscale_image(upscaler, logo, tmp_path / "logo.jpg")
        vsr.upscale_image(upscaler, tmp_path / "anim.gif", tmp_path / "anim.bmp")
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'logo.jpg'} cannot keep the transparency (.png, .webp and .tif keep it)",
        f"{tmp_path / 'anim.gif'} is an animation of 3 frames; only the first was upscaled, as .bmp holds "
        "one picture (.gif, .webp, .png and .apng keep the animation; vsr run takes it as a "
        "video)",
    ]


def _tiff16(path, samples: np.ndarray, photometric: int, extra: list | None = None) -> None:
    """An uncompressed little-endian TIFF of 16-bit samples, one strip; `extra` more
    (tag, type, value) entries of one SHORT or LONG."""
    height, width, channels = samples.shape
    data = samples.astype("<u2").tobytes()
    tags = [
        (256, 4, width), (257, 4, height), (259, 3, 1), (262, 3, photometric), (273, 4, 8),
        (277, 3, channels), (278, 4, height), (279, 4, len(data)), *(extra or []),
    ]  # fmt: skip
    bits_at = 8 + len(data)
    directory_at = bits_at + 2 * channels
    bits = struct.pack("<H", 16) * channels
    where = bits if channels <= 2 else struct.pack("<I", bits_at)  # 4 bytes fit inline
    entries = [struct.pack("<HHI", 258, 3, channels) + where]
    entries += [struct.pack("<HHI", t, k, 1) + struct.pack("<I" if k == 4 else "<Hxx", v)
                for t, k, v in tags]  # fmt: skip
    entries.sort(key=lambda e: struct.unpack("<H", e[:2]))
    path.write_bytes(
        b"II*\0" + struct.pack("<I", directory_at) + data + struct.pack("<H", 16) * channels
        + struct.pack("<H", len(entries)) + b"".join(entries) + b"\0\0\0\0"
    )  # fmt: skip


def test_a_16_bit_cmyk_tiff_is_converted_as_cmyk_not_taken_as_rgba(tmp_path):
    cmyk = np.zeros((4, 6, 4), np.uint16)
    cmyk[..., 1] = 65535  # full magenta: red and blue remain
    _tiff16(tmp_path / "cmyk.tif", cmyk, photometric=5)
    pixels = read_image(tmp_path / "cmyk.tif")
    assert pixels.shape == (4, 6, 3)  # not RGBA with K as alpha
    assert tuple(pixels[0, 0]) == (255, 0, 255)
    rgb = np.full((4, 6, 3), 65535, np.uint16)
    _tiff16(tmp_path / "rgb.tif", rgb, photometric=2)
    assert np.array_equal(read_image(tmp_path / "rgb.tif"), rgb)


def test_a_16_bit_grey_and_alpha_tiff_is_turned_upright(tmp_path):
    """Pillow cannot open such a TIFF; FFmpeg decodes it, and its orientation tag is read
    from the file itself."""
    grey_alpha = np.zeros((4, 6, 2), np.uint16)
    grey_alpha[0, 0] = (65535, 65535)  # a white mark at the stored top left
    path = tmp_path / "scan.tif"
    _tiff16(path, grey_alpha, photometric=1, extra=[(274, 3, 6), (338, 3, 2)])
    long_form = tmp_path / "long.tif"  # some writers store the orientation as a LONG
    _tiff16(long_form, grey_alpha, photometric=1, extra=[(274, 4, 6), (338, 3, 2)])
    assert read_image(long_form, keep_grey_alpha=True).shape == (6, 4, 2)
    with pytest.raises(UnidentifiedImageError):
        Image.open(path)  # the premise: Pillow cannot
    upright = read_image(path, keep_grey_alpha=True)
    assert upright.shape == (6, 4, 2)  # orientation 6: turned a quarter clockwise
    assert tuple(upright[0, -1]) == (65535, 65535)


def _profile_for(colours: bytes) -> bytes:
    """A profile whose header says it describes `colours` (Pillow copies it unread)."""
    return PROFILE[:16] + colours + PROFILE[20:]


def test_a_profile_goes_only_where_it_describes_the_outputs_colours(tmp_path, upscaler):
    grey = Image.fromarray(np.random.default_rng(2).integers(0, 256, (6, 8), dtype=np.uint8))
    grey.save(tmp_path / "grey.png", icc_profile=_profile_for(b"GRAY"))
    vsr.upscale_image(upscaler, tmp_path / "grey.png", tmp_path / "grey_x2.png")
    with Image.open(tmp_path / "grey_x2.png") as written:
        assert written.mode == "L" and written.info["icc_profile"] == _profile_for(b"GRAY")
    # WebP has no grey: the picture becomes RGB, which a grey profile does not describe.
    with pytest.warns(UserWarning, match="it is for GRAY colours and the output's are RGB"):
        vsr.upscale_image(upscaler, tmp_path / "grey.png", tmp_path / "grey_x2.webp")
    with Image.open(tmp_path / "grey_x2.webp") as written:
        assert "icc_profile" not in written.info
    # A CMYK picture comes out RGB: its CMYK profile must not be copied onto it.
    cmyk = Image.new("CMYK", (8, 6), (0, 255, 0, 0))
    cmyk.save(tmp_path / "print.jpg", icc_profile=_profile_for(b"CMYK"))
    with pytest.warns(UserWarning, match="it is for CMYK colours and the output's are RGB"):
        vsr.upscale_image(upscaler, tmp_path / "print.jpg", tmp_path / "print.png")
    with Image.open(tmp_path / "print.png") as written:
        assert written.mode == "RGB" and "icc_profile" not in written.info


def test_exif_too_long_for_a_jpeg_is_left_out_with_a_note_and_a_makers_note_always(
    tmp_path, upscaler
):
    exif = _exif(20, 12)
    exif[0x010E] = "x" * 70000  # a description longer than a JPEG's EXIF segment holds
    exif.get_ifd(0x8769)[0x927C] = b"maker's private bytes"
    Image.fromarray(np.zeros((12, 20, 3), np.uint8)).save(tmp_path / "long.png", exif=exif)
    with pytest.warns(UserWarning, match="cannot keep the EXIF: it is longer than a JPEG's"):
        vsr.upscale_image(upscaler, tmp_path / "long.png", tmp_path / "long.jpg")
    with Image.open(tmp_path / "long.jpg") as written:
        assert not written.getexif()
    vsr.upscale_image(upscaler, tmp_path / "long.png", tmp_path / "long_x2.png")
    with Image.open(tmp_path / "long_x2.png") as written:
        kept = written.getexif()
        assert kept[CAMERA] == "Camera Maker" and 0x927C not in kept.get_ifd(0x8769)


def test_camera_exif_keeps_its_interop_directory_and_states_no_made_up_resolution(
    tmp_path, upscaler
):
    exif = _exif(20, 12)
    exif.get_ifd(0x8769)[0xA005] = {1: "R03"}  # Interop: Adobe RGB, for viewers of EXIF
    picture = Image.fromarray(np.zeros((12, 20, 3), np.uint8))
    picture.save(tmp_path / "camera.jpg", exif=exif)  # no JFIF density, no resolution tag
    with Image.open(tmp_path / "camera.jpg") as source:
        assert source.info["dpi"] == (72, 72)  # Pillow's stand-in, which is not stated
    vsr.upscale_image(upscaler, tmp_path / "camera.jpg", tmp_path / "camera.png")
    with Image.open(tmp_path / "camera.png") as written:
        assert "dpi" not in written.info  # not 144
        assert written.getexif().get_ifd(0xA005) == {1: "R03"}


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])  # 5 and 7 mirrored as well
def test_a_quarter_turn_swaps_the_resolution_with_the_pixels(tmp_path, upscaler, orientation):
    picture = Image.fromarray(np.zeros((12, 20, 3), np.uint8))
    exif = _exif(20, 12, orientation=orientation)
    picture.save(tmp_path / "scan.png", dpi=(300, 150), exif=exif)
    result = vsr.upscale_image(upscaler, tmp_path / "scan.png", tmp_path / "out.png")
    assert result.shape[:2] == (40, 24)  # upright: turned a quarter
    with Image.open(tmp_path / "out.png") as written:
        assert written.info["dpi"] == pytest.approx((300, 600), abs=0.05)


@pytest.mark.parametrize(
    ("shape", "dtype", "compression"),
    [((4, 6, 3), np.uint8, "tiff_lzw"), ((4, 6), np.uint8, None), ((4, 6), np.uint16, None)],
    ids=["rgb8_lzw", "grey8_raw", "grey16_raw"],
)
def test_a_tiff_pillow_decodes_is_turned_upright_once(
    tmp_path, upscaler, shape, dtype, compression
):
    """Pillow turns a TIFF it decodes upright as it loads it (and maps an uncompressed one's
    samples at the turned size, garbled, when given a file name): turned once more, it came
    out on its side with its resolution swapped against the pixels."""
    stored = np.zeros(shape, dtype)
    stored[:, 0] = np.iinfo(dtype).max  # a bar down the stored left edge
    path = tmp_path / "scan.tif"
    Image.fromarray(stored).save(path, tiffinfo={274: 6}, dpi=(300, 150), compression=compression)
    upright = read_image(path)
    assert upright.shape[:2] == (6, 4)  # orientation 6: turned a quarter clockwise
    assert (upright[0] == np.iinfo(dtype).max).all()  # the bar is now along the top
    assert not upright[1:].any()
    result = vsr.upscale_image(upscaler, path, tmp_path / "out.png")
    assert result.shape[:2] == (12, 8)
    with Image.open(tmp_path / "out.png") as written:
        assert written.info["dpi"] == pytest.approx((300, 600), abs=0.05)


def test_a_png_whose_exif_follows_its_pixels_keeps_it_and_swaps_the_resolution(tmp_path, upscaler):
    """Pillow finds an eXIf after IDAT only by decoding the pixels, which `read_image` turns
    by it: the metadata, read without them, had dropped the camera's tags and left the
    resolution unswapped against the turned pixels."""
    from vsr.image_metadata import _png_chunk

    path = tmp_path / "late.png"
    Image.fromarray(np.zeros((12, 20, 3), np.uint8)).save(path, dpi=(300, 150))
    png = path.read_bytes()
    end = png.rindex(b"IEND") - 4  # the IEND chunk's length field
    block = _exif(20, 12, orientation=6).tobytes().removeprefix(b"Exif\0\0")
    path.write_bytes(png[:end] + _png_chunk(b"eXIf", block) + png[end:])
    with Image.open(path) as source:
        assert "exif" not in source.info  # the premise: not seen before the pixels
    result = vsr.upscale_image(upscaler, path, tmp_path / "out.png")
    assert result.shape[:2] == (40, 24)  # upright: turned a quarter
    with Image.open(tmp_path / "out.png") as written:
        assert written.info["dpi"] == pytest.approx((300, 600), abs=0.05)
        kept = written.getexif()
        assert kept[CAMERA] == "Camera Maker" and 0x0112 not in kept
        assert kept.get_ifd(0x8825)[LATITUDE_REF] == "N"


def test_a_transparent_colour_of_a_1_bit_png_becomes_alpha(tmp_path):
    bits = Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8)).convert("1")
    bits.save(tmp_path / "mask.png", transparency=0)
    pixels = read_image(tmp_path / "mask.png", keep_grey_alpha=True)
    assert pixels.shape == (2, 2, 2)
    assert pixels[:, :, 1].tolist() == [[0, 255], [255, 0]]


def test_a_transparent_colour_of_a_16_bit_png_becomes_alpha(tmp_path):
    from vsr.image_metadata import _png_chunk

    def with_key(path, key: bytes) -> None:
        data = path.read_bytes()
        at = data.index(b"IDAT") - 4  # tRNS goes before the pixels
        path.write_bytes(data[:at] + _png_chunk(b"tRNS", key) + data[at:])

    rgb = np.full((2, 3, 3), 1000, np.uint16)
    rgb[0, 0] = (7, 8, 9)  # the transparent colour
    write_image(tmp_path / "key16.png", rgb)
    with_key(tmp_path / "key16.png", struct.pack(">3H", 7, 8, 9))
    pixels = read_image(tmp_path / "key16.png")
    assert pixels.shape == (2, 3, 4) and pixels.dtype == np.uint16
    assert pixels[:, :, 3].tolist() == [[0, 65535, 65535], [65535, 65535, 65535]]
    assert np.array_equal(pixels[:, :, :3], rgb)

    grey = np.array([[5, 6], [6, 5]], np.uint16)[:, :, None]
    write_image(tmp_path / "grey16.png", grey)
    with_key(tmp_path / "grey16.png", struct.pack(">H", 5))
    pixels = read_image(tmp_path / "grey16.png", keep_grey_alpha=True)
    assert pixels.shape == (2, 2, 2) and pixels[:, :, 1].tolist() == [[0, 65535], [65535, 0]]


def test_metadata_of_unusual_but_valid_or_damaged_files(tmp_path, upscaler):
    picture = Image.fromarray(np.zeros((12, 20, 3), np.uint8))
    # A BigTIFF's EXIF is its own block, in BigTIFF form: written as classic EXIF.
    picture.save(tmp_path / "big.tif", big_tiff=True, exif=_exif(20, 12))
    vsr.upscale_image(upscaler, tmp_path / "big.tif", tmp_path / "from_big.png")
    with Image.open(tmp_path / "from_big.png") as written:
        assert written.getexif()[CAMERA] == "Camera Maker"
    # A broken EXIF block costs the EXIF only: not the profile, the resolution, the image.
    picture.save(tmp_path / "broken.jpg", dpi=(300, 300), icc_profile=PROFILE,
                 exif=b"Exif\0\0II*\0")  # fmt: skip
    vsr.upscale_image(upscaler, tmp_path / "broken.jpg", tmp_path / "from_broken.png")
    with Image.open(tmp_path / "from_broken.png") as written:
        assert written.info["icc_profile"] == PROFILE
        assert written.info["dpi"] == pytest.approx((600, 600), abs=0.05)
    # EXIF's resolution without its unit is in inches (Pillow gave its 72 dpi stand-in).
    stated = Image.Exif()
    stated[0x011A], stated[0x011B] = 300, 300
    picture.save(tmp_path / "unitless.jpg", exif=stated)
    vsr.upscale_image(upscaler, tmp_path / "unitless.jpg", tmp_path / "from_unitless.png")
    with Image.open(tmp_path / "from_unitless.png") as written:
        assert written.info["dpi"] == pytest.approx((600, 600), abs=0.05)
    # A camera JPEG with a preview (MPO) is one picture, with no resolution stated.
    preview = Image.fromarray(np.ones((6, 10, 3), np.uint8))
    picture.save(tmp_path / "camera.jpg", format="MPO", save_all=True,
                 append_images=[preview], exif=_exif(20, 12))  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vsr.upscale_image(upscaler, tmp_path / "camera.jpg", tmp_path / "from_camera.png")
    assert [str(w.message) for w in caught] == []
    with Image.open(tmp_path / "from_camera.png") as written:
        assert "dpi" not in written.info


def test_a_png_s_own_resolution_is_preferred_to_its_exif_s(tmp_path, upscaler):
    # The PNG's own field (pHYs) says 72 dpi and its EXIF 300: the file's own is taken, as
    # a TIFF's tags are; EXIF's only where the file states none.
    exif = Image.Exif()
    exif[0x011A], exif[0x011B], exif[0x0128] = 300, 300, 2  # X, Y resolution, in inches
    picture = Image.fromarray(np.zeros((12, 20, 3), np.uint8))
    picture.save(tmp_path / "scan.png", dpi=(72, 72), exif=exif)
    vsr.upscale_image(upscaler, tmp_path / "scan.png", tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as written:
        assert written.info["dpi"] == pytest.approx((144, 144), abs=0.05)  # 72 x 2


def test_no_empty_exif_directory_is_written(tmp_path, upscaler):
    exif = Image.Exif()
    exif[0x010E] = "a description, no camera details"
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(tmp_path / "plain.png", exif=exif)
    vsr.upscale_image(upscaler, tmp_path / "plain.png", tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as written:
        assert dict(written.getexif()) == {0x010E: "a description, no camera details"}


@pytest.mark.parametrize("bits", [2, 4])
def test_a_transparent_grey_of_a_2_or_4_bit_png_becomes_alpha(tmp_path, bits):
    import zlib

    from vsr.image_metadata import _png_chunk

    top = (1 << bits) - 1
    row = bytes([0, (top << (8 - bits)) & 0xFF])  # filter 0; pixels: top, then 0s
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, bits, 0, 0, 0, 0))
        + _png_chunk(b"tRNS", struct.pack(">H", top))  # the white is transparent
        + _png_chunk(b"IDAT", zlib.compress(row))
        + _png_chunk(b"IEND", b"")
    )
    (tmp_path / "grey.png").write_bytes(png)
    pixels = read_image(tmp_path / "grey.png", keep_grey_alpha=True)
    assert pixels[0].tolist() == [[255, 0], [0, 255]]  # white clear, black opaque


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("in.jpg", "a comment: vsr does not carry it"),
        ("in.png", "the PNG text (Author, Copyright): vsr does not carry it"),
    ],
)
def test_a_comment_and_png_text_are_named_as_not_kept(tmp_path, upscaler, source, said):
    # A photographer's rights and credits (IPTC, a PNG's Copyright) were dropped without
    # the note that names what an output does not keep. The XMP beside them is carried.
    from PIL import PngImagePlugin

    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>'
    picture = Image.new("RGB", (12, 8), (90, 120, 150))
    if source.endswith(".jpg"):
        picture.save(tmp_path / source, xmp=xmp, comment=b"(c) Jane")
    else:
        text = PngImagePlugin.PngInfo()
        for key, value in (("Copyright", "(c) Jane"), ("Author", "Jane"), ("Software", "x")):
            text.add_text(key, value)
        text.add_itxt("XML:com.adobe.xmp", xmp.decode())
        picture.save(tmp_path / source, pnginfo=text)
    with pytest.warns(UserWarning) as caught:
        vsr.upscale_image(upscaler, tmp_path / source, tmp_path / "out.png")
    notes = [str(warning.message) for warning in caught]
    assert notes == [f"{tmp_path / 'out.png'} cannot keep {said} to any output"]
    Image.new("RGB", (12, 8)).save(tmp_path / "plain.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a picture without any: nothing said
        vsr.upscale_image(upscaler, tmp_path / "plain.png", tmp_path / "plain_out.png")


_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpGImg="http://ns.adobe.com/xap/1.0/g/img/"{attribute}
    exif:PixelXDimension="{width}" xmp:Rating="4">
   <exif:PixelYDimension>{height}</exif:PixelYDimension>{element}
   <dc:creator><rdf:Seq><rdf:li>Jé Doe</rdf:li></rdf:Seq></dc:creator>
   <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">© 2026 Jé Doe</rdf:li></rdf:Alt></dc:rights>{thumbnail}
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""
_THUMBNAIL = (
    '\n   <xmp:Thumbnails><rdf:Alt><rdf:li rdf:parseType="Resource"><xmpGImg:width>8'
    "</xmpGImg:width><xmpGImg:image>/9j/4AAQSkZJRg==</xmpGImg:image></rdf:li></rdf:Alt>"
    "</xmp:Thumbnails>"
)
_ORIENTATIONS = {
    "attribute": {"attribute": '\n    tiff:Orientation="6"', "element": ""},
    "element": {"attribute": "", "element": "\n   <tiff:Orientation>6</tiff:Orientation>"},
}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_weights(create_model("imdn_rtc", 2), path)
    return path


def _with_xmp(tmp_path, name: str, packet: bytes):
    """A 20x12 picture (16-bit grey for a name with 16) whose XMP is `packet`."""
    from PIL import PngImagePlugin

    rng = np.random.default_rng(0)
    if "16" in name:
        picture = Image.fromarray(rng.integers(0, 65536, (12, 20), dtype=np.uint16))
        text = PngImagePlugin.PngInfo()
        text.add_itxt("XML:com.adobe.xmp", packet.decode())  # uncompressed
        picture.save(tmp_path / name, pnginfo=text)
    else:
        picture = Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8))
        # Pillow writes a TIFF's XMP only as its tag (700), given so.
        tag = {"tiffinfo": {700: packet}} if name.endswith(".tif") else {"xmp": packet}
        picture.save(tmp_path / name, **tag)
    return tmp_path / name


@pytest.mark.parametrize("orientation", ["attribute", "element"])
@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("in.jpg", "out.jpg"),
        ("in.jpg", "out.webp"),
        ("in.jpg", "out.png"),
        ("in.jpg", "out.tif"),
        ("in16.png", "out16.png"),  # FFmpeg's, the iTXt added afterwards
        ("in16.png", "out16.tif"),  # FFmpeg's, the tag added afterwards
    ],
)
def test_the_xmp_goes_along_without_what_is_true_only_of_the_source(
    tmp_path, weights, capsys, source, output, orientation
):
    # The XMP (a photographer's creator and rights) was dropped, with a note. It goes to
    # every type that holds it, its text as it was but for the orientation (the pixels
    # are turned by it: the output is 24x40), the thumbnail and the pixel dimensions.
    packet = _XMP.format(
        **_ORIENTATIONS[orientation], width=20, height=12, thumbnail=_THUMBNAIL
    ).encode()
    source_path = _with_xmp(tmp_path, source, packet)
    target = tmp_path / output
    assert main(["image", str(source_path), str(target), "--weights", str(weights)]) == 0
    assert "note" not in capsys.readouterr().err
    with Image.open(target) as image:
        assert image.size == (24, 40)
        written = image.info["xmp"]
    assert (
        written == _XMP.format(attribute="", element="", width=24, height=40, thumbnail="").encode()
    )


@pytest.mark.parametrize("output", ["out.bmp", "out.gif"])
def test_a_type_without_a_place_for_xmp_notes_it(tmp_path, weights, capsys, output):
    packet = _XMP.format(**_ORIENTATIONS["element"], width=20, height=12, thumbnail="")
    source = _with_xmp(tmp_path, "in.jpg", packet.encode())
    assert main(["image", str(source), str(tmp_path / output), "--weights", str(weights)]) == 0
    assert (
        f"vsr: note: {tmp_path / output} cannot keep the XMP (.png, .jpg, .webp and .tif keep it)"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize("output", ["out.png", "out16.tif", "out.bmp"])
def test_xmp_that_is_not_well_formed_is_not_written_and_said(tmp_path, weights, capsys, output):
    packet = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF></x:xmpmeta>'  # rdf: unbound
    source = _with_xmp(tmp_path, "in16.png" if "16" in output else "in.jpg", packet)
    target = tmp_path / output
    assert main(["image", str(source), str(target), "--weights", str(weights)]) == 0
    err = capsys.readouterr().err
    assert (
        f"vsr: note: {target} cannot keep the XMP: it is not well-formed XML, so none was "
        "written" in err
    )
    assert err.count("XMP") == 1
    with Image.open(target) as image:
        assert "xmp" not in image.info


def test_xmp_too_long_for_a_jpeg_is_left_out_of_it_with_a_note(tmp_path, weights, capsys):
    packet = _XMP.format(**_ORIENTATIONS["element"], width=20, height=12, thumbnail="")
    long = packet.replace("</x:xmpmeta>", "<!--" + "x" * 70_000 + "--></x:xmpmeta>").encode()
    source = _with_xmp(tmp_path, "in.webp", long + b" " * 100)  # over without the padding
    target = tmp_path / "out.jpg"
    assert main(["image", str(source), str(target), "--weights", str(weights)]) == 0
    assert (
        f"vsr: note: {target} cannot keep the XMP: it is longer than a JPEG's 64 KB, and vsr "
        "writes no extended XMP (.png, .webp and .tif keep it)" in capsys.readouterr().err
    )
    with Image.open(target) as image:
        assert "xmp" not in image.info


def test_only_the_pictures_own_xmp_statements_change_whatever_their_prefix():
    from vsr.xmp_packet import xmp_for_output

    packet = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><r:RDF
 xmlns:r="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><r:Description
 xmlns:T="http://ns.adobe.com/tiff/1.0/" xmlns:mm="http://ns.adobe.com/xap/1.0/mm/"
 T:Orientation='8' T:ImageLength="12" dc:title="T:Orientation='8'"
 xmlns:dc="http://purl.org/dc/elements/1.1/"><!-- <T:Orientation>8</T:Orientation> -->
 <mm:Pantry><r:Bag><r:li><r:Description T:Orientation="3"><T:ImageWidth>7</T:ImageWidth>
 </r:Description></r:li></r:Bag></mm:Pantry></r:Description></r:RDF></x:xmpmeta>"""
    expected = packet.replace("\n T:Orientation='8'", "").replace('"12"', '"40"')
    assert xmp_for_output(packet.encode(), 24, 40) == expected.encode()
    # UTF-16, which JPEG and TIFF allow, comes back in UTF-8 (PNG and WebP require it).
    assert xmp_for_output(packet.encode("utf-16-le"), 24, 40) == expected.encode()


def _placed_document(top_level: str) -> str:
    """A Photoshop packet whose pantry holds a placed document stated turned (6), and
    whose own description states `top_level` (attributes)."""
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"{top_level}>
   <xmpMM:Pantry><rdf:Bag><rdf:li rdf:parseType="Resource">
    <tiff:Orientation>6</tiff:Orientation><tiff:ImageWidth>7</tiff:ImageWidth>
   </rdf:li></rdf:Bag></xmpMM:Pantry>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""


@pytest.mark.parametrize("output", ["out.jpg", "out.png", "out.webp", "out.tif", "out16.png"])
@pytest.mark.parametrize(
    ("top_level", "size"), [("", (40, 24)), (' tiff:Orientation="6"', (24, 40))]
)
def test_an_orientation_nested_in_the_xmp_turns_neither_the_source_nor_the_output(
    tmp_path, weights, output, top_level, size
):
    # A placed document's orientation, in the pantry, turned a picture whose own
    # description states none (Pillow takes the first tiff:Orientation of the text), and
    # kept in the output it made Pillow's exif_transpose and TIFF loader, and vsr reading
    # its own output, turn the upright pixels again.
    packet = _placed_document(top_level)
    source = _with_xmp(tmp_path, "in16.png" if "16" in output else "in.jpg", packet.encode())
    target = tmp_path / output
    assert main(["image", str(source), str(target), "--weights", str(weights)]) == 0
    with Image.open(target) as image:
        assert ImageOps.exif_transpose(image).size == size
        assert image.convert("RGB").size == size  # Pillow 13 turns a TIFF as it loads it
        written = image.info["xmp"]
    assert written == _placed_document("").encode()  # the pantry byte for byte
    assert read_image(target).shape[1::-1] == size


@pytest.mark.parametrize(
    "packet",
    [
        # Under another prefix, in single quotes, as an element under another prefix,
        # and in UTF-16: Pillow sees none of them, and vsr left the pixels on their side
        # while it removed the orientation, so the output showed a different picture.
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{rdf}"><rdf:Description'
        ' xmlns:t="{tiff}" t:Orientation="6"/></rdf:RDF></x:xmpmeta>',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{rdf}"><rdf:Description'
        " xmlns:tiff='{tiff}' tiff:Orientation='6'/></rdf:RDF></x:xmpmeta>",
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{rdf}"><rdf:Description'
        ' xmlns:T="{tiff}"><T:Orientation> 6 </T:Orientation></rdf:Description></rdf:RDF>'
        "</x:xmpmeta>",
        "utf-16",
    ],
)
@pytest.mark.parametrize("source", ["in.jpg", "in.tif"])
def test_the_xmp_orientation_the_output_leaves_out_is_the_one_the_pixels_are_turned_by(
    tmp_path, weights, packet, source
):
    rdf, tiff = "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "http://ns.adobe.com/tiff/1.0/"
    if packet == "utf-16":
        packet = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{rdf}">'
        packet += '<rdf:Description xmlns:tiff="{tiff}" tiff:Orientation="6"/></rdf:RDF>'
        data = (packet + "</x:xmpmeta>").format(rdf=rdf, tiff=tiff).encode("utf-16")
    else:
        data = packet.format(rdf=rdf, tiff=tiff).encode()
    source_path = _with_xmp(tmp_path, source, data)
    target = tmp_path / "out.png"
    assert main(["image", str(source_path), str(target), "--weights", str(weights)]) == 0
    with Image.open(target) as image:
        assert image.size == (24, 40)
        assert b"Orientation" not in image.info["xmp"]


def test_xmp_over_a_jpeg_s_64_kb_by_its_padding_alone_goes_without_it(tmp_path, weights, capsys):
    # Lightroom's 1485 keywords and 2 KB of padding, 66311 bytes, were left out whole (with
    # a note) where 64291 of them fit; the padding is there only to grow the packet into.
    packet = _XMP.format(**_ORIENTATIONS["element"], width=20, height=12, thumbnail="")
    keywords = "".join(f"<rdf:li>keyword {n}</rdf:li>" for n in range(2220))
    packet = packet.replace(
        "</dc:rights>", f"</dc:rights><dc:subject><rdf:Bag>{keywords}</rdf:Bag></dc:subject>"
    )
    padding = ("\n" + " " * 99) * 20
    padded = packet.replace("\n<?xpacket end", padding + "\n<?xpacket end").encode()
    assert len(padded) > 65502 > len(padded) - len(padding)
    target = tmp_path / "out.jpg"
    source = _with_xmp(tmp_path, "in.webp", padded)
    assert main(["image", str(source), str(target), "--weights", str(weights)]) == 0
    assert "XMP" not in capsys.readouterr().err
    with Image.open(target) as image:
        written = image.info["xmp"]
    expected = packet.replace("<tiff:Orientation>6</tiff:Orientation>", "").replace("\n   \n", "\n")
    expected = expected.replace('"20"', '"24"').replace(">12<", ">40<")
    assert written == expected.encode()


def test_the_xmp_states_the_outputs_resolution_and_colours(tmp_path, weights):
    # A 300 dpi CMYK JPEG stored on its side: its upright RGB output at 600 dpi said 300
    # (3000000/10000 and 1500000/10000, x and y as stored), CMYK and the CMYK profile.
    packet = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
 tiff:XResolution="3000000/10000" tiff:YResolution="1500000/10000" photoshop:ColorMode="4"
 photoshop:ICCProfile="U.S. Web Coated (SWOP) v2"/></rdf:RDF></x:xmpmeta>"""
    cmyk = Image.fromarray(np.full((12, 20, 4), 40, dtype=np.uint8), "CMYK")
    cmyk.save(tmp_path / "in.jpg", xmp=packet, dpi=(300, 150), exif=_exif(20, 12, 6))
    target = tmp_path / "out.png"
    assert main(["image", str(tmp_path / "in.jpg"), str(target), "--weights", str(weights)]) == 0
    with Image.open(target) as image:
        assert image.mode == "RGB" and image.size == (24, 40)
        assert [round(d) for d in image.info["dpi"]] == [300, 600]
        written = image.info["xmp"]
    assert b'tiff:XResolution="3000000/10000" tiff:YResolution="6000000/10000"' in written
    assert b'photoshop:ColorMode="3"' in written and b"ICCProfile" not in written


def _gif_with_xmp(path, packet: bytes, pictures_before: int = 1, trailer: bool = True) -> None:
    """A 3-frame GIF (its second and third pictures with a colour table of their own) with
    `packet` in an "XMP DataXMP" extension after its first `pictures_before` pictures, as
    Photoshop's Save for Web and exiftool write it: the bytes, then a magic trailer; or,
    without the `trailer`, cut into sub-blocks as GIF's other extensions are."""
    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)) for _ in "abc"]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    gif = buffer.getvalue()
    at = 12 + 3 * 2 ** ((gif[10] & 7) + 1)  # the global colour table's last byte
    for _ in range(pictures_before + 1):
        at = gif.index(b"\x21\xf9", at + 1)  # the next frame's control block
    if trailer:
        data = packet + b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
    else:
        pieces = [packet[n : n + 255] for n in range(0, len(packet), 255)]
        data = b"".join(bytes([len(piece)]) + piece for piece in pieces) + b"\x00"
    path.write_bytes(gif[:at] + b"\x21\xff\x0bXMP DataXMP" + data + gif[at:])


@pytest.mark.parametrize("output", ["out.webp", "out.png", "out.jpg", "out.gif"])
def test_a_gif_s_xmp_goes_along(tmp_path, weights, capsys, output):
    # Pillow reads no GIF's XMP: it was lost without a note.
    packet = _XMP.format(attribute="", element="", width=20, height=12, thumbnail="")
    _gif_with_xmp(tmp_path / "in.gif", packet.encode())
    target = tmp_path / output
    assert main(["image", str(tmp_path / "in.gif"), str(target), "--weights", str(weights)]) == 0
    err = capsys.readouterr().err
    with Image.open(target) as image:
        written = image.info.get("xmp")
    if output == "out.gif":
        assert "out.gif cannot keep the XMP (.png, .jpg, .webp and .tif keep it)" in err
        assert written is None
    else:
        assert (
            written
            == _XMP.format(attribute="", element="", width=40, height=24, thumbnail="").encode()
        )


def test_a_gif_s_xmp_after_a_picture_with_its_own_colour_table_goes_along(tmp_path, weights):
    # The picture's colour table must be stepped over to find the blocks after it: read as
    # the picture's data, it hid the XMP, lost without a note.
    packet = _XMP.format(attribute="", element="", width=20, height=12, thumbnail="")
    source = tmp_path / "in.gif"
    _gif_with_xmp(source, packet.encode(), pictures_before=2)
    target = tmp_path / "out.png"
    assert main(["image", str(source), str(target), "--weights", str(weights)]) == 0
    with Image.open(target) as image:
        written = image.info.get("xmp")
    assert (
        written == _XMP.format(attribute="", element="", width=40, height=24, thumbnail="").encode()
    )


def test_a_gif_xmp_extension_without_its_trailer_is_no_packet(tmp_path, weights, capsys):
    # Without the magic trailer, where the packet ends is unknown: the rest of the file,
    # taken for it, was noted as malformed XMP (or kept, garbage and all).
    packet = _XMP.format(attribute="", element="", width=20, height=12, thumbnail="")
    source = tmp_path / "in.gif"
    _gif_with_xmp(source, packet.encode(), trailer=False)
    target = tmp_path / "out.png"
    assert main(["image", str(source), str(target), "--weights", str(weights)]) == 0
    assert "XMP" not in capsys.readouterr().err
    with Image.open(target) as image:
        assert image.size == (40, 24) and "xmp" not in image.info


def test_an_8_bit_tiff_keeps_the_exif_s_tags_beside_the_xmp(tmp_path, weights):
    # The XMP's tag could replace, not join, the tags EXIF gives an 8-bit TIFF, losing
    # the camera without a note.
    packet = _XMP.format(attribute="", element="", width=20, height=12, thumbnail="")
    source = tmp_path / "in.jpg"
    Image.new("RGB", (20, 12)).save(source, exif=_exif(20, 12), xmp=packet.encode())
    target = tmp_path / "out.tif"
    assert main(["image", str(source), str(target), "--weights", str(weights)]) == 0
    with Image.open(target) as image:
        assert image.tag_v2[CAMERA] == "Camera Maker"
        written = image.info["xmp"]
    assert (
        written == _XMP.format(attribute="", element="", width=40, height=24, thumbnail="").encode()
    )


@pytest.mark.parametrize(("length", "kept"), [(65502, True), (65520, False)])
def test_xmp_a_jpeg_segment_cannot_hold_is_left_out_and_the_jpeg_written(
    tmp_path, weights, capsys, length, kept
):
    # Pillow refuses a packet over 65504 bytes ("XMP data is too long") and writes no
    # JPEG at all; one that the XMP specification's 65502 bytes allows goes whole.
    packet = _XMP.format(attribute="", element="", width=20, height=12, thumbnail="")
    filler = "<!--" + "x" * (length - len(packet.encode()) - 7) + "-->"
    packet = packet.replace("</x:xmpmeta>", filler + "</x:xmpmeta>").encode()
    assert len(packet) == length
    source = _with_xmp(tmp_path, "in.webp", packet)
    target = tmp_path / "out.jpg"
    assert main(["image", str(source), str(target), "--weights", str(weights)]) == 0
    err = capsys.readouterr().err
    with Image.open(target) as image:
        written = image.info.get("xmp")
    if kept:
        assert "XMP" not in err
        assert written == packet.replace(b'"20"', b'"40"').replace(b">12<", b">24<")
    else:
        assert "out.jpg cannot keep the XMP: it is longer than a JPEG's 64 KB" in err
        assert written is None


def test_a_blank_xmp_is_no_packet_and_no_note(tmp_path, weights, capsys):
    # An XMP of white space and a NUL alone, with nothing in it to carry, was read as a
    # packet and noted as "not well-formed XML".
    source = tmp_path / "in.jpg"
    Image.new("RGB", (20, 12)).save(source, xmp=b" \r\n\0")
    target = tmp_path / "out.png"
    assert main(["image", str(source), str(target), "--weights", str(weights)]) == 0
    assert "XMP" not in capsys.readouterr().err
    with Image.open(target) as image:
        assert "xmp" not in image.info


@pytest.mark.parametrize(("source", "output"), [("in.jpg", "out.tif"), ("in16.png", "out16.tif")])
def test_a_tiff_s_xmp_tag_is_bytes_as_adobe_writes_it(tmp_path, weights, source, output):
    # Adobe and Pillow write the XMP tag (700) as BYTE; so must vsr's own directory for
    # FFmpeg's 16-bit TIFF.
    packet = _XMP.format(attribute="", element="", width=20, height=12, thumbnail="")
    source_path = _with_xmp(tmp_path, source, packet.encode())
    target = tmp_path / output
    assert main(["image", str(source_path), str(target), "--weights", str(weights)]) == 0
    with Image.open(target) as image:
        assert image.tag_v2.tagtype[700] == 1  # BYTE
        written = image.info["xmp"]
    assert (
        written == _XMP.format(attribute="", element="", width=40, height=24, thumbnail="").encode()
    )


@pytest.mark.parametrize("source_name", ["scan.webp", "scan.png"])
def test_a_resolution_stated_only_in_exif_goes_along_or_is_named(tmp_path, upscaler, source_name):
    # A WebP has no resolution field, and a PNG without pHYs may state it in EXIF alone:
    # it was dropped from every output, .png and .jpg too, without a note.
    exif = _exif(20, 12)
    exif[282], exif[283], exif[296] = 300, 200, 2  # inches
    picture = Image.fromarray(np.zeros((12, 20, 3), np.uint8))
    picture.save(tmp_path / source_name, exif=exif, **({"lossless": True} if "webp" in source_name else {}))  # fmt: skip
    notes: list[str] = []
    for output in ("out.png", "out.jpg", "out.tif"):
        vsr.upscale_image(upscaler, tmp_path / source_name, tmp_path / output, on_note=notes.append)
        with Image.open(tmp_path / output) as written:
            assert written.info["dpi"] == pytest.approx((600, 400), abs=0.05)  # times 2
    assert not [note for note in notes if "keep the resolution" in note]
    vsr.upscale_image(upscaler, tmp_path / source_name, tmp_path / "out.webp", on_note=notes.append)
    assert (
        f"{tmp_path / 'out.webp'} cannot keep the resolution (.png, .jpg and .tif keep it)" in notes
    )


@pytest.mark.parametrize("output", ["out.jpg", "out.png", "out.tif"])
def test_exif_beside_a_nested_xmp_orientation_keeps_its_tags(tmp_path, upscaler, output):
    # The output's EXIF states orientation 1 over the placed document's orientation the
    # XMP keeps; made of that alone, it lost the camera, the date and the GPS.
    source = tmp_path / "in.jpg"
    Image.new("RGB", (20, 12)).save(source, exif=_exif(20, 12), xmp=_placed_document("").encode())
    target = tmp_path / output
    vsr.upscale_image(upscaler, source, target, on_note=lambda note: None)
    with Image.open(target) as image:
        exif = image.getexif()
    assert exif[0x0112] == 1 and exif[CAMERA] == "Camera Maker"
    if output != "out.tif":  # a TIFF keeps the descriptive tags alone (a note says so)
        assert exif.get_ifd(0x8769)[SHOT_AT] == "2026:11:27 10:00:00"
        assert exif.get_ifd(0x8825)[LATITUDE_REF] == "N"


@pytest.mark.parametrize("compressed", [False, True])
def test_a_png_s_xmp_in_a_text_chunk_goes_along_and_turns_the_pixels(
    tmp_path, upscaler, compressed
):
    # Pillow puts the XMP of a tEXt or zTXt chunk (older writers' place for it) under its
    # keyword alone, not under "xmp" as an iTXt's: the packet was lost, and the picture it
    # states is turned a quarter was left on its side.
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("XML:com.adobe.xmp", _placed_document(' tiff:Orientation="6"'), zip=compressed)
    Image.new("RGB", (20, 12)).save(tmp_path / "in.png", pnginfo=text)
    result = vsr.upscale_image(upscaler, tmp_path / "in.png", tmp_path / "out.png")
    assert result.shape[:2] == (40, 24)
    with Image.open(tmp_path / "out.png") as image:
        assert image.info["xmp"] == _placed_document("").encode()


def test_a_png_s_utf_8_xmp_in_a_text_chunk_keeps_its_letters(tmp_path, upscaler):
    # Pillow reads a tEXt chunk as Latin-1; the packet was taken as that text in UTF-8,
    # and the output's XMP said its creator was "JÃ©rÃ´me".
    from PIL import PngImagePlugin

    packet = _placed_document(' tiff:Artist="Jérôme"').encode()
    text = PngImagePlugin.PngInfo()
    text.add_text("XML:com.adobe.xmp", packet)  # the UTF-8 bytes, as such writers store them
    Image.new("RGB", (20, 12)).save(tmp_path / "in.png", pnginfo=text)
    vsr.upscale_image(upscaler, tmp_path / "in.png", tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as image:
        assert image.info["xmp"] == _placed_document(' tiff:Artist="Jérôme"').encode()


_COLOUR_XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:ColorMode="{mode}"
 photoshop:ICCProfile="{profile}"/></rdf:RDF></x:xmpmeta>"""


@pytest.mark.parametrize("mode", ["LA", "I;16"])
def test_a_grey_source_with_alpha_or_16_bits_states_a_grey_colour_mode(tmp_path, upscaler, mode):
    # Only 8-bit grey was taken for grey: the grey output's XMP said RGB (3).
    source = tmp_path / "in.png"
    text = PngImagePlugin.PngInfo()
    text.add_itxt("XML:com.adobe.xmp", _COLOUR_XMP.format(mode=1, profile="Dot Gain 20%"))
    Image.new(mode, (20, 12)).save(source, pnginfo=text)
    vsr.upscale_image(upscaler, source, tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as image:
        assert Image.getmodebase(image.mode) == "L"
        assert b'photoshop:ColorMode="1"' in image.info["xmp"]


def test_a_profile_left_out_leaves_its_name_out_of_the_xmp(tmp_path, upscaler):
    # A grey profile on RGB pixels goes (it would tell viewers to read them as grey); the
    # XMP still named it.
    source = tmp_path / "in.jpg"
    packet = _COLOUR_XMP.format(mode=3, profile="Dot Gain 20%").encode()
    Image.new("RGB", (20, 12)).save(source, icc_profile=_profile_for(b"GRAY"), xmp=packet)
    with pytest.warns(UserWarning, match="it is for GRAY colours and the output's are RGB"):
        vsr.upscale_image(upscaler, source, tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as image:
        assert "icc_profile" not in image.info
        assert b'ColorMode="3"' in image.info["xmp"] and b"ICCProfile" not in image.info["xmp"]


def test_a_lab_source_s_rgb_output_names_no_profile_in_its_xmp(tmp_path, upscaler):
    # Lab colours come out RGB, as CMYK's do: the profile the XMP names is not theirs.
    source = tmp_path / "in.tif"
    packet = _COLOUR_XMP.format(mode=9, profile="Lab D50").encode()
    Image.new("LAB", (20, 12), (50, 128, 128)).save(source, tiffinfo={700: packet})
    vsr.upscale_image(upscaler, source, tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as image:
        assert image.mode == "RGB"
        assert b'ColorMode="3"' in image.info["xmp"] and b"ICCProfile" not in image.info["xmp"]


def test_a_png_cut_short_inside_its_exif_chunk_gives_no_exif(tmp_path):
    from vsr.png_exif import png_exif_chunk

    exif = Image.Exif()
    exif[0x010F] = "Camera Maker" * 20
    stored = io.BytesIO()
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(stored, "PNG", exif=exif)
    data = stored.getvalue()
    at = data.index(b"eXIf")
    (tmp_path / "cut.png").write_bytes(data[: at + 4 + 40])  # 40 bytes of the block
    assert png_exif_chunk(tmp_path / "cut.png") == b""
