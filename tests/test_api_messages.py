"""What the API's refusals tell a caller who passed keywords, not flags: the checks are the
command line's too, so a message names an option as its reader gave it (vsr.errors.option):
the flag on the command line, the keyword to an API caller."""

from __future__ import annotations

import pytest
import torch
from media import make_clip, make_interlaced_clip, make_raw_stream

import vsr
from vsr.cli import main
from vsr.errors import option, speaking_to_the_command_line
from vsr.upscale import resolve_device


def test_option_names_the_keyword_to_the_api_and_the_flag_to_the_command_line():
    assert option("--input-rate") == "input_rate"
    assert option("--resume", True) == "resume=True"
    assert option("--no-compile", False) == "compile=False"
    assert option("--device", "cpu") == "device='cpu'"
    with speaking_to_the_command_line():
        assert option("--input-rate") == "--input-rate"
        assert option("--resume", True) == "--resume"
        assert option("--no-compile", False) == "--no-compile"
        assert option("--device", "cpu") == "--device cpu"
        assert option("--input-rate", metavar="RATE") == "--input-rate RATE"
        assert option("--preset", setting=True) == "--preset"
        assert option("--pix-fmt", "yuv420p", setting=True) == "--pix-fmt yuv420p"
    assert option("--resume", True) == "resume=True"  # as it was after the command
    assert option("--input-rate", metavar="RATE") == "input_rate"
    # The API takes the encoder's choices in settings=EncodeSettings(...), not as keywords.
    assert option("--preset", setting=True) == "settings=EncodeSettings(preset=...)"
    assert option("--pix-fmt", "yuv420p", setting=True) == (
        "settings=EncodeSettings(pix_fmt='yuv420p')"
    )


def test_one_mistake_is_told_in_the_terms_of_each_caller(weights, tmp_path, capsys):
    # The command line's refusal had become "--input-rate (input_rate=) is for ...".
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    argv = [str(source), str(tmp_path / "out.mkv"), "--weights", str(weights)]
    assert main(["run", *argv, "--input-rate", "30"]) == 2
    assert f"vsr: error: {source}: --input-rate is for raw video" in capsys.readouterr().err
    with pytest.raises(vsr.VsrError, match=r"in.mp4: input_rate is for raw video"):
        vsr.upscale_video(source, tmp_path / "out.mkv", weights=weights, input_rate=30)


def test_api_refusals_name_the_keyword_the_caller_passed(weights, tmp_path, monkeypatch):
    # Was "...; pass --weights FILE or a name from `vsr weights list`" (here an install
    # without the project's weights).
    monkeypatch.setattr("vsr.weights.WEIGHTS_DIR", tmp_path / "no weights")
    with pytest.raises(vsr.VsrError, match=r"no default weights for x3") as refused:
        vsr.load_model(scale=3)
    assert "give weights a file or a name" in str(refused.value)
    monkeypatch.undo()
    # A scale no network reaches is said as vsr run says it, not as weights missing.
    with pytest.raises(vsr.VsrError, match=r"^scale 5 is larger than the largest network"):
        vsr.load_model(scale=5)

    source, output = tmp_path / "in.mp4", tmp_path / "out.mkv"
    make_clip(source, frames=2, audio=False)
    # Was "in.mp4: --input-rate is for raw video streams ...".
    with pytest.raises(vsr.VsrError, match=r"input_rate is for raw video"):
        vsr.upscale_video(source, output, weights=weights, input_rate=30, progress=False)
    # Was "OUTPUT is the same file as INPUT": there are no such names in a call.
    with pytest.raises(vsr.VsrError) as refused:
        vsr.upscale_video(source, source, weights=weights, progress=False)
    assert str(refused.value) == f"{source} is the input file itself; choose another output path"
    # Were "the report ... would replace the INPUT video" and "give a folder OUTPUT".
    with pytest.raises(vsr.VsrError, match=r"would replace the input video; name another file"):
        vsr.upscale_video(source, output, weights=weights, report=source, progress=False)
    with pytest.raises(vsr.VsrError, match=r"is a folder; upscale_video takes one clip \(`vsr"):
        vsr.upscale_video(tmp_path, output, weights=weights, progress=False)
    with pytest.raises(vsr.VsrError, match=r"not with deinterlace='off'"):
        vsr.upscale_video(source, output, field_rate=True, deinterlace="off", progress=False)
    assert not output.exists()


