"""Mistakes an audit of the command line found ending in a traceback or a misleading line;
each is now one `vsr: error: ...` line, exit 2, with nothing written."""

import argparse
import pickle
from pathlib import Path

import av
import pytest
from media import make_clip
from PIL import Image

from vsr.cli import build_parser, main
from vsr.pipelines import load_preset


def _one_error_line(capsys) -> str:
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("vsr: error: ")
    return line.removeprefix("vsr: error: ")


@pytest.mark.parametrize("flag", ["--weights", "--pipeline"])
def test_a_folder_given_for_a_file_is_called_a_folder(tmp_path, flag, capsys):
    # Was "weights file not found" or "pipeline file ... not found".
    make_clip(tmp_path / "in.mp4", 16, 16, frames=2, audio=False)
    argv = ["run", str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4"), flag, str(tmp_path)]
    assert main(argv) == 2
    assert _one_error_line(capsys).startswith(f"{tmp_path} is a folder; give a")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"steps = \xff\xfe\n", "is not valid TOML"), (None, "is a folder; give the config's")],
)
def test_a_training_config_that_is_no_text_or_a_folder(tmp_path, content, message, capsys):
    # Were a UnicodeDecodeError and an IsADirectoryError traceback.
    config = tmp_path / "config.toml"
    if content is None:
        config.mkdir()
    else:
        config.write_bytes(content)
    assert main(["train", "--config", str(config)]) == 2
    assert message in _one_error_line(capsys)


def test_a_pipeline_and_a_training_recipe_saved_with_a_byte_order_mark_are_read(tmp_path):
    # Notepad's "UTF-8 with BOM" and PowerShell 5's Set-Content -Encoding UTF8 were refused:
    # "pipeline bom.toml: not valid TOML (Invalid statement (at line 1, column 1))".
    from vsr.pipelines import load_preset
    from vsr.train.config import load_config

    pipeline, recipe = tmp_path / "bom.toml", tmp_path / "recipe.toml"
    pipeline.write_bytes(b"\xef\xbb\xbfcrf = 22\r\n")
    recipe.write_bytes(b'\xef\xbb\xbfsteps = 7\ntrain_dir = "hr"\n')
    (tmp_path / "hr").mkdir()
    assert load_preset(str(pipeline)).crf == 22
    assert load_config(recipe).steps == 7


def test_a_scale_below_one_for_a_profiled_model_is_refused(capsys):
    # --scale 0 profiled x2 without a word.
    assert main(["profile", "--model", "imdn", "--scale", "0", "--size", "32x32"]) == 2
    assert _one_error_line(capsys) == "--scale must be a whole number >= 1, not 0"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["run", "in.mp4", "out.mp4", "--scale", "0"],
            "--scale must be a positive number, not 0.0",
        ),
        (
            ["run", "in.mp4", "out.mp4", "--height", "0"],
            "--height must be a whole number of pixels",
        ),
        (["run", "in.mp4", "out.mp4", "--batch", "0"], "--batch must be at least 1, not 0"),
        (
            ["image", "in.png", "out.png", "--scale", "0"],
            "--scale must be a whole number >= 1, not",
        ),
        (["eval", "Set5", "--scale", "0"], "--scale must be a whole number >= 1, not 0"),
        (
            ["viz", "feature-maps", "in.png", "--block", "1", "-o", "m.png", "--scale", "0"],
            "--scale",
        ),
    ],
)
def test_a_value_refused_by_the_api_names_the_flag(tmp_path, monkeypatch, capsys, argv, said):
    # Were "scale must be a positive number, not 0.0", "height must be a whole number of
    # pixels >= 1" and "scale must be a whole number >= 1, not 0": the API's keywords.
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "in.mp4", 16, 16, frames=2, audio=False)
    (tmp_path / "Set5" / "HR").mkdir(parents=True)
    for picture in (tmp_path / "in.png", tmp_path / "Set5" / "HR" / "a.png"):
        Image.new("RGB", (8, 8)).save(picture)
    assert main([*argv, "--device", "cpu"]) == 2
    assert _one_error_line(capsys).startswith(said)


