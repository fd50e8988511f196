"""One clip, end to end: open the reader, load the network, open the writer, run the
engine, finish the file, write the report. `upscale_video` is the public entry point."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vsr.argument_types import check_compile, check_path, check_switch, given, is_number, is_whole
from vsr.atomic_file import check_can_write
from vsr.broken_links import why_not_there
from vsr.encoder_count import MAX_ENCODERS, check_encoders
from vsr.engine import ColourSpec, Pipeline
from vsr.errors import VsrError, VsrTypeError, option
from vsr.network_cache import NetworkCache, load_network_for
from vsr.ops.compile_policy import auto_compile_for
from vsr.ops.yuv import GBR
from vsr.printable import printable
from vsr.progress import ProgressLines, frame_bar, on_a_terminal
from vsr.report import RunReport, steady_seconds, write_json
from vsr.scaling import (
    cannot_reach,
    coded_request,
    larger_weights_note,
    plan_geometry,
    scales_served_by,
)
from vsr.telemetry import FrameTimeline, GpuSampler, HostMemoryPeak, StageClock
from vsr.upscale import Upscaler, check_precision
from vsr.url_input import refuse_a_url
from vsr.video.chunk_journal import ChunkJournal, notes_on_journals_of_other_names
from vsr.video.deinterlace import check_field_rate
from vsr.video.deinterlace import check_mode as check_deinterlace_mode
from vsr.video.encode_settings import EncodeSettings  # upscale_video's signature names it
from vsr.video.file_version import check_unchanged
from vsr.video.raw_stream import parse_rate
from vsr.video.trim import time_range
from vsr.weights_origin import origin_of

if TYPE_CHECKING:
    from vsr.scaling import OutputGeometry
    from vsr.video.chunk_journal import StoredChunk
    from vsr.video.parallel_writer import ParallelVideoWriter
    from vsr.video.reader import VideoInfo, VideoReader
    from vsr.video.trim import Cut, TimeRange
    from vsr.video.writer import VideoWriter

    # One encoder, or several over chunks: the engine writes to either alike.
    AnyWriter = VideoWriter | ParallelVideoWriter


def default_batch(device: torch.device) -> int:
    """Frames per network call when none is asked for: 4 on CUDA, one on the CPU. vsr
    bench fills a variant's batch with it, to know which variants the engine runs alike."""
    return 4 if device.type == "cuda" else 1


@dataclass
class ClipRun:
    """A clip whose frames are all encoded: `finish()` flushes, renames and reports;
    `abort()` discards the temporary file instead."""

    finish: Callable[[], RunReport]
    writer: AnyWriter

    def abort(self) -> None:
        self.writer.abort()


# tqdm's own layout, with the total marked as about so many: a file that states no frame
# count (Matroska, a raw stream) is expected from its length, which a frame more or less
# (a lost packet, a last frame's length) makes no promise.
ESTIMATED_BAR = "{l_bar}{bar}| {n_fmt}/~{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


def _bar_after_compiling(
    bar, upscaler: Upscaler, frame_size: tuple[int, int]
) -> Callable[[int], None]:
    """`bar.update`, but while a compiled network builds its kernels for a new frame size
    (tens of seconds on a GPU the first time, seconds from the cache) the bar says so,
    instead of looking stuck at zero. `frame_size`: the network input's H x W. Loading a
    kept package only ("kept") takes a moment, and is not said (Upscaler.compiles_for)."""
    if not upscaler.compiles_for(*frame_size):
        return bar.update
    bar.set_postfix_str("compiling the network for this frame size, or loading it from the cache")

    def update(frames: int) -> None:
        if bar.postfix:
            bar.set_postfix_str("", refresh=False)
        bar.update(frames)

    return update


def _frames_kept_for(target: Path) -> tuple[Path, int]:
    """The journal folder of `target` and the frames an earlier run kept in it (0: none).
    A journal a live --resume run holds is no earlier run's: VsrError, that run named (it
    was called interrupted, and advice to remove it crashed the live run)."""
    journal = ChunkJournal(target)
    if not journal.is_ours():
        return journal.folder, 0
    journal.refuse_if_held()
    return journal.folder, journal.kept_frames()


def _refuse_a_forgotten_journal(target: Path) -> None:
    """An interrupted --resume run kept chunks for this output. A run without --resume
    would upscale them again and then delete them (the output is complete): ask first."""
    from vsr.resume_folder import KeptWorkForgotten

    folder, kept = _frames_kept_for(target)
    if kept:
        raise KeptWorkForgotten(folder, kept)


