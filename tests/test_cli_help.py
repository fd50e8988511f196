"""Every command answers --help with its own usage, and a mistyped command line with one line."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "command", ["run", "image", "eval", "train", "weights", "bench", "profile", "viz", "report"]
)
def test_every_command_has_help(command, capsys):
    from vsr.cli import main

    with pytest.raises(SystemExit) as stopped:
        main([command, "--help"])
    assert stopped.value.code == 0
    assert f"usage: vsr {command}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, line",
    [
        (
            ["run", "in.mp4", "out.mp4", "--scale", "x"],
            "vsr: error: argument --scale: invalid float value: 'x' (see: vsr run --help)",
        ),
        (
            ["image", "a.png", "b.png", "--sclae", "3"],
            # A misspelt option is named as the command spells it.
            "vsr: error: unrecognized arguments: --sclae 3; did you mean --scale? "
            "(see: vsr image --help)",
        ),
        (
            ["run", "in.mp4", "out.mp4", "--precison", "fp16", "--batchs", "2"],
            "vsr: error: unrecognized arguments: --precison fp16 --batchs 2; did you mean "
            "--precision and --batch? (see: vsr run --help)",
        ),
        (["--bogus"], "vsr: error: unrecognized arguments: --bogus (see: vsr --help)"),
        # A file whose name starts with '-' was taken for an option, and the output named
        # as missing ("the following arguments are required: output").
        (
            ["run", "-dash.mp4", "out.mp4"],
            "vsr: error: '-dash.mp4' looks like an option; write ./-dash.mp4, or put it after "
            "-- (see: vsr run --help)",
        ),
        (
            ["run", "in.mp4", "-out.mp4"],
            "vsr: error: '-out.mp4' looks like an option; write ./-out.mp4, or put it after -- "
            "(see: vsr run --help)",
        ),
        (
            ["image", "in.png", "-o.png"],
            "vsr: error: '-o.png' looks like an option; write ./-o.png, or put it after -- "
            "(see: vsr image --help)",
        ),
        (
            ["run", "-dash.mp4", "in.mp4", "out.mp4"],
            "vsr: error: '-dash.mp4' looks like an option; write ./-dash.mp4, or put it after "
            "-- (see: vsr run --help)",
        ),
        (
            ["run", "in.mp4", "--qiet"],
            "vsr: error: unrecognized arguments: --qiet; did you mean --quiet? "
            "(see: vsr run --help)",
        ),
        # After --, every word is a file's name: "--quiet; did you mean --quiet?" was said.
        (
            ["run", "--", "-dash.mp4", "x.mp4", "--quiet"],
            "vsr: error: unrecognized arguments: --quiet; options go before -- (after it, "
            "every word is a file name) (see: vsr run --help)",
        ),
        (
            ["image", "--", "-a.png", "--scale", "2", "o.png"],
            "vsr: error: unrecognized arguments: 2 o.png; options go before -- (after it, "
            "every word is a file name) (see: vsr image --help)",
        ),
        (
            ["run", "--", "a.mp4", "b.mp4", "-c.mp4"],
            "vsr: error: unrecognized arguments: -c.mp4 (see: vsr run --help)",
        ),
        # Words are quoted as a shell reads them: "my clip.mp4" unquoted read as two words.
        (
            ["run", "a.mp4", "b.mp4", "my clip.mp4", "c.mp4"],
            "vsr: error: unrecognized arguments: 'my clip.mp4' c.mp4 (see: vsr run --help)",
        ),
        # A shortened name was taken for the option it starts: `bench --size 320x180` (run's
        # and profile's spelling) for --sizes, "not used by the end-to-end bench".
        (
            ["bench", "--size", "320x180"],
            "vsr: error: --size: vsr bench takes its clip's size as --width W --height H "
            "(--sizes lists the input sizes of --model-only and --pressure)",
        ),
        (
            ["bench", "--sizes", "320x180"],
            "vsr: error: --sizes: not used by the end-to-end bench; --width W --height H give "
            "its clip's size",
        ),
        (
            ["run", "in.mp4", "out.mp4", "--qui"],
            "vsr: error: unrecognized arguments: --qui; did you mean --quiet? "
            "(see: vsr run --help)",
        ),
        (
            ["bench", "--siz", "3"],  # not the hidden --size
            "vsr: error: unrecognized arguments: --siz 3; did you mean --sizes? "
            "(see: vsr bench --help)",
        ),
        # --ray [ADDRESS] took the input for its address: "required: output" alone.
        (
            ["run", "--ray", "in.mp4", "out.mp4"],
            "vsr: error: the following arguments are required: output (--ray took 'in.mp4' as "
            "its ADDRESS; write --ray=ADDRESS, or put --ray last) (see: vsr run --help)",
        ),
        (
            ["run", "in.mp4", "--ray"],
            "vsr: error: the following arguments are required: output (see: vsr run --help)",
        ),
        (  # an option given as NAME=VALUE is an option, not a misplaced word
            ["run", "--crf=20", "in.mp4"],
            "vsr: error: the following arguments are required: output (see: vsr run --help)",
        ),
        (
            ["weights", "export", "a.pt", "b.safetensors", "--bogus"],
            "vsr: error: unrecognized arguments: --bogus (see: vsr weights export --help)",
        ),
        # An option after --ray is no ADDRESS that --ray took: the output is simply missing.
        (
            ["run", "--ray", "--quiet", "in.mp4"],
            "vsr: error: the following arguments are required: output (see: vsr run --help)",
        ),
        # The .5 of a misspelt option's number is no file type: the option is near --scale.
        (
            ["run", "in.mp4", "out.mp4", "--sclae=1.5"],
            "vsr: error: unrecognized arguments: --sclae=1.5; did you mean --scale? "
            "(see: vsr run --help)",
        ),
        # run's own option, typed before the command: never "did you mean" itself.
        (
            ["--quiet", "run", "a.mp4", "b.mp4"],
            "vsr: error: unrecognized arguments: --quiet (see: vsr run --help)",
        ),
        # A short option of the command after --, though it looks like no long option.
        (
            ["run", "--", "a.mp4", "b.mp4", "-e"],
            "vsr: error: unrecognized arguments: -e; options go before -- (after it, every "
            "word is a file name) (see: vsr run --help)",
        ),
    ],
)
def test_a_mistyped_command_line_is_one_line_that_names_the_help(argv, line, capsys):
    """Like every other user mistake: one line and exit status 2, not the usage block with
    the error below it."""
    from vsr.cli import main

    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == line + "\n"
    assert captured.out == ""


def test_a_file_here_named_like_an_option_is_told_how_to_give_it(tmp_path, monkeypatch, capsys):
    # Without a suffix or a folder, "-clip" is known for a file's name by being one here.
    from vsr.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "-clip").touch()
    assert main(["run", "-clip", "out.mp4"]) == 2
    assert capsys.readouterr().err == (
        "vsr: error: '-clip' looks like an option; write ./-clip, or put it after -- "
        "(see: vsr run --help)\n"
    )


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            [],
            "vsr: error: the following arguments are required: COMMAND (run, image, eval, "
            "train, weights, bench, profile, viz, report) (see: vsr --help)",
        ),
        (
            ["weights"],
            "vsr: error: the following arguments are required: ACTION (list, download, export) "
            "(see: vsr weights --help)",
        ),
    ],
)
def test_a_missing_command_is_one_line_that_names_the_commands(argv, line, capsys):
    # Bare `vsr` printed its usage on stdout and exited 2 with nothing on stderr.
    from vsr.cli import main

    assert main(argv) == 2
    assert capsys.readouterr() == ("", line + "\n")


def test_the_command_list_names_every_weights_action(capsys):
    # `vsr --help` said "list known weights or download official ones", leaving out
    # `vsr weights export`, which the README's table lists beside them.
    from vsr.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    listing = " ".join(capsys.readouterr().out.split())
    assert "weights list known weights, download official ones, or export" in listing


def test_image_help_names_every_output_type_that_keeps_16_bits(tmp_path, capsys):
    # It said "16 bits kept in a PNG output", where a .tif output keeps them too.
    import numpy as np

    from vsr.cli import main
    from vsr.imageio import OUTPUT_EXTENSIONS, read_image, write_image

    with pytest.raises(SystemExit):
        main(["image", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    said = text.split("16 bits kept in a ", 1)[1].split(" output", 1)[0]
    named = set(said.replace(" or ", ", ").split(", "))
    pixels = np.full((2, 2, 3), 0x1234, np.uint16)  # not a multiple of 257: 8 bits lose it
    keeping = set()
    for extension in OUTPUT_EXTENSIONS:
        write_image(tmp_path / f"a{extension}", pixels)
        kept = read_image(tmp_path / f"a{extension}")
        if kept.dtype == np.uint16 and (kept == pixels).all():
            keeping.add(extension)
    assert named == keeping == {".png", ".apng", ".tif", ".tiff"}
