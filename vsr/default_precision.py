"""The network precision a device gets when none is asked for.

CUDA: fp16 (the attention statistics reduced in fp32; vsr.ops.mixed_precision). The CPU:
bf16 where it has bf16 instructions (AVX512_BF16 or AMX), else fp32. With them, oneDNN's
bf16 convolutions ran IMDN x2 1.36x faster than fp32 here (320x180, channels_last, 2 cores
of an AMD EPYC with AVX512_BF16; 2.1x compiled), within 0.0005 dB of fp32 on Set5 with the
official weights, and 56-65 dB PSNR against fp32 output on Set5 and Set14 images. Without
them bf16 is emulated: it was 50x slower than fp32 on an AVX2 CPU.
"""

from __future__ import annotations

import functools
import os

import torch


@functools.cache
def cpu_computes_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic in hardware (AVX512_BF16 or AMX) and torch's
    oneDNN may use it. torch names the two only through private helpers; a torch without
    them is taken as a CPU without (fp32, the safe side)."""
    usable = torch.backends.mkldnn.is_available() and _onednn_isa_cap() is None
    return _has_bf16_instructions() and usable


def _has_bf16_instructions() -> bool:
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(getattr(torch.cpu, name)() for name in checks)
    except (AttributeError, RuntimeError):
        return False


def why_bf16_is_emulated() -> str:
    """Why bf16 is computed in software on this CPU (cpu_computes_bf16 is False), as a note
    says it: a CPU with the instructions is kept from them by the environment or the build."""
    cap = _onednn_isa_cap()
    if _has_bf16_instructions() and cap is not None:
        return (
            f"{cap} keeps oneDNN from this CPU's bf16 instructions: it runs slower than fp32 "
            "(2.2x under AVX512_CORE, 4.8x under AVX2 on an AMD EPYC with AVX512_BF16)"
        )
    if _has_bf16_instructions() and not torch.backends.mkldnn.is_available():
        return (
            "this torch is built without oneDNN, which runs bf16 on this CPU's bf16 "
            "instructions: it runs several times slower than fp32"
        )
    return (
        "this CPU has no bf16 instructions (AVX512_BF16 or AMX): it runs several times "
        "slower than fp32 (50x on an AVX2 CPU)"
    )


@functools.cache
def cpu_computes_fp16() -> bool:
    """Whether this CPU has fp16 arithmetic in hardware (AVX512_FP16 or AMX-FP16). torch
    tells AMX-FP16 only; AVX512_FP16 is read from Linux's CPU flags. Without either,
    fp16 is emulated: IMDN x2 at 128x128 ran 220x slower than fp32 on 2 cores of an AMD
    EPYC with AVX-512 BF16 but no FP16 (44.3 s a frame against 0.20 s, vsr bench
    --model-only --sizes 128 --precision fp32,fp16 --device cpu)."""
    try:
        if torch.cpu._is_amx_fp16_supported():
            return True
    except (AttributeError, RuntimeError):
        pass
    try:
        with open("/proc/cpuinfo") as info:
            return any(line.startswith("flags") and "avx512_fp16" in line.split() for line in info)
    except OSError:  # not Linux: unknown, and no note is better than a wrong one
        return True


# oneDNN's instruction sets with bf16 arithmetic, as ONEDNN_MAX_CPU_ISA names them
# (AVX512_CORE_BF16, AVX512_CORE_AMX, AVX10_1_512 = AVX512_CORE_FP16, ...).
_BF16_ISA_WORDS = ("BF16", "AMX", "FP16", "AVX10")


def _onednn_isa_cap() -> str | None:
    """The environment's cap on oneDNN below bf16 instructions ("NAME=VALUE"), if any: with
    ONEDNN_MAX_CPU_ISA=AVX512_CORE its bf16 convolutions are emulated, 2.2x slower than
    fp32 (4.8x under AVX2)."""
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        given = os.environ.get(name, "").strip()
        cap = given.upper()
        if cap and cap not in ("ALL", "DEFAULT") and not any(w in cap for w in _BF16_ISA_WORDS):
            return f"{name}={given}"
    return None


def default_precision(device: torch.device) -> str:
    """fp16 on CUDA; on the CPU bf16 where it computes bf16 in hardware (and oneDNN is not
    switched off: torch.backends.mkldnn.enabled), else fp32."""
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_computes_bf16() and torch.backends.mkldnn.enabled else "fp32"