def test_a_value_that_starts_with_a_dash_is_explained(capsys):
    # argparse reads -5x10 as an option and says only "expected one argument".
    assert main(["profile", "--size", "-5x10"]) == 2
    assert "('-5x10' looks like an option; write --size=-5x10)" in _one_error_line(capsys)
    assert main(["profile", "--size=-5x10"]) == 2  # then the value itself is judged
    assert _one_error_line(capsys).startswith("size '-5x10' not understood")
    for missing in (["--start"], ["--start", "--overwrite"]):  # really missing: no hint
        assert main(["run", "in.mp4", "out.mp4", *missing]) == 2
        assert _one_error_line(capsys).startswith("argument --start: expected one argument (see:")


def test_a_folder_without_clips_is_a_mistake_that_leaves_nothing(tmp_path, capsys):
    # Exited 0 ("0 done, 0 skipped, 0 failed") after making the output folder, where
    # `vsr image` on a folder without images says so and exits 2.
    (tmp_path / "empty" / "holiday").mkdir(parents=True)
    make_clip(tmp_path / "empty" / "holiday" / "a.mp4", 16, 16, frames=2, audio=False)
    report = tmp_path / "run.json"
    argv = ["run", str(tmp_path / "empty"), str(tmp_path / "out"), "--report", str(report)]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("vsr: note: 1 subfolder(s) of ")  # why the clip was not taken
    assert lines[-1].startswith(f"vsr: error: no video clips in {tmp_path / 'empty'} (looked for")
    assert not (tmp_path / "out").exists()
    assert not report.exists()


