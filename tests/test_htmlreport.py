"""`vsr report`: the page holds the plots and tables the inputs call for, escapes what it
quotes, says "n/a" instead of plotting what was not measured, and renders in a real
headless Chromium (skipped when Chromium is not installed)."""

from __future__ import annotations

import base64
import io
import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import fields
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from vsr.cli import main
from vsr.errors import VsrError
from vsr.htmlreport import NO_GPU, fps_series, read_inputs, render, write_report
from vsr.report import FolderReport, RunReport
from vsr.tradeoff import tradeoff_points

STAGES = ("decode", "upload", "model", "download", "encode")


def run_report(name: str, gpu: bool) -> dict:
    """A clip's report as the engine writes it (see test_fixture_follows_the_run_report);
    on the CPU every GPU field is None."""
    samples = [
        {
            "t_s": 0.25 * i,
            "gpu_util_percent": 40.0 + 5 * i,
            "memory_util_percent": 20.0,
            "memory_used_bytes": float((1 + i) << 30),
        }
        for i in range(8)
    ]
    return {
        "input": f"/clips/{name}",
        "output": f"/out/{name}",
        "frames": 48,
        "lost_frames": 0,
        "wall_seconds": 2.0,
        "fps": 24.0,
        "stages": {
            s: {"busy_s": 0.1 * (i + 1), "wait_s": 0.05, "busy_share_of_wall": 0.1}
            for i, s in enumerate(STAGES)
        },
        "model_share_of_wall": 0.25,
        "encoder_busy_share": 0.9375 if gpu else None,
        "startup_s": 0.4,
        "device": "cuda:0" if gpu else "cpu",
        "device_name": "NVIDIA H100" if gpu else None,
        "precision": "fp16" if gpu else "fp32",
        "batch": 4 if gpu else 1,
        "network": "imdn",
        "input_size": [320, 240],
        "output_size": [640, 480],
        "codec": "libx264",
        "peak_host_memory_bytes": 512 << 20,
        "gpu_peak_allocated_bytes": (3 << 30) if gpu else None,
        "gpu_summary": {"samples": 8, "gpu_util_mean_percent": 57.5} if gpu else None,
        "gpu_samples": samples if gpu else None,
        "notes": [],
    }


def test_fixture_follows_the_run_report():
    # The page reads these fields; if the engine renames one, this says so.
    assert set(run_report("a.mp4", gpu=True)) <= {f.name for f in fields(RunReport)}


def test_a_memory_reading_nvml_refused_is_a_gap_in_the_plot_not_zero(tmp_path, monkeypatch):
    # The sampler leaves out (None) a reading NVML refuses; the plot drew it as 0 GiB.
    from matplotlib.axes import Axes

    import vsr.htmlreport as htmlreport

    report = run_report("a.mp4", gpu=True)
    for sample in report["gpu_samples"][2:4]:
        sample["memory_used_bytes"] = None
    path = tmp_path / "a.json"
    path.write_text(json.dumps(report))
    lines = []
    plot = Axes.plot
    monkeypatch.setattr(
        Axes, "plot", lambda self, x, y, **kw: lines.append(y) or plot(self, x, y, **kw)
    )
    assert htmlreport.gpu_plot(read_inputs([path])) is not None
    memory = lines[1]
    assert memory[:2] == [1.0, 2.0] and memory[2:4] == [None, None] and memory[4] == 5.0


def test_each_stages_waiting_bar_starts_where_its_busy_bar_ends(tmp_path, monkeypatch):
    # Busy (solid) and waiting (light) are one stacked bar per stage: a waiting bar drawn
    # from 0 would lie over the busy one and hide it wherever it is the longer.
    import vsr.htmlreport as htmlreport

    path = tmp_path / "a.json"
    path.write_text(json.dumps(run_report("a.mp4", gpu=False)))
    drawn = []
    monkeypatch.setattr(htmlreport, "figure_png", lambda figure: drawn.append(figure) or b"")
    htmlreport.stage_plot(read_inputs([path]))
    busy, waiting = drawn[0].axes[0].containers
    assert (busy.get_label(), waiting.get_label()) == ("a.mp4: busy", "a.mp4: waiting")
    seconds = [0.1 * (i + 1) for i in range(len(STAGES))]  # run_report's busy; wait 0.05
    assert [bar.get_x() for bar in busy] == [0.0] * len(STAGES)
    assert [bar.get_width() for bar in busy] == pytest.approx(seconds)
    assert [bar.get_x() for bar in waiting] == pytest.approx(seconds)
    assert [bar.get_width() for bar in waiting] == pytest.approx([0.05] * len(STAGES))


EVAL = {
    "results": [
        {"dataset": "Set5", "scale": 4, "model": "IMDN_x4", "images": 5, "psnr": 32.2096, "ssim": 0.8948},
        {"dataset": "B100", "scale": 4, "model": "IMDN_x4", "images": 100, "psnr": 27.56, "ssim": 0.7353},
        {"dataset": "MyPhotos", "scale": 4, "model": "IMDN_x4", "images": 3, "psnr": None, "ssim": None},
    ]
}  # fmt: skip
PROFILE = {
    "profiles": [
        {"name": "IMDN x4", "parameters": 715176, "macs": 46519028736, "activations": 122683800,
         "convolutions": 46, "depth": 46, "peak_memory_bytes": None, "time_ms": 812.5,
         "device": "cpu", "input_size": [256, 256], "weights": "/w/IMDN_x4.pth"},
    ]
}  # fmt: skip


@pytest.fixture
def reports(tmp_path: Path) -> list[Path]:
    """A GPU clip, a folder run on the CPU with a failed clip, eval and profile results."""
    gpu = tmp_path / "gpu_run.json"
    gpu.write_text(json.dumps(run_report("gpu.mp4", gpu=True)))
    folder = FolderReport()  # the folder summary as vsr run writes it
    folder.add(Path("/clips/broken.mp4"), "failed", error="cannot decode: <nonsense>")
    folder = folder.to_dict()
    done = {
        "input": "/clips/cpu<b>&.mp4",
        "status": "done",
        "report": run_report("cpu<b>&.mp4", gpu=False),
    }
    folder["clips"].insert(0, done)
    cpu = tmp_path / "folder.json"
    cpu.write_text(json.dumps(folder))
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps(EVAL))
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(PROFILE))
    return [gpu, cpu, evaluation, profile]


