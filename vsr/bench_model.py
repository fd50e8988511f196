"""`vsr bench --model-only`: the network alone, over input sizes and precisions.

No decoding, no colour conversion, no encoding: one random batch of the given size is fed
to the network again and again. On a GPU each call is timed with CUDA events after a
warm-up (cuDNN's algorithm search, compilation and graph capture happen in the warm-up and
are excluded; compile time is reported on its own). On the CPU the wall clock is used and
the median of the repeats is reported.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from vsr.bench_kernels import KernelTime, profile_kernels
from vsr.errors import VsrError, first_line
from vsr.ops.compiled import packages_on
from vsr.ops.cuda_graph import GraphedNetwork
from vsr.ops.mixed_precision import input_dtype
from vsr.profiling import (
    MEMORY_WORDS,
    check_memory,
    is_allocation_failure,
    memory_measure,
    peak_memory,
    time_forward,
)
from vsr.text_table import text_table
from vsr.upscale import (
    PRECISIONS,
    check_precision,
    device_guard,
    emulated_on,
    emulation_note,
    inference_copy,
    with_speed_switches,
)

# Common names for frame sizes: (width, height).
NAMED_SIZES = {
    "360p": (640, 360),
    "540p": (960, 540),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "2160p": (3840, 2160),
    "4k": (3840, 2160),
}


def parse_frame_size(text: str) -> tuple[int, int]:
    """ "540p", "4k", "960x540" (width x height) or "256" (a square) -> (width, height)."""
    name = text.strip().lower()
    if name in NAMED_SIZES:
        return NAMED_SIZES[name]
    square = re.fullmatch(r"(\d+)", name)
    if square and int(square[1]) > 0:
        return int(square[1]), int(square[1])
    pair = re.fullmatch(r"(\d+)\s*[x:]\s*(\d+)", name)
    if pair and int(pair[1]) > 0 and int(pair[2]) > 0:
        return int(pair[1]), int(pair[2])
    raise VsrError(f"size {text!r} not understood; use 540p, 1080p, 4k, WIDTHxHEIGHT or one number")


def parse_frame_sizes(text: str) -> list[tuple[str, tuple[int, int]]]:
    """ "540p,1080p" -> [("540p", (960, 540)), ("1080p", (1920, 1080))]."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise VsrError("--sizes needs at least one size, e.g. 540p,1080p")
    return [(name, parse_frame_size(name)) for name in names]


@dataclass
class ModelTiming:
    """One network at one input size and precision."""

    model: str
    size: str
    width: int
    height: int
    precision: str
    batch: int
    channels_last: bool
    compiled: bool
    cuda_graphs: bool
    ms_per_call: float | None
    ms_per_frame: float | None
    fps: float | None
    peak_memory_bytes: int | None
    compile_seconds: float | None
    timing: str
    error: str | None = None
    kernels: list[KernelTime] | None = None  # with `kernels`: the profile, longest first
    folded: bool = True  # channel attention folded into the fusion conv, as the engine runs
    jit: bool = False  # compiled by torch.compile in the process, not a kept package
    graphs_ignored: bool = False  # CUDA graphs asked for on the CPU
    memory_measure: str = ""  # what peak_memory_bytes is (vsr.profiling.memory_measure)
    # bf16 or fp16 computed in software on this CPU (vsr.upscale.emulated_on): the table
    # says so, since its figures are tens to hundreds of times fp32's.
    emulated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # kernels become dicts too