def test_a_folder_of_only_hidden_clips_says_they_were_left_out(tmp_path, capsys):
    (tmp_path / "clips").mkdir()
    make_clip(tmp_path / "clips" / ".a.mp4", 16, 16, frames=2, audio=False)
    assert main(["run", str(tmp_path / "clips"), str(tmp_path / "out")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"vsr: error: no video clips in {tmp_path / 'clips'} (looked for")
    assert last.endswith(") (1 hidden file(s) left out: .a.mp4)")


@pytest.mark.parametrize("relative_input", [True, False])
def test_an_output_folder_that_is_the_input_spelled_otherwise_is_refused(
    tmp_path, monkeypatch, capsys, relative_input
):
    # `vsr run clips /abs/clips` was no mistake: every clip "skipped (output exists)", exit 0,
    # nothing done.
    monkeypatch.chdir(tmp_path)
    Path("clips").mkdir()
    make_clip(Path("clips/a.mp4"), 16, 16, frames=2, audio=False)
    before = Path("clips/a.mp4").read_bytes()
    spellings = ["clips", str(tmp_path / "clips")]
    given = spellings if relative_input else spellings[::-1]
    for overwrite in ([], ["--overwrite"]):
        assert main(["run", *given, "--report", "run.json", *overwrite]) == 2
        assert _one_error_line(capsys) == (
            "OUTPUT folder is the INPUT folder; outputs would overwrite the clips"
        )
    assert sorted(p.name for p in Path("clips").iterdir()) == ["a.mp4"]
    assert Path("clips/a.mp4").read_bytes() == before
    assert not Path("run.json").exists()


def test_a_refused_folder_run_writes_no_report(tmp_path, capsys):
    # The report of a run refused before any clip (OUTPUT a file) was written all the same.
    (tmp_path / "clips").mkdir()
    make_clip(tmp_path / "clips" / "a.mp4", 16, 16, frames=2, audio=False)
    (tmp_path / "taken").write_bytes(b"not a folder")
    report = tmp_path / "run.json"
    argv = ["run", str(tmp_path / "clips"), str(tmp_path / "taken"), "--report", str(report)]
    assert main(argv) == 2
    assert _one_error_line(capsys).endswith("is a file; a folder INPUT needs a folder OUTPUT")
    assert not report.exists()


def test_a_memory_budget_under_a_byte_names_the_flag(tmp_path, capsys):
    # Was "max_memory must be ...": the API's keyword, to a command line user.
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    assert main(["run", str(source), str(tmp_path / "out.mp4"), "--max-memory", "0.4"]) == 2
    # And then "not 0", where 0.4 was typed: the size is refused as typed.
    assert _one_error_line(capsys) == (
        "--max-memory '0.4' is less than a byte; write e.g. 8GiB or 512MiB"
    )
    assert list(tmp_path.iterdir()) == [source]
    # "1.5" was a budget of 1 byte, taken without a word.
    assert main(["run", str(source), str(tmp_path / "out.mp4"), "--max-memory", "1.5"]) == 2
    assert _one_error_line(capsys) == (
        "--max-memory '1.5' is not a whole number of bytes; write e.g. 8GiB or 512MiB"
    )
    assert list(tmp_path.iterdir()) == [source]


@pytest.mark.parametrize(
    ("written", "refusal"),
    [
        ("0", "max_memory must be a size of at least 1 byte, not 0"),
        ('"0.4"', "max_memory '0.4' is less than a byte; write e.g. 8GiB or 512MiB"),
        ("-5", "max_memory must be a size of at least 1 byte, not -5"),
    ],
)
def test_a_pipeline_s_memory_budget_under_a_byte_names_the_pipeline(
    tmp_path, capsys, written, refusal
):
    # Was "--max-memory must be a number of bytes > 0, not 0", a flag never given.
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(f"max_memory = {written}\n")
    argv = ["run", str(source), str(tmp_path / "out.mp4"), "--pipeline", str(pipeline)]
    assert main(argv) == 2
    assert _one_error_line(capsys) == f"pipeline {pipeline}: {refusal}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "p.toml"]


def test_a_pipeline_s_values_for_its_codec_leave_a_webm_output_s_own_codec_alone(tmp_path):
    # crf = 60 is out of x264's range, but a .webm output is encoded with VP9 (0 to 63),
    # which takes it, as it did before the file's values were checked up front: the run
    # was refused as "crf 60: libx264 takes 0 to 51".
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    pipeline = tmp_path / "p.toml"
    pipeline.write_text("crf = 60\n")
    argv = ["run", str(source), str(tmp_path / "out.webm"), "--pipeline", str(pipeline)]
    assert main([*argv, "--quiet"]) == 0
    with av.open(str(tmp_path / "out.webm")) as written:
        assert written.streams.video[0].codec_context.name == "vp9"
        assert sum(1 for _ in written.decode(video=0)) == 2


def load_preset_with_budget(size: str) -> int:
    """The max_memory of a pipeline file p.toml (in the working folder) stating `size`."""
    Path("p.toml").write_text(f'max_memory = "{size}"\n')
    return load_preset("p.toml").max_memory


def test_a_too_small_budget_s_error_is_the_same_after_a_trip_between_processes(
    tmp_path, monkeypatch
):
    # Pickled (a Ray worker's error, multiprocessing's), it said "; raise --max-memory" twice.
    from vsr.upscale import MemoryBudgetTooSmall

    monkeypatch.chdir(tmp_path)
    error = pickle.loads(pickle.dumps(MemoryBudgetTooSmall("the memory budget is too small")))
    assert str(error) == "the memory budget is too small; raise max_memory"
    assert error.reason == "the memory budget is too small"
    # A pipeline file's budget names the file on the way back from a worker too.
    budget = pickle.loads(pickle.dumps(load_preset_with_budget("40MiB")))
    assert (budget, budget.named) == (40 << 20, "pipeline p.toml: max_memory")


def test_a_pipeline_s_memory_budget_too_small_for_any_tiling_names_the_pipeline(tmp_path, capsys):
    # Was "...; raise --max-memory", a flag never given, for a clip and for a folder.
    source = tmp_path / "clips" / "in.mp4"
    source.parent.mkdir()
    make_clip(source, frames=2, audio=False)
    pipeline = tmp_path / "p.toml"
    pipeline.write_text('max_memory = "1KiB"\n')
    for given in (source, source.parent):
        argv = ["run", str(given), str(tmp_path / "out.mp4"), "--pipeline", str(pipeline)]
        assert main(argv) == 2
        error = _one_error_line(capsys)
        assert error.startswith(f"pipeline {pipeline}: max_memory: the memory budget (1.0 KiB)")
        assert error.endswith(" on cpu); raise it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips", "p.toml"]
    # Too small to tile a larger clip, which fails alone in a folder run: it said "raise
    # --max-memory" there, and in a Ray worker, which no caller that knew the file saw.
    pipeline.write_text('max_memory = "40MiB"\n')
    make_clip(source.parent / "large.mp4", 320, 180, frames=1, audio=False)
    argv = ["run", str(source.parent), str(tmp_path / "out"), "--pipeline", str(pipeline)]
    assert main(argv) == 1
    assert f"large.mp4: failed: pipeline {pipeline}: max_memory: the memory budget (40.0 MiB:" in (
        capsys.readouterr().err
    )
    # A --max-memory given beside the file's is the budget, and named as such.
    argv += ["--max-memory", "2KiB"]
    assert main(argv) == 2
    assert _one_error_line(capsys).endswith(
        "(2.0 KiB) is less than the network needs for "
        "its smallest windows (1024 pixels: 39.7 MiB on cpu); raise --max-memory"
    )


def test_a_pipeline_s_encoders_beyond_the_bound_name_the_pipeline(tmp_path, capsys):
    # Was "--encoders must be from 1 to 16", a flag never given (before it, no bound at all).
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    pipeline = tmp_path / "p.toml"
    pipeline.write_text("encoders = 17\n")
    argv = ["run", str(source), str(tmp_path / "out.mp4"), "--pipeline", str(pipeline)]
    assert main(argv) == 2
    assert _one_error_line(capsys) == f"pipeline {pipeline}: encoders must be at most 16, not 17"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "p.toml"]


