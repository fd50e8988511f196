"""`vsr run INPUT OUTPUT`: upscale a clip, or every clip of a folder (optionally watching it)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vsr.commands.encoder_options import add_encoder_option, given_encoder_options
from vsr.counted import counted
from vsr.encoder_count import MAX_ENCODERS, check_encoders
from vsr.errors import VsrError
from vsr.printable import printable
from vsr.report import kept_from_an_interrupted_run
from vsr.shown_warnings import shown_as_warning

if TYPE_CHECKING:
    import torch

    from vsr.cluster import ClusterReport
    from vsr.network_cache import NetworkCache
    from vsr.pipelines import Preset
    from vsr.report import FolderReport
    from vsr.video.writer import EncodeSettings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="upscale a video file, an image sequence or a folder of clips",
        description="Upscale a video (or every clip of a folder) with IMDN: decode once, "
        "run the network in batches, encode once. Audio, subtitles, timestamps and "
        "colour metadata are kept.",
    )
    parser.add_argument(
        "input",
        type=Path,
        # argparse formats help with %: the pattern's own is written %%.
        help="video file, image sequence named by its frame number (scans/f_%%04d.png), "
        "or a folder of clips",
    )
    parser.add_argument(
        "output",
        type=str,  # as typed: a trailing / means a folder, which Path would drop
        help="output file, or a folder: for folder input, or one that a clip goes into under "
        "its own name (an existing one, or any ending in /, made if missing)",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--scale",
        type=float,
        help=(
            "factor: 2, 3, 4 or fractional (default: the weights' own, 2 for the default ones, "
            "1 for IMDN_AS, which restores at the source's size)"
        ),
    )
    target.add_argument("--size", help="exact output size WIDTHxHEIGHT, e.g. 1920x1080")
    target.add_argument("--height", type=int, help="output height; width keeps the aspect")
    parser.add_argument("--weights", help="weights file or manifest name (default: by scale)")
    parser.add_argument(
        "--pipeline", help="preset name (default, fast, archive) or a TOML path (default: default)"
    )
    parser.add_argument(
        "--codec",
        help="video encoder (default: the preset's, libx264 in `default`; a container that "
        "cannot hold it gets its own, e.g. VP9 for .webm)",
    )
    parser.add_argument(
        "--crf", type=int, help="encoder quality, lower is better (default: the preset's, 18)"
    )
    parser.add_argument(
        "--preset", help="encoder speed preset, e.g. veryfast (default: the preset's, medium)"
    )
    parser.add_argument("--pix-fmt", help="output pixel format (default: follows the input)")
    add_encoder_option(parser, "tune=film")
    parser.add_argument(
        "--batch",
        type=int,
        help="frames per network call (default: the preset's on a GPU, 1 on the CPU)",
    )
    parser.add_argument(
        "--precision",
        choices=["fp32", "fp16", "bf16"],
        help="network precision (default: the preset's on a GPU; on the CPU bf16 where it "
        "has bf16 instructions, else fp32); against fp32, Set5 x2 measured -0.002 dB in "
        "fp16 and -0.0007 dB in bf16 (H100), -0.0005 dB in bf16 on an AVX512_BF16 CPU",
    )
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present)")
    parser.add_argument("--max-memory", help="network memory budget, e.g. 6GiB (decides tiling)")
    speed = argparse.BooleanOptionalAction
    parser.add_argument(
        "--channels-last", action=speed, help="channels_last memory format for the network"
    )
    parser.add_argument(
        "--compile",
        action=speed,
        help="compile the network (pays on a GPU, where the first run of a frame size "
        "waits 30-45 s and later runs a few seconds; on the CPU each size's package is kept "
        "in the vsr cache and loads in a moment; default there: compiled when the clip is "
        "long enough to repay the build, about 60 frames at 960x540, and for a shorter "
        "clip where a package is kept for its frame size)",
    )
    parser.add_argument(
        "--cuda-graphs", action=speed, help="GPU: replay the network as a CUDA graph per shape"
    )
    parser.add_argument(
        "--encoders", type=int, metavar="N",
        help="encoder instances over GOP-aligned chunks, for when one encoder is the bottleneck "
        f"(1 to {MAX_ENCODERS})",
    )  # fmt: skip
    part = parser.add_argument_group(
        "a part of the clip",
        "upscale only this part (every clip's, for a folder); the output starts at zero, with "
        "its audio and subtitles cut alike. TIME: seconds (90, 90.5) or [HH:]MM:SS (1:30)",
    )
    part.add_argument("--start", metavar="TIME", help="from this time (default: the start)")
    part.add_argument("--end", metavar="TIME", help="up to this time (default: the end)")
    part.add_argument("--duration", metavar="TIME", help="for this long (instead of --end)")
    parser.add_argument(
        "--deinterlace",
        choices=["auto", "all", "tff", "bff", "film", "off"],
        help="deinterlace frames before upscaling (bwdif; one frame per frame, the frame rate "
        "and times kept): auto, the frames the source marks interlaced (default); all, every "
        "frame, for sources that do not mark theirs (top field first where unmarked); tff or "
        "bff, every frame with that field first, whatever the frames say; film, inverse "
        "telecine of film carried as 29.97i with 3:2 pulldown (fieldmatch, bwdif where fields "
        "do not match, decimate: 4 frames of every 5, at 23.976 fps; a source at another rate "
        "as auto); off, none",
    )
    parser.add_argument(
        "--field-rate",
        action="store_true",
        help="one output frame per field, at twice the frame rate (50i to 50p, 59.94i to "
        "59.94p), for video shot interlaced (sports, news); with the --deinterlace modes but "
        "off and film. Frames not deinterlaced are given twice, so the rate stays steady",
    )
    parser.add_argument(
        "--input-rate", metavar="RATE",
        help="frame rate of a raw video stream (.h264, .hevc, .m2v ...) whose headers give "
        "none or a wrong one, or of an image sequence, e.g. 25, 29.97 or 30000/1001 "
        "(default: the rate the stream states, else 25, as ffmpeg); refused for a file that "
        "times its own frames, and in "
        "a folder such a clip keeps its times, with a note",
    )  # fmt: skip
    # A string, not a Path, until it is checked: Path drops the slash of a folder's name.
    parser.add_argument("--report", help="write the throughput report (JSON) here")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "--resume", action="store_true",
        help="keep finished chunks (in segment mode, segments) beside the output while it "
        "is made, so that an interrupted run given again with --resume continues where it "
        "stopped",
    )  # fmt: skip
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars or notes (errors, failed and damaged clips are still named)",
    )
    parser.add_argument(
        "--watch", action="store_true", help="folder input: keep processing new clips"
    )
    parser.add_argument(
        "--watch-interval", type=float, metavar="S",
        help="with --watch: seconds between looks at the folder; a clip must keep its size "
        "and modification time this long (default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--idle-exit", type=float, metavar="S",
        help="with --watch: stop after S seconds without new clips (default: run until Ctrl-C)",
    )  # fmt: skip
    parser.add_argument(
        "--ray", nargs="?", const="", metavar="ADDRESS",
        help="run on a Ray cluster (pip install 'ray>=2.60'): one task per clip, or per part with "
        "--segments; without ADDRESS a local Ray instance is started, `auto` finds one "
        "started on this machine (put --ray last, or write --ray=ADDRESS)",
    )  # fmt: skip
    parser.add_argument(
        "--segments", type=int, metavar="N",
        help="with --ray and one clip: split it at keyframes into N segments run in parallel",
    )  # fmt: skip
    parser.add_argument(
        "--segment-seconds", type=float, metavar="S",
        help="with --ray and one clip: split it into segments of about S seconds",
    )  # fmt: skip
    parser.set_defaults(func=run)


def _settings_and_model_options(args, on_gpu: bool | None = None) -> tuple[object, dict]:
    """Merge the preset (if any) with the flags; flags win. `on_gpu` says whether the
    network runs on a GPU (default: whether this machine would use one)."""
    from vsr.pipelines import check_for_encoder, parse_memory
    from vsr.video.codecs import encoder_option_type, video_encoder
    from vsr.video.encoder_choice import some_output_keeps_the_codec
    from vsr.video.writer import EncodeSettings

    preset = _preset(args)
    codec = args.codec or preset.codec
    # The preset's encoder options were written for its encoder; another one drops them.
    same = _same_encoder(codec, preset.codec)
    options = dict(preset.options) if same else {}
    # --crf and --preset override a preset file's options of those names, as its fields:
    # beside them, one was refused as set twice (or, before, the file's won without a word).
    for flag in ("crf", "preset"):
        if getattr(args, flag) is not None:
            options.pop(flag, None)
    typed = given_encoder_options(args)
    options.update(typed)
    # Its quality and speed carry over to another codec only where they mean something
    # there: a crf where the encoder has one (not FFV1), a named preset where presets are
    # names too (x264 <-> x265, not SVT-AV1's numbers); elsewhere the encoder's defaults.
    crf = preset.crf if same or encoder_option_type(codec, "crf") else None
    speed = preset.preset if same or encoder_option_type(codec, "preset") == "STRING" else None
    # An -e crf (or preset) takes the place of the preset's, as --crf does.
    crf = None if args.crf is not None or "crf" in typed else crf
    speed = None if args.preset or "preset" in typed else speed
    from_the_file = set(options) - set(typed)
    settings = EncodeSettings(
        codec=codec,
        crf=args.crf if args.crf is not None else crf,
        preset=args.preset or speed,
        pix_fmt=args.pix_fmt or preset.pix_fmt,
        options=options,
        # The user's -e options follow the codec vsr chooses for a container; the preset's not.
        preset_option_names=frozenset(from_the_file),
        codec_is_default=args.codec is None,
        pix_fmt_is_default=args.pix_fmt is None,
    )
    if some_output_keeps_the_codec(settings, _containers_written(args)):
        # Those outputs would fail one by one on the file's values, their file unnamed (a
        # .webm's VP9, in the codec's place, drops them where no codec was asked for).
        file_options = {name: options[name] for name in from_the_file}
        check_for_encoder(preset, video_encoder(codec).name, crf, speed, file_options)
    on_gpu = _wants_gpu(args.device) if on_gpu is None else on_gpu
    model = {
        # A preset's precision and batch are GPU settings; the CPU keeps batch 1 and its
        # own precision (vsr.default_precision), unless the preset asks for fp32 (archive).
        "precision": args.precision
        or (preset.precision if on_gpu or preset.precision == "fp32" else None),
        "batch": args.batch if args.batch is not None else (preset.batch if on_gpu else None),
        "max_memory": parse_memory(args.max_memory, "--max-memory")
        if args.max_memory
        else preset.max_memory,
        "encoders": args.encoders if args.encoders is not None else preset.encoders,
    }
    # compile and cuda_graphs are GPU settings too: on the CPU only a flag turns one on.
    # channels_last paid on both (IMDN x2, fp32 on 2 CPU cores: 10.5 against 15.3 s per
    # 960x540 frame; fp16 batch 4 on an H100: 10.2 against 12.9 ms), so a preset's applies.
    for name in ("channels_last", "compile", "cuda_graphs"):
        flag = getattr(args, name)
        from_preset = getattr(preset, name) if on_gpu or name == "channels_last" else False
        if flag is None:
            model[name] = from_preset
        else:  # --compile keeps a mode the preset names; --no-compile turns it off
            model[name] = (from_preset or True) if flag else False
    if not on_gpu and args.compile is None:
        # Compiled where the clip is long enough to repay the build (vsr.ops.compile_policy).
        model["compile"] = "auto"
    if model["batch"] is not None and model["batch"] < 1:
        raise VsrError(f"--batch must be at least 1, not {model['batch']}")
    check_encoders(model["encoders"])
    return settings, model


def _preset(args: argparse.Namespace) -> Preset:
    """The pipeline preset the run starts from: --pipeline's, else the bundled default."""
    from vsr.pipelines import Preset, available_presets, load_preset

    if args.pipeline:
        return load_preset(args.pipeline)
    if "default" in available_presets():
        return load_preset("default")
    return Preset(name="built-in")  # an installation without the pipelines/ folder


