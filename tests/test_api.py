"""The Python API used by code that embeds vsr (the CLI is built on the same calls)."""

import threading

import numpy as np
import pytest
import torch

import vsr
from vsr.default_precision import default_precision
from vsr.imageio import read_image
from vsr.models import create_model, save_weights


@pytest.fixture
def weights_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny_x2.safetensors"
    save_weights(create_model("imdn_rtc", 2), path)
    return path


def frames(n=2, h=12, w=16):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def test_load_model_from_file(weights_file):
    upscaler = vsr.load_model(weights_file, device="cpu")
    assert isinstance(upscaler, vsr.Upscaler)
    assert upscaler.scale == 2 and upscaler.arch == "imdn_rtc"
    assert upscaler.precision == default_precision(torch.device("cpu"))
    assert upscaler.channels_last  # the CPU's faster layout, unless asked otherwise
    assert not vsr.load_model(weights_file, device="cpu", channels_last=False).channels_last


def test_upscale_frames_is_the_network_rounded_to_uint8(weights_file):
    upscaler = vsr.load_model(weights_file, device="cpu")
    batch = frames()
    out = vsr.upscale_frames(upscaler, batch)
    assert out.shape == (2, 24, 32, 3) and out.dtype == np.uint8
    with torch.no_grad():
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255
        expected = upscaler.model(x).clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1)
    assert np.array_equal(out, expected.numpy())
    assert np.array_equal(vsr.upscale_frames(upscaler, torch.from_numpy(batch)), out)


def test_upscale_frames_rejects_wrong_layout(weights_file):
    upscaler = vsr.load_model(weights_file, device="cpu")
    with pytest.raises(vsr.VsrError, match="N x H x W x 3 uint8"):
        vsr.upscale_frames(upscaler, frames().astype(np.float32))
    from vsr.image import upscale_image

    with pytest.raises(vsr.VsrError, match="whole number"):
        upscale_image(upscaler, frames(1)[0], scale=2.5)  # was silently x2
    with pytest.raises(vsr.VsrError, match="H x W or H x W x C"):
        upscale_image(upscaler, np.zeros((0, 4, 3), np.uint8))


def test_upscale_image_file_round_trip(weights_file, tmp_path):
    from vsr.imageio import write_image

    source = tmp_path / "in.png"
    write_image(source, frames(1, 10, 14)[0])
    target = tmp_path / "out.png"
    result = vsr.upscale_image(vsr.load_model(weights_file, device="cpu"), source, target)
    assert result.shape == (20, 28, 3)
    assert np.array_equal(read_image(target), result)


def test_load_model_accepts_a_network():
    torch.manual_seed(0)
    network = create_model("imdn_rtc", 2)
    upscaler = vsr.load_model(network, device="cpu", precision="fp32")
    assert upscaler.scale == 2
    x = torch.rand(1, 3, 8, 10)
    with torch.no_grad():
        torch.testing.assert_close(upscaler(x), network(x).clamp(0, 1), rtol=1e-4, atol=1e-5)


def test_load_model_serves_a_scale_as_upscale_video_does(tmp_path):
    # load_model refused x4 weights for scale=2, which upscale_video serves by shrinking
    # their output, and took IMDN_AS for scale=5, which upscale_video refuses.
    path = tmp_path / "x4.safetensors"
    save_weights(create_model("imdn", 4, features=16, blocks=1), path)
    assert vsr.load_model(path, scale=4, device="cpu").scale == 4
    assert vsr.load_model(path, device="cpu").scale == 4  # no scale asked: the network's own
    shrinking = vsr.load_model(path, scale=2, device="cpu")
    assert shrinking.scale == 4
    assert vsr.upscale_image(shrinking, frames(1, 6, 10)[0]).shape == (12, 20, 3)
    assert vsr.upscale_frames(shrinking, frames(2, 6, 10), scale=3).shape == (2, 18, 30, 3)
    with pytest.raises(vsr.VsrError) as refused:
        vsr.load_model(path, scale=5, device="cpu")
    assert str(refused.value) == (
        "scale 5 is larger than the largest network factor (4); available: 2, 3, 4"
    )
    same_size = vsr.load_model(create_model("imdn_as"), scale=3, device="cpu")
    assert same_size.scale == 1  # IMDN_AS serves x2 to x4 from an enlarged input
    for refusing in (
        lambda: vsr.load_model(create_model("imdn_as"), scale=5, device="cpu"),
        lambda: vsr.upscale_image(same_size, frames(1, 6, 10)[0], scale=5),
    ):
        with pytest.raises(vsr.VsrError, match="scale 5 is larger than the largest network"):
            refusing()


