"""The optional ffmpeg-CLI encoder backend: its command line, detection and fallback."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from media import make_clip, make_rgb_clip

from vsr.errors import VsrError
from vsr.video import encoder_choice, ffmpeg_pipe
from vsr.video.ffmpeg_pipe import FfmpegPipe, PipePlan, build_arguments
from vsr.video.reader import VideoReader
from vsr.video.trim import Cut, TimeRange
from vsr.video.writer import EncodeSettings, VideoWriter


def plan(tmp_path: Path, **changes) -> PipePlan:
    fields = dict(
        output=tmp_path / ".out.tmp.mp4",
        container="mp4",
        source=tmp_path / "in file; rm -rf x.mp4",  # shell syntax must stay one argument
        width=640,
        height=360,
        pix_fmt="yuv420p10le",
        time_base=Fraction(1, 12800),
        rate=Fraction(25),
        codec="hevc_nvenc",
        encoder_pix_fmt="p010le",
        options={"preset": "p5", "cq": "20"},
        color_matrix="bt709",
        color_range="tv",
        color_primaries="bt709",
        color_trc=None,
        rotation=90,
    )
    fields.update(changes)
    return PipePlan(**fields)


def option(arguments: list[str], name: str) -> str:
    return arguments[arguments.index(name) + 1]


def test_arguments_are_a_list_with_the_pipe_first_and_the_output_last(tmp_path):
    p = plan(tmp_path)
    arguments = build_arguments(p, binary="/opt/ffmpeg")
    assert all(isinstance(a, str) for a in arguments)
    assert arguments[0] == "/opt/ffmpeg" and arguments[-1] == f"file:{p.output}"
    inputs = [i for i, a in enumerate(arguments) if a == "-i"]
    # Files as file: URLs, so that no name is read as a protocol (a name with a colon).
    assert [arguments[i + 1] for i in inputs] == ["pipe:0", f"file:{p.source}"]
    # The source read by demuxers that open nothing else (no playlists, no concat lists).
    assert "hls" not in option(arguments, "-format_whitelist").split(",")
    # Options of the NUT pipe come before its -i (they are input options).
    pipe_at = inputs[0]
    assert option(arguments[:pipe_at], "-f") == "nut"
    assert option(arguments[:pipe_at], "-display_rotation") == "90"
    maps = [arguments[i + 1] for i, a in enumerate(arguments) if a == "-map"]
    assert maps == ["0:v", "1:a?", "1:s?"]
    assert option(arguments, "-c:a") == "copy" and option(arguments, "-c:s") == "copy"
    assert option(arguments, "-vcodec") == "hevc_nvenc"
    assert option(arguments, "-pix_fmt") == "p010le"
    assert option(arguments, "-fps_mode") == "passthrough"
    assert option(arguments, "-enc_time_base:v") == "1/12800"
    assert option(arguments, "-colorspace") == "bt709"
    assert option(arguments, "-color_range") == "tv"
    assert "-color_trc" not in arguments  # unknown tags are not invented
    assert option(arguments, "-preset") == "p5" and option(arguments, "-cq") == "20"
    assert option(arguments, "-map_metadata") == "1"
    assert arguments.index("-y") < pipe_at  # global options before any input


def test_no_rotation_no_display_rotation(tmp_path):
    assert "-display_rotation" not in build_arguments(plan(tmp_path, rotation=0))


def test_ffmpeg_python_is_needed_by_the_fallback_alone(tmp_path):
    # ffmpeg_pipe imported it at the top, and the writer imports ffmpeg_pipe: without
    # ffmpeg-python every `vsr run` ended in ModuleNotFoundError, fallback or not.
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['ffmpeg'] = None\n"  # as if not installed
        "import vsr.video.writer, vsr.commands.run\n"
        "from vsr.errors import VsrError\n"
        "from vsr.video.ffmpeg_pipe import build_arguments\n"
        "try:\n"
        "    build_arguments(None)\n"
        "except VsrError as error:\n"
        "    print(error)\n"
    )
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=repo, check=True
    )
    assert done.stdout.strip() == (
        "the ffmpeg fallback needs ffmpeg-python: pip install 'ffmpeg-python>=0.2'"
    )


def test_detection_follows_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ffmpeg_pipe.find_ffmpeg() is None and not ffmpeg_pipe.ffmpeg_available()
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    assert ffmpeg_pipe.find_ffmpeg() == str(fake) and ffmpeg_pipe.ffmpeg_available()


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "in.mkv"
    make_clip(path, 64, 48, 3, audio=False)
    with VideoReader(path) as reader:
        return reader.info


def test_what_the_ffmpeg_pipe_is_not_told_is_named(clip, tmp_path, pipe_plans):
    # A mirror written as its rotation angle turned the picture upside down, and the pipe
    # carries no pixel shape: both are said, and the mirror is left out rather than turned.
    one, w = 1 << 16, 1 << 30
    mirrored = replace(clip, display_matrix=(-one, 0, 0, 0, one, 0, 0, 0, w), rotation=180)
    squeezed = replace(clip, sample_aspect_ratio=Fraction(4, 3))
    with VideoWriter(tmp_path / "m.mp4", mirrored, 64, 48, EncodeSettings()) as writer:
        assert any("the source is mirrored" in note for note in writer.notes)
        writer.abort()
    with VideoWriter(tmp_path / "s.mp4", squeezed, 64, 48, EncodeSettings()) as writer:
        assert any("the pixels are 4:3" in note for note in writer.notes)
        writer.abort()
    assert [plan.rotation for plan in pipe_plans] == [0, 0]


def test_encoder_pyav_cannot_open_without_ffmpeg_is_a_clear_error(clip, tmp_path, monkeypatch):
    monkeypatch.setattr(encoder_choice, "trial_open", lambda *a: "Function not implemented")
    monkeypatch.setattr(ffmpeg_pipe, "ffmpeg_available", lambda: False)
    with pytest.raises(VsrError, match="cannot open encoder libx264: Function not implemented"):
        VideoWriter(tmp_path / "out.mp4", clip, 64, 48, EncodeSettings())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


def test_dnxhd_at_a_size_it_does_not_list_says_why_and_what_takes_it(clip, tmp_path, monkeypatch):
    # It said "Invalid argument: Frame size: 1440x1080i; bitrate: 110Mbps; pixel format:
    # yuv422p", the last row of libav's table of DNxHD's sizes, as though that were why.
    monkeypatch.setattr(ffmpeg_pipe, "ffmpeg_available", lambda: False)
    settings = EncodeSettings(codec="dnxhd", pix_fmt="yuv422p")
    with pytest.raises(VsrError) as refused:
        VideoWriter(tmp_path / "out.mov", clip, 128, 96, settings)
    assert str(refused.value) == (
        "cannot open encoder dnxhd: Invalid argument: video parameters incompatible with "
        "DNxHD. Valid DNxHD profiles (libav lists 54) (DNxHD takes only its broadcast frame "
        "sizes; settings=EncodeSettings(options={'profile': 'dnxhr_hq'}) takes any size from "
        "256x120)"
    )
    hq = replace(settings, options={"profile": "dnxhr_hq"})
    VideoWriter(tmp_path / "hq.mov", clip, 320, 240, hq).abort()  # opens


def test_the_reason_libav_gave_is_its_last_line_or_the_head_of_a_list():
    from vsr.video.libav_log import reason_said

    assert reason_said([]) is None
    assert reason_said(["a warning", "Input dimensions too small"]) == "Input dimensions too small"
    table = ["Valid profiles:", "1920x1080", "1280x720"]
    assert reason_said(["odd", *table]) == "Valid profiles (libav lists 2)"
    assert reason_said(["Valid profiles:"]) == "Valid profiles:"  # nothing listed after it


def test_encoder_pyav_cannot_open_goes_to_ffmpeg_when_present(clip, tmp_path, monkeypatch):
    started: list[PipePlan] = []

    class FakePipe:
        def __init__(self, p):
            started.append(p)
            self.frames = []

        def write(self, planes, pts):
            self.frames.append(pts)

        def close(self):
            p = started[0]
            p.output.write_bytes(b"encoded")

        def abort(self):
            pass

    monkeypatch.setattr(encoder_choice, "trial_open", lambda *a: "Function not implemented")
    monkeypatch.setattr(ffmpeg_pipe, "ffmpeg_available", lambda: True)
    monkeypatch.setattr(ffmpeg_pipe, "FfmpegPipe", FakePipe)
    output = tmp_path / "out.mp4"
    with VideoWriter(output, clip, 64, 48, EncodeSettings(crf=20)) as w:
        assert any("using ffmpeg" in note for note in w.notes)
        w.write(tuple(), 0)
        w.write(tuple(), 40)
    (p,) = started
    assert (p.codec, p.width, p.height, p.time_base) == ("libx264", 64, 48, clip.time_base)
    assert p.options["crf"] == "20" and p.source == clip.path
    # MP4's colr box asked for, as the PyAV path asks: without it, a codec without colour
    # fields of its own lost the matrix and range it was encoded with.
    assert p.options["movflags"] == "+write_colr"
    assert output.read_bytes() == b"encoded"


@pytest.mark.skipif(not ffmpeg_pipe.ffmpeg_available(), reason="no ffmpeg binary on PATH")
def test_real_ffmpeg_pipe_encodes_with_timestamps(tmp_path):
    source = tmp_path / "vfr.mkv"
    made = make_clip(source, 64, 48, 5, vfr=True)
    with VideoReader(source) as reader:
        info = reader.info
        p = plan(
            tmp_path,
            output=tmp_path / "out.mkv",
            container="matroska",
            source=source,
            width=64,
            height=48,
            pix_fmt="yuv420p",
            time_base=info.time_base,
            codec="libx264",
            encoder_pix_fmt="yuv420p",
            options={},
            rotation=0,
        )
        pipe = ffmpeg_pipe.FfmpegPipe(p)
        for frame in reader.frames():
            pipe.write(frame.planes, frame.pts)
        pipe.close()
    with VideoReader(tmp_path / "out.mkv") as result:
        assert [f.pts for f in result.frames()] == [m.pts for m in made]


FAKE_FFMPEG = """#!{python}
# Stands in for ffmpeg: reads the NUT stream on stdin, writes the pts it saw to the output.
import json, sys
import av
with av.open(sys.stdin.buffer, format="nut") as pipe:
    stream = pipe.streams.video[0]
    seen = [[f.pts, f.width, f.height, f.format.name] for f in pipe.decode(stream)]
