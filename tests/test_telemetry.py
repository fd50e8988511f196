"""NVML sampling, against a stand-in NVML (this machine has no NVIDIA GPU): the device is
found by its UUID, and a MIG instance, whose utilisation NVML does not report, gives its
memory and no invented utilisation."""

from __future__ import annotations

import sys
import time
import types
from types import SimpleNamespace

import pytest
import torch

from vsr import telemetry

UUID = "1f2e3d4c-0000-1111-2222-333344445555"


def fake_nvml(handles: dict[str, str], utilisation: bool) -> types.ModuleType:
    """An NVML whose devices are `handles` (UUID -> handle) and that reports utilisation
    or, as for a MIG instance, refuses it."""
    nvml = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    class NVMLError_NotSupported(NVMLError):  # noqa: N801 (pynvml's own name)
        pass

    def by_uuid(name: str) -> str:
        if name not in handles:
            raise NVMLError("not found")
        return handles[name]

    def rates(handle: str) -> SimpleNamespace:
        if not utilisation:
            raise NVMLError_NotSupported("not supported")
        return SimpleNamespace(gpu=87, memory=40)

    nvml.NVMLError, nvml.NVMLError_NotSupported = NVMLError, NVMLError_NotSupported
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetHandleByUUID = by_uuid
    nvml.nvmlDeviceGetHandleByIndex = lambda index: "by-index"
    nvml.nvmlDeviceGetUtilizationRates = rates
    nvml.nvmlDeviceGetMemoryInfo = lambda handle: SimpleNamespace(used=3 * 2**30)
    return nvml


@pytest.fixture
def cuda_uuid(monkeypatch) -> None:
    properties = SimpleNamespace(uuid=UUID)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: properties)


def sample(monkeypatch, nvml: types.ModuleType) -> telemetry.GpuSampler:
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    with telemetry.GpuSampler(0, interval_s=0.01) as sampler:
        deadline = time.monotonic() + 5
        while len(sampler.samples) < 3:
            # A sampler that stopped early used to hang the suite here.
            assert sampler._thread.is_alive(), f"stopped after {len(sampler.samples)} samples"
            assert time.monotonic() < deadline, "fewer than 3 samples in 5 s"
            time.sleep(0.01)
    return sampler


def test_a_whole_gpu_is_found_by_its_uuid_and_sampled(monkeypatch, cuda_uuid) -> None:
    nvml = fake_nvml({f"GPU-{UUID}": "gpu"}, utilisation=True)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    assert telemetry._nvml_handle(0) == "gpu"
    summary = sample(monkeypatch, nvml).summary()
    assert summary["gpu_util_mean_percent"] == 87.0
    assert summary["memory_used_max_bytes"] == 3 * 2**30


def test_a_mig_instance_gives_its_memory_and_no_utilisation(monkeypatch, cuda_uuid) -> None:
    # The "GPU-" handle of the same UUID does not exist: only the MIG instance's does. It
    # was looked up as "GPU-<uuid>", then by index (the whole GPU, another device).
    nvml = fake_nvml({f"MIG-{UUID}": "mig"}, utilisation=False)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    assert telemetry._nvml_handle(0) == "mig"
    sampler = sample(monkeypatch, nvml)
    assert all(s["gpu_util_percent"] is None for s in sampler.samples)
    summary = sampler.summary()
    # Without the fallback the sampler stopped at its first sample and the run had none.
    assert summary["samples"] >= 3 and summary["memory_used_max_bytes"] == 3 * 2**30
    assert summary["gpu_util_mean_percent"] is None and summary["gpu_util_max_percent"] is None


def test_device_time_is_reported_beside_the_hosts_for_the_stages_that_have_it() -> None:
    clock = telemetry.StageClock()
    with clock.working("model"):
        pass
    clock.add_device_time("model", 0.25)
    clock.add_device_time("model", 0.5)
    stages = clock.to_dict(wall_seconds=2.0)
    assert stages["model"]["device_busy_s"] == 0.75
    assert stages["model"]["busy_s"] < 0.75  # the host only queued the work
    assert all("device_busy_s" not in stages[s] for s in telemetry.STAGES if s != "model")


def counted(nvml: types.ModuleType, name: str, refuse: bool) -> list[str]:
    """Make `nvml`'s function `name` note every call, and refuse each as not supported
    where `refuse` says so (else answer as before)."""
    asked: list[str] = []
    answer = getattr(nvml, name)

    def ask(handle: str):
        asked.append(handle)
        if refuse:
            raise nvml.NVMLError_NotSupported("not supported")
        return answer(handle)

    setattr(nvml, name, ask)
    return asked


def test_an_nvml_that_refuses_the_memory_still_gives_the_utilisation(
    monkeypatch, cuda_uuid
) -> None:
    # Memory refused as not supported: its first refusal was taken as the utilisation's, the
    # second ended the sampler, and a GPU that tells its utilisation had no samples. Each
    # reading is refused on its own now: the memory is asked once, and left out.
    nvml = fake_nvml({f"GPU-{UUID}": "gpu"}, utilisation=True)
    asked = counted(nvml, "nvmlDeviceGetMemoryInfo", refuse=True)
    sampler = sample(monkeypatch, nvml)
    assert asked == ["gpu"]
    assert all(s["memory_used_bytes"] is None for s in sampler.samples)
    summary = sampler.summary()
    assert summary["samples"] >= 3 and summary["gpu_util_mean_percent"] == 87.0
    assert summary["memory_used_max_bytes"] is None


def test_an_nvml_that_refuses_both_readings_is_not_asked_again_and_again(
    monkeypatch, cuda_uuid
) -> None:
    # Asking again at once would spin a core beside the engine's threads for the whole run.
    nvml = fake_nvml({f"GPU-{UUID}": "gpu"}, utilisation=False)
    asked = counted(nvml, "nvmlDeviceGetMemoryInfo", refuse=True)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    with telemetry.GpuSampler(0, interval_s=0.05) as sampler:
        time.sleep(0.2)
        assert not sampler._thread.is_alive()
    assert asked == ["gpu"]
    assert sampler.samples == [] and sampler.summary() is None


def test_a_mig_instance_keeps_its_first_memory_reading(monkeypatch, cuda_uuid) -> None:
    # The utilisation's refusal threw away the memory read beside it: one reading more
    # than the samples kept.
    nvml = fake_nvml({f"MIG-{UUID}": "mig"}, utilisation=False)
    asked = counted(nvml, "nvmlDeviceGetMemoryInfo", refuse=False)
    sampler = sample(monkeypatch, nvml)
    assert sampler.summary()["samples"] == len(asked)


def test_a_run_of_no_measurable_length_gives_every_stage_a_zero_share_of_its_wall() -> None:
    # A wall of 0 s (a clock too coarse for a tiny clip) divided by zero.
    clock = telemetry.StageClock()
    with clock.working("decode"):
        pass
    stages = clock.to_dict(wall_seconds=0.0)
    assert {stage: figures["busy_share_of_wall"] for stage, figures in stages.items()} == (
        dict.fromkeys(telemetry.STAGES, 0.0)
    )
