"""Outputs appear whole or not at all, with the permissions an ordinary open() gives."""

import os

import pytest

from vsr.atomic_file import atomic_output, check_can_write
from vsr.errors import VsrError
from vsr.video import temp_lock


def test_the_file_appears_complete_with_the_umask_mode(tmp_path):
    previous = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "out.txt", "w") as stream:
            stream.write("done")
            assert not (tmp_path / "out.txt").exists()  # nothing under the name until the end
    finally:
        os.umask(previous)
    assert (tmp_path / "out.txt").read_text() == "done"
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o640  # not mkstemp's 0600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    (tmp_path / "out.bin").write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "out.bin") as stream:
        stream.write(b"half")
        raise RuntimeError("interrupted")
    assert (tmp_path / "out.bin").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_a_killed_writes_temporary_file_is_removed_by_the_next_write(tmp_path):
    # A picture of a folder run, or a download, killed outright (SIGKILL) left its hidden
    # 0600 temporary file beside the output for good; README said the next run removes it.
    dead = tmp_path / ".out.png.4242.0badcafe.tmp"  # nobody holds it: its run is gone
    dead.write_bytes(b"half a picture")
    live = tmp_path / ".out.png.4343.feedbeef.tmp"  # a live run's, held as vsr holds one
    live.write_bytes(b"being written")
    other = tmp_path / ".other.png.4242.0badcafe.tmp"  # another output's
    other.write_bytes(b"not ours")
    with temp_lock.hold(live):
        with atomic_output(tmp_path / "out.png") as stream:
            temporary = [p for p in tmp_path.iterdir() if p not in (dead, live, other)]
            assert [p.stat().st_mode & 0o777 for p in temporary] == [0o600]
            stream.write(b"whole")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [live.name, other.name, "out.png"]
        )


@pytest.mark.parametrize(
    ("kind", "own", "other"),
    [
        ("JSON", b'  {"clips": []}', b"\x00\x00\x00\x18ftypisom"),
        ("JSON", b'\xef\xbb\xbf{"clips": []}', b'[data]\ntrain = "x"\n'),  # BOM; TOML's [
        (  # a page of vsr report's; a hand-written page (README: its own kind only)
            "HTML",
            b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="gen'
            b'erator" content="vsr report"><title>vsr report</title>',
            b"<!DOCTYPE html>\n<html><body><h1>My notes</h1></body></html>\n",
        ),
        ("CSV", b"size,ms\n128,3.5\n", b"\x89PNG\r\n\x1a\n\x00\x00"),
        ("PNG", b"\x89PNG\r\n\x1a\n\x00\x00", b"size,ms\n"),
    ],
)
def test_a_report_replaces_its_own_kind_only(tmp_path, kind, own, other):
    # `--json clip.mp4` or `--report IN/a.mp4` replaced the video with a JSON report.
    (tmp_path / "own").write_bytes(own)
    (tmp_path / "other").write_bytes(other)
    (tmp_path / "empty").write_bytes(b"")
    check_can_write(tmp_path / "own", kind)
    check_can_write(tmp_path / "empty", kind)
    check_can_write(tmp_path / "new", kind)
    with pytest.raises(
        VsrError, match=f"other exists and is not an? (vsr )?{kind}.*; vsr will not"
    ):
        check_can_write(tmp_path / "other", kind)
    assert (tmp_path / "other").read_bytes() == other


def test_a_picture_too_large_for_pillow_is_still_a_picture_to_replace(tmp_path, monkeypatch):
    # Pillow refuses to open an image over twice Image.MAX_IMAGE_PIXELS (179 million pixels
    # by default), and its error ended `vsr viz ... -o` of such a file in a traceback.
    from PIL import Image

    Image.new("RGB", (15, 15)).save(tmp_path / "maps.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    check_can_write(tmp_path / "maps.png", "image")


def test_a_folder_that_cannot_be_written_is_named_not_the_temporary(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".x.png.abc.tmp"))

    monkeypatch.setattr("vsr.atomic_file.create_held", denied)
    with pytest.raises(PermissionError) as caught, atomic_output(tmp_path / "x.png"):
        pass
    assert caught.value.filename == str(tmp_path / "x.png")


def test_a_fifo_or_a_link_to_nothing_is_refused_without_being_opened(tmp_path):
    # Reading a FIFO to judge its kind waited for ever.
    os.mkfifo(tmp_path / "rep.json")
    with pytest.raises(VsrError, match="rep.json exists and is not a regular file"):
        check_can_write(tmp_path / "rep.json", "JSON")
    (tmp_path / "gone.json").symlink_to(tmp_path / "nothing")
    with pytest.raises(VsrError, match="gone.json exists and is not a regular file"):
        check_can_write(tmp_path / "gone.json", "JSON")


def test_a_report_too_large_to_parse_is_judged_by_its_start(tmp_path, monkeypatch):
    from vsr import atomic_file

    monkeypatch.setattr(atomic_file, "_LARGEST_PARSED", 8)  # a folder run of very many clips
    (tmp_path / "run.json").write_text('{\n  "clips": [' + "{}, " * 100 + "{}]}\n")
    check_can_write(tmp_path / "run.json", "JSON")
    (tmp_path / "train.toml").write_text('[data]\ntrain = "x"\n' * 20)
    with pytest.raises(VsrError, match="train.toml exists and is not a vsr JSON report"):
        check_can_write(tmp_path / "train.toml", "JSON")


