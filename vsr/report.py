"""The throughput report of a run (`--report PATH`): one JSON object per clip, and a folder
summary. Fields that cannot be measured on this machine are null, never guessed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from vsr.atomic_file import atomic_output
from vsr.counted import counted


@dataclass
class RunReport:
    """What one clip's run did and how fast."""

    input: str
    output: str
    frames: int
    lost_frames: int
    wall_seconds: float
    fps: float
    stages: dict[str, dict[str, float]]
    model_share_of_wall: float
    startup_s: float  # from the start of the run to the first network call
    drain_s: float  # from the end of the last network call to the finished file
    device: str
    device_name: str | None
    precision: str
    batch: int
    scale: float
    network: str
    network_scale: int
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    tile_plan: dict[str, Any] | None
    codec: str
    pix_fmt: str
    # The process's peak resident set while this clip ran (all of the process: the network,
    # and a clip finished meanwhile); where Linux's peak cannot be reset, its peak so far.
    peak_host_memory_bytes: int
    gpu_peak_allocated_bytes: int | None = None
    gpu_summary: dict[str, float] | None = None
    gpu_samples: list[dict[str, float]] | None = None
    # Frames finished over the run: {"t_s", "frames"} cumulative, from its start (the
    # report's frames-per-second-over-time plot).
    progress_samples: list[dict[str, float]] | None = None
    # channels_last, compile, cuda_graphs, encoders
    fast_path: dict[str, Any] = field(default_factory=dict)
    warmup_s: float = 0.0  # compilation and graph capture, counted inside wall_seconds
    # The share of the run after start-up and warm-up that the encoders were busy (the mean
    # over several): near 1, they set the pace; null for a run too short to tell.
    encoder_busy_share: float | None = None
    # A part of the clip (--start/--end): the range asked for, and where its first frame
    # was in the source (the output's zero); null for the whole clip.
    cut: dict[str, Any] | None = None
    # --resume: frames of `frames` an interrupted earlier run had finished (taken from its
    # journal, not upscaled again; `fps` counts the others only).
    resumed_frames: int = 0
    # Frames deinterlaced before upscaling (bwdif, vsr.video.deinterlace); of this run's own.
    deinterlaced_frames: int = 0
    # Whether every source frame gave two output frames, one per field (--field-rate):
    # `frames` and `fps` count the output's.
    field_rate: bool = False
    # How colour was read from the source and written to the output (vsr.runner's
    # colour_of_run): matrix, range, primaries, transfer and chroma siting of each.
    colour: dict[str, dict[str, Any]] | None = None
    # The weights the network was loaded from (vsr.weights_origin): a bundled file's
    # manifest name or another's absolute path, and its sha256, as vsr eval --json records
    # them; "network passed in" and null for a module given as is. Both null in a report
    # written before they were recorded.
    weights: str | None = None
    weights_sha256: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def steady_seconds(wall: float, startup: float, warmup: float, frames: int, batch: int) -> float:
    """A run's time after its start-up and warm-up, which a long clip's approaches: what the
    steady fps and the encoders' busy share are taken over. 0 where every frame ran in the
    call that built the network: no steady part to tell apart, the warm-up holding those
    frames' work too (vsr.upscale counts a shape's first call whole until its second)."""
    if warmup and frames <= batch:
        return 0.0
    return wall - startup - warmup


def kept_from_an_interrupted_run(resumed_frames: object) -> str:
    """ " (24 of them kept from an interrupted run)" after a clip's frame count, in its line
    and its row alike: its fps counts only the frames made now, which the count alone
    does not explain. Empty for none (or a field of another type in a hand-edited report)."""
    if not isinstance(resumed_frames, int) or isinstance(resumed_frames, bool):
        return ""
    return f" ({resumed_frames} of them kept from an interrupted run)" if resumed_frames else ""


def kept_and_made(frames: object, resumed_frames: object) -> str:
    """ "24 of them kept from interrupted runs; 19 made" of a folder run's frames, in its last
    line and its row on the page alike: its fps is of the frames made now, which the total
    alone does not explain. Empty for none."""
    if not (_is_count(frames) and _is_count(resumed_frames)) or not resumed_frames:
        return ""
    return f"{resumed_frames} of them kept from interrupted runs; {frames - resumed_frames} made"


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def frames_made(
    frames: int, lost: int, resumed: object, wall_seconds: float, fps: float | None
) -> str:
    """ "120 frames, 3 lost (damaged source) (24 of them kept from an interrupted run) in
    157.2 s (0.61 fps)": what one output got, in a folder run's line for a clip and a
    segment run's for its joined output alike; no fps where none was measured (None: no
    frame was made now)."""
    speed = f" ({fps:.2f} fps)" if fps is not None else ""
    return (
        f"{counted(frames, 'frame')}{lost_to_damage(lost)}{kept_from_an_interrupted_run(resumed)} in "
        f"{wall_seconds:.1f} s{speed}"
    )


