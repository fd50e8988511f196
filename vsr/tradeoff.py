"""The paper's trade-off figure for the networks at hand: PSNR on one dataset and scale (the
report draws Set5 at x2, x3 and x4) against the number of parameters and against running
time, from `vsr eval` and `vsr profile` JSON, with the paper's IMDN where its table has it.

An eval result names its network by the weights file (``IMDN_x4``); a profile by its label
(``IMDN x4``) and, when profiled from a file, by that file; an official checkpoint whose
file is named otherwise (``model_RTC``) is known by its manifest entry's network too. Names
are compared ignoring case, spaces and punctuation, so both spellings meet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsr.errors import VsrError
from vsr.paper import PAPER_PARAMETERS, is_part_of_a_benchmark, paper_scores
from vsr.plots import figure_png, new_figure, plot_label
from vsr.profile_sizes import width_first
from vsr.profiling import network_label
from vsr.weights import load_manifest


@dataclass
class TradeoffPoint:
    name: str
    parameters: int
    time_ms: float | None
    device: str | None
    input_size: str | None  # "WIDTHxHEIGHT" of the profiled input, which the time depends on
    psnr: float
    precision: str | None = None  # the network's arithmetic in the eval (fp32, bf16 ...)


def _key(name: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _eval_keys(result: dict[str, Any], manifest: dict[str, Any]) -> set[str]:
    """An eval result's names: its weights file's, and where that is a manifest entry (the
    official model_RTC.pth), the network's label, by which `vsr profile` names it."""
    model = str(result.get("model"))
    entry = manifest.get(model)
    keys = {_key(model)}
    if isinstance(entry, dict) and isinstance(entry.get("arch"), str):
        keys.add(_key(network_label(entry["arch"], entry.get("scale"))))
    return keys


def _manifest() -> dict[str, Any]:
    try:
        return load_manifest()
    except VsrError:  # an install without it: names alone still meet
        return {}


def _profile_keys(profile: dict[str, Any]) -> set[str]:
    keys = {_key(profile.get("name"))}
    if profile.get("weights"):
        keys.add(_key(Path(str(profile["weights"])).name.split(".")[0]))
    return keys


def tradeoff_points(
    evals: list[dict[str, Any]],
    profiles: list[dict[str, Any]],
    dataset: str = "Set5",
    scale: int = 4,
) -> list[TradeoffPoint]:
    """One point per eval result on ``dataset`` x``scale`` whose network was profiled; not
    a folder of that name holding another number of images (two of Set5's), whose score
    would stand beside the paper's IMDN as if it were the benchmark's."""
    points, manifest = [], _manifest()
    for result in evals:
        if str(result.get("dataset", "")).lower() != dataset.lower():
            continue
        if is_part_of_a_benchmark(dataset, result.get("images")):
            continue
        if result.get("scale") != scale or not isinstance(result.get("psnr"), int | float):
            continue
        wanted = _eval_keys(result, manifest)
        match = next((p for p in profiles if wanted & _profile_keys(p)), None)
        if match is None or not isinstance(match.get("parameters"), int):
            continue
        time_ms = match.get("time_ms")
        points.append(
            TradeoffPoint(
                name=str(result.get("model")),
                parameters=match["parameters"],
                time_ms=float(time_ms) if isinstance(time_ms, int | float) else None,
                device=match.get("device"),
                input_size="x".join(map(str, width_first(match, "input_size") or [])) or None,
                psnr=float(result["psnr"]),
                precision=_text_or_none(result.get("precision")),
            )
        )
    return points


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _shown_names(points: list[TradeoffPoint]) -> list[str]:
    """Each point's label: its network, and its precision where the points differ in it (an
    fp32 and a bf16 eval of one network drew two points of one name)."""
    several = len({point.precision for point in points}) > 1
    return [
        plot_label(f"{p.name} ({p.precision or 'precision n/a'})" if several else p.name)
        for p in points
    ]  # plot_label: a weights file may be named `x_$5_vs_$6`


def tradeoff_plot(
    evals: list[dict[str, Any]],
    profiles: list[dict[str, Any]],
    dataset: str = "Set5",
    scale: int = 4,
) -> bytes | None:
    """PNG of PSNR against parameters (with the paper's IMDN) and against time; None when no
    eval result matches a profile."""
    points = tradeoff_points(evals, profiles, dataset, scale)
    if not points:
        return None
    figure = new_figure(9.0, 3.6)
    by_size, by_time = figure.subplots(1, 2, sharey=True)
    label = {"fontsize": "small", "textcoords": "offset points", "xytext": (5, 4)}
    for point, shown in zip(points, _shown_names(points), strict=True):
        by_size.scatter(point.parameters / 1e3, point.psnr)
        by_size.annotate(shown, (point.parameters / 1e3, point.psnr), **label)
        if point.time_ms is not None:
            by_time.scatter(point.time_ms, point.psnr)
            by_time.annotate(shown, (point.time_ms, point.psnr), **label)
    psnrs = [p.psnr for p in points]
    parameter_counts = [p.parameters for p in points]
    paper = paper_scores(dataset, scale)
    if paper is not None and scale in PAPER_PARAMETERS:
        name, parameters, psnr = "IMDN (paper)", PAPER_PARAMETERS[scale], paper[0]
        by_size.scatter(parameters / 1e3, psnr, marker="*", s=120, color="black")
        by_size.annotate(name, (parameters / 1e3, psnr), **{**label, "xytext": (5, -12)})
        psnrs.append(psnr)
        parameter_counts.append(parameters)
    timed = [p for p in points if p.time_ms is not None]
    conditions = sorted({f"{p.device}, {p.input_size} input" for p in timed})
    # Parameters and times from zero; PSNR centred on the points and at least 1 dB tall, so
    # that a single point does not fill the plot.
    middle = (max(psnrs) + min(psnrs)) / 2
    half = max(0.5, (max(psnrs) - min(psnrs)) * 0.6)
    by_size.set_ylim(middle - half, middle + half)
    by_size.set_xlim(0, max(parameter_counts) / 1e3 * 1.25)
    times = [p.time_ms for p in points if p.time_ms is not None]
    by_time.set_xlim(0, max(times, default=1.0) * 1.25)
    by_size.ticklabel_format(useOffset=False)
    by_size.set_xlabel("parameters (K)")
    by_size.set_ylabel(f"PSNR on {dataset} x{scale} (dB)")
    by_time.set_xlabel(f"time per image (ms; {'; '.join(conditions) or 'not measured'})")
    for axes in (by_size, by_time):
        axes.grid(alpha=0.3)
    return figure_png(figure)