def test_a_json_file_that_is_not_a_vsr_report_is_not_replaced(tmp_path):
    # Any JSON was taken for an earlier report: `vsr eval --json RUN/config.json` replaced a
    # training run's settings, and a checkout's weights/manifest.json could go the same way.
    (tmp_path / "config.json").write_text('{"lr": 0.0005, "steps": 2, "patch": 32}\n')
    with pytest.raises(VsrError, match="config.json exists and is not a vsr JSON report"):
        check_can_write(tmp_path / "config.json", "JSON")
    for report in ('{"results": []}', '{"fps": 2.5, "frames": 10}', '{"rows": [], "x": 1}'):
        (tmp_path / "earlier.json").write_text(report)
        check_can_write(tmp_path / "earlier.json", "JSON")  # an earlier report of vsr's


@pytest.mark.parametrize("kind", [None, "JSON", "HTML"])
def test_a_name_ending_in_a_slash_is_a_folder_s_not_a_file_s(tmp_path, kind):
    # Path() drops the slash: `--report rdir/` made rdir a JSON file, and `-o p1.html/`
    # replaced the existing page p1.html.
    (tmp_path / "p1.html").write_text("<!DOCTYPE html><html></html>")
    for name in ("newdir/", "p1.html/"):
        with pytest.raises(VsrError, match=f"{name} ends in a slash, naming a folder; give a"):
            check_can_write(f"{tmp_path}/{name}", kind)
    # Path() drops a last "." too: `-o newdir/.` wrote a file named newdir.
    for name in ("newdir/.", "p1.html/.."):
        with pytest.raises(VsrError, match=r"ends in '\.\.?', naming a folder; give a file"):
            check_can_write(f"{tmp_path}/{name}", kind)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p1.html"]


def test_any_legal_name_can_be_written_and_its_dead_temporary_is_still_swept(tmp_path):
    # The temporary name (".NAME.<pid>.<token>.tmp", and ".new" while it is made) is up to
    # 29 bytes longer: a legal name of over 226 bytes failed as "File name too long".
    name = "é" * 125 + ".png"  # 254 bytes, the cut falling inside a letter of two bytes
    with atomic_output(tmp_path / name) as stream:
        dead = next(p for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
        os.fsencode(dead.name).decode("utf-8")  # cut on a letter: macOS takes UTF-8 only
        stream.write(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert (tmp_path / name).read_bytes() == b"whole"
    dead.with_name(dead.name.replace(f".{os.getpid()}.", ".4242.")).write_bytes(b"half")
    with atomic_output(tmp_path / name) as stream:
        stream.write(b"again")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # the dead one removed


def test_every_legal_name_can_be_written_with_the_longest_process_id(tmp_path, monkeypatch):
    # The temporary's stem is cut to leave room for the longest additions: a stem 1 byte
    # too long, or room left without ".new", failed as "File name too long" only once the
    # process id had 10 digits.
    monkeypatch.setattr(os, "getpid", lambda: 4294967295)
    names = []
    for length in range(220, 256):
        names += ["a" * length, "é" * (length // 2) + "a" * (length % 2)]
    for name in names:
        with atomic_output(tmp_path / name) as stream:
            stream.write(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


@pytest.mark.parametrize("link_to", ["unmounted/results", "loop"])
def test_a_folder_link_that_leads_nowhere_is_refused_before_the_work(tmp_path, link_to):
    # Taken for a missing folder to make, the write after the work failed ("File exists").
    (tmp_path / "nas").symlink_to(tmp_path / link_to)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(VsrError, match=r"nas: (links to .*, which is not there|a link that loops)"):
        check_can_write(tmp_path / "nas" / "sub" / "x.json", "JSON")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop", "nas"]  # nothing made


def test_an_empty_file_name_is_called_empty_naming_what_gave_it(tmp_path, monkeypatch, capsys):
    # Was "vsr: error:  ends in a slash, naming a folder; give a file name".
    from media import make_clip

    from vsr.cli import main
    from vsr.htmlreport import write_report
    from vsr.runner import upscale_video

    monkeypatch.chdir(tmp_path)
    with pytest.raises(VsrError, match=r"^the file name is empty \(an unset variable\?\); give a"):
        check_can_write("", "JSON")
    make_clip(tmp_path / "in.mp4", 16, 16, frames=2, audio=False)
    with pytest.raises(VsrError, match=r"^report is empty \(an unset variable\?\); give a file"):
        upscale_video("in.mp4", "out.mp4", report="", device="cpu")
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(VsrError, match=r"^output is empty \(an unset variable\?\); give a file"):
        write_report(["r.json"], "")
    for argv in (["run", "in.mp4", "out.mp4", "--report", ""], ["report", "r.json", "-o", ""]):
        assert main(argv) == 2
    said = capsys.readouterr().err.splitlines()
    assert [line.split(" is empty")[0] for line in said] == ["vsr: error: --report"] + [
        "vsr: error: --output"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "r.json"]
