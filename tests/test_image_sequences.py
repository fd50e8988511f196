"""Image sequences (scans as f_0001.png ...) upscaled into a video in one pass: named by a
printf frame number, timed at --input-rate (25 fps by default, with a note) from zero,
each frame's pixels those `vsr image` makes of its file (vsr.video.image_sequence)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from test_resume import interrupt_after, stream_packets

import vsr.video.parallel_writer as parallel_writer
from vsr.cli import main
from vsr.errors import VsrError
from vsr.runner import upscale_video
from vsr.video.writer import EncodeSettings

LOSSLESS = EncodeSettings("ffv1")  # RGB planes stored as they are: comparable exactly
# In bf16 (the CPU's default where it has bf16) the video's colour path and the still's
# round a few values a step apart, an RGB clip's as much as a sequence's: fp32 for exactness.
EXACT = "fp32"
WIDTH, HEIGHT = 32, 24


def noise(index: int, bits: int = 8) -> np.ndarray:
    """Frame `index`'s RGB noise: every code as likely, so any rounding on the way shows."""
    rng = np.random.default_rng(index)
    peak = 255 if bits == 8 else 65535
    return rng.integers(0, peak + 1, (HEIGHT, WIDTH, 3)).astype(
        np.uint8 if bits == 8 else np.uint16
    )


def gradient(index: int) -> np.ndarray:
    """A smooth picture, which a lossy codec keeps close."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    picture = np.stack([x * 6 + index * 4, y * 8, 255 - x * 5 - y * 2], axis=-1)
    return np.clip(picture, 0, 255).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray) -> None:
    given, stored = ("rgb24", "rgb24") if pixels.dtype == np.uint8 else ("rgb48le", "rgb48be")
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = WIDTH, HEIGHT, stored
    frame = av.VideoFrame.from_ndarray(pixels, format=given).reformat(format=stored)
    (packet,) = encoder.encode(frame)
    path.write_bytes(bytes(packet))


def make_sequence(folder: Path, numbers, picture=noise, name: str = "f_{:04d}.png") -> str:
    """PNG files of `numbers`, frame n holding picture(n); returns their printf pattern."""
    folder.mkdir(exist_ok=True)
    for number in numbers:
        write_png(folder / name.format(number), picture(number))
    return str(folder / name.replace("{:04d}", "%04d").replace("{:d}", "%d"))


def decoded(path: Path, fmt: str = "rgb24") -> tuple[Fraction, list[Fraction], list[np.ndarray]]:
    """The declared rate, each frame's time in seconds, and each frame's RGB pixels."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        times = [frame.pts * stream.time_base for frame in frames]
        return stream.average_rate, times, [frame.to_ndarray(format=fmt) for frame in frames]


def still(weights: Path, source: Path, output: Path, fmt: str = "rgb24") -> np.ndarray:
    """What `vsr image` makes of one frame's file."""
    command = ["image", str(source), str(output), "--weights", str(weights), "--precision", EXACT]
    assert main(command) == 0
    with av.open(str(output)) as container:
        return next(container.decode(video=0)).to_ndarray(format=fmt)


def test_a_sequence_is_timed_at_the_input_rate_and_each_frame_is_vsr_images(weights, tmp_path):
    # Numbered from a timecode, as scans often are: image2 looks for the first frame among
    # 0 to 4 only, and found none.
    pattern = make_sequence(tmp_path / "scans", range(86400, 86405), name="f_{:d}.png")
    output = tmp_path / "out.mkv"
    options = dict(weights=weights, settings=LOSSLESS, precision=EXACT, progress=False)
    report = upscale_video(pattern, output, input_rate=24, **options)
    assert report.frames == 5 and report.lost_frames == 0 and report.output_size == (64, 48)
    rate, times, pictures = decoded(output)
    assert rate == 24
    assert times == [Fraction(round(1000 * n / Fraction(24)), 1000) for n in range(5)]  # ms
    for n in range(5):
        made = still(weights, tmp_path / f"scans/f_{86400 + n}.png", tmp_path / f"{n}.png")
        assert np.array_equal(pictures[n], made)
    # MP4 keeps the rate's own time base: exact, NTSC's 1000/1001 too.
    upscale_video(
        pattern, tmp_path / "out.mp4", weights=weights, input_rate="23.976", progress=False
    )
    rate, times, _ = decoded(tmp_path / "out.mp4")
    assert rate == Fraction(24000, 1001)
    assert times == [n * Fraction(1001, 24000) for n in range(5)]


