"""Chroma siting: read from the source, kept through the conversions, declared by the output."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from media import frame_from_planes, make_clip, make_siting_change_clip

from vsr.cli import main
from vsr.errors import VsrError
from vsr.models import load_weights
from vsr.ops.yuv import rgb_to_yuv, yuv_to_rgb
from vsr.segments import colour_and_layout, extract_segment, plan_segments
from vsr.upscale import Upscaler
from vsr.video import colors
from vsr.video.encoder_choice import EncoderChoice
from vsr.video.reader import VideoReader
from vsr.video.writer import EncodeSettings

_FORMATS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}


@pytest.mark.parametrize(
    ("codec", "suffix", "declared", "read"),
    [
        ("libx264", ".mp4", "topleft", "topleft"),
        ("libx264", ".mp4", "center", "center"),
        ("libx264", ".mp4", None, "left"),  # H.264's default, as its decoder reports it
        ("libx265", ".mkv", "topleft", "topleft"),
        ("ffv1", ".mkv", "topleft", "topleft"),
        ("ffv1", ".mkv", "center", "center"),
        ("ffv1", ".mkv", "left", "left"),
        ("ffv1", ".mkv", None, None),  # FFV1 stores none: "unspecified"
    ],
)
def test_the_reader_reports_the_declared_chroma_siting(tmp_path, codec, suffix, declared, read):
    clip = tmp_path / f"clip{suffix}"
    make_clip(clip, frames=2, codec=codec, audio=False, chroma_location=declared)
    with VideoReader(clip) as reader:
        assert reader.info.chroma_location == read
        assert reader.info.chroma_siting == (read or "left")
        first = next(reader.frames())  # the first frame, read for its siting, is delivered
        assert first.index == 0 and first.planes[0].shape == (48, 64)


def test_threads_reading_the_siting_of_like_frames_each_read_it(tmp_path):
    """PyAV drops a libav message equal to the one before it, process-wide: two threads
    logging the same frame's line lost one (2 in 1200 calls read None; this test failed 3
    times in 5 without the fix)."""
    import threading

    from vsr.video.chroma_location import chroma_location_of

    clip = tmp_path / "topleft.mp4"
    make_clip(clip, frames=1, audio=False, chroma_location="topleft")
    with av.open(str(clip)) as container:
        frame = next(container.decode(video=0))
    pts = frame.pts
    read: list[str | None] = []

    def reader() -> None:
        with av.open(str(clip)) as container:
            own = next(container.decode(video=0))  # a like frame of its own, as a reader's
        for _ in range(500):
            read.append(chroma_location_of(own))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read == ["topleft"] * 2000
    assert chroma_location_of(frame) == "topleft" and frame.pts == pts  # left as it was


@pytest.mark.parametrize(("location", "nearest"), [("bottomleft", "left"), ("bottom", "center")])
def test_chroma_below_the_luma_rows_is_read_as_the_nearest_siting_with_a_note(
    tmp_path, location, nearest
):
    # Half a chroma row up from the odd rows: "bottom" (x264's chromaloc=5) is between the
    # rows' centres, as "center" is; "top" would be a whole row up.
    clip = tmp_path / "bottom.mp4"
    make_clip(clip, frames=1, audio=False, chroma_location=location)
    with VideoReader(clip) as reader:
        assert reader.info.chroma_location == location
        assert reader.info.chroma_siting == nearest
        notes = [note for note in reader.warnings if f"sits at {location} " in note]
        assert len(notes) == 1 and f"vsr reads as {nearest}," in notes[0]


def test_a_siting_that_changes_mid_stream_is_told_from_a_few_keyframes(tmp_path, monkeypatch):
    # Converted at the first frame's siting without a word; reading every frame's costs
    # 0.1 to 0.5 ms (showinfo), so only keyframes LOOK_EVERY frames apart are read.
    from vsr.video import siting_watch

    read = []

    def counted(frame):
        read.append(frame.pts)
        return chroma_location_of(frame)

    chroma_location_of = siting_watch.chroma_location_of
    monkeypatch.setattr(siting_watch, "chroma_location_of", counted)
    monkeypatch.setattr(siting_watch, "LOOK_EVERY", 3)
    clip = tmp_path / "joined.ts"
    make_siting_change_clip(clip, [("left", 4), ("topleft", 8)], gop=1)  # all keyframes
    with VideoReader(clip) as reader:
        assert reader.info.chroma_siting == "left"
        assert len(list(reader.frames())) == 12
    changes = [note for note in reader.warnings if "siting changes mid-stream" in note]
    assert len(changes) == 1 and "(to topleft, seen at frame 6)" in changes[0], changes
    assert len(read) == 2  # frames 3 and 6; none once told
    # One siting throughout: no note.
    same = tmp_path / "same.ts"
    make_siting_change_clip(same, [("topleft", 4), ("topleft", 4)], gop=1)
    with VideoReader(same) as reader:
        list(reader.frames())
    assert not [note for note in reader.warnings if "mid-stream" in note]


def test_a_full_chroma_source_has_no_siting(tmp_path):
    clip = tmp_path / "full.mkv"
    make_clip(clip, frames=1, codec="ffv1", pix_fmt="yuv444p", audio=False)
    with VideoReader(clip) as reader:
        assert reader.info.chroma_location is None and reader.info.chroma_siting == "left"


# Two colours that differ in luma and in both chroma components, well inside the gamut.
_BLUISH, _ORANGE = (0.2, 0.3, 0.7), (0.8, 0.7, 0.3)
_EDGE_COLUMN, _EDGE_ROW = 30, 21  # the orange starts here (64 x 48 source)


def edge_planes(siting: str) -> tuple[np.ndarray, ...]:
    """8-bit 4:2:0 BT.709 planes of a bluish picture with an orange right side and bottom,
    subsampled at `siting`: colour and luma edges in one place, as a camera records them."""
    rgb = np.empty((3, 48, 64), np.float32)
    rgb[:] = np.array(_BLUISH, np.float32)[:, None, None]
    rgb[:, _EDGE_ROW:, :] = rgb[:, :, _EDGE_COLUMN:] = np.array(_ORANGE, np.float32)[:, None, None]
    planes = rgb_to_yuv(torch.from_numpy(rgb)[None], "bt709", "tv", 8, (1, 1), siting)
    return tuple(plane[0].numpy() for plane in planes)


def write_edge_clip(path: Path, codec: str, siting: str, options: dict[str, str]) -> None:
    with av.open(str(path), "w", format=_FORMATS[path.suffix]) as out:
        stream = out.add_stream(
            codec, rate=25, options={"chroma_sample_location": siting, **options}
        )
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.colorspace = colors.code_of(colors.MATRIX_TAGS, "bt709")
        stream.codec_context.color_range = colors.RANGE_CODES["tv"]
        for index in range(2):
            frame = frame_from_planes(edge_planes(siting), "yuv420p")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def edge_position(profile: np.ndarray) -> float:
    """Where a blurred step lies along `profile`: the centroid of its gradient (which a
    bilinear up- or downsampling at the right phase keeps where it was)."""
    step = np.diff(profile.astype(np.float64))
    return float(np.sum((np.arange(step.size) + 0.5) * step) / np.sum(step))


def colour_edge_offsets(path: Path) -> tuple[float, float, str | None]:
    """How far, in output pixels, the colour edges of an upscaled edge clip lie from its
    luma edges (across, down), with its chroma planes read at the siting it declares."""
    with VideoReader(path) as reader:
        info = reader.info
        planes = next(reader.frames()).planes
    y, u, v = (torch.from_numpy(p.astype(np.int32))[None] for p in planes)
    rgb = yuv_to_rgb(y, u, v, info.color_matrix, info.color_range, 8, info.chroma_siting)[0]
    r, g, b = rgb.double().numpy()
    luma = 0.2126 * r + 0.7152 * g + 0.0722 * b
    blue_difference = b - luma  # the colour alone: Cb, upsampled as a player does
    # Along a row well above the bottom edge, and a column well left of the right one.
    row, column = 8, 8
    across = slice(2 * _EDGE_COLUMN - 12, 2 * _EDGE_COLUMN + 12)
    down = slice(2 * _EDGE_ROW - 12, 2 * _EDGE_ROW + 12)
    offset_across = edge_position(blue_difference[row, across]) - edge_position(luma[row, across])
    offset_down = edge_position(blue_difference[down, column]) - edge_position(luma[down, column])
    return offset_across, offset_down, info.chroma_location


@pytest.fixture
def bilinear_network(monkeypatch):
    """A network that moves no edge: bilinear x2 in place of the weights' (random) one."""

    def upscale(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x.float(), scale_factor=2, mode="bilinear", align_corners=False)

    monkeypatch.setattr(Upscaler, "_upscale_on_device", upscale)


