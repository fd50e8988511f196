"""`vsr image` on animations (GIF, WebP, APNG): every frame upscaled as a still would be,
the durations, loop count and transparency kept, GIF's 256 colours."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

import vsr
from vsr import animation
from vsr.cli import main
from vsr.imageio import read_image, write_image

DURATIONS = [40, 120, 70]


def _run(source, target, weights, *extra) -> int:
    return main(
        ["image", str(source), str(target), "--weights", str(weights), "--device", "cpu", *extra]
    )


def _frames(alpha: bool = False, count: int = 3, tint: bool = True) -> list[np.ndarray]:
    """Smooth pictures (a gradient, as most animations are, not noise; its blue changing
    from frame to frame with ``tint``) with a square that moves: 10 x 14, RGB or RGBA with
    a clear corner and a half-clear stripe."""
    y, x = np.mgrid[0:10, 0:14]
    frames = []
    for index in range(count):
        blue = (x + y) * 10 + 30 * index * tint
        picture = np.stack([x * 18, y * 25, blue], axis=2).astype(np.uint8)
        picture[3:6, 2 + 3 * index : 5 + 3 * index] = (250, 40, 20)
        if alpha:
            opacity = np.full((10, 14, 1), 255, np.uint8)
            opacity[:4, :5] = 0
            opacity[:, 12:] = 128
            opacity[8:, :] = 0 if index != 1 else 255  # only the middle frame fills it
            picture = np.concatenate([picture, opacity], axis=2)
        frames.append(picture)
    return frames


def _save(path, frames, **options) -> None:
    pictures = [Image.fromarray(f) for f in frames]
    if path.suffix == ".webp":
        options.setdefault("lossless", True)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=DURATIONS, **options)


def _read(path) -> tuple[list[np.ndarray], list[float], int | None]:
    """Each frame as shown (RGBA), its duration, and the loop count."""
    frames, durations = [], []
    with Image.open(path) as image:
        loop = image.info.get("loop")
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(np.asarray(image.convert("RGBA")))
            durations.append(image.info.get("duration"))  # set once the frame is loaded
    return frames, durations, loop


def _stored(path) -> tuple[list[str], np.ndarray]:
    """Each frame's mode and pixels as the file stores them (no conversion), frames stacked."""
    modes, frames = [], []
    with Image.open(path) as image:
        for index in range(image.n_frames):
            image.seek(index)
            modes.append(image.mode)
            frames.append(np.asarray(image))
    return modes, np.stack(frames)


def _as_still(upscaler, frame: np.ndarray) -> np.ndarray:
    """What `vsr image` makes of the frame as a still PNG."""
    return vsr.upscale_image(upscaler, frame)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / max(error, 1e-10))


@pytest.mark.parametrize("source_type", [".png", ".webp"])
@pytest.mark.parametrize("output_type", [".png", ".webp"])
def test_every_frame_is_upscaled_as_a_still_with_its_duration(
    tmp_path, weights, source_type, output_type
):
    frames = _frames(alpha=True)
    _save(tmp_path / f"in{source_type}", frames, loop=2)
    assert _run(tmp_path / f"in{source_type}", tmp_path / f"out{output_type}", weights) == 0
    out, durations, loop = _read(tmp_path / f"out{output_type}")
    assert len(out) == 3
    assert durations == DURATIONS
    assert loop == 2
    upscaler = vsr.load_model(weights, device="cpu")
    # The frames as decoded: a WebP source keeps no colour under clear pixels.
    for shown, frame in zip(out, _read(tmp_path / f"in{source_type}")[0], strict=True):
        expected = _as_still(upscaler, frame)
        # Lossless types: exact, the colour under clear pixels aside (WebP drops it).
        seen = expected[:, :, 3] > 0
        np.testing.assert_array_equal(shown[:, :, 3], expected[:, :, 3])
        np.testing.assert_array_equal(shown[seen], expected[seen])


def test_partial_frames_are_composed_before_they_are_upscaled(tmp_path, weights):
    # Pillow's writers store a frame as the rectangle that changed; GIF frame 2 here is
    # the square's new place only, drawn over frame 1.
    frames = _frames(tint=False)
    _save(tmp_path / "in.gif", frames, loop=0)
    with Image.open(tmp_path / "in.gif") as image:
        image.seek(1)
        assert image.tile[0][1] != (0, 0, 14, 10)  # stored as a part, not the whole
    assert _run(tmp_path / "in.gif", tmp_path / "out.png", weights) == 0
    out, durations, loop = _read(tmp_path / "out.png")
    assert (len(out), durations, loop) == (3, DURATIONS, 0)
    upscaler = vsr.load_model(weights, device="cpu")
    with Image.open(tmp_path / "in.gif") as image:
        for index, shown in enumerate(out):
            image.seek(index)
            whole = np.asarray(image.convert("RGB"))
            np.testing.assert_array_equal(shown[:, :, :3], _as_still(upscaler, whole))


def test_a_gif_keeps_its_frames_in_256_colours(tmp_path, weights):
    frames = _frames()
    _save(tmp_path / "in.gif", frames, loop=4)
    assert _run(tmp_path / "in.gif", tmp_path / "out.gif", weights) == 0
    out, durations, loop = _read(tmp_path / "out.gif")
    assert (len(out), durations, loop) == (3, DURATIONS, 4)
    upscaler = vsr.load_model(weights, device="cpu")
    with Image.open(tmp_path / "in.gif") as image:
        for index, shown in enumerate(out):
            image.seek(index)
            expected = _as_still(upscaler, np.asarray(image.convert("RGB")))
            assert shown.shape[:2] == (20, 28)
            # Measured 38.9-39.4 dB on these frames (fast octree, undithered).
            assert _psnr(shown[:, :, :3], expected) > 37


def test_a_gif_keeps_transparency_where_the_upscaled_alpha_is_at_least_half(
    tmp_path, weights, capsys
):
    frames = _frames(alpha=True)
    _save(tmp_path / "in.png", frames)
    assert _run(tmp_path / "in.png", tmp_path / "out.gif", weights) == 0
    out, _, _ = _read(tmp_path / "out.gif")
    assert len(out) == 3
    upscaler = vsr.load_model(weights, device="cpu")
    for shown, frame in zip(out, frames, strict=True):
        expected = _as_still(upscaler, frame)
        opaque = expected[:, :, 3] >= 128
        np.testing.assert_array_equal(shown[:, :, 3], np.where(opaque, 255, 0))
        assert _psnr(shown[opaque][:, :3], expected[opaque][:, :3]) > 37  # measured 38.2-39.1
    # The middle frame's bottom is opaque, the others' clear: each frame replaced the last.
    assert (out[1][16:, :, 3] == 255).all() and (out[2][17:, :, 3] == 0).all()
    err = capsys.readouterr().err
    assert "out.gif keeps 256 colours of each picture and its transparency as on or off" in err