def test_import_and_the_cli_parser_leave_torch_unloaded_until_an_api_name_is_used():
    # `vsr --help` and argument errors answer at once only if torch stays out until needed.
    import subprocess
    import sys

    probe = (
        "import sys, vsr, vsr.cli; vsr.cli.build_parser()\n"
        "print('torch' in sys.modules)\n"
        "from vsr import Upscaler, upscale_video\n"
        "from vsr.engine import upscale_video as direct\n"
        "print('torch' in sys.modules, upscale_video is direct, Upscaler.__module__)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["False", "True True vsr.upscale"]
    assert sorted(vsr.__all__) == sorted(vsr._PUBLIC)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        vsr.nope  # noqa: B018


def test_a_same_size_network_keeps_the_scale_it_was_loaded_for():
    torch.manual_seed(0)
    upscaler = vsr.load_model(create_model("imdn_as"), scale=3, device="cpu")
    assert upscaler.scale == 1  # the network's own factor: what the engine and tiling use
    image = frames(1, 8, 12)[0]
    out = vsr.upscale_image(upscaler, image)
    assert out.shape == (24, 36, 3)  # was (8, 12, 3): the requested x3 was forgotten
    batch = vsr.upscale_frames(upscaler, image[None])
    assert np.array_equal(batch[0], out)  # both enlarge by bicubic first, then the network
    assert vsr.upscale_frames(upscaler, image[None], scale=2).shape == (1, 16, 24, 3)
    assert vsr.upscale_frames(upscaler, frames(0, 8, 12)).shape == (0, 24, 36, 3)


@pytest.mark.parametrize(
    ("scale", "shown"),
    [("2", "str '2'"), (0, "0"), (-2, "-2"), (2.5, "2.5"), (True, "bool True")],
)
def test_a_scale_that_is_not_a_whole_number_is_named_as_such(scale, shown):
    # Was "IMDN upscales by 2, not by 2" for "2" and "no default weights for x0" for 0.
    with pytest.raises(vsr.VsrError, match=f"^scale must be a whole number >= 1, not {shown}$"):
        vsr.load_model(create_model("imdn", 2), scale=scale, device="cpu")
    with pytest.raises(vsr.VsrError, match="whole number"):
        vsr.load_model(None, scale=scale, device="cpu")


def test_a_module_that_is_not_an_upscaling_network_is_a_clear_error():
    with pytest.raises(vsr.VsrError, match="Conv2d is not an upscaling network"):
        vsr.load_model(torch.nn.Conv2d(3, 3, 1), device="cpu")  # was AttributeError


def test_grey_alpha_files_come_back_grey_alpha(weights_file, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    grey_alpha = rng.integers(0, 256, size=(6, 9, 2), dtype=np.uint8)
    Image.fromarray(grey_alpha, mode="LA").save(tmp_path / "la.png")
    upscaler = vsr.load_model(weights_file, device="cpu")
    out = vsr.upscale_image(upscaler, tmp_path / "la.png", tmp_path / "out.png")
    assert out.shape == (12, 18, 2)  # was RGBA
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "LA"
        assert np.array_equal(np.asarray(written), out)
    rgba = vsr.upscale_image(upscaler, grey_alpha[:, :, [0, 0, 0, 1]])
    assert np.array_equal(out[:, :, 1], rgba[:, :, 3])  # alpha: bicubic either way
    luma = rgba[:, :, :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(out[:, :, 0] - luma).max() <= 1.0


def test_an_output_path_that_is_a_folder_is_a_clear_error(weights_file, tmp_path):
    (tmp_path / "x.png").mkdir()
    upscaler = vsr.load_model(weights_file, device="cpu")
    with pytest.raises(vsr.VsrError, match="x.png is a folder"):
        vsr.upscale_image(upscaler, frames(1, 4, 4)[0], tmp_path / "x.png")  # IsADirectoryError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny_x2.safetensors", "x.png"]
    assert list((tmp_path / "x.png").iterdir()) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch": 0}, "batch must be a whole number >= 1, not 0"),  # was: the default
        ({"height": 100.5}, "height must be a whole number of pixels >= 1, not float 100.5"),
        ({"size": "128x96"}, r"size must be \(width, height\)"),  # was ValueError
        ({"settings": {"codec": "libx265"}}, r"settings must be a vsr\.EncodeSettings"),
        ({"scale": "2"}, "scale must be a number, not str '2'"),
    ],
)
def test_upscale_video_refuses_mistaken_arguments_on_one_line(tmp_path, options, message):
    target = tmp_path / "out.mp4"
    with pytest.raises(vsr.VsrError, match=message):
        vsr.upscale_video(tmp_path / "in.mp4", target, progress=False, **options)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_puts_back_the_sigterm_handler_it_installs(capsys):
    # main() may run inside another program (or a test session): it must not leave vsr's
    # handler, which turns SIGTERM into KeyboardInterrupt, behind.
    import signal

    from vsr.cli import main

    before = signal.getsignal(signal.SIGTERM)
    assert main(["weights", "list"]) == 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_embedded_runs_progress_goes_to_its_logger_not_stderr(
    tmp_path, weights_file, caplog, capsys, monkeypatch
):
    import logging

    from media import make_clip

    from vsr import progress

    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)  # a line after every batch
    make_clip(tmp_path / "in.mp4", 32, 24, frames=3)
    with caplog.at_level(logging.INFO, logger="vsr.progress"):
        vsr.upscale_video(tmp_path / "in.mp4", tmp_path / "out.mkv", weights=weights_file)
    lines = [r.getMessage() for r in caplog.records if r.name == "vsr.progress"]
    assert lines[-1].startswith("vsr: in.mp4: frame 3 of 3 (100%), ")
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "vsr.progress")
    assert "frame 3 of 3" not in capsys.readouterr().err