with open(sys.argv[-1].removeprefix("file:"), "w") as out:
    json.dump(dict(frames=seen, time_base=str(stream.time_base), args=sys.argv[1:]), out)
"""


def test_pipe_process_receives_every_frame_with_its_pts(tmp_path):
    """The real pipe mechanics (process, NUT muxing, close) against a stand-in binary."""
    import json
    import sys

    fake = tmp_path / "ffmpeg"
    fake.write_text(FAKE_FFMPEG.format(python=sys.executable))
    fake.chmod(0o755)
    source = tmp_path / "vfr.mkv"
    made = make_clip(source, 50, 30, 5, vfr=True, audio=False)
    with VideoReader(source) as reader:
        p = plan(
            tmp_path,
            output=tmp_path / "report.json",
            source=source,
            width=50,
            height=30,
            pix_fmt="yuv420p",
            time_base=reader.info.time_base,
        )
        pipe = ffmpeg_pipe.FfmpegPipe(p, binary=str(fake))
        for frame in reader.frames():
            pipe.write(frame.planes, frame.pts)
        pipe.close()
    seen = json.loads((tmp_path / "report.json").read_text())
    # NUT may pick its own time base; the instants must be the source's.
    pipe_time_base = Fraction(seen["time_base"])
    assert [f[0] * pipe_time_base for f in seen["frames"]] == [
        m.pts * reader.info.time_base for m in made
    ]
    assert seen["frames"][0][1:] == [50, 30, "yuv420p"]


def test_pipe_failure_is_reported_with_ffmpeg_s_last_line(tmp_path):
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'Unknown encoder hevc_nvenc' >&2\nexit 1\n")
    fake.chmod(0o755)
    pipe = ffmpeg_pipe.FfmpegPipe(plan(tmp_path), binary=str(fake))
    with pytest.raises(VsrError, match="ffmpeg encoder failed: Unknown encoder hevc_nvenc"):
        pipe.close()


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (
            "echo 'Guessed Channel Layout' >&2\necho 'Unknown encoder hevc_nvenc' >&2\nexit 1",
            "Unknown encoder hevc_nvenc",
        ),
        ("exit 3", "exit status 3"),  # ffmpeg said nothing
    ],
)
def test_a_failed_pipe_is_told_by_ffmpeg_s_last_line_or_its_exit_status(tmp_path, script, reason):
    fake = tmp_path / "ffmpeg"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    pipe = ffmpeg_pipe.FfmpegPipe(plan(tmp_path), binary=str(fake))
    with pytest.raises(VsrError, match=f"^ffmpeg encoder failed: {reason}$"):
        pipe.close()


@pytest.mark.parametrize(
    ("name", "tag"), [("out.mp4", "hvc1"), ("out.mov", "hvc1"), ("out.mkv", None)]
)
def test_hevc_through_ffmpeg_asks_for_the_hvc1_tag_in_mp4_and_mov(
    clip, tmp_path, pipe_plans, name, tag
):
    VideoWriter(tmp_path / name, clip, 64, 48, EncodeSettings(codec="libx265")).abort()
    arguments = build_arguments(pipe_plans[0])
    if tag:
        assert option(arguments, "-tag:v") == tag
    else:
        assert "-tag:v" not in arguments


def test_a_cut_cuts_the_sources_other_streams_alike(tmp_path):
    cut = Cut(TimeRange(0.5, 1.3), Fraction(13, 25), Fraction(13, 10), file_start=0.1)
    arguments = build_arguments(plan(tmp_path, cut=cut))
    source = arguments.index(f"file:{tmp_path / 'in file; rm -rf x.mp4'}")
    # -ss counts from the file's start (0.1 s); -t is the length from the first frame.
    assert arguments[source - 5 : source] == ["-ss", "0.420000", "-t", "0.780000", "-i"]


def test_an_untagged_sd_source_gets_a_colour_matrix_ffmpeg_takes(clip, tmp_path, pipe_plans):
    assert clip.color_matrix_tag is None and clip.color_matrix == "bt601"  # untagged SD
    VideoWriter(tmp_path / "out.mkv", clip, 64, 48, EncodeSettings()).abort()
    # "bt601" is vsr's own name for it; ffmpeg refused to start on it.
    assert option(build_arguments(pipe_plans[0]), "-colorspace") == "smpte170m"


def test_an_rgb_output_goes_down_the_pipe_as_planar_rgb_tagged_rgb(tmp_path, pipe_plans):
    import json
    import sys

    source = tmp_path / "rgb.mkv"
    make_rgb_clip(source, "gbrp10le", 50, 30, frames=2)
    with VideoReader(source) as reader:
        info = reader.info
        VideoWriter(tmp_path / "out.mkv", info, 50, 30, EncodeSettings(codec="ffv1")).abort()
        planned = replace(pipe_plans[0], output=tmp_path / "report.json")
        arguments = build_arguments(planned)
        assert (planned.pix_fmt, option(arguments, "-pix_fmt")) == ("gbrp10le", "gbrp10le")
        assert (option(arguments, "-colorspace"), option(arguments, "-color_range")) == (
            "rgb",
            "pc",
        )
        # NUT carries the planes as they are: the real pipe (FfmpegPipe as imported, which
        # pipe_plans does not replace), against a stand-in binary.
        fake = tmp_path / "ffmpeg"
        fake.write_text(FAKE_FFMPEG.format(python=sys.executable))
        fake.chmod(0o755)
        pipe = FfmpegPipe(planned, binary=str(fake))
        for frame in reader.frames():
            pipe.write(frame.planes, frame.pts)
        pipe.close()
    seen = json.loads((tmp_path / "report.json").read_text())
    assert [f[1:] for f in seen["frames"]] == [[50, 30, "gbrp10le"]] * 2
