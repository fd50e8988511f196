"""`vsr bench --pressure`: the seed paper's pressure test, time and memory against input size.

IMDN and IMDN_RTC (randomly initialised: neither figure depends on the weights) run whole
frames of growing size, without tiling, so the curve shows where each network stops
fitting. Memory is what can be measured honestly on the device:

- on a GPU, ``torch.cuda.max_memory_allocated`` over one forward pass (weights and input
  included), the figure the paper's memory table reports;
- on Linux CPUs, the growth of the resident set during one forward pass: the kernel's
  high-water mark (VmHWM) is reset through /proc/self/clear_refs just before the pass and
  read after it, with freed heap memory handed back to the system first so that an earlier
  size's leftovers do not hide this one's need. Elsewhere it is null.
"""

from __future__ import annotations

import copy
import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsr.atomic_file import atomic_output
from vsr.models import create_model
from vsr.ops.mixed_precision import cast_network
from vsr.profiling import check_memory, memory_measure, peak_memory, time_forward
from vsr.text_table import text_table
from vsr.upscale import PRECISIONS, check_precision

PRESSURE_SIZES = "128,256,512,800,1080p,4k"
CSV_FIELDS = (
    "model",
    "size",
    "width",
    "height",
    "pixels",
    "precision",
    "time_ms",
    "memory_bytes",
    "memory_measure",
    "status",
)


@dataclass
class PressurePoint:
    model: str
    size: str
    width: int
    height: int
    pixels: int
    precision: str
    time_ms: float | None
    memory_bytes: int | None
    memory_measure: str
    status: str


def pressure_models(scale: int) -> list[tuple[str, nn.Module]]:
    """IMDN at the requested scale and IMDN_RTC (x2 in the paper)."""
    torch.manual_seed(0)
    return [
        (f"IMDN x{scale}", create_model("imdn", scale)),
        ("IMDN_RTC x2", create_model("imdn_rtc", 2)),
    ]


def run_pressure(
    sizes: list[tuple[str, tuple[int, int]]],
    device: torch.device,
    scale: int = 2,
    precision: str = "fp32",
    max_size: int | None = None,
    models: list[tuple[str, nn.Module]] | None = None,
    warmup: int | None = None,
    repeats: int | None = None,
) -> list[PressurePoint]:
    """Time and memory of each model at each size (sizes with a side above `max_size` are
    listed as skipped)."""
    check_precision(precision)
    on_gpu = device.type == "cuda"
    warmup = warmup if warmup is not None else (5 if on_gpu else 1)
    repeats = repeats if repeats is not None else (20 if on_gpu else 3)
    measure = memory_measure(device)
    models = models or pressure_models(scale)
    # A GPU's out-of-memory error is caught, and is the row this test is for: where each
    # network stops fitting (a 24 GB card was refused the whole default run by the CPU's
    # check, 4K's estimate 34 GB).
    if not on_gpu:
        _check_the_cpu_holds_every_size(models, sizes, device, precision, max_size)
    points = []
    for label, model in models:
        # A copy, dropped after its sizes: a model left on the GPU would count in the next
        # one's max_memory_allocated (IMDN's 2.8 MB of weights in IMDN_RTC's figures).
        net = copy.deepcopy(model).to(device).eval()
        net_input = cast_network(net, PRECISIONS[precision])
        for size_name, (width, height) in sizes:
            point = dict(
                model=label,
                size=size_name,
                width=width,
                height=height,
                pixels=width * height,
                precision=precision,
                memory_measure=measure,
            )
            if max_size is not None and max(width, height) > max_size:
                points.append(
                    PressurePoint(
                        **point,
                        time_ms=None,
                        memory_bytes=None,
                        status=f"skipped: larger than --max-size {max_size}",
                    )  # fmt: skip
                )
            else:
                points.append(_measured_point(net, net_input, point, device, warmup, repeats))
        del net
        if on_gpu:
            torch.cuda.empty_cache()
    return points