class PageParser(HTMLParser):
    """Collects the <img> sources and the rows of every table, by table class."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        elif tag == "table":
            self._table = attrs.get("class", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    return parser


def decoded_png(source: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert source.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(source[len(prefix) :], validate=True)))
    image.load()
    assert image.format == "PNG"
    return image


def test_page_has_plots_and_a_row_per_clip_and_result(reports):
    page = parse(render(read_inputs(reports)))
    # fps, GPU, stages, trade-off
    assert [img["alt"] for img in page.images] == [
        "Frames per second", "GPU utilisation and memory", "Stage busy times", "trade-off x4",
    ]  # fmt: skip
    for image in page.images:
        assert decoded_png(image["src"]).size[0] > 300
    clips = page.tables["clips"]
    # Two reports on one page: each row names the one it came from.
    assert [row[:2] for row in clips[1:]] == [
        ["gpu_run.json", "gpu.mp4"], ["folder.json", "cpu<b>&.mp4"], ["folder.json", "broken.mp4"]
    ]  # fmt: skip
    assert [row[2] for row in clips[1:]] == ["done", "done", "failed"]
    header = clips[0]
    util = header.index("GPU util mean %")
    assert [row[util] for row in clips[1:]] == ["57.5", NO_GPU, NO_GPU]
    busy = header.index("encoders busy %")
    assert [row[busy] for row in clips[1:]] == ["93.8", "n/a", "n/a"]
    assert "cannot decode: <nonsense>" in clips[3][-1]
    evaluation = page.tables["eval"]
    assert evaluation[1][:2] == ["Set5", "x4"]
    scores = evaluation[0].index("PSNR (dB)")
    assert evaluation[1][scores:] == ["32.2096", "0.8948", "32.21", "0.8948", "+0.00", ""]
    assert evaluation[2][scores:] == ["27.5600", "0.7353", "27.56", "0.7353", "+0.00", ""]
    assert evaluation[3][scores:] == ["n/a"] * 5 + [""]  # no measurement, no paper figure
    assert page.tables["profile"][1][:3] == ["IMDN x4", "256x256", "715,176"]


def test_cpu_only_runs_get_no_gpu_plot_and_say_so(reports):
    page_text = render(read_inputs([reports[1]]))
    page = parse(page_text)
    assert [img["alt"] for img in page.images] == ["Frames per second", "Stage busy times"]
    assert f'<p class="na">{NO_GPU}</p>' in page_text
    assert "eval" not in page.tables and "profile" not in page.tables


def test_everything_quoted_from_the_files_is_escaped(reports):
    page = render(read_inputs(reports[1:2]))
    assert "cpu<b>" not in page and "cpu&lt;b&gt;&amp;.mp4" in page
    assert "<nonsense>" not in page


def test_fps_over_time_comes_from_cumulative_progress_samples():
    samples = [
        {"t_s": 0.0, "frames": 0},
        {"t_s": 1.0, "frames": 24},
        {"t_s": 1.0, "frames": 24},  # a repeated sample must not divide by zero
        {"t_s": 3.0, "frames": 120},
        {"t_s": None, "frames": 130},
    ]
    assert fps_series(samples) == ([0.5, 2.0], [24.0, 48.0])


def test_tradeoff_pairs_eval_names_with_profile_names():
    (point,) = tradeoff_points(EVAL["results"], PROFILE["profiles"])
    assert (point.name, point.parameters, point.time_ms, point.psnr) == (
        "IMDN_x4", 715176, 812.5, 32.2096,
    )  # fmt: skip
    assert tradeoff_points(EVAL["results"], PROFILE["profiles"], scale=2) == []


def test_an_official_checkpoint_named_otherwise_meets_its_networks_profile():
    # The official RTC and RTE checkpoints are model_RTC.pth and model_RTE.pth, which vsr
    # eval names them by; vsr profile names the networks IMDN_RTC and IMDN_RTE, so their
    # points never met and left the trade-off plot without a word.
    evals = [{"dataset": "Set5", "scale": 2, "model": "model_RTC", "psnr": 37.1}]
    profiles = [
        {"name": "IMDN_RTE", "parameters": 54000, "time_ms": 2.0},
        {"name": "IMDN_RTC", "parameters": 20000, "time_ms": 1.5},
    ]
    (point,) = tradeoff_points(evals, profiles, scale=2)
    assert (point.name, point.parameters, point.time_ms) == ("model_RTC", 20000, 1.5)
    # A file of the user's own is still known by its name alone.
    assert tradeoff_points([{**evals[0], "model": "my_RTC"}], profiles, scale=2) == []


@pytest.mark.parametrize("written", ["now", "before 2026-11-29"])
def test_a_profile_s_input_is_written_width_first_as_vsr_profile_writes_it(tmp_path, written):
    # vsr profile's JSON recorded the input as (height, width): the page wrote a 640x360
    # input (a 720p output at x2) as 360x640, beside clips and benches written width first.
    # It writes width first now, and says so; an older file is still read height first.
    from vsr.models import create_model
    from vsr.profiling import format_table, profile_model

    measured = profile_model(create_model("imdn_rtc", 2), (16, 24), "cpu", warmup=0, repeats=1)
    assert "24x16" in format_table([measured])  # the command's own table
    record = measured.to_dict()
    assert record["input_size"] == [24, 16]
    if written != "now":
        del record["sizes"]
        record["input_size"], record["output_size"] = [16, 24], [32, 48]
    source = tmp_path / "profile.json"
    source.write_text(json.dumps({"profiles": [record]}))
    page = parse(render(read_inputs([source])))
    assert page.tables["profile"][1][:2] == ["IMDN_RTC", "24x16"]
    result = {"dataset": "Set5", "scale": 2, "model": "IMDN_RTC", "psnr": 37.0}
    (point,) = tradeoff_points([result], [record], scale=2)
    assert point.input_size == "24x16"


def test_files_vsr_did_not_write_are_refused(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(VsrError, match="not a JSON report"):
        read_inputs([broken])
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(VsrError, match="not a vsr run, bench, eval or profile report"):
        read_inputs([other])
    with pytest.raises(VsrError, match="report not found"):
        read_inputs([tmp_path / "missing.json"])


def test_without_matplotlib_the_page_has_its_tables_and_says_what_to_install(
    reports, monkeypatch, tmp_path, capsys
):
    # The page of runs or benches was refused: its tables, which need no plotting library,
    # could not be read without installing one.
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    out = tmp_path / "page.html"
    assert main(["report", *map(str, reports), "-o", str(out)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "vsr: note: the page has no plots: plots need matplotlib: pip install 'matplotlib>=3.7'"
    ]
    page = parse(out.read_text())
    assert page.images == []
    assert {"runs", "clips"} <= set(page.tables)
    text = out.read_text()
    # fps, GPU and stage plots, and the trade-off of the eval and profile reports
    assert text.count("no plot: plots need matplotlib") == 4
    assert "32.21" in text  # the eval table
    # Quality tables alone need no plots, and no note.
    assert main(["report", str(reports[2]), "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""


def test_command_writes_the_page(reports, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(reports[2]), "-o", str(out), "--title", "A & B"]) == 0
    assert "<title>A &amp; B</title>" in out.read_text()
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    assert main(["report", str(tmp_path / "nope.json"), "-o", str(out)]) == 2
    assert "report not found" in capsys.readouterr().err


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("needs Chromium (apt-get install -y chromium)")


# A test-only addition: after load, each image records the width the browser decoded.
DECODE_PROBE = (
    '<script>window.addEventListener("load", () => { for (const i of document.images) '
    'i.setAttribute("data-natural-width", i.naturalWidth); });</script>'
)


BROWSER_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]  # fmt: skip


def test_page_renders_in_headless_chromium(reports, tmp_path):
    page = tmp_path / "report.html"
    write_report(reports, page)
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", DECODE_PROBE + "</body>"))
    command = [_chromium(), *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    home = {**os.environ, "HOME": str(tmp_path / "home")}  # not the user's ~/.config
    dom = subprocess.run(
        [*command, "--dump-dom", probed.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        env=home,
    ).stdout
    rendered = parse(dom)
    assert len(rendered.images) == 4
    for image in rendered.images:  # the browser decoded every plot to its real width
        assert int(image["data-natural-width"]) == decoded_png(image["src"]).size[0]
    assert len(rendered.tables["clips"]) == 1 + 3
    assert len(rendered.tables["eval"]) == 1 + 3
    assert len(rendered.tables["profile"]) == 1 + 1


@pytest.mark.slow
def test_chromium_takes_a_screenshot_of_the_page(reports, tmp_path):
    page = tmp_path / "report.html"
    write_report(reports, page)
    command = [_chromium(), *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*command, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
        capture_output=True,
        timeout=60,
    )
    image = Image.open(shot).convert("L")
    assert image.size == (1280, 2400)
    assert image.getextrema()[0] < 64  # something dark (text, plots) was drawn


def _bench_json(tmp_path: Path) -> Path:
    """What `vsr bench --json` writes, built with the bench's own classes."""
    from vsr.bench import BenchResult, BenchRow, write_bench_json

    busy = dict.fromkeys(STAGES, 0.5)
    result = BenchResult(
        "vsr bench: naive loop vs engine, IMDN x2 (<test>)", "IMDN x2", "test", "cpu", None, 2,
        (64, 48), (128, 96), 4, 1, "H.264 yuv420p", "libx264", "veryfast", 18, "yuv420p",
        {"threads": "3"},
    )  # fmt: skip
    result.rows.append(BenchRow("naive loop", "fp32", 1, 4, 5.0, 0.8, 1.0, busy))
    result.rows.append(
        BenchRow("engine fp32 batch 2 cl", "fp32", 2, 4, 2.0, 2.0, 2.5, busy,
                 steady_fps=2.125, encoder_busy_share=0.031, psnr_vs_naive_db=41.375)
    )  # fmt: skip
    result.rows.append(
        BenchRow("engine fp32 lossless", "fp32", 1, 4, 2.0, 2.0, 2.5, busy,
                 psnr_vs_naive_db=math.inf, min_frame_psnr_vs_naive_db=math.inf)
    )  # fmt: skip
    result.notes.append("CPU run (2 torch threads): GPU figures are n/a")
    path = tmp_path / "bench.json"
    write_bench_json(result, path)
    return path