@pytest.mark.parametrize("siting", ["topleft", "center", "top", "left"])
def test_colour_stays_on_its_edges_through_a_lossless_run(
    tmp_path, weights, bilinear_network, siting
):
    source, out = tmp_path / "edge.mkv", tmp_path / "up.mkv"
    write_edge_clip(source, "ffv1", siting, {})
    flags = ["--codec", "ffv1", "--quiet"]
    assert main(["run", str(source), str(out), "--weights", str(weights), *flags]) == 0
    across, down, declared = colour_edge_offsets(out)
    assert declared == siting
    # The wrong siting put the colour about one output pixel off (audit: 0.95 to 1.0).
    assert abs(across) <= 0.25 and abs(down) <= 0.25, (across, down)


def test_an_h264_source_at_topleft_gives_an_h264_output_at_topleft(
    tmp_path, weights, bilinear_network
):
    source, out = tmp_path / "edge.mp4", tmp_path / "up.mp4"
    write_edge_clip(source, "libx264", "topleft", {"qp": "0", "preset": "ultrafast"})
    flags = ["--crf", "0", "--preset", "ultrafast", "--quiet"]  # crf 0: lossless at 8 bits
    assert main(["run", str(source), str(out), "--weights", str(weights), *flags]) == 0
    across, down, declared = colour_edge_offsets(out)
    assert declared == "topleft"
    assert abs(across) <= 0.25 and abs(down) <= 0.25, (across, down)


