"""Shared test fixtures: the location of ../shared (skipped cleanly when it is absent), and
small real weights for tests that run whole clips."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from vsr.models import create_model, save_weights

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("VSR_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path inside ../shared, or skip the calling test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared ({path} not found)")
    return path


def python_child(script: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`script` run by this Python in a process of its own (a fresh heap, its own limits),
    with the repository and tests/ ahead of the caller's PYTHONPATH; its text output."""
    path = [str(REPO), str(REPO / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def failing_compiler(message: str) -> Callable[..., Callable[[torch.Tensor], torch.Tensor]]:
    """A stand-in for vsr.ops.compiled.compile_network whose networks raise ``message`` when
    called, as on a machine without a working compiler (patch it into vsr.upscale)."""

    def compile_network(network, mode=None, ahead_of_time=True, builds=True):
        def call(x):
            raise RuntimeError(message)

        return call

    return compile_network


@pytest.fixture(autouse=True, scope="session")
def private_vsr_cache(tmp_path_factory):
    """The suite's own VSR_CACHE: compiled networks and downloads never land in the
    user's ~/.cache/vsr (tests that need another one still set it themselves)."""
    before = os.environ.get("VSR_CACHE")
    os.environ["VSR_CACHE"] = str(tmp_path_factory.mktemp("vsr-cache"))
    yield
    if before is None:
        os.environ.pop("VSR_CACHE", None)
    else:
        os.environ["VSR_CACHE"] = before


@pytest.fixture
def shared() -> Path:
    return shared_path()


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> Path:
    """A seeded random IMDN_RTC x2 (20k parameters) saved as our safetensors: fast on a CPU,
    and any bug shows in its output."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "rtc_x2.safetensors"
    save_weights(create_model("imdn_rtc", 2), path)
    return path


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One torch thread for the whole suite: its networks are tiny, and on two cores shared
    with other jobs OpenMP spinning on two threads made whole clips ~50x slower (a tiled
    IMDN call: 6.0 s against 1.2 s at load 2.5)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def pipe_plans(monkeypatch) -> list:
    """The plans of the ffmpeg pipes writers start, once PyAV cannot open their encoder and
    an ffmpeg binary is there (no process is started)."""
    from vsr.video import encoder_choice, ffmpeg_pipe

    started: list = []

    class FakePipe:
        def __init__(self, plan) -> None:
            started.append(plan)

        def abort(self) -> None:
            pass

    monkeypatch.setattr(encoder_choice, "trial_open", lambda *a: "Function not implemented")
    monkeypatch.setattr(ffmpeg_pipe, "ffmpeg_available", lambda: True)
    monkeypatch.setattr(ffmpeg_pipe, "FfmpegPipe", FakePipe)
    return started