def _same_encoder(codec: str, other: str) -> bool:
    """Whether codec names `codec` and `other` open the same encoder: --codec hevc is the
    libx265 a preset names, and dropped its x265-params without a word."""
    from vsr.video.codecs import video_encoder

    if codec == other:
        return True
    try:
        return video_encoder(codec).name == video_encoder(other).name
    except VsrError:
        return False  # an unknown name is refused where the encoder is chosen


def _wants_gpu(device: str | None) -> bool:
    import torch

    if device is None or device == "auto":
        return torch.cuda.is_available()
    return device.startswith("cuda")


def _target(args) -> dict:
    from vsr.scaling import parse_size

    if args.size:
        return {"scale": None, "size": parse_size(args.size), "height": None}
    if args.height is not None:
        return {"scale": None, "size": None, "height": args.height}
    return {"scale": args.scale, "size": None, "height": None}  # None: the weights' own


def _clip_options(args) -> dict:
    """--start/--end/--duration (checked now, before any clip is opened), --resume,
    --deinterlace, --field-rate and --input-rate as upscale_video's arguments; empty when none is given."""
    from vsr.video.deinterlace import check_field_rate
    from vsr.video.raw_stream import parse_rate
    from vsr.video.trim import time_range

    given = {"start": args.start, "end": args.end, "duration": args.duration}
    options = {key: value for key, value in given.items() if value is not None}
    if time_range(**given) is None:
        options = {}
    if args.resume:
        options["resume"] = True
    if args.deinterlace is not None:
        options["deinterlace"] = args.deinterlace
    if args.field_rate:
        check_field_rate(True, args.deinterlace or "auto")  # now, not at the first clip
        options["field_rate"] = True
    if args.input_rate is not None:
        options["input_rate"] = parse_rate(args.input_rate)  # now, not at the first clip
        if args.input.is_dir():
            # A folder mixes raw streams with clips that time their own frames: those keep
            # their times, with a note, rather than each failing (Ray's workers too).
            options["input_rate_raw_only"] = True
    return options


