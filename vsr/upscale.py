"""The Upscaler: a network bound to a device, a precision and a memory budget.

Everything that runs a network on images or frames goes through it: it places the input,
casts it, picks a tile plan that fits the budget, runs, clamps, and refuses non-finite
output. On a CUDA out-of-memory error it halves its budget, warns, and tries again with
smaller windows instead of failing.

The fast-path switches (channels_last, torch.compile, CUDA graphs) are off by default and
each is kept in a preset only where `vsr bench` shows that it pays on the machine.
"""

from __future__ import annotations

import contextlib
import copy
import numbers
import threading
import time
from collections.abc import Callable

import torch
from torch import nn

from vsr.argument_types import check_compile, check_switch, given
from vsr.caller_warning import warn_the_caller
from vsr.default_precision import (
    cpu_computes_bf16,
    cpu_computes_fp16,
    default_precision,
    why_bf16_is_emulated,
)
from vsr.errors import VsrError, VsrTypeError, first_line, option
from vsr.models.blocks import fold_channel_attention
from vsr.named_budget import budget_named
from vsr.ops.compile_policy import (
    cpp_compiler_found,
    earlier_failure,
    forget_failure,
    passing_cause,
    remember_failure,
)
from vsr.ops.compiled import captures_graphs, compile_network, packages_on
from vsr.ops.cuda_graph import GraphedNetwork
from vsr.ops.mixed_precision import cast_network
from vsr.ops.tiling import TilePlan, plan_tiles, run_plan, tile_overlap
from vsr.telemetry import usable_host_memory_bytes

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def check_precision(name: object) -> str:
    """`name` if it is one of PRECISIONS, else one clear error: a VsrTypeError for what is
    not a name at all (["fp32"] was "unhashable type: 'list'" from the lookup, 16 an unknown
    precision that `except TypeError` missed)."""
    if not isinstance(name, str):
        raise VsrTypeError(
            f"precision must be one of {', '.join(PRECISIONS)} or None, not {given(name)}"
        )
    if name not in PRECISIONS:
        raise VsrError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
    return str(name)  # numpy's str_ as the plain str a report or a fingerprint writes


# Bytes of activations per input pixel, per unit of network width, measured roughly as the
# peak of live feature maps in one forward pass (IMDN keeps all six block outputs for the
# final fusion). Used only to turn a memory budget into a pixel budget; OOM is handled anyway.
_LIVE_MAPS_PER_FEATURE = 16
# Below this a window is mostly overlap; give up rather than tile finer.
MIN_WINDOW_PIXELS = 32 * 32


def emulated_on(device: torch.device, precision: str) -> bool:
    """Whether `device` computes `precision` in software: bf16 or fp16 on a CPU without
    instructions for it (vsr.default_precision), many times slower than fp32."""
    if device.type != "cpu":
        return False
    if precision == "bf16":
        return not cpu_computes_bf16()
    return precision == "fp16" and not cpu_computes_fp16()


def emulation_note(precision: str) -> str:
    """The note on `precision` emulated on the CPU (emulated_on), which the Upscaler and
    `vsr bench --model-only` and `--pressure` give alike."""
    if precision == "bf16":
        return f"bf16 is emulated on this CPU: {why_bf16_is_emulated()}"
    return (
        "fp16 is emulated on this CPU, which has no fp16 instructions (AVX512_FP16 "
        "or AMX-FP16): it runs a hundred times slower than fp32 or more (220x on an "
        f"AMD EPYC with AVX-512); {option('--precision', 'fp32')} or bf16 is far faster"
    )


