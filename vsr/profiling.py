"""What makes a network fast or slow: parameters, operations, activations, depth, memory, time.

The paper's third contribution is this study, so `vsr profile` measures the same things for
any network of the family:

- FLOPs come from torch's own ``FlopCounterMode``, which counts a convolution as two FLOPs
  per multiply-add; multiply-adds are therefore FLOPs / 2. Element-wise work (activations,
  the CCA statistics, additions) is not counted, as in the paper's Multi-Adds.
- Activations are the elements of every convolution output (batch 1), the convention of the
  efficient super-resolution challenges.
- Depth is the number of convolutions on the longest path from input to output. Every
  tensor is tagged with the convolutions behind it while the forward runs, so branches,
  concatenations and the CCA's 1x1 convolutions (they sit on the path: the gate multiplies
  the features) are followed as they really are.
- Peak memory is ``torch.cuda.max_memory_allocated`` over one pass on a GPU (the weights and
  input included). The CPU allocator keeps no such statistic: there it is how far the
  process's resident set rose over one pass, from the figure the freed heap was handed back
  at (the pass's working memory, its activations and output; Linux's VmHWM, reset through
  /proc/self/clear_refs, and None on another system). `memory_measure` names which.
- The counts need shapes only, so they run on a copy of the network on the meta device.
- Time is the median over repeats after warm-up: CUDA events on a GPU, the wall clock on
  the CPU.
"""

from __future__ import annotations

import copy
import gc
import math
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree
from torch.utils.flop_counter import FlopCounterMode

from vsr.errors import VsrError
from vsr.models import create_model
from vsr.profile_sizes import SIZE_ORDER
from vsr.telemetry import (
    available_host_memory_bytes,
    hand_back_free_heap,
    proc_status_kib,
    reset_peak_rss,
    usable_host_memory_bytes,
)
from vsr.text_table import text_table
from vsr.upscale import PRECISIONS, device_guard

# The six networks of the paper and its repository, in the order of the side-by-side table.
KNOWN_MODELS: tuple[tuple[str, str, int], ...] = (
    ("IMDN x2", "imdn", 2),
    ("IMDN x3", "imdn", 3),
    ("IMDN x4", "imdn", 4),
    ("IMDN_AS", "imdn_as", 1),
    ("IMDN_RTC", "imdn_rtc", 2),
    ("IMDN_RTE", "imdn_rte", 2),
)


_PRECISION_NAMES = {dtype: name for name, dtype in PRECISIONS.items()}  # dtype -> "fp32"


@dataclass
class ModelProfile:
    """The measurements of one network at one input size on one device."""

    name: str
    arch: str
    scale: int
    device: str
    input_size: tuple[int, int]  # height, width of the network input
    output_size: tuple[int, int]
    parameters: int
    flops: int
    macs: int
    activations: int
    convolutions: int
    depth: int
    peak_memory_bytes: int | None
    time_ms: float
    timing: str
    notes: list[str] = field(default_factory=list)
    weights: str | None = None  # the file profiled, when there was one
    memory_measure: str = ""  # what peak_memory_bytes is (vsr.profiling.memory_measure)
    # The arithmetic timed: the network as loaded, fp32 (vsr run's default on a GPU is fp16,
    # and on a CPU with bf16 instructions bf16: the table says which this was).
    precision: str = "fp32"

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: sizes width first, as every report of vsr's writes them (the
        fields here are the tensor's height, width)."""
        record = asdict(self)
        for key in ("input_size", "output_size"):
            record[key] = list(reversed(record[key]))
        return {**record, "sizes": SIZE_ORDER}


def model_label(model: nn.Module) -> str:
    """A human name such as "IMDN x4" or "IMDN_RTC"."""
    return network_label(model.arch, model.scale)