def run(args: argparse.Namespace) -> int:
    from vsr.runner import upscale_video

    watch_only = [
        flag
        for flag, value in (
            ("--watch-interval", args.watch_interval),
            ("--idle-exit", args.idle_exit),
        )
        if value is not None
    ]
    if watch_only and not args.watch:
        raise VsrError(f"{', '.join(watch_only)}: only with --watch")
    folder_meant = args.output.endswith(("/", os.sep))
    args.output = Path(args.output)
    if "-" in (str(args.input), str(args.output)):
        # "-" would otherwise be looked up as a file of that name.
        raise VsrError(
            "vsr run takes files, not pipes (-): it seeks in the input, and writes the output "
            "beside its final name to rename it into place when complete"
        )
    if args.input.is_file() and (args.output.is_dir() or folder_meant):
        from vsr.folder import make_output_folder, output_for

        # As `vsr image photo.jpg out/` and `cp` do: the clip goes into the folder under its
        # own name (in Matroska where vsr cannot write its container, as in folder mode).
        # It said "out is a folder; give an output file name", and of a missing "out/",
        # whose slash Path dropped, "out: the output needs a file type".
        make_output_folder(args.output)
        args.output = output_for(args.input, args.output)
    from vsr.atomic_file import check_can_write
    from vsr.runner import check_clip_report_path

    # Now, not after hours of upscaling. A clip's report is first compared with the clip
    # and its output: check_can_write alone said of the input video "is not a vsr JSON
    # report", as if the report's name were fine and only the file in the way.
    if args.input.is_file():
        check_clip_report_path(args.report, args.input, args.output)
    else:
        check_can_write(args.report, "JSON", "--report")
    args.report = None if args.report is None else Path(args.report)
    target = _target(args)
    clip = _clip_options(args)
    from tqdm import tqdm

    # tqdm.write: a line printed while a bar is drawn goes above it, not glued onto it.
    say = (
        (lambda line: None)
        if args.quiet
        else (lambda line: tqdm.write(printable(line), file=sys.stderr))
    )
    if args.ray is not None or args.segments is not None or args.segment_seconds is not None:
        from vsr.commands.run_ray import run_on_ray

        # The workers, not this machine, decide whether the GPU settings apply.
        settings, cpu_model = _settings_and_model_options(args, on_gpu=False)
        _, gpu_model = _settings_and_model_options(args, on_gpu=True)
        check_what_every_clip_shares(args, settings, cpu_model, target)  # before Ray starts
        options = {
            "settings": settings,
            **cpu_model,
            **target,
            **clip,
            "gpu_options": gpu_model,
        }
        return run_on_ray(args, options, say)
    settings, model = _settings_and_model_options(args)
    if args.input.is_dir():
        return _run_folder(args, settings, model, {**target, **clip}, say)
    if args.watch:
        if not args.input.exists():  # said as such: "needs a folder" read as a wrong kind
            raise VsrError(f"{args.input}: no such folder to watch")
        raise VsrError("--watch needs a folder INPUT")
    report = upscale_video(
        args.input,
        args.output,
        weights=args.weights,
        device=args.device,
        settings=settings,
        report=args.report,
        progress=not args.quiet,
        overwrite=args.overwrite,
        **model,
        **target,
        **clip,
    )
    for note in report.notes:
        if not shown_as_warning(note):  # printed when it happened, as a warning
            say(f"vsr: note: {note}")
    if args.quiet and report.lost_frames:
        # Damage is no chatter: --quiet names it, as it does a folder run's damaged clips.
        print(printable(f"vsr: {_damaged(args.input, report.lost_frames)}"), file=sys.stderr)
    say(
        f"vsr: {counted(report.frames, 'frame')} {report.input_size[0]}x{report.input_size[1]} -> "
        f"{report.output_size[0]}x{report.output_size[1]}{_which_part(report)}"
        f"{kept_from_an_interrupted_run(report.resumed_frames)} in "
        f"{report.wall_seconds:.1f} s "
        f"({report.fps:.2f} fps, {_where(report)}) -> {report.output}"
    )
    return 0