def check_device_name(device: str | torch.device | None) -> torch.device | None:
    """The device a name means (None for None or "auto"), whether or not this machine has
    it: a Ray cluster's workers may have the GPU its driver lacks."""
    if device is None or device == "auto":
        return None
    if not isinstance(device, str | torch.device):  # torch takes 0 for cuda:0, vsr names it
        raise VsrTypeError(
            f"device must be 'cpu', 'cuda', 'cuda:N' or a torch.device, not {given(device)}"
        )
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise VsrError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):  # mps, xpu, meta...: torch knows them, vsr not
        raise VsrError(f"vsr runs on cpu or cuda, not on {device.type}")
    return device


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or "auto" picks CUDA when it is present; an unavailable CUDA is an error."""
    device = check_device_name(device)
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VsrError(
            "CUDA was requested but no CUDA device is available; use the CPU "
            f"({option('--device', 'cpu')})"
        )
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise VsrError(f"there is no {device}: this machine has {count} CUDA device(s)")
    return device


def device_guard(device: torch.device) -> contextlib.AbstractContextManager:
    """Make `device` the current CUDA device of this thread for a block, and put the
    caller's back after it. Code that takes "the current device" (AOTInductor's stream,
    CUDA events, graph capture) must mean the upscaler's, in whatever thread calls it; a
    global torch.cuda.set_device would instead move the host's own work to that GPU."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def nonfinite_message(precision: str | None) -> str:
    """What to say when the network's output holds NaN or Inf: fp16 can overflow; in fp32,
    and in bf16 (fp32's range of exponents: what overflows it overflows fp32 too), the
    weights themselves are the suspect."""
    if precision == "fp16":
        return "the network produced NaN or Inf values in fp16; run it in fp32"
    return f"the network produced NaN or Inf values in {precision or 'fp32'}: the weights may be damaged"


# How far outside [0, 1] an input may reach before it is refused: a bicubic enlargement (the
# input of IMDN_AS) overshoots by a few percent at edges; 0..255 or -1..1 input is far out.
INPUT_RANGE_SLACK = 0.5


def check_dense_tensor(pixels: torch.Tensor, rule: str) -> None:
    """Refuse a tensor that holds no values to read, by `rule`, the caller's own words for
    what it takes: torch's errors name its internals ("Tensor.item() cannot be called on
    meta tensors"), or for a sparse tensor a fault that is not the one (an unsupported
    operation, or numpy's dtype error)."""
    if pixels.layout != torch.strided:
        raise VsrTypeError(
            f"{rule}, in a dense tensor (tensor.to_dense()), not a {pixels.layout} one"
        )
    if pixels.device.type == "meta":
        raise VsrTypeError(f"{rule}: a tensor on the meta device holds no pixels")


def check_input_range(x: torch.Tensor) -> None:
    """Refuse float input that is plainly not in [0, 1] (0..255 values, or -1..1): the
    network would turn it into a white or black picture without a word."""
    low, high = (float(v) for v in torch.aminmax(x))  # NaN compares false: blamed later
    if low < -INPUT_RANGE_SLACK or high > 1 + INPUT_RANGE_SLACK:
        hint = "; divide 0..255 values by 255" if high > 1 + INPUT_RANGE_SLACK else ""
        raise VsrError(
            f"the upscaler takes float input in [0, 1], and this one spans "
            f"[{low:.4g}, {high:.4g}]{hint}"
        )


def bytes_per_pixel(model: nn.Module, dtype: torch.dtype) -> int:
    """Rough activation memory of one input pixel (for the memory budget)."""
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    # bf16 runs mixed (vsr.ops.mixed_precision): float32 ends and bf16 copies of float32
    # maps took as much memory as float32 throughout (4717 against 5008 bytes per pixel).
    element = 4 if dtype == torch.bfloat16 else torch.finfo(dtype).bits // 8
    # Networks that shrink their input first (IMDN_AS by 4, IMDN_RTE by 2) need less.
    shrink = {1: 1, 2: 4, 4: 16}.get(getattr(model, "input_multiple", 1), 1)
    features = conv.out_channels
    inner = features * _LIVE_MAPS_PER_FEATURE * element // shrink
    return max(1, inner + 3 * model.scale**2 * 4)


