"""When the machine, not the user, goes wrong: a full disk names its file, a closed stderr
does not stop a run, repeated weight loads keep no memory, an aborted chunk is dropped."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import av
import pytest
import torch
from media import make_clip

import vsr
from vsr.atomic_file import atomic_output
from vsr.errors import VsrError
from vsr.models import create_model, save_weights
from vsr.models.checkpoint import read_state_dict
from vsr.train.checkpoint import save_checkpoint
from vsr.video.chunk_journal import PARTIAL, ChunkRecorder

ROOT = Path(vsr.__file__).resolve().parents[1]  # the checkout under test


def test_a_write_error_without_a_file_name_is_given_the_target(tmp_path):
    # PIL and json writers raise ENOSPC without a filename: the user must hear which file.
    target = tmp_path / "out.png"
    with pytest.raises(OSError) as caught, atomic_output(target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert caught.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


def test_a_full_gpu_that_no_part_of_vsr_caught_is_one_line(monkeypatch, capsys):
    # torch's OutOfMemoryError from where vsr has no retry of its own (vsr image's copy of
    # a large picture to the GPU, eval, profile) ended in its traceback, exit status 1.
    import vsr.commands.image as image_command
    from vsr.cli import main

    def full_gpu(args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\nGPU 0")

    monkeypatch.setattr(image_command, "run", full_gpu)
    assert main(["image", "in.png", "out.png"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "vsr: error: the GPU ran out of memory (CUDA out of memory. Tried to allocate 2.00 "
        "GiB.); free GPU memory (another process may hold it), or run on the CPU with "
        "--device cpu"
    ]

    def bug(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(image_command, "run", bug)
    with pytest.raises(RuntimeError, match="a bug"):  # any other: a traceback, to report
        main(["image", "in.png", "out.png"])


def test_a_vsr_error_s_notes_follow_its_line(monkeypatch, capsys):
    # What the failing code adds for the user (where kept frames are, how to go on) is
    # printed below the error, as for a full disk: it is the way out of the mistake.
    import vsr.commands.image as image_command
    from vsr.cli import main

    def refused(args):
        error = VsrError("out.mkv already exists; use --overwrite to replace it")
        error.add_note("out.mkv.vsr-chunks holds 25 upscaled frames")
        raise error

    monkeypatch.setattr(image_command, "run", refused)
    assert main(["image", "in.png", "out.png"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "vsr: error: out.mkv already exists; use --overwrite to replace it",
        "vsr: out.mkv.vsr-chunks holds 25 upscaled frames",
    ]


def _save_with_a_small_file_limit(path: Path) -> None:
    # A file-size limit fails writes as a full disk does, without root or a small mount.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    if path.suffix == ".safetensors":
        save_weights(create_model("imdn"), path)
    else:
        save_checkpoint(path, {"model": torch.zeros(100_000)})


# Weights too: safetensors' save_file raised its own SafetensorError ("File too large (os
# error 27)"), which `vsr train` and `vsr weights export` ended in a traceback.
@pytest.mark.parametrize("name", ["last.pt", "last.safetensors"])
def test_a_checkpoint_or_weights_that_do_not_fit_raise_an_os_error_naming_them(tmp_path, name):
    script = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "from pathlib import Path\n"
        "from test_machine_errors import _save_with_a_small_file_limit\n"
        "try:\n"
        "    _save_with_a_small_file_limit(Path(sys.argv[3]))\n"
        "except OSError as e:\n"
        "    print('OSError', e.errno, e.filename)\n"
        "except Exception as e:\n"
        "    print('other', type(e).__name__)\n"
    )
    target = tmp_path / name
    done = subprocess.run(
        [sys.executable, "-c", script, str(ROOT), str(Path(__file__).parent), str(target)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["OSError", str(errno.EFBIG), str(target)]
    assert list(tmp_path.iterdir()) == []  # no temporary left


def test_a_run_with_stderr_closed_still_writes_its_output(tmp_path):
    clip = tmp_path / "in.mp4"
    make_clip(clip, 32, 24, 3, audio=False)
    weights = tmp_path / "rtc.safetensors"
    save_weights(create_model("imdn_rtc"), weights)
    out = tmp_path / "out.mkv"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VSR_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "vsr", "run", str(clip), str(out), "--weights", str(weights)],
        env=env,
        stdout=subprocess.DEVNULL,
        preexec_fn=lambda: os.close(2),  # as `vsr run ... 2>&-` or a daemon starts it
    )
    assert done.returncode == 0
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3


def test_with_stdout_closed_the_next_file_opened_does_not_take_its_place(tmp_path):
    # Started as `vsr ... >&-`, Python sets sys.stdout to None and descriptor 1 is free: the
    # next file opened (an output) would get it, and receive what is written to stdout.
    script = (
        "import sys\n"
        "from vsr.cli import main\n"
        "status = main(['weights', 'list'])\n"
        "with open(sys.argv[1], 'w') as opened:\n"
        "    print(status, opened.fileno(), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VSR_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "opened.txt")],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.close(1),  # as `vsr weights list >&-`
    )
    status, descriptor = done.stderr.split()
    assert status == "0" and descriptor != "1"


def _with_a_small_file_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails with EFBIG
    resource.setrlimit(
        resource.RLIMIT_FSIZE, (20_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1])
    )


def test_an_output_too_large_for_the_file_system_is_one_line_naming_it(tmp_path):
    # A traceback ending in "File too large: 'file:.../.out.123.tmp.mkv'" (FAT32's 4 GiB).
    clip = tmp_path / "in.mkv"
    make_clip(clip, 96, 64, 8, codec="ffv1", audio=False)
    weights = tmp_path / "rtc.safetensors"
    save_weights(create_model("imdn_rtc"), weights)
    out = tmp_path / "out" / "big.mkv"
    out.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VSR_CACHE": str(tmp_path / "cache")}
    command = ["run", str(clip), str(out), "--weights", str(weights), "--codec", "ffv1"]
    done = subprocess.run(
        [sys.executable, "-m", "vsr", *command, "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=_with_a_small_file_limit,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"vsr: error: {out}: File too large (more than the file system or a size limit "
        "allows: FAT32 holds 4 GiB)"
    ]
    assert list(out.parent.iterdir()) == []


def test_loading_weights_again_and_again_keeps_no_memory(tmp_path):
    weights = tmp_path / "rtc.safetensors"
    save_weights(create_model("imdn_rtc"), weights, {"note": "kept"})
    tensors, metadata = read_state_dict(weights)
    assert metadata["note"] == "kept"
    assert set(tensors) == set(create_model("imdn_rtc").state_dict())
    for _ in range(3):
        read_state_dict(weights)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(50):
        read_state_dict(weights)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 20_000  # safe_open kept about 3 KB a load: 150 KB here


def test_a_discarded_chunk_leaves_no_partial_file_open_or_on_disk(tmp_path):
    recorder = ChunkRecorder(tmp_path / "chunk-000000.bin", tmp_path / "out.mkv")
    packet = av.Packet(b"\0" * 100)
    packet.pts = packet.dts = 0
    recorder.add(packet)
    recorder.discard()
    recorder.discard()  # a chunk may be named twice by an aborting writer
    assert not (tmp_path / f"chunk-000000.bin{PARTIAL}").exists()
    assert list(tmp_path.iterdir()) == []


def test_an_output_folder_removed_mid_run_is_said_as_such(tmp_path):
    # An unmounted disk, or a cleanup script: PyAV's ENOENT named no path (a traceback).
    import shutil

    from vsr.runner import upscale_video

    clip, folder = tmp_path / "in.mp4", tmp_path / "out"
    make_clip(clip, 32, 24, 40, audio=False)
    folder.mkdir()
    weights = tmp_path / "rtc.safetensors"
    save_weights(create_model("imdn_rtc"), weights)

    def remove_the_folder(frames: int) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    with pytest.raises(VsrError, match=f"the output folder {folder} is gone"):
        upscale_video(
            clip, folder / "x.mkv", weights=weights, progress=False, on_frames=remove_the_folder
        )


@pytest.mark.parametrize("cleanup", ["the temporary file", "the folder, made again"])
def test_a_temporary_output_removed_mid_run_is_said_as_such(tmp_path, weights, cleanup):
    # `rm out/.x.*.tmp.mp4`, or `rm -rf out && mkdir out`: the tags' check opened the
    # temporary file again by name, and a traceback ended in PyAV's FileNotFoundError.
    import shutil

    from vsr.runner import upscale_video

    clip, folder = tmp_path / "in.mp4", tmp_path / "out"
    make_clip(clip, 32, 24, 3)
    folder.mkdir()

    def clean_up(frames: int) -> None:
        if cleanup == "the temporary file":
            for temp in folder.glob(".x.*.tmp.mp4"):
                temp.unlink()
        else:
            shutil.rmtree(folder)
            folder.mkdir()

    with pytest.raises(
        VsrError, match=r"out/x.mp4: its temporary output \.x\.\d+\.tmp\.mp4 was removed"
    ):
        upscale_video(clip, folder / "x.mp4", weights=weights, progress=False, on_frames=clean_up)
    assert list(folder.iterdir()) == []


def _refuse_names(monkeypatch, refused: Callable[[Path], bool]) -> None:
    """The finished file is refused the names `refused` picks, as a folder made read-only
    (chmod 555) while the clip was encoded refuses them all."""
    import vsr.video.writer

    put = vsr.video.writer.put_in_place_unless_taken

    def put_unless_refused(temp: Path, path: Path) -> None:
        if refused(path):
            raise PermissionError(
                errno.EACCES, os.strerror(errno.EACCES), str(temp), None, str(path)
            )
        put(temp, path)

    monkeypatch.setattr(vsr.video.writer, "put_in_place_unless_taken", put_unless_refused)


def _frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_a_finished_video_refused_its_name_is_kept_where_the_error_says(
    tmp_path, weights, monkeypatch
):
    # The folder made read-only during the encode: the whole video stayed under its hidden
    # temporary name unsaid, and the next run removed it as a killed run's.
    from vsr.runner import upscale_video
    from vsr.video.writer import temp_path_for

    clip, folder = tmp_path / "in.mp4", tmp_path / "out"
    make_clip(clip, 32, 24, 3)
    folder.mkdir()
    target = folder / "x.mp4"
    temp = temp_path_for(target)
    run = dict(weights=weights, progress=False)
    with monkeypatch.context() as patched:
        _refuse_names(patched, lambda path: True)
        with pytest.raises(
            VsrError, match=f"{target}: Permission denied; the finished video is kept as {temp} "
        ):
            upscale_video(clip, target, **run)
    assert [p.name for p in folder.iterdir()] == [temp.name]
    assert _frames_in(temp) == 3

    # Another call of this process would make its temporary file under that name.
    with pytest.raises(
        VsrError,
        match=f"the finished video of an earlier run, which could not take this name, is kept as {temp}",
    ):
        upscale_video(clip, target, **run)
    assert _frames_in(temp) == 3

    # Another process's run for the output leaves it, whole, where it is.
    earlier = temp.rename(temp_path_for(target, pid=os.getpid() + 1))
    report = upscale_video(clip, target, **run)
    assert not any("removed" in note for note in report.notes)
    assert sorted(p.name for p in folder.iterdir()) == sorted([earlier.name, target.name])
    assert _frames_in(earlier) == _frames_in(target) == 3


def test_a_finished_video_refused_its_name_takes_a_free_one_where_it_can(
    tmp_path, weights, monkeypatch
):
    # Another user's x.mp4 in a shared (sticky) folder, say: x.2.mp4 is free to take.
    from vsr.runner import upscale_video

    clip, folder = tmp_path / "in.mp4", tmp_path / "out"
    make_clip(clip, 32, 24, 3)
    folder.mkdir()
    _refuse_names(monkeypatch, lambda path: path.name == "x.mp4")
    with pytest.raises(
        VsrError, match="x.mp4: Permission denied; the finished video is kept as x.2.mp4 beside it"
    ):
        upscale_video(clip, folder / "x.mp4", weights=weights, progress=False)
    assert [p.name for p in folder.iterdir()] == ["x.2.mp4"]
    assert _frames_in(folder / "x.2.mp4") == 3


def test_a_report_that_cannot_be_written_says_the_output_is_complete(tmp_path, monkeypatch):
    import vsr.runner
    from vsr.runner import upscale_video

    clip, out = tmp_path / "in.mp4", tmp_path / "out.mkv"
    make_clip(clip, 32, 24, 3, audio=False)
    weights = tmp_path / "rtc.safetensors"
    save_weights(create_model("imdn_rtc"), weights)

    def disk_full(data, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(vsr.runner, "write_json", disk_full)
    report = tmp_path / "run.json"
    with pytest.raises(VsrError, match=f"{out} is complete, but its report {report} could not"):
        upscale_video(clip, out, weights=weights, progress=False, report=report)
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3


@pytest.mark.parametrize("name", ["x.mp4", "x.y.mkv", "x", ".hidden.mov"])
def test_an_outputs_temporary_file_leads_back_to_it(tmp_path, name):
    from vsr.video.writer import output_of_temp, temp_path_for

    assert output_of_temp(temp_path_for(tmp_path / name)) == tmp_path / name
    assert output_of_temp(tmp_path / name) is None


class _HeaderOnAFullDisk:
    """An output container whose header write meets a full disk, as libav's does on one:
    av.error.OSError ENOSPC from start_encoding, naming the temporary file by URL."""

    def __init__(self, real: av.container.OutputContainer, url: str) -> None:
        self._real, self._url = real, url

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    def start_encoding(self) -> None:
        raise av.error.OSError(errno.ENOSPC, "No space left on device", self._url)


def test_a_full_disk_at_the_header_is_said_so_and_stops_a_folder(
    tmp_path, weights, monkeypatch, capsys
):
    # It was "libx264 cannot be stored in .mp4 files (No space left on device; use .mkv)",
    # and a folder run went on to fail every clip with it: the full-disk stop never saw it.
    from vsr.cli import main

    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    out.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_clip(clips / name, 32, 24, frames=2, audio=False)
    real_open = av.open

    def full_disk_open(url, *args, **kwargs):
        container = real_open(url, *args, **kwargs)
        written = "w" in args and isinstance(url, str)  # not the muxer probes' BytesIO
        return _HeaderOnAFullDisk(container, url) if written else container

    monkeypatch.setattr(av, "open", full_disk_open)
    args = ["--weights", str(weights), "--quiet"]
    assert main(["run", str(clips / "a.mp4"), str(out / "a.mp4"), *args]) == 2
    assert capsys.readouterr().err == f"vsr: error: {out / 'a.mp4'}: No space left on device\n"
    assert main(["run", str(clips), str(out), *args]) == 2
    said = capsys.readouterr().err.splitlines()
    assert said[0] == f"vsr: error: {out / 'a.mp4'}: No space left on device"
    assert said[1].startswith("vsr: stopped at a.mp4: ")
    assert list(out.iterdir()) == []  # b.mp4 was not tried, and no temporary file is left


def test_a_clips_system_error_in_a_folder_names_the_clips_output_not_its_temp(tmp_path):
    # A folder's line read "failed: OSError: [Errno 28] No space left on device:
    # 'file:out/.c.12445.tmp.mp4'", a hidden name the user never gave.
    from vsr.errors import describe_error
    from vsr.video.writer import temp_path_for

    temp = temp_path_for(tmp_path / "c.mp4", 12445)
    error = OSError(errno.ENOSPC, "No space left on device", f"file:{temp}")
    assert describe_error(error) == f"OSError: No space left on device: {tmp_path / 'c.mp4'}"
    assert describe_error(KeyError("frames")) == "KeyError: 'frames'"


@pytest.mark.parametrize("command", ["run", "image"])
def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path, capsys, command):
    # 130 accented letters are 260 bytes: the first look at the path raised ENAMETOOLONG,
    # a traceback where a name of 245-255 bytes got a proper error.
    from vsr.cli import main

    source = tmp_path / ("in.mp4" if command == "run" else "in.png")
    if command == "run":
        make_clip(source, frames=2, audio=False)
    else:
        from PIL import Image

        Image.new("RGB", (8, 6)).save(source)
    name = "é" * 130 + source.suffix
    assert main([command, str(source), str(tmp_path / name)]) == 2
    said = capsys.readouterr().err
    assert f"vsr: error: {tmp_path / name}: File name too long (a file or folder name" in said
    assert "Traceback" not in said
