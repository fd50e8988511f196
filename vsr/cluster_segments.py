"""Segment mode on Ray: `vsr run LONG.mp4 OUT --ray --segments N` (or --segment-seconds S).

The driver plans keyframe-aligned segments (vsr/segments.py), opens the final writer first
(so the segments are made in exactly the pixel format it will encode), and submits one
task per segment. Each task cuts its range out of the source losslessly, runs the normal
engine on it into an FFV1 segment file, and returns the frames' source timestamps. The
driver then joins the segments into the one writer, which encodes once and copies the
audio once. Every frame goes through the same decoder, network and encoder as in an
unsplit run, so with a lossless codec the output is the same frame for frame.

Segment files live in a hidden folder beside the output (every node must see it: a shared
file system) and are removed when the join is done. Faults are handled as in folder mode:
a dead worker's segment is re-run by Ray, a failing segment fails the clip, and nothing is
renamed into place unless every segment succeeded.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from vsr.broken_links import why_not_there
from vsr.cluster import (
    MAX_RETRIES,
    ClusterReport,
    cluster_slots,
    connect,
    disconnect,
    import_ray,
    options_for_workers,
    outcome_or_failure,
    ship_weights,
    task_resources,
)
from vsr.cluster_task import ShippedWeights, engine_weights, where_am_i
from vsr.errors import VsrError, describe_error, speaking_to_the_command_line, to_the_command_line
from vsr.progress import bars_shown
from vsr.report import write_json
from vsr.scaling import coded_request
from vsr.segment_store import KeptSegment, SegmentStore, file_crc32, segment_file
from vsr.segments import (
    Layout,
    Segment,
    colour_and_layout,
    extract_segment,
    join_segments,
    plan_segments,
)
from vsr.video import temp_lock
from vsr.video.trim import time_range

if TYPE_CHECKING:
    from torch import nn

    from vsr.video.reader import VideoInfo
    from vsr.video.writer import VideoWriter

# Segments are made from lossless copies of the source's pictures, which hold no captions
# (vsr.video.captions keeps them only where one reader feeds the writer).
SEGMENTS_LOSE_CAPTIONS = (
    "the video carries closed captions (CEA-608/708) in its frames, which segment mode "
    "does not keep (its segments hold the pictures alone); a run without --segments keeps "
    "them"
)


def upscale_segment(
    source: str,
    segment: Segment,
    output: str,
    weights: ShippedWeights | str | None,
    engine_options: dict[str, Any],
    threads: int,
    layout: Layout,
    command_line: bool = False,
) -> dict[str, Any]:
    """Worker side: cut, upscale and store one segment; failures come back as a status.
    `layout` is the whole source's colour_and_layout, which the driver read once: opening
    the source here again read a whole MPEG-TS once more per segment (its clock-restart
    scan). `command_line`: the driver runs for vsr's command line, whose flags the
    segment's messages name (vsr.errors.option)."""
    import torch

    from vsr.runner import upscale_video
    from vsr.video.reader import VideoReader

    torch.set_num_threads(threads)
    outcome: dict[str, Any] = {"input": f"{source}#{segment.index}", "output": output}
    outcome.update(where_am_i(), segment=segment.index, start_pts=segment.start)
    # The source's part, lossless, beside the output rather than in the node's /tmp: a task
    # killed mid-run (Ctrl-C, a dead driver) leaves it where the next run sweeps it away.
    cut = Path(output).with_name(f".{Path(output).stem}.{os.getpid()}.cut.mkv")
    try:
        # The whole source's siting, as a local run converts it: a part whose frames say
        # another (a siting that changes mid-stream) would not match.
        deinterlace = engine_options.get("deinterlace", "auto")
        extracted = extract_segment(Path(source), segment, cut, layout.chroma_siting, deinterlace)
        with VideoReader(cut) as part:
            if colour_and_layout(part.info) != layout:
                raise VsrError(f"{source}: a lossless segment would not match the source")
        # The segment's own frames, where its neighbours are stored for bwdif.
        start, end = (None, None) if extracted.window is None else extracted.window
        with speaking_to_the_command_line(command_line):  # as vsr.cluster_task.run_clip
            report = upscale_video(
                cut,
                output,
                weights=engine_weights(weights),
                progress=False,
                overwrite=True,  # a re-run after a crash redoes the whole segment
                start=start,
                end=end,
                **engine_options,
            )
    except Exception as error:
        outcome.update(status="failed", error=describe_error(error))
    else:
        report = report.to_dict()
        report["input"] = outcome["input"]
        report["lost_frames"] += extracted.undecodable  # the source's, as a local run counts
        crc32 = file_crc32(Path(output))  # here, where the file was written: for --resume
        outcome.update(status="done", frames=report["frames"], pts=extracted.pts, crc32=crc32)
        outcome.update(captioned_frames=extracted.captioned)
        outcome.update(report=report)
    finally:
        cut.unlink(missing_ok=True)
    return outcome