def _which_part(report) -> str:
    """ " (from 1:30.040 to 1:40.000)" for a cut: the first kept frame's time, as a check."""
    if report.cut is None:
        return ""
    from vsr.video.trim import format_time

    end = report.cut["end_s"]
    # An --end past the clip's end is not where the output ends: its own end is.
    ran_out = report.cut.get("ended_before_the_cut_end", False)
    until = "the end" if end is None or ran_out else format_time(end)
    return f" (from {format_time(report.cut['first_frame_s'])} to {until})"


def _where(report) -> str:
    """ "cuda:0, fp16, GPU 92% busy, 31.2 s warming up": what the run's speed depended on."""
    parts = [report.device, report.precision]
    busy = (report.gpu_summary or {}).get("gpu_util_mean_percent")
    if busy is not None:
        parts.append(f"GPU {busy:.0f}% busy")
    if report.warmup_s >= 0.5:  # compilation, graph capture: a first-run cost worth naming
        parts.append(f"{report.warmup_s:.1f} s warming up")
    return ", ".join(parts)


def check_what_every_clip_shares(
    args: argparse.Namespace,
    settings: EncodeSettings,
    model: dict,
    target: dict,
    networks: NetworkCache | None = None,
) -> None:
    """A mistake every clip would meet ends a folder run (or a Ray run) before the first
    clip, as one error (exit 2): each clip failed with it in turn, and a watch recorded
    them all as failed, so the corrected command found nothing to do. What depends on the
    clip (an encoder option its container's codec lacks, a --crf for the codec a .webm
    output gets in place of the default) still fails that clip alone. Without `networks`
    (Ray: the workers load the network, on devices of their own) the weights are only
    looked up and the device only named."""
    from vsr.runner import check_clip_arguments
    from vsr.upscale import check_device_name, resolve_device
    from vsr.video.encoder_choice import check_settings_every_clip_meets
    from vsr.weights import is_weights_name

    check_clip_arguments(
        target["scale"], target["size"], target["height"], model["batch"], settings
    )
    check_settings_every_clip_meets(settings, _containers_written(args))
    if networks is not None:
        device = resolve_device(args.device)
        if args.weights is not None:
            networks.get(network_scale=2)  # given weights serve every clip, whatever its scale
        if model["max_memory"] is not None:
            _check_budget_every_clip_meets(networks, device, model)
        return
    check_device_name(args.device)
    # A path in a folder this machine has is a typo when the file is missing there; one in
    # a folder only the workers have (a cluster's own disk) is theirs to open.
    weights = args.weights
    if weights is not None and not is_weights_name(weights) and Path(weights).parent.is_dir():
        raise VsrError(f"weights file not found: {weights}")