def prepare_network(
    model: nn.Module,
    device: torch.device,
    precision: str,
    channels_last: bool = False,
    compile: bool | str = False,
    cuda_graphs: bool = False,
    fold: bool = True,
    jit: bool = False,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A copy of `model` on `device` in `precision`, optionally channels_last, compiled and
    replayed as CUDA graphs, the way the engine's Upscaler runs it (`fold=False` keeps the
    channel attention unfolded, the reference form; `jit` compiles with torch.compile
    instead of a package built ahead of time, as the engine always does on CUDA)."""
    on_gpu = device.type == "cuda"
    net, _ = inference_copy(model, device, PRECISIONS[precision], channels_last, fold)
    ahead_of_time = packages_on(device) and not jit
    return with_speed_switches(net, compile, cuda_graphs and on_gpu, ahead_of_time=ahead_of_time)


def _first_call_seconds(net: nn.Module, x: torch.Tensor) -> float:
    """Seconds of one call including any compilation for this shape."""
    start = time.perf_counter()
    with torch.inference_mode(), device_guard(x.device):  # a package loads on the current one
        net(x)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    return time.perf_counter() - start


def time_model(
    model: nn.Module,
    sizes: list[tuple[str, tuple[int, int]]],
    precisions: list[str],
    device: torch.device,
    batch: int = 1,
    channels_last: bool = False,
    compile: bool | str = False,
    cuda_graphs: bool = False,
    warmup: int | None = None,
    repeats: int | None = None,
    name: str | None = None,
    kernels: bool = False,
    fold: bool = True,
    jit: bool = False,
) -> list[ModelTiming]:
    """Time `model` on random batch x 3 x H x W inputs, every size in every precision;
    `kernels` also profiles each one kernel by kernel (vsr.bench_kernels)."""
    if batch < 1:
        raise VsrError(f"--batch must be at least 1, not {batch}")
    on_gpu = device.type == "cuda"
    warmup = warmup if warmup is not None else (10 if on_gpu else 1)
    repeats = repeats if repeats is not None else (50 if on_gpu else 3)
    label = name or f"{getattr(model, 'arch', type(model).__name__).upper()} x{model.scale}"
    _check_every_size(model, sizes, precisions, device, batch, label)
    results = []
    for precision in precisions:
        net = prepare_network(
            model, device, precision, channels_last, compile, cuda_graphs, fold, jit
        )
        for size_name, (width, height) in sizes:
            x = _random_input(batch, width, height, device, precision, channels_last)
            entry = dict(
                model=label,
                size=size_name,
                width=width,
                height=height,
                precision=precision,
                batch=batch,
                channels_last=channels_last,
                compiled=bool(compile),
                cuda_graphs=cuda_graphs and on_gpu,
                folded=fold,
                jit=bool(compile) and (jit or not packages_on(device)),
                graphs_ignored=cuda_graphs and not on_gpu,
                memory_measure=memory_measure(device),
                emulated=emulated_on(device, precision),
            )
            first_call_apart = bool(compile) or (cuda_graphs and on_gpu)
            try:
                compile_s, memory, ms, how = _measure(
                    net, x, device, first_call_apart, warmup, repeats
                )
            except Exception as error:
                # Out of memory, or a compiler the machine lacks: a row that says so, and the
                # other sizes and precisions are still measured.
                if isinstance(error, torch.cuda.OutOfMemoryError):
                    torch.cuda.empty_cache()
                    failure = "out of GPU memory"
                elif isinstance(error, RuntimeError) and is_allocation_failure(error):
                    failure = "out of memory"  # the CPU's allocator: a row, not a traceback
                elif compile:
                    failure = f"compiling failed: {first_line(error, limit=120)}"
                else:
                    raise
                results.append(_failed_timing(entry, failure))
                continue
            finally:
                # Each size's graphs go with its row: kept, they counted in the later sizes'
                # peak memory, their pools could leave a later size out of memory, and past
                # MAX_GRAPHS sizes the later rows ran eagerly under "graphs".
                if isinstance(net, GraphedNetwork):
                    net.release()
            results.append(
                ModelTiming(
                    **entry,
                    kernels=_kernel_profile(net, x) if kernels else None,
                    ms_per_call=round(ms, 3),
                    ms_per_frame=round(ms / batch, 3),
                    fps=round(1000.0 * batch / ms, 2) if ms > 0 else None,
                    peak_memory_bytes=memory,
                    compile_seconds=None if compile_s is None else round(compile_s, 2),
                    timing=how,
                )
            )
            del x
    return results


def _check_every_size(
    model: nn.Module,
    sizes: list[tuple[str, tuple[int, int]]],
    precisions: list[str],
    device: torch.device,
    batch: int,
    label: str,
) -> None:
    """Refuse a precision, a size the network cannot take, or one the device cannot hold."""
    multiple = getattr(model, "input_multiple", 1)
    # Every size checked before anything is timed: 99999x99999 was an allocator traceback,
    # and a later size too large threw the earlier sizes' timings away.
    for precision in precisions:
        check_precision(precision)
        for size_name, (width, height) in sizes:
            if width % multiple or height % multiple:
                raise VsrError(f"{label} needs sides that are multiples of {multiple}: {size_name}")
            flag = "--sizes or --batch" if batch > 1 else "--sizes"
            check_memory(model, (height, width), device, label, PRECISIONS[precision], batch, flag)


def _random_input(
    batch: int,
    width: int,
    height: int,
    device: torch.device,
    precision: str,
    channels_last: bool,
) -> torch.Tensor:
    """The same seeded random batch for every network and precision."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, height, width, generator=generator)
    x = x.to(device, input_dtype(PRECISIONS[precision]))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _measure(
    net: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    device: torch.device,
    first_call_apart: bool,
    warmup: int,
    repeats: int,
) -> tuple[float | None, int | None, float, str]:
    """(seconds of the first call, compiling or capturing, where `first_call_apart`; peak
    memory; milliseconds per call; how they were timed)."""
    on_gpu = device.type == "cuda"
    compile_s, memory = None, None
    if first_call_apart:
        # A CUDA graph allocates its pool while it is captured, not on replay:
        # the first call's peak counts too.
        if on_gpu:
            torch.cuda.reset_peak_memory_stats(device)
        compile_s = _first_call_seconds(net, x)
        memory = torch.cuda.max_memory_allocated(device) if on_gpu else None
    if on_gpu:
        replay = peak_memory(net, x)
        memory = replay if memory is None or replay is None else max(memory, replay)
    ms, how = time_forward(net, x, warmup=warmup, repeats=repeats)
    if not on_gpu:  # after the warm-up, whose one-off costs (oneDNN's packing) would count
        memory = peak_memory(net, x)
    return compile_s, memory, ms, how


