"""What a Ray worker does for one clip (see vsr/cluster.py for the driver side).

The worker runs the same engine as a local run (`vsr.runner.upscale_video`), so outputs are
identical, and the writer's temp-file-then-rename rule still holds. Around it, the worker
adds what only matters on a cluster: weights arriving as bytes, temp files left behind by
a worker that died on an earlier attempt, an output finished by an attempt that died just
before reporting it, and a test hook that kills the worker mid-clip.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsr.errors import VsrError, describe_error, speaking_to_the_command_line
from vsr.foreign_links import REFUSAL, linked_by_another_user

if TYPE_CHECKING:
    from vsr.network_cache import NetworkCache

# Test hook: the worker processing a clip of this name exits abruptly once, mid-clip.
CRASH_ONCE_ENV = "VSR_TEST_CRASH_ONCE"


@dataclass(frozen=True)
class ShippedWeights:
    """A weights file travelling to the workers by value (through Ray's object store)."""

    name: str  # the original file name: its suffix tells the loader the format
    data: bytes

    def local_path(self) -> Path:
        """The bytes as a file on this node, written once per node and user, atomically.

        In the user's vsr cache, not the shared /tmp, where another user could plant a file
        under the predictable name first; and a file already there is used only if its
        sha256 is the driver's."""
        from vsr.atomic_file import atomic_output
        from vsr.weights import made_cache_folder, sha256_of

        digest = hashlib.sha256(self.data).hexdigest()
        # Private: the sum is checked here, the file loaded later by name.
        folder = made_cache_folder(
            "shipped-weights", "weights sent by the Ray driver", private_only=True
        )
        path = folder / f"{digest[:16]}{Path(self.name).suffix}"
        if not (path.is_file() and sha256_of(path) == digest):
            with atomic_output(path) as stream:
                stream.write(self.data)
        return path


class FrameTally:
    """Frames encoded so far, per clip, across the cluster (run as one Ray actor).

    Counts are set per clip, not added up blindly, so a clip retried after its worker died
    starts again from zero instead of being counted twice."""

    def __init__(self) -> None:
        self.frames: dict[str, int] = {}

    def report(self, clip: str, frames: int) -> None:
        self.frames[clip] = frames

    def total(self) -> int:
        return sum(self.frames.values())

    def started(self) -> list[str]:
        """The clips a worker has begun (each says so before its first frame)."""
        return list(self.frames)


# How often a worker tells the tally (seconds): live enough for a progress bar, few calls.
TALLY_INTERVAL_S = 0.5


class FrameReporter:
    """An `on_frames` callback that sends `report(clip, frames so far)` at most every
    `interval` seconds (and at once for the first batch); `flush()` sends the last count."""

    def __init__(
        self,
        report: Callable[[str, int], object],
        clip: str,
        interval: float = TALLY_INTERVAL_S,
    ) -> None:
        self.report, self.clip, self.interval = report, clip, interval
        self.frames, self.sent, self.at = 0, 0, -interval

    def __call__(self, count: int) -> None:
        self.frames += count
        now = time.monotonic()
        if now - self.at >= self.interval:
            self.report(self.clip, self.frames)
            self.sent, self.at = self.frames, now

    def flush(self) -> None:
        if self.frames != self.sent:
            self.report(self.clip, self.frames)
            self.sent = self.frames


# One network cache per worker process: Ray reuses workers, so a model loads once per
# worker, not once per clip.
_networks: dict[str, Any] = {}


def engine_weights(weights: ShippedWeights | str | None) -> NetworkCache | str | None:
    """What `upscale_video(weights=...)` takes: a cached network, or a name to resolve."""
    from vsr.network_cache import NetworkCache

    if isinstance(weights, ShippedWeights):
        weights = str(weights.local_path())
    key = str(weights)
    if key not in _networks:
        _networks[key] = NetworkCache(weights)
    return _networks[key]


def remove_stale_temps(target: Path) -> list[Path]:
    """Delete temp files of `target` left by other processes (a worker that died).

    The writer names its temp `.<stem>.<pid>.tmp<suffix>` beside the target. Ray runs one
    attempt of a task at a time, so any such file from another pid is dead weight, even
    one just touched or one whose lock another node's file system does not show, which
    the writer's own sweep (vsr.video.temp_lock) must leave.
    """
    from vsr.video.temp_lock import is_kept_finished
    from vsr.video.writer import temp_pattern_for

    pattern = re.compile(temp_pattern_for(target))
    removed = []
    for path in target.parent.glob(f".{target.stem}.*.tmp{target.suffix}"):
        match = pattern.fullmatch(path.name)
        # A finished output kept under the name (temp_lock.keep_finished) is not dead weight.
        if match and int(match.group(1)) != os.getpid() and not is_kept_finished(path):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def count_frames(path: Path) -> int:
    """Video packets in a finished output (one per frame for the encoders vsr writes)."""
    from vsr.video.media_url import open_source
    from vsr.video.reader import main_video_stream

    with open_source(path) as container:
        video = main_video_stream(container)  # not the cover picture
        return sum(1 for packet in container.demux(video) if packet.size)


def _crash_when_writing_starts(target: Path) -> None:
    """Exit the whole worker process as soon as the temp output exists (test hook)."""
    from vsr.video.writer import temp_path_for

    marker = target.parent / f".vsr-test-crashed-{target.name}"
    if marker.exists():
        return
    marker.write_text("armed")
    temp = temp_path_for(target)

    def watch() -> None:
        deadline = time.monotonic() + 60
        while not temp.exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)
        marker.write_text("crashed")
        os._exit(1)  # like a killed worker: no cleanup, no exception, the temp stays

    threading.Thread(target=watch, daemon=True).start()