def network_label(arch: str, scale: int | None) -> str:
    """model_label of a network of ``arch`` at ``scale`` (None: same-size), unbuilt."""
    if arch == "imdn":
        return f"IMDN x{scale}"
    label = arch.upper()
    return label if scale in (None, 1, 2) else f"{label} x{scale}"


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """Total FLOPs of one forward pass, as torch's FlopCounterMode counts them."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return int(counter.get_total_flops())


def conv_census(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(activations, convolutions): output elements of every Conv2d call, and the calls."""
    outputs: list[int] = []

    def record(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        outputs.append(output.numel())

    handles = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return sum(outputs), len(outputs)


class _ConvDepthMode(TorchFunctionMode):
    """Tags every tensor a torch function returns with the most convolutions behind it."""

    ATTRIBUTE = "_vsr_conv_depth"
    CONVOLUTIONS = frozenset({torch.conv2d, torch.nn.functional.conv2d})

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        inputs = [t for t in pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        depth = max((getattr(t, self.ATTRIBUTE, 0) for t in inputs), default=0)
        depth += 1 if func in self.CONVOLUTIONS else 0
        for tensor in pytree.tree_leaves(result):
            if isinstance(tensor, torch.Tensor):
                setattr(tensor, self.ATTRIBUTE, depth)
        return result


def conv_depth(model: nn.Module, x: torch.Tensor) -> int:
    """Convolutions on the longest path from the input to the output."""
    with torch.no_grad(), _ConvDepthMode():
        output = model(x.clone())  # a fresh tensor: no tag left from an earlier call
    return getattr(output, _ConvDepthMode.ATTRIBUTE, 0)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(model: nn.Module, x: torch.Tensor, warmup: int, repeats: int) -> tuple[float, str]:
    """Median milliseconds of one forward pass, and how it was timed."""
    device = x.device
    # The events record on the current device's stream: it must be x's, not device 0's.
    with torch.inference_mode(), device_guard(device):
        for _ in range(warmup):
            model(x)
        _synchronize(device)
        samples = []
        for _ in range(repeats):
            if device.type == "cuda":
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                model(x)
                end.record()
                end.synchronize()
                samples.append(start.elapsed_time(end))
            else:
                begin = time.perf_counter()
                model(x)
                samples.append((time.perf_counter() - begin) * 1000.0)
    clock = "CUDA events" if device.type == "cuda" else "wall clock"
    how = f"{clock}, median of {repeats} after {warmup} warm-up"
    if device.type == "cpu":
        how += f", {torch.get_num_threads()} threads"
    return statistics.median(samples), how


def peak_memory(model: nn.Module, x: torch.Tensor) -> int | None:
    """Peak bytes of one forward pass: on a GPU allocated at the peak (weights and input
    included), on the CPU the rise of the resident set (cpu_forward_growth). On the CPU
    call it after a warm-up, whose one-off costs (oneDNN's packed weights) would count."""
    if x.device.type != "cuda":
        return cpu_forward_growth(model, x)
    _synchronize(x.device)
    torch.cuda.reset_peak_memory_stats(x.device)
    with torch.inference_mode():
        model(x)
    _synchronize(x.device)
    return int(torch.cuda.max_memory_allocated(x.device))


def memory_measure(device: torch.device) -> str:
    """What peak_memory measures on `device`."""
    return "cuda max_memory_allocated" if device.type == "cuda" else "peak RSS growth"


def cpu_forward_growth(net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> int | None:
    """Bytes the resident set rose by during one forward pass; None where unmeasurable."""
    gc.collect()
    # Not glibc: nothing is handed back, and an earlier pass's free heap may hide part of
    # this one's growth (the figure can read low, never high).
    hand_back_free_heap()
    before = proc_status_kib("VmRSS")
    if before is None or not reset_peak_rss():
        return None
    with torch.inference_mode():
        net(x)
    peak = proc_status_kib("VmHWM")
    return None if peak is None else max(0, peak - before) * 1024


def input_for_output(model: nn.Module, width: int, height: int) -> tuple[int, int]:
    """The (height, width) input that makes `model` give at least a width x height output,
    the smallest its input multiple allows: the paper counts Multi-Adds at a 1280x720
    output, which IMDN x3 reaches from 427x240 (1281x720)."""
    scale = getattr(model, "scale", 1)
    multiple = getattr(model, "input_multiple", 1)

    def side(output: int) -> int:
        return math.ceil(math.ceil(output / scale) / multiple) * multiple

    return side(height), side(width)


def check_profile_input(
    model: nn.Module,
    size: tuple[int, int],
    device: torch.device,
    label: str,
    flag: str = "--size",
) -> None:
    """Refuse an input ``size`` (height, width) that ``model`` cannot take, or that would not
    fit in memory, before anything is measured: `vsr profile --all` checks every network
    first, so that the sixth's refusal does not come after minutes of timing the others.
    `flag`: the option the size came from, which a refusal names (--size or --output)."""
    height, width = size
    multiple = getattr(model, "input_multiple", 1)
    if height % multiple or width % multiple:
        raise VsrError(
            f"{label} needs input sides that are multiples of {multiple}; got {width}x{height}"
        )
    check_memory(model, size, device, label, flag=flag)


def profile_model(
    model: nn.Module,
    size: tuple[int, int] = (256, 256),
    device: torch.device | str = "cpu",
    name: str | None = None,
    warmup: int | None = None,
    repeats: int | None = None,
    weights: str | None = None,
    flag: str = "--size",
) -> ModelProfile:
    """Measure ``model`` on a random 1 x 3 x H x W input of ``size`` (the network input);
    `flag` as check_profile_input's."""
    device = torch.device(device)
    label = name or model_label(model)
    check_profile_input(model, size, device, label, flag)
    height, width = size
    if warmup is None:
        warmup = 5 if device.type == "cuda" else 1
    if repeats is None:
        repeats = 20 if device.type == "cuda" else 3
    # The counts depend on shapes only, so they run on the meta device: no arithmetic.
    shadow = copy.deepcopy(model).to("meta").eval()
    probe = torch.empty(1, 3, height, width, device="meta")
    flops = count_flops(shadow, probe)
    activations, convolutions = conv_census(shadow, probe)
    depth = conv_depth(shadow, probe)
    with torch.no_grad():
        out_height, out_width = shadow(probe).shape[-2:]

    # A copy on the device, dropped afterwards: `--all` profiles six networks in turn, and
    # one left on the GPU would count in the next one's max_memory_allocated.
    network = copy.deepcopy(model).to(device).eval()
    generator = torch.Generator().manual_seed(0)
    try:
        x = torch.rand(1, 3, height, width, generator=generator).to(device)
        if device.type == "cuda":
            memory = peak_memory(network, x)
        milliseconds, timing = time_forward(network, x, warmup=warmup, repeats=repeats)
        if device.type != "cuda":  # after the warm-up, which packs oneDNN's weights
            memory = peak_memory(network, x)
    except RuntimeError as error:  # torch.OutOfMemoryError is one too
        if not is_allocation_failure(error):
            raise
        raise VsrError(
            f"{label} on a {width}x{height} input ran out of memory on {device}; "
            f"use a smaller {flag}"
        ) from None
    finally:
        del network
        if device.type == "cuda":
            torch.cuda.empty_cache()
    notes = [] if memory is not None else ["peak memory not measured: the CPU's needs Linux"]
    return ModelProfile(
        name=label,
        arch=model.arch,
        scale=model.scale,
        device=str(device),
        input_size=(height, width),
        output_size=(int(out_height), int(out_width)),
        parameters=count_parameters(model),
        flops=flops,
        macs=flops // 2,
        activations=activations,
        convolutions=convolutions,
        depth=depth,
        peak_memory_bytes=memory,
        time_ms=round(milliseconds, 3),
        timing=timing,
        notes=notes,
        precision=_PRECISION_NAMES.get(next(model.parameters()).dtype, "fp32"),
        weights=weights,
        memory_measure=memory_measure(device),
    )


def device_memory(device: torch.device) -> int:
    """Bytes of memory the device has in all (the host's RAM for the CPU, or its container's
    share)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[1]
    return usable_host_memory_bytes() or 0


def memory_free_for(device: torch.device) -> tuple[int, str]:
    """Bytes a measurement may take now, and the words for them: on the CPU what the system
    can give without swapping (a size that fits the total can still be killed when other
    processes hold much of it); on a GPU all of its memory, since a GPU that runs out only
    fails the call."""
    if device.type == "cpu":
        free = available_host_memory_bytes()
        if free is not None:
            return min(free, device_memory(device) or free), "available"
    return device_memory(device), "in all"


def check_memory(
    model: nn.Module,
    size: tuple[int, int],
    device: torch.device,
    label: str,
    dtype: torch.dtype = torch.float32,
    frames: int = 1,
    flag: str = "--size",
) -> None:
    """Refuse an input that cannot fit before allocating it: a huge --size would otherwise
    end in an allocator traceback, or worse, in the kernel killing the process."""
    from vsr.upscale import memory_needed

    height, width = size
    needed = memory_needed(model, dtype, device, frames * height * width)
    available, words = memory_free_for(device)
    if needed > available:
        raise VsrError(
            f"{label} on a {width}x{height} input needs about {_human(needed, 'B')} of "
            f"memory and {device} has {_human(available, 'B')} {words}; use a smaller {flag}"
        )


def is_allocation_failure(error: RuntimeError) -> bool:
    message = str(error).lower()
    return isinstance(error, torch.OutOfMemoryError) or any(
        phrase in message for phrase in ("out of memory", "can't allocate", "cannot allocate")
    )


# The size in an allocator's failure: the CPU's "you tried to allocate 204800000000 bytes",
# CUDA's "Tried to allocate 190.73 GiB".
_ASKED = re.compile(r"tried to allocate ([0-9.]+) ?(bytes|[KMGT]iB)", re.IGNORECASE)
_BINARY_UNITS = {"bytes": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def allocation_asked(error: RuntimeError) -> str | None:
    """The memory the allocation that failed asked for, in words ("204.80 GB"), or None where
    the allocator's error does not say."""
    found = _ASKED.search(str(error))
    if found is None:
        return None
    return _human(float(found[1]) * _BINARY_UNITS[found[2].lower()], "B")


def known_models() -> list[tuple[str, nn.Module]]:
    """The six networks of the paper, randomly initialised (the figures do not depend on
    the weights)."""
    return [(name, create_model(arch, scale)) for name, arch, scale in KNOWN_MODELS]


def _human(value: float, unit: str = "") -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:g} {unit}".strip()


# The tables' line on what their memory figures are.
MEMORY_WORDS = {
    "cuda max_memory_allocated": "the most allocated on the GPU during one pass, weights and "
    "input included",
    "peak RSS growth": "how far the process's resident set rose during one pass (its "
    "activations and output; not the weights and input)",
}


def format_table(profiles: list[ModelProfile]) -> str:
    """The profiles side by side: one column per network, one row per measurement."""
    rows: list[tuple[str, list[str]]] = [
        # Width x height, as frame sizes are written everywhere else in vsr.
        ("input", [f"{p.input_size[1]}x{p.input_size[0]}" for p in profiles]),
        ("output", [f"{p.output_size[1]}x{p.output_size[0]}" for p in profiles]),
        ("parameters", [f"{p.parameters:,}" for p in profiles]),
        ("FLOPs", [_human(p.flops) for p in profiles]),
        ("multiply-adds", [_human(p.macs) for p in profiles]),
        ("activations", [_human(p.activations) for p in profiles]),
        ("convolutions", [str(p.convolutions) for p in profiles]),
        ("depth (convs)", [str(p.depth) for p in profiles]),
        (
            "peak memory",
            [
                "n/a" if p.peak_memory_bytes is None else _human(p.peak_memory_bytes, "B")
                for p in profiles
            ],
        ),
        (
            f"time ({profiles[0].device}, {profiles[0].precision})",
            [f"{p.time_ms:.1f} ms" for p in profiles],
        ),
    ]
    header = ["", *[p.name for p in profiles]]
    body = [[label, *cells] for label, cells in rows]
    lines = text_table(header, body)
    lines.append(f"time: {profiles[0].timing}")
    words = MEMORY_WORDS.get(profiles[0].memory_measure)
    if words:
        lines.append(f"memory: {words}")
    return "\n".join(lines)