def _failed_timing(entry: dict[str, Any], failure: str) -> ModelTiming:
    return ModelTiming(
        **entry,
        ms_per_call=None,
        ms_per_frame=None,
        fps=None,
        peak_memory_bytes=None,
        compile_seconds=None,
        timing="",
        error=failure,
    )


def _kernel_profile(
    net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> list[KernelTime]:
    # Outside a CUDA graph, so that each kernel shows by name.
    inner = net.network if isinstance(net, GraphedNetwork) else net
    return profile_kernels(inner, x)


def format_model_timings(timings: list[ModelTiming], title: str) -> str:
    """The table `vsr bench --model-only` prints."""
    columns = ["size", "input", "network", "batch", "ms/frame", "fps", "peak mem", "warm-up s"]
    body = []
    for t in timings:
        memory = "n/a" if t.peak_memory_bytes is None else f"{t.peak_memory_bytes / 2**20:.0f} MiB"
        body.append(
            [
                t.size,
                f"{t.width}x{t.height}",
                t.precision
                + (" CL" if t.channels_last else "")
                + (" compiled" if t.compiled else "")
                + (" (jit)" if t.jit else "")
                + (" graphs" if t.cuda_graphs else "")
                + ("" if t.folded else " unfolded"),
                str(t.batch),
                "failed" if t.error else f"{t.ms_per_frame:.2f}",
                "" if t.fps is None else f"{t.fps:.2f}",
                memory,
                "-" if t.compile_seconds is None else f"{t.compile_seconds:.1f}",
            ]
        )
    lines = [title, "", *text_table(columns, body, right_aligned_from=0)]
    timed = next((t.timing for t in timings if t.timing), "")
    if timed:
        lines.append(f"time: {timed}; CL = channels_last")
        words = MEMORY_WORDS.get(timings[0].memory_measure)
        if words:
            lines.append(f"peak mem: {words}")
    lines += [f"failed: {t.size} {t.precision}: {t.error}" for t in timings if t.error]
    lines += [f"note: {note}" for note in model_timing_notes([t.to_dict() for t in timings])]
    return "\n".join(lines)


def model_timing_notes(timings: list[dict[str, Any]]) -> list[str]:
    """What qualifies the figures of `vsr bench --model-only`, from its JSON rows: for the
    table it prints and for `vsr report`'s page, which left them out (fp16 emulated on the
    CPU, its figures a hundred times fp32's, with no word)."""
    notes = []
    if any(t.get("graphs_ignored") for t in timings):
        notes.append("CUDA graphs need a GPU: ignored on the CPU")
    # Once a precision, not once a size: the engine's rows say it once too.
    for precision in dict.fromkeys(str(t.get("precision")) for t in timings if t.get("emulated")):
        notes.append(emulation_note(precision))
    return notes