def _cells(page: str, css_class: str) -> list[list[str]]:
    """The body cells of the first table with this class, row by row."""

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.inside, self.body, self.rows = False, False, []

        def handle_starttag(self, tag, attrs):
            if tag == "table" and ("class", css_class) in attrs and not self.rows:
                self.inside = True
            elif self.inside and tag == "tbody":
                self.body = True
            elif self.inside and self.body and tag == "tr":
                self.rows.append([])
            elif self.inside and self.body and tag == "td":
                self.rows[-1].append("")

        def handle_endtag(self, tag):
            if tag == "table":
                self.inside = self.body = False

        def handle_data(self, data):
            if self.inside and self.body and self.rows and self.rows[-1]:
                self.rows[-1][-1] += data

    parser = Cells()
    parser.feed(page)
    return parser.rows


def test_bench_json_of_every_mode_becomes_a_table(tmp_path, capsys):
    from vsr.bench_model import ModelTiming
    from vsr.bench_pressure import PressurePoint

    model = tmp_path / "model.json"
    timing = ModelTiming("IMDN x2", "64x48", 64, 48, "fp32", 1, True, False, False, 12.5, 12.5,
                         80.0, None, None, "wall clock, median of 3")  # fmt: skip
    jit = ModelTiming("IMDN x2", "64x48", 64, 48, "fp32", 1, False, True, False, 10.0, 10.0,
                      100.0, None, 4.5, "wall clock, median of 3", jit=True)  # fmt: skip
    model.write_text(json.dumps({"model": "IMDN x2", "weights": "w", "device": "cpu, 2 threads",
                                 "command": "vsr bench --model-only --sizes 64x48",
                                 "timings": [timing.to_dict(), jit.to_dict()]}))  # fmt: skip
    pressure = tmp_path / "pressure.json"
    point = PressurePoint("IMDN_RTC", "128", 128, 128, 16384, "fp32", 7.25, 2**21, "RSS", "ok")
    pressure.write_text(json.dumps({"device": "cpu, 2 threads", "points": [vars(point)]}))
    out = tmp_path / "page.html"
    assert (
        main(["report", str(_bench_json(tmp_path)), str(model), str(pressure), "-o", str(out)]) == 0
    )
    page = out.read_text()
    assert "&lt;test&gt;" in page and "libx264 preset veryfast crf 18 yuv420p threads=3" in page
    assert "measured by <code>vsr bench --model-only --sizes 64x48</code>" in page
    naive, engine, identical = _cells(page, "bench")
    assert identical[-1] == "identical"  # JSON holds null there: no infinity in JSON
    assert naive[:3] == ["naive loop", "0.80", "1.00x"] and naive[-1] == "-"
    assert engine[:4] == ["engine fp32 batch 2 cl", "2.00", "2.50x", "2.12"]
    assert engine[-1] == "41.38" and engine[-2] == NO_GPU and engine[-3] == "3.1"
    assert _cells(page, "model") == [
        ["64x48", "64x48", "fp32 channels_last", "1", "12.50", "80.00", "n/a", "n/a",
         "wall clock, median of 3"],
        ["64x48", "64x48", "fp32 compiled (jit)", "1", "10.00", "100.00", "n/a", "4.5",
         "wall clock, median of 3"],
    ]  # fmt: skip
    assert _cells(page, "pressure") == [
        ["IMDN_RTC", "128", "128x128", "fp32", "7.25", "2.0 MiB", "RSS", "ok"]
    ]