def _network_and_geometry(info, weights, scale, size, height):
    """The network a local run would pick, and the output size it decides (the network's
    factor counts)."""
    from vsr.network_cache import NetworkCache
    from vsr.runner import network_and_geometry

    model, geometry, _ = network_and_geometry(info, NetworkCache(weights), scale, size, height)
    return model, (geometry.width, geometry.height)


def _segments_fingerprint(
    source: Path, model, options, output_size, pix_fmt, siting, part, segments
):
    """What decides the upscaled segments' frames: segments kept under other values cannot
    be joined into this run. Keys are named for the refusal message. The final encoder's
    settings are not here, but for the chroma siting it declares (the segments' colour is
    converted at it): the segments are lossless, whatever the output's codec."""
    from vsr.ops.aot_package import network_identity
    from vsr.resume_folder import source_identity

    gpu = options.get("gpu_options") or {}
    return {
        "source file": source_identity(source),
        "network": [model.arch, network_identity(model)],
        "precision": [options.get("precision"), gpu.get("precision")],
        "memory budget": [options.get("max_memory"), gpu.get("max_memory")],
        "output size": list(output_size),
        "pixel format": pix_fmt,
        "chroma siting": siting,
        "time range": None if part is None else part.to_dict(),
        "segments": [[s.index, s.start, s.end] for s in segments],
        "deinterlace": options.get("deinterlace", "auto"),
    }


