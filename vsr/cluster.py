"""Folders of clips across many GPUs and machines: `vsr run IN_DIR OUT_DIR --ray [ADDRESS]`.

The driver (this module) lists the clips, skips finished outputs (the local folder mode's
rule), and submits one Ray task per clip; the worker side is vsr/cluster_task.py. A task
asks for one GPU when the cluster has any, else one CPU (and then runs torch on one
thread, so N tasks use N cores without oversubscribing them).

Faults: a worker or node that dies is a Ray system failure, and Ray re-runs the task
elsewhere (`max_retries`, bounded). A clip that fails for its own reasons (corrupt input)
is returned as a failure by the task itself, so it is reported once and never retried.
Outputs are written by the same writer as a local run: a temp file beside the target,
renamed when complete; a retry removes the temp a dead attempt left behind.

Progress: workers tell one small actor (FrameTally) how many frames each clip has encoded,
twice a second, and the driver's bar shows the total beside the clips finished.

Weights given as a file are read once by the driver and shipped to the workers through the
object store (no shared file system needed for them); manifest names and the defaults are
resolved by each worker. Clips and outputs are paths that every node must see (a shared
file system or bucket mount).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from vsr.cluster_task import (
    CRASH_ONCE_ENV,
    TALLY_INTERVAL_S,
    FrameTally,
    ShippedWeights,
    run_clip,
)
from vsr.counted import counted
from vsr.errors import VsrError, to_the_command_line
from vsr.progress import bars_shown
from vsr.report import kept_from_an_interrupted_run, lost_to_damage, write_json

# Re-runs of a task whose worker or node died (Ray system failures), per task.
MAX_RETRIES = 3


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise VsrError("--ray needs the ray package: pip install 'ray>=2.60'") from None
    return ray


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """Join the cluster at `address`, or start a local Ray instance when it is None.

    Returns True when this call started Ray (so the caller shuts it down again). An
    already initialised Ray (a notebook, a test session) is used as it is.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address:
        check_reachable(address)
    # Workers report through their results; their own log lines would only clutter.
    options: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": "ERROR",
        "log_to_driver": False,
    }
    # ray.init puts its own SIGTERM handler (sys.exit) in place of vsr's, which turns a
    # SIGTERM into "vsr: interrupted" and keeps the note on what --resume kept.
    term_handler = signal.getsignal(signal.SIGTERM)
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=num_cpus, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        if address == "auto" and isinstance(error, ConnectionError):
            # Ray's own text names its --address flag, which vsr does not have.
            raise VsrError(
                "--ray auto found no Ray cluster started on this machine (`ray start "
                "--head`); give its address, or --ray alone for a private instance"
            ) from None
        where = address or "a local instance"
        raise VsrError(f"cannot start Ray on {where}: {error}".splitlines()[0]) from None
    finally:
        _rearm_sigterm(term_handler)
    return True


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """A cluster's HOST:PORT (or ray://HOST:PORT) answers on its port: ray.init waits for a
    host that does not exist or a port nobody listens on for minutes, printing its own
    warnings, rather than failing. Anything else ("auto") is left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        reason = "no answer" if isinstance(error, TimeoutError) else error.strerror or error
        raise VsrError(
            f"cannot reach the Ray cluster at {address} ({reason}); is `ray start --head` "
            "running there, and is the port open?"
        ) from None


def disconnect() -> None:
    """Shut down the Ray instance connect() started. Ray's core worker leaves SIGTERM at
    the system's default when it stops, so the handler is installed again."""
    term_handler = signal.getsignal(signal.SIGTERM)
    try:
        import_ray().shutdown()
    finally:
        _rearm_sigterm(term_handler)


def _rearm_sigterm(handler) -> None:
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def ship_weights(weights: str | Path | None) -> ShippedWeights | str | None:
    """A weights file travels by value; a manifest name or None is resolved by each worker."""
    if weights is not None and Path(weights).is_file():
        return ShippedWeights(Path(weights).name, Path(weights).read_bytes())
    return None if weights is None else str(weights)


def options_for_workers(engine_options: dict[str, Any], on_gpu: bool) -> dict[str, Any]:
    """The engine options a task gets. The command line builds its GPU settings (a preset's
    precision, batch and speed switches) under "gpu_options" because the driver may have
    no GPU while the workers do; they apply when the tasks run on GPUs."""
    options = dict(engine_options)
    gpu_options = options.pop("gpu_options", None)
    if on_gpu and gpu_options:
        options.update(gpu_options)
    if options.get("device") is None:
        options["device"] = "cuda" if on_gpu else "cpu"
    return options