def test_report_refuses_to_write_over_an_input_or_into_a_folder(reports, tmp_path, capsys):
    before = reports[2].read_bytes()
    assert main(["report", str(reports[2]), "-o", str(reports[2])]) == 2
    assert reports[2].read_bytes() == before
    assert main(["report", str(reports[2]), "-o", str(tmp_path)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("vsr: error: ") for line in errors)


def test_the_bench_device_is_escaped_once(tmp_path):
    from vsr.htmlreport import bench_section

    data = json.loads(_bench_json(tmp_path).read_text())
    data["device"] = "cpu & co"
    section = bench_section(data)
    assert "on cpu &amp; co, 2 threads" in section and "&amp;amp;" not in section


def test_a_bench_of_one_round_is_not_called_the_best_of_its_rounds(tmp_path):
    from vsr.htmlreport import bench_section

    data = json.loads(_bench_json(tmp_path).read_text())
    for rounds, said in ((1, ""), (3, ", best of 3 rounds per row")):
        data["rounds"] = rounds
        described = bench_section(data).split("<p>")[1].split("</p>")[0]
        assert described.endswith(f"on cpu, 2 threads{said}")


def _folder_report(path: Path, clips: int, node: str | None = None) -> Path:
    """A folder run's JSON (summary and clips) as vsr run writes it; `node`: as --ray does."""
    done = [
        {"input": f"/clips/c{i}.mp4", "status": "done", "report": run_report(f"c{i}.mp4", False)}
        for i in range(clips)
    ]
    summary = {"clips": clips, "done": clips, "skipped": 0, "failed": 0, "frames": 48 * clips}
    summary.update(wall_seconds=2.0 * clips, fps=24.0)
    if node is not None:
        for clip in done:
            clip.update(node=node, gpu="NVIDIA H100")
        summary["workers"] = 8
    path.write_text(json.dumps({"summary": summary, "clips": done}))
    return path


def test_folder_and_cluster_totals_head_the_page_and_rows_name_their_run(tmp_path):
    local = _folder_report(tmp_path / "local.json", 2)
    ray = _folder_report(tmp_path / "ray.json", 3, node="gpu-node-7")
    page = parse(render(read_inputs([local, ray])))
    runs = page.tables["runs"]
    header = runs[0]
    assert [row[0] for row in runs[1:]] == ["local.json", "ray.json"]
    assert [row[header.index("done")] for row in runs[1:]] == ["2", "3"]
    assert [row[header.index("workers")] for row in runs[1:]] == ["n/a", "8"]
    clips = page.tables["clips"]
    assert clips[0][:4] == ["run", "node", "GPU", "clip"]
    assert clips[1][:3] == ["local.json", "n/a", "n/a"]
    assert clips[3][:4] == ["ray.json", "gpu-node-7", "NVIDIA H100", "c0.mp4"]


def test_a_watchs_row_gives_the_work_its_fps_is_over_beside_its_wall_time(tmp_path):
    # A watch's fps is over its work (f55c82b), its wall time mostly waits for clips: the
    # row said "wall s 3.20, fps 5.71" for 4 frames, a rate no column gave.
    watch = _folder_report(tmp_path / "watch.json", 1)
    data = json.loads(watch.read_text())
    data["summary"].update(frames=4, wall_seconds=3.2, work_seconds=0.7, fps=5.714)
    watch.write_text(json.dumps(data))
    folder = _folder_report(tmp_path / "folder.json", 2)  # no work_seconds: all work
    runs = parse(render(read_inputs([watch, folder]))).tables["runs"]
    header = runs[0]
    assert [row[header.index("wall s")] for row in runs[1:]] == ["3.20", "4.00"]
    assert [row[header.index("work s")] for row in runs[1:]] == ["0.70", "4.00"]
    assert [row[header.index("fps")] for row in runs[1:]] == ["5.71", "24.00"]


def test_a_resumed_clips_row_says_how_many_frames_were_kept(tmp_path):
    resumed = {**run_report("long.mp4", gpu=False), "frames": 120, "resumed_frames": 24}
    fresh = run_report("short.mp4", gpu=False)  # resumed_frames 0, or absent in older reports
    clips = [{"input": r["input"], "status": "done", "report": r} for r in (resumed, fresh)]
    (tmp_path / "run.json").write_text(json.dumps({"clips": clips}))
    table = parse(render(read_inputs([tmp_path / "run.json"]))).tables["clips"]
    frames = table[0].index("frames")
    assert [row[frames] for row in table[1:]] == [
        "120 (24 of them kept from an interrupted run)",
        "48",
    ]


def _network_column(tmp_path, *reports: dict) -> tuple[str, list[str]]:
    """The page of a folder report of these clips' `reports`, and its clips table's network
    column, row by row."""
    clips = [{"input": r["input"], "status": "done", "report": r} for r in reports]
    (tmp_path / "run.json").write_text(json.dumps({"clips": clips}))
    page = render(read_inputs([tmp_path / "run.json"]))
    table = parse(page).tables["clips"]
    network = table[0].index("network")
    return page, [row[network] for row in table[1:]]


def test_a_clips_row_names_the_weights_beside_the_network(tmp_path):
    # Every row said "imdn": the official IMDN_x2.pth and the bundled weights looked alike.
    sha = "740b" + "0" * 60
    official = {
        **run_report("a.mp4", gpu=False),
        "weights": "/ckpt/IMDN_x2.pth",
        "weights_sha256": sha,
    }
    bundled = {**run_report("b.mp4", gpu=False), "weights": "vsr_imdn_x2", "weights_sha256": sha}
    older = run_report("c.mp4", gpu=False)  # written before the weights were recorded
    page, networks = _network_column(tmp_path, official, bundled, older)
    assert networks == [
        "imdn (IMDN_x2.pth)",
        "imdn (vsr_imdn_x2)",
        "imdn",
    ]
    assert f'title="/ckpt/IMDN_x2.pth sha256 {sha}"' in page


def test_a_weights_title_is_escaped_and_a_network_passed_in_has_none(tmp_path):
    # A quote in the weights' path ended the title attribute, and a "<" opened a tag; a
    # network passed in (no file, no sha256) was titled "... sha256 None".
    sha = "740b" + "0" * 60
    quoted = {
        **run_report("a.mp4", gpu=False),
        "weights": '/ckpt/"x2" <b>.pth',
        "weights_sha256": sha,
    }
    passed_in = {
        **run_report("b.mp4", gpu=False),
        "weights": "network passed in",
        "weights_sha256": None,
    }
    page, networks = _network_column(tmp_path, quoted, passed_in)
    assert networks == [
        'imdn ("x2" <b>.pth)',
        "imdn (network passed in)",
    ]
    assert f'title="/ckpt/&quot;x2&quot; &lt;b&gt;.pth sha256 {sha}"' in page
    assert "<b>" not in page and "sha256 None" not in page


def test_a_resumed_segment_runs_rows_give_the_kept_frames_and_the_outputs(tmp_path):
    # The run's row said 450 frames of a 600-frame output, and the kept segment's "n/a":
    # "600" and "kept" appeared nowhere on the page.
    made = {**run_report("in.mkv#1", gpu=False), "frames": 450}
    data = {
        "summary": {
            "clips": 2, "done": 1, "skipped": 1, "failed": 0, "frames": 450,
            "wall_seconds": 9.0, "fps": 50.0, "workers": 2, "output": "out.mkv",
            "output_frames": 600, "kept_frames": 150,
        },
        "clips": [
            {"input": "in.mkv#0", "segment": 0, "status": "skipped", "frames": 150},
            {"input": "in.mkv#1", "segment": 1, "status": "done", "report": made},
        ],
    }  # fmt: skip
    (tmp_path / "split.json").write_text(json.dumps(data))
    page = parse(render(read_inputs([tmp_path / "split.json"])))
    runs, clips = page.tables["runs"], page.tables["clips"]
    assert runs[1][runs[0].index("frames")] == (
        "450 (150 more kept from an interrupted run: 600 in the output)"
    )
    assert [row[clips[0].index("frames")] for row in clips[1:]] == ["150", "450"]


def test_a_folder_run_stopped_by_ctrl_c_says_which_clips_it_left(tmp_path):
    made = run_report("a.mkv", gpu=False)
    summary = {
        "clips": 3, "done": 1, "skipped": 0, "failed": 0, "interrupted": 1, "not_started": 1,
        "frames": made["frames"], "wall_seconds": 9.0, "fps": 5.0,
    }  # fmt: skip
    clips = [
        {"input": "a.mkv", "status": "done", "report": made},
        {"input": "b.mkv", "status": "interrupted", "error": "stopped by Ctrl-C"},
        {"input": "c.mkv", "status": "not started", "error": "not started"},
    ]
    (tmp_path / "stopped.json").write_text(json.dumps({"summary": summary, "clips": clips}))
    older = {**summary}
    del older["interrupted"], older["not_started"]  # from before vsr counted them
    (tmp_path / "older.json").write_text(json.dumps({"summary": older, "clips": clips[:1]}))
    # A Ray run stopped before its workers began a clip: none interrupted, all not started.
    early = {**summary, "done": 0, "interrupted": 0, "not_started": 3, "frames": 0, "fps": None}
    never = [{"input": c["input"], "status": "not started", "error": "not started"} for c in clips]
    (tmp_path / "early.json").write_text(json.dumps({"summary": early, "clips": never}))
    reports = [tmp_path / name for name in ("stopped.json", "older.json", "early.json")]
    page = parse(render(read_inputs(reports)))
    runs, table = page.tables["runs"], page.tables["clips"]
    stopped = runs[0].index("stopped")
    assert [row[stopped] for row in runs[1:]] == [
        "1 interrupted, 1 not started", "n/a", "0 interrupted, 3 not started"
    ]  # fmt: skip
    status = table[0].index("status")
    assert [row[status] for row in table[1:4]] == ["done", "interrupted", "not started"]


def test_a_folder_of_many_clips_gets_plots_of_a_readable_size(tmp_path):
    page = parse(render(read_inputs([_folder_report(tmp_path / "big.json", 120)])))
    assert len(page.tables["clips"]) == 121  # every clip keeps its row
    for image in page.images:  # the stage plot grew 0.5 inch per stage per clip
        assert decoded_png(image["src"]).size[1] < 1000


@pytest.mark.parametrize(
    "changes",
    [
        {"fps": "fast"},
        {"stages": {"decode": 1.5}},
        {"stages": {"decode": {"busy_s": "x"}}},
        {"gpu_samples": [1, 2]},
        {"progress_samples": [{"t_s": "a", "frames": 1}, 5]},
    ],
)
def test_a_field_of_another_type_gives_a_page_not_a_traceback(tmp_path, changes, capsys):
    source = tmp_path / "odd.json"
    source.write_text(json.dumps({**run_report("odd.mp4", gpu=False), **changes}))
    assert main(["report", str(source), "-o", str(tmp_path / "page.html")]) == 0
    page = parse((tmp_path / "page.html").read_text())
    assert page.tables["clips"][1][0] == "odd.mp4"


def test_eval_results_with_a_missing_scale_still_render(tmp_path):
    source = tmp_path / "eval.json"
    results = [{**EVAL["results"][0]}, {**EVAL["results"][0], "scale": None}]
    source.write_text(json.dumps({"results": results}))
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(PROFILE))
    page = parse(render(read_inputs([source, profile])))
    assert [row[1] for row in page.tables["eval"][1:]] == ["x4", "n/a"]