def test_the_api_encodes_at_x264s_own_crf_and_the_cli_at_the_presets(tmp_path, weights):
    import av
    from media import make_clip

    import vsr
    from vsr.cli import main

    source = tmp_path / "in.mkv"
    make_clip(source, 32, 24, frames=2, audio=False)

    def x264_settings(path) -> bytes:  # x264 writes its options into the first packet
        with av.open(str(path)) as container:
            return bytes(next(p for p in container.demux(video=0) if p.size))

    vsr.upscale_video(source, tmp_path / "api.mkv", weights=weights, progress=False)
    assert main(["run", str(source), str(tmp_path / "cli.mkv"), "--weights", str(weights),
                 "--quiet"]) == 0  # fmt: skip
    assert b"crf=23.0" in x264_settings(tmp_path / "api.mkv")
    assert b"crf=18.0" in x264_settings(tmp_path / "cli.mkv")


def test_one_upscaler_serves_several_threads_at_once(weights):
    import vsr

    upscaler = vsr.load_model(weights, device="cpu")
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (2, 12 + 4 * i, 16, 3), dtype=np.uint8) for i in range(4)]
    expected = [vsr.upscale_frames(upscaler, b) for b in batches]
    results: list = [None] * 4
    start = threading.Barrier(4)

    def work(i: int) -> None:
        start.wait(10)
        for _ in range(3):
            results[i] = vsr.upscale_frames(upscaler, batches[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(np.array_equal(r, e) for r, e in zip(results, expected, strict=True))