@pytest.mark.parametrize(("codec", "written"), [("libx264", "topleft"), ("mpeg4", "left")])
def test_the_report_holds_the_colour_and_siting_of_the_source_and_the_output(
    tmp_path, weights, bilinear_network, codec, written
):
    import json

    source, out, report = tmp_path / "topleft.mkv", tmp_path / "up.mp4", tmp_path / "run.json"
    bt709_tv = (1, 1, 1, 1)  # FFmpeg's codes: matrix, range, primaries, transfer
    make_clip(
        source, frames=1, codec="ffv1", audio=False, chroma_location="topleft", colors=bt709_tv
    )
    flags = ["--weights", str(weights), "--codec", codec, "--report", str(report), "--quiet"]
    assert main(["run", str(source), str(out), *flags]) == 0
    colour = json.loads(report.read_text())["colour"]
    assert colour["source"] == {
        "matrix": "bt709",
        "matrix_guessed": False,
        "range": "tv",
        "primaries": "bt709",
        "transfer": "bt709",
        "chroma_location": "topleft",
        "chroma_siting": "topleft",
    }
    # libx264 declares topleft; mpeg4's decoder reads "left" whatever is declared, so the
    # colour was resampled there.
    assert colour["output"] == {
        "matrix": "bt709",
        "range": "tv",
        "primaries": "bt709",
        "transfer": "bt709",
        "chroma_siting": written,
    }
    with VideoReader(out) as reader:
        assert reader.info.chroma_siting == written  # what a decoder reads back


def test_a_tv_source_written_as_rgb_reports_the_full_range_it_was_written_in(
    tmp_path, weights, bilinear_network
):
    # RGB holds full-range values: the report's output range is the file's, not the source's.
    import json

    source, out, report = tmp_path / "tv.mkv", tmp_path / "rgb.mkv", tmp_path / "run.json"
    make_clip(source, frames=1, codec="ffv1", audio=False, colors=(1, 1, 1, 1))  # bt709 tv
    flags = ["--codec", "ffv1", "--pix-fmt", "gbrp", "--report", str(report), "--quiet"]
    assert main(["run", str(source), str(out), "--weights", str(weights), *flags]) == 0
    colour = json.loads(report.read_text())["colour"]
    assert colour["source"]["range"] == "tv"
    assert colour["output"] == {
        "matrix": "gbr",
        "range": "pc",
        "primaries": "bt709",
        "transfer": "bt709",
        "chroma_siting": None,
    }
    with VideoReader(out) as reader:
        assert reader.info.color_range == "pc"  # what a decoder reads back


def choice_for(source: Path, output: Path, **settings) -> EncoderChoice:
    with VideoReader(source) as reader:
        info = reader.info
    container = _FORMATS[output.suffix]
    return EncoderChoice(output, container, info, 128, 96, EncodeSettings(**settings))


