"""Folders of clips: `vsr run IN_DIR OUT_DIR` once, or `--watch` to keep going.

Each clip of IN_DIR (top level, by extension) becomes OUT_DIR/<same name>. The network is
loaded once and kept, and a clip's finish (encoder flush, audio copy, rename) runs on a
thread while the next clip starts, so the device's idle gap between two clips is the next
clip's start-up (probe, encoder set-up, first frames decoded) plus the encoding of the
last batch or two; each clip's report shows them as `startup_s` and `drain_s`. A failing
clip is recorded and the others go on.

Watching keeps a state file in OUT_DIR (vsr.watch_state) that names every clip done or
failed with the size and modification time it had, so a restart does each clip exactly
once, and a failed clip is retried only if the file changes (a clip whose output name
something stands in, a folder, an empty file..., is not recorded: it is taken once that is
gone).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from vsr.broken_links import not_a_regular_file
from vsr.errors import VsrError, describe_error, is_out_of_space
from vsr.foreign_links import REFUSAL, linked_by_another_user, say_links_left_alone
from vsr.frames_folder import frames_hint
from vsr.hidden_files import hidden_left_out, is_hidden
from vsr.output_in_the_way import finished_output, in_the_way
from vsr.progress import bars_shown
from vsr.report import FolderReport, RunReport, frames_made, write_json
from vsr.stop_signals import stopped_by
from vsr.subfolders import subfolders_left_alone
from vsr.uninterrupted_wait import setting_when_done, wait_through_interruptions
from vsr.watch_state import LOCK_FILE, OLD_STATE_FILE, STATE_FILE, WatchState

# DVD video (.vob, and .vro from DVD recorders) and other MPEG-PS/TS names (.m2p, .m2t)
# are there too: a DVD's VIDEO_TS folder holds only .VOB clips. So are raw video streams
# (.h264, .hevc, .m2v, .obu ...; vsr.video.raw_stream times them), broadcast and camera
# files (.mxf, DV's .dv and .dif) and the rarer containers libav reads (.asf, .f4v, .3g2,
# .nut, .ivf): each was made and upscaled through folder mode when it was added.
VIDEO_EXTENSIONS = {
    ".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".m2t",
    ".mpg", ".mpeg", ".m2p", ".vob", ".vro", ".flv", ".wmv", ".y4m", ".3gp", ".ogv",
    ".h264", ".264", ".avc", ".h265", ".hevc", ".265", ".m1v", ".m2v", ".obu",
    ".mxf", ".dv", ".dif", ".asf", ".f4v", ".3g2", ".nut", ".ivf",
}  # fmt: skip

# Runs one clip: returns its report, or a callable that finishes the file and returns it.
# run_clip(clip, output) upscales one clip; a watch calls run_clip(clip, output,
# replace=True) for a clip that changed after it was done, whose output is then replaced.
ClipRunner = Callable[..., "RunReport | Callable[[], RunReport]"]


def find_clips(folder: Path) -> list[Path]:
    """Video files directly inside `folder`, by extension, in name order (hidden ones and
    links that another user made skipped)."""
    return list_folder(folder)[0]


def list_folder(folder: Path) -> tuple[list[Path], list[Path], dict[Path, str]]:
    """From one listing of `folder`: its clips (as find_clips), the links that another
    user made, which are left alone (vsr.foreign_links), and the links that lead to no
    file and what is no regular file (a FIFO), each with why (vsr.broken_links), which
    fail as a clip fails."""
    clips, foreign, broken = [], [], {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in VIDEO_EXTENSIONS or is_hidden(path):
            continue
        if linked_by_another_user(path):
            foreign.append(path)
        elif path.is_file():
            clips.append(path)
        elif why := not_a_regular_file(path):
            broken[path] = why
    return clips, foreign, broken


def failing_links(broken: dict[Path, str], out_dir: Path, overwrite: bool) -> dict[Path, str]:
    """Of the links that lead to no file (list_folder's), those that fail as clips: not one
    whose output is there already (upscaled before its share went away), which is skipped
    as any done clip is, unless `overwrite`."""
    return {
        link: why
        for link, why in broken.items()
        if not finished_output(output_for(link, out_dir), overwrite)
    }


def _looking_again_for_foreign_links(run_clip: ClipRunner) -> ClipRunner:
    """`run_clip` that first looks again whether the clip is a link another user made: a
    clip may wait minutes between the listing and its turn, time enough to swap a file for
    a link."""

    def checked(clip: Path, *args: object, **kwargs: object):
        if linked_by_another_user(clip):
            raise VsrError(REFUSAL)
        return run_clip(clip, *args, **kwargs)

    return checked


def output_for(clip: Path, out_dir: Path) -> Path:
    """OUT_DIR/<same name>, in Matroska when vsr cannot write the clip's own container
    (.avi, .ts, .flv...): every clip that is found can then be written."""
    from vsr.video.containers import CONTAINERS

    name = clip.name if clip.suffix.lower() in CONTAINERS else clip.stem + ".mkv"
    return out_dir / name


def clashing_outputs(clips: list[Path], out_dir: Path) -> dict[Path, str]:
    """Clips that must not run because another clip of the folder has their output name
    (`a.avi` is written as a.mkv, which `a.mkv` is written as too), each with the reason.
    The clip that keeps its own name owns the output; the renamed ones are refused, so no
    output is overwritten or taken for another clip's, whatever order they come in."""
    owners: dict[Path, list[Path]] = {}
    for clip in clips:
        owners.setdefault(output_for(clip, out_dir), []).append(clip)
    refused = {}
    for target, sharing in owners.items():
        if len(sharing) < 2:
            continue
        for clip in sharing:
            if clip.name != target.name:
                others = ", ".join(c.name for c in sharing if c != clip)
                refused[clip] = (
                    f"would be written as {target.name}, as {others} would; rename one of them"
                )
    return refused


def check_report_path(report: Path | None, in_dir: Path, out_dir: Path, watching: bool) -> None:
    """The folder's JSON report is written when the run ends, over whatever it names: never
    a clip's output, which the run has just written (and which the next run would take the
    JSON for, and skip the clip). A watch's clips arrive later, so there any name in OUTPUT
    with a suffix folder mode writes videos with is refused too; a .json there is fine."""
    if report is None:
        return
    from vsr.video.containers import CONTAINERS

    where = Path(os.path.realpath(report))  # a link loop is check_can_write's to say
    try:
        clips = find_clips(in_dir)
    except OSError:
        clips = []  # the run itself says why the folder cannot be listed
    for clip in clips:
        if where == output_for(clip, out_dir).resolve():
            raise VsrError(
                f"the report {report} would replace the OUTPUT video of {clip.name}; "
                "name another file"
            )
    if where.parent == out_dir.resolve() and where.name in (STATE_FILE, OLD_STATE_FILE, LOCK_FILE):
        raise VsrError(f"the report {report} would replace the watch's record; name another file")
    # output_for writes a clip under its own suffix when it is one of CONTAINERS, else .mkv.
    if watching and where.parent == out_dir.resolve() and where.suffix.lower() in CONTAINERS:
        raise VsrError(
            f"the report {report} is in the OUTPUT folder under a video's name, which a clip "
            "arriving later would be written as; name another file (e.g. a .json)"
        )


def say_what_is_left_alone(in_dir: Path, out_dir: Path, log: Callable[[str], None]) -> None:
    """Name the subfolders of `in_dir` (the output folder aside): only the clips directly
    inside are upscaled."""
    for note in subfolders_left_alone(in_dir, out_dir, "clips"):
        log(f"vsr: note: {note}")


def no_clips_in(in_dir: Path) -> VsrError:
    looked_for = ", ".join(sorted(VIDEO_EXTENSIONS))
    hidden = hidden_left_out(in_dir, VIDEO_EXTENSIONS)
    return VsrError(
        f"no video clips in {in_dir} (looked for {looked_for}){hidden}{frames_hint(in_dir)}"
    )


def check_folders(in_dir: Path, out_dir: Path) -> None:
    """INPUT and OUTPUT can serve a folder run; OUTPUT is made where missing."""
    check_input_and_output(in_dir, out_dir)
    make_output_folder(out_dir)


def check_input_and_output(in_dir: Path, out_dir: Path) -> None:
    if not in_dir.is_dir():
        raise VsrError(f"{in_dir}: no such folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise VsrError(f"{out_dir} is a file; a folder INPUT needs a folder OUTPUT")
    if not out_dir.exists() and out_dir.suffix.lower() in VIDEO_EXTENSIONS:
        # `vsr run clips/ out.mp4` would otherwise make a folder called out.mp4.
        raise VsrError(
            f"{out_dir} looks like a file name; a folder INPUT needs a folder OUTPUT"
            f"{frames_hint(in_dir)}"
        )
    if out_dir.resolve() == in_dir.resolve():
        raise VsrError("OUTPUT folder is the INPUT folder; outputs would overwrite the clips")


def make_output_folder(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise VsrError(f"cannot create output folder {out_dir}: {error.strerror}") from None
    # Told once now, rather than as every clip's failure after its upscaling.
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise VsrError(f"{out_dir}: output folder is not writable")


def _log_done(clip: Path, report: RunReport, log) -> None:
    # Frames the reader could not decode make the output shorter than the clip: say so on
    # the clip's own line, whatever notes earlier clips already printed.
    made = frames_made(
        report.frames, report.lost_frames, report.resumed_frames, report.wall_seconds, report.fps
    )
    log(f"vsr: {clip.name}: {made}")


def stopped_at(source: Path, error: OSError, kind: str = "clips") -> OSError:
    """A full (or read-only) output disk ends a folder run, of clips or of images (`kind`):
    every later file would be upscaled and then fail the same way. What is finished is
    kept."""
    error.add_note(
        f"stopped at {source.name}: the {kind} finished before it are kept, and the same "
        "command again, once there is space, skips them"
    )
    return error


def _record_failure(summary: FolderReport, clip: Path, error: Exception) -> OSError | None:
    """Record `clip` as failed. Returns the error that must stop the folder run (a full or
    read-only output disk), else None."""
    summary.add(clip, "failed", error=describe_error(error))
    return stopped_at(clip, error) if is_out_of_space(error) else None


def _run_one(
    clip: Path,
    target: Path,
    run_clip: ClipRunner,
    summary: FolderReport,
    log,
    warn,
    replace=False,
) -> bool:
    """Run and finish one clip, recording the outcome; False if it failed. A failure, and a
    clip done with frames lost to damage, are said through `warn`, the rest through `log`."""
    try:
        result = run_clip(clip, target, replace=True) if replace else run_clip(clip, target)
        report = result() if callable(result) else result
    except Exception as error:  # one bad clip must not stop the folder
        stop = _record_failure(summary, clip, error)
        if stop is not None:
            raise stop from None
        warn(f"vsr: {clip.name}: failed: {describe_error(error)}")
        return False
    summary.add(clip, "done", report)
    _log_done(clip, report, warn if report.lost_frames else log)
    return True


class _Finisher:
    """Finishes one clip (encoder flush, audio copy, rename) on a thread while the next
    clip starts, so the device does not sit idle through the flush. At most one pending;
    outcomes are recorded in clip order."""

    def __init__(self, summary: FolderReport, log) -> None:
        self.summary, self.log = summary, log
        self.thread: threading.Thread | None = None
        self.outcome: tuple = ()
        self.finished = threading.Event()  # the pending clip's outcome is there
        # A finished clip that met a full disk: the folder run stops before the next clip
        # (the one already started is still finished, or fails and cleans up after itself).
        self.out_of_space: OSError | None = None

    def start(self, clip: Path, finish: Callable[[], RunReport]) -> None:
        self.wait()
        self.finished.clear()
        thread = threading.Thread(
            target=setting_when_done(self._run, self.finished),
            args=(clip, finish),
            name="vsr-finish",
        )
        thread.start()
        self.thread = thread  # only once started: wait() waits for what it will set

    def _run(self, clip: Path, finish: Callable[[], RunReport]) -> None:
        # Told as soon as it is known (a log would otherwise hear of a clip only once the
        # next one is upscaled); recorded in wait(), in clip order.
        try:
            report = finish()
        except Exception as error:
            self.outcome = (clip, None, error)
            self.log(f"vsr: {clip.name}: failed: {describe_error(error)}")
        else:
            self.outcome = (clip, report, None)
            _log_done(clip, report, self.log)

    def wait(self) -> None:
        """Record the pending clip once it is finished. A Ctrl-C or stop signal meanwhile
        waits for it too and is raised after: Python 3.11's Thread.join, interrupted, takes
        the running thread for ended, and a second Ctrl-C while a folder run finished its
        clip lost it (its rename died with the interpreter) and emptied the report."""
        if self.thread is None:
            return
        interruption = wait_through_interruptions(self.finished)
        self.thread = None  # ending: its outcome is set
        clip, report, error = self.outcome
        if error is not None:
            stop = _record_failure(self.summary, clip, error)
            self.out_of_space = self.out_of_space or stop  # the first one is what stopped it
        else:
            self.summary.add(clip, "done", report)
        if interruption is not None:
            raise interruption


NOT_STARTED = "not started: the run was stopped before it"


def stopped_before_finishing(interruption: KeyboardInterrupt) -> str:
    """Why a clip that Ctrl-C (or a stop signal) caught mid-way has no output."""
    return f"stopped by {stopped_by(interruption)} before it was finished"


def record_interruption(
    summary: FolderReport, unfinished: list[Path], interruption: KeyboardInterrupt
) -> None:
    """Record how Ctrl-C (or a stop signal: `interruption`) left the clips it stopped: the
    first of `unfinished` that has no outcome yet was being upscaled, and those after it were
    never begun. A report that named only the clips done read as a folder of fewer clips."""
    recorded = {clip["input"] for clip in summary.clips}
    left = [clip for clip in unfinished if str(clip) not in recorded]
    if left and left[0] == unfinished[0]:
        summary.add(left.pop(0), "interrupted", error=stopped_before_finishing(interruption))
    for clip in left:
        summary.add(clip, "not started", error=NOT_STARTED)


def process_folder(
    in_dir: Path,
    out_dir: Path,
    run_clip: ClipRunner,
    *,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    summary: FolderReport | None = None,
) -> FolderReport:
    """Run every clip of `in_dir` into `out_dir`; finished outputs are skipped unless
    `overwrite`. Returns the folder report (the caller decides the exit status). Outcomes
    go into `summary` as they happen, so a caller still has them after Ctrl-C."""
    from tqdm import tqdm

    check_input_and_output(in_dir, out_dir)
    clips, foreign, broken = list_folder(in_dir)
    say_what_is_left_alone(in_dir, out_dir, log)
    say_links_left_alone(foreign, log)
    if not clips and not broken:  # a mistake, as `vsr image` says of a folder without images
        raise no_clips_in(in_dir)
    make_output_folder(out_dir)  # only once there is something to put in it
    run_clip = _looking_again_for_foreign_links(run_clip)
    summary = summary if summary is not None else FolderReport()
    started = time.monotonic()
    # Clips that fail before they start, each with why: broken links, clashing names.
    refused = {**failing_links(broken, out_dir, overwrite), **clashing_outputs(clips, out_dir)}
    clips = sorted([*clips, *broken])
    finisher = _Finisher(summary, log)
    overall = tqdm(total=len(clips), unit="clip", desc="folder", disable=not bars_shown(progress))
    reached = 0  # clips looked at so far; the one being upscaled when Ctrl-C came among them
    try:
        for clip in clips:
            reached += 1
            if finisher.out_of_space is not None:
                raise finisher.out_of_space
            target = output_for(clip, out_dir)
            # A folder, a dangling link or an empty file at the output's name is none of a
            # finished clip: said, not skipped (vsr.output_in_the_way).
            if clip not in refused and (why := in_the_way(target, overwrite)):
                refused[clip] = why
            if clip in refused:
                finisher.wait()
                summary.add(clip, "failed", error=refused[clip])
                log(f"vsr: {clip.name}: failed: {refused[clip]}")
            elif finished_output(target, overwrite):
                finisher.wait()  # keep the report in clip order
                summary.add(clip, "skipped", error="output exists (use --overwrite to redo)")
            else:
                try:
                    result = run_clip(clip, target)
                except Exception as error:  # one bad clip must not stop the folder
                    finisher.wait()
                    stop = _record_failure(summary, clip, error)
                    if stop is not None:
                        raise stop from None
                    log(f"vsr: {clip.name}: failed: {describe_error(error)}")
                else:
                    finisher.start(clip, result if callable(result) else lambda r=result: r)
            overall.update(1)
    except KeyboardInterrupt as interruption:
        with contextlib.suppress(KeyboardInterrupt):  # this stop is being answered already
            finisher.wait()  # a clip already encoded is completed, not lost
        record_interruption(summary, clips[reached - 1 :], interruption)
        raise
    finally:
        finisher.wait()
        overall.close()
        summary.elapsed_seconds = time.monotonic() - started
    if finisher.out_of_space is not None:  # the last clip met the full disk
        raise finisher.out_of_space
    return summary


def watch_folder(
    in_dir: Path,
    out_dir: Path,
    run_clip: ClipRunner,
    *,
    interval_s: float = 2.0,
    idle_exit_s: float | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    warn: Callable[[str], None] | None = None,
    summary: FolderReport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> FolderReport:
    """Process clips as they appear until Ctrl-C (or `idle_exit_s` without new work).

    A clip is taken only once its size and modification time are the same at two looks
    `interval_s` apart, so a file still being copied in is left alone. Outcomes go into
    `summary` as they happen, so a caller still has them after Ctrl-C. Lines go to `log`,
    but those of a failed clip or of one with frames lost to damage to `warn` (`log` when
    None): a watch runs for days, and a quiet one must still say a failure when it happens.
    `clock` and `sleep` stand in for time in tests.
    """
    warn = log if warn is None else warn
    # A day at most: time.sleep refuses more than a C long of seconds (inf overflowed).
    if not 0 < interval_s <= 86400:
        raise VsrError(
            f"--watch-interval must be more than 0 seconds and at most a day, not {interval_s:g}"
        )
    if idle_exit_s is not None and not idle_exit_s >= 0:
        raise VsrError(f"--idle-exit must be 0 seconds or more, not {idle_exit_s:g}")
    check_folders(in_dir, out_dir)
    state = WatchState(out_dir, in_dir, hold=True)  # a second watch of OUT_DIR is refused here
    run_clip = _looking_again_for_foreign_links(run_clip)
    say_what_is_left_alone(in_dir, out_dir, log)
    summary = summary if summary is not None else FolderReport()
    seen: dict[Path, list[int]] = {}  # last signature of clips not yet stable
    # The clips this watch has taken: with `overwrite`, those an earlier watch settled are
    # redone once, as a folder run redoes its outputs, and then settled as usual.
    taken: set[Path] = set()
    last_activity = clock()
    missing = False  # the folder could not be listed at the last look (an unmounted share)
    links_noted: set[Path] = set()
    broken_told: dict[Path, str] = {}
    obstacles_told: dict[Path, str] = {}  # clips whose output name something stands in
    started = clock()
    summary.work_seconds = summary.work_seconds or 0.0  # a watch says its work apart
    try:
        while True:
            try:
                clips, foreign, broken = list_folder(in_dir)
                say_links_left_alone([p for p in foreign if p not in links_noted], log)
                links_noted.update(foreign)
                _fail_once(broken, broken_told, summary, warn)
            except OSError as error:
                if not missing:
                    log(f"vsr: {in_dir}: cannot be read ({error.strerror}); waiting for it")
                missing = True
                clips = []
            else:
                if missing:
                    log(f"vsr: {in_dir}: readable again")
                missing = False
            clashes = clashing_outputs(clips, out_dir)
            # Outputs earlier clips were written to, even clips since removed from the folder,
            # and those of another folder watched into OUT_DIR.
            done_as = {output_for(done, out_dir): done for done in state.done_clips()}
            arriving = False  # a clip with content seen new or changed: not idle, whatever S
            obstacles: dict[Path, str] = {}
            for clip in clips:
                try:
                    if state.settled(clip) and (clip in taken or not overwrite):
                        continue
                    signature = WatchState.signature(clip)
                except FileNotFoundError:
                    continue  # removed between the listing and the look
                if seen.get(clip) != signature:
                    seen[clip] = signature  # new or still growing: look again next round
                    last_activity = clock()
                    arriving = arriving or signature[0] > 0
                    continue
                if signature[0] == 0:
                    # An empty file may be a copy not yet begun: wait for content, but it is no
                    # new work, so it must not hold off --idle-exit forever.
                    continue
                _make_output_folder_again(out_dir, state, log)
                target = output_for(clip, out_dir)
                earlier = done_as.get(target)
                # Recorded on this very version, it is this clip seen through another path
                # (its folder moved, or mounted elsewhere), whose output is its own.
                moved = earlier is not None and state.recorded_on(earlier, signature)
                if earlier is not None and earlier != clip and not moved:
                    named = earlier.name if earlier.parent == in_dir else earlier
                    clashes[clip] = f"would be written as {target.name}, which {named} already was"
                new = clip.name not in state.clips
                if clip not in clashes and new and (why := in_the_way(target, overwrite)):
                    # A folder, an empty file...: no finished output, which the user is told
                    # to remove. Said once (as a broken link is), not recorded: the clip is
                    # looked at again at each look, and taken once it is gone.
                    obstacles[clip] = why
                    continue
                seen.pop(clip, None)
                taken.add(clip)
                summary.forget(clip)  # a retry or a redo: this attempt is the clip's outcome
                if clip in clashes:
                    # Recorded as failed on this version: retried once the file changes, the
                    # clash being gone by then or reported again.
                    summary.add(clip, "failed", error=clashes[clip])
                    warn(f"vsr: {clip.name}: failed: {clashes[clip]}")
                    state.record(clip, "failed", clashes[clip], signature=signature)
                    continue
                if finished_output(target, overwrite) and new:
                    # Finished before a restart lost the state write: it is done.
                    state.record(clip, "done", signature=signature)
                    summary.add(clip, "skipped", error="output exists")
                    continue
                again = state.done_before(clip)
                if again and not overwrite:  # with it, a clip is redone whether it changed or not
                    log(f"vsr: {clip.name} changed after it was upscaled: upscaling it again")
                began = clock()
                try:
                    ok = _run_one(clip, target, run_clip, summary, log, warn, replace=again)
                except KeyboardInterrupt as interruption:  # a watch's usual end; redone next
                    record_interruption(summary, [clip], interruption)
                    raise
                finally:  # Ctrl-C mid-clip: its time was work too
                    summary.work_seconds = (summary.work_seconds or 0.0) + clock() - began
                failure = summary.clips[-1].get("error", "")
                # The signature from before the run: the clip may be gone by now (moved away
                # once done, or removed mid-run), which must not stop the watch.
                state.record(clip, "done" if ok else "failed", failure, signature=signature)
                last_activity = clock()
            _fail_once(obstacles, obstacles_told, summary, warn)
            idle = clock() - last_activity
            if idle_exit_s is not None and not arriving and idle >= idle_exit_s:
                return summary
            sleep(interval_s)
    finally:  # also on Ctrl-C, which is how a watch without --idle-exit ends
        # The watch's own time, idle looks included: the clips' times, summed, said 12 s
        # of a 25 s watch, and 0 s of a watch that had nothing to do. Its fps is of the
        # time spent on clips (summary.work_seconds), which the summary line says apart.
        summary.elapsed_seconds = clock() - started
        state.close()


def _make_output_folder_again(out_dir: Path, state: WatchState, log: Callable[[str], None]) -> None:
    """Make the output folder again where it is gone: a watch runs for days, and its folder
    may be moved away (archived) or removed meanwhile, which must not fail every clip that
    comes after. The watch holds its record there again, as the lock went with the folder."""
    if out_dir.is_dir():
        return
    make_output_folder(out_dir)
    state.hold_again()
    log(f"vsr: note: the output folder {out_dir} was gone (moved or removed); made it again")


def _fail_once(failing: dict[Path, str], told: dict[Path, str], summary: FolderReport, log) -> None:
    """A watch fails each clip of `failing` (this look's, with why) once, and again only
    should it fail another way, or fail again after it was mended: a link that leads to no
    file (into a share that is being mounted) or an output name taken by a folder may mend
    by itself or by the user's hand, and the clip is then taken as any clip is. `told` holds
    what was said, from one look to the next."""
    for clip, why in failing.items():
        if told.get(clip) != why:
            summary.forget(clip)
            summary.add(clip, "failed", error=why)
            log(f"vsr: {clip.name}: failed: {why}")
    told.clear()
    told.update(failing)


def write_folder_report(summary: FolderReport, path: Path | None) -> None:
    """Write the folder's report to `path` (nothing when None); a path that cannot be
    written (a folder, a file where a folder should be) is one clear error."""
    if path is None:
        return
    try:
        write_json(summary.to_dict(), path)
    except (IsADirectoryError, NotADirectoryError, FileExistsError, PermissionError) as error:
        raise VsrError(f"cannot write the report {path}: {error.strerror}") from None