def test_a_16_bit_sequence_keeps_16_bits_as_vsr_image_does(weights, tmp_path):
    pattern = make_sequence(tmp_path, range(1, 4), lambda n: noise(n, bits=16))
    output = tmp_path / "out.mkv"
    options = dict(weights=weights, settings=LOSSLESS, precision=EXACT, progress=False)
    upscale_video(pattern, output, **options)
    with av.open(str(output)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "gbrp16le"
    _, _, pictures = decoded(output, "rgb48le")
    made = still(weights, tmp_path / "f_0002.png", tmp_path / "still.png", "rgb48le")
    difference = np.abs(pictures[1].astype(int) - made.astype(int))
    # A step of 65535 apart in a few values (12 of 9216 measured, in fp32), as for a 16-bit
    # RGB clip (gbrp16le FFV1) of the same frames: the video's colour path, not the sequence.
    assert difference.max() <= 1 and (difference > 0).mean() < 0.005


def test_the_default_codec_keeps_a_sequence_close_to_vsr_images(weights, tmp_path, capsys):
    pattern = make_sequence(tmp_path, range(1, 5), gradient)
    output = tmp_path / "out.mkv"
    command = ["run", pattern, str(output), "--weights", str(weights), "--precision", EXACT]
    assert main(command) == 0
    # No rate given: 25 fps, as ffmpeg times an image sequence, and said.
    assert "an image sequence carries no timing: timed at 25 fps" in capsys.readouterr().err
    rate, times, pictures = decoded(output)
    assert rate == 25 and times == [Fraction(40 * n, 1000) for n in range(4)]
    made = still(weights, tmp_path / "f_0003.png", tmp_path / "still.png")
    # x264's loss at its default quality on the random network's busy picture (3.6 of 255
    # measured); channels or ranges mixed up would be tens.
    assert np.abs(pictures[2].astype(int) - made.astype(int)).mean() < 6


def test_a_cut_of_a_sequence_keeps_exactly_its_frames(weights, tmp_path):
    pattern = make_sequence(tmp_path / "scans", range(1, 11))
    whole, cut = tmp_path / "whole.mkv", tmp_path / "cut.mkv"
    options = dict(weights=weights, input_rate=10, settings=LOSSLESS, progress=False)
    upscale_video(pattern, whole, **options)
    report = upscale_video(pattern, cut, start=0.3, end=0.7, **options)
    assert report.frames == 4 and report.cut["first_frame_s"] == pytest.approx(0.3)
    _, times, pictures = decoded(cut)
    assert times == [Fraction(n, 10) for n in range(4)]
    assert all(np.array_equal(a, b) for a, b in zip(pictures, decoded(whole)[2][3:7], strict=True))


def test_a_resumed_sequence_is_byte_for_byte_the_uninterrupted_one(weights, tmp_path, monkeypatch):
    monkeypatch.setattr(parallel_writer, "JOURNAL_CHUNK_SECONDS", 1)  # 24 frames a chunk
    pattern = make_sequence(tmp_path / "scans", range(1, 41), gradient)
    whole, resumed = tmp_path / "whole.mp4", tmp_path / "resumed.mp4"
    settings = EncodeSettings(options={"x264-params": "mbtree=0"})  # see test_resume
    options = dict(weights=weights, progress=False, resume=True, settings=settings)
    upscale_video(pattern, whole, input_rate=24, **options)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(
            pattern, resumed, input_rate=24, on_frames=interrupt_after(26, resumed, 1), **options
        )
    # Another rate would time the kept frames otherwise: refused, as a raw stream's is.
    with pytest.raises(VsrError, match=r"other settings \(input rate\)"):
        upscale_video(pattern, resumed, input_rate=25, **options)
    report = upscale_video(pattern, resumed, input_rate=24, **options)
    assert (report.resumed_frames, report.frames) == (24, 40)
    assert stream_packets(resumed) == stream_packets(whole)
    assert resumed.read_bytes() == whole.read_bytes()


def _interrupted_resume_of_40_frames(weights, tmp_path: Path, monkeypatch):
    """A --resume run of a 40-frame sequence stopped after 30 frames: its pattern, output
    and options, for the run that goes on."""
    monkeypatch.setattr(parallel_writer, "JOURNAL_CHUNK_SECONDS", 1)
    pattern = make_sequence(tmp_path / "scans", range(1, 41), gradient)
    output = tmp_path / "out.mkv"
    options = dict(weights=weights, progress=False, resume=True)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(pattern, output, on_frames=interrupt_after(30, output, 1), **options)
    return pattern, output, options


def test_a_resume_of_a_rescanned_sequence_is_refused(weights, tmp_path, monkeypatch):
    pattern, output, options = _interrupted_resume_of_40_frames(weights, tmp_path, monkeypatch)
    write_png(tmp_path / "scans/f_0041.png", gradient(41))  # one more frame at the end
    with pytest.raises(VsrError, match="made from another version of the source file"):
        upscale_video(pattern, output, **options)


def test_a_resume_after_a_frame_in_the_middle_was_rescanned_is_refused(
    weights, tmp_path, monkeypatch
):
    # The record held the first and last files' size and time only: a frame rescanned in
    # between was joined to chunks made from its old scan.
    pattern, output, options = _interrupted_resume_of_40_frames(weights, tmp_path, monkeypatch)
    rescanned = tmp_path / "scans/f_0010.png"
    write_png(rescanned, gradient(99))
    os.utime(rescanned, ns=(1, 1))
    with pytest.raises(VsrError, match="made from another version of the source file"):
        upscale_video(pattern, output, **options)


@pytest.mark.parametrize(
    ("input_name", "numbers", "said"),
    [
        (
            "f_%04d.png",
            [1, 2, 5, 6],
            "the sequence f_0001.png to f_0006.png misses 2 of its 6 frames "
            "(f_0003.png, f_0004.png): fill or renumber the gap",
        ),
        ("g_%04d.png", [1, 2], "no such file (no image of the sequence is there)"),
        ("*.png", [1, 2], "a glob is not read as an image sequence"),
        # Was "no such file", as if the frames were missing.
        ("f_%04d_%d.png", [1, 2], "names more than one frame number (%d)"),
    ],
)
def test_a_sequence_that_cannot_be_read_whole_is_one_line(
    input_name, numbers, said, weights, tmp_path, capsys
):
    make_sequence(tmp_path, numbers)
    pattern, output = str(tmp_path / input_name), tmp_path / "out.mkv"
    assert main(["run", pattern, str(output), "--weights", str(weights)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vsr: error: {pattern}: ") and said in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not output.exists()


@pytest.mark.parametrize("name", ["holiday [final].mp4", "what?.mp4", "take*.mkv"])
def test_a_missing_clip_named_with_a_bracket_is_no_such_file(name, tmp_path, capsys):
    # Was "a glob is not read as an image sequence", for a clip named as downloaders name
    # them ("Title [id].mp4") that was not there: a glob is told only where it names files.
    make_sequence(tmp_path, [1, 2])
    missing = tmp_path / name
    assert main(["run", str(missing), str(tmp_path / "out.mkv")]) == 2
    assert capsys.readouterr().err == f"vsr: error: {missing}: no such file\n"


@pytest.mark.parametrize("flags", [["--ray"], ["--ray", "--segments", "2"]])
def test_ray_and_segment_mode_refuse_a_sequence_in_words(flags, tmp_path, capsys):
    pattern = make_sequence(tmp_path, [1, 2])
    assert main(["run", pattern, str(tmp_path / "out.mkv"), *flags]) == 2
    assert "an image sequence is upscaled on this machine" in capsys.readouterr().err


def test_a_tiff_sequence_is_read_despite_its_exif_side_data(weights, tmp_path):
    # FFmpeg 8's TIFF decoder attaches EXIF (side data kind 31) to every frame, which PyAV
    # 18.1 cannot name: its list of the frame's side data raised ValueError, a traceback.
    for number in range(3):
        with av.open(str(tmp_path / f"t_{number:03d}.tif"), "w", format="image2") as out:
            stream = out.add_stream("tiff", rate=1)
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "rgb24"
            for packet in stream.encode(av.VideoFrame.from_ndarray(noise(number), "rgb24")):
                out.mux(packet)
    output = tmp_path / "out.mkv"
    options = dict(weights=weights, settings=LOSSLESS, precision=EXACT, progress=False)
    report = upscale_video(str(tmp_path / "t_%03d.tif"), output, **options)
    assert report.frames == 3 and report.colour["source"]["matrix"] == "gbr"
    _, _, pictures = decoded(output)
    made = still(weights, tmp_path / "t_001.tif", tmp_path / "still.png")
    assert np.abs(pictures[1].astype(int) - made.astype(int)).max() <= 1  # 1 of 9216 measured


def test_a_mirrored_jpeg_sequence_keeps_its_mirror(weights, tmp_path):
    # A phone's selfie JPEG says "mirrored" in its EXIF orientation (2). FFmpeg 8 decodes it
    # into a display matrix beside the EXIF itself (kind 31, which PyAV cannot name); all of
    # the frame's side data was dropped for it, and only frame.rotation's 180 degrees was
    # left: the video played upside down and unmirrored.
    from PIL import Image

    from vsr.video.display_matrix import display_matrix_of

    folder = tmp_path / "selfies"
    folder.mkdir()
    orientation = Image.Exif()
    orientation[0x0112] = 2  # mirrored left to right
    for number in range(3):
        Image.fromarray(gradient(number)).save(folder / f"s_{number}.jpg", exif=orientation)
    output = tmp_path / "out.mkv"
    upscale_video(str(folder / "s_%d.jpg"), output, weights=weights, progress=False)
    one, w = 1 << 16, 1 << 30
    with av.open(str(output)) as container:
        assert display_matrix_of(next(container.decode(video=0))) == (
            -one, 0, 0, 0, one, 0, 0, 0, w
        )  # fmt: skip
    with pytest.raises(ValueError):  # PyAV's own enum is left as it was
        av.sidedata.sidedata.Type(31)


def test_a_sequence_in_a_folder_named_with_a_percent_sign_is_read(weights, tmp_path):
    # image2 reads the whole path as the pattern: "100%" (a lone %) and "%d" in a folder's
    # name made it look for other files, "No such file or directory".
    for folder in ("graded 100%", "take %d"):
        pattern = make_sequence(tmp_path / folder, [1, 2, 3])
        report = upscale_video(
            pattern, tmp_path / "out.mkv", weights=weights, progress=False, overwrite=True
        )
        assert report.frames == 3


def test_the_ffmpeg_encoder_fallback_is_not_handed_the_pattern(weights, tmp_path, pipe_plans):
    # An encoder PyAV cannot open goes to an ffmpeg process, which opened the source again
    # for its audio and subtitles: a pattern it reads as image2 from frames 0 to 4 only, so
    # f_86400.png's folder was "No such file". A sequence has nothing of the sort to copy.
    from vsr.video import ffmpeg_pipe
    from vsr.video.reader import VideoReader
    from vsr.video.writer import VideoWriter

    pattern = make_sequence(tmp_path, range(86400, 86403), name="f_{:d}.png")
    with VideoReader(pattern, input_rate=Fraction(24)) as reader:
        VideoWriter(tmp_path / "out.mkv", reader.info, 64, 48, EncodeSettings()).abort()
    arguments = ffmpeg_pipe.build_arguments(pipe_plans[0])
    inputs = [arguments[i + 1] for i, a in enumerate(arguments) if a == "-i"]
    assert inputs == ["pipe:0"] and "-map_metadata" not in arguments


def test_a_sequence_s_progress_shows_its_frame_count_not_an_estimate(tmp_path):
    # image2 states no count: progress said "of ~5" for the 5 files the listing had found.
    from vsr.video.reader import VideoReader

    pattern = make_sequence(tmp_path, range(7, 12))
    with VideoReader(pattern, input_rate=Fraction(24)) as reader:
        assert reader.info.frames_to_expect() == (5, False)


def test_an_exr_sequence_says_that_values_outside_0_to_1_are_clipped(tmp_path):
    # Scene-linear EXR plates hold highlights above 1.0; the 16-bit integer planes the
    # network takes clip them (and negatives), which went unsaid.
    from vsr.video.reader import FLOAT_CLIPPED_NOTE, VideoReader

    with av.open(str(tmp_path / "p_%02d.exr"), "w", format="image2") as out:
        stream = out.add_stream("exr", rate=1)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "gbrpf32le"
        for _ in range(2):
            frame = av.VideoFrame(WIDTH, HEIGHT, "gbrpf32le")
            for plane in frame.planes:
                values = np.frombuffer(plane, dtype=np.float32)
                values[:] = np.linspace(-1, 4, values.size, dtype=np.float32)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    with VideoReader(str(tmp_path / "p_%02d.exr")) as reader:
        assert FLOAT_CLIPPED_NOTE in reader.warnings
        assert max(int(plane.max()) for plane in next(reader.frames()).planes) == 65535


def test_a_palette_sequence_is_read_as_its_colours(tmp_path):
    # swscale cannot write pal8, in which white was made to see how it comes through:
    # "Operation not supported", a traceback, for palette PNG, BMP and TIFF frames alike.
    from PIL import Image

    from vsr.video.reader import VideoReader

    colours = [np.random.default_rng(n).integers(0, 256, (16, 16, 3), np.uint8) for n in (1, 2)]
    colours[0][0, 0] = 255  # white among them
    for number, picture in enumerate(colours):
        Image.fromarray(picture).quantize(64).save(tmp_path / f"p_{number}.png")
    wanted = [np.asarray(Image.open(tmp_path / f"p_{n}.png").convert("RGB")) for n in (0, 1)]
    with VideoReader(str(tmp_path / "p_%d.png")) as reader:
        assert reader.info.rgb_planes and reader.info.source_pix_fmt == "pal8"
        got = [np.stack(frame.planes, axis=-1)[..., [2, 0, 1]] for frame in reader.frames()]
    assert len(got) == 2 and all(map(np.array_equal, got, wanted))


def test_a_sequence_with_an_empty_file_is_refused_naming_it(weights, tmp_path, capsys):
    # image2 stops at an empty file as at a gap: 3 of 8 frames were written, exit 0, with
    # a note of 5 frames that "could not be decoded" and no file named.
    pattern = make_sequence(tmp_path, range(8), name="f_{:d}.png")
    (tmp_path / "f_3.png").write_bytes(b"")
    output = tmp_path / "out.mkv"
    assert main(["run", pattern, str(output), "--weights", str(weights)]) == 2
    assert capsys.readouterr().err == (
        f"vsr: error: {pattern}: 1 of the sequence's 8 frames is an empty file (f_3.png): "
        "replace it (the frames after it would not be read)\n"
    )
    assert not output.exists()


def test_transparency_that_first_comes_after_the_first_frame_is_named(tmp_path):
    # Only the first frame was looked at: an RGBA sequence clear in part from its second
    # frame on was made opaque, the colours under the clear pixels shown, without a word.
    from PIL import Image

    from vsr.video.reader import VideoReader

    for number in range(3):
        rgba = np.full((16, 16, 4), 255, np.uint8)
        rgba[..., 1] = 100
        if number:
            rgba[:, :8, 3] = 0
        Image.fromarray(rgba).save(tmp_path / f"a_{number}.png")
    with VideoReader(str(tmp_path / "a_%d.png")) as reader:
        assert not [w for w in reader.warnings if "transparent" in w]
        assert len(list(reader.frames())) == 3
    told = [w for w in reader.warnings if "transparent" in w]
    assert told == [
        "the video has transparent parts (from frame 2), which the output cannot keep: it "
        "is opaque, showing the colours stored under them"
    ]
