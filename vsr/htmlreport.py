"""One self-contained HTML page from the JSON that `vsr run`, `vsr bench`, `vsr eval` and
`vsr profile` write: plots as embedded PNG, tables, nothing fetched from elsewhere.

Inputs are recognised by their shape: ``{"results": [...]}`` from eval, ``{"profiles":
[...]}`` from profile, ``{"clips": [...]}`` from a folder run, a bare run report (it has
``fps`` and ``frames``) from a single clip, and from `vsr bench --json` ``{"rows": [...]}``
(naive loop against the engine), ``{"timings": [...]}`` (--model-only) or ``{"points":
[...]}`` (--pressure). Fields may be missing or null (every
GPU field is null on the CPU); the page then says "n/a" and draws no plot for them rather
than showing an empty or made-up one. Every string from the files is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsr.atomic_file import atomic_output, check_can_write
from vsr.distinguishing_names import distinguishing_names
from vsr.errors import VsrError
from vsr.eval_notes import in_patches_note, part_of_a_benchmark_note
from vsr.page_marker import GENERATOR_TAG
from vsr.paper import is_part_of_a_benchmark, paper_scores
from vsr.plots import PLOTS_NEED, PlotsUnavailable, figure_png, new_figure, plot_label, png_data_uri
from vsr.printable import undecodable_replaced
from vsr.profile_sizes import width_first
from vsr.report import kept_and_made, kept_from_an_interrupted_run
from vsr.report_kind import report_kind

NO_GPU = "n/a (no GPU)"


@dataclass
class ReportInputs:
    """Everything read from the JSON files, sorted by kind."""

    clips: list[dict[str, Any]] = field(default_factory=list)  # {"input", "status", "report"}
    evals: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    benches: list[dict[str, Any]] = field(default_factory=list)  # vsr bench: whole files
    model_benches: list[dict[str, Any]] = field(default_factory=list)  # --model-only
    pressures: list[dict[str, Any]] = field(default_factory=list)  # --pressure
    sources: list[str] = field(default_factory=list)
    # The totals of folder and Ray runs ({"summary"}), with the file each came from.
    runs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def read_inputs(paths: list[str | Path]) -> ReportInputs:
    """Read and classify report files; a file vsr did not write is a one-line VsrError."""
    inputs = ReportInputs()
    # A clip's or run's row names its file, told apart from the others' (A/run.json,
    # B/run.json) where several share a name.
    names = distinguishing_names(paths)
    for path, name in zip(map(Path, paths), names, strict=True):
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise VsrError(f"report not found: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise VsrError(f"{path}: not a JSON report ({error})") from None
        except RecursionError:  # 100,000 nested "[": no report of vsr's is nested so deep
            raise VsrError(f"{path}: not a vsr report (nested too deeply)") from None
        if not isinstance(data, dict):
            raise VsrError(f"{path}: not a vsr report (expected a JSON object)")
        inputs.sources.append(str(path))
        kind = report_kind(data)
        if kind == "eval":
            # The network's precision and device are the file's, said once beside its
            # results: each result carries them, or fp32 and bf16 runs read alike.
            run = {key: data.get(key) for key in ("precision", "device")}
            inputs.evals.extend({**run, **r} for r in data["results"] if isinstance(r, dict))
        elif kind == "profile":
            inputs.profiles.extend(p for p in data["profiles"] if isinstance(p, dict))
        elif kind == "folder":
            # Each clip remembers its run, for pages that hold several.
            clips = [{**c, "source": name} for c in data["clips"] if isinstance(c, dict)]
            inputs.clips.extend(clips)
            if isinstance(data.get("summary"), dict):
                inputs.runs.append((name, data["summary"]))
        elif kind == "clip":
            clip = {"input": data.get("input"), "status": "done", "report": data}
            inputs.clips.append({**clip, "source": name})
        elif kind == "bench":
            inputs.benches.append(data)
        elif kind == "model_bench":
            inputs.model_benches.append(data)
        elif kind == "pressure":
            inputs.pressures.append(data)
        else:
            raise VsrError(f"{path}: not a vsr run, bench, eval or profile report")
    return inputs


# ---- small formatting helpers -------------------------------------------------------------


def _text(value: Any) -> str:
    """A cell's text, escaped; None becomes "n/a"."""
    return "n/a" if value is None else html.escape(str(value))