def _check_budget_every_clip_meets(
    networks: NetworkCache, device: torch.device, model: dict
) -> None:
    """A --max-memory (or a preset's max_memory) below what the smallest windows need, as
    each clip's Upscaler would refuse it. Of our default networks the x2 one needs the
    least (the same body, the fewest output pixels): a budget it cannot keep to, no clip
    can; given weights serve every clip."""
    from vsr.default_precision import default_precision
    from vsr.upscale import PRECISIONS, check_budget_holds_smallest_windows

    dtype = PRECISIONS[model["precision"] or default_precision(device)]
    network = networks.get(network_scale=2)
    check_budget_holds_smallest_windows(
        network, dtype, device, model["max_memory"], model["channels_last"]
    )


def _containers_written(args: argparse.Namespace) -> set[str] | None:
    """The containers a run writes in, where they are known before it starts: its clip's
    (None for a file type vsr does not write, refused later), or the folder's clips'
    (vsr.folder.output_for); None for a watch, whose clips are still to come."""
    from vsr.folder import find_clips, output_for
    from vsr.video.containers import CONTAINERS

    if args.watch:
        return None
    if not Path(args.input).is_dir():
        written = CONTAINERS.get(Path(args.output).suffix.lower())
        return None if written is None else {written}
    clips = find_clips(Path(args.input))
    outputs = (output_for(clip, Path(args.output)) for clip in clips)
    return {CONTAINERS[output.suffix.lower()] for output in outputs} or None