@pytest.mark.parametrize(
    ("codec", "suffix", "pix_fmt", "written", "noted"),
    [
        ("libx264", ".mp4", None, "topleft", False),  # in the stream (the VUI)
        ("libx265", ".mov", None, "topleft", False),
        ("ffv1", ".mkv", None, "topleft", False),  # in Matroska's track header
        ("libvpx-vp9", ".webm", None, "topleft", False),  # and WebM's
        ("prores_ks", ".mkv", "yuv422p10le", "left", False),  # topleft at 4:2:2 is left
        ("prores_ks", ".mov", "yuv422p10le", "left", False),
        ("mpeg4", ".mp4", None, "left", True),  # its decoder reads "left" whatever is declared
        ("mjpeg", ".mkv", None, "center", True),  # and this one "center"
        ("mpeg1video", ".mkv", None, "center", True),  # as does MPEG-1's
    ],
)
def test_the_output_declares_the_sources_siting_where_decoders_read_it(
    tmp_path, codec, suffix, pix_fmt, written, noted
):
    source = tmp_path / "topleft.mkv"
    make_clip(source, frames=1, codec="ffv1", audio=False, chroma_location="topleft")
    choice = choice_for(source, tmp_path / f"out{suffix}", codec=codec, pix_fmt=pix_fmt)
    assert choice.chroma_siting == written
    assert choice.options["chroma_sample_location"] == written
    lost = [note for note in choice.notes if "chroma siting" in note]
    assert bool(lost) == noted, choice.notes


@pytest.mark.parametrize(("suffix", "written"), [(".mkv", "center"), (".mp4", "left")])
def test_av1_declares_a_siting_its_sequence_header_lacks_in_matroska_only(
    tmp_path, suffix, written
):
    # AV1's sequence header holds "left" and "topleft" only; Matroska's track header holds
    # "center" as well, which AV1's decoder does not override.
    source = tmp_path / "center.mkv"
    make_clip(source, frames=1, codec="ffv1", audio=False, chroma_location="center")
    choice = choice_for(source, tmp_path / f"out{suffix}", codec="libsvtav1")
    assert choice.chroma_siting == written
    lost = [note for note in choice.notes if "chroma siting" in note]
    assert bool(lost) == (written != "center"), choice.notes


@pytest.mark.parametrize("location", ["center", "topleft"])
def test_a_siting_the_output_cannot_declare_is_resampled_with_a_note(tmp_path, location):
    source = tmp_path / "source.mkv"
    make_clip(source, frames=1, codec="ffv1", audio=False, chroma_location=location)
    choice = choice_for(source, tmp_path / "out.mov", codec="prores_ks", pix_fmt="yuv422p10le")
    horizontal = "center" if location == "center" else "left"  # all 4:2:2 keeps of it
    assert choice.chroma_siting == "left"
    notes = [note for note in choice.notes if "chroma siting" in note]
    assert len(notes) == (horizontal != "left"), choice.notes
    # -e chroma_sample_location is the user's word: declared and converted at, no note.
    asked = choice_for(
        source, tmp_path / "out.mov", codec="prores_ks", options={"chroma_sample_location": "top"}
    )
    assert asked.options["chroma_sample_location"] == "top" and asked.chroma_siting == "center"
    assert not [note for note in asked.notes if "chroma siting" in note]
    # One vsr does not convert at would be declared but not obeyed: refused.
    with pytest.raises(VsrError, match="chroma_sample_location=bottomleft: vsr converts at"):
        choice_for(source, tmp_path / "o.mkv", options={"chroma_sample_location": "bottomleft"})
    if location == "center":  # at 4:2:2 libx264 declares nothing, whatever the container
        x264 = choice_for(source, tmp_path / "o.mkv", codec="libx264", pix_fmt="yuv422p")
        assert [n for n in x264.notes if "cannot be declared by libx264 at 4:2:2:" in n]


@pytest.mark.parametrize(
    ("codec", "suffix"),
    # MJPEG's decoder reads "center" where chroma is subsampled; at 4:4:4 there is none to
    # site, and the report gives every full-chroma output as "left", as vsr converts at.
    [("ffv1", ".mkv"), ("mjpeg", ".mkv")],
)
def test_a_full_chroma_output_declares_no_siting(tmp_path, codec, suffix):
    source = tmp_path / "topleft.mkv"
    make_clip(source, frames=1, codec="ffv1", audio=False, chroma_location="topleft")
    choice = choice_for(source, tmp_path / f"out{suffix}", codec=codec, pix_fmt="yuv444p")
    assert choice.chroma_siting == "left"
    assert "chroma_sample_location" not in choice.options
    assert not [note for note in choice.notes if "chroma siting" in note]