def _network(report: dict[str, Any]) -> str:
    """A clip's network cell: the architecture, and the weights it ran (a file by its name,
    its whole path and sha256 in the cell's title), where the report records them."""
    weights = report.get("weights")
    if not isinstance(weights, str):  # a report from before the weights were recorded
        return _text(report.get("network"))
    shown = html.escape(f"{report.get('network')} ({Path(weights).name})")
    sha256 = report.get("weights_sha256")
    if not isinstance(sha256, str):  # a network passed in: no file
        return shown
    title = html.escape(f"{weights} sha256 {sha256}", quote=True)
    return f'<span title="{title}">{shown}</span>'


def _float(value: Any) -> float | None:
    """A number from a report field, None for anything else (a field of another type in a
    hand-edited or foreign file must not end the page in a traceback)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _scaled(value: Any, unit: float) -> str:
    number = _float(value)
    return "n/a" if number is None else _number(number / unit, 2)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _text(value)
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _percent(share: Any) -> str:
    """A share (0..1) as a percentage; n/a where the report has none (older reports)."""
    return _number(100 * share, 1) if isinstance(share, int | float) else "n/a"


def _bytes(value: Any, missing: str = "n/a") -> str:
    if not isinstance(value, int | float):
        return missing
    return f"{value / 2**20:,.1f} MiB"


def _size(value: Any) -> str:
    if isinstance(value, list | tuple) and len(value) == 2:
        return f"{_text(value[0])}x{_text(value[1])}"
    return _text(value)


def _table(headers: list[str], rows: list[list[str]], css_class: str) -> str:
    """An HTML table; header names are escaped here, cells must already be escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _image(png: bytes, alt: str) -> str:
    return f'<img class="plot" alt="{html.escape(alt)}" src="{png_data_uri(png)}">'


def _clip_name(clip: dict[str, Any], index: int) -> str:
    return Path(str(clip.get("input") or f"clip {index + 1}")).name


def _several_runs(inputs: ReportInputs) -> bool:
    """Whether the clips come from more than one report, each row then naming its own."""
    return len({clip.get("source") for clip in inputs.clips}) > 1


def _done(inputs: ReportInputs) -> list[tuple[str, dict[str, Any]]]:
    """The finished clips: (name as a plot label, report). From several reports, the label
    names the report too: two runs of one clip drew two lines of the same name."""
    several_runs, done = _several_runs(inputs), []
    for index, clip in enumerate(inputs.clips):
        if clip.get("status") == "done" and isinstance(clip.get("report"), dict):
            name = _clip_name(clip, index)
            label = f"{clip.get('source')}: {name}" if several_runs else name
            done.append((plot_label(label), clip["report"]))
    return done


# Beyond this many finished clips, the per-clip plots give way to summaries that stay
# readable (a folder of a thousand clips made a 250,000-pixel-tall stage plot).
PER_CLIP_PLOTS = 20


def _work_seconds(summary: dict[str, Any]) -> Any:
    """The time a run's fps is over: a watch's work, its wall time being mostly waits for
    clips (4 frames, 0.7 s of work, 3.2 s watching, 5.70 fps). A folder or Ray run has no
    work_seconds, being all work, nor has a watch's report from before it, whose fps was
    over its wall time."""
    work = summary.get("work_seconds")
    return summary.get("wall_seconds") if work is None else work


def runs_table(inputs: ReportInputs) -> str:
    """The totals of each folder or Ray run: its wall time, the time its frames took and
    aggregate throughput, which no single clip's row shows."""
    rows = [
        [
            html.escape(source),
            _number(summary.get("clips")),
            _number(summary.get("done")),
            _number(summary.get("skipped")),
            _number(summary.get("failed")),
            _stopped(summary),
            _damaged(summary),
            _number(summary.get("frames")) + _kept(summary) + _joined_output(summary),
            _number(summary.get("wall_seconds")),
            _number(_work_seconds(summary)),
            _number(summary.get("fps")),
            _number(summary.get("workers")),
        ]
        for source, summary in inputs.runs
    ]
    headers = [
        "run", "clips", "done", "skipped", "failed", "stopped", "damaged", "frames", "wall s",
        "work s", "fps", "workers",
    ]  # fmt: skip
    return _table(headers, rows, "runs")