def folder_summary_line(totals: dict) -> str:
    """The last line of a folder run, from its report's summary. The time and fps are of
    the frames made now: "60 frames, 25 of them kept in 5.2 s" read as 25 in 5.2 s. A
    watch's line gives its work and its whole time apart: "12 frames in 0.2 s of work,
    4.2 s watching"."""
    from vsr.report import kept_and_made

    kept = kept_and_made(totals["frames"], totals.get("resumed_frames"))
    kept = f", {kept}" if kept else ""
    fps = f", {totals['fps']:.2f} fps" if totals["fps"] else ""
    # A watch's time is mostly waiting for clips: its frames are timed by its work.
    work = totals.get("work_seconds")
    took = (
        f"{totals['wall_seconds']:.1f} s"
        if work is None
        else f"{work:.1f} s of work, {totals['wall_seconds']:.1f} s watching"
    )
    # Ctrl-C's leftovers, where there are any.
    stopped = "".join(
        f", {totals[key]} {words}"
        for key, words in (("interrupted", "interrupted"), ("not_started", "not started"))
        if totals.get(key)
    )
    return (
        f"vsr: {totals['done']} done, {totals['skipped']} skipped, {totals['failed']} failed"
        f"{stopped} ({counted(totals['frames'], 'frame')}{kept} in {took}{fps})"
    )


