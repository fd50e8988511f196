"""`vsr bench`: the naive loop and the engine, side by side on one generated clip.

Both run in this process, one after the other, on the same clip, with the same network
weights and the same encoder settings, so the ratio between them is the engine's gain and
nothing else. Every figure is measured: where a measurement is impossible here (GPU
utilisation on the CPU, say) the table shows n/a and the JSON null.

The PSNR column compares the engine's decoded output with the naive loop's, frame by
frame. With a lossy codec it includes two independent encodings' noise; `lossless=True`
(FFV1, 4:4:4 throughout) leaves no coding noise, but the outputs still differ on many
samples, not a rounding step here and there: both store 8-bit YCbCr, and each row's own
RGB -> YCbCr -> RGB round trip moves about half the samples off the network's exact 8-bit
RGB. Measured in fp32 (bundled x2 weights, a 96x64 clip, 6 frames): the naive loop's
output is off by 1 or 2 on 41% of the samples, the engine's by 1 to 3 on 50%, and the two
differ by up to 4 on 37%, which reads 48.9 dB; about 49 dB there is agreement.
"""

from __future__ import annotations

import contextlib
import copy
import math
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np
import torch
from torch import nn

from vsr.bench_clip import check_clip_shape, make_bench_clip
from vsr.bench_naive import NaiveResult, naive_upscale
from vsr.counted import counted
from vsr.default_precision import default_precision
from vsr.errors import VsrError
from vsr.profiling import check_memory
from vsr.report import RunReport, steady_seconds, write_json
from vsr.telemetry import STAGES
from vsr.text_table import text_table
from vsr.upscale import PRECISIONS, check_precision, resolve_device
from vsr.video.codecs import encoder_option_type, video_encoder
from vsr.video.encoder_choice import quiet_encoder
from vsr.video.media_url import open_source
from vsr.weights import load_network

if TYPE_CHECKING:
    from vsr.video.writer import EncodeSettings

# Frames when the user does not say: enough for a steady GPU figure, few enough that a CPU
# run (tens of seconds per 540p frame on a small CPU) ends in minutes.
DEFAULT_FRAMES = {"cuda": 200, "cpu": 4}


@dataclass(frozen=True)
class EngineVariant:
    """One configuration of the engine to time: precision, batch and the speed switches."""

    precision: str | None = None  # None: the Upscaler's default for the device
    batch: int | None = None
    channels_last: bool = False
    compile: bool | str = False  # a string names the inductor mode
    cuda_graphs: bool = False
    encoders: int = 1

    @property
    def label(self) -> str:
        parts = [self.precision or "default"]
        if self.batch is not None:
            parts.append(f"batch={self.batch}")
        parts += [name for name, on in _SWITCHES.items() if on(self)]
        if isinstance(self.compile, str):
            parts[parts.index("compile")] = f"compile={self.compile}"
        if self.encoders != 1:
            parts.append(f"enc={self.encoders}")
        return ",".join(parts)

    def on(self, device: torch.device) -> EngineVariant:
        """This configuration with what it leaves unset filled in as the engine fills it
        on `device`: what the engine runs."""
        from vsr.runner import default_batch

        return replace(
            self,
            precision=self.precision or default_precision(device),
            batch=self.batch if self.batch is not None else default_batch(device),
        )


def first_two_alike(variants: list[EngineVariant], device: torch.device) -> tuple[int, int] | None:
    """The places of the first two `variants` the engine runs alike on `device`, or None.

    Compared with their defaults filled in: `fp32` and `fp32,batch=1` (or `cl` and
    `bf16,cl` on a CPU with bf16 instructions) are one configuration, and were timed as
    two rows of one name with different figures."""
    seen: dict[EngineVariant, int] = {}
    for place, variant in enumerate(variants):
        runs = variant.on(device)
        if runs in seen:
            return seen[runs], place
        seen[runs] = place
    return None


_SWITCHES = {
    "cl": lambda v: v.channels_last,
    "compile": lambda v: bool(v.compile),
    "graphs": lambda v: v.cuda_graphs,
}


def _setting_of(token: str) -> str | None:
    """The EngineVariant field a --variant token sets (None for an empty or unknown one)."""
    if token in PRECISIONS:
        return "precision"
    name = token.split("=", 1)[0]
    return {"cl": "channels_last", "compile": "compile", "graphs": "cuda_graphs",
            "enc": "encoders", "batch": "batch"}.get(name)  # fmt: skip