def test_names_and_sizes_from_a_report_cannot_inject_html_or_break_the_plots(tmp_path):
    evil = "<img src=x onerror=alert(1)>"
    clip = {
        "input": "clips/costs_$5_vs_\\x_$6.mp4",
        "status": "done",
        "report": {
            "frames": 3,
            "fps": 2.5,
            "input_size": [evil, 48],
            "output_size": [128, 96],
            "stages": {"decode $\\y$": {"busy_s": 0.1, "wait_s": 0.2}},
        },
    }
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"clips": [clip]}))
    page_path = tmp_path / "r.html"
    write_report([run], page_path)
    page = page_path.read_text()
    assert evil not in page
    assert "&lt;img src=x onerror=alert(1)&gt;x48" in page
    assert "costs_$5_vs_\\x_$6.mp4" in page  # the table shows the name as it is


def test_a_clip_name_that_is_not_utf8_is_shown_replaced_and_kept_exactly_in_the_json(
    tmp_path, weights
):
    from media import make_clip

    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    make_clip(clips / "a.mkv", 32, 24, frames=2, audio=False)
    raw = os.fsencode(clips) + b"/bad\xff name.mkv"
    os.rename(clips / "a.mkv", raw)
    report = Path(os.fsdecode(os.fsencode(tmp_path) + b"/run\xfe.json"))
    args = ["run", str(clips), str(out), "--weights", str(weights), "--quiet"]
    assert main([*args, "--report", str(report)]) == 0
    clip = json.loads(report.read_text())["clips"][0]
    assert clip["status"] == "done" and os.fsencode(clip["input"]) == raw  # round-trips

    page_path = tmp_path / "page.html"
    assert main(["report", str(report), "-o", str(page_path)]) == 0
    page = parse(page_path.read_text(encoding="utf-8"))
    assert page.tables["clips"][1][0] == "bad\ufffd name.mkv"
    assert "run\ufffd.json" in page_path.read_text(encoding="utf-8")  # the report's own name
    assert len(page.images) >= 2  # fps and stage plots, the name in their legends