def check_clip_paths(source: Path, target: Path, overwrite: bool) -> None:
    """Refuse a clip's input and output where they cannot serve, before anything is opened:
    an input not there (or a folder), an output that is the input, a folder or a name
    taken (unless `overwrite`), or in a folder that cannot take it."""
    from vsr.video.image_sequence import ImageSequence, is_image_sequence, why_not_a_sequence

    if is_image_sequence(source):
        ImageSequence.find(source)  # none there, or a gap: said now, not after the network loads
    elif not_a_sequence := why_not_a_sequence(source):
        raise VsrError(f"{source}: {not_a_sequence}")
    elif not source.exists():
        refuse_a_url(source)
        raise VsrError(f"{source}: {why_not_there(source)}")
    if source.is_dir():
        # Only a call gets here: `vsr run FOLDER` takes the folder's way (vsr.folder).
        raise VsrError(
            f"{source} is a folder; upscale_video takes one clip (`vsr run {source} "
            "OUT_FOLDER` upscales every clip of a folder)"
        )
    if target.exists() and target.resolve() == source.resolve():
        raise VsrError(f"{target} is the input file itself; choose another output path")
    if target.is_dir():
        raise VsrError(f"{target} is a folder; give an output file name")
    if os.path.lexists(target) and not overwrite:  # a link to nothing is a name taken too
        error = VsrError(
            f"{target} already exists; use {option('--overwrite', True)} to replace it"
        )
        folder, kept = _frames_kept_for(target)
        if kept:
            # Killed between the output's rename and the journal's removal, or a file of
            # someone else's: which one cannot be known, so nothing is removed.
            error.add_note(
                f"{folder} holds {kept} upscaled frames: if {target.name} is their "
                f"finished output, remove that folder; {option('--overwrite', True)} with "
                f"{option('--resume', True)} continues them into a new one"
            )
        raise error
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise VsrError(f"output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise VsrError(f"output folder {folder} is not writable")
    _check_name_length(target, folder)


def _check_name_length(target: Path, folder: Path) -> None:
    """vsr keeps files beside the output under longer names while it works (its temporary
    file, and with --resume its chunk folder): refuse a name that leaves them no room,
    rather than fail with a traceback once the work has begun."""
    from vsr.video.chunk_journal import journal_folder
    from vsr.video.writer import temp_path_for

    longest = max(len(os.fsencode(p.name)) for p in (temp_path_for(target), journal_folder(target)))
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255  # what nearly every file system allows
    if longest > limit:
        raise VsrError(
            f"{target.name}: the name is too long by {longest - limit} bytes for the files "
            f"vsr keeps beside it while it works (up to {limit} bytes a name); shorten it"
        )


def check_clip_report_path(report: str | Path | None, source: Path, target: Path) -> None:
    """The JSON report replaces only an earlier JSON file, never the clip itself, and a
    report that cannot be written is said before the upscaling, not after it."""
    if report is None:
        return
    # realpath, not resolve(): a link in a loop on the way is check_can_write's to say, in
    # a line, where resolve() raised RuntimeError.
    where = os.path.realpath(report)
    for role, path in (("input", source), ("output", target)):
        if where == os.path.realpath(path):
            raise VsrError(f"the report {report} would replace the {role} video; name another file")
    check_can_write(report, "JSON", "--report")


def _whole_positive(value: object) -> bool:
    return is_whole(value) and value >= 1


def _check_count(value: object, name: str, what: str) -> None:
    """A count or a size in whole units >= 1: another type ("2", 2.0, True) is a
    VsrTypeError, as Python code expects; a whole number below 1 a plain VsrError."""
    if not is_whole(value):
        raise VsrTypeError(f"{name} must be {what}, not {given(value)}")
    if not _whole_positive(value):
        raise VsrError(f"{name} must be {what}, not {value!r}")


def check_clip_arguments(
    scale: object, size: object, height: object, batch: object, settings: object
) -> None:
    """The arguments code passes unparsed (the CLI parses its own): each mistake is one
    VsrError line instead of a raw exception, a silent default (batch=0) or a fractional
    size in the report (height=100.5); a wrong type ("2" for a number, a dict for the
    settings) is a VsrTypeError, as Python code expects."""
    if scale is not None:
        if not is_number(scale):
            raise VsrTypeError(f"scale must be a number, not {given(scale)}")
        if not scale > 0:
            raise VsrError(f"{option('--scale')} must be a positive number, not {scale!r}")
    if size is not None:
        if not isinstance(size, tuple | list) or not all(map(is_whole, size)):
            raise VsrTypeError(
                f"size must be (width, height) in whole pixels, e.g. (1280, 720), not {given(size)}"
            )
        if len(size) != 2 or not all(map(_whole_positive, size)):
            raise VsrError(
                f"size must be (width, height) in whole pixels, e.g. (1280, 720), not {size!r}"
            )
    if sum(target is not None for target in (scale, size, height)) > 1:
        # The others took precedence over scale without a word (scale=4, height=360 made x2).
        raise VsrError("give only one of scale, size and height")
    for flag, value, what in (
        ("--height", height, "a whole number of pixels >= 1"),
        ("--batch", batch, "a whole number >= 1"),
    ):
        if value is not None:
            _check_count(value, option(flag), what)
    if settings is not None and not isinstance(settings, EncodeSettings):
        raise VsrTypeError(
            f"settings must be a vsr.EncodeSettings (e.g. EncodeSettings(crf=18)), "
            f"not {given(settings)}"
        )


def start_upscale(
    input: str | Path,
    output: str | Path,
    *,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    height: int | None = None,
    weights: str | Path | torch.nn.Module | NetworkCache | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
    batch: int | None = None,
    settings: EncodeSettings | None = None,
    max_memory: int | None = None,
    channels_last: bool = False,
    compile: bool | str = False,
    cuda_graphs: bool = False,
    encoders: int = 1,
    report: str | Path | None = None,
    progress: bool = True,
    on_frames: Callable[[int], None] | None = None,
    overwrite: bool = False,
    start: float | str | None = None,
    end: float | str | None = None,
    duration: float | str | None = None,
    resume: bool = False,
    deinterlace: str = "auto",
    field_rate: bool = False,
    input_rate: str | float | Fraction | None = None,
    input_rate_raw_only: bool = False,
) -> ClipRun:
    """Upscale one clip up to its last encoded frame; `finish()` on the result flushes
    the encoder, completes the file and returns the report. Folder mode finishes one clip
    in the background while the next one starts. See `upscale_video` for the arguments.

    `weights`: a path or manifest name (None: the project's default for the scale), or an
    already built nn.Module. `scale` may be fractional (None: the weights' own factor, 2
    for the default weights and IMDN_AS); `size` (width, height) or `height` ask for an
    exact size instead. `settings` is a vsr.video.writer.EncodeSettings.
    Audio, subtitles, timestamps and colour metadata are kept by the writer. Raises
    VsrError for a user mistake; on any failure the output file is not left behind.
    `on_frames(n)` is called as each batch of n frames is encoded (live progress elsewhere,
    e.g. a Ray driver). `start` with `end` or `duration` (seconds, or "[HH:]MM:SS") upscale
    only that part of the clip; see vsr.video.trim. `resume` keeps finished chunks beside
    the output while it is made, and continues an interrupted run of the same settings;
    see vsr.video.chunk_journal. `deinterlace`: which frames are deinterlaced before they
    are upscaled, see vsr.video.deinterlace; `field_rate`: a frame of each field, see
    vsr.video.field_rate; `input_rate`: the frame rate of a raw video stream, see
    vsr.video.raw_stream.
    """
    from vsr.video.reader import VideoReader

    check_clip_arguments(scale, size, height, batch, settings)
    settings = EncodeSettings() if settings is None else settings.checked()
    switches = {
        "channels_last": channels_last,
        "cuda_graphs": cuda_graphs,
        "progress": progress,
        "overwrite": overwrite,
        "resume": resume,  # field_rate: check_field_rate
        "input_rate_raw_only": input_rate_raw_only,
    }
    for name, value in switches.items():
        check_switch(value, name)
    compile = check_compile(compile)
    if precision is not None:  # the upscaler checks it too, once the source is read
        check_precision(precision)
    _check_count(encoders, option("--encoders"), "a whole number >= 1")
    check_encoders(encoders)
    deinterlace = check_deinterlace_mode(deinterlace)
    check_field_rate(field_rate, deinterlace)
    rate_given = None if input_rate is None else parse_rate(input_rate, "input_rate")
    part = time_range(start, end, duration)
    source_path, target_path = _source_and_target(input, output, report, overwrite, resume)
    if on_frames is not None and not callable(on_frames):
        raise VsrTypeError(
            f"on_frames must be a function of the frame count, not {given(on_frames)}"
        )
    clocks = _Clocks.start()
    with VideoReader(
        source_path, part, deinterlace, field_rate, rate_given, input_rate_raw_only
    ) as reader:
        info = reader.info
        if resume and info.clock_restarts is not None:  # it would seek on one clock
            raise VsrError(f"{source_path}: {info.clock_restarts.refuse(option('--resume', True))}")
        size, height = coded_request(info, size, height)
        upscaler_options = dict(
            device=device,
            precision=precision,
            max_memory=max_memory,
            channels_last=channels_last,
            cuda_graphs=cuda_graphs,
        )
        network = _network_for(info, weights, scale, size, height, compile, upscaler_options)
        journal, done, journal_notes, writer = _journal_and_writer(
            target_path,
            source_path,
            reader,
            network,
            weights,
            settings,
            part,
            deinterlace,
            field_rate,
            overwrite,
            encoders,
            resume,
        )
        try:
            before = _UpscalerCounts.of(network.upscaler)
            dev = network.upscaler.device
            batch = batch if batch is not None else default_batch(dev)
            frames, sampler = _encode_frames(
                reader, writer, network, done, batch, clocks, source_path, progress, on_frames
            )
        except BaseException as error:
            writer.abort()  # nothing half-written stays behind
            _say_what_is_kept(error, journal, time.perf_counter() - clocks.started)
            _refuse_if_the_folder_is_gone(error, target_path)
            raise
        counts = _counts_of_the_encoding(reader, network, before, frames, sampler)
        end = reader.own_end_of_last_frame()
        if end is not None:
            writer.end_at(end)
    clip = _EncodedClip(
        source=source_path,
        target=target_path,
        report=report,
        device=device,
        channels_last=channels_last,
        cuda_graphs=cuda_graphs,
        field_rate=field_rate,
        info=info,
        network=network,
        batch=batch,
        writer=writer,
        journal=journal,
        journal_notes=journal_notes,
        clocks=clocks,
        counts=counts,
    )
    return ClipRun(lambda: _finish(clip), writer)


def _source_and_target(
    input: str | Path, output: str | Path, report: str | Path | None, overwrite: bool, resume: bool
) -> tuple[Path, Path]:
    """The input and output paths, refused before anything is opened where they cannot
    serve (see check_clip_paths), or where the report would replace either."""
    source_path, target_path = check_path(input, "input"), check_path(output, "output")
    if report is not None:
        check_path(report, "report")
    check_clip_paths(source_path, target_path, overwrite)
    check_clip_report_path(report, source_path, target_path)
    if not resume and not overwrite:
        _refuse_a_forgotten_journal(target_path)
    return source_path, target_path


@dataclass
class _Clocks:
    """The clip's telemetry, started before its source is opened."""

    clock: StageClock
    host_memory: HostMemoryPeak
    started: float
    timeline: FrameTimeline

    @classmethod
    def start(cls) -> _Clocks:
        clock = StageClock()
        host_memory = HostMemoryPeak()
        started = time.perf_counter()
        return cls(clock, host_memory, started, FrameTimeline(started))


@dataclass
class _ClipNetwork:
    """The network that upscales the clip, as built for it, and the geometry it makes."""

    model: torch.nn.Module
    upscaler: Upscaler
    options: dict[str, Any]  # the upscaler's
    geometry: OutputGeometry
    net_in: tuple[int, int] | None  # H x W of an enlarged frame (IMDN_AS), else None
    net_in_hw: tuple[int, int]  # H x W of what the network takes
    compile: bool | str  # the mode, with "auto" decided for this clip
    auto_compile: bool
    request_notes: list[str]


def _network_for(
    info: VideoInfo,
    weights: str | Path | torch.nn.Module | NetworkCache | None,
    scale: float | None,
    size: tuple[int, int] | None,
    height: int | None,
    compile: bool | str,
    upscaler_options: dict[str, Any],
) -> _ClipNetwork:
    """The network and geometry of the request, and the Upscaler that runs it with
    `upscaler_options` and `compile` ("auto": compiled where the clip repays it)."""
    model, geometry, request_notes = network_and_geometry(info, weights, scale, size, height)
    # IMDN_AS (scale 1) works on a frame enlarged to the target size (the paper's
    # any-scale path); the others get the frame as it is.
    net_in = (geometry.height, geometry.width) if model.scale == 1 else None
    net_in_hw = net_in or (info.height, info.width)
    auto_compile = compile == "auto"
    if auto_compile:
        compile = auto_compile_for(info.frames_to_expect()[0], *net_in_hw)
    # The engine checks finiteness (and clamps) itself, on the device, without stalling.
    options = dict(upscaler_options, compile=compile, checked=False)
    upscaler = _upscaler_for(weights, model, info, options)
    return _ClipNetwork(
        model, upscaler, options, geometry, net_in, net_in_hw, compile, auto_compile, request_notes
    )


def _journal_and_writer(
    target: Path,
    source: Path,
    reader: VideoReader,
    network: _ClipNetwork,
    weights: str | Path | torch.nn.Module | NetworkCache | None,
    settings: EncodeSettings,
    part: TimeRange | None,
    deinterlace: str,
    field_rate: bool,
    overwrite: bool,
    encoders: int,
    resume: bool,
) -> tuple[ChunkJournal | None, list[StoredChunk], list[str], AnyWriter]:
    """The --resume journal beside `target` (None without --resume), the chunks it kept of
    an earlier run of the same settings, notes on the journals of other names where it kept
    none, and the writer, open. A failure once the journal is started lets go of its lock
    and removes it where it holds nothing yet, as a failure while encoding does: else an
    empty folder stays beside the output, locked for as long as the process lives."""
    journal, done, journal_notes = None, [], []
    if resume:
        journal = ChunkJournal(target)
        done = journal.start(
            _fingerprint(source, reader, network, settings, part, deinterlace, field_rate),
            overwrite,
        )
    try:
        if journal is not None and not done:
            journal_notes = notes_on_journals_of_other_names(target)
        if network.auto_compile and network.compile and done:
            _decide_compile_for_the_frames_left(network, weights, reader.info, done)
        geometry = network.geometry
        writer = open_writer(
            target,
            reader.info,
            geometry.width,
            geometry.height,
            settings,
            overwrite,
            encoders,
            journal,
        )
    except BaseException as error:
        if journal is not None:
            _say_what_is_kept(error, journal, worked=0.0)
        raise
    return journal, done, journal_notes, writer


def _fingerprint(
    source: Path,
    reader: VideoReader,
    network: _ClipNetwork,
    settings: EncodeSettings,
    part: TimeRange | None,
    deinterlace: str,
    field_rate: bool,
) -> dict[str, Any]:
    """What a --resume journal must have been made with to be continued by this run."""
    check_unchanged(source, reader.file_version)  # a file gone: said as removed
    fingerprint = run_fingerprint(
        source,
        network.upscaler,
        network.geometry,
        settings,
        part,
        network.net_in_hw,
        deinterlace,
        field_rate,
    )
    if reader.retimed:  # only then: the journals of other runs keep their prints
        fingerprint["input rate"] = str(reader.info.average_rate)
    # The print names the source by what the file is now: the version the reader read, or
    # the journal would join another version's frames to this one's.
    check_unchanged(source, reader.file_version)
    return fingerprint


def _decide_compile_for_the_frames_left(
    network: _ClipNetwork,
    weights: str | Path | torch.nn.Module | NetworkCache | None,
    info: VideoInfo,
    done: list[StoredChunk],
) -> None:
    """Only the frames after the kept chunks run the network: a build (or a load) that
    repays the whole clip need not repay what is left of it (the fingerprint does not
    depend on compiling, so the journal serves either upscaler)."""
    total = info.frames_to_expect()[0]
    left = None if total is None else total - sum(c.frames for c in done)
    compile_left = auto_compile_for(left, *network.net_in_hw)
    if compile_left != network.compile:
        network.compile = network.options["compile"] = compile_left
        network.upscaler = _upscaler_for(weights, network.model, info, network.options)


@dataclass(frozen=True)
class _UpscalerCounts:
    """An upscaler's running counts as a clip starts: a folder's clips share one upscaler,
    and each reports only what changed during its own run."""

    warmup_seconds: float
    notes: int
    packages_built: int
    uncompiled_calls: int
    compile_failed: str | None  # in an earlier clip of a folder's upscaler

    @classmethod
    def of(cls, upscaler: Upscaler) -> _UpscalerCounts:
        return cls(
            upscaler.warmup_seconds,
            len(upscaler.notes),
            upscaler.packages_built,
            upscaler.uncompiled_calls,
            upscaler.compile_failed,
        )


def _encode_frames(
    reader: VideoReader,
    writer: AnyWriter,
    network: _ClipNetwork,
    done: list[StoredChunk],
    batch: int,
    clocks: _Clocks,
    source: Path,
    progress: bool,
    on_frames: Callable[[int], None] | None,
) -> tuple[int, GpuSampler]:
    """Every frame of the clip, after the chunks kept in `done`, through the network and
    into `writer`: the frames upscaled, and the GPU's samples of the while."""
    info, upscaler, dev = reader.info, network.upscaler, network.upscaler.device
    writer.carry_captions(reader.captions)
    if done:
        writer.replay(done)
        last = done[-1].end
        reader.resume_after(last["pts"], last["repeats"], kept=resumed_frames(writer))
    pipeline = Pipeline(
        upscaler,
        device=dev,
        batch=batch,
        source=_colours_of_source(info),
        target=_colours_of_writer(writer),
        output_size=(network.geometry.height, network.geometry.width),
        network_input_size=network.net_in,
        clock=clocks.clock,
    )
    terminal = on_a_terminal()  # else stderr is a log: plain lines, no bar
    # Only for progress: a raw stream's is counted from the whole file (raw_length).
    expected, estimated = info.frames_to_expect() if progress else (None, False)
    bar = frame_bar(
        progress and terminal,
        total=expected,
        initial=resumed_frames(writer),
        desc=printable(source.name),
        unit="frame",
        leave=False,
        dynamic_ncols=True,
        bar_format=ESTIMATED_BAR if estimated else None,
    )
    device_index = None
    if dev.type == "cuda":
        device_index = dev.index if dev.index is not None else torch.cuda.current_device()
        torch.cuda.reset_peak_memory_stats(dev)
    try:
        with GpuSampler(device_index) as sampler:
            advance = _both(_bar_after_compiling(bar, upscaler, network.net_in_hw), on_frames)
            advance = _both(advance, clocks.timeline)
            if progress and not terminal:  # a log: a line now and then
                lines = ProgressLines(source.name, expected, bar.n, about=estimated)
                advance = _both(advance, lines)
            frames = pipeline.run(reader.frames(), writer, advance)
    finally:
        bar.close()
    return frames, sampler


@dataclass(frozen=True)
class _RunCounts:
    """What the clip's run counted by its last encoded frame."""

    frames: int  # upscaled by this run
    lost: int
    deinterlaced: int
    cut_ran_to_the_end: bool  # the clip ended before the cut's end
    reader_warnings: list[str]
    warmup: float
    built: int
    gpu_peak: int | None
    upscaler_notes: list[str]
    compiled: bool | str
    failed_before: str | None
    sampler: GpuSampler


def _counts_of_the_encoding(
    reader: VideoReader,
    network: _ClipNetwork,
    before: _UpscalerCounts,
    frames: int,
    sampler: GpuSampler,
) -> _RunCounts:
    upscaler = network.upscaler
    # Counted now: in folder mode the next clip may already be building while this one's
    # encoder is flushed (finish), and its warm-up is not this clip's.
    warmup = upscaler.warmup_seconds - before.warmup_seconds
    built = upscaler.packages_built - before.packages_built
    # So is the GPU's peak: the next clip resets it (reset_peak_memory_stats) and runs
    # while this one is finished, and finish() would report that clip's peak.
    gpu_peak = gpu_peak_allocated_bytes(upscaler.device)
    # A shared upscaler's notes of events (a failed build) belong to the clip they met.
    upscaler_notes = upscaler.notes[: upscaler.standing_notes] + upscaler.notes[before.notes :]
    # What ran: the mode asked for (--compile), or True ("auto"), where every network
    # call ran compiled; an upscaler that gave up after a failed compile ran it
    # uncompiled, and "kept" ran a package only where one was kept for this clip's shape.
    ran_compiled = upscaler.compiled and upscaler.uncompiled_calls == before.uncompiled_calls
    compiled = (True if network.auto_compile else network.compile) if ran_compiled else False
    return _RunCounts(
        frames=frames,
        lost=reader.lost_frames,
        deinterlaced=reader.deinterlaced_frames,
        cut_ran_to_the_end=reader.ran_out_before_the_cut_end,
        reader_warnings=list(reader.warnings),
        warmup=warmup,
        built=built,
        gpu_peak=gpu_peak,
        upscaler_notes=upscaler_notes,
        compiled=compiled,
        failed_before=before.compile_failed,
        sampler=sampler,
    )


@dataclass(frozen=True)
class _EncodedClip:
    """What finishing a clip needs: what was asked, what ran it, and what it counted."""

    source: Path
    target: Path
    report: str | Path | None
    device: str | torch.device | None  # as asked (None: the default)
    channels_last: bool
    cuda_graphs: bool  # as asked
    field_rate: bool
    info: VideoInfo
    network: _ClipNetwork
    batch: int
    writer: AnyWriter
    journal: ChunkJournal | None
    journal_notes: list[str]
    clocks: _Clocks
    counts: _RunCounts


def _finish(clip: _EncodedClip) -> RunReport:
    try:
        with clip.clocks.clock.working("encode"):
            clip.writer.close()  # flush the encoder, copy audio/subtitles, rename into place
    except BaseException as error:  # Ctrl-C while a long flush runs, a full disk...
        _say_what_is_kept(error, clip.journal, time.perf_counter() - clip.clocks.started)
        _refuse_if_the_folder_is_gone(error, clip.target)
        raise
    # The output is complete: its journal (this run's, or one a run killed after its
    # rename left) has served.
    (clip.journal or ChunkJournal(clip.target)).discard_if_ours()
    result = _report_of_run(clip, finished=time.perf_counter())
    if clip.report is not None:
        _write_report(result, clip.report, clip.target)
    return result


def _cut_of_run(cut: Cut | None, ran_to_the_end: bool) -> dict[str, Any] | None:
    """The report's cut: the range asked for, where its first frame was, and whether the
    clip ended before the range did (an --end past it): the summary then says "to the
    end", not a time the output never reaches."""
    if cut is None or not cut.asked:
        return None
    return {**cut.to_dict(), "ended_before_the_cut_end": ran_to_the_end}


def _report_of_run(clip: _EncodedClip, finished: float) -> RunReport:
    """The run report of a clip whose output was completed at `finished`."""
    info, writer, counts, clock = clip.info, clip.writer, clip.counts, clip.clocks.clock
    upscaler, geometry = clip.network.upscaler, clip.network.geometry
    dev = upscaler.device
    wall = finished - clip.clocks.started
    startup = clock.first_start.get("model", finished) - clip.clocks.started
    steady = steady_seconds(wall, startup, counts.warmup, counts.frames, clip.batch)
    encoder_share = encoders_busy_share(writer, clock, steady)
    notes = _notes_of_run(clip, encoder_share)
    origin = origin_of(clip.network.model)  # hashed when the network was loaded
    return RunReport(
        input=str(clip.source),
        output=str(clip.target),
        frames=counts.frames + resumed_frames(writer),
        lost_frames=counts.lost,
        wall_seconds=round(wall, 4),
        fps=round(counts.frames / wall, 3) if wall > 0 else 0.0,
        stages=clock.to_dict(wall),
        model_share_of_wall=round(clock.busy["model"] / wall, 4) if wall > 0 else 0.0,
        startup_s=round(startup, 4),
        drain_s=round(finished - clock.last_end.get("model", finished), 4),
        device=str(dev),
        device_name=torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        precision=upscaler.precision,
        batch=clip.batch,
        fast_path={
            "channels_last": clip.channels_last,
            "compile": counts.compiled,
            "cuda_graphs": upscaler.cuda_graphs,
            # The encoders that ran: a writer that cannot take several falls back to
            # one (its note says why), and the bench's advice builds on this count.
            "encoders": writer_encoders(writer),
        },
        warmup_s=round(counts.warmup, 3),
        encoder_busy_share=None if encoder_share is None else round(encoder_share, 4),
        cut=_cut_of_run(info.cut, counts.cut_ran_to_the_end),
        resumed_frames=resumed_frames(writer),
        deinterlaced_frames=counts.deinterlaced,
        field_rate=clip.field_rate,
        colour=colour_of_run(info, writer),
        scale=geometry.scale,
        network=upscaler.arch,
        network_scale=upscaler.scale,
        weights=origin.weights,
        weights_sha256=origin.sha256,
        input_size=(info.width, info.height),
        output_size=(geometry.width, geometry.height),
        tile_plan=upscaler.plan_for(*clip.network.net_in_hw).to_dict(),
        codec=writer.codec.name,
        pix_fmt=writer.pix_fmt,
        peak_host_memory_bytes=clip.clocks.host_memory.close(),
        gpu_peak_allocated_bytes=counts.gpu_peak,
        gpu_summary=counts.sampler.summary(),
        gpu_samples=counts.sampler.samples,
        progress_samples=clip.clocks.timeline.finished(),
        notes=notes,
    )


def _notes_of_run(clip: _EncodedClip, encoder_share: float | None) -> list[str]:
    counts, upscaler = clip.counts, clip.network.upscaler
    # The reader's warnings name lost, damaged and truncated frames; never shorten silently.
    notes = list(clip.writer.notes) + list(counts.reader_warnings) + counts.upscaler_notes
    notes += clip.journal_notes + clip.network.request_notes
    if upscaler.device.type == "cpu" and clip.device is None:
        notes.append("no CUDA device: ran on the CPU")
    if clip.cuda_graphs and not upscaler.cuda_graphs:
        notes.append("CUDA graphs need a GPU: ignored on the CPU")
    notes += _notes_on_compiling(clip.network, counts)
    advice = encoder_advice(encoder_share, writer_encoders(clip.writer))
    if advice:
        notes.append(advice)
    return notes


def _notes_on_compiling(network: _ClipNetwork, counts: _RunCounts) -> list[str]:
    notes = []
    # The user did not ask: say why it paused, where it did. A package loaded from the
    # cache (or built for an earlier clip of a folder) cost a moment, and a note on
    # every later run that "the network was compiled" would be news of nothing.
    if network.auto_compile and counts.compiled and counts.built:
        notes.append(
            f"the network was compiled for this frame size, as the clip is long enough "
            f"to repay it (warm-up {counts.warmup:.1f} s; the package is kept, so later runs "
            f"load it; {option('--no-compile', False)} runs it uncompiled)"
        )
    elif network.auto_compile and counts.compiled and network.compile == "kept":
        # Said, unlike a long clip's load: the policy runs a short clip uncompiled, and
        # in bf16 the compiled network's frames differ from the uncompiled one's a little.
        notes.append(
            "the network ran compiled, from the package an earlier run kept for this "
            "frame size (the clip is too short to repay a build of its own; "
            f"{option('--no-compile', False)} runs it uncompiled)"
        )
    if network.compile and counts.failed_before:
        # Its warning and note went with that clip: this one says why it did not compile.
        notes.append(
            f"the network ran uncompiled: {counts.failed_before} failed for an earlier clip of "
            "this run (its notes say why)"
        )
    return notes


def _write_report(result: RunReport, report: str | Path, target: Path) -> None:
    try:
        write_json(result.to_dict(), report)
    except OSError as error:
        # Exit status 2 all the same (the report was asked for), but a script must
        # not take the finished output for a failed one and throw it away.
        raise VsrError(
            f"{target} is complete, but its report {report} could not be "
            f"written: {error.strerror or error}"
        ) from None


def _upscaler_for(
    weights: str | Path | torch.nn.Module | NetworkCache | None,
    model: torch.nn.Module,
    info: VideoInfo,
    options: dict[str, Any],
) -> Upscaler:
    """The Upscaler of `model` with these options: the cache's, in folder mode."""
    if isinstance(weights, NetworkCache):
        return weights.upscaler(model, (info.height, info.width), **options)
    return Upscaler(model, **options)


def network_and_geometry(
    info: VideoInfo,
    weights: str | Path | torch.nn.Module | NetworkCache | None,
    scale: float | None,
    size: tuple[int, int] | None,
    height: int | None,
) -> tuple[torch.nn.Module, OutputGeometry, list[str]]:
    """The network a request runs, the output geometry it decides, and a note where given
    weights do more than the request needs. With no target at all, given weights upscale
    by their own factor (x4 weights make x4, not the default x2), and IMDN_AS's, 1, restores
    at the source's size, as vsr image and the API's helpers do (it made x2 here alone)."""
    needed = network_scale_for_request(info, scale, size, height)
    model = load_network_for(weights, needed)
    if scale is None and size is None and height is None:
        scale = needed = model.scale
    geometry = _geometry_for(info, model.scale, scale, size, height)
    note = larger_weights_note(model.scale, needed)
    return model, geometry, [note] if note else []


def _geometry_for(
    info: VideoInfo,
    network_scale: int,
    scale: float | None,
    size: tuple[int, int] | None,
    height: int | None,
) -> OutputGeometry:
    """The output geometry of a request that a network of ``network_scale`` can make: it
    serves any request up to its factor (larger: a downscale follows), and IMDN_AS (scale
    1) any up to the largest network factor, from an enlarged frame (scales_served_by)."""
    available = scales_served_by(network_scale)
    try:
        return plan_geometry(
            info.width, info.height, scale=scale, size=size, height=height, available=available
        )
    except VsrError:
        wanted = plan_geometry(info.width, info.height, scale=scale, size=size, height=height)
        # Told as asked: a factor as a factor (as vsr image and the API say it), a size as one.
        asked_a_factor = scale is not None and size is None and height is None
        target = f"x{scale:g}" if asked_a_factor else f"{wanted.width}x{wanted.height}"
        raise cannot_reach(network_scale, target, wanted.network_scale) from None


def _colours_of_source(info: VideoInfo) -> ColourSpec:
    """How the decoded planes encode colour (GBR planes for RGB sources)."""
    matrix = GBR if info.rgb_planes else info.color_matrix
    return ColourSpec(
        matrix, info.color_range, info.bit_depth, info.chroma_shift, info.chroma_siting
    )


def _colours_of_writer(writer: AnyWriter) -> ColourSpec:
    """How the encoder's planes must encode colour."""
    return ColourSpec(
        writer.color_matrix,
        writer.color_range,
        writer.bit_depth,
        writer.chroma_shift,
        writer.chroma_siting,
    )


def colour_of_run(info: VideoInfo, writer: AnyWriter) -> dict[str, dict[str, Any]]:
    """The report's colour: how the source's planes were read and the output's written.
    `matrix` is the one the conversion used ("gbr" for RGB planes, which need none);
    `chroma_location` the source's as its stream says it (null: unspecified), and
    `chroma_siting` where subsampled chroma was taken to sit, in the source and in the
    output (declared, or converted to where players read it; see vsr.video.output_siting),
    null for full-resolution chroma. The output is tagged with the source's primaries and
    transfer."""
    subsampled_source = info.chroma_shift != (0, 0)
    return {
        "source": {
            "matrix": GBR if info.rgb_planes else info.color_matrix,
            "matrix_guessed": info.color_matrix_guessed,  # untagged: guessed from the size
            "range": info.color_range,
            "primaries": info.color_primaries,
            "transfer": info.color_trc,
            "chroma_location": info.chroma_location,
            "chroma_siting": info.chroma_siting if subsampled_source else None,
        },
        "output": {
            "matrix": writer.color_matrix,
            "range": writer.color_range,
            "primaries": info.color_primaries,
            "transfer": info.color_trc,
            "chroma_siting": writer.chroma_siting if writer.chroma_shift != (0, 0) else None,
        },
    }


def gpu_peak_allocated_bytes(device: torch.device) -> int | None:
    """The most memory torch has held on `device` since its peak was last reset (the
    clip's start); None on the CPU."""
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None


def _both(first: Callable[[int], None], second: Callable[[int], None] | None):
    if second is None:
        return first
    return lambda count: (first(count), second(count))


def _refuse_if_the_folder_is_gone(error: BaseException, target: Path) -> None:
    """An output folder removed or unmounted mid-run fails the next write with ENOENT,
    which PyAV reports without a path: said as what it is, not as a traceback."""
    if isinstance(error, OSError) and not target.parent.is_dir():
        raise VsrError(
            f"the output folder {target.parent} is gone (removed or unmounted during the run)"
        ) from None


def _say_what_is_kept(error: BaseException, journal: ChunkJournal | None, worked: float):
    """A note on a failed or interrupted run: where its finished chunks are kept (and
    remove a journal that holds none), or, for a long run without --resume, that it would
    have kept them."""
    from vsr.video.writer import FinishedVideoKeptAside

    if journal is not None and isinstance(error, FinishedVideoKeptAside):
        # The finished video is whole under another name: the chunks have served, and
        # "--resume continues from there" was refused ("o.mp4 already exists").
        journal.discard()
        return
    kept = journal.kept_frames() if journal is not None else 0
    if kept:
        journal.release()
        error.add_note(
            f"{kept} upscaled frames are kept in {journal.folder}: the same command with "
            f"{option('--resume', True)} continues from there"
        )
    elif journal is not None:
        journal.discard()  # it holds nothing worth keeping
    elif isinstance(error, KeyboardInterrupt) and worked > RESUME_HINT_SECONDS:
        error.add_note(
            f"the upscaled frames are lost: with {option('--resume', True)} a run keeps its "
            "finished part, and the same command continues from there"
        )


# An interrupted run without --resume that had worked this long is told about it.
RESUME_HINT_SECONDS = 60.0

# Busy this share or more of the time after start-up and warm-up, the encoders were the
# bottleneck, not the network.
ENCODER_BOUND_SHARE = 0.8


def writer_encoders(writer: AnyWriter) -> int:
    """How many encoder instances the writer really ran (a parallel writer may fall back)."""
    from vsr.video.parallel_writer import ParallelVideoWriter

    return writer.encoders if isinstance(writer, ParallelVideoWriter) else 1


def encoders_busy_share(
    writer: AnyWriter, clock: StageClock, active_seconds: float
) -> float | None:
    """The share of `active_seconds` (the run after start-up and warm-up) the encoders were
    busy: one encoder's on the engine's encode thread, or the mean of several workers'."""
    if active_seconds <= 0:
        return None
    encoders = writer_encoders(writer)
    if encoders == 1:
        return min(1.0, clock.busy["encode"] / active_seconds)
    return min(1.0, sum(writer.encoder_busy_seconds) / encoders / active_seconds)


def encoder_advice(encoder_share: float | None, encoders: int) -> str | None:
    """A note for runs that the encoders held back (the network waited for them)."""
    if encoder_share is None or encoder_share < ENCODER_BOUND_SHARE:
        return None
    # The API's preset is a field of its `settings`, not a keyword: option() names it so.
    faster_preset = f"a faster {option('--preset', setting=True)}"
    if encoders == 1:
        return (
            f"the encoder was busy {encoder_share:.0%} of the run and held it back: "
            f"{option('--encoders', 2)} (or {faster_preset}) would finish sooner"
        )
    held = f"the {encoders} encoders were busy {encoder_share:.0%} of the run and held it back"
    if encoders >= MAX_ENCODERS:  # no more to advise
        return f"{held}: {faster_preset} will finish sooner"
    return (
        f"{held}: {option('--encoders', encoders + 1)} may finish sooner where the machine "
        f"has idle cores, {faster_preset} will"
    )


def open_writer(
    path: Path,
    info: VideoInfo,
    width: int,
    height: int,
    settings: EncodeSettings,
    overwrite: bool,
    encoders: int,
    journal: ChunkJournal | None = None,
) -> AnyWriter:
    """One encoder, or several over GOP-aligned chunks when one cannot keep up (or when a
    journal keeps the chunks for --resume)."""
    if encoders == 1 and journal is None:
        from vsr.video.writer import VideoWriter

        return VideoWriter(path, info, width, height, settings, overwrite=overwrite)
    from vsr.video.parallel_writer import ParallelVideoWriter

    return ParallelVideoWriter(
        path, info, width, height, settings, overwrite=overwrite, encoders=encoders, journal=journal
    )


def resumed_frames(writer: AnyWriter) -> int:
    """Frames an earlier run made that this one took from its journal."""
    return getattr(writer, "resumed_frames", 0)


def run_fingerprint(
    source: Path,
    upscaler: Upscaler,
    geometry: OutputGeometry,
    settings: EncodeSettings,
    part: TimeRange | None,
    net_in_hw: tuple[int, int],
    deinterlace: str,
    field_rate: bool = False,
) -> dict[str, Any]:
    """What decides the output's frames and packets: a journal of chunks made under other
    values cannot continue this run. Keys are named for the refusal message."""
    from dataclasses import asdict

    from vsr.ops.aot_package import network_identity
    from vsr.resume_folder import source_identity

    encoder = asdict(settings)
    # A set is no JSON; and left out when empty, as journals made before it was a field
    # recorded it, so that they still continue.
    preset_option_names = sorted(encoder.pop("preset_option_names"))
    if preset_option_names:
        encoder["preset_option_names"] = preset_option_names
    return {
        "source file": source_identity(source),
        "network": [upscaler.arch, upscaler.precision, network_identity(upscaler.model)],
        "output size": [geometry.width, geometry.height],
        "encoder settings": encoder,
        "time range": None if part is None else part.to_dict(),
        "tile plan": upscaler.plan_for(*net_in_hw).to_dict(),
        "deinterlace": deinterlace,
        # Only where asked for: the journals of runs one frame per frame keep their prints.
        **({"field rate": True} if field_rate else {}),
    }


def network_scale_for_request(
    info: VideoInfo,
    scale: float | None,
    size: tuple[int, int] | None,
    height: int | None,
) -> int:
    """The whole network factor a request needs (to pick default weights)."""
    return plan_geometry(
        info.width, info.height, scale=scale, size=size, height=height
    ).network_scale


def upscale_video(
    input: str | Path,
    output: str | Path,
    *,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    height: int | None = None,
    weights: str | Path | torch.nn.Module | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
    batch: int | None = None,
    settings: EncodeSettings | None = None,
    max_memory: int | None = None,
    channels_last: bool = False,
    compile: bool | str = False,
    cuda_graphs: bool = False,
    encoders: int = 1,
    report: str | Path | None = None,
    progress: bool = True,
    on_frames: Callable[[int], None] | None = None,
    overwrite: bool = False,
    start: float | str | None = None,
    end: float | str | None = None,
    duration: float | str | None = None,
    resume: bool = False,
    deinterlace: str = "auto",
    field_rate: bool = False,
    input_rate: str | float | Fraction | None = None,
    input_rate_raw_only: bool = False,
) -> RunReport:
    """Upscale one clip: decode once, run the network in batches, encode once.

    `weights`: a path or manifest name (None: the project's default for the scale), or an
    already built nn.Module. `scale` may be fractional (None: the weights' own factor, 2
    for the default weights and IMDN_AS); `size` (width, height) or `height` ask for an
    exact size instead (the next larger whole-factor network runs, then an antialiased
    resize on the device). `settings` is a vsr.video.writer.EncodeSettings.
    `precision` and `batch` default to fp16 x4 on CUDA; on the CPU to one frame, in bf16
    where the CPU has bf16 instructions and fp32 elsewhere (vsr.default_precision);
    `max_memory` (bytes) decides the tile plan. `channels_last`, `compile` and `cuda_graphs`
    are the network's speed switches (see vsr.upscale.Upscaler); `compile="auto"`, the
    default of `vsr run` on the CPU, compiles there when the clip is long enough to repay the
    build (vsr.ops.compile_policy), and otherwise runs the package an earlier run kept for
    the frame size, if any and if the clip repays its load, else uncompiled; `encoders` > 1
    runs that many encoder instances over GOP-aligned chunks of the output. Audio,
    subtitles, timestamps and colour metadata are kept by the writer. `start` with `end` or
    `duration` (seconds, or "[HH:]MM:SS" text) upscale only that part of the clip, which
    then starts at zero, audio and subtitles cut alike. `resume` stores each finished chunk
    of the output beside it, so that after an interruption the same call goes on from there.
    `deinterlace`: "auto" (the default) deinterlaces the frames the source marks interlaced
    (bwdif, one frame per frame, the times kept), "all" every frame, "tff" or "bff" every
    frame with that field first, "film" inverse telecine (fieldmatch, bwdif, decimate: the
    frames of film carried with 3:2 pulldown, 4 of every 5, at 4/5 of the rate; see
    vsr.video.inverse_telecine), "off" none. `field_rate`: a frame of each field of every
    frame (bwdif's send_field: 50i becomes 50p, the time base halved), a frame not
    deinterlaced given twice; see vsr.video.field_rate. `input` may name an image sequence
    by a printf frame number ("scans/f_%04d.png", vsr.video.image_sequence), timed at
    `input_rate` (25 fps when None). `input_rate` ("30000/1001", 29.97,
    25) also times a raw video stream (.h264, .hevc, .m2v ...) whose headers give no rate or a
    wrong one; refused for a file that times its own frames (vsr.video.raw_stream), which
    with `input_rate_raw_only` (a folder's --input-rate) keeps its times, with a note. A raw
    stream is otherwise timed by the rate it states, as ffmpeg does. Raises VsrError for a
    user mistake; on any failure, Ctrl-C included, no output file is left behind (with `resume`, the
    finished chunks stay). An existing output is refused unless `overwrite`. `progress` draws a bar
    when stderr is a terminal, else logs a line every 30 s (logger "vsr.progress", level
    INFO; the command line prints them to stderr); False: neither. `on_frames(n)` is called
    as each batch of n frames is encoded. An argument of the wrong type (bytes for a path,
    "no" for a switch) is a VsrError that is a TypeError too (vsr.errors.VsrTypeError).
    Returns the run report (also written to `report` as JSON; its folders are made).
    """
    return start_upscale(
        input,
        output,
        scale=scale,
        size=size,
        height=height,
        weights=weights,
        device=device,
        precision=precision,
        batch=batch,
        settings=settings,
        max_memory=max_memory,
        channels_last=channels_last,
        compile=compile,
        cuda_graphs=cuda_graphs,
        encoders=encoders,
        report=report,
        progress=progress,
        on_frames=on_frames,
        overwrite=overwrite,
        start=start,
        end=end,
        duration=duration,
        resume=resume,
        deinterlace=deinterlace,
        field_rate=field_rate,
        input_rate=input_rate,
        input_rate_raw_only=input_rate_raw_only,
    ).finish()
