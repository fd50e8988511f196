"""`vsr bench`: how fast, end to end against the naive loop, the network alone, or the
pressure test."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from vsr.atomic_file import check_can_write
from vsr.commands.encoder_options import add_encoder_option, given_encoder_options
from vsr.errors import VsrError
from vsr.printable import printable

if TYPE_CHECKING:
    import torch  # imported by the command when it runs: `vsr --help` stays fast


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure speed: naive loop vs engine, the network alone, or the pressure test",
        description="Default: generate a WIDTHxHEIGHT clip and upscale it twice in this "
        "process, with the naive loop (decode, fp32 network per frame, encode, one thread) "
        "and with the engine of `vsr run`; print fps, the ratio, per-stage busy time, GPU "
        "utilisation and memory (n/a on the CPU) and the PSNR of the engine's output against "
        "the naive one. --model-only times the network alone over --sizes; --pressure "
        "times IMDN and IMDN_RTC over growing sizes and draws time and memory (PNG + CSV).",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--model-only", action="store_true", help="time the network alone")
    mode.add_argument("--pressure", action="store_true", help="the seed paper's pressure test")
    # `vsr run` and `vsr profile` write a size as --size WxH; here it is no option of its own,
    # and argparse took it for --sizes ("not used by the end-to-end bench"). Kept out of
    # --help: it only says what to write instead.
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, help="clip width (default 960)")
    parser.add_argument("--height", type=int, help="clip height (default 540)")
    parser.add_argument(
        "--scale", type=int, help="network scale (default: the weights' own, else 2)"
    )
    parser.add_argument("--frames", type=int, help="clip length (default 200 on GPU, 4 on CPU)")
    parser.add_argument("--codec", help="encoder (default libx264)")
    parser.add_argument(
        "--preset", help="encoder preset (default veryfast where the encoder names its presets)"
    )
    parser.add_argument(
        "--crf", type=int, help="encoder quality (default 18 where the encoder has a crf)"
    )
    add_encoder_option(parser, "threads=6 (for the naive loop and every engine row)")
    parser.add_argument(
        "--lossless",
        action="store_true",
        help="FFV1 4:4:4 source and outputs: no coding noise in the PSNR column, though each "
        "row's own 8-bit YCbCr round trip remains (about 49 dB is agreement)",
    )
    parser.add_argument(
        "--precision",
        help="fp32, fp16 or bf16, or a comma list (one engine row or timing each); "
        "default: fp16 on CUDA; on the CPU bf16 where it has bf16 instructions, else fp32 "
        "(--pressure: fp32)",
    )
    parser.add_argument("--batch", type=int, help="frames per network call")
    parser.add_argument(
        "--rounds",
        type=int,
        help="run naive and engine this many times, alternating, and keep each one's fastest "
        "(steadier figures on a shared machine; default 1)",
    )
    parser.add_argument("--weights", help="weights file or manifest name (default: by scale)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present)")
    # A string, not a Path, until it is checked: Path drops the slash of a folder's name.
    parser.add_argument("--json", metavar="PATH", help="also write the table as JSON")
    parser.add_argument(
        "--sizes",
        help="--model-only: input sizes, e.g. 540p,1080p,4k,960x540,256 (default 540p,1080p); "
        "--pressure: default 128,256,512,800,1080p,4k",
    )
    parser.add_argument(
        "--variant",
        action="append",
        metavar="SPEC",
        help="an engine configuration to time, repeatable: comma-separated fp32/fp16/bf16, "
        "cl (channels_last), compile or compile=MODE, graphs (CUDA graphs), enc=N (encoders), "
        "batch=N; "
        "e.g. --variant fp16 --variant fp16,cl,graphs,enc=2 (default: one per --precision)",
    )
    parser.add_argument(
        "--channels-last", action="store_true", help="--model-only: channels_last memory format"
    )
    parser.add_argument(
        "--compile",
        nargs="?",
        const=True,
        default=False,
        metavar="MODE",
        help="--model-only: compile, as the engine does (on the CPU ahead of time, one "
        "package per shape kept in the vsr cache; on CUDA with torch.compile), optionally "
        "in a torch.compile MODE such as "
        "max-autotune-no-cudagraphs; the first call's time (compiling or loading) is reported",
    )
    parser.add_argument(
        "--jit",
        action="store_true",
        help="--model-only, with --compile: torch.compile in this process instead of a package "
        "compiled ahead of time (what CUDA always gets)",
    )
    parser.add_argument(
        "--cuda-graphs", action="store_true", help="--model-only: replay as a CUDA graph"
    )
    parser.add_argument(
        "--unfolded",
        action="store_true",
        help="--model-only: the channel attention multiplies the feature maps (the reference "
        "form) instead of being folded into the fusion convolution, as the engine runs it",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="--model-only/--pressure: timed calls (default 3 on the CPU; on a GPU 50, "
        "--pressure 20)",
    )
    parser.add_argument(
        "--kernels",
        type=int,
        nargs="?",
        const=15,
        default=None,
        metavar="N",
        help="--model-only: also profile kernel by kernel and list the N longest (default 15), "
        "with the split between convolutions, element-wise work and copies",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        metavar="PIXELS",
        help="--pressure: skip sizes with a side longer than this (4K IMDN is slow on a CPU)",
    )
    parser.add_argument(
        "--out",
        metavar="STEM",  # text, not a Path: a Path drops the trailing slash of a folder
        help="--pressure: writes STEM.png and STEM.csv, STEM a file name, not a folder "
        "(default: pressure; a .png or .csv ending is taken off)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.repeats is not None and args.repeats < 1:
        raise VsrError("--repeats must be at least 1")
    if args.kernels is not None and args.kernels < 1:
        raise VsrError(f"--kernels must be at least 1, not {args.kernels}")
    if args.batch is not None and args.batch < 1:
        raise VsrError(f"--batch must be at least 1, not {args.batch}")
    if args.scale not in (None, 2, 3, 4):
        raise VsrError(f"--scale must be 2, 3 or 4 (IMDN's factors), not {args.scale}")
    if args.compile == "":  # `--compile "$MODE"` with MODE unset: it timed uncompiled
        raise VsrError("--compile got an empty mode; give a mode, or --compile alone")
    _refuse_network_switches_outside_model_only(args)
    _refuse_flags_of_another_mode(args)
    if args.max_size is not None and args.max_size < 1:
        raise VsrError(f"--max-size must be at least 1, not {args.max_size}")
    stem = pressure_stem(args.out)
    # Checked now, not after minutes of measuring.
    check_can_write(args.json, "JSON", "--json")
    args.json = None if args.json is None else Path(args.json)
    if args.pressure:
        _check_pressure_outputs(args.json, stem)
        return _pressure(args)
    if args.model_only:
        return _model_only(args)
    return _end_to_end(args)


def _refuse_network_switches_outside_model_only(args: argparse.Namespace) -> None:
    switches = (
        ("--channels-last", args.channels_last),
        ("--compile", args.compile),
        ("--cuda-graphs", args.cuda_graphs),
        ("--unfolded", args.unfolded),
        ("--jit", args.jit),
        ("--kernels", args.kernels is not None),
    )
    network_only = [name for name, given in switches if given]
    if network_only and args.pressure:
        raise VsrError(f"{', '.join(network_only)}: for --model-only, not --pressure")
    if network_only and not args.model_only:
        raise VsrError(
            f"{', '.join(network_only)}: for --model-only; end to end, name the switches in a "
            "variant, e.g. --variant fp16,cl,compile,graphs"
        )
    if args.jit and not args.compile:
        raise VsrError("--jit says how --compile compiles: give --compile too")
    if args.variant and args.model_only:
        raise VsrError("--variant is for the end-to-end bench, not --model-only")


def _refuse_flags_of_another_mode(args: argparse.Namespace) -> None:
    if args.size is not None:
        raise VsrError(
            "--size: vsr bench takes its clip's size as --width W --height H (--sizes lists "
            "the input sizes of --model-only and --pressure)"
        )
    # Options of another mode would otherwise be ignored without a word.
    given = {
        "--width": args.width is not None,
        "--height": args.height is not None,
        "--frames": args.frames is not None,
        "--codec": args.codec is not None,
        "--preset": args.preset is not None,
        "--crf": args.crf is not None,
        "-e": bool(args.encoder_options),
        "--lossless": args.lossless,
        "--rounds": args.rounds is not None,
        "--variant": bool(args.variant),
        "--sizes": args.sizes is not None,
        "--repeats": args.repeats is not None,
        "--max-size": args.max_size is not None,
        "--out": args.out is not None,
        "--weights": args.weights is not None,
        "--batch": args.batch is not None,
    }
    # The clip's and the encoder's settings, --width to --variant, are the end-to-end
    # bench's: `--model-only --width 64 --height 48` timed 540p and 1080p without a word.
    clip = {"--width", "--height", "--frames", "--codec", "--preset", "--crf", "-e"}
    allowed = {
        "end-to-end": {"--weights", "--batch", "--lossless", "--rounds", "--variant", *clip},
        "--model-only": {"--sizes", "--repeats", "--weights", "--batch"},
        "--pressure": {"--sizes", "--repeats", "--max-size", "--out"},
    }
    mode = "--pressure" if args.pressure else "--model-only" if args.model_only else "end-to-end"
    misplaced = [flag for flag, on in given.items() if on and flag not in allowed[mode]]
    if misplaced:
        hint = ""
        if {"--width", "--height"} & set(misplaced):
            hint = "; --sizes WIDTHxHEIGHT gives its input sizes"
        if "--sizes" in misplaced and mode == "end-to-end":
            hint = "; --width W --height H give its clip's size"
        raise VsrError(f"{', '.join(misplaced)}: not used by the {mode} bench{hint}")


def _check_pressure_outputs(json_path: Path | None, stem: Path) -> None:
    """The CSV and the PNG --pressure writes: writable, and not where the JSON goes."""
    csv, png = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".png")
    check_can_write(csv, "CSV")
    check_can_write(png, "PNG")
    # The JSON is written last: on the CSV's or the PNG's path it replaced that file,
    # after "wrote p.png and p.csv" had been said.
    for kind, path in (("CSV", csv), ("PNG", png)):
        if json_path is not None and json_path.resolve() == path.resolve():
            raise VsrError(
                f"--json {json_path} is where the pressure test writes its {kind} "
                f"(--out {stem}); give the JSON a name of its own"
            )


def pressure_stem(out: str | os.PathLike | None) -> Path:
    """Where --pressure writes STEM.png and STEM.csv: `--out plot.png` (or .csv) names
    one of them, which wrote plot.png.png and plot.png.csv before. A folder is refused,
    as every other output flag refuses one: `--out outdir/` wrote outdir.png and
    outdir.csv beside the folder, and `--out ""` ended in a traceback."""
    if out is None:
        return Path("pressure")
    text = os.fspath(out)
    takes = "the pressure test writes STEM.png and STEM.csv for --out STEM"
    if not text.strip():
        raise VsrError(f"--out needs a file name: {takes}")
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        raise VsrError(
            f"--out {text} names a folder; give a file name: {takes} "
            f"(e.g. --out {Path(text) / 'pressure'})"
        )
    stem = Path(text)
    return stem.with_suffix("") if stem.suffix.lower() in (".png", ".csv") else stem


def _end_to_end(args: argparse.Namespace) -> int:
    from vsr.bench import (
        first_two_alike,
        format_bench,
        parse_precisions,
        parse_variant,
        run_bench,
        write_bench_json,
    )
    from vsr.upscale import resolve_device

    variants = [parse_variant(spec) for spec in args.variant] if args.variant else None
    # A variant names its own precision and batch: beside one, these went unused.
    unused = [flag for flag, value in (("--precision", args.precision), ("--batch", args.batch))
              if value is not None]  # fmt: skip
    if variants and unused:
        raise VsrError(
            f"{', '.join(unused)}: not used with --variant, which names its own precision "
            "and batch (e.g. --variant fp16,batch=4)"
        )
    device = resolve_device(args.device)
    alike = first_two_alike(variants, device) if variants else None
    if alike is not None:
        # Two equal rows would share one set of runs, each claiming to be its best round;
        # two spellings of one configuration (`fp32`, `fp32,batch=1`) were timed twice, as
        # two rows of one name with different figures.
        first, second = alike
        if variants[first] == variants[second]:
            raise VsrError(f"--variant {args.variant[first]} is given twice (or in two spellings)")
        raise VsrError(
            f"--variant {args.variant[first]} and --variant {args.variant[second]} are one "
            f"configuration on {device} ({variants[first].on(device).label}); give it once"
        )
    encoder = {"--codec": args.codec, "--preset": args.preset, "--crf": args.crf}
    given = [flag for flag, value in encoder.items() if value is not None]
    if args.lossless and given:
        # Ignored without a word before: the rows were FFV1 whatever --codec said.
        raise VsrError(f"{', '.join(given)}: not used with --lossless, which encodes FFV1 4:4:4")
    result = run_bench(
        width=args.width if args.width is not None else 960,
        height=args.height if args.height is not None else 540,
        scale=args.scale,
        frames=args.frames,
        codec=args.codec or "libx264",
        preset=args.preset,
        crf=args.crf,
        precisions=parse_precisions(args.precision),
        batch=args.batch,
        variants=variants,
        weights=args.weights,
        device=device,
        lossless=args.lossless,
        rounds=args.rounds if args.rounds is not None else 1,
        encoder_options=given_encoder_options(args),
    )
    print(format_bench(result))
    if args.json:
        write_bench_json(result, args.json, command=getattr(args, "command_line", None))
    return 0


def _model_only(args: argparse.Namespace) -> int:
    from vsr.bench import bench_model, model_name, parse_precisions
    from vsr.bench_kernels import format_kernels
    from vsr.bench_model import format_model_timings, parse_frame_sizes, time_model
    from vsr.default_precision import default_precision
    from vsr.report import write_json
    from vsr.upscale import resolve_device

    device = resolve_device(args.device)
    # The network alone runs at its input's size (--sizes): IMDN_AS takes no --scale.
    model, origin = bench_model(args.weights, args.scale, same_size_serves_any_scale=False)
    precisions = parse_precisions(args.precision or default_precision(device))
    timings = time_model(
        model,
        parse_frame_sizes(args.sizes or "540p,1080p"),
        precisions,
        device,
        batch=args.batch if args.batch is not None else 1,
        channels_last=args.channels_last,
        compile=args.compile,
        cuda_graphs=args.cuda_graphs,
        repeats=args.repeats,
        kernels=args.kernels is not None,
        fold=not args.unfolded,
        jit=args.jit,
    )
    where = torch_device_label(device)
    print(
        format_model_timings(
            timings, f"vsr bench --model-only: {model_name(model)} ({origin}), {where}"
        )
    )
    for t in timings:
        if t.kernels:
            title = f"\nkernels of one call, {t.size} {t.precision} batch {t.batch}"
            print(format_kernels(t.kernels, args.kernels, title))
    if args.json:
        write_json(
            {"command": getattr(args, "command_line", None), "model": model_name(model),
             "weights": origin, "device": where, "timings": [t.to_dict() for t in timings]},
            args.json,
        )  # fmt: skip
    return 0


def _pressure(args: argparse.Namespace) -> int:
    from vsr.bench_model import parse_frame_sizes
    from vsr.bench_pressure import (
        PRESSURE_SIZES,
        format_pressure,
        plot_pressure,
        run_pressure,
        write_pressure_csv,
    )
    from vsr.plots import new_figure
    from vsr.report import write_json
    from vsr.upscale import emulated_on, emulation_note, resolve_device

    new_figure()  # fail now, not after minutes of measuring, when matplotlib is missing
    device = resolve_device(args.device)
    precision = args.precision or "fp32"
    if "," in precision:
        raise VsrError("--pressure takes one --precision")
    sizes = parse_frame_sizes(args.sizes or PRESSURE_SIZES)
    if args.max_size is not None and all(max(wh) > args.max_size for _, wh in sizes):
        raise VsrError(f"every size is larger than --max-size {args.max_size}: nothing to time")
    points = run_pressure(
        sizes,
        device,
        scale=args.scale or 2,
        precision=precision,
        max_size=args.max_size,
        repeats=args.repeats,
    )
    print(format_pressure(points))
    if emulated_on(device, precision):  # as --model-only and the engine's rows say it
        print(f"note: {emulation_note(precision)}")
    stem = pressure_stem(args.out)
    write_pressure_csv(points, stem.with_name(stem.name + ".csv"))
    plot_pressure(points, stem.with_name(stem.name + ".png"), torch_device_label(device))
    print(printable(f"wrote {stem}.png and {stem}.csv"))
    if args.json:
        write_json({"command": getattr(args, "command_line", None),
                    "device": torch_device_label(device), "points": [vars(p) for p in points]},
                   args.json)  # fmt: skip
    return 0


def torch_device_label(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu, {torch.get_num_threads()} threads"