def _stopped(summary: dict[str, Any]) -> str:
    """The clips Ctrl-C left unfinished: the one it stopped and those never begun (none in
    reports from before vsr counted them, nor in a Ray run's)."""
    counts = [summary.get(key) for key in ("interrupted", "not_started")]
    if not any(isinstance(n, int) and not isinstance(n, bool) for n in counts):
        return "n/a"
    interrupted, not_started = (n if isinstance(n, int) else 0 for n in counts)
    return (
        f"{interrupted:,} interrupted, {not_started:,} not started"
        if interrupted or not_started
        else "0"
    )


def _kept(summary: dict[str, Any]) -> str:
    """After a --resume folder run's frame count, as its last line says it: how many were
    kept from interrupted runs and how many made now, which its fps is of (43 frames in
    26.76 s read as 0.71 fps with no word of the 24 kept)."""
    kept = kept_and_made(summary.get("frames"), summary.get("resumed_frames"))
    return f" ({kept})" if kept else ""


def _damaged(summary: dict[str, Any]) -> str:
    """The clips whose source was damaged, and the frames it lost them. A Ray run's summary
    counts the frames alone (its column read n/a)."""
    damaged, lost = summary.get("damaged"), summary.get("lost_frames")
    lost_words = f"{_number(lost)} frames lost" if isinstance(lost, int) and lost else ""
    if isinstance(damaged, int) and not isinstance(damaged, bool):
        return _number(damaged) + (f" ({lost_words})" if damaged and lost_words else "")
    if isinstance(lost, int) and not isinstance(lost, bool):
        return lost_words or "0"
    return "n/a"


def _joined_output(summary: dict[str, Any]) -> str:
    """After a segment run's frame count, which counts this run's work: where segments were
    kept from an interrupted run, how many, and the output's whole count."""
    kept, whole = summary.get("kept_frames"), summary.get("output_frames")
    if not isinstance(kept, int) or not kept or not isinstance(whole, int):
        return ""
    return f" ({_number(kept)} more kept from an interrupted run: {_number(whole)} in the output)"


# ---- sections -----------------------------------------------------------------------------


def clips_table(inputs: ReportInputs) -> str:
    several_runs = _several_runs(inputs)
    on_cluster = any(clip.get("node") is not None for clip in inputs.clips)
    rows = []
    for index, clip in enumerate(inputs.clips):
        report = _dict(clip.get("report"))
        gpu = _dict(report.get("gpu_summary"))
        on_gpu = report.get("device_name") is not None or bool(gpu)
        row = [_text(clip.get("source"))] if several_runs else []
        row += [_text(clip.get("node")), _text(clip.get("gpu"))] if on_cluster else []
        rows.append(
            row
            + [
                html.escape(_clip_name(clip, index)),
                _text(clip.get("status")),
                # fps counts only the frames made in this run: say why it seems low.
                # A segment kept from an interrupted run has no report, only its count.
                _number(report.get("frames", clip.get("frames")))
                + kept_from_an_interrupted_run(report.get("resumed_frames")),
                _number(report.get("fps")),
                _number(report.get("wall_seconds")),
                _text(report.get("device_name") or report.get("device")),
                _text(report.get("precision")),
                _text(report.get("batch")),
                _network(report),
                f"{_size(report.get('input_size'))} &rarr; {_size(report.get('output_size'))}",
                _text(report.get("codec")),
                _number(gpu.get("gpu_util_mean_percent"), 1) if gpu else NO_GPU,
                _percent(report.get("encoder_busy_share")),
                _bytes(report.get("gpu_peak_allocated_bytes"), NO_GPU if not on_gpu else "n/a"),
                _bytes(report.get("peak_host_memory_bytes")),
                _text("; ".join(map(str, report.get("notes") or [])) or clip.get("error") or ""),
            ]
        )
    headers = ["run"] if several_runs else []
    headers += ["node", "GPU"] if on_cluster else []
    headers += [
        "clip", "status", "frames", "fps", "wall s", "device", "precision", "batch", "network",
        "size", "codec", "GPU util mean %", "encoders busy %", "GPU peak alloc", "host peak RSS",
        "notes",
    ]  # fmt: skip
    return _table(headers, rows, "clips")