def test_the_api_refuses_more_encoders_than_the_command_line_takes_before_any_work(tmp_path):
    # Checked only by the writer, encoders=17 was refused once the clip was opened, after the
    # work before it; a missing input was then the error, not the count.
    with pytest.raises(vsr.VsrError) as refused:
        vsr.upscale_video(tmp_path / "missing.mp4", tmp_path / "out.mkv", encoders=17)
    assert str(refused.value).startswith("encoders must be from 1 to 16, not 17 (")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target", [{"height": 72}, {"size": (128, 72)}])
def test_a_scale_given_with_a_size_or_height_is_refused(weights, tmp_path, target):
    # The size or height won without a word: scale=4, height=72 of a 64x48 clip made x1.5.
    source, output = tmp_path / "in.mp4", tmp_path / "out.mkv"
    make_clip(source, frames=2, audio=False)
    with pytest.raises(vsr.VsrError, match=r"^give only one of scale, size and height$"):
        vsr.upscale_video(source, output, weights=weights, scale=4, progress=False, **target)
    assert not output.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for CUDA where there is none")
def test_no_cuda_names_the_device_keyword():
    with pytest.raises(vsr.VsrError, match=r"use the CPU \(device='cpu'\)"):
        resolve_device("cuda")


def test_an_input_rate_left_unapplied_is_named_as_the_caller_gave_it(weights, tmp_path):
    # The note was a text fixed at import, "--input-rate was not applied", also to a caller
    # who passed input_rate= with input_rate_raw_only=True.
    source = tmp_path / "timed.mp4"
    make_clip(source, frames=2, audio=False)
    report = vsr.upscale_video(
        source,
        tmp_path / "out.mkv",
        weights=weights,
        input_rate=30,
        input_rate_raw_only=True,
        progress=False,
    )
    assert "input_rate was not applied: this clip times its own frames" in report.notes[0]
    assert not any("--input-rate" in note for note in report.notes)


def test_a_command_that_ends_first_leaves_the_others_speaking_to_the_command_line(
    weights, tmp_path, capsys, monkeypatch
):
    # Each main() put back the state it had found: of two commands on threads of one
    # process, the one begun first and ended first left the other naming keywords.
    import threading

    from vsr import runner

    inside = {name: threading.Event() for name in ("a.mp4", "b.mp4")}
    go_on = {name: threading.Event() for name in ("a.mp4", "b.mp4")}
    check_paths = runner.check_clip_paths

    def held(source, *args, **kwargs):
        inside[source.name].set()
        assert go_on[source.name].wait(30)
        return check_paths(source, *args, **kwargs)

    monkeypatch.setattr(runner, "check_clip_paths", held)
    codes: dict[str, int] = {}

    def run(name: str) -> threading.Thread:
        make_clip(tmp_path / name, frames=2, audio=False)
        argv = [str(tmp_path / name), str(tmp_path / f"{name}.mkv"), "--input-rate", "30"]
        argv += ["--weights", str(weights)]
        thread = threading.Thread(target=lambda: codes.update({name: main(["run", *argv])}))
        thread.start()
        assert inside[name].wait(30)
        return thread

    first, second = run("a.mp4"), run("b.mp4")
    go_on["a.mp4"].set()
    first.join(30)
    go_on["b.mp4"].set()  # after the first command has ended
    second.join(30)
    assert codes == {"a.mp4": 2, "b.mp4": 2}
    err = capsys.readouterr().err
    assert f"vsr: error: {tmp_path / 'b.mp4'}: --input-rate is for raw video" in err
    assert option("--input-rate") == "input_rate"  # and the API's again after both