def test_a_gif_transparent_index_becomes_alpha(tmp_path, weights):
    frames = _frames(alpha=True)
    _save(tmp_path / "in.gif", [np.array(f) for f in frames], disposal=2)
    assert (_read(tmp_path / "in.gif")[0][0][:4, :5, 3] == 0).all()
    assert _run(tmp_path / "in.gif", tmp_path / "out.webp", weights) == 0
    out, durations, loop = _read(tmp_path / "out.webp")
    assert len(out) == 3 and durations == DURATIONS
    assert loop == 1  # the GIF had no loop count: it played once, and so does the WebP
    upscaler = vsr.load_model(weights, device="cpu")
    for shown, frame in zip(out, _read(tmp_path / "in.gif")[0], strict=True):
        np.testing.assert_array_equal(shown[:, :, 3], _as_still(upscaler, frame)[:, :, 3])
    assert (out[0][:6, :8, 3] == 0).all()


def test_a_gif_that_played_once_still_does(tmp_path, weights):
    _save(tmp_path / "in.gif", _frames())
    assert "loop" not in Image.open(tmp_path / "in.gif").info
    assert _run(tmp_path / "in.gif", tmp_path / "out.gif", weights) == 0
    with Image.open(tmp_path / "out.gif") as out:
        assert out.n_frames == 3 and "loop" not in out.info


def test_a_still_image_can_be_written_as_a_gif(tmp_path, weights):
    write_image(tmp_path / "in.png", _frames()[0])
    assert _run(tmp_path / "in.png", tmp_path / "out.gif", weights) == 0
    upscaler = vsr.load_model(weights, device="cpu")
    expected = _as_still(upscaler, _frames()[0])
    assert _psnr(read_image(tmp_path / "out.gif"), expected) > 37  # measured 39.1 dB


def test_a_type_of_one_picture_gets_the_first_frame_and_names_the_types(tmp_path, weights, capsys):
    _save(tmp_path / "in.gif", _frames())
    assert _run(tmp_path / "in.gif", tmp_path / "out.jpg", weights) == 0
    assert read_image(tmp_path / "out.jpg").shape == (20, 28, 3)
    assert (
        f"vsr: note: {tmp_path / 'in.gif'} is an animation of 3 frames; only the first was "
        "upscaled, as .jpg "
        "holds one picture (.gif, .webp, .png and .apng keep the animation; vsr run takes it "
        "as a video)"
    ) in capsys.readouterr().err
    # vsr run cannot read an animated WebP: not named for one.
    _save(tmp_path / "in.webp", _frames())
    assert _run(tmp_path / "in.webp", tmp_path / "out.jpg", weights, "--overwrite") == 0
    assert (
        f"vsr: note: {tmp_path / 'in.webp'} is an animation of 3 frames; only the first was "
        "upscaled, as .jpg "
        "holds one picture (.gif, .webp, .png and .apng keep the animation)\n"
    ) in capsys.readouterr().err


def test_an_animation_too_large_to_hold_is_refused_with_vsr_run_named(
    tmp_path, weights, capsys, monkeypatch
):
    _save(tmp_path / "in.gif", _frames())
    # 3 frames of 28 x 20: a byte a pixel held for a GIF (1680), six for an RGB APNG (10080).
    monkeypatch.setattr(animation, "HELD_LIMIT_BYTES", 5000)
    assert _run(tmp_path / "in.gif", tmp_path / "out.gif", weights) == 0
    assert _run(tmp_path / "in.gif", tmp_path / "out.png", weights) == 2
    err = capsys.readouterr().err
    assert (
        "in.gif's 3 frames upscaled x2 to 28x20 would need about 0 MiB held for writing "
        f"out.png (the limit is 0 MiB); upscale it as a video: vsr run {tmp_path / 'in.gif'} "
        f"{tmp_path / 'out.mp4'}"  # the paths as given, folders too
    ) in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


def test_an_animated_webp_too_large_to_hold_names_a_gif_not_vsr_run(
    tmp_path, weights, capsys, monkeypatch
):
    # vsr run was named, and called the file empty or damaged: libav's WebP decoder takes
    # stills only. A GIF (a byte a pixel) is named where it fits, with the folders typed.
    (tmp_path / "anim").mkdir()
    source = tmp_path / "anim" / "in.webp"
    _save(source, _frames())
    # 3 frames of 28 x 20: a byte a pixel held for a GIF (1680), nine for an RGB WebP.
    monkeypatch.setattr(animation, "HELD_LIMIT_BYTES", 5000)
    assert _run(source, tmp_path / "out.webp", weights) == 2
    err = capsys.readouterr().err
    assert (
        "(the limit is 0 MiB); vsr run cannot read an animated WebP (libav's WebP decoder "
        "takes stills only); a .gif holds it, in 256 colours a frame: "
        f"vsr image {source} {tmp_path / 'out.gif'}"
    ) in err
    assert not (tmp_path / "out.webp").exists()
    assert _run(source, tmp_path / "out.gif", weights) == 0  # the command named works
    monkeypatch.setattr(animation, "HELD_LIMIT_BYTES", 1000)  # and where no GIF fits either
    assert _run(source, tmp_path / "out.png", weights) == 2
    assert capsys.readouterr().err.endswith(
        "(the limit is 0 MiB); vsr run cannot read an animated WebP (libav's WebP decoder "
        "takes stills only)\n"
    )