def where_am_i() -> dict[str, Any]:
    """Node and GPU of the current Ray worker, for the report."""
    import ray

    if not ray.is_initialized():
        # Called outside Ray (a task function run in-process): asking Ray would start a
        # local instance of it, left running.
        return {"node": socket.gethostname(), "node_ip": None, "gpu": None}
    gpus = ray.get_gpu_ids()
    return {
        "node": socket.gethostname(),
        "node_ip": ray.util.get_node_ip_address(),
        "gpu": str(gpus[0]) if gpus else None,
    }


def run_clip(
    source: str,
    target: str,
    weights: ShippedWeights | str | None,
    engine_options: dict[str, Any],
    *,
    overwrite: bool,
    submitted_at: float,
    threads: int,
    crash_once: str | None = None,
    tally: Any = None,  # a Ray actor handle (FrameTally)
    command_line: bool = False,
) -> dict[str, Any]:
    """Upscale one clip on this worker. Returns a plain dict (status, report, where).

    A VsrError or any other exception raised by the clip itself comes back as
    status "failed" (reported once, never retried); only a dying worker makes Ray retry.
    `tally` (a FrameTally actor) hears how many frames are encoded as the clip goes.
    `command_line`: the driver runs for vsr's command line, so the clip's messages name
    its flags (vsr.errors.option), not the API's keywords.
    """
    import torch

    from vsr.runner import upscale_video

    torch.set_num_threads(threads)
    source_path, target_path = Path(source), Path(target)
    outcome: dict[str, Any] = {"input": source, "output": target, **where_am_i()}
    remove_stale_temps(target_path)
    if target_path.exists() and (not overwrite or target_path.stat().st_mtime >= submitted_at):
        # An earlier attempt renamed the output into place and died before reporting:
        # the clip is done, and redoing it would write it twice.
        outcome.update(status="done", frames=count_frames(target_path), report=None)
        outcome["note"] = "finished by an earlier attempt"
        return outcome
    if crash_once is not None and crash_once == source_path.name:
        _crash_when_writing_starts(target_path)
    on_frames = None
    if tally is not None:
        on_frames = FrameReporter(lambda clip, n: tally.report.remote(clip, n), source)
        on_frames(0)  # a retried clip starts again from zero
    try:
        if linked_by_another_user(source_path):  # swapped in since the driver's listing
            raise VsrError(REFUSAL)
        with speaking_to_the_command_line(command_line):
            report = upscale_video(
                source_path,
                target_path,
                weights=engine_weights(weights),
                progress=False,
                on_frames=on_frames,
                overwrite=overwrite,
                **engine_options,
            )
    except Exception as error:  # the clip's own failure: report it, do not retry
        outcome.update(status="failed", error=describe_error(error))
    else:
        outcome.update(status="done", frames=report.frames, report=report.to_dict())
    if on_frames is not None:
        on_frames.flush()
    return outcome