def _run_folder(args, settings, model, target, say) -> int:
    from vsr.folder import check_report_path, process_folder, watch_folder, write_folder_report
    from vsr.network_cache import NetworkCache
    from vsr.report import FolderReport
    from vsr.resume_folder import KeptWorkForgotten, KeptWorkMismatch
    from vsr.runner import start_upscale

    check_report_path(args.report, args.input, args.output, args.watch)
    networks = NetworkCache(args.weights)  # each network is loaded once per run
    check_what_every_clip_shares(args, settings, model, target, networks)
    shown: set[str] = set()  # a note shared by every clip (e.g. "ran on the CPU") once

    def start(clip: Path, output: Path, overwrite: bool):
        return start_upscale(
            clip,
            output,
            weights=networks,
            device=args.device,
            settings=settings,
            progress=not args.quiet,
            overwrite=overwrite,
            **model,
            **target,
        )

    def run_clip(clip: Path, output: Path, replace: bool = False):
        try:  # replace: a new version of a done clip (--watch)
            run = start(clip, output, args.overwrite or replace)
        except KeptWorkForgotten as forgotten:
            raise forgotten.in_a_folder() from None
        except KeptWorkMismatch as mismatch:
            if not mismatch.source_changed:
                raise mismatch.in_a_folder() from None
            # Frames kept (--resume) from an earlier version of this clip can never serve,
            # and --overwrite would redo every clip of the folder: this one starts over.
            say(
                f"vsr: {clip.name}: note: its kept frames were of an earlier version; starting over"
            )
            run = start(clip, output, True)

        def finish():
            report = run.finish()
            for note in report.notes:
                if shown_as_warning(note):  # printed when it happened, as a warning
                    continue
                # A damaged clip's notes are its own, even when an earlier clip had the same.
                if note not in shown or report.lost_frames:
                    shown.add(note)
                    say(f"vsr: {clip.name}: note: {note}")
            return report

        return finish

    summary = FolderReport()
    try:
        if args.watch:
            watch_folder(
                args.input,
                args.output,
                run_clip,
                interval_s=2.0 if args.watch_interval is None else args.watch_interval,
                idle_exit_s=args.idle_exit,
                overwrite=args.overwrite,
                log=say,
                warn=_say_even_quietly,  # as they happen: a watch's end may be days away
                summary=summary,
            )
        else:
            process_folder(
                args.input,
                args.output,
                run_clip,
                overwrite=args.overwrite,
                progress=not args.quiet,
                log=say,
                summary=summary,
            )
    except VsrError:
        # A mistake found before any clip ran (an OUTPUT that is a file, a folder without
        # clips) leaves nothing behind, a report neither.
        if summary.clips:
            write_folder_report(summary, args.report)
        raise
    except KeyboardInterrupt:  # Ctrl-C, a watch's usual end: what was done, as at an end
        write_folder_report(summary, args.report)
        if summary.clips:
            say_the_end(summary, say)
        raise
    except BaseException:
        write_folder_report(summary, args.report)
        raise
    write_folder_report(summary, args.report)
    totals = summary.to_dict()["summary"]
    if not args.watch and totals["skipped"] == totals["clips"]:
        from vsr.commands.image import nothing_to_do

        say(nothing_to_do(args.output))  # as vsr image says it
    say_the_end(summary, say)
    return 1 if totals["failed"] else 0


def say_the_end(summary: FolderReport | ClusterReport, say: Callable[[str], None]) -> None:
    """A folder run's last line, from its report (local or Ray), then the clips that
    failed, were stopped or were damaged."""
    say(folder_summary_line(summary.to_dict()["summary"]))
    say_failed_and_damaged(summary.clips)


def _say_even_quietly(line: str) -> None:
    """A line that --quiet does not hold back (a failed or damaged clip)."""
    from tqdm import tqdm

    tqdm.write(printable(line), file=sys.stderr)


def say_failed_and_damaged(clips: list[dict]) -> None:
    """The clips that failed or that Ctrl-C stopped, and those whose outputs are shorter
    than they are (frames that could not be decoded), after a folder run's summary: errors,
    not chatter, so printed even with --quiet."""
    for clip in clips:
        if clip["status"] in ("failed", "interrupted"):
            line = f"vsr:   {clip['status']}: {Path(clip['input']).name}: {clip['error']}"
            print(printable(line), file=sys.stderr)
        lost = (clip.get("report") or {}).get("lost_frames")
        if lost:
            print(printable(f"vsr:   {_damaged(Path(clip['input']), lost)}"), file=sys.stderr)


def _damaged(clip: Path, lost: int) -> str:
    """The line naming a clip whose output lacks `lost` frames the decoder could not give."""
    return (
        f"damaged: {clip.name}: {lost} frame(s) could not be decoded; the output is shorter "
        "than the clip"
    )
