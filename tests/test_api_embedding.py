"""The API inside a host's process: outputs it refuses to clobber, arguments of the wrong
type, and global state (libav's log level, the umask) that other threads must not see
change."""

import os
import threading
from unittest import mock

import av
import numpy as np
import pytest
from media import make_clip
from PIL import Image

import vsr
from vsr.atomic_file import atomic_output
from vsr.video.libav_log import libav_messages


@pytest.fixture
def upscaler(weights):
    return vsr.load_model(weights, device="cpu")


def test_upscale_image_refuses_an_existing_output(upscaler, tmp_path):
    picture = np.zeros((6, 8, 3), np.uint8)
    Image.new("RGB", (3, 3)).save(tmp_path / "out.png")
    with pytest.raises(vsr.VsrError, match="already exists"):
        vsr.upscale_image(upscaler, picture, tmp_path / "out.png")
    assert Image.open(tmp_path / "out.png").size == (3, 3)
    vsr.upscale_image(upscaler, picture, tmp_path / "out.png", overwrite=True)
    assert Image.open(tmp_path / "out.png").size == (16, 12)


def test_upscale_image_never_replaces_its_input(upscaler, tmp_path):
    Image.new("RGB", (8, 6)).save(tmp_path / "in.png")
    with pytest.raises(vsr.VsrError, match="is the input"):
        vsr.upscale_image(upscaler, tmp_path / "in.png", tmp_path / "in.png", overwrite=True)
    assert Image.open(tmp_path / "in.png").size == (8, 6)


def test_a_second_call_for_an_output_being_written_is_refused(weights, tmp_path):
    make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    target = tmp_path / "out.mkv"
    second: list[BaseException] = []

    def on_frames(count: int) -> None:
        if not second:  # another request of the host, while this one writes `target`
            try:
                vsr.upscale_video(tmp_path / "in.mp4", target, weights=weights, progress=False)
            except BaseException as error:
                second.append(error)

    report = vsr.upscale_video(
        tmp_path / "in.mp4", target, weights=weights, progress=False, on_frames=on_frames
    )
    assert isinstance(second[0], vsr.VsrError) and "being written" in str(second[0])
    with av.open(str(target)) as container:
        assert sum(1 for _ in container.decode(video=0)) == report.frames == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("encoders", ["2", 1.5, 0])