def lost_to_damage(lost_frames: int | None) -> str:
    """ ", 3 lost (damaged source)" after a clip's frame count: frames the reader could not
    decode make the output shorter than the clip. Empty for none."""
    return f", {lost_frames} lost (damaged source)" if lost_frames else ""


# Samples of each time series a folder's report keeps per clip. A watch runs for months and
# keeps every clip's report for its summary: at a clip's own 512 samples, that was 121 KiB
# a clip (1.2 GB over 10,000 clips); the folder's plots draw a line per clip only for a few.
FOLDER_SERIES = 32


def thinned(series: list[dict[str, float]] | None, limit: int) -> list[dict[str, float]] | None:
    """At most `limit` evenly spaced samples of `series`, its first and last kept."""
    if series is None or len(series) <= limit:
        return series
    step = (len(series) - 1) / (limit - 1)
    return [series[round(i * step)] for i in range(limit)]


@dataclass
class FolderReport:
    """The outcome of every clip of a folder run, with totals."""

    clips: list[dict[str, Any]] = field(default_factory=list)
    # Start to end of the whole folder run, where its caller measured it. Folder mode
    # finishes one clip while the next one starts, so the clips' own times overlap and
    # their sum overstates the run.
    elapsed_seconds: float | None = None
    # A watch's time spent on its clips, where it measured it: its elapsed time is mostly
    # idle looks at the folder, and frames over it read as a slow rate (12 frames "in
    # 4.2 s" where the clip took 0.2 s). The fps is of this time when it is set.
    work_seconds: float | None = None

    def add(
        self, path: Path, status: str, report: RunReport | None = None, error: str = ""
    ) -> None:
        entry: dict[str, Any] = {"input": str(path), "status": status}
        if error:
            entry["error"] = error
        if report is not None:
            entry["report"] = report.to_dict()
            for series in ("progress_samples", "gpu_samples"):
                entry["report"][series] = thinned(entry["report"][series], FOLDER_SERIES)
        self.clips.append(entry)

    def forget(self, path: Path) -> None:
        """Drop what an earlier attempt at `path` recorded (a watch retries a failed clip
        once it changes: its last attempt is its outcome)."""
        self.clips = [clip for clip in self.clips if clip["input"] != str(path)]

    def count(self, status: str) -> int:
        return sum(1 for clip in self.clips if clip["status"] == status)

    def to_dict(self) -> dict[str, Any]:
        done = [c["report"] for c in self.clips if c["status"] == "done"]
        frames = sum(r["frames"] for r in done)
        # Frames kept from interrupted runs (--resume) are in the outputs, not this run's work.
        resumed = sum(r.get("resumed_frames") or 0 for r in done)
        made = frames - resumed
        # Done, but shorter than the source: frames the reader could not decode.
        damaged = [r for r in done if r.get("lost_frames")]
        clip_seconds = sum(r["wall_seconds"] for r in done)
        seconds = clip_seconds if self.elapsed_seconds is None else self.elapsed_seconds
        working = seconds if self.work_seconds is None else self.work_seconds
        return {
            "summary": {
                "clips": len(self.clips),
                "done": self.count("done"),
                "skipped": self.count("skipped"),
                "failed": self.count("failed"),
                # Ctrl-C: the clip it stopped, and those it kept from starting.
                "interrupted": self.count("interrupted"),
                "not_started": self.count("not started"),
                "damaged": len(damaged),
                "frames": frames,
                "resumed_frames": resumed,
                "lost_frames": sum(r["lost_frames"] for r in damaged),
                "wall_seconds": round(seconds, 3),
                "clip_seconds": round(clip_seconds, 3),  # the clips' own times, summed
                # A watch's time on its clips (None for a folder run, all work).
                "work_seconds": None if self.work_seconds is None else round(working, 3),
                # None when no frame was made (all skipped, or nothing to do): "0 fps" would
                # read as a run that made no progress.
                "fps": round(made / working, 3) if made and working > 0 else None,
            },
            "clips": self.clips,
        }


def write_json(data: dict[str, Any], path: str | Path) -> None:
    """Write `data` as JSON to `path` atomically (a temp file beside it, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, "w") as stream:
        json.dump(data, stream, indent=2)
        stream.write("\n")