# The CPU has no way back from running out of memory: a GPU's windows are halved and the
# call tried again, while the kernel kills a CPU process. So on the CPU the estimate is an
# upper bound of what a first call on a window measured (VmHWM growth; IMDN x2, 2 cores,
# 2026-11-29): CPU_FIXED_BYTES that a call holds whatever its size (oneDNN's buffers: 35 MiB
# at 64x64), and per pixel bytes_per_pixel (4144 B for IMDN x2) times a margin that depends
# on the layout. Beyond the fixed part, channels_last (what vsr run and vsr.load_model use
# on the CPU) took 3.9 KB a pixel at 128x128 and 4.7 KB at 256x256 in fp32, 4.4 KB at
# 512x512 in bf16; the default layout took 6.2 KB at 128x128, 7.1 KB at 256x256 and 7.5 KB
# in 192x272 tiles, as oneDNN reorders it. A 300 MiB budget grew the process by 437 MiB
# with the estimate alone.
CPU_FIXED_BYTES = 32 << 20
CPU_PER_PIXEL_MARGIN = {True: 1.25, False: 1.9}  # by channels_last


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 1024:.1f} KiB"


def _cpu_bytes_per_pixel(model: nn.Module, dtype: torch.dtype, channels_last: bool) -> float:
    return bytes_per_pixel(model, dtype) * CPU_PER_PIXEL_MARGIN[bool(channels_last)]


def memory_needed(
    model: nn.Module,
    dtype: torch.dtype,
    device: torch.device,
    pixels: int,
    channels_last: bool = False,
) -> int:
    """Bytes the network is taken to need for `pixels` input pixels in one call on
    `device`, in the memory layout `channels_last` says."""
    if device.type == "cpu":
        return CPU_FIXED_BYTES + int(pixels * _cpu_bytes_per_pixel(model, dtype, channels_last))
    return pixels * bytes_per_pixel(model, dtype)


class MemoryBudgetTooSmall(VsrError):
    """A memory budget no tiling keeps within: `reason`, and what to raise, the budget's
    `named` setting (a pipeline file's max_memory: vsr.named_budget) or --max-memory."""

    def __init__(self, reason: str, named: str | None = None) -> None:
        remedy = (
            f"{named}: {reason}; raise it" if named else f"{reason}; raise {option('--max-memory')}"
        )
        super().__init__(remedy)
        self.reason, self.named = reason, named

    def __reduce__(self) -> tuple[type, tuple[str, str | None]]:
        # Made again from its parts, not its message: a copy from another process (a Ray
        # worker's, multiprocessing's) said "; raise --max-memory" twice.
        return type(self), (self.reason, self.named)


def check_budget_holds_smallest_windows(
    model: nn.Module,
    dtype: torch.dtype,
    device: torch.device,
    budget: int,
    channels_last: bool = False,
) -> None:
    """A VsrError where `budget` bytes are less than windows of the smallest size would
    still need: no tiling keeps within it."""
    smallest = memory_needed(model, dtype, device, MIN_WINDOW_PIXELS, channels_last)
    if budget < smallest:
        raise MemoryBudgetTooSmall(
            f"the memory budget ({_mib(budget)}) is less than the network needs for its "
            f"smallest windows ({MIN_WINDOW_PIXELS} pixels: {_mib(smallest)} on "
            f"{device.type})",
            budget_named(budget),
        )