def fps_series(samples: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """(times, fps) between consecutive cumulative {"t_s", "frames"} samples, each rate
    placed at the middle of its interval."""
    points = [
        (float(s["t_s"]), float(s["frames"]))
        for s in samples
        if isinstance(s, dict) and _float(s.get("t_s")) is not None
        and _float(s.get("frames")) is not None
    ]  # fmt: skip
    pairs = [(a, b) for a, b in zip(points, points[1:], strict=False) if b[0] > a[0]]
    times = [(a[0] + b[0]) / 2 for a, b in pairs]
    return times, [(b[1] - a[1]) / (b[0] - a[0]) for a, b in pairs]


def fps_plot(inputs: ReportInputs) -> bytes | None:
    """Frames per second over the run: each clip's progress samples where the report has
    them ({"t_s", "frames"}, cumulative), otherwise each clip's mean fps in run order."""
    done = _done(inputs)
    if not done:
        return None
    figure = new_figure()
    axes = figure.subplots()
    if len(done) > PER_CLIP_PLOTS:  # too many bars or lines to read: how fps spread
        rates = [rate for _, r in done if (rate := _float(r.get("fps"))) is not None]
        axes.hist(rates, bins=min(30, max(5, len(rates) // 10)))
        axes.set_xlabel("frames per second")
        axes.set_ylabel("clips")
        axes.set_title(f"Throughput of {len(done)} clips")
        axes.grid(alpha=0.3)
        return figure_png(figure)
    series = [(name, _sampled_fps(r)) for name, r in done]
    if any(times for _, (times, _) in series):
        _fps_lines(axes, series, [r for _, r in done])
    else:
        names = [name for name, _ in done]
        axes.bar(range(len(done)), [_float(r.get("fps")) or 0.0 for _, r in done], width=0.5)
        axes.set_xlim(-0.75, max(len(done), 3) - 0.25)  # a lone clip gets a narrow bar
        axes.set_xticks(range(len(done)), names, rotation=30, ha="right", fontsize="small")
        axes.set_xlabel("clip (in run order)")
        axes.set_title("Throughput")
    axes.set_ylabel("frames per second")
    axes.grid(alpha=0.3)
    return figure_png(figure)


def _sampled_fps(report: dict[str, Any]) -> tuple[list[float], list[float]]:
    """(times, fps) from a clip's progress samples; empty where the report has none."""
    samples = report.get("progress_samples")
    return fps_series(samples) if isinstance(samples, list) else ([], [])


def _fps_lines(
    axes: Any,
    series: list[tuple[str, tuple[list[float], list[float]]]],
    reports: list[dict[str, Any]],
) -> None:
    """A line per clip over time; a clip whose report has no samples (one from before vsr
    kept them, beside newer ones) a dashed line at its mean fps over its wall time, where
    it vanished from the plot with no word. One without even a mean is named in the title."""
    no_fps = []
    for (name, (times, rates)), report in zip(series, reports, strict=True):
        if times:
            axes.plot(times, rates, marker=".", label=name)
            continue
        mean, wall = _float(report.get("fps")), _float(report.get("wall_seconds"))
        if mean is None:
            no_fps.append(name)
        elif wall is not None and wall > 0:
            axes.plot([0.0, wall], [mean, mean], linestyle="--", label=f"{name} (mean: no samples)")
        else:
            axes.axhline(mean, linestyle="--", label=f"{name} (mean: no samples)")
    axes.set_xlabel("time (s)")
    axes.legend(fontsize="small")
    axes.set_title("Throughput" + (f" (no fps for {', '.join(no_fps)})" if no_fps else ""))


def gpu_plot(inputs: ReportInputs) -> bytes | None:
    """GPU utilisation and memory over time from the NVML samples; None without samples."""
    sampled = [
        (n, [s for s in r["gpu_samples"] if isinstance(s, dict)])
        for n, r in _done(inputs)[:PER_CLIP_PLOTS]  # a legend beyond that is unreadable
        if isinstance(r.get("gpu_samples"), list)
    ]
    sampled = [(n, samples) for n, samples in sampled if samples]
    if not sampled:
        return None
    figure = new_figure(7.0, 5.0)
    util_axes, memory_axes = figure.subplots(2, 1, sharex=True)
    for name, samples in sampled:
        times = [_float(s.get("t_s")) for s in samples]
        util_axes.plot(times, [_float(s.get("gpu_util_percent")) for s in samples], label=name)
        # A reading NVML refused is a gap in the line (None), not 0 GiB.
        used = [_float(s.get("memory_used_bytes")) for s in samples]
        memory_axes.plot(times, [None if u is None else u / 2**30 for u in used], label=name)
    util_axes.set_ylabel("GPU utilisation (%)")
    util_axes.set_ylim(0, 105)
    util_axes.set_title("GPU over time (NVML)")
    memory_axes.set_ylabel("memory used (GiB)")
    memory_axes.set_xlabel("time since the clip started (s)")
    for axes in (util_axes, memory_axes):
        axes.grid(alpha=0.3)
    util_axes.legend(fontsize="small")
    return figure_png(figure)


def stage_plot(inputs: ReportInputs) -> bytes | None:
    """Busy and waiting seconds of each pipeline stage, one group of bars per clip (beyond
    PER_CLIP_PLOTS clips, one group: their sums)."""
    # An empty "stages" (a hand-edited report) has no bars to draw, nor a colour to take.
    done = [
        (n, r["stages"])
        for n, r in _done(inputs)
        if r.get("stages") and isinstance(r["stages"], dict)
    ]
    if not done:
        return None
    stages = list(dict.fromkeys(stage for _, s in done for stage in s))
    if len(done) > PER_CLIP_PLOTS:
        summed = {
            stage: {
                key: sum(_float(_dict(s.get(stage)).get(key)) or 0.0 for _, s in done)
                for key in ("busy_s", "wait_s")
            }
            for stage in stages
        }
        done = [(f"all {len(done)} clips", summed)]
    figure = new_figure(7.0, 1.2 + 0.5 * len(stages) * len(done))
    axes = figure.subplots()
    height = 0.8 / len(done)
    for index, (name, by_stage) in enumerate(done):
        rows = [i + index * height for i in range(len(stages))]
        busy = [_float(_dict(by_stage.get(s)).get("busy_s")) or 0.0 for s in stages]
        wait = [_float(_dict(by_stage.get(s)).get("wait_s")) or 0.0 for s in stages]
        bars = axes.barh(rows, busy, height=height, label=f"{name}: busy")
        axes.barh(rows, wait, height=height, left=busy, alpha=0.35, color=bars.patches[0].get_facecolor(), label=f"{name}: waiting")  # fmt: skip
    axes.set_yticks(
        [i + 0.4 - height / 2 for i in range(len(stages))], [plot_label(s) for s in stages]
    )
    axes.invert_yaxis()
    axes.set_xlabel("seconds")
    axes.set_title("Pipeline stages: busy (solid) and waiting on a queue (light)")
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3, axis="x")
    return figure_png(figure)


def eval_table(inputs: ReportInputs) -> str:
    rows = []
    for result in inputs.evals:
        dataset, scale = str(result.get("dataset")), result.get("scale")
        images = result.get("images")
        partial = is_part_of_a_benchmark(dataset, images)
        paper = paper_scores(dataset, scale) if isinstance(scale, int) and not partial else None
        psnr, ssim = result.get("psnr"), result.get("ssim")
        difference = "n/a"
        if paper and isinstance(psnr, int | float):
            # "+0.00" rather than "-0.00" when the figures agree to the paper's precision.
            difference = f"{round(psnr - paper[0], 2) + 0.0:+.2f}"
        rows.append(
            [
                _text(dataset),
                f"x{scale}" if isinstance(scale, int) else _text(scale),
                _text(result.get("model")),
                _text(result.get("precision")),
                _text(result.get("device")),
                _text(images),
                _text(result.get("inputs")),
                # JSON has no infinity: vsr eval writes null and names the exact images.
                "inf" if psnr is None and result.get("identical_images") else _number(psnr, 4),
                _number(ssim, 4),
                f"{paper[0]:.2f}" if paper else "n/a",
                f"{paper[1]:.4f}" if paper else "n/a",
                difference,
                _text("; ".join(_eval_notes(result, dataset, partial))),
            ]
        )
    headers = [
        "dataset", "scale", "model", "precision", "device", "images", "inputs", "PSNR (dB)",
        "SSIM", "paper IMDN PSNR", "paper IMDN SSIM", "PSNR - paper", "notes",
    ]  # fmt: skip
    return _table(headers, rows, "eval")


def _eval_notes(result: dict[str, Any], dataset: str, partial: bool) -> list[str]:
    notes = [part_of_a_benchmark_note(dataset, result["images"])] if partial else []
    patches = result.get("in_patches")
    if isinstance(patches, list) and patches:
        notes.append(in_patches_note([str(name) for name in patches]))
    return notes


def profile_table(inputs: ReportInputs) -> str:
    rows = []
    for p in inputs.profiles:
        rows.append(
            [
                _text(p.get("name")),
                _size(width_first(p, "input_size")),
                _number(p.get("parameters")),
                _scaled(p.get("macs"), 1e9),
                _scaled(p.get("activations"), 1e6),
                _text(p.get("convolutions")),
                _text(p.get("depth")),
                _bytes(p.get("peak_memory_bytes")),
                _number(p.get("time_ms"), 1),
                _text(p.get("device")),
            ]
        )
    headers = [
        "network", "input", "parameters", "multiply-adds (G)", "activations (M)",
        "convolutions", "depth", "peak memory", "time (ms)", "device",
    ]  # fmt: skip
    return _table(headers, rows, "profile")


def _command(data: dict[str, Any]) -> str:
    """The command that measured a bench file, when the file records it."""
    command = data.get("command")
    return f"<p>measured by <code>{_text(command)}</code></p>" if command else ""


def _rows(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [row for row in data.get(key) or [] if isinstance(row, dict)]


def bench_section(bench: dict[str, Any]) -> str:
    """One `vsr bench` table: what was measured, then a row per way of upscaling."""
    width_height = f"{_size(bench.get('input_size'))} &rarr; {_size(bench.get('output_size'))}"
    encoder = _text(bench.get("codec")) + "".join(
        f" {key} {_text(bench.get(key))}" for key in ("preset", "crf") if bench.get(key) is not None
    )
    encoder += f" {_text(bench.get('pix_fmt'))}" if bench.get("pix_fmt") else ""
    options = bench.get("encoder_options") if isinstance(bench.get("encoder_options"), dict) else {}
    encoder += "".join(f" {_text(k)}={_text(v)}" for k, v in options.items())
    where = bench.get("device_name") or (
        f"{bench.get('device')}, {bench.get('torch_threads')} threads"
    )  # escaped once, below
    rounds = bench.get("rounds")
    described = (
        f"{_text(bench.get('frames'))} frames {width_height}, source "
        f"{_text(bench.get('source'))}, encoder {encoder}, on {_text(where)}"
        + (
            f", best of {_text(rounds)} rounds per row"
            if isinstance(rounds, int) and rounds > 1
            else ""
        )
    )
    rows = []
    for row in _rows(bench, "rows"):
        memory = row.get("gpu_memory_used_max_bytes")
        rows.append(
            [
                _text(row.get("name")),
                _number(row.get("fps")),
                f"{_number(row.get('ratio_to_naive'))}x",
                _number(row.get("steady_fps")),
                _number(row.get("wall_seconds")),
                _text(row.get("precision")),
                _text(row.get("batch")),
                _number(row.get("gpu_util_mean_percent"), 0),
                _percent(row.get("encoder_busy_share")),
                _bytes(memory, NO_GPU if not bench.get("device_name") else "n/a"),
                _psnr_vs_naive(row),
            ]
        )
    headers = [
        "", "fps", "ratio to naive", "steady fps", "wall s", "precision", "batch",
        "GPU util mean %", "encoders busy %", "GPU memory used", "PSNR vs naive (dB)",
    ]  # fmt: skip
    return (
        f"<h3>{_text(bench.get('title') or 'vsr bench')}</h3><p>{described}</p>"
        + _command(bench)
        + _table(headers, rows, "bench")
        + _notes(bench.get("notes") or [])
    )


def _notes(notes: list[Any]) -> str:
    """A list of notes under a table, escaped; nothing without notes."""
    items = "".join(f"<li>{_text(note)}</li>" for note in notes)
    return f"<ul>{items}</ul>" if items else ""


def _psnr_vs_naive(row: dict[str, Any]) -> str:
    if row.get("name") == "naive loop":
        return "-"
    if row.get("identical_to_naive"):
        return "identical"
    return _number(row.get("psnr_vs_naive_db"))


def model_bench_section(bench: dict[str, Any]) -> str:
    """One `vsr bench --model-only` table: the network alone, per size and precision."""
    from vsr.bench_model import model_timing_notes  # the torch side of vsr: only when needed

    rows = []
    for t in _rows(bench, "timings"):
        switches = [
            name
            for name, key in (("channels_last", "channels_last"), ("compiled", "compiled"),
                              ("CUDA graphs", "cuda_graphs"))
            if t.get(key)
        ]  # fmt: skip
        if t.get("jit"):  # torch.compile in the process, not a kept package
            switches = [s + " (jit)" if s == "compiled" else s for s in switches]
        if t.get("graphs_ignored"):  # asked for on the CPU: the notes below say so
            switches = [s + " (ignored)" if s == "CUDA graphs" else s for s in switches]
        if t.get("folded") is False:
            switches.append("unfolded")
        if t.get("emulated"):  # the notes below say how much slower
            switches.append("emulated")
        rows.append(
            [
                _text(t.get("size")),
                f"{_text(t.get('width'))}x{_text(t.get('height'))}",
                _text(" ".join([str(t.get("precision")), *switches])),
                _text(t.get("batch")),
                _text(t.get("error")) if t.get("error") else _number(t.get("ms_per_frame")),
                _number(t.get("fps")),
                _bytes(t.get("peak_memory_bytes")),
                _number(t.get("compile_seconds"), 1),
                _text(t.get("timing")),
            ]
        )
    headers = [
        "size", "input", "network", "batch", "ms per frame", "fps", "peak memory",
        "warm-up s", "timing",
    ]  # fmt: skip
    title = f"The network alone: {_text(bench.get('model'))} ({_text(bench.get('weights'))})"
    return (
        f"<h3>{title}</h3><p>on {_text(bench.get('device'))}</p>"
        + _command(bench)
        + _table(headers, rows, "model")
        + _notes(model_timing_notes(_rows(bench, "timings")))
    )


def pressure_section(pressure: dict[str, Any]) -> str:
    """One `vsr bench --pressure` table: time and memory against input size."""
    rows = [
        [
            _text(p.get("model")),
            _text(p.get("size")),
            f"{_text(p.get('width'))}x{_text(p.get('height'))}",
            _text(p.get("precision")),
            _number(p.get("time_ms")),
            _bytes(p.get("memory_bytes")),
            _text(p.get("memory_measure")),
            _text(p.get("status")),
        ]
        for p in _rows(pressure, "points")
    ]
    headers = [
        "network", "size", "input", "precision", "time (ms)", "memory", "memory measured as",
        "status",
    ]  # fmt: skip
    return (
        f"<h3>Pressure test</h3><p>on {_text(pressure.get('device'))}</p>"
        + _command(pressure)
        + _table(headers, rows, "pressure")
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 80em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
img.plot { display: block; margin: 1em 0; max-width: 100%; }
p.na { color: #777; font-style: italic; }
"""


# In place of a plot where matplotlib is missing: the tables are the report's substance,
# and refusing the whole page sent a user to install a plotting library to read them.
NO_MATPLOTLIB = f'<p class="na">no plot: {html.escape(PLOTS_NEED)}</p>'


def _drawn(plot: Callable[[], bytes | None], missing: list[str]) -> bytes | str | None:
    """The plot's PNG (None when there is nothing to draw), or NO_MATPLOTLIB's paragraph
    without matplotlib; `missing` is told so, for the command's note."""
    try:
        return plot()
    except PlotsUnavailable:
        missing.append(PLOTS_NEED)
        return NO_MATPLOTLIB


def render(inputs: ReportInputs, title: str = "vsr report", notes: list[str] | None = None) -> str:
    """The whole page as a string. Without matplotlib the page has no plots, and `notes`
    (where given) is told so."""
    from vsr.tradeoff import tradeoff_plot

    missing: list[str] = []
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts.append(
        "<p>From: " + ", ".join(f"<code>{html.escape(s)}</code>" for s in inputs.sources) + "</p>"
    )
    if inputs.clips:
        parts.append("<h2>Throughput</h2>")
        if inputs.runs:
            parts.append(runs_table(inputs))
        parts.append(clips_table(inputs))
        for heading, plot, nothing in (
            ("Frames per second", fps_plot, "no finished clips"),
            ("GPU utilisation and memory", gpu_plot, NO_GPU),
            ("Stage busy times", stage_plot, "no stage times in the reports"),
        ):
            png = _drawn(lambda plot=plot: plot(inputs), missing)
            parts.append(f"<h3>{html.escape(heading)}</h3>")
            if isinstance(png, str):
                parts.append(png)
            else:
                parts.append(_image(png, heading) if png else f'<p class="na">{nothing}</p>')
    if inputs.benches or inputs.model_benches or inputs.pressures:
        parts.append("<h2>vsr bench</h2>")
        parts += [bench_section(b) for b in inputs.benches]
        parts += [model_bench_section(b) for b in inputs.model_benches]
        parts += [pressure_section(p) for p in inputs.pressures]
    if inputs.evals:
        parts.append("<h2>Quality (Y-channel PSNR/SSIM) beside the paper</h2>")
        parts.append(eval_table(inputs))
    if inputs.profiles:
        parts.append("<h2>Cost of the networks</h2>")
        parts.append(profile_table(inputs))
    # The paper's trade-off figure is Set5 x4; the x2-only networks (RTC, RTE) get their own.
    set5_scales = sorted(
        {r.get("scale") for r in inputs.evals if r.get("dataset") == "Set5"} & {2, 3, 4}
    )
    for scale in set5_scales if inputs.profiles else []:
        png = _drawn(
            lambda scale=scale: tradeoff_plot(inputs.evals, inputs.profiles, "Set5", scale),
            missing,
        )
        if png:
            parts.append(f"<h2>Trade-off: PSNR on Set5 x{scale} against size and time</h2>")
            parts.append(png if isinstance(png, str) else _image(png, f"trade-off x{scale}"))
    if missing and notes is not None:
        notes.append(f"the page has no plots: {PLOTS_NEED}")
    body = "\n".join(parts)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # Before the title, which may be long: vsr.atomic_file reads a page's start.
        f"{GENERATOR_TAG}<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )
    # Once for the whole page: a name that is not UTF-8 may come from any field, the
    # report's own file name or the title, and the page is written as UTF-8.
    return undecodable_replaced(page)


def write_report(
    paths: list[str | Path], output: str | Path, title: str = "vsr report"
) -> list[str]:
    """Read the reports at ``paths`` and write the page to ``output`` atomically. Returns
    notes on what the page lacks (its plots, without matplotlib)."""
    # realpath, not resolve(): a link in a loop is check_can_write's to say, in a line.
    if any(os.path.realpath(output) == os.path.realpath(path) for path in paths):
        raise VsrError(f"{output} is one of the reports read; it would be replaced by the page")
    # Not a folder or a name ending in a slash, nor a file that is not an HTML page.
    check_can_write(output, "HTML", "--output")
    output = Path(output)
    if not output.parent.is_dir():
        raise VsrError(f"output folder does not exist: {output.parent}")
    inputs = read_inputs(paths)
    try:
        notes: list[str] = []
        page = render(inputs, title, notes)
    except (TypeError, ValueError, AttributeError, LookupError) as error:
        # The sections read fields defensively; this is the net for a shape they missed.
        files = ", ".join(inputs.sources)
        raise VsrError(f"{files}: a field has a type vsr does not write ({error})") from None
    with atomic_output(output, "w", encoding="utf-8") as stream:
        stream.write(page)
    return notes