def test_declaring_left_leaves_an_h264_stream_as_it_was():
    # A left-sited source's output gets chroma_sample_location=left, H.264's default: the
    # stream must be the one written before the option was given.
    def packets(options: dict[str, str]) -> list[bytes]:
        context = av.CodecContext.create("libx264", "w")
        context.width, context.height, context.pix_fmt = 64, 48, "yuv420p"
        context.time_base = Fraction(1, 25)
        context.options = {"preset": "ultrafast", "threads": "1", **options}
        frames = []
        for index in range(3):
            frame = frame_from_planes(edge_planes("left"), "yuv420p")
            frame.pts = index
            frames += context.encode(frame)
        return [bytes(packet) for packet in frames + context.encode(None)]

    assert packets({"chroma_sample_location": "left"}) == packets({})


def test_a_left_source_converts_as_before(tmp_path, weights):
    # An H.264 source declaring nothing is read as "left", as every version of vsr did:
    # its output is the network applied at that siting, the one the default arguments give.
    source, out = tmp_path / "in.mp4", tmp_path / "out.mkv"
    make_clip(source, 48, 32, frames=2, audio=False)
    flags = ["--codec", "ffv1", "--precision", "fp32", "--quiet"]
    assert main(["run", str(source), str(out), "--weights", str(weights), *flags]) == 0
    with VideoReader(source) as reader:
        info, frame_in = reader.info, next(reader.frames())
    with VideoReader(out) as reader:
        assert reader.info.chroma_location == "left"
        frame_out = next(reader.frames())
    upscaler = Upscaler(load_weights(weights), device="cpu", precision="fp32")
    m, r, bits = info.color_matrix, info.color_range, info.bit_depth
    planes = [torch.from_numpy(p)[None] for p in frame_in.planes]
    expected = rgb_to_yuv(upscaler(yuv_to_rgb(*planes, m, r, bits)), m, r, bits, (1, 1))
    for got, want in zip(frame_out.planes, expected, strict=True):
        assert np.abs(got.astype(int) - want[0].numpy().astype(int)).max() <= 1


def test_a_segment_keeps_the_sources_siting(tmp_path):
    source = tmp_path / "topleft.mkv"
    make_clip(source, frames=4, codec="ffv1", audio=False, chroma_location="topleft")
    segment = plan_segments(source, count=2)[-1]
    with VideoReader(source) as whole:
        layout = colour_and_layout(whole.info)  # what the driver sends each task
    extract_segment(source, segment, tmp_path / "part.mkv", layout.chroma_siting)
    with VideoReader(tmp_path / "part.mkv") as part:
        assert part.info.chroma_location == "topleft"
        assert colour_and_layout(part.info) == layout


def test_a_segment_declares_the_siting_the_whole_source_is_converted_at(tmp_path):
    """A source whose siting changes mid-stream is converted at its first frame's, as a
    local run does: a later part whose own frames say another must still match it."""
    source = tmp_path / "topleft.mkv"
    make_clip(source, frames=4, codec="ffv1", audio=False, chroma_location="topleft")
    segment = plan_segments(source, count=2)[-1]
    extract_segment(source, segment, tmp_path / "part.mkv", siting="center")
    with VideoReader(tmp_path / "part.mkv") as part:
        assert part.info.chroma_location == "center"


def test_ffmpegs_numbers_for_a_siting_are_taken_and_only_the_x26x_blame_422(tmp_path):
    source = tmp_path / "center.mkv"
    make_clip(source, frames=1, codec="ffv1", pix_fmt="yuv422p", audio=False,
              chroma_location="center")  # fmt: skip
    numbered = choice_for(source, tmp_path / "o.mkv", options={"chroma_sample_location": "3"})
    assert numbered.chroma_siting == "left"  # 3 is topleft: at 4:2:2, the left phase
    prores = choice_for(source, tmp_path / "o.mov", codec="prores_ks", pix_fmt="yuv422p10le")
    said = [n for n in prores.notes if "chroma siting" in n]
    assert said and "cannot be declared by prores_ks in .mov files" in said[0]
