"""The network precision a device gets when none is asked for.

CUDA: fp16 (the attention statistics reduced in fp32; vsr.ops.mixed_precision). The CPU:
bf16 where it has bf16 instructions (AVX512_BF16 or AMX), else fp32. With them, oneDNN's
bf16 convolutions ran IMDN x2 1.36x faster than fp32 here (320x180, channels_last, 2 cores
of an AMD EPYC with AVX512_BF16; 2.1x compiled), within 0.0005 dB of fp32 on Set5 with the
official weights and at 63-69 dB PSNR against fp32 output on a 960x540 photograph. Without
them bf16 is emulated: it was 50x slower than fp32 on an AVX2 CPU.
"""

from __future__ import annotations

import functools

import torch


@functools.cache
def cpu_computes_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic in hardware (AVX512_BF16 or AMX) and torch's
    oneDNN can use it. torch names the two only through private helpers; a torch without
    them is taken as a CPU without (fp32, the safe side)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        has = any(getattr(torch.cpu, name)() for name in checks)
    except (AttributeError, RuntimeError):
        return False
    return has and torch.backends.mkldnn.is_available()


def default_precision(device: torch.device) -> str:
    """fp16 on CUDA; on the CPU bf16 where it computes bf16 in hardware, else fp32."""
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_computes_bf16() else "fp32"