def test_vsr_run_says_it_cannot_read_an_animated_webp_and_names_vsr_image(
    tmp_path, weights, capsys
):
    # It said "in.webp: no decodable video frame (empty or damaged)": libav's WebP decoder
    # takes stills only, and every frame of the animation failed to decode.
    _save(tmp_path / "in.webp", _frames())
    run = ["run", str(tmp_path / "in.webp"), str(tmp_path / "out.mp4")]
    assert main([*run, "--weights", str(weights), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: {tmp_path / 'in.webp'} is an animated WebP: vsr run cannot read an "
        "animated WebP (libav's WebP decoder takes stills only); upscale it with vsr image "
        f"{tmp_path / 'in.webp'} {tmp_path / 'in_upscaled.webp'}\n"
    )
    assert _run(tmp_path / "in.webp", tmp_path / "in_upscaled.webp", weights) == 0


def test_a_grey_apng_is_held_as_grey_for_the_memory_check(tmp_path, weights, monkeypatch):
    # Its frames are held as L (or LA) for a .png, a byte (or two) a pixel, twice: counted
    # as RGB, a grey APNG that fits was refused at a third of what it holds (1.8 bytes an
    # output pixel measured for grey noise, against the 6 counted).
    _save(tmp_path / "grey.png", _grey_frames(alpha=False))
    _save(tmp_path / "grey_alpha.png", _grey_frames(alpha=True))
    # 3 frames of 28 x 20 (1680 pixels): 2 bytes a pixel grey, 4 with alpha, 6 as RGB.
    monkeypatch.setattr(animation, "HELD_LIMIT_BYTES", 7000)
    assert _run(tmp_path / "grey.png", tmp_path / "out.png", weights) == 0
    assert _run(tmp_path / "grey_alpha.png", tmp_path / "out_alpha.png", weights) == 0
    with Image.open(tmp_path / "out.png") as image, Image.open(tmp_path / "out_alpha.png") as alpha:
        assert (image.mode, image.n_frames, alpha.mode, alpha.n_frames) == ("L", 3, "LA", 3)
    # Written to a WebP, the grey is R, G and B: held as such, and refused as before.
    assert _run(tmp_path / "grey.png", tmp_path / "out.webp", weights) == 2
    assert not (tmp_path / "out.webp").exists()


def test_a_damaged_animation_is_told_in_one_line_and_leaves_no_output(tmp_path, weights, capsys):
    _save(tmp_path / "whole.gif", _frames(count=3))
    data = (tmp_path / "whole.gif").read_bytes()
    (tmp_path / "in.gif").write_bytes(data[: len(data) * 2 // 3])
    assert _run(tmp_path / "in.gif", tmp_path / "out.gif", weights) == 2
    err = capsys.readouterr().err
    assert "in.gif" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gif", "whole.gif"]


def test_an_existing_animation_output_is_kept_without_overwrite(tmp_path, weights, capsys):
    _save(tmp_path / "in.gif", _frames())
    (tmp_path / "out.gif").write_bytes(b"mine")
    assert _run(tmp_path / "in.gif", tmp_path / "out.gif", weights) == 2
    assert (tmp_path / "out.gif").read_bytes() == b"mine"
    assert _run(tmp_path / "in.gif", tmp_path / "out.gif", weights, "--overwrite") == 0
    assert Image.open(tmp_path / "out.gif").n_frames == 3


def test_a_folder_of_gifs_is_upscaled_into_gifs(tmp_path, weights):
    source = tmp_path / "in"
    source.mkdir()
    _save(source / "moving.gif", _frames(), loop=0)
    assert _run(source, tmp_path / "out", weights) == 0
    out, durations, loop = _read(tmp_path / "out" / "moving.gif")
    assert (len(out), durations, loop) == (3, DURATIONS, 0)


def test_the_api_writes_an_animation_with_its_profile_and_returns_the_first_frame(
    tmp_path, weights
):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    _save(tmp_path / "in.webp", _frames(alpha=True), loop=0, icc_profile=profile)
    upscaler = vsr.load_model(weights, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is lost: no note
        first = vsr.upscale_image(upscaler, tmp_path / "in.webp", tmp_path / "out.png")
    out, durations, _ = _read(tmp_path / "out.png")
    assert len(out) == 3 and durations == DURATIONS
    np.testing.assert_array_equal(first, out[0])
    assert Image.open(tmp_path / "out.png").info["icc_profile"] == profile
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vsr.upscale_image(upscaler, tmp_path / "in.webp", tmp_path / "out.gif")
    assert str(caught[0].message).startswith(
        f"{tmp_path / 'out.gif'} cannot keep the colour profile"
    )


def test_an_animation_opened_with_pillow_is_upscaled_as_its_file_is(tmp_path, weights):
    # np.asarray read only the Pillow image's current frame: into a .gif, one frame was
    # written of three, and into a .jpg without the note its file's path gives.
    _save(tmp_path / "in.gif", _frames(), loop=0)
    upscaler = vsr.load_model(weights, device="cpu")
    notes = {name: [] for name in ("file", "pillow", "third", "bytes")}
    for output in ("file.gif", "file.jpg"):
        vsr.upscale_image(
            upscaler, tmp_path / "in.gif", tmp_path / output, on_note=notes["file"].append
        )
    with Image.open(tmp_path / "in.gif") as image:
        for output in ("pillow.gif", "pillow.jpg"):
            vsr.upscale_image(upscaler, image, tmp_path / output, on_note=notes["pillow"].append)
        image.seek(2)  # a frame chosen: that frame, with a note that it is one of three
        vsr.upscale_image(upscaler, image, tmp_path / "third.png", on_note=notes["third"].append)
    pillow_frames, file_frames = _read(tmp_path / "pillow.gif"), _read(tmp_path / "file.gif")
    assert len(pillow_frames[0]) == 3
    np.testing.assert_array_equal(np.stack(pillow_frames[0]), np.stack(file_frames[0]))
    assert pillow_frames[1:] == file_frames[1:]  # durations, loop
    np.testing.assert_array_equal(
        read_image(tmp_path / "pillow.jpg"), read_image(tmp_path / "file.jpg")
    )
    by_name = [note.replace("pillow.", "file.") for note in notes["pillow"]]
    assert by_name == notes["file"] and "animation of 3 frames" in notes["file"][-1]
    left_out = (
        "only its current one, frame {}, was upscaled (its file's path upscales an animation whole)"
    )
    assert len(_read(tmp_path / "third.png")[0]) == 1
    assert notes["third"] == [
        f"the image holds 3 frames (an animation or pages); {left_out.format(3)}"
    ]
    # Not from a file, the current frame is all there is to read: said so too.
    with Image.open(io.BytesIO((tmp_path / "in.gif").read_bytes())) as image:
        vsr.upscale_image(upscaler, image, tmp_path / "bytes.png", on_note=notes["bytes"].append)
    assert notes["bytes"][-1].endswith(left_out.format(1))


@pytest.mark.parametrize(
    ("source_type", "source_loop", "output_type", "output_loop"),
    [
        # A GIF's count is the repeats after the first showing; WebP's and APNG's the showings.
        (".gif", 2, ".png", 3),
        (".gif", 2, ".webp", 3),
        (".gif", 0, ".webp", 0),
        (".png", 1, ".gif", None),  # shown once: a GIF with no count, not 1 (shown twice)
        (".webp", 3, ".gif", 2),
        (".png", 3, ".webp", 3),
    ],
)
def test_an_animation_is_shown_as_many_times_in_every_type(
    tmp_path, weights, source_type, source_loop, output_type, output_loop
):
    _save(tmp_path / f"in{source_type}", _frames(), loop=source_loop)
    assert _run(tmp_path / f"in{source_type}", tmp_path / f"out{output_type}", weights) == 0
    assert _read(tmp_path / f"out{output_type}")[2] == output_loop


def _save_timed(path, durations: list[float]) -> None:
    pictures = [Image.fromarray(f) for f in _frames(count=len(durations))]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=durations)


def test_gif_durations_keep_the_animation_s_length_in_10_ms_steps(tmp_path, weights):
    # A 30 fps APNG: Pillow truncated 33.3 ms to 30 for a GIF, 10% fast (180 ms, not 200).
    _save_timed(tmp_path / "in.png", [1000 / 30] * 6)
    assert _run(tmp_path / "in.png", tmp_path / "out.gif", weights) == 0
    durations = _read(tmp_path / "out.gif")[1]
    assert len(durations) == 6 and sum(durations) == 200
    assert durations == [30, 40, 30, 30, 40, 30]  # ends at 30, 70, 100 ms: as the README says
    assert _run(tmp_path / "in.png", tmp_path / "out.webp", weights) == 0
    assert sum(_read(tmp_path / "out.webp")[1]) == 200


def test_gif_frames_are_not_made_as_short_as_browsers_slow_down(tmp_path, weights):
    # 60 fps: rounding the end times alone gives frames of 10 ms, which browsers show for
    # 100 ms; 20 ms is the closest a GIF plays it.
    _save_timed(tmp_path / "in.png", [1000 / 60] * 4)
    assert _run(tmp_path / "in.png", tmp_path / "out.gif", weights) == 0
    assert _read(tmp_path / "out.gif")[1] == [20, 20, 20, 20]


def test_a_gif_frame_clear_after_an_opaque_one_is_clear_to_pillow_and_ffmpeg(tmp_path, weights):
    # Frame 0 opaque, frame 1 with a clear corner: frame 0 kept no transparent index, and
    # Pillow and FFmpeg restore a disposed opaque frame to the background colour, so the
    # corner came back opaque (0 clear pixels of 64).
    import av

    frames = _frames(alpha=True)
    for index, frame in enumerate(frames):
        frame[:, :, 3] = 255
        if index == 1:
            frame[:4, :4, 3] = 0
    _save(tmp_path / "in.png", frames)
    assert _run(tmp_path / "in.png", tmp_path / "out.gif", weights) == 0
    upscaler = vsr.load_model(weights, device="cpu")
    clear = [(_as_still(upscaler, f)[:, :, 3] < 128).sum() for f in frames]
    assert clear[0] == 0 and clear[1] > 0
    assert [(f[:, :, 3] == 0).sum() for f in _read(tmp_path / "out.gif")[0]] == clear
    with av.open(str(tmp_path / "out.gif")) as container:
        decoded = [f.to_ndarray(format="rgba") for f in container.decode(video=0)]
    assert [(f[:, :, 3] == 0).sum() for f in decoded] == clear


def _grey_frames(alpha: bool) -> list[np.ndarray]:
    """The frames of _frames as grey (H x W) or grey + alpha (H x W x 2)."""
    frames = []
    for frame in _frames(alpha=alpha):
        grey = np.asarray(Image.fromarray(frame[:, :, :3]).convert("L"))
        frames.append(np.dstack([grey, frame[:, :, 3]]) if alpha else grey)
    return frames


@pytest.mark.parametrize("alpha", [False, True])
def test_a_grey_apng_stays_grey_and_comes_back_as_a_grey_still_does(tmp_path, weights, alpha):
    # Upscaled as RGB, a grey APNG came out an RGB APNG whose R, G and B differed (the
    # network's three channels), and the API returned its first frame H x W x 3.
    frames = _grey_frames(alpha)
    _save(tmp_path / "in.png", frames, loop=0)
    upscaler = vsr.load_model(weights, device="cpu")
    first = vsr.upscale_image(upscaler, tmp_path / "in.png", tmp_path / "out.png")
    expected = [_as_still(upscaler, frame) for frame in frames]
    assert first.shape == ((20, 28, 2) if alpha else (20, 28))  # as a grey still's
    np.testing.assert_array_equal(first, expected[0])
    with Image.open(tmp_path / "out.png") as image:
        assert image.info["loop"] == 0
    modes, stored = _stored(tmp_path / "out.png")
    assert modes == ["LA" if alpha else "L"] * 3
    np.testing.assert_array_equal(stored, np.stack(expected))
    # WebP has no grey: the same grey in R, G and B (where seen: WebP drops it under clear).
    vsr.upscale_image(upscaler, tmp_path / "in.png", tmp_path / "out.webp")
    out, durations, _ = _read(tmp_path / "out.webp")
    assert durations == DURATIONS
    for shown, frame in zip(out, expected, strict=True):
        grey = frame[:, :, 0] if alpha else frame
        seen = frame[:, :, 1] > 0 if alpha else np.ones(grey.shape, bool)
        for channel in range(3):
            np.testing.assert_array_equal(shown[:, :, channel][seen], grey[seen])


def test_an_apng_named_apng_is_written_as_one_and_taken_by_folder_mode(tmp_path, weights):
    # .apng was refused as an output ("unknown image type '.apng'"), and a folder run left
    # x.apng out with a note.
    source = tmp_path / "in"
    source.mkdir()
    _save(source / "moving.apng", _frames(), format="PNG", loop=3)
    assert _run(source / "moving.apng", tmp_path / "one.apng", weights) == 0
    assert _run(source, tmp_path / "out", weights) == 0
    upscaler = vsr.load_model(weights, device="cpu")
    for written in (tmp_path / "one.apng", tmp_path / "out" / "moving.apng"):
        assert Image.open(written).format == "PNG"
        out, durations, loop = _read(written)
        assert (len(out), durations, loop) == (3, DURATIONS, 3)
        for shown, frame in zip(out, _frames(), strict=True):
            np.testing.assert_array_equal(shown[:, :, :3], _as_still(upscaler, frame))


def _with_loop_block_after_the_first_frame(path) -> None:
    """Move the GIF's NETSCAPE block from after the header to before the second frame's
    graphic control extension, where some encoders write it."""
    data = path.read_bytes()
    start = data.index(b"\x21\xff\x0bNETSCAPE2.0")
    block, data = data[start : start + 19], data[:start] + data[start + 19 :]
    second = data.index(b"\x21\xf9\x04", data.index(b"\x21\xf9\x04") + 1)
    path.write_bytes(data[:second] + block + data[second:])


def test_a_gif_loop_count_after_the_first_frame_is_kept(tmp_path, weights, monkeypatch):
    # Pillow reads the block only before the first frame: such a GIF (looping 3 times more
    # in browsers) came out a GIF shown once, a WebP of loop 1.
    from vsr import gif_loop

    _save(tmp_path / "in.gif", _frames(), loop=3)
    _with_loop_block_after_the_first_frame(tmp_path / "in.gif")
    with Image.open(tmp_path / "in.gif") as image:
        assert "loop" not in image.info and image.n_frames == 3
    assert _run(tmp_path / "in.gif", tmp_path / "out.gif", weights) == 0
    assert _run(tmp_path / "in.gif", tmp_path / "out.webp", weights) == 0
    assert _read(tmp_path / "out.gif")[2] == 3
    assert _read(tmp_path / "out.webp")[2] == 4  # the showings: once, and 3 repeats
    # Read a few bytes at a time, the block straddles pieces and is still found.
    monkeypatch.setattr(gif_loop, "_PIECE_BYTES", 7)
    assert gif_loop.gif_loop_count(tmp_path / "in.gif") == 3
    assert gif_loop.gif_loop_count(tmp_path / "out.webp") is None


def _save_grey_16(path, frames: list[np.ndarray], key: int | None = None) -> None:
    """An APNG of 16-bit grey (PNG colour type 0, depth 16) from H x W uint16 frames; with
    ``key``, a tRNS chunk naming that grey transparent (FFmpeg's encoder writes none)."""
    import av

    with av.open(str(path), "w", format="apng") as container:
        stream = container.add_stream("apng", rate=25)
        stream.height, stream.width = frames[0].shape
        stream.pix_fmt = "gray16be"
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="gray16le")
            picture.pts = index
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    if key is not None:
        _add_colour_key(path, (key,))


def _add_colour_key(path, key: tuple[int, ...]) -> None:
    """A tRNS chunk naming the grey (key,) or colour (r, g, b) transparent, added to the
    PNG at `path` (FFmpeg's encoder writes none)."""
    data = path.read_bytes()
    body = b"tRNS" + struct.pack(f">{len(key)}H", *key)
    chunk = struct.pack(">I", 2 * len(key)) + body + struct.pack(">I", zlib.crc32(body))
    after_header = 8 + 25  # the signature and IHDR: tRNS goes before the pixels
    path.write_bytes(data[:after_header] + chunk + data[after_header:])


def test_a_16_bit_grey_apng_keeps_its_transparent_grey(tmp_path, weights):
    # Pillow keeps a 16-bit grey APNG's tRNS key in info but leaves it out of every
    # conversion: the key grey came out opaque, an L APNG without transparency, where the
    # same picture as a still has alpha 0 there.
    y, x = np.mgrid[0:10, 0:14]
    key = 1000
    frames = [
        np.where(x < 4, key, (x * 3000 + y * 2000 + 5000 * i) % 60000 + 2000).astype(np.uint16)
        for i in range(3)
    ]
    _save_grey_16(tmp_path / "in.png", frames, key=key)
    with Image.open(tmp_path / "in.png") as image:
        assert (image.mode, image.info["transparency"]) == ("I;16", key)
    upscaler = vsr.load_model(weights, device="cpu")
    with pytest.warns(UserWarning, match="the 16-bit frames were rounded to 8 bits"):
        first = vsr.upscale_image(upscaler, tmp_path / "in.png", tmp_path / "out.png")
    clear = np.where(x < 4, 0, 65535).astype(np.uint16)
    expected = [_as_still(upscaler, np.dstack([frame, clear])) for frame in frames]
    assert first.shape == (20, 28, 2)
    np.testing.assert_array_equal(first, expected[0])
    # The first frame as a still file comes out the same: its key read as alpha 0.
    np.testing.assert_array_equal(
        read_image(tmp_path / "in.png", keep_grey_alpha=True)[..., 1], clear
    )
    modes, stored = _stored(tmp_path / "out.png")
    assert modes == ["LA"] * 3
    np.testing.assert_array_equal(stored, np.floor(np.stack(expected) / 257 + 0.5))
    assert (stored[:, :, :6, 1] == 0).all()  # the key's columns, x2, clear


def test_a_16_bit_grey_apng_is_upscaled_from_its_16_bits_into_8(tmp_path, weights):
    # Pillow's convert clips 16-bit grey at 255: 99% of such a gradient's pixels were white
    # before the network saw them.
    y, x = np.mgrid[0:10, 0:14]
    frames = [((x * 3000 + y * 2000 + 5000 * i) % 65536).astype(np.uint16) for i in range(3)]
    _save_grey_16(tmp_path / "in.png", frames)
    assert Image.open(tmp_path / "in.png").mode == "I;16"
    upscaler = vsr.load_model(weights, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = vsr.upscale_image(upscaler, tmp_path / "in.png", tmp_path / "out.png")
    expected = [_as_still(upscaler, frame) for frame in frames]
    assert first.dtype == np.uint16  # as a 16-bit grey still comes back
    np.testing.assert_array_equal(first, expected[0])
    modes, stored = _stored(tmp_path / "out.png")
    assert modes == ["L"] * 3
    np.testing.assert_array_equal(stored, np.floor(np.stack(expected) / 257 + 0.5))
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'out.png'} holds 8 bits a sample in an animation: the 16-bit frames were "
        "rounded to 8 bits"
    ]


def _save_grey_alpha_16(path, frames: list[np.ndarray]) -> None:
    """An APNG of 16-bit grey + alpha (PNG colour type 4, depth 16) from H x W x 2 uint16
    frames: PyAV takes no array of that format, so the plane is filled row by row."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", format="apng") as container:
        stream = container.add_stream("apng", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "ya16be"
        for index, frame in enumerate(frames):
            picture = av.VideoFrame(width, height, "ya16be")
            plane, rows = picture.planes[0], frame.astype(">u2").reshape(height, -1)
            data = bytearray(plane.line_size * height)
            for y, row in enumerate(rows):
                data[y * plane.line_size : y * plane.line_size + row.nbytes] = row.tobytes()
            plane.update(bytes(data))
            picture.pts = index
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _save_colour_16(path, frames: list[np.ndarray]) -> None:
    """An APNG of 16-bit RGB (PNG colour type 2, depth 16) from H x W x 3 uint16 frames."""
    import av

    with av.open(str(path), "w", format="apng") as container:
        stream = container.add_stream("apng", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "rgb48be"
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb48le")
            picture.pts = index
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_a_16_bit_colour_apng_keeps_its_transparent_colour(tmp_path, weights):
    # Pillow reads a 16-bit RGB APNG's frames at 8 bits but keeps its tRNS key at 16 and
    # compares the two: the key colour came out opaque, an RGB APNG without transparency.
    y, x = np.mgrid[0:10, 0:14]
    key = (1000, 30000, 50000)
    frames = []
    for index in range(3):
        grey = (x * 3000 + y * 2000 + 5000 * index) % 60000 + 2000
        frame = np.dstack([grey, grey // 2, 65535 - grey]).astype(np.uint16)
        frame[:, :4] = key
        frame[0, 5] = (key[0], key[1], key[2] + 256)  # one 8-bit step off: opaque
        frames.append(frame)
    _save_colour_16(tmp_path / "in.png", frames)
    _add_colour_key(tmp_path / "in.png", key)
    with Image.open(tmp_path / "in.png") as image:
        assert (image.mode, image.info["transparency"]) == ("RGB", key)
    upscaler = vsr.load_model(weights, device="cpu")
    with pytest.warns(UserWarning, match="16-bit frames were read at 8 bits"):
        first = vsr.upscale_image(upscaler, tmp_path / "in.png", tmp_path / "out.png")
    clear = np.where(x < 4, 0, 255).astype(np.uint8)
    expected = [_as_still(upscaler, np.dstack([f >> 8, clear]).astype(np.uint8)) for f in frames]
    assert first.shape == (20, 28, 4)
    np.testing.assert_array_equal(first, expected[0])
    modes, stored = _stored(tmp_path / "out.png")
    assert modes == ["RGBA"] * 3
    np.testing.assert_array_equal(stored, np.stack(expected))
    assert (stored[:, :, :6, 3] == 0).all()  # the key's columns, x2, clear


@pytest.mark.parametrize("layout", ["rgb", "grey_alpha"])
def test_a_16_bit_apng_read_at_8_bits_says_so(tmp_path, weights, layout):
    # Pillow reads a 16-bit RGB or grey + alpha APNG's frames at 8 bits: the output was an
    # 8-bit APNG without a word, where a 16-bit grey one's rounding is a note.
    y, x = np.mgrid[0:10, 0:14]
    grey = [((x * 3000 + y * 2000 + 5000 * i) % 65536).astype(np.uint16) for i in range(3)]
    if layout == "rgb":
        _save_colour_16(tmp_path / "in.png", [np.dstack([g, g // 2, 65535 - g]) for g in grey])
    else:
        opacity = np.where(x < 4, 20000, 65535).astype(np.uint16)
        _save_grey_alpha_16(tmp_path / "in.png", [np.dstack([g, opacity]) for g in grey])
    upscaler = vsr.load_model(weights, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = vsr.upscale_image(upscaler, tmp_path / "in.png", tmp_path / "out.png")
    assert first.dtype == np.uint8
    with Image.open(tmp_path / "out.png") as image:
        assert image.n_frames == 3 and image.mode in ("RGB", "LA")
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'in.png'}'s 16-bit frames were read at 8 bits a sample (Pillow reads a "
        f"colour or grey + alpha APNG so), and {tmp_path / 'out.png'} holds 8 in an animation"
    ]


def test_a_16_bit_grey_apng_with_alpha_stays_grey(tmp_path, weights):
    # Pillow reads 16-bit grey + alpha as RGBA: such an APNG went through the network as
    # colour, came out an RGBA APNG whose R, G and B differed (by up to 133 codes), and the
    # API returned H x W x 4 where the same file as a still gives H x W x 2.
    y, x = np.mgrid[0:10, 0:14]
    frames = []
    for index in range(3):
        grey = (x * 3000 + y * 2000 + 5000 * index) % 65536
        frames.append(np.dstack([grey, np.where(x < 4, 20000, 65535)]).astype(np.uint16))
    _save_grey_alpha_16(tmp_path / "in.png", frames)
    with Image.open(tmp_path / "in.png") as image:
        assert image.mode == "RGBA" and image.n_frames == 3
        read = []  # the 8 bits Pillow reads, as grey + alpha
        for index in range(3):
            image.seek(index)
            read.append(np.asarray(image.convert("LA")))
    upscaler = vsr.load_model(weights, device="cpu")
    with pytest.warns(UserWarning, match="16-bit frames were read at 8 bits"):
        first = vsr.upscale_image(upscaler, tmp_path / "in.png", tmp_path / "out.png")
    expected = [_as_still(upscaler, frame) for frame in read]
    assert first.shape == (20, 28, 2)
    np.testing.assert_array_equal(first, expected[0])
    modes, stored = _stored(tmp_path / "out.png")
    assert modes == ["LA"] * 3
    np.testing.assert_array_equal(stored, np.stack(expected))


def _save_with_fallback(path) -> list[np.ndarray]:
    """An APNG whose default image (a red still, for viewers without APNG) is no frame of its
    animation, the first frame drawn over what is there (blend over) and clear at a corner;
    the frames, their alpha on or off."""
    frames = _frames(alpha=True)
    for frame in frames:
        frame[:, :, 3] = np.where(frame[:, :, 3] == 128, 255, frame[:, :, 3])
    fallback = Image.new("RGBA", (14, 10), (255, 0, 0, 255))
    pictures = [Image.fromarray(f) for f in frames]
    fallback.save(
        path,
        save_all=True,
        append_images=pictures,
        default_image=True,
        duration=DURATIONS,  # the animation's frames' (Pillow gives the fallback none)
        blend=1,
        loop=0,
    )
    return frames


@pytest.mark.parametrize("output_type", [".png", ".gif", ".webp"])
def test_an_apng_s_fallback_is_no_frame_of_the_upscaled_animation(tmp_path, weights, output_type):
    frames = _save_with_fallback(tmp_path / "in.png")
    with Image.open(tmp_path / "in.png") as image:
        assert (image.n_frames, image.default_image) == (4, True)  # Pillow's frame 0
    assert _run(tmp_path / "in.png", tmp_path / f"out{output_type}", weights) == 0
    out, durations, loop = _read(tmp_path / f"out{output_type}")
    assert (len(out), durations, loop) == (3, DURATIONS, 0)  # not the fallback for 0 ms
    # The first frame on a clear canvas, as the APNG spec starts it: the red fallback does
    # not show where it is clear.
    expected = _as_still(vsr.load_model(weights, device="cpu"), frames[0])
    seen = expected[:, :, 3] > 0
    if output_type == ".gif":
        assert _psnr(out[0][:, :, :3][seen], expected[:, :, :3][seen]) > 25
    else:
        np.testing.assert_array_equal(out[0][:, :, 3], expected[:, :, 3])
        np.testing.assert_array_equal(out[0][seen], expected[seen])


def test_an_apng_s_fallback_written_as_a_still_is_said_to_be_the_fallback(
    tmp_path, weights, capsys
):
    _save_with_fallback(tmp_path / "in.png")
    assert _run(tmp_path / "in.png", tmp_path / "out.jpg", weights) == 0
    assert (
        f"vsr: note: {tmp_path / 'in.png'} is an animation of 3 frame(s) with a still "
        "fallback; only the "
        "fallback was upscaled, as .jpg holds one picture"
    ) in capsys.readouterr().err


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _save_apng(
    path,
    size: tuple[int, int],
    frames: list[tuple[np.ndarray, int, int, int]],
    disposals: tuple[int, ...] = (),
):
    """An 8-bit RGBA APNG of `size` (width, height) written chunk by chunk, so that each
    frame is (pixels, x, y, blend_op) as given: Pillow's writer chooses its own rectangles.
    Each frame lasts 100 ms and is disposed of by its dispose_op in `disposals` (NONE, left
    as it is, past their end); it plays forever."""
    width, height = size
    data = b"\x89PNG\r\n\x1a\n"
    data += _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
    data += _png_chunk(b"acTL", struct.pack(">II", len(frames), 0))
    sequence = 0
    for index, (pixels, x, y, blend) in enumerate(frames):
        rows, columns = pixels.shape[:2]
        dispose = disposals[index] if index < len(disposals) else 0
        control = struct.pack(">IIIIIHHBB", sequence, columns, rows, x, y, 1, 10, dispose, blend)
        data += _png_chunk(b"fcTL", control)
        sequence += 1
        scanlines = zlib.compress(b"".join(b"\0" + row.tobytes() for row in pixels))
        if index == 0:
            data += _png_chunk(b"IDAT", scanlines)
        else:
            data += _png_chunk(b"fdAT", struct.pack(">I", sequence) + scanlines)
            sequence += 1
    path.write_bytes(data + _png_chunk(b"IEND", b""))


@pytest.mark.parametrize("output_type", [".png", ".webp"])
def test_an_apng_frame_blended_over_the_last_is_composed_as_the_spec_draws_it(
    tmp_path, weights, output_type
):
    # Pillow's seek pasted an OVER frame through its own alpha, which mixed the alpha as it
    # mixes colour: an alpha-160 rectangle over an opaque area came out alpha 195 (not
    # opaque), and over a clear area alpha 100 (not 160), its colour mixed with the clear
    # pixels' own. The APNG spec draws it with the "over" operator.
    first = np.zeros((10, 14, 4), np.uint8)  # clear at the left (its colour unseen) ...
    first[:, 7:] = (40, 80, 120, 255)  # ... opaque at the right
    sprite = np.zeros((6, 6, 4), np.uint8)
    sprite[:] = (200, 100, 20, 160)  # over both halves
    _save_apng(tmp_path / "in.png", (14, 10), [(first, 0, 0, 0), (sprite, 4, 2, 1)])
    shown = first.copy()
    shown[2:8, 4:7] = (200, 100, 20, 160)  # over clear: the sprite as it is
    # over opaque: (200 * 160 + 40 * 95) / 255 and so on, opaque
    shown[2:8, 7:10] = (140, 93, 57, 255)

    assert _run(tmp_path / "in.png", tmp_path / f"out{output_type}", weights) == 0
    out, _, _ = _read(tmp_path / f"out{output_type}")
    upscaler = vsr.load_model(weights, device="cpu")
    for frame, expected in zip(
        out, [_as_still(upscaler, first), _as_still(upscaler, shown)], strict=True
    ):
        seen = expected[:, :, 3] > 0  # a WebP drops the colour of clear pixels
        np.testing.assert_array_equal(frame[:, :, 3], expected[:, :, 3])
        np.testing.assert_array_equal(frame[seen], expected[seen])


@pytest.mark.parametrize(
    ("dispose_op", "left_under_it"),
    [(1, (0, 0, 0, 0)), (2, (255, 0, 0, 255))],  # BACKGROUND: transparent black; PREVIOUS
    ids=["background", "previous"],
)
def test_an_apng_frame_is_disposed_of_as_its_dispose_op_says(tmp_path, dispose_op, left_under_it):
    # A frame's rectangle, once shown, is cleared (BACKGROUND) or put back as the frame
    # before left it (PREVIOUS); the next frame, drawn elsewhere, shows what was left.
    red = np.zeros((6, 6, 4), np.uint8)
    red[:] = (255, 0, 0, 255)
    blue = np.zeros((2, 2, 4), np.uint8)
    blue[:] = (0, 0, 255, 255)
    green = np.zeros((1, 1, 4), np.uint8)
    green[:] = (0, 255, 0, 255)
    path = tmp_path / "in.png"
    _save_apng(path, (6, 6), [(red, 0, 0, 0), (blue, 2, 2, 0), (green, 0, 0, 0)], (0, dispose_op))
    with_blue = red.copy()
    with_blue[2:4, 2:4] = blue
    after = red.copy()
    after[2:4, 2:4] = left_under_it
    after[0, 0] = green[0, 0]

    with Image.open(path) as image:
        frames = list(animation._composed_frames(image, path, alpha=True))
    assert len(frames) == 3
    for frame, expected in zip(frames, [red, with_blue, after], strict=True):
        np.testing.assert_array_equal(frame, expected)


def _gif_pixels(indices: np.ndarray) -> bytes:
    """A GIF frame's image data (LZW, 8-bit codes): each index a code of its own, a clear
    code before every 250th, so that the code width stays 9 bits."""
    clear, end = 256, 257
    codes = []
    for position, index in enumerate(indices.ravel().tolist()):
        if position % 250 == 0:
            codes.append(clear)
        codes.append(index)
    codes.append(end)
    bits = sum(code << (9 * position) for position, code in enumerate(codes))
    packed = bits.to_bytes((9 * len(codes) + 7) // 8, "little")
    blocks = b"".join(
        bytes([len(packed[at : at + 255])]) + packed[at : at + 255]
        for at in range(0, len(packed), 255)
    )
    return b"\x08" + blocks + b"\x00"


def _save_gif(path, size: tuple[int, int], palette: list, frames: list) -> None:
    """A GIF of `size` (width, height) written block by block, each frame (indices, x, y,
    disposal, transparent index or None), so that its rectangle and disposal are as given;
    each frame lasts 100 ms, and it plays forever."""
    width, height = size
    colours = b"".join(bytes(colour) for colour in palette).ljust(768, b"\0")
    data = b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + colours
    data += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for indices, x, y, disposal, transparent in frames:
        flags = disposal << 2 | (transparent is not None)
        data += b"\x21\xf9\x04" + struct.pack("<BHB", flags, 10, transparent or 0) + b"\0"
        rows, columns = indices.shape
        data += b"\x2c" + struct.pack("<HHHHB", x, y, columns, rows, 0)
        data += _gif_pixels(indices)
    path.write_bytes(data + b"\x3b")


@pytest.mark.parametrize("output_type", [".png", ".webp"])
def test_a_gif_area_disposed_to_background_after_an_opaque_first_frame_is_clear(
    tmp_path, weights, output_type
):
    # Pillow composes a GIF on an RGB canvas after an opaque first frame: an area disposed
    # to background (disposal 2, with a transparent index) came out opaque black, and the
    # animation without alpha, where browsers and FFmpeg show it clear.
    palette = [(0, 0, 0), (40, 80, 120), (200, 100, 20), (0, 0, 0)]  # 3: the clear one
    frames = [
        (np.full((10, 14), 1, np.uint8), 0, 0, 1, None),  # opaque, left as it is
        (np.full((5, 6), 2, np.uint8), 4, 2, 2, 3),  # disposed to background afterwards
        (np.full((3, 3), 2, np.uint8), 0, 0, 1, 3),
    ]
    _save_gif(tmp_path / "in.gif", (14, 10), palette, frames)
    first = np.zeros((10, 14, 4), np.uint8)
    first[:] = (40, 80, 120, 255)
    second = first.copy()
    second[2:7, 4:10] = (200, 100, 20, 255)
    third = first.copy()
    third[2:7, 4:10] = (0, 0, 0, 0)  # the transparent index's colour, clear
    third[0:3, 0:3] = (200, 100, 20, 255)

    assert _run(tmp_path / "in.gif", tmp_path / f"out{output_type}", weights) == 0
    out, _, _ = _read(tmp_path / f"out{output_type}")
    upscaler = vsr.load_model(weights, device="cpu")
    shown = [_as_still(upscaler, frame) for frame in (first, second, third)]
    for frame, expected in zip(out, shown, strict=True):
        seen = expected[:, :, 3] > 0  # a WebP drops the colour of clear pixels
        np.testing.assert_array_equal(frame[:, :, 3], expected[:, :, 3])
        np.testing.assert_array_equal(frame[seen], expected[seen])


def test_no_opaque_pixel_of_a_gif_with_transparency_takes_the_transparent_index():
    # 255 colours for the picture, index 255 for clear: with 256, noise fills every entry
    # and the opaque pixels given entry 255 would be shown clear.
    from vsr.gif_palette import TRANSPARENT_INDEX, gif_picture

    pixels = np.random.default_rng(0).integers(0, 256, (36, 64, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    pixels[:4, :4, 3] = 0
    indices = np.asarray(gif_picture(pixels, transparent=True))
    assert ((indices == TRANSPARENT_INDEX) == (pixels[..., 3] < 128)).all()


def test_gif_frames_of_10_ms_stay_10_ms():
    # The 20 ms floor is for frames that were longer than 10 ms; a source's own 10 ms
    # frames (a 100 fps APNG's) play at that speed in FFmpeg and Pillow.
    from vsr.animation_timing import GIF_STEP_MS, stored_durations

    assert stored_durations([10, 10, 10, 10], GIF_STEP_MS) == [10, 10, 10, 10]


def test_a_gif_repeated_65535_times_is_written_as_a_webp_pillow_can_make(tmp_path):
    # Shown 65536 times, one more than a WebP's 16-bit count: Pillow fails with
    # "ERROR assembling WebP: -1" for 65536.
    from vsr.animation_timing import loop_option, plays_of

    loop = loop_option(plays_of("GIF", 65535), ".webp")
    assert loop == 65535
    _save(tmp_path / "most.webp", _frames(count=2), loop=loop)
    assert _read(tmp_path / "most.webp")[2] == 65535


def test_gif_frames_without_a_stored_delay_are_read_as_0_ms(tmp_path):
    # No delay: viewers apply their own default, so none is invented (and written) for them.
    pictures = [Image.fromarray(frame) for frame in _frames()]
    pictures[0].save(tmp_path / "no_delay.gif", save_all=True, append_images=pictures[1:])
    assert animation.read_animation(tmp_path / "no_delay.gif").durations == (0.0, 0.0, 0.0)


def test_identical_pixels_of_a_gif_picture_take_the_same_palette_entry():
    # Undithered: dithering cost 1.9 dB and makes an animation shimmer frame to frame.
    from vsr.gif_palette import gif_picture

    ramp = np.linspace(0, 255, 64)
    pixels = np.stack([np.tile(ramp, (36, 1)), np.tile(ramp[::-1], (36, 1)),
                       (np.arange(36)[:, None] * 7 + ramp / 2) % 256, np.full((36, 64), 255)],
                      axis=2).astype(np.uint8)  # fmt: skip
    pixels[1] = pixels[0]
    indices = np.asarray(gif_picture(pixels, transparent=False))
    np.testing.assert_array_equal(indices[0], indices[1])


def test_the_unseen_colours_under_clear_gif_pixels_take_no_palette_entry():
    from vsr.gif_palette import gif_picture

    rng = np.random.default_rng(1)
    pixels = np.zeros((36, 64, 4), np.uint8)
    pixels[:, :, :3] = rng.integers(0, 256, (36, 64, 3))
    pixels[:, :32, 3] = 255  # the right half clear: other colours, never shown
    indices = np.asarray(gif_picture(pixels, transparent=True))
    assert len(np.unique(indices[:, :32])) == 255  # every colour entry for the visible half