def test_encoders_must_be_a_whole_number(weights, tmp_path, encoders):
    make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    with pytest.raises(vsr.VsrError, match="encoders"):
        vsr.upscale_video(
            tmp_path / "in.mp4", tmp_path / "o.mp4", weights=weights, encoders=encoders
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_video_arguments_of_the_wrong_type(weights, upscaler, tmp_path):
    make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    with pytest.raises(vsr.VsrError, match="on_frames"):
        vsr.upscale_video(tmp_path / "in.mp4", tmp_path / "o.mp4", weights=weights, on_frames=5)
    with pytest.raises(vsr.VsrError, match="Upscaler"):
        vsr.upscale_video(tmp_path / "in.mp4", tmp_path / "o.mp4", weights=upscaler)
    with pytest.raises(vsr.VsrError, match="max_memory"):
        vsr.upscale_video(tmp_path / "in.mp4", tmp_path / "o.mp4", weights=weights, max_memory="2G")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_api_arguments_of_the_wrong_type(weights, upscaler):
    batch = np.zeros((1, 4, 4, 3), np.uint8)
    with pytest.raises(vsr.VsrError, match="Upscaler"):
        vsr.upscale_frames(str(weights), batch)  # weights where the upscaler goes
    with pytest.raises(vsr.VsrError, match="Upscaler"):
        vsr.upscale_image(str(weights), batch[0])
    with pytest.raises(vsr.VsrError, match="tensor"):
        upscaler(np.zeros((1, 3, 4, 4), np.float32))
    for not_a_network in (str(weights), b"x", 3, None):  # a TypeError, as README says
        with pytest.raises(vsr.VsrTypeError, match="network"):
            vsr.Upscaler(not_a_network)
    with pytest.raises(vsr.VsrError, match="ndarray"):
        vsr.load_model(np.zeros(3))
    with pytest.raises(vsr.VsrError, match="one size"):
        vsr.upscale_frames(upscaler, [batch[0], batch[0, :2]])


def test_overlapping_libav_captures_restore_the_hosts_log_level():
    before = av.logging.get_level()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    overlapped = []  # each wait that saw the other thread in time: the captures overlapped

    def first() -> None:
        with libav_messages([]):
            first_in.set()
            overlapped.append(second_in.wait(5))
        first_out.set()

    def second() -> None:
        overlapped.append(first_in.wait(5))
        with libav_messages([]):
            second_in.set()
            overlapped.append(first_out.wait(5))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlapped == [True, True, True]
    assert av.logging.get_level() == before


def test_a_capture_of_more_messages_keeps_its_level_when_another_leaves_first():
    # A chroma siting is read from libav's INFO line while an encoder's trial open, in
    # another thread, catches warnings: the trial open leaving must not end the INFO level,
    # and the last to leave puts the host's level back.
    before = av.logging.get_level()
    warnings_in, info_in, warnings_out = threading.Event(), threading.Event(), threading.Event()
    level_left_to_info = []

    def warnings_only() -> None:
        with libav_messages([]):
            warnings_in.set()
            info_in.wait(5)
        warnings_out.set()

    def info_too() -> None:
        warnings_in.wait(5)
        with libav_messages([], up_to=av.logging.INFO):
            info_in.set()
            warnings_out.wait(5)
            level_left_to_info.append(av.logging.get_level())

    threads = [threading.Thread(target=warnings_only), threading.Thread(target=info_too)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert level_left_to_info == [av.logging.INFO]
    assert av.logging.get_level() == before


def test_a_capture_never_makes_libav_quieter_than_the_host_asked():
    before = av.logging.get_level()
    av.logging.set_level(av.logging.VERBOSE)  # the host wants more than warnings
    try:
        with libav_messages([]):
            assert av.logging.get_level() == av.logging.VERBOSE
        assert av.logging.get_level() == av.logging.VERBOSE
    finally:
        av.logging.set_level(before)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the umask from /proc")
def test_finished_files_get_the_umask_without_setting_it(tmp_path):
    # Setting the umask to read it gives another thread's new files mode 0666 for a moment.
    old = os.umask(0o022)
    try:
        refuse = mock.patch("os.umask", side_effect=AssertionError("umask changed"))
        with refuse, atomic_output(tmp_path / "f.txt", "w") as stream:
            stream.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("role", ["in.mp4", "out.mp4"])
def test_the_report_never_replaces_the_video(weights, tmp_path, role):
    make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    source = (tmp_path / "in.mp4").read_bytes()
    with pytest.raises(vsr.VsrError, match="would replace"):
        vsr.upscale_video(
            tmp_path / "in.mp4", tmp_path / "out.mp4", weights=weights, report=tmp_path / role
        )
    assert (tmp_path / "in.mp4").read_bytes() == source
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(
    ("report", "said"),
    [
        ("notes.py", "notes.py exists and is not a vsr JSON report"),
        (".", "is a folder; give a file name"),
        ("notes.py/r.json", "notes.py is a file, not a folder"),
    ],
)
def test_a_report_that_cannot_be_written_is_refused_before_the_work(
    weights, tmp_path, report, said
):
    # upscale_video wrote its JSON over any file (a script, a picture), and a report path
    # that could not be written failed only after the whole clip was encoded.
    make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    (tmp_path / "notes.py").write_text("print('mine')\n")
    with pytest.raises(vsr.VsrError, match=said):
        vsr.upscale_video(
            tmp_path / "in.mp4", tmp_path / "out.mp4", weights=weights, report=tmp_path / report
        )
    assert (tmp_path / "notes.py").read_text() == "print('mine')\n"
    assert not (tmp_path / "out.mp4").exists()


def test_a_call_without_a_bar_leaves_no_thread_behind(weights, tmp_path, monkeypatch):
    # tqdm starts a monitor thread with every bar, a hidden one too, and only a drawn bar's
    # close stops it: it outlived the call for the life of the host's process.
    from tqdm import tqdm
    from tqdm._monitor import TMonitor

    if tqdm.monitor is not None:  # one an earlier test's hidden bar left
        tqdm.monitor.exit()
    monkeypatch.setattr(tqdm, "monitor", None)
    make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    vsr.upscale_video(tmp_path / "in.mp4", tmp_path / "out.mp4", weights=weights, progress=False)
    assert (tmp_path / "out.mp4").exists()
    assert not [t for t in threading.enumerate() if isinstance(t, TMonitor) and t.is_alive()]


def test_two_threads_fetch_the_same_weights_at_once(weights, tmp_path, monkeypatch):
    import io

    import vsr.weights

    monkeypatch.setenv("VSR_CACHE", str(tmp_path))
    data = weights.read_bytes()
    both_reading = threading.Barrier(2)

    class Response(io.BytesIO):
        def read(self, size=-1):
            if self.tell() == 0:
                both_reading.wait(5)  # both downloads are under way
            return super().read(size)

    monkeypatch.setattr(vsr.weights.urllib.request, "urlopen", lambda *a, **k: Response(data))
    sha = vsr.weights.hashlib.sha256(data).hexdigest()
    target = tmp_path / "w.safetensors"
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            vsr.weights.fetch("https://example.invalid/w", sha, target)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def test_numpy_numbers_are_numbers(weights, tmp_path):
    # A host computes times and budgets with numpy; numpy 2 reprs floats as np.float64(0.1).
    from vsr.video.trim import parse_time

    assert parse_time(np.float64(0.1)) == parse_time(0.1) == parse_time("0.1")
    upscaler = vsr.load_model(weights, device="cpu", max_memory=np.int64(1 << 30))
    assert upscaler.memory_budget == 1 << 30


def test_an_output_another_run_finished_meanwhile_is_kept_and_so_is_this_ones(weights, tmp_path):
    # Two runs for one output, started together: each passed the check for an existing
    # output, and the last to finish replaced the other's file without a word.
    source, out = tmp_path / "in.mp4", tmp_path / "out.mkv"
    make_clip(source, 32, 24, frames=3, audio=False)

    def another_run_finishes(_frames: int) -> None:
        if not out.exists():
            out.write_bytes(b"another run's video")

    said = (
        r"out\.mkv was written by another run meanwhile, and is kept; this run's output is "
        r"out\.2\.mkv beside it \(overwrite=True replaces instead\)$"
    )
    with pytest.raises(vsr.VsrError, match=said):
        vsr.upscale_video(
            source, out, weights=weights, on_frames=another_run_finishes, progress=False
        )
    assert out.read_bytes() == b"another run's video"
    with av.open(str(tmp_path / "out.2.mkv")) as kept:
        assert sum(1 for _ in kept.decode(video=0)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.2.mkv", "out.mkv"]


class _StderrToLogging:
    """A host's stderr that sends lines to logging: write() and flush(), no isatty()."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("stderr", [None, _StderrToLogging()], ids=["none", "to logging"])
def test_a_host_without_a_terminal_stderr_can_upscale_a_video(weights, tmp_path, stderr):
    # pythonw, a daemon started with stderr closed (sys.stderr None), or a stream of the
    # host's own with no isatty(): every upscale_video ended in AttributeError, progress or not.
    clip = tmp_path / "in.mp4"
    make_clip(clip, 32, 24, frames=3, audio=False)
    with mock.patch("sys.stderr", stderr):
        for progress in (False, True):
            out = tmp_path / f"out-{progress}.mp4"
            report = vsr.upscale_video(clip, out, weights=weights, progress=progress)
            assert report.frames == 3
            with av.open(str(out)) as done:
                assert done.streams.video[0].codec_context.width == 64


def test_threads_sharing_a_compiled_upscaler_make_one_first_call_of_a_shape(upscaler):
    # Two threads' first calls of a shape both compiled and both counted a warm-up, and
    # their second calls could both take the first's time (the loser: a bare KeyError).
    import torch

    upscaler.compiled = True  # compiling itself is not what is tested: its first calls are
    upscaler._ahead_of_time = False
    network, release = upscaler._run, threading.Event()
    running, most = [0], [0]
    lock = threading.Lock()

    def slow_first_run(x):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(timeout=0.5)  # a build takes a while: a second first call meets it
        with lock:
            running[0] -= 1
        return network(x)

    upscaler._run = slow_first_run
    frames = torch.rand(1, 3, 8, 8)
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(upscaler(frames))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1 and len(results) == 2
    assert len(upscaler._first_calls) == 1  # one first call timed, for its second to correct
    release.set()
    threads = [threading.Thread(target=lambda: results.append(upscaler(frames))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 10 and not upscaler._first_calls
    assert all(torch.equal(result, results[0]) for result in results)


def test_vsr_s_warnings_name_the_host_s_own_line(weights):
    # The emulation note of load_model named vsr/api.py, the line that built the Upscaler,
    # so a host's filter on its own module (filterwarnings(module=...)) missed it.
    with pytest.warns(vsr.VsrWarning, match="emulated") as caught:
        vsr.load_model(weights, device="cpu", precision="fp16")
    assert [w.filename for w in caught] == [__file__]
    with pytest.warns(vsr.VsrWarning, match="emulated") as caught:
        vsr.Upscaler(vsr.load_model(weights, device="cpu").model, "cpu", "fp16")
    assert [w.filename for w in caught] == [__file__]
    # Given during a call (a failed compile says so then): torch's no_grad wrapper was the
    # first frame outside vsr, and the warning named torch/utils/_contextlib.py.
    import torch

    upscaler = vsr.load_model(weights, device="cpu")
    upscaler.compiled, upscaler._builds = True, False  # as with a kept package, which fails

    def kept_package_that_fails(x):
        raise RuntimeError("a package of another torch")

    upscaler._run = kept_package_that_fails
    with pytest.warns(vsr.VsrWarning, match="it ran uncompiled") as caught:
        upscaler(torch.rand(1, 3, 8, 8))
    assert [w.filename for w in caught] == [__file__]


def test_a_finished_video_leaves_no_decoder_behind(weights, tmp_path):
    # PyAV frees a decoder (its threads, its frame pool: ~25 MB at 1080p) only with its
    # stream, which a reader in a reference cycle held until Python's next full collection:
    # a folder run of 600 tiny clips held 126 threads, a host's service as many.
    import gc

    clip = tmp_path / "in.mp4"
    make_clip(clip, frames=3)
    gc.collect()
    gc.disable()
    try:
        for index in range(3):
            vsr.upscale_video(clip, tmp_path / f"out{index}.mkv", weights=weights, progress=False)
        decoders = [
            o
            for o in gc.get_objects()
            if type(o) is av.video.stream.VideoStream and o.codec_context.is_open
        ]
    finally:
        gc.enable()
    assert decoders == []
