"""`vsr bench --model-only --kernels N`: where a network call's time goes, kernel by kernel.

The timing table says how long the network takes; this says which kernels take it, and
how the time splits between convolutions (compute), element-wise work and reductions
(LeakyReLU, the attention's statistics and gate, residual adds: memory traffic) and copies
(concatenation, layout changes). That split decides whether fusing kernels can pay: it
can only win back the element-wise and copy share.

On a GPU the kernels are timed by the profiler on the device (CUPTI); on the CPU the aten
operators' own time is used. A network replayed as a CUDA graph is profiled without the
graph, so that each kernel shows by name; the kernels are the same ones the graph
launches. The kinds come from kernel names, a heuristic that covers cuDNN, CUTLASS,
inductor's Triton kernels and aten's CPU operators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from vsr.native_stderr import native_stderr_silenced

KINDS = ("convolutions", "element-wise and reductions", "copies")
# Name fragments, checked in this order. Inductor's fused point-wise, persistent-reduction
# and reduction kernels are named after what they fused ("..._convolution_leaky_relu_...",
# "..._cat_..."), but they are element-wise work; cuDNN's layout kernels are copies.
_FUSED = ("triton_poi", "triton_per", "triton_red")
_LAYOUT = ("nchwtonhwc", "nhwctonchw", "memcpy", "memset", "transpose")
# cuDNN and CUTLASS implicit GEMMs, inductor's Triton convolution templates and matmuls,
# aten's CPU convolutions, and the batched matrix products of the folded attention (which
# are the blocks' 1x1 fusion convolutions; see vsr.models.blocks.gated_pointwise_conv).
# ("conv" alone would also match "convert".)
_CONVOLUTION = (
    *("convolution", "conv2d", "convolve", "xmma", "gemm", "cutlass", "fprop", "_conv_"),
    *("bmm", "addmm", "aten::mm"),
)
_COPY = ("copy", "cat", "clone", "contiguous")


@dataclass(frozen=True)
class KernelTime:
    """One kernel (or CPU operator), per network call."""

    name: str
    kind: str
    calls: float
    ms: float
    share: float  # of all profiled time

    def to_dict(self) -> dict:
        return asdict(self)


def kind_of(name: str) -> str:
    """Which of KINDS a kernel or operator name belongs to."""
    lower = name.lower()
    if lower.startswith(_FUSED):
        return "element-wise and reductions"
    if any(fragment in lower for fragment in _LAYOUT):
        return "copies"
    if any(fragment in lower for fragment in _CONVOLUTION):
        return "convolutions"
    if any(fragment in lower for fragment in _COPY):
        return "copies"
    return "element-wise and reductions"


def profile_kernels(
    network: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, calls: int = 5
) -> list[KernelTime]:
    """Every kernel of `calls` calls of `network(x)` after one warm-up call, longest first."""
    on_gpu = x.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    with torch.inference_mode():
        network(x)
        if on_gpu:
            torch.cuda.synchronize(x.device)
        trace = profile(activities=activities)
        # Kineto's "USDT: ... profiler_start/stop" lines would land in the middle of the table.
        with native_stderr_silenced():
            trace.start()
        try:
            for _ in range(calls):
                network(x)
            if on_gpu:
                torch.cuda.synchronize(x.device)
        finally:
            with native_stderr_silenced():
                trace.stop()
    if on_gpu:
        # Kernels and device copies only: an operator's device time repeats its kernels'.
        events = [e for e in trace.key_averages() if e.device_type == DeviceType.CUDA]
        spent = {e.key: e.self_device_time_total for e in events}
    else:
        events = list(trace.key_averages())
        spent = {e.key: e.self_cpu_time_total for e in events}
    counts = {e.key: e.count for e in events}
    total = sum(spent.values()) or 1.0
    kernels = [
        KernelTime(
            name=name,
            kind=kind_of(name),
            calls=counts[name] / calls,
            ms=micros / 1000.0 / calls,
            share=micros / total,
        )
        for name, micros in spent.items()
        if micros > 0
    ]
    return sorted(kernels, key=lambda k: k.ms, reverse=True)


def shares_by_kind(kernels: list[KernelTime]) -> dict[str, float]:
    """The share of the profiled time of each of KINDS."""
    return {kind: sum(k.share for k in kernels if k.kind == kind) for kind in KINDS}


def format_kernels(kernels: list[KernelTime], top: int, title: str) -> str:
    """The `top` longest kernels, then the split by kind."""
    lines = [title, "", f"{'share':>6}  {'ms/call':>8}  {'calls':>5}  kernel"]
    for kernel in kernels[:top]:
        name = kernel.name if len(kernel.name) <= 90 else kernel.name[:87] + "..."
        lines.append(
            f"{kernel.share:6.1%}  {kernel.ms:8.3f}  {kernel.calls:5.0f}  {name} ({kernel.kind})"
        )
    if len(kernels) > top:
        rest = kernels[top:]
        lines.append(
            f"{sum(k.share for k in rest):6.1%}  {sum(k.ms for k in rest):8.3f}  "
            f"{sum(k.calls for k in rest):5.0f}  {len(rest)} others"
        )
    split = ", ".join(f"{kind} {share:.1%}" for kind, share in shares_by_kind(kernels).items())
    lines.append(f"by kind: {split}")
    return "\n".join(lines)
