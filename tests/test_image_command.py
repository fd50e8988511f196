"""`vsr image` end to end with a random-weight model: layouts, bit depth, folders, EXIF."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import vsr
import vsr.api
from vsr.cli import main
from vsr.imageio import read_image, write_image
from vsr.ops.imresize import imresize


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from vsr.models import create_model, save_weights

    path = tmp_path_factory.mktemp("weights") / "random_x2.safetensors"
    torch.manual_seed(0)
    save_weights(create_model("imdn", scale=2), path)
    return path


def _run(source, target, weights, *extra) -> int:
    return main(
        ["image", str(source), str(target), "--weights", str(weights), "--device", "cpu", *extra]
    )


def _random(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=dtype)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_layouts_keep_channels_and_double_the_size(tmp_path, weights, channels):
    pixels = _random((10, 13, channels), seed=channels)
    write_image(tmp_path / "in.png", pixels)
    assert _run(tmp_path / "in.png", tmp_path / "out.png", weights) == 0
    out = read_image(tmp_path / "out.png")
    assert out.shape == (20, 26, channels)
    assert out.dtype == np.uint8
    if channels >= 3:  # the colour is the network's output, rounded
        upscaler = vsr.load_model(weights, device="cpu")
        expected = vsr.upscale_frames(upscaler, np.ascontiguousarray(pixels[None, :, :, :3]))[0]
        np.testing.assert_array_equal(out[:, :, :3], expected)
    if channels == 4:
        np.testing.assert_array_equal(out[:, :, 3], imresize(pixels[:, :, 3], scale=2))


def test_grey_output_is_luma_of_the_colour_result(tmp_path, weights):
    grey = _random((9, 11, 1), seed=5)
    write_image(tmp_path / "grey.png", grey)
    write_image(tmp_path / "rgb.png", np.repeat(grey, 3, axis=2))
    assert _run(tmp_path / "grey.png", tmp_path / "grey_out.png", weights) == 0
    assert _run(tmp_path / "rgb.png", tmp_path / "rgb_out.png", weights) == 0
    rgb = read_image(tmp_path / "rgb_out.png").astype(np.float64)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    out = read_image(tmp_path / "grey_out.png")[:, :, 0].astype(np.float64)
    assert np.abs(out - luma).max() <= 1.0  # rounding of the two paths only


@pytest.mark.parametrize("extension", [".png", ".tif"])
def test_16_bit_png_and_tiff_stay_16_bit(tmp_path, weights, extension):
    pixels = _random((8, 10, 3), np.uint16, seed=7)
    write_image(tmp_path / f"deep{extension}", pixels)
    assert _run(tmp_path / f"deep{extension}", tmp_path / f"deep_out{extension}", weights) == 0
    out = read_image(tmp_path / f"deep_out{extension}")
    assert out.dtype == np.uint16
    assert out.shape == (16, 20, 3)
    assert (out % 257 != 0).any()  # more than 8 bits of precision survived
    # The same picture at 8 bits gives the same result up to 8-bit quantisation.
    write_image(tmp_path / "shallow.png", np.round(pixels / 257).astype(np.uint8))
    assert _run(tmp_path / "shallow.png", tmp_path / "shallow_out.png", weights) == 0
    shallow = read_image(tmp_path / "shallow_out.png").astype(np.float64)
    assert np.abs(out / 257 - shallow).mean() < 2


def test_a_16_bit_grey_alpha_still_keeps_16_bits_and_a_tif_of_it_is_named(
    tmp_path, weights, capsys
):
    # A .png in gives a 16-bit grey + alpha PNG out (colour type 4), which Pillow opens; a
    # .tif of the same pixels is valid (libtiff reads it) but Pillow cannot open it, and
    # nothing said so: "cannot identify image file" read as a broken output.
    from vsr.imageio import png_bit_depth

    y, x = np.mgrid[0:8, 0:10]
    pixels = np.dstack([x * 6000 + y * 333, np.where(x < 3, 0, 65535)]).astype(np.uint16)
    write_image(tmp_path / "scan.png", pixels)
    assert png_bit_depth(tmp_path / "scan.png") == (16, 4)
    assert _run(tmp_path / "scan.png", tmp_path / "out.png", weights) == 0
    assert png_bit_depth(tmp_path / "out.png") == (16, 4)
    with Image.open(tmp_path / "out.png") as image:
        assert (image.mode, image.size) == ("RGBA", (20, 16))
    out = read_image(tmp_path / "out.png", keep_grey_alpha=True)
    assert out.dtype == np.uint16 and out.shape == (16, 20, 2)
    assert (out[..., 0] % 257 != 0).any()  # more than 8 bits survived
    assert (out[:, :4, 1] == 0).all() and (out[:, 9:, 1] == 65535).all()  # enlarged
    assert "vsr: note" not in capsys.readouterr().err
    assert _run(tmp_path / "scan.png", tmp_path / "out.tif", weights) == 0
    np.testing.assert_array_equal(read_image(tmp_path / "out.tif", keep_grey_alpha=True), out)
    with pytest.raises(OSError, match="cannot identify image file"):
        Image.open(tmp_path / "out.tif")
    assert capsys.readouterr().err.splitlines() == [
        f"vsr: note: {tmp_path / 'out.tif'} is a 16-bit grey + alpha TIFF, which libtiff reads "
        "and Pillow "
        "cannot open (.png keeps the 16 bits and the alpha, and Pillow opens it)"
    ]
    # From an array too, as a warning.
    upscaler = vsr.load_model(weights, device="cpu")
    with pytest.warns(UserWarning, match=r"/array.tif is a 16-bit grey \+ alpha TIFF"):
        vsr.upscale_image(upscaler, pixels, tmp_path / "array.tif")


@pytest.mark.filterwarnings("ignore:.*/array.gif keeps 256 colours")
@pytest.mark.parametrize("extension", [".jpg", ".webp", ".gif", ".bmp"])
def test_16_bits_rounded_for_an_8_bit_type_are_a_note(tmp_path, weights, extension, capsys):
    # Was silent: only the file's depth (read back: 8 bits) told it.
    pixels = _random((8, 10, 3), np.uint16, seed=7)
    write_image(tmp_path / "deep.png", pixels)
    target = tmp_path / f"out{extension}"
    assert _run(tmp_path / "deep.png", target, weights) == 0
    assert read_image(target).dtype == np.uint8
    notes = [line for line in capsys.readouterr().err.splitlines() if "16-bit" in line]
    assert notes == [
        f"vsr: note: {target} holds 8 bits a sample: the 16-bit pixels were rounded "
        "to 8 bits (.png and .tif keep 16)"
    ]
    # From an array too, as a warning; none for 8-bit pixels or a type that keeps 16.
    upscaler = vsr.load_model(weights, device="cpu")
    with pytest.warns(UserWarning, match=rf"/array{extension} holds 8 bits a sample: the 16"):
        vsr.upscale_image(upscaler, pixels, tmp_path / f"array{extension}")
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        vsr.upscale_image(upscaler, pixels, tmp_path / "array.png")
        vsr.upscale_image(upscaler, (pixels // 257).astype(np.uint8), tmp_path / f"8{extension}")
    assert not [str(w.message) for w in told if "holds 8 bits" in str(w.message)]


def test_exif_orientation_is_applied(tmp_path, weights):
    image = Image.fromarray(_random((6, 10, 3), seed=9))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display needs a quarter turn clockwise
    image.save(tmp_path / "sideways.jpg", exif=exif, quality=95)
    assert _run(tmp_path / "sideways.jpg", tmp_path / "upright.png", weights) == 0
    assert read_image(tmp_path / "upright.png").shape == (20, 12, 3)


def test_folder_skips_existing_outputs_unless_overwrite(tmp_path, weights, capsys):
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    write_image(source / "a.png", _random((7, 8, 3), seed=1))
    write_image(source / "b.bmp", _random((5, 6, 3), seed=2))
    (source / "notes.txt").write_text("not an image")
    target.mkdir()
    placeholder = np.zeros((2, 2, 3), dtype=np.uint8)
    write_image(target / "a.png", placeholder)
    assert _run(source, target, weights) == 0
    assert sorted(p.name for p in target.iterdir()) == ["a.png", "b.bmp"]
    np.testing.assert_array_equal(read_image(target / "a.png"), placeholder)  # skipped
    assert read_image(target / "b.bmp").shape == (10, 12, 3)
    assert _run(source, target, weights, "--overwrite") == 0
    assert read_image(target / "a.png").shape == (14, 16, 3)
    assert "note" not in capsys.readouterr().err  # notes.txt is no image


def test_folder_mode_skips_images_another_run_made_meanwhile(
    tmp_path, weights, capsys, monkeypatch
):
    # Two runs over one folder: the images the other finished were redone, then failed as
    # "already exists" or "written by someone else meanwhile", and both runs exited 1.
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for seed, name in enumerate(["a.png", "b.png", "c.png"]):
        write_image(source / name, _random((7, 8, 3), seed=seed))
    theirs = np.zeros((14, 16, 3), dtype=np.uint8)
    real_upscale_image = vsr.api.upscale_image

    def beside_another_run(upscaler, image_in, image_out, *args, **kwargs):
        if image_in.name == "a.png":  # b.png's, made while this run did a.png
            write_image(target / "b.png", theirs)
        if image_in.name == "c.png":  # its own, made during its write
            write_image(image_out, theirs)
        return real_upscale_image(upscaler, image_in, image_out, *args, **kwargs)

    monkeypatch.setattr(vsr.api, "upscale_image", beside_another_run)
    assert _run(source, target, weights) == 0
    assert "vsr: 1 done, 2 skipped (their outputs exist), 0 failed\n" in capsys.readouterr().err
    assert read_image(target / "a.png").shape == (14, 16, 3)
    for name in ("b.png", "c.png"):
        np.testing.assert_array_equal(read_image(target / name), theirs)  # theirs kept
    # An image that failed on its own is still a failure, whatever is at its output.
    monkeypatch.setattr(vsr.api, "upscale_image", real_upscale_image)
    (source / "d.png").write_bytes(b"not a picture")
    assert _run(source, target, weights) == 1
    assert "vsr: 0 done, 3 skipped (their outputs exist), 1 failed\n" in capsys.readouterr().err


def test_with_overwrite_an_image_that_fails_is_a_failure_beside_its_old_output(
    tmp_path, weights, capsys
):
    # An earlier run's output, which --overwrite was to replace, is no image another run
    # made meanwhile: the failure is told, not counted as skipped with exit status 0.
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "a.png").write_bytes(b"not a picture")
    target.mkdir()
    earlier = _random((14, 16, 3))
    write_image(target / "a.png", earlier)
    assert _run(source, target, weights, "--overwrite") == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vsr:")]
    assert lines[0] == "vsr: 0 done, 1 failed"
    assert lines[1].startswith(f"vsr:   failed: a.png: cannot read image {source / 'a.png'}")
    np.testing.assert_array_equal(read_image(target / "a.png"), earlier)


def test_folder_mode_names_the_images_it_cannot_write_back(tmp_path, weights, capsys):
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    write_image(source / "a.png", _random((7, 8, 3), seed=1))
    Image.fromarray(_random((7, 8, 3))).save(source / "b.tga")
    (source / "manual.pdf").write_bytes(b"%PDF-1.4")  # a type Pillow writes, no picture
    (source / "clip.mpg").write_bytes(b"\0\0\1\xba")
    assert _run(source, target, weights) == 0
    assert sorted(p.name for p in target.iterdir()) == ["a.png"]
    assert (
        "vsr: note: left out 1 image(s) of types vsr does not write: b.tga; upscale each to "
        "a .png (vsr image IN OUT.png)"
    ) in capsys.readouterr().err


def test_same_size_model_enlarges_with_bicubic_first(tmp_path):
    from vsr.models import create_model, save_weights

    # IMDN_AS restores a MATLAB-bicubic enlargement (the paper's any-scale use): run on the
    # small picture and enlarged afterwards, it makes another picture (73 codes apart).
    torch.manual_seed(0)
    save_weights(create_model("imdn_as"), tmp_path / "as.safetensors")
    pixels = _random((8, 12, 3), seed=3)
    write_image(tmp_path / "in.png", pixels)
    assert (
        _run(
            tmp_path / "in.png",
            tmp_path / "out.png",
            tmp_path / "as.safetensors",
            "--scale",
            "2",
            "--precision",
            "fp32",
        )  # fmt: skip
        == 0
    )
    out = read_image(tmp_path / "out.png")
    assert out.shape == (16, 24, 3)
    network = vsr.load_model(tmp_path / "as.safetensors", scale=2, device="cpu", precision="fp32")
    with torch.no_grad():
        small = torch.from_numpy(pixels).permute(2, 0, 1)[None].double() / 255
        restored = network(imresize(small, scale=2).clamp(0, 1).float())[0].permute(1, 2, 0)
    expected = (restored * 255).round().clamp(0, 255).numpy()
    assert np.abs(out - expected).max() <= 1


def test_scales_are_served_and_refused_as_vsr_run_serves_and_refuses_them(tmp_path, capsys):
    # vsr image refused x4 weights for --scale 2, which vsr run shrinks, and took IMDN_AS for
    # --scale 5, which vsr run refuses (a factor it was not trained on): 67x39 -> 335x195.
    from vsr.engine import resize_exact
    from vsr.models import create_model, save_weights

    torch.manual_seed(0)
    x4, same_size = create_model("imdn", 4, features=16, blocks=1), create_model("imdn_as")
    save_weights(x4, tmp_path / "x4.safetensors")
    save_weights(same_size, tmp_path / "as.safetensors")
    pixels = _random((6, 10, 3), seed=4)
    write_image(tmp_path / "in.png", pixels)

    assert _run(tmp_path / "in.png", tmp_path / "x2.png", tmp_path / "x4.safetensors",
                "--scale", "2", "--precision", "fp32") == 0  # fmt: skip
    assert capsys.readouterr().err == (
        "vsr: note: the weights upscale x4, more than x2, the smallest factor that reaches "
        "this size: their output is shrunk to it (x2 weights would be faster)\n"
    )
    with torch.no_grad():
        x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
        shrunk = resize_exact(x4(x).clamp(0, 1), 12, 20)[0].permute(1, 2, 0)
    expected = (shrunk * 255).round().to(torch.uint8).numpy()
    assert np.abs(read_image(tmp_path / "x2.png").astype(int) - expected).max() <= 1

    assert _run(tmp_path / "in.png", tmp_path / "x5.png", tmp_path / "as.safetensors",
                "--scale", "5") == 2  # fmt: skip
    assert capsys.readouterr().err == (
        "vsr: error: scale 5 is larger than the largest network factor (4); available: 2, 3, 4\n"
    )
    assert not (tmp_path / "x5.png").exists()


def test_user_mistakes_are_one_line_errors(tmp_path, weights, capsys):
    assert _run(tmp_path / "missing.png", tmp_path / "out.png", weights) == 2
    assert f"vsr: error: image not found: {tmp_path / 'missing.png'}\n" == capsys.readouterr().err
    write_image(tmp_path / "in.png", _random((4, 4, 3)))
    write_image(tmp_path / "out.png", _random((4, 4, 3)))
    assert _run(tmp_path / "in.png", tmp_path / "out.png", weights) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: {tmp_path / 'out.png'} already exists; use --overwrite to replace it\n"
    )
    assert _run(tmp_path / "in.png", tmp_path / "x3.png", weights, "--scale", "3") == 2
    assert capsys.readouterr().err == (
        "vsr: error: these weights upscale x2, which cannot reach x3; use x3 weights\n"
    )


def test_an_output_of_an_unknown_type_is_told_before_the_model_loads(
    tmp_path, weights, capsys, monkeypatch
):
    def loading(*args, **kwargs):
        raise AssertionError("the model was loaded (and the image upscaled) first")

    monkeypatch.setattr("vsr.api.load_model", loading)
    write_image(tmp_path / "in.png", _random((4, 4, 3)))
    assert _run(tmp_path / "in.png", tmp_path / "out.xyz", weights) == 2
    assert "unknown image type '.xyz'" in capsys.readouterr().err


def test_an_output_that_is_the_input_is_refused_even_with_overwrite(tmp_path, weights, capsys):
    write_image(tmp_path / "in.png", _random((4, 4, 3)))
    before = (tmp_path / "in.png").read_bytes()
    said = f"vsr: error: {tmp_path / 'in.png'} is the input image; choose another output path\n"
    assert _run(tmp_path / "in.png", tmp_path / "in.png", weights, "--overwrite") == 2
    assert capsys.readouterr().err == said
    assert _run(tmp_path / "in.png", tmp_path, weights, "--overwrite") == 2  # OUT: IN's folder
    assert capsys.readouterr().err == said
    assert (tmp_path / "in.png").read_bytes() == before


def test_a_folder_that_is_its_own_output_is_refused_even_with_overwrite(tmp_path, weights, capsys):
    # Taken, its pictures were their own finished outputs ("nothing to do"), and with
    # --overwrite were replaced by their upscaled selves.
    folder = tmp_path / "pics"
    folder.mkdir()
    write_image(folder / "a.png", _random((4, 4, 3)))
    before = (folder / "a.png").read_bytes()
    assert _run(folder, folder / ".", weights, "--overwrite") == 2
    assert capsys.readouterr().err == (
        "vsr: error: OUT is the same as IN; choose another output path\n"
    )
    assert (folder / "a.png").read_bytes() == before


def test_outputs_are_readable_by_others_as_the_umask_allows(tmp_path, weights):
    write_image(tmp_path / "in.png", _random((4, 4, 3)))
    assert _run(tmp_path / "in.png", tmp_path / "out.png", weights) == 0
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_folder_mode_goes_on_past_an_unreadable_image_and_lists_it(tmp_path, weights, capsys):
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    write_image(source / "a.png", _random((5, 6, 3), seed=1))
    (source / "b.png").write_text("not a picture")  # sorted between the two good ones
    write_image(source / "c.png", _random((4, 7, 3), seed=2))
    assert _run(source, target, weights) == 1  # was 2, at b.png, with c.png never done
    assert sorted(p.name for p in target.iterdir()) == ["a.png", "c.png"]
    assert read_image(target / "c.png").shape == (8, 14, 3)
    captured = capsys.readouterr()
    assert captured.out == ""  # every line on stderr, as vsr run's
    assert "\r" not in captured.err  # stderr is no terminal here: no bar redrawn into it
    summary, failure = [line for line in captured.err.splitlines() if line.startswith("vsr:")]
    assert summary == "vsr: 2 done, 1 failed"
    assert failure.startswith(f"vsr:   failed: b.png: cannot read image {source / 'b.png'}")
    assert _run(source, target, weights) == 1  # a rerun retries only the failed one
    assert "vsr: 0 done, 2 skipped (their outputs exist), 1 failed\n" in capsys.readouterr().err


@pytest.mark.parametrize("scale", ["0", "-2"])
def test_a_scale_below_one_is_named_as_such(tmp_path, scale, capsys):
    write_image(tmp_path / "in.png", _random((4, 4, 3)))
    assert (
        main(["image", str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--scale", scale]) == 2
    )
    # Was "no default weights for x0 (this project ships: ...)", then the flag unnamed.
    said = capsys.readouterr().err
    assert said == f"vsr: error: --scale must be a whole number >= 1, not {scale}\n"


def test_precision_reaches_the_network(tmp_path, weights, monkeypatch):
    import vsr.api

    chosen = []
    real = vsr.api.load_model
    monkeypatch.setattr(vsr.api, "load_model", lambda *a, **k: chosen.append(k) or real(*a, **k))
    write_image(tmp_path / "in.png", _random((4, 4, 3)))
    assert _run(tmp_path / "in.png", tmp_path / "out.png", weights, "--precision", "bf16") == 0
    assert chosen[0]["precision"] == "bf16"
    assert read_image(tmp_path / "out.png").shape == (8, 8, 3)


def test_an_image_too_large_for_the_free_memory_is_refused_before_upscaling(
    tmp_path, weights, capsys, monkeypatch
):
    from vsr import image

    pixels = _random((60, 80, 3), seed=9)
    write_image(tmp_path / "in.png", pixels)
    # 160 x 120 output pixels need 768,000 bytes by the rule; say that 0.25 MiB is free.
    monkeypatch.setattr(image, "available_host_memory_bytes", lambda: 1 << 18)
    assert _run(tmp_path / "in.png", tmp_path / "out.png", weights) == 2
    err = capsys.readouterr().err
    assert "this 80x60 image upscaled x2 needs about 1 MiB of memory; 0 MiB is free" in err
    assert not (tmp_path / "out.png").exists()
    monkeypatch.setattr(image, "available_host_memory_bytes", lambda: 1 << 20)
    assert _run(tmp_path / "in.png", tmp_path / "out.png", weights) == 0


def test_folder_mode_leaves_hidden_files_out(tmp_path, weights, capsys):
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    write_image(source / "a.png", _random((7, 8, 3), seed=1))
    # macOS's AppleDouble file beside a copied a.png: metadata, no picture.
    (source / "._a.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00" + bytes(74))
    (source / "._b.tga").write_bytes(bytes(82))
    assert _run(source, target, weights) == 0
    assert sorted(p.name for p in target.iterdir()) == ["a.png"]
    assert capsys.readouterr().err == "vsr: 1 done, 0 failed\n"  # no note, no failure


def test_a_folder_of_only_hidden_images_says_they_were_left_out(tmp_path, weights, capsys):
    # Said "no images in d" alone, as if the folder held no pictures at all.
    source = tmp_path / "d"
    source.mkdir()
    write_image(source / ".a.png", _random((7, 8, 3), seed=1))
    (source / "._b.jpg").write_bytes(bytes(82))
    (source / ".DS_Store").write_bytes(bytes(16))  # not an image: not counted
    assert _run(source, tmp_path / "out", weights) == 2
    err = capsys.readouterr().err
    assert (
        err == f"vsr: error: no images in {source} (2 hidden file(s) left out: ._b.jpg, .a.png)\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_folder_whose_pictures_are_in_subfolders_names_them(tmp_path, weights, capsys):
    # Said "no images in photos" alone, as vsr run no longer does of clips in subfolders.
    source = tmp_path / "photos"
    (source / "2024").mkdir(parents=True)
    (source / ".thumbnails").mkdir()  # hidden: not named
    write_image(source / "2024" / "a.png", _random((7, 8, 3), seed=1))
    assert _run(source, tmp_path / "out", weights) == 2
    assert capsys.readouterr().err == (
        f"vsr: note: 1 subfolder(s) of {source} left alone (2024): only the images "
        f"directly inside are upscaled\nvsr: error: no images in {source}\n"
    )
    # Beside pictures it takes, the note is said too; the output folder inside is not named.
    write_image(source / "b.png", _random((7, 8, 3), seed=2))
    (source / "up").mkdir()
    assert _run(source, source / "up", weights) == 0
    assert (source / "up" / "b.png").is_file()
    assert capsys.readouterr().err == (
        f"vsr: note: 1 subfolder(s) of {source} left alone (2024): only the images "
        "directly inside are upscaled\nvsr: 1 done, 0 failed\n"
    )


def test_a_subfolder_named_like_a_picture_is_left_alone_not_failed(tmp_path, weights, capsys):
    # A folder "2024.png" was named as a subfolder left alone, then listed as an image as
    # well and failed: "vsr: 1 done, 1 failed ... failed: 2024.png: image not found", exit 1.
    source = tmp_path / "photos"
    (source / "2024.png").mkdir(parents=True)
    write_image(source / "a.png", _random((7, 8, 3), seed=1))
    assert _run(source, tmp_path / "out", weights) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]
    assert capsys.readouterr().err == (
        f"vsr: note: 1 subfolder(s) of {source} left alone (2024.png): only the images "
        "directly inside are upscaled\nvsr: 1 done, 0 failed\n"
    )
    # With nothing else inside, it is a folder without images, not one of a failed image.
    (source / "a.png").unlink()
    assert _run(source, tmp_path / "out2", weights) == 2
    assert capsys.readouterr().err.endswith(f"vsr: error: no images in {source}\n")


def test_a_folder_whose_outputs_all_exist_says_so_as_a_note(tmp_path, weights, capsys):
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    write_image(source / "a.png", _random((5, 6, 3), seed=1))
    assert _run(source, target, weights) == 0
    capsys.readouterr()
    # Was "nothing to do: every output already exists in OUT" on stdout, without "vsr: ".
    assert _run(source, target, weights) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"vsr: nothing to do: every output already exists in {target} (--overwrite redoes them)"
    ]


def test_a_large_picture_gets_no_python_warning_and_a_too_large_one_a_plain_reason(
    tmp_path, weights, capsys, monkeypatch
):
    # Pillow warns of any image over Image.MAX_IMAGE_PIXELS (89 million: a 12000x8000 scan)
    # and refuses one over twice that; both are brought down to a few pixels here. The
    # warning came out in Python's form, file and line; the refusal said "could be
    # decompression bomb DOS attack" of the user's own scan.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    write_image(tmp_path / "large.png", _random((10, 12, 3)))  # 120 pixels
    write_image(tmp_path / "too_large.png", _random((15, 15, 3)))  # 225, over 200
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # shown each time, whichever test came first
        assert _run(tmp_path / "large.png", tmp_path / "out.png", weights) == 0
    assert capsys.readouterr().err == ""
    assert _run(tmp_path / "too_large.png", tmp_path / "out2.png", weights) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: cannot read image {tmp_path / 'too_large.png'}: it has 225 pixels, more "
        "than the 200 Pillow decodes (its guard against small files made to fill memory); "
        "cut it into parts, or raise PIL.Image.MAX_IMAGE_PIXELS where vsr is called from "
        "Python\n"
    )
    monkeypatch.undo()  # Pillow's limits back, to read the 480 pixels written
    assert read_image(tmp_path / "out.png").shape == (20, 24, 3)


def test_max_memory_tiles_a_picture_as_the_api_does_and_bad_budgets_are_one_line(
    tmp_path, weights, capsys
):
    # vsr image had no --max-memory: a photo the default budget (half the RAM) let through
    # whole could not be bounded, while vsr run could.
    from vsr.upscale import memory_needed

    pixels = _random((64, 96, 3), seed=5)
    write_image(tmp_path / "in.png", pixels)
    network = vsr.load_model(weights, device="cpu")
    budget = memory_needed(network.model, network.dtype, network.device, 2000, True)
    assert (
        _run(tmp_path / "in.png", tmp_path / "out.png", weights, "--max-memory", str(budget)) == 0
    )
    tiled = vsr.load_model(weights, device="cpu", max_memory=budget)
    assert tiled.plan_for(64, 96).mode == "tiles"
    out = read_image(tmp_path / "out.png")
    np.testing.assert_array_equal(out, vsr.upscale_frames(tiled, pixels[None])[0])
    assert not np.array_equal(out, vsr.upscale_frames(network, pixels[None])[0])

    capsys.readouterr()
    for typed, words in (("12x", "not understood"), ("1KiB", "less than the network needs")):
        assert _run(tmp_path / "in.png", tmp_path / "o2.png", weights, "--max-memory", typed) == 2
        err = capsys.readouterr().err
        assert err.startswith("vsr: error: ") and words in err and "--max-memory" in err
    assert not (tmp_path / "o2.png").exists()


def test_an_out_that_names_a_folder_or_cannot_be_one_is_taken_or_told_in_one_line(
    tmp_path, weights, capsys
):
    (tmp_path / "scans").mkdir()
    write_image(tmp_path / "scans" / "a.png", _random((4, 4, 3)))
    write_image(tmp_path / "p.png", _random((4, 4, 3)))
    # A folder IN and an OUT named like an image: it made a folder called upscaled.png.
    assert _run(tmp_path / "scans", tmp_path / "upscaled.png", weights) == 2
    assert "upscaled.png looks like an image file name" in capsys.readouterr().err
    assert not (tmp_path / "upscaled.png").exists()
    # A trailing slash means a folder, made as vsr run makes its OUTPUT folder: it was
    # "unknown image type '' for newdir".
    assert _run(tmp_path / "p.png", f"{tmp_path / 'newdir'}/", weights) == 0
    assert read_image(tmp_path / "newdir" / "p.png").shape == (8, 8, 3)
    assert _run(tmp_path / "scans", f"{tmp_path / 'up.png'}/", weights) == 0
    assert (tmp_path / "up.png" / "a.png").is_file()
    capsys.readouterr()
    # A folder that cannot be made: a traceback (NotADirectoryError) before.
    assert _run(tmp_path / "scans", tmp_path / "p.png" / "sub", weights) == 2
    err = capsys.readouterr().err
    assert err.startswith("vsr: error: cannot create output folder") and "Traceback" not in err


def test_a_picture_into_a_folder_says_the_file_it_wrote(tmp_path, weights, capsys):
    # "wrote out" named the folder given, not the picture made in it under its own name.
    write_image(tmp_path / "p.png", _random((4, 4, 3)))
    (tmp_path / "out").mkdir()
    assert _run(tmp_path / "p.png", tmp_path / "out", weights) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'out' / 'p.png'}\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="making a link another user owns takes root")
def test_a_link_another_user_made_to_a_file_not_theirs_is_left_alone(tmp_path, weights, capsys):
    # vsr run leaves such a link alone; vsr image upscaled it, a private picture written
    # into an output folder its maker may read.
    drop, private, out = tmp_path / "drop", tmp_path / "private", tmp_path / "out"
    drop.mkdir()
    private.mkdir()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(private / "secret.png")
    (drop / "innocent.png").symlink_to(private / "secret.png")
    os.lchown(drop / "innocent.png", 4242, -1)
    Image.new("RGB", (8, 6), (9, 9, 9)).save(drop / "own.png")
    assert main(["image", str(drop), str(out), "--weights", str(weights)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["own.png"]
    said = capsys.readouterr().err
    assert (
        "vsr: note: 1 link(s) made by another user left alone (innocent.png): a link can point "
        "at any file you can read; copy the image in, or link it yourself"
    ) in said


def test_a_full_disk_stops_a_folder_run_at_the_image_it_meets_it_on(
    tmp_path, weights, monkeypatch, capsys
):
    # Every image was upscaled and then failed on the full disk ("0 done, 6 failed", exit 1,
    # after minutes of work), where vsr run stops a folder at the first clip.
    import errno

    import vsr.api

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    (folder / "a.png").write_text("not a picture")  # fails first, and is still told
    for name in ("b.png", "c.png", "d.png"):
        write_image(folder / name, _random((6, 5, 3)))
    real_upscale, tried = vsr.api.upscale_image, []

    def upscale_image(upscaler, source, target, *args, **kwargs):
        tried.append(source.name)
        if source.name == "c.png":
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return real_upscale(upscaler, source, target, *args, **kwargs)

    monkeypatch.setattr(vsr.api, "upscale_image", upscale_image)
    assert _run(folder, out, weights) == 2
    assert tried == ["a.png", "b.png", "c.png"]  # d.png is not upscaled only to fail
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("vsr:   failed: a.png: ")
    assert err[1:] == [
        f"vsr: error: {out / 'c.png'}: No space left on device",
        "vsr: stopped at c.png: the images finished before it are kept, and the same command "
        "again, once there is space, skips them",
    ]
    assert sorted(p.name for p in out.iterdir()) == ["b.png"]


def test_a_fifo_named_like_an_image_fails_as_not_a_regular_file(tmp_path, weights, capsys):
    # In a folder, Pillow opened it and waited for a writer for ever; alone, it was "input
    # not found", though it is there.
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.png", _random((4, 4, 3)))
    os.mkfifo(folder / "b.png")
    assert _run(folder, tmp_path / "out", weights) == 1
    assert "vsr:   failed: b.png: not a regular file" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]
    assert _run(folder / "b.png", tmp_path / "b2.png", weights) == 2
    assert capsys.readouterr().err == f"vsr: error: {folder / 'b.png'}: not a regular file\n"


def test_ctrl_c_in_a_folder_still_says_what_was_done_and_what_failed(
    tmp_path, weights, monkeypatch, capsys
):
    # It said only "vsr: interrupted": an image that had failed went untold.
    import vsr.api

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    for name in ("b.png", "c.png", "d.png"):
        Image.fromarray(np.full((6, 8, 3), 90, np.uint8)).save(folder / name)
    real = vsr.api.upscale_image

    def stopped_at_c(upscaler, image_in, *args, **kwargs):
        if image_in.name == "c.png":
            raise KeyboardInterrupt
        return real(upscaler, image_in, *args, **kwargs)

    monkeypatch.setattr(vsr.api, "upscale_image", stopped_at_c)
    assert main(["image", str(folder), str(out), "--weights", str(weights)]) == 130
    told = capsys.readouterr().err.splitlines()
    assert told[-3:-1] == ["vsr: 1 done, 1 failed, 2 not done (stopped)", told[-2]]
    assert told[-2].startswith("vsr:   failed: a.png: ")
    assert told[-1] == "vsr: interrupted"
    assert sorted(p.name for p in out.iterdir()) == ["b.png"]
    # Rerun: b's output exists at the listing, so it is no job, and not counted as one.
    assert main(["image", str(folder), str(out), "--weights", str(weights)]) == 130
    told = capsys.readouterr().err.splitlines()
    assert told[-3] == "vsr: 0 done, 1 failed, 2 not done (stopped)"


def test_an_output_name_taken_by_a_folder_a_broken_link_or_an_empty_file_fails_with_why(
    tmp_path, weights, capsys
):
    # Each counted as "skipped (their outputs exist)", and its image was never upscaled.
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for seed, name in enumerate(["a.png", "b.png", "c.png", "d.png"]):
        write_image(source / name, _random((5, 6, 3), seed=seed))
    (target / "a.png").mkdir(parents=True)
    (target / "b.png").symlink_to(tmp_path / "gone.png")
    (target / "c.png").write_bytes(b"")
    assert _run(source, target, weights) == 1
    err = capsys.readouterr().err
    assert "vsr: 1 done, 3 failed\n" in err
    assert f"vsr:   failed: a.png: {target / 'a.png'} is a folder\n" in err
    gone = f"links to {tmp_path / 'gone.png'}, which is not there"
    assert f"vsr:   failed: b.png: {target / 'b.png'} {gone} (remove it, or use --overwrite)" in err
    empty = "is an empty file, no finished output (remove it, or use --overwrite)"
    assert f"vsr:   failed: c.png: {target / 'c.png'} {empty}\n" in err
    # --overwrite replaces the link and the empty file; no output replaces a folder.
    assert _run(source, target, weights, "--overwrite") == 1
    assert "vsr: 3 done, 1 failed\n" in capsys.readouterr().err
    for name in ("b.png", "c.png"):
        assert read_image(target / name).shape == (10, 12, 3)


def test_scale_1_without_weights_takes_the_project_s_x2_weights_as_vsr_run_does(tmp_path, capsys):
    # "no default weights for x1", where --weights vsr_imdn_x2 served it and vsr run took
    # them: weights serve their own factor and any smaller one.
    from vsr.models import create_model, save_weights

    write_image(tmp_path / "in.png", _random((16, 24, 3), seed=5))
    assert main(["image", str(tmp_path / "in.png"), str(tmp_path / "same.png"), "--scale", "1",
                 "--device", "cpu"]) == 0  # fmt: skip
    assert read_image(tmp_path / "same.png").shape == (16, 24, 3)
    assert "note" not in capsys.readouterr().err  # x2 is the smallest there is
    upscaler = vsr.load_model(scale=1, device="cpu")
    assert (upscaler.scale, upscaler.output_scale) == (2, 1)
    # Larger weights at --scale 1 name x2, the smallest factor, not "the x2 this size needs".
    x4 = tmp_path / "x4.safetensors"
    save_weights(create_model("imdn_rtc", 4), x4)
    assert _run(tmp_path / "in.png", tmp_path / "x4.png", x4, "--scale", "1") == 0
    assert capsys.readouterr().err == (
        "vsr: note: the weights upscale x4, more than x2, the smallest factor that reaches "
        "this size: their output is shrunk to it (x2 weights would be faster)\n"
    )
    assert read_image(tmp_path / "x4.png").shape == (16, 24, 3)


def test_a_folders_notes_go_above_its_progress_bar_not_onto_it(
    tmp_path, weights, capsys, monkeypatch
):
    # On a terminal each note was printed onto the end of the bar's line ("0/2 [00:00<?,
    # ?img/s]vsr: note: ..."), and the bar was not drawn again below it.
    import re

    from vsr import progress

    monkeypatch.setattr(progress, "bars_shown", lambda progress=True: True)
    (tmp_path / "in").mkdir()
    for index in range(2):
        Image.fromarray(_random((12, 16, 3), seed=index)).save(tmp_path / "in" / f"g{index}.gif")
    assert _run(tmp_path / "in", tmp_path / "out", weights) == 0
    err = capsys.readouterr().err
    assert "img/s" in err  # the bar was drawn
    pieces = re.split(r"[\r\n]", err)
    notes = [piece for piece in pieces if "keeps 256 colours" in piece]
    assert len(notes) == 2 and all(note.startswith("vsr: note: ") for note in notes), notes


def test_a_multi_page_tiff_is_not_called_an_animation_the_animated_types_keep(tmp_path, weights):
    # .gif, .apng and vsr run keep an animation's frames, not a TIFF's pages.
    pages = [Image.fromarray(np.full((6, 8, 3), value, np.uint8)) for value in (10, 200)]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    notes = []
    upscaler = vsr.load_model(weights, device="cpu")
    vsr.upscale_image(upscaler, tmp_path / "pages.tif", tmp_path / "out.png", on_note=notes.append)
    assert notes == [
        f"{tmp_path / 'pages.tif'} holds 2 pictures (an animation or pages); only the first "
        "was upscaled (vsr run takes an animation as a video)"
    ]