def run_split(
    source: Path,
    target: Path,
    *,
    count: int | None = None,
    seconds: float | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    weights: str | Path | None = None,
    engine_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    report: Path | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> ClusterReport:
    """Upscale one clip as keyframe-aligned segments on Ray, joined into `target`. With
    `resume` among the engine options, finished segments are kept beside the output until
    it is complete, and a rerun joins them instead of making them again."""
    from vsr.video.writer import EncodeSettings, VideoWriter

    source, target = Path(source), Path(target)
    options = dict(engine_options or {})
    _refuse_what_the_joins_cannot_keep(options)
    resume = bool(options.pop("resume", False))
    if options.get("precision") is None:
        _make_cpu_segments_alike(options)
    plan = _plan_split(source, options, count, seconds, weights, log)
    settings = options.pop("settings", None) or EncodeSettings()
    _check_kept_segments(target, resume, overwrite)
    writer = VideoWriter(target, plan.info, plan.width, plan.height, settings, overwrite=overwrite)
    store, kept, held = None, [], None
    try:
        if resume:
            store = SegmentStore(target)
            fingerprint = _segments_fingerprint(
                source,
                plan.model,
                options,
                (plan.width, plan.height),
                writer.pix_fmt,
                writer.chroma_siting,
                plan.info.cut,
                plan.segments,
            )
            kept = store.start(fingerprint, overwrite)
            work = store.folder
        else:
            work, held = _claim_work_folder(target, log)
    except BaseException:
        writer.abort()
        raise
    try:
        # Within the try: a log that fails (stderr a closed pipe) still aborts the writer
        # and releases the kept segments.
        done = {segment.index: segment for segment in kept}
        if done:
            left = len(plan.segments) - len(done)
            then = f"upscaling the other {left}" if left else "joining them"
            log(
                f"vsr: {len(done)} of {len(plan.segments)} segments kept from an earlier "
                f"run; {then}"
            )
        # Segments in exactly the planes the final encoder takes, its chroma siting too:
        # the join only re-encodes.
        options["settings"] = replace(
            EncodeSettings(codec="ffv1"),
            pix_fmt=writer.pix_fmt,
            options={"chroma_sample_location": writer.chroma_siting},
        )
        options["encoders"] = 1  # FFV1 segments never wait on their encoder
        todo = [segment for segment in plan.segments if segment.index not in done]
        summary = ClusterReport()
        if todo:  # with every segment kept, the join needs no cluster
            started = connect(address, num_cpus)
            try:
                keep = None if store is None else store.keep
                layout = colour_and_layout(plan.info)
                summary = _run_segments(
                    source, todo, work, weights, options, layout, progress, log, keep
                )
            finally:
                if started:
                    disconnect()
        for segment in kept:
            summary.add(_kept_outcome(source, segment))
        summary.clips.sort(key=lambda clip: clip["segment"])
        pts = {clip["segment"]: clip.pop("pts", None) for clip in summary.clips}
        if summary.count("failed"):
            _abandon_the_join(writer, store, summary, len(plan.segments), log)
        else:
            _join_into_target(writer, summary, pts, plan, target, log)
            (store or SegmentStore(target)).discard_if_ours()  # it has served
            summary.output = str(target)
    except BaseException as error:
        writer.abort()
        if store is not None:
            if store.kept_count():
                store.release()
                error.add_note(_what_is_kept(store, len(plan.segments)))
            else:
                store.discard()  # it holds nothing worth keeping
        raise
    finally:
        if store is None:
            shutil.rmtree(work, ignore_errors=True)
            if held is not None:
                held.close()
    if report is not None:
        write_json(summary.to_dict(), report)
    return summary


def _refuse_what_the_joins_cannot_keep(options: dict[str, Any]) -> None:
    """Engine options whose frames do not map one to one onto the source's frame times,
    by which the segments are joined."""
    if options.get("field_rate"):
        # The segments are joined by the source's frame times, one output frame to each.
        raise VsrError(
            "--field-rate is not available in segment mode (--segments, --segment-seconds): "
            "its segments are joined by the source's frame times, one output frame to each; "
            "run the clip whole (--ray alone runs it on a worker)"
        )
    if options.get("deinterlace") == "film":
        # Decimate's cycles of 5 run across the segments' edges, and the joins go by the
        # source's frame times, one output frame to each.
        raise VsrError(
            "--deinterlace film is not available in segment mode (--segments, "
            "--segment-seconds): it keeps 4 frames of every 5 in cycles that run across the "
            "segments' edges, and the segments are joined by the source's frame times; run "
            "the clip whole (--ray alone runs it on a worker)"
        )


def _make_cpu_segments_alike(options: dict[str, Any]) -> None:
    """Set the precision of a run that names none: this machine's default on CPU workers,
    the GPU default on GPU workers."""
    import torch

    from vsr.default_precision import default_precision

    # A CPU's default precision is its own (bf16 where it has bf16 instructions;
    # vsr.default_precision), but the segments of one output must be made alike on any
    # mix of workers, and a resumed run must make them as its kept ones were: CPU tasks
    # run in this machine's default, as a local run here would (the fingerprint holds
    # it). GPU tasks keep theirs (gpu_options; fp16 where unset).
    options["precision"] = default_precision(torch.device("cpu"))
    options["gpu_options"] = {"precision": None, **(options.get("gpu_options") or {})}


@dataclass
class _SplitPlan:
    """The source as read once by the driver, its segments, and the output's size."""

    info: VideoInfo
    segments: list[Segment]
    shift: int  # where the part of the clip asked for starts, in the source's time base
    within: tuple[int, int] | None  # the part asked for; None: the whole clip
    model: nn.Module  # the network a local run would pick
    width: int
    height: int


def _plan_split(
    source: Path,
    options: dict[str, Any],
    count: int | None,
    seconds: float | None,
    weights: str | Path | None,
    log: Callable[[str], None],
) -> _SplitPlan:
    """Read the source, refuse what segment mode cannot split, and plan the segments; takes
    the time range out of `options` and sets the coded size the segments are made at."""
    info = _read_source(source, options)
    within, shift = None, 0
    if info.cut is not None:
        shift = info.cut.offset_in(info.time_base)
        if info.cut.asked:  # else the whole clip, moved to start at zero: no seek before it
            within = (shift, info.cut.end_in(info.time_base))
    segments = plan_segments(source, count, seconds, within)
    if count is not None and len(segments) < count:
        # Segments start at keyframes; a clip with fewer of them cannot be cut finer.
        log(
            f"vsr: note: {len(segments)} segment{'s' * (len(segments) != 1)}, not {count}: "
            "the clip has no more keyframes to split at"
        )
    # The segments carry no rotation: the displayed size or height the user named becomes
    # the coded frames' here, once, as a local run does.
    options["size"], options["height"] = coded_request(
        info, options.get("size"), options.get("height")
    )
    model, (width, height) = _network_and_geometry(
        info, weights, options.get("scale"), options.get("size"), options.get("height")
    )
    return _SplitPlan(info, segments, shift, within, model, width, height)


def _read_source(source: Path, options: dict[str, Any]) -> VideoInfo:
    from vsr.video.raw_stream import parse_rate
    from vsr.video.reader import VideoReader

    if not source.is_file():
        raise VsrError(f"{source}: {why_not_there(source)}")
    # A part of the clip: split that part only, and join it moved to zero, its audio and
    # subtitles cut alike (the writer over a reader's cut does that, as in a local run).
    part = time_range(*(options.pop(key, None) for key in ("start", "end", "duration")))
    given_rate = options.get("input_rate")
    # Refused now for a clip that times its own frames, as a local run refuses it: every
    # segment (a lossless Matroska cut) failed with it in turn, after Ray had started.
    rate = None if given_rate is None else parse_rate(given_rate, "input_rate")
    with VideoReader(source, part, input_rate=rate) as reader:
        info = reader.info
    if info.clock_restarts is not None:
        raise VsrError(f"{source}: {info.clock_restarts.refuse('--segments')}")
    # Asked before anything reads its length: a raw stream's is counted from the whole file
    # only when asked for (vsr.video.raw_length).
    if info.raw_stream:  # its segments would be found by seeking, and joined by their times
        raise VsrError(
            f"{source}: a raw video stream has no index to split it at keyframes by: run it "
            "whole (--ray alone runs it on a worker)"
        )
    return info


def _claim_work_folder(target: Path, log: Callable[[str], None]) -> tuple[Path, IO[bytes] | None]:
    """The folder a run without --resume makes its segments in, and the hold that tells
    later runs it is in use."""
    # What runs killed outright left (Ctrl-C removes its own): lossless parts, GBs;
    # under this process's id too (a container's driver has the same one each run).
    for folder in temp_lock.remove_dead_temps(target, _work_folder_pattern(target)):
        log(f"vsr: removed {folder.name}, the segments of a run that was killed")
    work = _work_folder(target)
    try:
        work.mkdir()
    except FileExistsError:
        raise VsrError(f"{work}: another segment run of {target.name} uses it") from None
    return work, temp_lock.hold_folder(work)


def _abandon_the_join(
    writer: VideoWriter,
    store: SegmentStore | None,
    summary: ClusterReport,
    total: int,
    log: Callable[[str], None],
) -> None:
    """A segment failed: no output, and say what a rerun with --resume would make."""
    writer.abort()
    if store is not None and store.kept_count():
        store.release()
        log(f"vsr: {_what_is_kept(store, total)}")
    elif store is not None:
        store.discard()  # it holds nothing worth keeping ("0 of 8 ... kept" was said)
    elif summary.count("done"):
        finished = summary.count("done")
        log(
            f"vsr: the {finished} finished segment{'s' * (finished != 1)} "
            f"{'are' if finished != 1 else 'is'} not kept: with --resume, a rerun "
            "makes only the failed ones"
        )


def _join_into_target(
    writer: VideoWriter,
    summary: ClusterReport,
    pts: dict[int, list[int] | None],
    plan: _SplitPlan,
    target: Path,
    log: Callable[[str], None],
) -> None:
    """Encode every segment, in order, into the writer, and close it."""
    parts = [(Path(clip["output"]), pts[clip["segment"]]) for clip in summary.clips]
    # A segment is a lossless copy of the pictures alone. Its task counted the
    # captioned frames it copied; a kept segment's are unknown, the first frame's said.
    captioned = sum(clip.get("captioned_frames") or 0 for clip in summary.clips)
    if captioned or plan.info.closed_captions:
        writer.notes.append(SEGMENTS_LOSE_CAPTIONS)
    start = time.perf_counter()
    end = None if plan.within is None else plan.within[1]
    join_segments(writer, parts, plan.shift, end)
    writer.close()
    for note in writer.notes:  # what the writer decided, as a local run says it
        log(f"vsr: note: {note}")
    summary.wall_seconds += time.perf_counter() - start
    log(f"vsr: joined {len(parts)} segment{'s' * (len(parts) != 1)} into {target}")


def _work_folder(target: Path) -> Path:
    """Where a run without --resume keeps its lossless parts: beside the output, hidden,
    with this process's id."""
    return target.parent / f".{target.name}.segments.{os.getpid()}"


def _work_folder_pattern(target: Path) -> str:
    """A regular expression for the names _work_folder gives `target`, any process's id
    its one group."""
    return rf"\.{re.escape(target.name)}\.segments\.(\d+)"


def _check_kept_segments(target: Path, resume: bool, overwrite: bool) -> None:
    """Segments an earlier run kept for `target`, met by a run that would not use them.
    Beside an existing output (a run killed between its rename and the store's removal,
    or another file: which one cannot be known, so nothing is removed), say which choices
    there are; without --resume, ask rather than make them again and then delete them."""
    store = SegmentStore(target)
    kept = store.kept_count() if not overwrite and store.is_ours() else 0
    if not kept:
        return
    if target.exists():
        raise VsrError(
            f"{target} already exists, and {store.folder} holds {kept} upscaled segments: "
            f"if {target.name} is their finished output, remove that folder; --overwrite "
            "--resume joins them into a new one"
        )
    if not resume:
        raise VsrError(
            f"{store.folder} holds {kept} upscaled segments of an interrupted run: add "
            "--resume to continue it, or --overwrite to start over"
        )


def _kept_outcome(source: Path, segment: KeptSegment) -> dict[str, Any]:
    """A kept segment's line in the report: not made again, so "skipped"."""
    return {
        "input": f"{source}#{segment.index}",
        "output": str(segment.path),
        "segment": segment.index,
        "status": "skipped",
        "reason": "kept from an earlier run",
        "frames": len(segment.pts),
        "lost_frames": segment.lost_frames,
        "pts": segment.pts,
    }


def _what_is_kept(store: SegmentStore, total: int) -> str:
    kept = store.kept_count()
    then = "joins them" if kept == total else f"makes only the other {total - kept}"
    return (
        f"{kept} of {total} upscaled segments are kept in {store.folder}: the same command "
        f"with --resume {then}"
    )


def _outcome_of(ray, ref, source: Path, segment: Segment) -> dict[str, Any]:
    failed = {"input": f"{source}#{segment.index}", "segment": segment.index}
    return outcome_or_failure(ray, ref, **failed)


def _run_segments(source, segments, work, weights, options, layout, progress, log, keep):
    """Run the segments as Ray tasks; `keep` (with --resume) records each finished one."""
    from tqdm import tqdm

    ray = import_ray()
    resources = task_resources(options.get("device"))
    options = options_for_workers(options, "num_gpus" in resources)
    task = ray.remote(upscale_segment).options(
        max_retries=MAX_RETRIES, retry_exceptions=False, **resources
    )
    shipped = ray.put(ship_weights(weights))
    threads = int(resources["num_cpus"])
    pending = {
        task.remote(
            str(source),
            segment,
            str(segment_file(work, segment.index)),
            shipped,
            options,
            threads,
            layout,
            to_the_command_line(),
        ): segment
        for segment in segments
    }
    summary = ClusterReport(workers=cluster_slots(ray, "num_gpus" in resources))
    outcomes: dict[int, dict[str, Any]] = {}
    bar = tqdm(
        total=len(segments),
        unit="segment",
        desc=source.name,
        disable=not bars_shown(progress),
    )
    start = time.perf_counter()

    def take(ref) -> None:
        """Collect one finished task: log it, and with --resume record its segment."""
        segment = pending.pop(ref)
        outcome = _outcome_of(ray, ref, source, segment)
        if outcome["status"] == "failed":
            with tqdm.external_write_mode():
                log(f"vsr: segment {segment.index}: failed: {outcome['error']}")
        else:
            crc32 = outcome.pop("crc32")
            if keep is not None:
                keep(segment.index, outcome["pts"], crc32, outcome["report"]["lost_frames"])
            lost = outcome["report"]["lost_frames"]
            said = [f"{lost} frame(s) could not be decoded"] if lost else []
            # What the worker's engine found or decided (the video is interlaced ...), as a
            # local run and a Ray run of whole clips say it.
            said += [f"note: {note}" for note in outcome["report"].get("notes") or []]
            with tqdm.external_write_mode():
                for line in said:
                    log(f"vsr: segment {segment.index}: {line}")
        outcomes[segment.index] = outcome
        bar.update(1)

    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                take(ref)
    except BaseException:
        if keep is not None and pending:  # segments finished meanwhile are kept, not redone
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            for ref in ready:
                take(ref)
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        bar.close()
        summary.wall_seconds = time.perf_counter() - start
    for segment in segments:
        summary.add(outcomes[segment.index])
    return summary