def _check_the_cpu_holds_every_size(
    models: list[tuple[str, nn.Module]],
    sizes: list[tuple[str, tuple[int, int]]],
    device: torch.device,
    precision: str,
    max_size: int | None,
) -> None:
    # Every size is checked before anything is timed: one the machine cannot hold was an
    # allocator traceback (or the kernel killing the process) after minutes of timing the
    # smaller ones, whose figures were lost with it. The default 4K takes about 42 GB for
    # IMDN x2 in fp32 (5 KB a pixel, as measured at 512x512).
    for label, model in models:
        for _, (width, height) in sizes:
            if max_size is None or max(width, height) <= max_size:
                check_memory(
                    model, (height, width), device, label, PRECISIONS[precision],
                    flag="--sizes or --max-size",
                )  # fmt: skip


def _measured_point(
    net: nn.Module,
    net_input: torch.dtype,
    point: dict[str, Any],
    device: torch.device,
    warmup: int,
    repeats: int,
) -> PressurePoint:
    """`point` timed and measured on a random frame of its size, or the GPU's out-of-memory
    row."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, point["height"], point["width"], generator=generator)
    x = x.to(device, net_input)
    try:
        # Timed first: its warm-up pays the one-off costs of a network and a shape
        # (on the CPU, oneDNN's packed weights and primitives: 16 MiB against 2 for
        # IMDN at 16x16), which would otherwise read as the first size's memory.
        ms, _how = time_forward(net, x, warmup=warmup, repeats=repeats)
        memory = peak_memory(net, x)
    except torch.cuda.OutOfMemoryError:
        del x
        torch.cuda.empty_cache()
        return PressurePoint(**point, time_ms=None, memory_bytes=None, status="out of GPU memory")
    del x
    return PressurePoint(**point, time_ms=round(ms, 3), memory_bytes=memory, status="ok")


def write_pressure_csv(points: list[PressurePoint], path: str | Path) -> None:
    """The points as CSV, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for point in points:
            writer.writerow({k: "" if v is None else v for k, v in asdict(point).items()})


def plot_pressure(points: list[PressurePoint], path: str | Path, device_label: str) -> None:
    """Two panels, time and memory against input pixels, one line per model (PNG)."""
    from vsr.plots import figure_png, new_figure

    figure = new_figure(10.0, 4.0)
    time_axes, memory_axes = figure.subplots(1, 2)
    for label in dict.fromkeys(p.model for p in points):
        # By pixels, whatever order --sizes gave: a line drawn in that order ran back.
        done = sorted(
            (p for p in points if p.model == label and p.status == "ok"), key=lambda p: p.pixels
        )
        pixels = [p.pixels for p in done]
        time_axes.plot(pixels, [p.time_ms for p in done], marker="o", label=label)
        with_memory = [p for p in done if p.memory_bytes is not None]
        memory_axes.plot(
            [p.pixels for p in with_memory],
            [p.memory_bytes / 2**20 for p in with_memory],
            marker="o",
            label=label,
        )
    # Sizes of one pixel count share a tick (the axis is pixels): it names them all.
    sizes: dict[int, list[str]] = {}
    for point in points:
        if point.status == "ok" and point.size not in sizes.setdefault(point.pixels, []):
            sizes[point.pixels].append(point.size)
    for axes, unit in ((time_axes, "time per frame (ms)"), (memory_axes, "memory (MiB)")):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xticks(list(sizes), ["\n".join(names) for names in sizes.values()])
        axes.minorticks_off()
        axes.set_xlabel("input size")
        axes.set_ylabel(unit)
        axes.grid(True, alpha=0.3)
        axes.legend()
    measure = points[0].memory_measure if points else ""
    time_axes.set_title(f"time ({device_label}, {points[0].precision if points else ''})")
    memory_axes.set_title(f"memory ({measure})")
    png = figure_png(figure)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as stream:
        stream.write(png)


def format_pressure(points: list[PressurePoint]) -> str:
    columns = ["model", "size", "input", "time ms", "memory MiB", "status"]
    body = [
        [
            p.model,
            p.size,
            f"{p.width}x{p.height}",
            "" if p.time_ms is None else f"{p.time_ms:.1f}",
            "n/a" if p.memory_bytes is None else f"{p.memory_bytes / 2**20:.1f}",
            p.status,
        ]
        for p in points
    ]
    lines = text_table(columns, body, right_aligned_from=None)
    if points:
        lines.append(f"memory: {points[0].memory_measure}")
    return "\n".join(lines)