def parse_variant(text: str) -> EngineVariant:
    """ "fp16,cl,graphs,enc=2,batch=8" -> EngineVariant (see `vsr bench --help`)."""
    if not text.strip(" ,"):
        raise VsrError("--variant needs a configuration, e.g. fp16,cl,graphs,enc=2")
    values: dict[str, Any] = {}
    for token in (t.strip() for t in text.split(",")):
        # A setting named twice ("fp16,fp32", "batch=2,batch=4") kept the last without a
        # word, as --precision fp32,fp32 does not.
        setting = _setting_of(token)
        if setting is not None and setting in values:
            raise VsrError(f"variant {text!r} names its {setting} twice; give it once")
        if token in PRECISIONS:
            values["precision"] = token
        elif token == "cl":
            values["channels_last"] = True
        elif token == "compile":
            values["compile"] = True
        elif token.startswith("compile="):
            mode = token.split("=", 1)[1]
            if not mode:  # "" counts as off, which the row's label cannot name
                raise VsrError(f"variant {text!r}: compile= needs a mode, or give compile alone")
            values["compile"] = mode
        elif token == "graphs":
            values["cuda_graphs"] = True
        elif token.startswith(("enc=", "batch=")) and token.split("=")[1].isdigit():
            key, number = token.split("=")
            if int(number) < 1:
                raise VsrError(f"variant {text!r}: {key} must be at least 1")
            values["encoders" if key == "enc" else "batch"] = int(number)
        elif token:
            raise VsrError(
                f"variant {text!r}: {token!r} not understood; use fp32/fp16/bf16, cl, compile, "
                "compile=MODE, graphs, enc=N, batch=N"
            )
    return EngineVariant(**values)


@dataclass
class BenchRow:
    """One measured way of upscaling the clip."""

    name: str
    precision: str
    batch: int
    frames: int
    wall_seconds: float
    fps: float
    ratio_to_naive: float
    stage_busy_seconds: dict[str, float]
    warmup_seconds: float = 0.0  # compilation / graph capture, inside wall_seconds
    # Frames over the wall time less start-up and warm-up: the rate a long clip approaches,
    # when those one-off costs are spread over many more frames. The final flush stays in:
    # the encoders' queues can hold seconds of frames, so on a short clip the network may
    # finish long before the file does, and leaving the flush out would report the
    # network's rate for an encoder-bound run.
    steady_fps: float | None = None
    startup_seconds: float | None = None  # start of the run to the first network call
    drain_seconds: float | None = None  # last network call to the finished file
    gpu_util_mean_percent: float | None = None
    # The encoders' busy share (see RunReport): near 100% they set the pace, not the GPU.
    encoder_busy_share: float | None = None
    gpu_memory_used_max_bytes: float | None = None
    gpu_peak_allocated_bytes: int | None = None
    psnr_vs_naive_db: float | None = None
    min_frame_psnr_vs_naive_db: float | None = None
    # Frames whose presentation time differs from the naive loop's frame at the same place
    # (the PSNR pairs frames by order, so a shifted or stretched timeline would pass it).
    mistimed_frames: int | None = None
    round_walls: list[float] = field(default_factory=list)  # every round's wall seconds


