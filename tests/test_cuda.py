"""The CUDA paths: graphs, compile, precisions, the engine's streams, training steps.

Skipped without a GPU (CI has none); run on a GPU machine with `python -m pytest
tests/test_cuda.py`. Each check compares the fast path with a plain fp32 computation of the
same thing, on real image content where precision is the question.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_path
from media import make_clip

from vsr.errors import VsrError
from vsr.imageio import read_image, write_image
from vsr.metrics import psnr
from vsr.models import create_model, load_weights, save_weights
from vsr.ops.cuda_graph import GraphedNetwork
from vsr.runner import upscale_video
from vsr.upscale import Upscaler
from vsr.video.reader import VideoReader

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "imdn_x2.safetensors"
CUDA = torch.device("cuda")


def real_picture(width: int, height: int) -> torch.Tensor:
    """1 x 3 x H x W in [0, 1] made of Set5 images tiled (real content, not noise)."""
    folder = shared_path("datasets", "benchmark", "Set5", "HR")
    tiles = [read_image(p)[:, :, :3] for p in sorted(folder.iterdir())]
    canvas = np.zeros((height, width, 3), np.uint8)
    y = x = row = 0
    for tile in tiles * 20:
        h, w = min(tile.shape[0], height - y), min(tile.shape[1], width - x)
        canvas[y : y + h, x : x + w] = tile[:h, :w]
        x, row = x + w, max(row, h)
        if x >= width:
            x, y, row = 0, y + row, 0
        if y >= height:
            break
    return torch.from_numpy(canvas).permute(2, 0, 1)[None].float().div(255)


def test_a_graph_replay_equals_the_network_and_its_results_are_not_overwritten():
    torch.manual_seed(0)
    net = create_model("imdn", 2).to(CUDA).eval()
    graphed = GraphedNetwork(net)
    first, second = torch.rand(2, 1, 3, 40, 56, device=CUDA)
    with torch.no_grad():
        expected_first, expected_second = net(first), net(second)
        out_first = graphed(first)  # captures
        out_first_again = graphed(first)  # replays
        out_second = graphed(second)
    torch.testing.assert_close(out_first, expected_first, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out_first_again, expected_first, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out_second, expected_second, rtol=1e-4, atol=1e-4)
    assert len(graphed.graphs) == 1


@pytest.mark.parametrize(
    "precision, switches",
    [
        ("fp16", {}),
        ("bf16", {}),
        ("fp16", {"channels_last": True}),
        ("fp16", {"channels_last": True, "cuda_graphs": True}),
        ("fp16", {"channels_last": True, "compile": True}),
    ],
    # Named, so that `-k "not fp16-cl-compile"` (tests/gpu_checks.sh) can leave this row out.
    ids=["fp16", "bf16", "fp16-cl", "fp16-cl-graphs", "fp16-cl-compile"],
)
def test_fast_paths_stay_within_50_db_of_fp32_on_a_1080p_frame(precision, switches):
    model = load_weights(WEIGHTS)
    frame = real_picture(1920, 1080)
    with torch.no_grad():  # the network as defined: fp32, attention not folded
        reference = model.to(CUDA)(frame.to(CUDA)).clamp(0, 1)
    fast = Upscaler(model, device=CUDA, precision=precision, **switches)
    for _ in range(2):  # the second call replays what the first compiled or captured
        out = fast(frame)
    assert torch.isfinite(out).all()
    to_uint8 = lambda t: t[0].mul(255).round().byte().permute(1, 2, 0).cpu().numpy()  # noqa: E731
    assert psnr(to_uint8(out), to_uint8(reference)) >= 50.0


def test_the_engine_on_cuda_writes_what_the_cpu_engine_writes(tmp_path):
    source = tmp_path / "in.mkv"
    make_clip(source, 96, 64, frames=11, vfr=True)
    outputs = {}
    for name, device, extra in [
        # fp32 named: the CPU's default is bf16 where it has bf16 instructions (1 code off
        # fp32 on this clip), which would eat the tolerance below.
        ("cpu", "cpu", {"precision": "fp32"}),
        ("cuda", "cuda", {"batch": 4, "precision": "fp32"}),
        ("graphs", "cuda", {"batch": 4, "precision": "fp32", "cuda_graphs": True}),
    ]:
        outputs[name] = tmp_path / f"{name}.mkv"
        report = upscale_video(
            source,
            outputs[name],
            weights=str(WEIGHTS),
            device=device,
            settings=_ffv1(),
            progress=False,
            **extra,
        )
        assert report.frames == 11
        # The network's device time (CUDA events) beside the host's time to queue it.
        model = report.stages["model"]
        assert ("device_busy_s" in model) == (device == "cuda")
        if device == "cuda":
            assert 0 < model["device_busy_s"] < report.wall_seconds
    reference = _decode(outputs["cpu"])
    for name in ("cuda", "graphs"):
        frames = _decode(outputs[name])
        assert [pts for pts, _ in frames] == [pts for pts, _ in reference]
        for (_, planes), (_, expected) in zip(frames, reference, strict=True):
            for plane, plane_expected in zip(planes, expected, strict=True):
                difference = np.abs(plane.astype(int) - plane_expected.astype(int))
                assert difference.max() <= 1


def test_the_engine_on_cuda_refuses_nan_output_and_leaves_no_file(tmp_path):
    source = tmp_path / "in.mkv"
    make_clip(source, 64, 48, frames=6)
    model = create_model("imdn", 2)
    with torch.no_grad():
        model.upsampler[0].bias.fill_(float("nan"))
    target = tmp_path / "out.mkv"
    with pytest.raises(VsrError, match="NaN"):
        upscale_video(source, target, weights=model, device="cuda", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


def test_a_few_training_steps_on_cuda_in_bf16_and_channels_last(tmp_path):
    from vsr.train.config import load_config
    from vsr.train.loop import train

    images = tmp_path / "hr"
    images.mkdir()
    picture = real_picture(256, 192)[0].permute(1, 2, 0).mul(255).byte().numpy()
    for index in range(3):
        write_image(images / f"{index}.png", np.roll(picture, 40 * index, axis=1))
    save_weights(create_model("imdn", 2), tmp_path / "start.safetensors")
    config = load_config(
        None,
        {
            "train_dir": str(images),
            "out": str(tmp_path / "run"),
            "steps": 6,
            "batch": 4,
            "patch": 64,
            "log_every": 3,
            "save_every": 3,
            "device": "cuda",
            "channels_last": True,
        },
    )
    model = train(config)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    trained = load_weights(tmp_path / "run" / "last.safetensors")
    assert trained.scale == 2


def _ffv1():
    from vsr.video.writer import EncodeSettings

    return EncodeSettings(codec="ffv1", pix_fmt="yuv444p")


def _decode(path: Path) -> list[tuple[int, tuple[np.ndarray, ...]]]:
    with VideoReader(path) as reader:
        return [(frame.pts, tuple(p.copy() for p in frame.planes)) for frame in reader.frames()]


def test_the_kernel_profile_times_device_kernels():
    from vsr.bench_kernels import profile_kernels, shares_by_kind

    model = create_model("imdn", 2).to(CUDA, torch.float16).eval()
    x = torch.rand(1, 3, 128, 128, device=CUDA, dtype=torch.float16)
    kernels = profile_kernels(model, x, calls=3)
    assert kernels and not any(k.name.startswith("aten::") for k in kernels)  # kernels only
    assert sum(k.share for k in kernels) == pytest.approx(1.0)
    # An H100 measured convolutions 27%, element-wise work 44% and copies 29% (cuDNN's
    # NCHW <-> NHWC layout kernels) at this size: each kind is found, none dominates.
    split = shares_by_kind(kernels)
    assert all(share > 0.1 for share in split.values()), split


def test_a_compiled_network_on_cuda_is_torch_compiles_replayed_as_our_graph(tmp_path, monkeypatch):
    # No package on CUDA: loading one crashed the process on an H100 (vsr.ops.compiled).
    from torch._dynamo.eval_frame import OptimizedModule

    monkeypatch.setenv("VSR_CACHE", str(tmp_path))
    torch.manual_seed(0)
    model = create_model("imdn", 2, features=16, blocks=1)
    frames = real_picture(96, 64).repeat(2, 1, 1, 1)
    eager = Upscaler(model, device=CUDA, precision="fp16", channels_last=True)(frames)
    # A mode that captures CUDA graphs gets ours around the compiled network (vsr.upscale).
    fast = Upscaler(model, device=CUDA, precision="fp16", channels_last=True,
                    compile="reduce-overhead")  # fmt: skip
    assert isinstance(fast._run, GraphedNetwork)
    assert isinstance(fast._run.network, OptimizedModule)
    for _ in range(5):  # compiles, warms up, captures, then replays
        torch.testing.assert_close(fast(frames), eager, rtol=2e-3, atol=2e-3)
    assert len(fast._run.graphs) == 1
    assert not list(tmp_path.rglob("*.pt2"))
    assert fast.notes == []


def test_an_upscaler_called_from_another_thread_runs_on_its_own_device():
    # The current device is per thread: a service's worker thread has device 0 current,
    # and the upscaler must still run (graphs, events) on the device it was made for.
    import threading

    last = torch.device(f"cuda:{torch.cuda.device_count() - 1}")
    upscaler = Upscaler(load_weights(WEIGHTS), device=last, precision="fp32", cuda_graphs=True)
    x = torch.rand(2, 3, 24, 32)
    expected = upscaler(x).cpu()
    results: list[torch.Tensor] = []
    worker = threading.Thread(target=lambda: results.append(upscaler(x).cpu()))
    worker.start()
    worker.join()
    assert torch.equal(results[0], expected)
    assert torch.cuda.current_device() == 0  # the host's choice, untouched
