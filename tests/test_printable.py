"""Names from anywhere are printed with their control characters escaped (vsr.printable)."""

from __future__ import annotations

import pytest
from media import make_clip

from vsr.cli import main
from vsr.printable import name_list, printable


def test_control_characters_are_escaped_and_other_text_kept():
    assert printable("clip été 日本.mp4") == "clip été 日本.mp4"
    assert printable("c\x1b]0;PWNED\x07\x1b[2J.mp4") == "c\\x1b]0;PWNED\\x07\\x1b[2J.mp4"
    assert printable("a\nvsr: 99 done, 0 failed.mp4") == "a\\nvsr: 99 done, 0 failed.mp4"
    # A right-to-left override shows "clip\u202ekm.mp4" as "clip4pm.mk"; U+2028 breaks lines.
    assert printable("clip\u202ekm.mp4") == "clip\\u202ekm.mp4"
    assert printable("a\u2028b") == "a\\u2028b"


def test_a_folder_runs_lines_name_clips_without_their_control_characters(tmp_path, weights, capsys):
    clips = tmp_path / "in"
    clips.mkdir()
    make_clip(clips / "a\nvsr: 99 done, 0 failed (forged).mp4", 32, 24, frames=2, audio=False)
    (clips / "c\x1b[2J.mp4").write_bytes(b"not a video")
    args = ["run", str(clips), str(tmp_path / "out"), "--weights", str(weights)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert not any(line.startswith("vsr: 99 done") for line in err.splitlines())
    assert "vsr: a\\nvsr: 99 done, 0 failed (forged).mp4: 2 frames" in err
    assert "c\\x1b[2J.mp4" in err


def test_a_name_list_shows_three_escaped_names_and_says_there_are_more() -> None:
    assert name_list(["a.mp4"]) == "a.mp4"
    assert name_list(["a", "b\nvsr: done", "c"]) == "a, b\\nvsr: done, c"
    assert name_list(["a", "b", "c", "d"]) == "a, b, c, ..."


def test_the_lines_naming_an_output_escape_its_control_characters(tmp_path, weights, capsys):
    # `vsr image` and `vsr viz` printed the output name as given: a newline in it made a
    # second, forged line of their output.
    import numpy as np

    from vsr.imageio import write_image

    image = tmp_path / "in.png"
    write_image(image, np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8))
    forged = "o\nvsr: error: forged.png"
    upscaled, grid = tmp_path / f"up{forged}", tmp_path / f"grid{forged}"
    assert main(["image", str(image), str(upscaled), "--weights", str(weights)]) == 0
    args = ["viz", "feature-maps", str(image), "--block", "1", "--weights", str(weights)]
    assert main([*args, "-o", str(grid)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line for line in printed if "forged" in line] == [
        f"wrote {tmp_path}/upo\\nvsr: error: forged.png",
        f"block 1: 12 channels of 32x24 -> {tmp_path}/grido\\nvsr: error: forged.png",
    ]
    assert upscaled.is_file() and grid.is_file()


def test_the_pressure_tests_last_line_escapes_its_outputs_name(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    stem = tmp_path / "p\nvsr: error: forged"
    args = ["bench", "--pressure", "--sizes", "16", "--repeats", "1", "--out", str(stem)]
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    wrote = f"wrote {tmp_path}/p\\nvsr: error: forged.png and {tmp_path}/p\\nvsr: error: forged.csv"
    assert printed[-1] == wrote
    assert stem.with_name(stem.name + ".png").is_file()