@dataclass
class BenchResult:
    """The table of `vsr bench`, and what it was measured on."""

    title: str
    model: str
    weights: str
    device: str
    device_name: str | None
    torch_threads: int
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    frames: int
    rounds: int
    source: str
    codec: str
    preset: str | None
    crf: int | None
    pix_fmt: str
    encoder_options: dict[str, str] = field(default_factory=dict)  # beyond preset and crf
    rows: list[BenchRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # JSON has no infinity: identical outputs are reported as null, and said so.
        for row in data["rows"]:
            psnr = row["psnr_vs_naive_db"]
            if psnr is not None and math.isinf(psnr):
                row["identical_to_naive"] = True
            for key in ("psnr_vs_naive_db", "min_frame_psnr_vs_naive_db"):
                if row[key] is not None and math.isinf(row[key]):
                    row[key] = None
        return data


def bench_model(
    weights: str | None, scale: int | None, *, same_size_serves_any_scale: bool = True
) -> tuple[nn.Module, str]:
    """The network to bench and where it came from.

    Given weights load as every command loads them (vsr.weights.load_network: a `scale`
    must be theirs; `same_size_serves_any_scale` as there). Without, the project's default
    weights for the scale (None: 2); when there are none, a randomly initialised IMDN
    (seeded), so the bench runs on any install; its speed is the same, its pictures are
    noise. Where it came from names the weights' file, for the table and the JSON.
    """
    from vsr.models import create_model

    if weights is not None:
        network = load_network(
            weights, scale, same_size_serves_any_scale=same_size_serves_any_scale
        )
        return network.model, f"weights {network.path}"
    scale = scale or 2
    try:
        network = load_network(None, scale)
        return network.model, f"default weights {network.path.name}"
    except VsrError:
        pass
    torch.manual_seed(0)
    return create_model("imdn", scale), f"random-initialised: no default x{scale} weights"


def model_name(model: nn.Module) -> str:
    arch = getattr(model, "arch", type(model).__name__)
    return f"{arch.upper()} x{model.scale}"


def parse_precisions(text: str | None) -> list[str | None]:
    """ "fp16,bf16" -> ["fp16", "bf16"]; None -> [None] (the Upscaler's default)."""
    if not text:
        return [None]
    names = [check_precision(p.strip()) for p in text.split(",") if p.strip()]
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        # Each row is a configuration: the same one twice shared one set of runs (or was
        # timed twice over, --model-only), the end-to-end rows each claiming both.
        raise VsrError(f"--precision {text} names {twice} twice")
    return names


@dataclass
class DecodedComparison:
    """Two clips decoded to rgb24 the same way and compared frame by frame, in order."""

    psnr_db: float  # over all frames of the common length; inf where identical
    lowest_frame_psnr_db: float
    times_first: list[float]  # when each decoded frame is shown, seconds
    times_second: list[float]


def decoded_psnr(first: Path, second: Path) -> DecodedComparison:
    """The PSNR of `second` against `first` over their common length, and every frame's
    presentation time in both (taken in the same decode, for compare_timelines)."""
    squared, samples, lowest = 0.0, 0, math.inf
    times: tuple[list[float], list[float]] = ([], [])

    def shown_at(frame: av.VideoFrame | None, into: list[float]) -> None:
        if frame is not None:
            into.append(math.nan if frame.time is None else float(frame.time))

    with open_source(first) as a, open_source(second) as b:
        frames_a, frames_b = a.decode(video=0), b.decode(video=0)
        while True:
            fa, fb = next(frames_a, None), next(frames_b, None)
            shown_at(fa, times[0])
            shown_at(fb, times[1])
            if fa is None or fb is None:
                break
            pa = fa.to_ndarray(format="rgb24").astype(np.float64)
            pb = fb.to_ndarray(format="rgb24").astype(np.float64)
            if pa.shape != pb.shape:
                raise VsrError(f"bench outputs differ in size: {pa.shape} vs {pb.shape}")
            error = float(np.sum((pa - pb) ** 2))
            squared += error
            samples += pa.size
            lowest = min(lowest, _psnr(error / pa.size))
        # The times of what is left of the longer one.
        for frame in frames_a:
            shown_at(frame, times[0])
        for frame in frames_b:
            shown_at(frame, times[1])
    total = _psnr(squared / samples) if samples else math.nan
    return DecodedComparison(total, lowest, *times)


def _psnr(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def compare_timelines(
    first: list[float], second: list[float], tolerance: float = 1e-3
) -> tuple[int, str]:
    """(frames shown at different times, paired in order, plus the frames one clip has
    beyond the other; where they first part, in words). The tolerance covers Matroska's
    millisecond rounding."""
    pairs = zip(first, second, strict=False)  # the lengths may differ: counted below
    # `not <=`: a frame without a time (NaN) differs; `>` took it for a match.
    differ = [i for i, (a, b) in enumerate(pairs) if not abs(a - b) <= tolerance]
    count = len(differ) + abs(len(first) - len(second))
    if not count:
        return 0, ""
    index = differ[0] if differ else min(len(first), len(second))

    def at(times: list[float]) -> str:
        return f"{times[index]:.3f} s" if index < len(times) else "no frame"

    return count, f"frame {index}: {at(first)} and {at(second)}"


def bench_encoder_defaults(
    codec: str, preset: str | None, crf: int | None, options: dict[str, str] | None = None
) -> tuple[str | None, int | None]:
    """The preset and crf the bench encodes with: the user's, else veryfast and 18 where
    the encoder has such options and the user's -e `options` do not set them. Applied to
    every codec, the defaults made `--codec libvpx-vp9` (or ffv1, mpeg4) fail on "no
    option preset" that the user never gave."""
    options = options or {}
    # An -e preset or crf is what the encoder runs with (-e wins): a default beside it
    # was never used, yet the table's header and the JSON named it as the setting.
    named_presets = encoder_option_type(codec, "preset") == "STRING"  # not SVT-AV1's numbers
    if preset is None and "preset" not in options and named_presets:
        preset = "veryfast"
    if crf is None and "crf" not in options and encoder_option_type(codec, "crf") is not None:
        crf = 18
    return preset, crf


def check_encoder(
    codec: str,
    width: int,
    height: int,
    scale: int,
    pix_fmt: str,
    options: dict,
    crf: int | None = None,
) -> None:
    """Open the encoder once for the output of a `width` x `height` clip upscaled x`scale`,
    so a bad codec, option or size is one clear error before anything is measured."""
    from vsr.video.encoder_choice import check_crf, check_x26x_names, crf_number
    from vsr.video.encoder_trial import trial_open
    from vsr.video.frame_size_limit import too_large

    encoder = video_encoder(codec)  # an unknown name: VsrError listing the available ones
    check_x26x_names(codec, None, options)  # before x264 prints its own line about it
    # The engine's writer refuses a crf its encoder reads as unset (x264's -1), which the
    # encoder itself opens with: found by the engine's row, after the naive loop was timed.
    # An -e crf is what the encoder gets (-e wins), and gets the same check.
    given = options.get("crf")
    check_crf(encoder.name, crf if given is None else crf_number(given))
    takes = [f.name for f in encoder.video_formats or ()]
    if takes and pix_fmt not in takes:
        # Both rows encode the same format, so that they time the same work: an RGB-only
        # encoder (png, libx264rgb, qtrle) refused it with "Invalid argument".
        raise VsrError(
            f"{codec} takes no {pix_fmt}, which vsr bench encodes in (its naive loop and its "
            f"engine alike); it takes {', '.join(takes[:4])}{', ...' if len(takes) > 4 else ''}: "
            f"time an encoder that takes {pix_fmt}, such as libx264, or use vsr run, which "
            f"converts to a format {codec} takes"
        )
    out_w, out_h = width * scale, height * scale
    # The writer's own trial open: it also refuses options the encoder does not use.
    said: list[str] = []
    error = trial_open(codec, out_w, out_h, pix_fmt, Fraction(1, 25), None, options, said)
    if error is None:
        return
    size = too_large(codec, width, height, scale, pix_fmt, options)
    if size is not None:
        raise VsrError(size)
    shown = " ".join(f"{k}={v}" for k, v in options.items())
    why = f" ({said[-1]})" if said else ""  # libav's errno text rarely says why; its log does
    raise VsrError(f"cannot open {codec} {pix_fmt} with {shown or 'no options'}: {error}{why}")


@torch.inference_mode()
def _start_device(device: torch.device, model: nn.Module, height: int, width: int) -> None:
    """One untimed fp32 call of the network on a frame of the clip's size: the CUDA context,
    cuDNN, and on the CPU oneDNN's kernels for these shapes (1.7 s for a tiny network on
    this 2-core CPU) are set up once here. Otherwise the naive loop, which runs first, paid
    for them alone and every engine row's ratio was inflated by it."""
    network = copy.deepcopy(model).to(device, torch.float32).eval()
    network(torch.zeros(1, 3, height, width, device=device))
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _release_cached_memory(device: torch.device) -> None:
    """Hand the blocks an earlier row left in torch's cache back to the driver: NVML's
    memory figure is the whole device's, so a row would otherwise read the previous row's
    cache as its own."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


def run_bench(
    width: int = 960,
    height: int = 540,
    scale: int | None = None,
    frames: int | None = None,
    codec: str = "libx264",
    preset: str | None = None,
    crf: int | None = None,
    precisions: list[str | None] | None = None,
    batch: int | None = None,
    variants: list[EngineVariant] | None = None,
    weights: str | None = None,
    model: nn.Module | None = None,
    device: str | torch.device | None = None,
    lossless: bool = False,
    workdir: str | Path | None = None,
    rounds: int = 1,
    encoder_options: dict[str, str] | None = None,
) -> BenchResult:
    """Generate a width x height clip, run the naive loop and the engine on it, compare.

    `model` overrides `weights` (tests pass tiny networks). `preset` and `crf` left None
    are veryfast and 18 where the encoder has such options and `encoder_options` do not
    set them (bench_encoder_defaults). `lossless` encodes FFV1 4:4:4 (codec, preset and
    crf are then ignored). `workdir` keeps the clip and both outputs there; by default
    they go to a temporary folder that is removed. `rounds` > 1 runs
    both again, alternating, and keeps each row's fastest round. `variants` lists the
    engine configurations to time (default: one per precision, at `batch`); two that the
    device's defaults make one (fp32 and fp32 at batch 1 on the CPU) are refused.
    `encoder_options` (e.g. {"threads": "6"}) go to every encoder, the naive loop's too.
    """
    dev = resolve_device(device)
    frames = frames if frames is not None else DEFAULT_FRAMES.get(dev.type, 12)
    check_clip_shape(width, height, frames)  # before the encoder sees a size it cannot take
    if model is None:
        model, origin = bench_model(weights, scale)
    else:
        model, origin = load_network(model, scale).model, "network passed in"
    scale = _checked_scale(model, width, height)
    # The naive loop runs whole frames in fp32: one too large for the machine ended in the
    # allocator's traceback, or in the kernel killing the process, after the clip was made.
    check_memory(model, (height, width), dev, model_name(model), flag="--width/--height")
    encoding = _bench_encoding(codec, preset, crf, lossless, encoder_options)
    if variants is None:
        variants = [EngineVariant(precision=p, batch=batch) for p in precisions or [None]]
    if rounds < 1:
        raise VsrError(f"--rounds must be at least 1, not {rounds}")
    alike = first_two_alike(variants, dev)
    if alike is not None:
        first, second = (variants[place] for place in alike)
        if first == second:
            raise VsrError(f"the engine configuration {first.label} is asked for twice")
        raise VsrError(
            f"the engine configurations {first.label} and {second.label} are one on {dev} "
            f"({first.on(dev).label}); ask for it once"
        )
    check_encoder(
        encoding.codec, width, height, scale, encoding.pix_fmt, encoding.options, encoding.crf
    )

    with tempfile.TemporaryDirectory(prefix="vsr-bench-") as scratch:
        folder = Path(workdir) if workdir is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        clip = make_bench_clip(folder / "source.mkv", width, height, frames, lossless=lossless)
        _start_device(dev, model, height, width)
        naive_path = folder / "naive.mkv"
        naive_runs, engine_runs = _time_rounds(
            clip, folder, naive_path, model, dev, scale, variants, encoding, rounds
        )
        naive = min(naive_runs, key=lambda run: run.wall_seconds)
        result = BenchResult(
            title=f"vsr bench: naive loop vs engine, {model_name(model)} ({origin})",
            model=model_name(model),
            weights=origin,
            device=str(dev),
            device_name=torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
            torch_threads=torch.get_num_threads(),
            input_size=(width, height),
            output_size=(width * scale, height * scale),
            frames=frames,
            rounds=rounds,
            source="FFV1 yuv444p (lossless)" if lossless else "H.264 yuv420p (ultrafast, crf 16)",
            codec=encoding.codec,
            preset=encoding.preset,
            crf=encoding.crf,
            pix_fmt=encoding.pix_fmt,
            encoder_options=encoding.extra,
        )
        naive_fps = naive.frames / naive.wall_seconds
        result.rows.append(_naive_row(naive, naive_runs))
        for variant in variants:
            _add_engine_row(
                result, variant, engine_runs[variant], naive_path, naive_fps, encoding.preset
            )
    if dev.type == "cpu":
        result.notes.append(
            f"CPU run ({torch.get_num_threads()} torch threads): GPU figures are n/a"
        )
    elif torch.backends.cudnn.allow_tf32:
        result.notes.append(
            "fp32 rows run their convolutions in TF32 (torch's default on this GPU), as a "
            "user's own fp32 loop would"
        )
    return result


def _checked_scale(model: nn.Module, width: int, height: int) -> int:
    """The scale the bench runs at, the network's own (load_network refused another asked
    for); refused where the network is same-size or the clip's sides do not suit it."""
    if model.scale == 1:
        # The naive loop runs the network on each decoded frame as it is (no bicubic first),
        # and its output is the engine's reference: both need a network that enlarges.
        raise VsrError(
            "vsr bench compares the engine with a naive loop that runs the network on each "
            "frame as decoded, which needs a network that enlarges (IMDN_AS keeps its "
            "input's size); give x2, x3 or x4 weights, or time IMDN_AS alone with "
            "vsr bench --model-only"
        )
    multiple = getattr(model, "input_multiple", 1)
    if width % multiple or height % multiple:
        raise VsrError(f"{model_name(model)} needs sides that are multiples of {multiple}")
    return model.scale


@dataclass(frozen=True)
class _Encoding:
    """What every row encodes with: the naive loop and the engine alike."""

    codec: str
    preset: str | None
    crf: int | None
    pix_fmt: str
    options: dict[str, str]  # all the encoder gets: preset, crf and the user's own
    extra: dict[str, str]  # the user's own (-e), which the engine adds to its preset and crf


def _bench_encoding(
    codec: str,
    preset: str | None,
    crf: int | None,
    lossless: bool,
    encoder_options: dict[str, str] | None,
) -> _Encoding:
    if lossless:
        codec, preset, crf, pix_fmt, options = "ffv1", None, None, "yuv444p", {}
    else:
        # One given for an encoder without it was refused as "mpeg4 has no option preset
        # (check -e KEY=VALUE)", of a --preset the user gave as such.
        for flag, value in (("--preset", preset), ("--crf", crf)):
            if value is not None and encoder_option_type(codec, flag[2:]) is None:
                raise VsrError(f"{codec} has no {flag[2:]} option; leave out {flag}")
        # Here, not in the command: run_bench(codec="libvpx-vp9") gave VP9 a preset it
        # does not have ("libvpx-vp9 has no option preset") and SVT-AV1 "veryfast".
        preset, crf = bench_encoder_defaults(codec, preset, crf, encoder_options)
        pix_fmt = "yuv420p"
        options = {k: str(v) for k, v in (("preset", preset), ("crf", crf)) if v is not None}
    extra = dict(encoder_options or {})
    options.update(extra)
    # As quiet as the engine's writer makes them (log-level=error within x265-params): x265
    # and SVT-AV1 printed their banners amid the table, from the trial open and the naive
    # loop, and the two rows' encoders ran with different parameters.
    quiet_encoder(video_encoder(codec).name, options)
    return _Encoding(codec, preset, crf, pix_fmt, options, extra)


_EngineRun = tuple[float, RunReport, Path]  # wall seconds, the engine's report, its output


def _time_rounds(
    clip: Path,
    folder: Path,
    naive_path: Path,
    model: nn.Module,
    dev: torch.device,
    scale: int,
    variants: list[EngineVariant],
    encoding: _Encoding,
    rounds: int,
) -> tuple[list[NaiveResult], dict[EngineVariant, list[_EngineRun]]]:
    """Every round of the naive loop and of each engine variant, in the order they ran."""
    from vsr.video.writer import EncodeSettings

    settings = EncodeSettings(
        codec=encoding.codec,
        crf=encoding.crf,
        preset=encoding.preset,
        pix_fmt=encoding.pix_fmt,
        options=encoding.extra,
    )
    naive_runs, engine_runs = [], {v: [] for v in variants}
    # Rounds alternate naive and engine, so a neighbour's load that comes and goes on a
    # shared machine hits both; each row keeps its fastest round (the least disturbed).
    for _ in range(rounds):
        naive_path.unlink(missing_ok=True)
        _release_cached_memory(dev)
        naive_runs.append(
            naive_upscale(
                clip,
                naive_path,
                copy.deepcopy(model),
                dev,
                encoding.codec,
                encoding.pix_fmt,
                encoding.options,
            )
        )
        for variant in variants:
            engine_path = folder / f"engine-{variant.label.replace(',', '-')}.mkv"
            _release_cached_memory(dev)
            engine_runs[variant].append(
                _run_engine(clip, engine_path, model, dev, scale, variant, settings)
            )
    return naive_runs, engine_runs


def _run_engine(
    clip: Path,
    engine_path: Path,
    model: nn.Module,
    dev: torch.device,
    scale: int,
    variant: EngineVariant,
    settings: EncodeSettings,
) -> _EngineRun:
    from vsr.runner import upscale_video

    start = time.perf_counter()
    try:
        report = upscale_video(
            clip,
            engine_path,
            scale=scale,
            weights=model,
            device=dev,
            precision=variant.precision,
            batch=variant.batch,
            channels_last=variant.channels_last,
            compile=variant.compile,
            cuda_graphs=variant.cuda_graphs,
            encoders=variant.encoders,
            settings=settings,
            progress=False,
            overwrite=True,
        )
    except KeyboardInterrupt as stop:
        # The engine's advice to run again with --resume is for `vsr run`: a
        # bench's clips are scratch, and `vsr bench` has no --resume.
        with contextlib.suppress(AttributeError):
            del stop.__notes__
        raise
    return time.perf_counter() - start, report, engine_path


def _naive_row(naive: NaiveResult, naive_runs: list[NaiveResult]) -> BenchRow:
    """The naive loop's row, from its fastest round `naive`."""
    naive_steady = naive.wall_seconds - naive.startup_seconds
    return BenchRow(
        name="naive loop",
        precision="fp32",
        batch=1,
        frames=naive.frames,
        wall_seconds=round(naive.wall_seconds, 4),
        fps=round(naive.frames / naive.wall_seconds, 3),
        ratio_to_naive=1.0,
        # Beside the engine's steady fps, the naive loop's own: without its start.
        steady_fps=round(naive.frames / naive_steady, 3) if naive_steady > 0 else None,
        startup_seconds=round(naive.startup_seconds, 4),
        stage_busy_seconds={s: round(naive.clock.busy[s], 4) for s in STAGES},
        gpu_util_mean_percent=_get(naive.gpu_summary, "gpu_util_mean_percent"),
        # Of the time after its start, as the engine rows' share (and the legend):
        # of the whole wall, a slow start read as an idle encoder.
        encoder_busy_share=(
            round(naive.clock.busy["encode"] / naive_steady, 4) if naive_steady > 0 else None
        ),
        gpu_memory_used_max_bytes=_get(naive.gpu_summary, "memory_used_max_bytes"),
        gpu_peak_allocated_bytes=naive.gpu_peak_allocated_bytes,
        round_walls=[round(run.wall_seconds, 3) for run in naive_runs],
    )


def _add_engine_row(
    result: BenchResult,
    variant: EngineVariant,
    runs: list[_EngineRun],
    naive_path: Path,
    naive_fps: float,
    preset: str | None,
) -> None:
    """The row of `variant`'s fastest round, compared with the naive loop's output, and its
    notes."""
    wall, report, engine_path = min(runs, key=lambda run: run[0])
    compared = decoded_psnr(naive_path, engine_path)
    total, lowest = compared.psnr_db, compared.lowest_frame_psnr_db
    name = _engine_row_name(variant, report)
    # A missing or extra frame counts here too.
    mistimed, where = compare_timelines(compared.times_first, compared.times_second)
    if mistimed:
        result.notes.append(
            f"{name}: {mistimed} frame(s) missing or shown at other times than the "
            f"naive loop's ({where}, naive first); the PSNR pairs frames in order"
        )
    if math.isinf(total):
        result.notes.append(f"{name}: output identical to the naive")
    steady = steady_seconds(wall, report.startup_s, report.warmup_s, report.frames, report.batch)
    result.rows.append(
        BenchRow(
            name=name,
            precision=report.precision,
            batch=report.batch,
            frames=report.frames,
            wall_seconds=round(wall, 4),
            fps=round(report.frames / wall, 3),
            ratio_to_naive=round(report.frames / wall / naive_fps, 3),
            # On a GPU the network's own device time (CUDA events), not the
            # host's time to queue it.
            stage_busy_seconds={
                s: report.stages[s].get("device_busy_s", report.stages[s]["busy_s"]) for s in STAGES
            },
            warmup_seconds=report.warmup_s,
            startup_seconds=report.startup_s,
            drain_seconds=report.drain_s,
            steady_fps=round(report.frames / steady, 3) if steady > 0 else None,
            gpu_util_mean_percent=_get(report.gpu_summary, "gpu_util_mean_percent"),
            encoder_busy_share=report.encoder_busy_share,
            gpu_memory_used_max_bytes=_get(report.gpu_summary, "memory_used_max_bytes"),
            gpu_peak_allocated_bytes=report.gpu_peak_allocated_bytes,
            psnr_vs_naive_db=round(total, 3),
            min_frame_psnr_vs_naive_db=round(lowest, 3),
            mistimed_frames=mistimed,
            round_walls=[round(run[0], 3) for run in runs],
        )
    )
    notes = [_for_the_bench(n, name, variant, report, preset) for n in report.notes]
    result.notes.extend(n for n in notes if n not in result.notes)


def _engine_row_name(variant: EngineVariant, report: RunReport) -> str:
    """ "engine fp16 batch 4 cl graphs": what ran, as the engine's report says it."""
    name = f"engine {report.precision} batch {report.batch}"
    extras = [e for e in variant.label.split(",")[1:] if not e.startswith("batch=")]
    if not report.fast_path.get("cuda_graphs", True):
        # Asked for, not run (CUDA graphs need a GPU): the row must not claim them.
        extras = ["graphs(ignored)" if e == "graphs" else e for e in extras]
    return name + "".join(f" {e}" for e in extras)


def _for_the_bench(
    note: str, row: str, variant: EngineVariant, report: RunReport, preset: str | None
) -> str:
    """`note` of the engine's run, or, for the runner's advice on encoders that held the
    run back, the same advice in the bench's terms: it named `--encoders 2`, which `vsr
    bench` does not take, and no row."""
    encoders = report.fast_path.get("encoders", variant.encoders)
    share = report.encoder_busy_share
    held_back = ("the encoder was busy ", f"the {encoders} encoders were busy ")
    if share is None or not note.startswith(held_back) or "held it back" not in note:
        return note
    more = replace(variant, precision=report.precision, encoders=encoders + 1)
    faster = " (or a faster --preset)" if preset is not None else ""
    busy = "the encoder was" if encoders == 1 else f"the {encoders} encoders were"
    return (
        f"{row}: {busy} busy {share:.0%} of the run and held it back: --variant "
        f"{more.label}{faster} would finish sooner"
    )


def _get(summary: dict[str, float] | None, key: str) -> float | None:
    return None if summary is None else summary.get(key)


def _cell(value: float | None, form: str, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "identical"
    return f"{value:{form}}{unit}"


def _psnr_cell(row: BenchRow, value: float | None) -> str:
    """A PSNR, marked when the frames it compares are not the naive loop's frames at the
    same times (a count or timestamp mismatch, told in the notes)."""
    cell = _cell(value, ".2f", " dB")
    return f"{cell} (!)" if row.mistimed_frames else cell


def format_bench(result: BenchResult) -> str:
    """The table `vsr bench` prints."""
    width, height = result.input_size
    out_w, out_h = result.output_size
    encoder = result.codec + "".join(
        f" {k} {v}" for k, v in (("preset", result.preset), ("crf", result.crf)) if v is not None
    )
    encoder += "".join(f" {k}={v}" for k, v in result.encoder_options.items())
    where = result.device_name or f"{result.device}, {result.torch_threads} threads"
    header = [
        result.title,
        f"{counted(result.frames, 'frame')} {width}x{height} -> {out_w}x{out_h}, source {result.source}, "
        f"encoder {encoder} {result.pix_fmt}, on {where}",
    ]
    if result.rounds > 1:
        header.append(f"best of {result.rounds} alternating rounds per row")
    columns = ["", "fps", "ratio", "steady fps", "wall s", "start s", "warm-up s", *STAGES]
    columns += ["GPU util", "enc busy", "GPU mem", "PSNR vs naive", "lowest frame"]
    body = []
    for row in result.rows:
        memory = row.gpu_memory_used_max_bytes
        encoders = None if row.encoder_busy_share is None else 100 * row.encoder_busy_share
        body.append(
            [
                row.name,
                f"{row.fps:.2f}",
                f"{row.ratio_to_naive:.2f}x",
                _cell(row.steady_fps, ".2f") if row.steady_fps is not None else "-",
                f"{row.wall_seconds:.2f}",
                _cell(row.startup_seconds, ".2f") if row.startup_seconds is not None else "-",
                f"{row.warmup_seconds:.2f}" if row.warmup_seconds else "-",
                *[f"{row.stage_busy_seconds[s]:.2f}" for s in STAGES],
                _cell(row.gpu_util_mean_percent, ".0f", "%"),
                _cell(encoders, ".0f", "%"),
                _cell(None if memory is None else memory / 2**30, ".2f", " GiB"),
                "-" if row.name == "naive loop" else _psnr_cell(row, row.psnr_vs_naive_db),
                "-"
                if row.name == "naive loop"
                else _psnr_cell(row, row.min_frame_psnr_vs_naive_db),
            ]
        )
    lines = [*header, "", *text_table(columns, body)]
    lines.append(
        "stage columns: busy seconds (the engine's stages overlap; the naive loop's add up). "
        "They hold different work in the two kinds of row: the naive loop converts colours in "
        "decode and encode (swscale), the engine in upload and download (in torch); on the CPU "
        "nothing is uploaded or downloaded. On a GPU the engine's model column is the "
        "network's time on the device (CUDA events), its upload and download the host's time "
        "to queue that work, not the GPU's time to do it; "
        "start: opening, loading and setting up until the first network call; warm-up: "
        "compilation and graph capture; steady fps: frames over the wall time less start and "
        "warm-up (what a long clip approaches); enc busy: the encoders' busy share of that "
        "time (near 100%: they set the pace); lowest frame: the PSNR of the worst frame; "
        "(!): frames missing or shown at other times than the naive loop's (see the notes)"
    )
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def write_bench_json(result: BenchResult, path: str | Path, command: str | None = None) -> None:
    """The table as JSON, with the command that measured it when given."""
    write_json({"command": command, **result.to_dict()}, path)