def task_resources(device: str | None = None) -> dict[str, Any]:
    """One GPU per task where the cluster has GPUs (unless --device cpu), else one CPU."""
    ray = import_ray()
    wants_cpu = device is not None and str(device).startswith("cpu")
    if not wants_cpu and ray.cluster_resources().get("GPU", 0) >= 1:
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_cpus": 1}


@dataclass
class ClusterReport:
    """Per clip: node, GPU, fps, status, error; in total: frames, wall, aggregate fps."""

    clips: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    workers: int = 0  # tasks that could run at once (GPUs, or CPUs)
    output: str | None = None  # segment mode: the one output the segments were joined into

    def add(self, entry: dict[str, Any]) -> None:
        report = entry.get("report") or {}
        entry.setdefault("fps", report.get("fps"))
        entry.setdefault("wall_seconds", report.get("wall_seconds"))
        self.clips.append(entry)

    def count(self, status: str) -> int:
        return sum(1 for clip in self.clips if clip["status"] == status)

    def to_dict(self) -> dict[str, Any]:
        done = [clip for clip in self.clips if clip["status"] == "done"]
        frames = sum(clip.get("frames") or 0 for clip in done)
        # Frames kept from interrupted runs (--resume) are in the outputs, not this run's work.
        resumed = sum((clip.get("report") or {}).get("resumed_frames") or 0 for clip in done)
        made = frames - resumed
        return {
            "summary": {
                "clips": len(self.clips),
                "done": self.count("done"),
                "skipped": self.count("skipped"),
                "failed": self.count("failed"),
                # Ctrl-C: the clips it stopped on the workers, and those it kept from starting.
                "interrupted": self.count("interrupted"),
                "not_started": self.count("not started"),
                # Done, but shorter than the source: frames the reader could not decode.
                "damaged": sum(1 for clip in done if _lost(clip)),
                "frames": frames,
                "resumed_frames": resumed,
                "wall_seconds": round(self.wall_seconds, 3),
                # The cluster's throughput: the frames made now over the driver's wall time.
                # None when no frame was made, as for a local folder run.
                "fps": round(made / self.wall_seconds, 3)
                if made and self.wall_seconds > 0
                else None,
                "workers": self.workers,
                # Frames the decoder could not give (a damaged source): outputs are shorter.
                "lost_frames": sum(
                    _lost(clip) for clip in self.clips if clip["status"] != "failed"
                ),
                **self._joined(),
            },
            "clips": self.clips,
        }

    def _joined(self) -> dict[str, Any]:
        """Segment mode: the output, and its frames with those kept from an earlier run
        (`frames` counts this run's work, as a local --resume run's fps does)."""
        if self.output is None:
            return {}
        kept = [clip for clip in self.clips if clip["status"] == "skipped"]
        done = [clip for clip in self.clips if clip["status"] == "done"]
        return {
            "output": self.output,
            "output_frames": sum(clip.get("frames") or 0 for clip in kept + done),
            "kept_frames": sum(clip.get("frames") or 0 for clip in kept),
        }


def _lost(clip: dict[str, Any]) -> int:
    """Frames of a clip (or a segment) the decoder could not give (a damaged source)."""
    return (clip.get("report") or {}).get("lost_frames") or clip.get("lost_frames") or 0


@dataclass(frozen=True)
class ClipJob:
    source: Path
    target: Path


def run_clips(
    jobs: list[ClipJob],
    *,
    weights: str | Path | None,
    engine_options: dict[str, Any],
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    summary: ClusterReport | None = None,
) -> ClusterReport:
    """Run each job as a Ray task on the connected cluster; clips keep their order in the
    report. Needs `connect()` first. Outcomes go into `summary` (a new one if None), also
    those finished before a Ctrl-C, so that a caller can still report them."""
    from tqdm import tqdm

    ray = import_ray()
    resources = task_resources(engine_options.get("device"))
    on_gpu = "num_gpus" in resources
    options = options_for_workers(engine_options, on_gpu)
    task = ray.remote(run_clip).options(
        max_retries=MAX_RETRIES, retry_exceptions=False, **resources
    )
    shipped = ray.put(ship_weights(weights))  # one copy in the object store for all tasks
    tally = ray.remote(FrameTally).options(num_cpus=0).remote()  # frames so far, all workers
    summary = summary if summary is not None else ClusterReport()
    summary.workers = cluster_slots(ray, on_gpu)
    submitted_at, start = time.time(), time.perf_counter()
    crash_once = os.environ.get(CRASH_ONCE_ENV) or None
    pending = {
        task.remote(
            str(job.source),
            str(job.target),
            shipped,
            options,
            overwrite=overwrite,
            submitted_at=submitted_at,
            threads=int(resources["num_cpus"]),
            crash_once=crash_once,
            tally=tally,
            command_line=to_the_command_line(),
        ): job
        for job in jobs
    }
    outcomes: dict[ClipJob, dict[str, Any]] = {}
    bar = tqdm(total=len(jobs), unit="clip", desc="cluster", disable=not bars_shown(progress))

    def take(ready: list[Any]) -> None:
        for ref in ready:
            job = pending.pop(ref)
            outcomes[job] = outcome = _collect(ray, ref, job)
            with tqdm.external_write_mode():  # the line above the bar, not through it
                _log_outcome(outcome, log)
            bar.update(1)

    try:
        while pending:
            # Wake up now and then even when no clip ends, to show the frames so far.
            take(ray.wait(list(pending), num_returns=1, timeout=TALLY_INTERVAL_S)[0])
            if progress:
                frames = ray.get(tally.total.remote())
                elapsed = time.perf_counter() - start
                bar.set_postfix(frames=frames, fps=f"{frames / elapsed:.1f}" if elapsed else "-")
    except BaseException as error:
        # Ctrl-C: clips finished meanwhile are reported (their outputs are there), the rest
        # stopped; their temps are removed on a re-run.
        if pending:
            take(ray.wait(list(pending), num_returns=len(pending), timeout=0)[0])
        if isinstance(error, KeyboardInterrupt) and pending:
            outcomes.update(_stopped(list(pending.values()), _started(ray, tally), error))
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        bar.close()
        summary.wall_seconds = time.perf_counter() - start
        for job in jobs:
            if job in outcomes:  # all of them, unless interrupted
                summary.add(outcomes[job])
    return summary