def window_pixels(
    model: nn.Module,
    dtype: torch.dtype,
    device: torch.device,
    budget: int,
    channels_last: bool = False,
) -> int:
    """The most input pixels one call may take within `budget` bytes (memory_needed
    inverted; MIN_WINDOW_PIXELS at least)."""
    if device.type == "cpu":
        per_pixel = _cpu_bytes_per_pixel(model, dtype, channels_last)
        return max(MIN_WINDOW_PIXELS, int((budget - CPU_FIXED_BYTES) // per_pixel))
    return max(MIN_WINDOW_PIXELS, budget // bytes_per_pixel(model, dtype))


def check_memory_budget(max_memory: object) -> None:
    """A memory budget is a whole number of bytes > 0. A float is refused, not rounded:
    1.5 was taken as a budget of 1 byte. True is an int to Python, not a size."""
    if not isinstance(max_memory, numbers.Integral) or isinstance(max_memory, bool):
        raise VsrTypeError(
            f"max_memory must be a whole number of bytes (an int), not {given(max_memory)}"
        )
    if max_memory <= 0:
        # max_memory to the API, or 0 in a preset; the command line's --max-memory "0.4" is
        # refused by vsr.pipelines.parse_memory, naming what was typed.
        raise VsrError(
            f"{option('--max-memory')} must be a number of bytes > 0, not {int(max_memory)}"
        )


def default_memory_budget(device: torch.device) -> int:
    """Bytes the network may use: most of the free GPU memory, or half of the host's RAM
    (of its container's limit where that is lower)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * 0.8)
    # The total, not what is free now: a plan that changed with the machine's load would
    # change the output's pixels from run to run (tiles are close to, not equal to, whole).
    host = usable_host_memory_bytes()
    return int(host * 0.5) if host else 8 << 30


def inference_copy(
    model: nn.Module,
    device: torch.device,
    dtype: torch.dtype,
    channels_last: bool = False,
    fold: bool = True,
) -> tuple[nn.Module, torch.dtype]:
    """A copy of ``model`` the way the engine runs it: on ``device``, its channel attention
    folded into the fusion convolution (``fold``; vsr.models.blocks), cast to ``dtype``
    (bf16 keeps float32 ends; vsr.ops.mixed_precision), optionally channels_last. Returns
    the copy and the dtype its input must have."""
    net = copy.deepcopy(model).to(device).eval()
    if fold:
        fold_channel_attention(net)  # same arithmetic, one pass over the maps fewer
    net_input = cast_network(net, dtype)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net, net_input


def with_speed_switches(
    net: nn.Module,
    compile: bool | str,
    cuda_graphs: bool,
    ahead_of_time: bool | None = None,
    builds: bool = True,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``net`` compiled (a string names torch.compile's mode; `ahead_of_time=False` is
    torch.compile itself rather than a kept package, None what the net's device takes;
    `builds=False` runs kept packages only, and uncompiled where there is none) and/or
    replayed as CUDA graphs, ours also for a mode that asks for graphs (vsr.ops.compiled)."""
    mode = compile if isinstance(compile, str) else None
    run = compile_network(net, mode, ahead_of_time=ahead_of_time, builds=builds) if compile else net
    graphs = cuda_graphs or (bool(compile) and captures_graphs(mode))  # a no-op on the CPU
    return GraphedNetwork(run) if graphs else run


class Upscaler:
    """``upscaler(x)``: float N x 3 x H x W in [0, 1] -> N x 3 x sH x sW float32 in [0, 1].

    The model is copied, so the caller's module keeps its device and dtype. The copy's
    channel attention is folded into the fusion convolution (vsr.models.blocks). In bf16 the
    network's stem and upsampler stay float32 (vsr.ops.mixed_precision). `compile` compiles
    it with inductor: on the CPU ahead of time, one package per input shape kept in the vsr
    cache (vsr.ops.aot_package), on CUDA with torch.compile (vsr.ops.compiled.packages_on).
    A string names torch.compile's mode, e.g. "max-autotune-no-cudagraphs". If no package
    can be built, torch.compile compiles it in the process, and if that fails too it runs
    uncompiled, each step with a warning and an entry in `notes`. "auto" compiles ahead of
    time where the device keeps packages and a C++ compiler is installed (without one, it
    runs the packages kept in the cache, as "kept" does), and runs uncompiled elsewhere,
    and with a note after a failed build (then remembered) or where the vsr cache cannot
    keep packages (vsr.ops.compile_policy; `vsr run` passes it on the CPU for a clip long
    enough to repay the build). "kept" runs the packages kept in the
    cache and never builds one: a frame size without one runs uncompiled, quietly, and
    `uncompiled_calls` counts its calls (`vsr run`'s choice for a shorter clip, where a
    load still pays, and the C++ compiler is not needed). `cuda_graphs` replays it
    as a CUDA graph per input shape (CUDA only; ignored on the CPU). `checked=False` returns
    the network's output unclamped and leaves both the NaN/Inf refusal and the clamp to the
    caller (the video engine checks on the device without stalling it, and must see an
    infinity before a clamp turns it into 1.0). `warmup_seconds` adds up, for every new input
    shape when compiling or capturing, what its first call took beyond its second: what the
    speed-ups cost up front (a shape called once so far counts its first call whole).
    """

    def __init__(
        self,
        model: nn.Module,
        device: str | torch.device | None = None,
        precision: str | None = None,
        max_memory: int | None = None,
        channels_last: bool = False,
        compile: bool | str = False,
        cuda_graphs: bool = False,
        checked: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module) or not isinstance(getattr(model, "scale", None), int):
            raise VsrTypeError(
                f"the Upscaler takes a network (vsr.models.create_model or load_weights), not "
                f"a {type(model).__name__}; vsr.load_model takes a weights file or name"
            )
        if max_memory is not None:
            check_memory_budget(max_memory)
        channels_last = check_switch(channels_last, "channels_last")
        cuda_graphs = check_switch(cuda_graphs, "cuda_graphs")
        checked = check_switch(checked, "checked")
        compile = check_compile(compile)
        self.device = resolve_device(device)
        if precision is None:
            precision = default_precision(self.device)
        self.precision = check_precision(precision)
        self.dtype = PRECISIONS[self.precision]
        self.model, self.input_dtype = inference_copy(model, self.device, self.dtype, channels_last)
        self.channels_last = channels_last
        # Until a package fails to build (_compile_less); never on CUDA (packages_on).
        self._ahead_of_time = packages_on(self.device)
        self.notes: list[str] = []  # what the caller should pass on (a failed compile)
        # What failed, once this upscaler gave up compiling ("compiling it"): a caller
        # running many clips on it says so briefly for the later ones (vsr.runner).
        self.compile_failed: str | None = None
        # "auto" tries only the kept package, and gives up quietly where it cannot build it.
        self._auto = compile in ("auto", "kept")
        # "kept" loads what is there: it needs no compiler, and an earlier failed build
        # (which left no package) is nothing to tell a clip that would not have built.
        # Without a compiler "auto" builds nothing either, and still loads what is kept.
        self._builds = compile != "kept" and (not self._auto or cpp_compiler_found())
        if self._auto:
            compile = self._ahead_of_time
            failed = earlier_failure() if compile and self._builds else None
            if failed:
                compile = False
                self.notes.append(
                    f"the network ran uncompiled: compiling it failed on an earlier run "
                    f"({failed}); {option('--compile', True)} tries again"
                )
        self.compiled = bool(compile)
        self._compile = compile
        self.cuda_graphs = cuda_graphs and self.device.type == "cuda"
        self.checked = checked
        self._shapes_seen: set[tuple[int, ...]] = set()
        # The first call's time of each shape until its second call has been timed.
        self._first_calls: dict[tuple[int, ...], float] = {}
        self._first_call_lock = threading.Lock()
        self._frame_sizes_run: set[tuple[int, int]] = set()  # H x W of the inputs upscaled
        self.warmup_seconds = 0.0
        try:
            self._run = with_speed_switches(
                self.model,
                compile,
                self.cuda_graphs,
                ahead_of_time=self._ahead_of_time,
                builds=self._builds,
            )
        except VsrError as error:
            if not self._auto:
                raise  # asked for: a cache that cannot hold the packages is the user's to fix
            # Not asked for: a vsr cache that cannot hold packages (unwritable, another
            # user's, HOME unset) costs the speed-up and a note, never the run; where only
            # a kept package was looked for, it holds none, and there is nothing to say.
            if self._builds:
                self._compile_less(error)
            else:
                self._run_uncompiled()
        if emulated_on(self.device, precision):
            # Asked for, or (bf16) a segment run's driver's default on another kind of CPU.
            self.notes.append(emulation_note(precision))
            warn_the_caller(self.notes[-1])
        # The notes so far hold for every call; those added later tell of an event (a build
        # that failed), which a caller running many clips on one upscaler reports once.
        self.standing_notes = len(self.notes)
        # A vsr cache that cannot keep packages failed it here: its note is a standing one.
        self.compile_failed = None
        self.scale: int = model.scale
        # The factor the image and frame helpers upscale by when given none: the network's
        # own, unless load_model asked IMDN_AS (scale 1, any factor from an enlarged input)
        # for another. The engine and tiling use `scale`, the network's own factor.
        self.output_scale: int = model.scale
        self.input_multiple: int = getattr(model, "input_multiple", 1)
        self.tile_overlap: int = tile_overlap(model)
        # A frame side off the network's input multiple is edge-padded: IMDN_AS's paper ran
        # such a frame in four patches, whose sampling grids disagree at the mid-lines (8 to
        # 10 levels on average, up to 66, on a 67x39 clip at x2). vsr eval turns them on
        # for the paper's own results (vsr.evaluate).
        self.adaptive_cropping = False
        self.arch: str = getattr(model, "arch", type(model).__name__)
        budget = max_memory if max_memory is not None else default_memory_budget(self.device)
        self.memory_budget = int(budget)
        self._budget_named = budget_named(budget)  # a pipeline file's, named in its errors
        layout = self.channels_last
        check_budget_holds_smallest_windows(self.model, self.dtype, self.device, budget, layout)
        self.max_pixels = window_pixels(self.model, self.dtype, self.device, budget, layout)
        # What the budget allows; max_pixels is halved below it when a GPU runs out.
        self.budget_pixels = self.max_pixels

    @property
    def packages_built(self) -> int:
        """How many packages this upscaler compiled ahead of time, as opposed to loading
        them from the vsr cache (vsr.ops.aot_package)."""
        return getattr(self._compiled_run(), "built", 0)

    def compiles_for(self, height: int, width: int) -> bool:
        """Whether the first call on inputs of height x width pauses to compile the network
        for them (or to load its kept package): a compiled upscaler that has not run that
        size yet. A folder's clips share an upscaler, and each new frame size pauses."""
        return self.compiled and self._builds and (height, width) not in self._frame_sizes_run

    @property
    def uncompiled_calls(self) -> int:
        """How many network calls of a "kept" upscaler ran uncompiled, for want of a package
        kept for their shape (vsr.ops.aot_package)."""
        return getattr(self._compiled_run(), "uncompiled_calls", 0)

    def _compiled_run(self) -> Callable[[torch.Tensor], torch.Tensor]:
        return self._run.network if isinstance(self._run, GraphedNetwork) else self._run

    def release_graphs(self) -> None:
        """Drop the captured CUDA graphs and their memory (they are captured again on the
        next call of their shape)."""
        if isinstance(self._run, GraphedNetwork) and self._run.graphs:
            self._run.release()
            self._shapes_seen.clear()  # the next capture is timed as warm-up again
            self._first_calls.clear()

    def plan_for(self, height: int, width: int) -> TilePlan:
        """How a network input of height x width is run within the memory budget (whole, or
        in overlapping tiles); VsrError when the budget is too small for any tiling."""
        try:
            return plan_tiles(
                height,
                width,
                self.max_pixels,
                self.input_multiple,
                self.tile_overlap,
                self.adaptive_cropping,
            )
        except ValueError:
            if self.max_pixels < self.budget_pixels:
                # Halved after the GPU ran out: the budget, perhaps never set, is not why.
                raise self._out_of_gpu_memory(height, width) from None
            # A user's budget (--max-memory, max_memory=) too small for any tiling.
            raise MemoryBudgetTooSmall(
                f"the memory budget ({_mib(self.memory_budget)}: windows of at most "
                f"{self.max_pixels} pixels) is too small to tile {width}x{height} frames",
                self._budget_named,
            ) from None

    def _out_of_gpu_memory(self, height: int, width: int) -> VsrError:
        """The error once the GPU ran out of memory for windows as small as tiling allows:
        the budget, perhaps never set, is not what to raise."""
        return VsrError(
            f"the GPU ran out of memory even for windows of {self.max_pixels} pixels, and no "
            f"tiling of {width}x{height} frames fits smaller ones: free GPU memory (another "
            f"process may hold it) or use {option('--device', 'cpu')}"
        )

    def _network(self, x: torch.Tensor) -> torch.Tensor:
        # One layout whatever the caller's strides: bf16 convolutions round differently on
        # NCHW and NHWC input (the video path's frames and upscale_frames' permuted arrays
        # differed by a level on 1.7% of samples).
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        x = x.contiguous(memory_format=layout)
        shape = tuple(x.shape)
        # Taken in one step: threads sharing the upscaler (as callers may) could otherwise
        # both see the first call's time and both pop it, the second with a KeyError.
        first = self._first_calls.pop(shape, None)
        if first is not None:
            return self._second_call(x, first)
        if not (self.compiled or self.cuda_graphs) or shape in self._shapes_seen:
            return self._run(x)
        # One first call of a shape at a time: two threads' would both build (or capture)
        # and both count a warm-up. The later one runs once the earlier is done.
        with self._first_call_lock:
            if shape not in self._shapes_seen:
                return self._first_call(x, shape)
        return self._run(x)

    def _first_call(self, x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """The first call of this shape: compilation and graph capture happen now; time
        them."""
        start = time.perf_counter()
        uncompiled_before = self.uncompiled_calls
        while True:
            try:
                y = self._run(x)
                break
            except torch.cuda.OutOfMemoryError:
                raise  # the caller retries with smaller windows
            except Exception as error:
                if not self.compiled:
                    raise
                passing = passing_cause(error)
                # The build failed: the next long clip need not try again, unless it was
                # for want of disk or memory, which the next run may well have ("kept"
                # built nothing: a kept package that fails says nothing of a build).
                if self._auto and self._builds and passing is None:
                    remember_failure(first_line(error, limit=200))
                self._compile_less(error, passing)
        if self.compiled and self._ahead_of_time and not self._auto:
            forget_failure()  # --compile works here (again): "auto" may compile too
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        # A shape without a kept package ("kept") ran uncompiled: nothing to count.
        if self.uncompiled_calls == uncompiled_before:
            first = time.perf_counter() - start
            self.warmup_seconds += first  # until its second call tells the work apart
            self._first_calls[shape] = first
        self._shapes_seen.add(shape)
        return y

    def _second_call(self, x: torch.Tensor, first: float) -> torch.Tensor:
        """The second call of a shape, timed: the first (which took `first` seconds) did a
        call's work besides the build, which the warm-up must not count. Counted whole, a
        clip's first batch had all its network time called warm-up (a compiled row's steady
        fps read 10 times too high)."""
        start = time.perf_counter()
        y = self._run(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)  # once a shape: the GPU's time, not the queue's
        self.warmup_seconds -= min(first, time.perf_counter() - start)
        return y

    def _compile_less(self, error: Exception, passing: str | None = None) -> None:
        """After a failed ahead-of-time build, compile with torch.compile in this process
        ("auto": run uncompiled); after a failed torch.compile, run uncompiled. Say which,
        and why (`passing`: a full disk or too little memory, vsr.ops.compile_policy).

        Compiling needs what a machine may lack (Triton and a GPU it supports, a C++
        compiler and headers, which the ahead-of-time wrapper needs and torch.compile on a
        GPU does not) and can fail on a new torch; a speed switch failing should cost speed,
        not the run."""
        reason = first_line(error, limit=200)
        if passing and passing not in reason:  # a compiler's "C++ compile error" alone
            reason = f"{reason}: {passing}"
        if not self._builds:
            note = f"the compiled network kept in the cache failed ({reason}); it ran uncompiled"
            self._run_uncompiled()
            self.compile_failed = "its package kept in the cache"
        elif self._ahead_of_time and not self._auto:
            note = (
                f"compiling the network ahead of time failed ({reason}); torch.compile "
                "compiles it in this process instead"
            )
            self._ahead_of_time = False
            try:
                self._run = with_speed_switches(
                    self.model, self._compile, self.cuda_graphs, ahead_of_time=False
                )
            except Exception as setup_error:  # torch.compile could not even be set up
                self._note(note)
                self._compile_less(setup_error)
                return
        else:
            note = f"compiling the network failed ({reason}); it ran uncompiled"
            self._run_uncompiled()
            self.compile_failed = "compiling it"
        self._note(note)

    def _run_uncompiled(self) -> None:
        self.compiled = False
        self._run = with_speed_switches(self.model, False, self.cuda_graphs)

    def _note(self, note: str) -> None:
        warn_the_caller(note)
        self.notes.append(note)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Float N x 3 x H x W in [0, 1], on any device -> N x 3 x sH x sW float32 on this
        upscaler's device (s = ``self.scale``), clamped to [0, 1] unless ``checked=False``.
        Raises VsrError for a wrong shape, dtype or type, and for NaN/Inf output."""
        if not isinstance(x, torch.Tensor):
            raise VsrTypeError(
                f"the upscaler takes a torch tensor, not a {type(x).__name__} "
                "(use vsr.upscale_frames for N x H x W x 3 uint8 arrays)"
            )
        check_dense_tensor(x, "the upscaler takes float N x 3 x H x W in [0, 1]")
        if x.ndim != 4 or x.shape[1] != 3:
            raise VsrError(f"the upscaler takes N x 3 x H x W, got {tuple(x.shape)}")
        if not x.is_floating_point():
            # uint8 0..255 would saturate to white without a word.
            raise VsrError(
                f"the upscaler takes float input in [0, 1], not {x.dtype}; divide by 255 "
                "(or use vsr.upscale_frames for uint8 frames)"
            )
        if x.shape[2] == 0 or x.shape[3] == 0:
            raise VsrError(f"cannot upscale an empty frame ({x.shape[3]}x{x.shape[2]})")
        if x.shape[0] == 0:
            s = self.scale
            return torch.empty(0, 3, x.shape[2] * s, x.shape[3] * s, device=self.device).float()
        # Not inference_mode: callers may modify the result in place. A block, not a
        # decorator: torch's wrapper would be the first frame outside vsr, which the
        # warnings of a call (a failed compile, an out-of-memory retry) named as their line.
        with torch.no_grad():
            if self.checked:
                check_input_range(x)
            with device_guard(self.device):
                y = self._upscale_on_device(x)
        self._frame_sizes_run.add((x.shape[2], x.shape[3]))
        return y

    def _upscale_on_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, self.input_dtype, non_blocking=True)
        while True:
            plan = self.plan_for(x.shape[2], x.shape[3])
            try:
                # Compiled code and CUDA graphs are made per input shape: keep to one.
                one_shape = self.compiled or self.cuda_graphs
                y = run_plan(self._network, x, plan, self.scale, self.max_pixels, one_shape)
                break
            except torch.cuda.OutOfMemoryError:
                # Halving below the floor (or to a budget no tiling fits) cannot help.
                if self.max_pixels // 2 < MIN_WINDOW_PIXELS:
                    raise self._out_of_gpu_memory(x.shape[2], x.shape[3]) from None
                self.max_pixels //= 2
                # The graphs captured so far are of windows never run again (max_pixels stays
                # halved), and each keeps its memory pool, the whole frame's the largest.
                self.release_graphs()
                torch.cuda.empty_cache()
                warn_the_caller(
                    f"out of GPU memory; retrying with windows of at most {self.max_pixels} pixels"
                )
        if not self.checked:
            return y.float()
        if not torch.isfinite(y).all():
            if not torch.isfinite(x).all():  # looked at only now: the input is to blame
                raise VsrError("the input holds NaN or Inf values; the upscaler takes [0, 1]")
            raise VsrError(nonfinite_message(self.precision))
        return y.clamp_(0, 1).float()