def test_a_dollar_in_a_network_name_does_not_break_the_tradeoff_plot():
    from vsr.tradeoff import tradeoff_plot

    name = "net_$5_vs_$6"
    evals = [{"dataset": "Set5", "scale": 4, "psnr": 30.0, "model": name}]
    profiles = [{"name": name, "parameters": 700_000, "time_ms": 3.0}]
    assert tradeoff_plot(evals, profiles, "Set5", 4).startswith(b"\x89PNG")


def test_a_control_character_in_a_name_is_drawn_escaped_without_a_font_warning(tmp_path):
    # A clip named with a tab made `vsr report` print matplotlib's own warning,
    # "Glyph 9 (\t) missing from font(s) DejaVu Sans.", and draw a box.
    import warnings

    from vsr.plots import plot_label

    assert plot_label("take\t2 $5.mp4") == "take\\t2 \\$5.mp4"
    report = {**run_report("take\t2.mp4", gpu=False), "frames": 48}
    clips = [{"input": report["input"], "status": "done", "report": report}]
    (tmp_path / "run.json").write_text(json.dumps({"clips": clips}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render(read_inputs([tmp_path / "run.json"]))


def test_distinguishing_names_are_the_shortest_endings_no_other_path_shares():
    from vsr.distinguishing_names import distinguishing_names

    assert distinguishing_names(["A/run.json", "B/run.json"]) == ["A/run.json", "B/run.json"]
    assert distinguishing_names(["/x/A/run.json", "/y/A/run.json", "/y/b.json"]) == [
        "x/A/run.json", "y/A/run.json", "b.json",
    ]  # fmt: skip
    assert distinguishing_names(["run.json", "A/run.json"]) == ["run.json", "A/run.json"]
    assert distinguishing_names(["run.json", "run.json"]) == ["run.json", "run.json"]
    # Names are made of the paths' parts: "./A/run.json" is told as A/run.json is.
    assert distinguishing_names(["./A/run.json", "./B/run.json"]) == ["A/run.json", "B/run.json"]


def test_reports_of_one_name_from_two_folders_are_told_apart(tmp_path, monkeypatch):
    # A/run.json and B/run.json of one clip each gave two identical "tiny.mp4" rows and no
    # run column; two folder runs' totals were both "run.json", their plot lines alike.
    import vsr.htmlreport as htmlreport

    for run in ("A", "B"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "run.json").write_text(json.dumps(run_report("tiny.mp4", gpu=False)))
    clips = [tmp_path / run / "run.json" for run in ("A", "B")]
    table = parse(render(read_inputs(clips))).tables["clips"]
    assert [row[:2] for row in table] == [
        ["run", "clip"], ["A/run.json", "tiny.mp4"], ["B/run.json", "tiny.mp4"]
    ]  # fmt: skip
    folders = []
    for run in ("m1", "m2"):
        (tmp_path / run).mkdir()
        folders.append(_folder_report(tmp_path / run / "run.json", 1))
    inputs = read_inputs(folders)
    assert [row[0] for row in parse(render(inputs)).tables["runs"][1:]] == [
        "m1/run.json", "m2/run.json",
    ]  # fmt: skip
    drawn = []
    monkeypatch.setattr(htmlreport, "figure_png", lambda figure: drawn.append(figure) or b"")
    htmlreport.stage_plot(inputs)
    labels = [bars.get_label() for bars in drawn[0].axes[0].containers]
    assert labels[::2] == ["m1/run.json: c0.mp4: busy", "m2/run.json: c0.mp4: busy"]


def test_an_eval_row_says_its_precision_and_inputs_and_a_part_of_set5_is_not_the_paper_s(
    tmp_path,
):
    # Two evals of a folder named Set5 holding two of its images, in fp32 and bf16, gave two
    # rows alike but for the score, nothing saying which was which, both set against the
    # paper's Set5 (+3.10 dB), and two trade-off points both labelled imdn_x2.
    from vsr.tradeoff import _shown_names

    result = {"dataset": "Set5", "scale": 2, "model": "imdn_x2", "images": 2,
              "inputs": "made from HR (MATLAB bicubic)", "psnr": 41.1048, "ssim": 0.98}  # fmt: skip
    files = []
    for precision, psnr, patches in (("fp32", 41.1048, []), ("bf16", 41.1032, ["baby"])):
        record = {**result, "psnr": psnr, **({"in_patches": patches} if patches else {})}
        files.append(tmp_path / f"ev_{precision}.json")
        files[-1].write_text(
            json.dumps({"precision": precision, "device": "cpu", "results": [record]})
        )
    inputs = read_inputs(files)
    header, fp32, bf16 = parse(render(inputs)).tables["eval"]
    column = {name: header.index(name) for name in header}
    assert [fp32[column["precision"]], bf16[column["precision"]]] == ["fp32", "bf16"]
    assert fp32[column["device"]] == "cpu"
    assert fp32[column["inputs"]] == "made from HR (MATLAB bicubic)"
    for row in (fp32, bf16):
        assert [row[column["paper IMDN PSNR"]], row[column["PSNR - paper"]]] == ["n/a", "n/a"]
        assert row[column["notes"]].startswith("2 images, not Set5's 5: not compared")
    assert bf16[column["notes"]].endswith("1 image(s) ran in patches, so channel attention "
                                          "saw each patch, not the image: baby")  # fmt: skip
    profiles = [{"name": "IMDN x2", "parameters": 694404, "time_ms": 5.0}]
    assert tradeoff_points(inputs.evals, profiles, scale=2) == []  # not beside the paper's
    whole = [{**r, "images": 5} for r in inputs.evals]  # the benchmark itself
    points = tradeoff_points(whole, profiles, scale=2)
    assert [p.precision for p in points] == ["fp32", "bf16"]
    assert _shown_names(points) == ["imdn_x2 (fp32)", "imdn_x2 (bf16)"]
    assert _shown_names(points[:1]) == ["imdn_x2"]
    (tmp_path / "whole.json").write_text(json.dumps({"precision": "fp32", "results": whole[:1]}))
    row = parse(render(read_inputs([tmp_path / "whole.json"]))).tables["eval"][1]
    assert [row[column["paper IMDN PSNR"]], row[column["PSNR - paper"]]] == ["38.00", "+3.10"]
    assert row[column["notes"]] == ""


def test_a_model_only_page_says_which_rows_were_emulated_or_ignored_graphs(tmp_path):
    # The terminal said fp16 was emulated on this CPU (its figures a hundred times fp32's)
    # and that CUDA graphs were ignored; the page, from the same JSON, said neither.
    from vsr.bench_model import ModelTiming

    def timing(precision: str, **flags) -> dict:
        return ModelTiming("IMDN x2", "32x18", 32, 18, precision, 1, False, False, False, 9.0,
                           9.0, 111.0, None, None, "wall clock", **flags).to_dict()  # fmt: skip

    rows = [timing("fp32"), timing("fp16", emulated=True), timing("fp16", emulated=True)]
    data = {"model": "IMDN x2", "weights": "w", "device": "cpu, 2 threads", "timings": rows}
    (tmp_path / "mb.json").write_text(json.dumps(data))
    page = render(read_inputs([tmp_path / "mb.json"]))
    assert [row[2] for row in _cells(page, "model")] == ["fp32", "fp16 emulated", "fp16 emulated"]
    assert page.count("fp16 is emulated on this CPU, which has no fp16 instructions") == 1
    assert "CUDA graphs need a GPU" not in page
    rows[0].update(cuda_graphs=True, graphs_ignored=True)
    (tmp_path / "mb.json").write_text(json.dumps(data))
    page = render(read_inputs([tmp_path / "mb.json"]))
    assert _cells(page, "model")[0][2] == "fp32 CUDA graphs (ignored)"
    assert "<li>CUDA graphs need a GPU: ignored on the CPU</li>" in page


def test_a_resumed_folder_runs_row_says_how_many_frames_were_kept_and_made(tmp_path):
    # Its row said "43 | 26.76 | 0.71" (43 / 26.76 is 1.61) where the terminal said "24 of
    # them kept from interrupted runs; 19 made"; a Ray run's lost frames read "n/a".
    resumed = _folder_report(tmp_path / "resumed.json", 2)
    data = json.loads(resumed.read_text())
    data["summary"].update(frames=43, resumed_frames=24, lost_frames=0, damaged=0,
                           wall_seconds=26.763, fps=0.71)  # fmt: skip
    resumed.write_text(json.dumps(data))
    damaged = _folder_report(tmp_path / "damaged.json", 2)
    data = json.loads(damaged.read_text())
    data["summary"].update(resumed_frames=0, damaged=1, lost_frames=3)
    damaged.write_text(json.dumps(data))
    ray = _folder_report(tmp_path / "ray.json", 2, node="gpu-node-7")
    data = json.loads(ray.read_text())
    data["summary"]["lost_frames"] = 5  # a Ray run counts the frames, not the clips
    ray.write_text(json.dumps(data))
    runs = parse(render(read_inputs([resumed, damaged, ray]))).tables["runs"]
    frames, lost = runs[0].index("frames"), runs[0].index("damaged")
    assert [row[frames] for row in runs[1:]] == [
        "43 (24 of them kept from interrupted runs; 19 made)", "96", "96",
    ]  # fmt: skip
    assert [row[lost] for row in runs[1:]] == ["0", "1 (3 frames lost)", "5 frames lost"]


def test_a_page_or_report_named_with_a_trailing_slash_is_refused(
    reports, tmp_path, capsys, weights
):
    # `vsr report A/run.json -o newdir/` wrote an HTML file named newdir (exit 0), `-o
    # p1.html/` replaced p1.html, and `vsr run ... --report rdir/` and `vsr profile --json
    # pdir/` made rdir and pdir JSON files.
    from media import make_clip

    make_clip(tmp_path / "tiny.mp4", 32, 24, frames=2, audio=False)
    (tmp_path / "p1.html").write_text("<!DOCTYPE html><html></html>")
    for output in ("newdir/", "p1.html/"):
        assert main(["report", str(reports[2]), "-o", f"{tmp_path}/{output}"]) == 2
    run = ["run", str(tmp_path / "tiny.mp4"), str(tmp_path / "o6.mp4"), "--weights", str(weights)]
    assert main([*run, "--quiet", "--report", f"{tmp_path}/rdir/"]) == 2
    args = ["profile", "--model", "imdn_rtc", "--size", "16x16", "--repeats", "1"]
    assert main([*args, "--json", f"{tmp_path}/pdir/"]) == 2
    args = ["bench", "--model-only", "--sizes", "16x16", "--repeats", "1"]
    assert main([*args, "--json", f"{tmp_path}/bdir/"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 5 and all("ends in a slash, naming a folder" in e for e in errors)
    assert all(e.startswith("vsr: error: ") for e in errors)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [r.name for r in reports] + ["p1.html", "tiny.mp4"]
    )
    assert (tmp_path / "p1.html").read_text() == "<!DOCTYPE html><html></html>"


def test_a_page_replaces_only_a_page_vsr_report_wrote(reports, tmp_path, capsys):
    # `-o index.html` replaced a hand-written page: any file starting "<!DOCTYPE html" was
    # taken for an earlier report.
    notes = "<!DOCTYPE html>\n<html><body><h1>My notes</h1></body></html>\n"
    (tmp_path / "index.html").write_text(notes)
    assert main(["report", str(reports[2]), "-o", str(tmp_path / "index.html")]) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: {tmp_path / 'index.html'} exists and is not a vsr HTML page; vsr will "
        "not write over it (remove it first)\n"
    )
    assert (tmp_path / "index.html").read_text() == notes
    page = tmp_path / "page.html"
    assert main(["report", str(reports[2]), "-o", str(page)]) == 0
    assert main(["report", str(reports[3]), "-o", str(page)]) == 0  # its own page again
    assert "IMDN x4" in page.read_text()
    # A page from before the generator tag, known by its style block.
    earlier = render(read_inputs(reports[2:3]), "Earlier").replace(
        '<meta name="generator" content="vsr report">', ""
    )
    page.write_text(earlier)
    assert main(["report", str(reports[3]), "-o", str(page)]) == 0


def test_an_empty_stages_record_or_json_nested_too_deep_is_not_a_traceback(tmp_path, capsys):
    # "stages": {} ended in an IndexError (stage_plot's bars.patches[0]), 100,000 nested
    # "[" in a RecursionError from json.loads: both exit 1 with a traceback.
    empty = tmp_path / "nostages.json"
    empty.write_text(json.dumps({**run_report("a.mp4", gpu=False), "stages": {}}))
    page = tmp_path / "page.html"
    assert main(["report", str(empty), "-o", str(page)]) == 0
    assert '<p class="na">no stage times in the reports</p>' in page.read_text()
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["report", str(deep), "-o", str(page)]) == 2
    assert capsys.readouterr().err == f"vsr: error: {deep}: not a vsr report (nested too deeply)\n"
    # Nor as the file a report would be written over: not one of vsr's, so kept.
    assert main(["report", str(empty), "-o", str(deep)]) == 2
    assert capsys.readouterr().err.startswith(f"vsr: error: {deep} exists and is not a vsr HTML")
    args = ["profile", "--model", "imdn_rtc", "--size", "16x16", "--repeats", "1"]
    assert main([*args, "--json", str(deep)]) == 2
    assert capsys.readouterr().err.startswith(f"vsr: error: {deep} exists and is not a vsr JSON")


def test_a_clip_without_progress_samples_still_has_its_line_in_the_fps_plot(tmp_path, monkeypatch):
    # Beside a report with samples, an older one without them was left out of the plot with
    # no word (its clip in the table, not in the Throughput plot).
    import vsr.htmlreport as htmlreport

    new = {**run_report("new.mp4", gpu=False), "progress_samples": [
        {"t_s": 0.0, "frames": 0}, {"t_s": 1.0, "frames": 24}, {"t_s": 2.0, "frames": 48},
    ]}  # fmt: skip
    old = run_report("old_clip.mp4", gpu=False)  # 24 fps over 2 s, no samples
    unmeasured = {**run_report("none.mp4", gpu=False), "fps": None}
    clips = [{"input": r["input"], "status": "done", "report": r} for r in (new, old, unmeasured)]
    (tmp_path / "run.json").write_text(json.dumps({"clips": clips}))
    drawn = []
    monkeypatch.setattr(htmlreport, "figure_png", lambda figure: drawn.append(figure) or b"")
    htmlreport.fps_plot(read_inputs([tmp_path / "run.json"]))
    (axes,) = drawn[0].axes
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert set(lines) == {"new.mp4", "old_clip.mp4 (mean: no samples)"}
    assert list(lines["old_clip.mp4 (mean: no samples)"].get_xydata().tolist()) == [
        [0.0, 24.0], [2.0, 24.0],
    ]  # fmt: skip
    assert axes.get_title() == "Throughput (no fps for none.mp4)"


def test_a_page_under_a_link_loop_is_refused_in_a_line(reports, tmp_path, capsys):
    # Path.resolve() raised RuntimeError("Symlink loop"), a traceback.
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert main(["report", str(reports[2]), "-o", str(tmp_path / "loop" / "x.html")]) == 2
    assert "loop: a link that loops" in capsys.readouterr().err