def _run_both_ways(source, tmp_path, capsys, flags=(), **keywords):
    """The notes of a command-line run (vsr.cli.main, its stderr) and of an API call
    (vsr.upscale_video, its report) of one clip, asked alike."""
    weights = keywords.pop("weights")
    argv = [
        str(source),
        str(tmp_path / f"{source.stem}_cli.mkv"),
        "--weights",
        str(weights),
        *flags,
    ]
    capsys.readouterr()
    assert main(["run", *argv]) == 0
    said = capsys.readouterr().err
    report = vsr.upscale_video(
        source, tmp_path / f"{source.stem}_api.mkv", weights=weights, progress=False, **keywords
    )
    return said, report.notes


def test_notes_name_the_options_as_each_caller_gave_them(weights, tmp_path, capsys):
    # Notes named flags to API callers, who passed none: "(--input-rate RATE sets its
    # rate)", "(--deinterlace auto deinterlaces them first)".
    raw = tmp_path / "in.mjpeg"  # a raw stream that states no rate
    make_raw_stream(raw, "mjpeg", "mjpeg", 30, frames=2, pix_fmt="yuvj420p")
    said, notes = _run_both_ways(raw, tmp_path, capsys, weights=weights)
    timed = "the raw stream states no frame rate: timed at 25 fps, as ffmpeg does "
    assert f"vsr: note: {timed}(--input-rate RATE sets its rate)" in said
    assert f"{timed}(input_rate sets its rate)" in notes

    interlaced = tmp_path / "interlaced.ts"
    make_interlaced_clip(interlaced, frames=6)
    off = ["--deinterlace", "off"]
    said, notes = _run_both_ways(
        interlaced, tmp_path, capsys, off, weights=weights, deinterlace="off"
    )
    woven = (
        "the video is interlaced (6 frames): both fields of each frame were upscaled together "
        "and written as progressive frames "
    )
    assert f"vsr: note: {woven}(--deinterlace auto deinterlaces them first)" in said
    assert f"{woven}(deinterlace='auto' deinterlaces them first)" in notes


def test_encoder_advice_names_the_settings_field_to_an_api_caller(weights, tmp_path, capsys, monkeypatch):  # fmt: skip
    # "--encoders 2 (or a faster --preset)": the API has encoders=, and takes the preset in
    # settings=EncodeSettings(preset=...).
    import vsr.runner

    monkeypatch.setattr(vsr.runner, "ENCODER_BOUND_SHARE", 0.0)  # every run held back
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    said, notes = _run_both_ways(source, tmp_path, capsys, weights=weights)
    assert "--encoders 2 (or a faster --preset) would finish sooner" in said
    assert any(
        "encoders=2 (or a faster settings=EncodeSettings(preset=...)) would finish sooner" in note
        for note in notes
    )


def test_the_encoder_s_refusals_name_the_api_s_settings(weights, tmp_path):
    # Was "--pix-fmt yuvj420p: that is yuv420p in full range ..." to a caller who passed
    # settings=EncodeSettings(pix_fmt="yuvj420p").
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    output = tmp_path / "out.mkv"
    full_range = vsr.EncodeSettings(pix_fmt="yuvj420p")
    with pytest.raises(
        vsr.VsrError, match=r"^settings=EncodeSettings\(pix_fmt='yuvj420p'\): that is yuv420p"
    ):
        vsr.upscale_video(source, output, weights=weights, settings=full_range, progress=False)
    assert not output.exists()


def test_a_report_under_a_link_loop_is_refused_in_a_line_before_the_work(weights, tmp_path):
    # Path.resolve() raised RuntimeError("Symlink loop") comparing it with the clip's paths.
    source, output = tmp_path / "in.mp4", tmp_path / "out.mkv"
    make_clip(source, frames=2, audio=False)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    report = tmp_path / "loop" / "r.json"
    with pytest.raises(vsr.VsrError, match=r"loop: a link that loops"):
        vsr.upscale_video(source, output, weights=weights, report=report, progress=False)
    assert not output.exists()