def cluster_slots(ray: ModuleType, on_gpu: bool) -> int:
    """How many tasks the cluster runs at once: its GPUs, or its CPUs."""
    return int(ray.cluster_resources().get("GPU" if on_gpu else "CPU", 0))


def outcome_or_failure(ray: ModuleType, ref: Any, **failed: Any) -> dict[str, Any]:
    """The task's own outcome, or a failed one (with the fields `failed` names) when Ray
    gave up on the task, its retries spent, with Ray's reason."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return {
            **failed,
            "status": "failed",
            "node": None,
            "gpu": None,
            "error": f"{type(error).__name__} after {MAX_RETRIES} retries: {reason}",
        }


def _started(ray: ModuleType, tally: Any) -> set[str]:
    """The clips a worker has begun, as far as the tally heard; none if it cannot say."""
    try:
        return set(ray.get(tally.started.remote(), timeout=5))
    except ray.exceptions.RayError:
        return set()


def _stopped(
    jobs: list[ClipJob], started: set[str], interruption: KeyboardInterrupt
) -> dict[ClipJob, dict[str, Any]]:
    """The outcomes of the clips Ctrl-C (or a stop signal) left unfinished, in a local
    folder run's words: `interrupted` where a worker had begun one, else `not started`.
    A report that named only the clips done read as a folder of fewer clips."""
    from vsr.folder import NOT_STARTED, stopped_before_finishing

    stopped = {}
    for job in jobs:
        begun = str(job.source) in started
        stopped[job] = {
            "input": str(job.source),
            "output": str(job.target),
            "status": "interrupted" if begun else "not started",
            "node": None,
            "gpu": None,
            "error": stopped_before_finishing(interruption) if begun else NOT_STARTED,
        }
    return stopped


def _collect(ray, ref, job: ClipJob) -> dict[str, Any]:
    return outcome_or_failure(ray, ref, input=str(job.source), output=str(job.target))


def _log_outcome(outcome: dict[str, Any], log: Callable[[str], None]) -> None:
    name = Path(outcome["input"]).name
    if outcome["status"] == "failed":
        log(f"vsr: {name}: failed: {outcome['error']}")
        return
    report = outcome.get("report") or {}
    speed = f" ({report['fps']:.2f} fps)" if "fps" in report else ""
    # The worker's fps is of the frames it made; the kept ones are said, as a local run does.
    lost = lost_to_damage(report.get("lost_frames"))
    kept = kept_from_an_interrupted_run(report.get("resumed_frames"))
    log(
        f"vsr: {name}: {counted(outcome.get('frames'), 'frame')}{lost}{kept} on {outcome['node']}{speed}"
    )
    for note in report.get("notes") or []:  # what the worker's engine decided or found
        log(f"vsr: {name}: note: {note}")


def run_folder(
    in_dir: Path,
    out_dir: Path,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    weights: str | Path | None = None,
    engine_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    report: Path | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    summary: ClusterReport | None = None,
) -> ClusterReport:
    """Every clip of `in_dir` into `out_dir` on a Ray cluster (`address`, or a local
    instance with `num_cpus`). Finished outputs are skipped unless `overwrite`; the
    caller decides the exit status from the report's failures. Outcomes go into `summary`
    as they come, so that a caller still has them after Ctrl-C. What is said names the
    folders as given, as a local run does; the tasks and the report get absolute paths."""
    from vsr.folder import (
        check_input_and_output,
        clashing_outputs,
        failing_links,
        list_folder,
        make_output_folder,
        no_clips_in,
        output_for,
    )
    from vsr.foreign_links import say_links_left_alone
    from vsr.output_in_the_way import finished_output, in_the_way

    import_ray()  # --ray without Ray installed is said at once, whatever the folder holds
    check_input_and_output(in_dir, out_dir)
    clips, foreign, broken = list_folder(in_dir)
    say_links_left_alone(foreign, log)
    if not clips and not broken:
        raise no_clips_in(in_dir)
    make_output_folder(out_dir)
    jobs, skipped = [], []
    # Two clips written as one output name (a.ts and a.mkv): the renamed one is refused, as
    # in a local folder run, before two tasks write one file.
    clashes = clashing_outputs(clips, out_dir)
    for clip in clips:
        target = output_for(clip, out_dir)
        # A folder, a dangling link or an empty file at the output's name is none of a
        # finished clip: said, not skipped (vsr.output_in_the_way).
        if clip not in clashes and (why := in_the_way(target, overwrite)):
            clashes[clip] = why
        if clip in clashes:
            log(f"vsr: {clip.name}: failed: {clashes[clip]}")
        elif finished_output(target, overwrite):
            skipped.append(clip)
        else:
            # Workers of a cluster started elsewhere run in the folder `ray start` ran in: a
            # relative path failed every clip there (or named another file of that name).
            jobs.append(ClipJob(clip.absolute(), target.absolute()))
    failing = failing_links(broken, out_dir, overwrite)
    skipped = sorted([*skipped, *(link for link in broken if link not in failing)])
    summary = summary if summary is not None else ClusterReport()
    for clip in skipped:
        summary.add(
            {
                "input": str(clip.absolute()),
                "output": str(output_for(clip, out_dir).absolute()),
                "status": "skipped",
                "error": "output exists (use --overwrite to redo)",
            }
        )
    for clip, why in failing.items():
        log(f"vsr: {clip.name}: failed: {why}")
    for clip, why in {**failing, **clashes}.items():
        summary.add(
            {
                "input": str(clip.absolute()),
                "output": str(output_for(clip, out_dir).absolute()),
                "status": "failed",
                "node": None,
                "gpu": None,
                "error": why,
            }
        )
    return _run_on_the_cluster(
        jobs,
        summary,
        address=address,
        num_cpus=num_cpus,
        weights=weights,
        engine_options=engine_options,
        overwrite=overwrite,
        progress=progress,
        report=report,
        log=log,
    )


def run_one_clip(
    source: Path,
    target: Path,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    weights: str | Path | None = None,
    engine_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    report: Path | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    summary: ClusterReport | None = None,
) -> ClusterReport:
    """One clip as one Ray task (to run it on a cluster's GPU), reported as a folder run
    of that clip is (into `summary`, as run_folder). Its paths are refused as a local run
    refuses them, before Ray starts."""
    from vsr.runner import check_clip_paths
    from vsr.video.reader import VideoReader

    check_clip_paths(Path(source), Path(target), overwrite)
    # Opened once here, as segment mode opens it: an unreadable clip (random bytes, no
    # video stream) started Ray, failed on a worker and was told three times, exit 1.
    with VideoReader(Path(source)):
        pass
    return _run_on_the_cluster(
        [ClipJob(Path(source), Path(target))],
        summary if summary is not None else ClusterReport(),
        address=address,
        num_cpus=num_cpus,
        weights=weights,
        engine_options=engine_options,
        overwrite=overwrite,
        progress=progress,
        report=report,
        log=log,
    )


def _run_on_the_cluster(
    jobs: list[ClipJob],
    summary: ClusterReport,
    *,
    address: str | None,
    num_cpus: int | None,
    weights: str | Path | None,
    engine_options: dict[str, Any] | None,
    overwrite: bool,
    progress: bool,
    report: Path | None,
    log: Callable[[str], None],
) -> ClusterReport:
    """`jobs` run on the cluster, their outcomes added to `summary` (which may hold the
    clips skipped or refused already), and the report written."""
    try:
        if jobs:  # with every output there already, no cluster is needed
            started = connect(address, num_cpus)
            try:
                run_clips(
                    jobs,
                    weights=weights,
                    engine_options=engine_options or {},
                    overwrite=overwrite,
                    progress=progress,
                    log=log,
                    summary=summary,
                )
            finally:
                if started:
                    disconnect()
    finally:  # Ctrl-C too: the clips finished so far are reported, as a local run does
        summary.clips.sort(key=lambda clip: Path(clip["input"]).name)
        if report is not None:
            write_json(summary.to_dict(), report)
    return summary