def _assert_pipeline_refused(tmp_path, capsys, written: str, refusal: str) -> None:
    """`vsr run` with a pipeline file holding `written` ends in one error line, exit 2,
    that names the file and says `refusal`."""
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(f"{written}\n")
    argv = ["run", str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4"), "--pipeline", str(pipeline)]
    assert main(argv) == 2
    assert _one_error_line(capsys).startswith(f"pipeline {pipeline}: {refusal}")


@pytest.mark.parametrize(
    ("written", "refusal"),
    [
        ('crf = "18"', 'crf must be a whole number such as 18, not "18"'),
        ("batch = 4.0", "batch must be a whole number such as 4, not 4.0"),
        ("encoders = true", "encoders must be a whole number from 1 to 16, not true"),
        ("codec = 265", 'codec must be an encoder\'s name such as "libx265", not 265'),
        ("preset = true", 'preset must be a speed preset\'s name such as "slow", or its number'),
        ('channels_last = "yes"', 'channels_last must be true or false, not "yes"'),
        ("cuda_graphs = 1", "cuda_graphs must be true or false, not 1"),
        (
            'pix_fmt = ["yuv420p"]',
            'pix_fmt must be a pixel format such as "yuv420p10le", not a list',
        ),
        ('precision = "FP16"', 'precision must be one of fp32, fp16, bf16, not "FP16"'),
    ],
)
def test_a_pipeline_s_value_of_the_wrong_kind_is_told_what_the_key_takes(
    tmp_path, capsys, written, refusal
):
    # "crf must be a int", "channels_last must be a bool": Python's names for TOML's values.
    _assert_pipeline_refused(tmp_path, capsys, written, refusal)


@pytest.mark.parametrize(
    ("written", "refusal"),
    [
        ('pix_fmt = "yuv420p12xx"', "pix_fmt yuv420p12xx: vsr encodes planar YUV (e.g. yuv420p,"),
        ('pix_fmt = "yuvj420p"', "pix_fmt yuvj420p: that is yuv420p in full range;"),
        ('codec = "libx265x"', "unknown video codec 'libx265x'; did you mean libx265"),
        (
            'crf = 18\n[options]\ncrf = "30"',
            'crf = 18 and [options] crf = "30" both set crf: give one of them',
        ),
        (
            'preset = "slow"\n[options]\npreset = "fast"',
            'preset = "slow" and [options] preset = "fast" both set preset: give one of them',
        ),
        # Were "crf 99: libx264 takes 0 to 51" and "libx264 has no preset ...", as if typed.
        ("crf = 99", "crf 99: libx264 takes 0 to 51"),
        ('preset = "superfast2"', "libx264 has no preset 'superfast2'; its presets: ultrafast,"),
        # Was a note "ffv1 has no crf option; --crf ignored", though the file names FFV1.
        ('codec = "ffv1"\ncrf = 10', "crf = 10, but ffv1 has no crf"),
        ('codec = "ffv1"\npreset = "slow"', 'preset = "slow", but ffv1 has no preset'),
        # Were "libx264 has no option batch (check -e KEY=VALUE)", an -e nobody gave.
        (
            "[options]\nbatch = 4\npix_fmt = 1",
            "[options] batch, pix_fmt: libx264 has no such option; batch, pix_fmt are fields of "
            "the file itself, written above [options]",
        ),
        ('[options]\nfoo = "1"', "[options] foo: libx264 has no such option"),
        # The same values in [options]: were "crf 99: libx264 takes 0 to 51", and so on.
        ('[options]\ncrf = "99"', "crf 99: libx264 takes 0 to 51"),
        ('[options]\ntune = "bogus"', "libx264 has no tune 'bogus'; its tunes: film,"),
        ("batch = 0", "batch must be at least 1, not 0"),
        ("encoders = 0", "encoders must be at least 1, not 0"),
    ],
)
def test_a_pipeline_s_bad_value_is_blamed_on_the_file_and_its_key(
    tmp_path, capsys, written, refusal
):
    # Were "--pix-fmt yuv420p12xx: ...", a flag nobody gave; "settings crf=18 and
    # options['crf']='30' both set crf", the API's words; and "unknown video codec", the
    # file never named.
    _assert_pipeline_refused(tmp_path, capsys, written, refusal)
    crf_and_preset_agree = tmp_path / "same.toml"  # the same setting twice is no conflict
    crf_and_preset_agree.write_text('crf = 18\npreset = "slow"\n[options]\ncrf = "18.0"\n')
    assert load_preset(str(crf_and_preset_agree)).options == {"crf": "18.0"}


def test_a_pipeline_numbers_svt_av1_s_preset_as_the_flag_does(tmp_path):
    # preset = 8 was refused ("preset must be a str") where --preset 8 works.
    from vsr.commands.run import _settings_and_model_options

    def settings(*flags: str):
        args = build_parser().parse_args(["run", "in.mp4", "out.mkv", *flags])
        return _settings_and_model_options(args)[0]

    pipeline = tmp_path / "av1.toml"
    pipeline.write_text('codec = "libsvtav1"\ncrf = 30\npreset = 8\n')
    from_file = settings("--pipeline", str(pipeline))
    from_flags = settings("--codec", "libsvtav1", "--crf", "30", "--preset", "8")
    assert (from_file.codec, from_file.crf, from_file.preset) == ("libsvtav1", 30, "8")
    assert (from_flags.codec, from_flags.crf, from_flags.preset) == ("libsvtav1", 30, "8")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["--crf", "20", "-e", "crf=30"], "--crf 20 and -e crf=30 both set crf: give one of them"),
        (["--preset", "fast", "-e", "preset=slow"], "--preset fast and -e preset=slow both set"),
        (["-e", "crf=20", "-e", "crf=30"], "-e crf=20 and -e crf=30: give crf once"),
    ],
)
@pytest.mark.parametrize("command", ["run", "bench"])
def test_a_setting_given_twice_is_refused(tmp_path, capsys, command, given, message):
    # The last one won without a word: --crf 20 -e crf=30 encoded at crf 30.
    make_clip(tmp_path / "in.mp4", 16, 16, frames=2, audio=False)
    files = [str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4")] if command == "run" else []
    assert main([command, *files, *given, "--device", "cpu"]) == 2
    assert _one_error_line(capsys).startswith(message)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("option", ["=film", "tune"])
@pytest.mark.parametrize("command", ["run", "bench"])
def test_an_encoder_option_without_its_key_or_its_value_is_refused(
    tmp_path, capsys, monkeypatch, command, option
):
    # "=film" passed as an option of no name, to fail at the encoder, or not at all.
    monkeypatch.chdir(tmp_path)
    files = ["in.mp4", "out.mp4"] if command == "run" else []
    assert main([command, *files, "-e", option]) == 2
    assert _one_error_line(capsys) == (
        f"argument -e: expected key=value, not '{option}' (see: vsr {command} --help)"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("words", "flag", "first", "second"),
    [
        (["run", "in.mp4", "out.mp4"], "--crf", "20", "30"),
        (["run", "in.mp4", "out.mp4"], "--codec", "libx265", "libx264"),
        (["run", "in.mp4", "out.mp4"], "--scale", "2", "3"),
        (["image", "in.png", "out.png"], "--scale", "2", "3"),
        (["eval", "Set5"], "--weights", "IMDN_x2", "IMDN_x3"),
        (["bench"], "--codec", "libx264", "libx265"),
        (["profile"], "--size", "32x32", "64x64"),
        (["train"], "--steps", "1", "2"),
        (["report", "r.json"], "--output", "a.html", "b.html"),
        (["viz", "feature-maps", "in.png"], "--block", "1", "2"),
    ],
)
def test_an_option_given_twice_with_two_values_is_refused(
    tmp_path, capsys, monkeypatch, words, flag, first, second
):
    # `--crf 20 --crf 30` encoded at crf 30, `--scale 2 --scale 3` upscaled x3, without a word.
    monkeypatch.chdir(tmp_path)
    assert main([*words, flag, first, flag, second]) == 2
    assert _one_error_line(capsys) == (
        f"{flag} {first} and {flag} {second}: give {flag} once (see: vsr {words[0]}"
        f"{' ' + words[1] if words[0] == 'viz' else ''} --help)"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_option_given_twice_with_one_value_is_taken(tmp_path, capsys):
    # A script adding a flag the user also gave is no conflict; -e gathers its values, and
    # the same value by a flag and by -e, or twice by -e, is no conflict either.
    make_clip(tmp_path / "in.mp4", 16, 16, frames=2, audio=False)
    run = ["run", str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4"), "--device", "cpu"]
    given = ["--crf", "20", "--crf", "20", "-e", "crf=20", "-e", "preset=fast", "--quiet"]
    given += ["-e", "tune=film", "-e", "tune=film"]
    assert main([*run, *given]) == 0
    assert (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(
    ("command", "url"),
    [
        ("run", "https://example.com/a.mp4"),
        ("run", "rtsp://cam.local/stream"),
        ("image", "https://example.com/a.png"),
    ],
)
def test_a_url_is_said_to_be_one(tmp_path, capsys, command, url):
    # Was "https:/example.com/a.mp4: no such file", pathlib having folded the "//".
    assert main([command, url, str(tmp_path / "out.mkv")]) == 2
    assert _one_error_line(capsys) == f"{url}: vsr reads local files, not URLs; download it first"


def test_only_a_scheme_of_two_letters_or_more_that_names_no_local_file_is_a_url(
    tmp_path, monkeypatch
):
    # "c:/a.mp4" is a Windows drive's path, and "http:/a.mp4" may be a folder "http:" here.
    from vsr.errors import VsrError
    from vsr.url_input import refuse_a_url

    monkeypatch.chdir(tmp_path)
    (tmp_path / "http:").mkdir()
    (tmp_path / "http:" / "a.mp4").write_bytes(b"")
    refuse_a_url("http:/a.mp4")
    refuse_a_url("c:/a.mp4")
    with pytest.raises(VsrError, match=r"^http://b\.mp4: vsr reads local files, not URLs"):
        refuse_a_url("http:/b.mp4")


@pytest.mark.parametrize("output", ["seq.mp4", "seqdir"])
def test_a_folder_of_numbered_frames_is_told_how_it_is_read(tmp_path, capsys, output):
    # Was "seq.mp4 looks like a file name; a folder INPUT needs a folder OUTPUT", then, as
    # told, "no video clips in frames (looked for ...)", and nothing of the two ways in.
    from PIL import Image

    frames = tmp_path / "frames"
    frames.mkdir()
    for number in (1, 2, 3):
        Image.new("RGB", (8, 6)).save(frames / f"f_{number:04d}.png")
    assert main(["run", str(frames), str(tmp_path / output)]) == 2
    assert _one_error_line(capsys).endswith(
        f"; it holds 3 picture(s): `vsr run '{frames}/f_%04d.png' OUT.mp4` reads them as one "
        f"clip, `vsr image {frames} OUT/` upscales them as pictures"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


@pytest.mark.parametrize(
    ("names", "pattern"),
    [
        (["cam2_0001_left.png", "cam2_0002_left.png"], "cam2_%04d_left.png"),  # the last number
        (["f_0.png", "f_1.png"], "f_%d.png"),  # a lone 0 is no zero padding
        (["f_0001.png"], None),  # one picture is no clip
        (["f_0001.png", "f_0002.png/"], None),  # a folder named as a picture is none
    ],
)
def test_the_pattern_told_for_a_folder_of_frames_names_its_last_number(
    tmp_path, capsys, names, pattern
):
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in names:
        if name.endswith("/"):
            (frames / name).mkdir()
        else:
            Image.new("RGB", (8, 6)).save(frames / name)
    pictures = sum(not name.endswith("/") for name in names)
    assert main(["run", str(frames), str(tmp_path / "out.mp4")]) == 2
    as_clip = f"`vsr run '{frames}/{pattern}' OUT.mp4` reads them as one clip, " if pattern else ""
    assert _one_error_line(capsys).endswith(
        f"; it holds {pictures} picture(s): {as_clip}`vsr image {frames} OUT/` upscales them "
        "as pictures"
    )


def _options_that_take_a_value(parser, words=()):
    """(the words that reach a (sub)command, its long option name) for every option of
    every command that takes a value."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options_that_take_a_value(sub, (*words, name))
        elif action.option_strings and action.nargs != 0:
            yield words, max(action.option_strings, key=len)


@pytest.mark.parametrize(
    ("words", "flag"), list(_options_that_take_a_value(build_parser())), ids=str
)
def test_an_empty_value_of_any_option_is_refused_by_name(words, flag, capsys, tmp_path):
    # `--size "$SIZE"` with SIZE unset: `vsr run --size ''` upscaled x2, `--codec ''`,
    # `--preset ''`, `bench --precision ''` and the like took "" for the default.
    assert main([*words, flag, ""]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"{flag} is empty (an unset variable?); give ")
    assert line.endswith(f"(see: vsr {' '.join(words)} --help)")
    assert main([*words, f"{flag}="]) == 2  # the same given with =
    assert _one_error_line(capsys).startswith(f"{flag} is empty")


def test_an_empty_option_is_told_to_be_left_out_only_where_it_may_be(capsys):
    assert main(["run", "in.mp4", "out.mp4", "--size", ""]) == 2
    assert _one_error_line(capsys) == (
        "--size is empty (an unset variable?); give it a value, or leave it out "
        "(see: vsr run --help)"
    )
    assert main(["report", "a.json", "-o", ""]) == 2  # -o is required
    assert _one_error_line(capsys) == (
        "--output is empty (an unset variable?); give it a value (see: vsr report --help)"
    )


def _arguments(parser, words=()):
    """(the words that reach a (sub)command, how many arguments come before, the name of
    the next) for every positional argument of every command, the command names too."""
    positionals = [a for a in parser._actions if not a.option_strings]
    for before, action in enumerate(positionals):
        yield words, before, action.metavar or action.dest.upper()
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _arguments(sub, (*words, name))


@pytest.mark.parametrize(("words", "before", "name"), list(_arguments(build_parser())), ids=str)
def test_an_empty_argument_of_any_command_is_refused_by_name(
    words, before, name, capsys, tmp_path, monkeypatch
):
    # `vsr run in.mp4 "$OUT"` with OUT unset took "" for the working folder and wrote
    # ./in.mp4; `vsr eval ""` evaluated the working folder.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.mp4").write_bytes(b"")
    assert main([*words, *["in.mp4"] * before, ""]) == 2
    assert _one_error_line(capsys).startswith(f"{name} is empty (an unset variable?)")
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]


@pytest.mark.parametrize(
    ("written", "flags", "in_the_header"),
    [
        # The file's crf, out of x264's range, is replaced by -e crf: not checked, and not
        # set beside it (which was "both set crf").
        ("crf = 99", ["-e", "crf=20"], b"crf=20.0"),
        # A preset x264 lacks is replaced by --preset: not blamed on the file.
        ('preset = "bogus"', ["--preset", "ultrafast"], b"subme=0"),
    ],
)
def test_a_pipeline_s_value_a_flag_replaces_is_not_checked(tmp_path, written, flags, in_the_header):
    source = tmp_path / "in.mp4"
    make_clip(source, frames=2, audio=False)
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(f"{written}\n")
    out = tmp_path / "out.mp4"
    argv = ["run", str(source), str(out), "--pipeline", str(pipeline), "--quiet", *flags]
    assert main([*argv, "--device", "cpu"]) == 0
    with av.open(str(out)) as container:
        assert in_the_header in bytes(next(container.demux(video=0)))


@pytest.mark.parametrize(
    ("request_", "target"),
    [(["--scale", "3"], "x3"), (["--scale", "2.5"], "x2.5"), (["--size", "96x72"], "96x72")],
)
def test_weights_that_cannot_reach_a_request_are_told_it_as_it_was_asked(
    tmp_path, capsys, request_, target
):
    # --scale 3 was told as a size ("cannot reach 96x72"), where vsr image and the API
    # (and README) say "cannot reach x3".
    source = tmp_path / "in.mp4"
    make_clip(source, 32, 24, frames=2, audio=False)
    argv = ["run", str(source), str(tmp_path / "out.mp4"), "--weights", "vsr_imdn_x2"]
    assert main([*argv, *request_]) == 2
    assert _one_error_line(capsys) == (
        f"these weights upscale x2, which cannot reach {target}; use x3 weights"
    )
    assert sorted(tmp_path.iterdir()) == [source]


def test_a_folder_run_refuses_a_bad_time_range_before_any_clip(tmp_path, capsys):
    # Checked at each clip instead, every clip failed with it in turn (exit 1).
    (tmp_path / "clips").mkdir()
    make_clip(tmp_path / "clips" / "a.mp4", 16, 16, frames=2, audio=False)
    argv = ["run", str(tmp_path / "clips"), str(tmp_path / "out"), "--end", "1", "--duration", "1"]
    assert main(argv) == 2
    assert capsys.readouterr().err == "vsr: error: give an end or a duration, not both\n"
    assert not (tmp_path / "out").exists()
