"""Networks compiled ahead of time and kept as packages (vsr.ops.aot_package).

One package is built here (15-25 s on a 2-core CPU, most of it compiling the C++
wrapper): a 1-block IMDN, as the engine prepares it (folded, channels_last). Not marked
slow: it is the default suite's one real build of the path `--compile` takes."""

from __future__ import annotations

import copy
import errno
import os
import shutil
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import python_child

from vsr.models import create_model
from vsr.ops.aot_package import PackagedNetwork, packages_dir
from vsr.upscale import Upscaler, inference_copy


def _engine_copy(model: torch.nn.Module) -> torch.nn.Module:
    net, _ = inference_copy(model, torch.device("cpu"), torch.float32, channels_last=True)
    return net


def _frames(batch: int, height: int, width: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(batch, 3, height, width, generator=generator)
    return x.contiguous(memory_format=torch.channels_last)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny IMDN compiled once into a fresh cache: (model, input, eager output, packaged)."""
    cache = tmp_path_factory.mktemp("vsr-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VSR_CACHE", str(cache))
        torch.manual_seed(0)
        model = create_model("imdn", 2, features=16, blocks=1)
        x = _frames(2, 12, 20)
        with torch.no_grad():
            expected = _engine_copy(model)(x)
        packaged = PackagedNetwork(_engine_copy(model))
        first = packaged(x)
        yield model, x, expected, packaged, first, cache


@pytest.fixture
def same_cache(built, monkeypatch):
    monkeypatch.setenv("VSR_CACHE", str(built[5]))


def test_a_package_is_built_once_and_gives_the_eager_result(built, same_cache):
    _, x, expected, packaged, first, _ = built
    assert (packaged.built, packaged.loaded) == (1, 0)
    torch.testing.assert_close(first, expected, rtol=1e-4, atol=1e-5)
    assert [p.name for p in packages_dir().glob("*.pt2")] == [packaged.package_path(x).name]
    again = packaged(x)  # the same shape: the loaded runner, nothing built
    torch.testing.assert_close(again, expected, rtol=1e-4, atol=1e-5)
    assert (packaged.built, packaged.loaded) == (1, 0)


def test_a_later_process_loads_the_kept_package_instead_of_compiling(built, same_cache):
    model, x, expected, _, _, _ = built
    fresh = PackagedNetwork(_engine_copy(model))  # what the next `vsr run` builds
    torch.testing.assert_close(fresh(x), expected, rtol=1e-4, atol=1e-5)
    assert (fresh.built, fresh.loaded) == (0, 1)


@pytest.mark.parametrize("compile", [True, "auto"])
def test_the_upscaler_compiles_through_the_kept_package(built, same_cache, compile):
    model, _, _, _, _, _ = built
    frames = _frames(2, 12, 20)
    # fp32, the package the fixture built (the CPU's default may be bf16).
    eager = Upscaler(model, device="cpu", precision="fp32", channels_last=True)(frames)
    compiled = Upscaler(model, "cpu", "fp32", channels_last=True, compile=compile)
    torch.testing.assert_close(compiled(frames), eager, rtol=1e-4, atol=1e-5)
    assert (compiled._run.built, compiled._run.loaded) == (0, 1)
    assert compiled.notes == []


def test_a_kept_only_upscaler_runs_kept_packages_and_builds_none(
    built, same_cache, monkeypatch, tmp_path
):
    # What `vsr run` gives a clip too short to repay a build: a kept package, else nothing
    # compiled, whether the package is missing or damaged, and without a C++ compiler.
    import vsr.ops.aot_package as aot

    model, _, _, _, _, _ = built
    builds = []
    monkeypatch.setattr(aot, "build_package", lambda *args: builds.append(args))
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    eager = Upscaler(model, device="cpu", precision="fp32", channels_last=True)
    kept = Upscaler(model, "cpu", "fp32", channels_last=True, compile="kept")
    for frames, loaded, uncompiled in ((_frames(2, 12, 20), 1, 0), (_frames(1, 12, 20), 1, 1)):
        torch.testing.assert_close(kept(frames), eager(frames), rtol=1e-4, atol=1e-5)
        assert (kept._run.built, kept._run.loaded, kept.uncompiled_calls) == (0, loaded, uncompiled)
    monkeypatch.setenv("VSR_CACHE", str(tmp_path / "damaged"))
    damaged = Upscaler(model, "cpu", "fp32", channels_last=True, compile="kept")
    frames = _frames(2, 12, 20)
    path = damaged._run.package_path(frames.contiguous(memory_format=torch.channels_last))
    path.write_bytes(b"not a zip archive")
    torch.testing.assert_close(damaged(frames), eager(frames), rtol=1e-4, atol=1e-5)
    assert (damaged._run.loaded, damaged.uncompiled_calls) == (0, 1)
    assert builds == [] and kept.notes == damaged.notes == []


def test_a_package_pruned_while_it_is_looked_at_is_none_to_load(built, same_cache, monkeypatch):
    # Another vsr process may prune its cache between the look and the load: the file
    # went between is_file() and the check of who can write it, and the run stopped with
    # FileNotFoundError where it could run uncompiled (a "kept" run) or build (auto).
    import vsr.ops.aot_package as aot

    model, x, _, _, _, _ = built
    fresh = PackagedNetwork(_engine_copy(model), builds=False)

    def pruned(path):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))

    monkeypatch.setattr(aot, "why_others_can_change", pruned)
    assert fresh._load_kept(fresh.package_path(x), x.device) is None


def test_a_damaged_package_is_built_again(built, same_cache, monkeypatch, tmp_path):
    import vsr.ops.aot_package as aot

    model, x, expected, packaged, _, _ = built
    good = tmp_path / "good.pt2"
    shutil.copyfile(packaged.package_path(x), good)
    fresh = PackagedNetwork(_engine_copy(model))
    path = fresh.package_path(x)
    path.write_bytes(b"not a zip archive")
    builds = []

    def rebuild(network, example, mode, target):
        builds.append(target)
        shutil.copyfile(good, target)  # what a real build writes, without the 15 s

    monkeypatch.setattr(aot, "build_package", rebuild)
    torch.testing.assert_close(fresh(x), expected, rtol=1e-4, atol=1e-5)
    assert builds == [path] and (fresh.built, fresh.loaded) == (1, 0)


def test_a_package_damaged_inside_its_zip_is_never_loaded(built, same_cache, monkeypatch, tmp_path):
    # A package whose shared library lost bytes on disk still opens as a zip; the loader
    # would dlopen and run the damaged code, which can end the process with a bus error.
    # Its stored checksums tell: the kept package is then none, and auto builds it again.
    import vsr.ops.aot_package as aot

    model, x, _, packaged, _, _ = built
    good = packaged.package_path(x)
    monkeypatch.setenv("VSR_CACHE", str(tmp_path))
    fresh = PackagedNetwork(_engine_copy(model), builds=False)
    path = fresh.package_path(x)
    path.parent.mkdir(parents=True)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        library = next(i for i in archive.infolist() if i.filename.endswith(".so"))
    middle = library.header_offset + 100 + library.file_size // 2  # inside its data
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:  # still a zip, with every entry listed
        assert len(archive.infolist()) > 1
    loads = []
    monkeypatch.setattr(aot, "load_package", lambda *args: loads.append(args))
    assert fresh._load_kept(path, x.device) is None
    assert loads == []


@pytest.mark.parametrize("method", [8, 0xFF], ids=["deflate", "unknown"])
def test_a_package_whose_compression_method_is_damaged_counts_as_none(tmp_path, method):
    # A flipped compression method made the check itself raise (zlib.error for deflate
    # over stored bytes, NotImplementedError for a method zipfile lacks) out of the run,
    # where a damaged package is to count as none kept.
    import vsr.ops.aot_package as aot

    package = tmp_path / "network.pt2"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("network/data.so", bytes(range(256)) * 8)
    data = bytearray(package.read_bytes())
    central = data.rindex(b"PK\x01\x02")  # the central directory's entry: its method at +10
    data[central + 10 : central + 12] = method.to_bytes(2, "little")
    package.write_bytes(bytes(data))
    assert aot._intact(package) is False


def test_a_package_others_could_have_written_is_built_again(
    built, same_cache, monkeypatch, tmp_path
):
    import vsr.ops.aot_package as aot

    model, x, expected, packaged, _, _ = built
    good = tmp_path / "good.pt2"
    shutil.copyfile(packaged.package_path(x), good)
    fresh = PackagedNetwork(_engine_copy(model))
    path = fresh.package_path(x)
    path.chmod(0o664)  # a working package, but the group could have put it there
    builds = []

    def rebuild(network, example, mode, target):
        builds.append(target)
        fresh_file = target.with_suffix(".new")
        shutil.copyfile(good, fresh_file)  # what a real build writes, without the 15 s
        fresh_file.replace(target)

    monkeypatch.setattr(aot, "build_package", rebuild)
    torch.testing.assert_close(fresh(x), expected, rtol=1e-4, atol=1e-5)
    assert builds == [path] and (fresh.built, fresh.loaded) == (1, 0)
    assert path.stat().st_mode & 0o022 == 0


class _LockThatSaysWhoWaits:
    """A lock that sets `waiting` when a thread finds it held and waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waiting = threading.Event()

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.waiting.set()
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def _two_ask_one_after_the_other(
    model: torch.nn.Module, x: torch.Tensor, building: threading.Event
) -> tuple[list[PackagedNetwork], list[torch.Tensor]]:
    """Two PackagedNetworks of `model` called with `x` in two threads, the second once the
    first is `building`: the networks and their results."""
    networks = [PackagedNetwork(_engine_copy(model)) for _ in range(2)]
    results: list[torch.Tensor] = [torch.empty(0)] * 2

    def call(i: int) -> None:
        results[i] = networks[i](x)

    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert building.wait(timeout=30)
    second = threading.Thread(target=call, args=(1,))
    second.start()
    first.join()
    second.join()
    return networks, results


def test_two_threads_asking_for_one_shape_build_it_once(built, tmp_path, monkeypatch):
    import vsr.ops.aot_package as aot

    model, x, expected, packaged, _, _ = built
    good = tmp_path / "good.pt2"
    shutil.copyfile(packaged.package_path(x), good)
    monkeypatch.setenv("VSR_CACHE", str(tmp_path / "empty-cache"))
    lock = _LockThatSaysWhoWaits()
    monkeypatch.setattr(aot, "_BUILDING", lock)
    building = threading.Event()
    builds = []

    def build_while_the_other_asks(network, example, mode, target):
        builds.append(target)
        building.set()
        # The build ends once the second thread waits for it; were builds not one at a
        # time, that thread would find no package and build it too (and nothing waits).
        lock.waiting.wait(timeout=10)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(good, target)

    monkeypatch.setattr(aot, "build_package", build_while_the_other_asks)
    networks, results = _two_ask_one_after_the_other(model, x, building)
    assert lock.waiting.is_set() and len(builds) == 1
    assert [(n.built, n.loaded) for n in networks] == [(1, 0), (0, 1)]
    for result in results:
        torch.testing.assert_close(result, expected, rtol=1e-4, atol=1e-5)


def test_a_package_is_named_by_everything_that_decides_its_code(built):
    model, x, _, _, _, _ = built
    name = PackagedNetwork(_engine_copy(model)).package_path(x)
    assert PackagedNetwork(_engine_copy(model)).package_path(x) == name

    other_weights = copy.deepcopy(model)
    with torch.no_grad():
        next(other_weights.parameters())[0, 0, 0, 0] += 1e-3
    unfolded, _ = inference_copy(model, torch.device("cpu"), torch.float32, True, fold=False)
    hooked = _engine_copy(model)
    hooked.register_forward_pre_hook(lambda module, args: None)
    variants = {
        "weights": PackagedNetwork(_engine_copy(other_weights)).package_path(x),
        "settings (the attention unfolded)": PackagedNetwork(unfolded).package_path(x),
        "a hook": PackagedNetwork(hooked).package_path(x),
        "the mode": PackagedNetwork(_engine_copy(model), "max-autotune-no-cudagraphs").package_path(
            x
        ),
        "the shape": PackagedNetwork(_engine_copy(model)).package_path(x[:1]),
        "the layout": PackagedNetwork(_engine_copy(model)).package_path(x.contiguous()),
        "the dtype": PackagedNetwork(_engine_copy(model)).package_path(x.double()),
    }
    assert len(set(variants.values()) | {name}) == len(variants) + 1, variants


def test_vsr_bench_times_the_kept_package_and_its_load(built, same_cache, tmp_path, capsys):
    from vsr.cli import main
    from vsr.models import save_weights

    model = built[0]
    weights = tmp_path / "tiny.safetensors"
    save_weights(model, weights)
    flags = ["--sizes", "20x12", "--batch", "2", "--channels-last", "--device", "cpu",
             "--precision", "fp32"]  # fmt: skip
    (package,) = packages_dir().glob("*.pt2")
    written = package.stat().st_ino  # a load touches the file; a build replaces it
    status = main(["bench", "--model-only", "--weights", str(weights), *flags, "--compile",
                   "--repeats", "1"])  # fmt: skip
    assert status == 0
    row = next(line.split() for line in capsys.readouterr().out.splitlines() if "20x12" in line)
    assert row[2:5] == ["fp32", "CL", "compiled"]
    assert row[-1] != "-"  # the time the package took to load, shown as the compile column
    # The bench ran the engine's own package: loaded, not built again.
    assert list(packages_dir().glob("*.pt2")) == [package]
    assert package.stat().st_ino == written


def test_a_change_to_a_helper_beside_the_networks_code_names_a_new_package(tmp_path, monkeypatch):
    import importlib

    from vsr.ops.aot_package import network_identity

    folder = tmp_path / "mynets"
    folder.mkdir()
    (folder / "aot_identity_helpers.py").write_text("def twice(x):\n    return 2 * x\n")
    (folder / "aot_identity_net.py").write_text(
        "import torch\nfrom aot_identity_helpers import twice\n\n\n"
        "class Net(torch.nn.Module):\n    def forward(self, x):\n        return twice(x)\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    net = importlib.import_module("aot_identity_net").Net()
    before = network_identity(net)
    assert network_identity(net) == before
    (folder / "aot_identity_helpers.py").write_text("def twice(x):\n    return x + x\n")
    assert network_identity(net) != before


def test_the_least_recently_used_packages_go_beyond_the_cache_limit(tmp_path):
    from vsr.ops.aot_package import prune_packages

    ages = {"old.pt2": 300, "older.pt2": 400, "recent.pt2": 100, "new.pt2": 0}
    for name, age in ages.items():
        (tmp_path / name).write_bytes(b"x" * 1000)
        os.utime(tmp_path / name, (0, 1_000_000 - age))
    (tmp_path / "notes.txt").write_bytes(b"x" * 5000)  # not a package: never touched
    (tmp_path / ".old.pt2.lock").touch()  # goes with its package
    deleted = prune_packages(tmp_path, limit=2500, keep=tmp_path / "new.pt2")
    assert sorted(p.name for p in deleted) == ["old.pt2", "older.pt2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.pt2", "notes.txt", "recent.pt2"]
    # The package just built stays even when it alone is over the limit.
    assert prune_packages(tmp_path, limit=10, keep=tmp_path / "new.pt2") == [
        tmp_path / "recent.pt2"
    ]
    assert (tmp_path / "new.pt2").is_file()


def test_a_package_that_cannot_be_written_raises_and_leaves_nothing(tmp_path):
    # torch's zip writer aborted the process (SIGABRT, from its destructor) when a write to
    # its file failed: measured on a full 1 MiB tmpfs as the vsr cache, which cost the run.
    # Run in a child, with a file size limit for the full disk (EFBIG instead of ENOSPC),
    # and torch's packaging given a made-up package instead of a real build's.
    script = f"""
import resource
from pathlib import Path
import torch
import torch._inductor
from torch.export.pt2_archive._package import package_pt2
from vsr.ops.aot_package import build_package

def package(exported, package_path, inductor_configs):
    package_pt2(package_path, extra_files={{"kernels": "x" * (1 << 20)}})

torch._inductor.aoti_compile_and_package = package
torch.export.export = lambda network, args: None
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))
try:
    build_package(torch.nn.Identity(), torch.zeros(1), "default", Path({str(tmp_path)!r}) / "n.pt2")
except OSError as error:
    print("OSError", error.errno)
"""
    done = python_child(script)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["OSError", str(errno.EFBIG)]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), RuntimeError("C++ compile error")])
def test_a_build_that_stops_leaves_no_scratch_folder_and_says_nothing_of_one(
    tmp_path, monkeypatch, stop
):
    # torch's fresh_cache kept its folder after an interrupted or failed build (0.3-3.4 MB
    # in /tmp each, measured with Ctrl-C and SIGTERM) and logged "on error, temporary cache
    # dir kept at ..." to the user's terminal.
    import logging
    import tempfile

    import torch._inductor

    from vsr.ops.aot_package import build_package

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setenv("LC_ALL", "fr_FR.UTF-8")

    def package(exported, package_path, inductor_configs):
        # The compiler speaks English, which passing_cause reads (a French g++ says
        # "Aucun espace disponible sur le périphérique" for a full disk).
        assert os.environ["LC_ALL"] == "C"
        kernels = Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]) / "kernels.so"
        kernels.write_bytes(b"\0" * 4096)  # what the build had made so far
        # What g++, killed with SIGKILL, could not delete (1.7 MB measured).
        (Path(os.environ["TMPDIR"]) / "ccfE1W3D.s").write_bytes(b"\0" * 4096)
        raise stop

    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", package)
    monkeypatch.setattr(torch.export, "export", lambda network, args: None)
    logged = []
    handler = logging.Handler()
    handler.emit = logged.append
    logger = logging.getLogger("torch._inductor.utils")
    logger.addHandler(handler)
    try:
        with pytest.raises(type(stop)):
            build_package(torch.nn.Identity(), torch.zeros(1), "default", tmp_path / "n.pt2")
    finally:
        logger.removeHandler(handler)
    assert list(scratch.iterdir()) == []
    assert (os.environ["TMPDIR"], os.environ["LC_ALL"]) == (str(scratch), "fr_FR.UTF-8")
    assert [r.getMessage() for r in logged if "kept" in r.getMessage()] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]


def test_a_build_precompiles_no_headers(tmp_path, monkeypatch):
    # Precompiled headers went to $TMPDIR/torchinductor_$USER, outside the vsr cache and
    # its limit: 283 MiB after the first build, which they made 7.5 s slower.
    import torch._inductor

    from vsr.ops.aot_package import build_package

    asked = []

    def package(exported, package_path, inductor_configs):
        asked.append(inductor_configs)
        package_path.write(b"package")

    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", package)
    monkeypatch.setattr(torch.export, "export", lambda network, args: None)
    build_package(torch.nn.Identity(), torch.zeros(1), "default", tmp_path / "n.pt2")
    assert asked[0]["aot_inductor.precompile_headers"] is False
    assert (tmp_path / "n.pt2").read_bytes() == b"package"


def test_two_processes_asking_for_one_shape_build_it_once(built, tmp_path, monkeypatch):
    # Two `vsr run` of one frame size built the package together: 31.8 s each on 2 cores,
    # against 13 s for one. Two threads without the process's own lock stand for them (a
    # lock file's lock is held by its open file, so they exclude each other as processes do).
    import contextlib

    import vsr.ops.aot_package as aot

    model, x, expected, packaged, _, _ = built
    good = tmp_path / "good.pt2"
    shutil.copyfile(packaged.package_path(x), good)
    monkeypatch.setenv("VSR_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(aot, "_BUILDING", contextlib.nullcontext())
    building, second_builds = threading.Event(), threading.Event()
    builds = []

    def build(network, example, mode, target):
        builds.append(target)
        if building.is_set():
            second_builds.set()
        building.set()
        # Unlocked, the second process would build meanwhile; locked, it waits for this.
        second_builds.wait(timeout=1)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(good, target)

    monkeypatch.setattr(aot, "build_package", build)
    networks, results = _two_ask_one_after_the_other(model, x, building)
    assert len(builds) == 1
    assert [(n.built, n.loaded) for n in networks] == [(1, 0), (0, 1)]
    for result in results:
        torch.testing.assert_close(result, expected, rtol=1e-4, atol=1e-5)


def test_a_build_lock_held_for_too_long_is_waited_for_no_longer(tmp_path, monkeypatch):
    # A run stopped mid-build (Ctrl-Z) keeps its lock: every later run of that frame size
    # waited for it for good, its bar saying it was compiling. A second open of the lock
    # file stands for that process (a lock file's lock is held by its open file).
    import fcntl
    import os

    import vsr.ops.aot_package as aot

    package = tmp_path / "n.pt2"
    holder = os.open(aot._lock_of(package), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    monkeypatch.setattr(aot, "LOCK_WAIT_SECONDS", 0.3, raising=False)
    went_on = threading.Event()

    def build():
        with aot._one_process_builds(package):
            went_on.set()

    try:
        with pytest.warns(UserWarning, match="another process has been building n.pt2"):
            thread = threading.Thread(target=build, daemon=True)
            thread.start()
            assert went_on.wait(timeout=5)
            thread.join(timeout=10)
    finally:
        os.close(holder)  # lets a waiter without a limit go


def test_a_build_leaves_the_environment_the_host_set_during_it(tmp_path, monkeypatch) -> None:
    # The build sets TMPDIR and LC_ALL for the process while it lasts (torch starts the
    # compiler with the process's environment), and put back its earlier values over those
    # another thread of the host had set meanwhile.
    import torch._inductor

    from vsr.ops.aot_package import build_package

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("LC_ALL", raising=False)

    def package(exported, package_path, inductor_configs):
        thread = threading.Thread(target=lambda: os.environ.update(TMPDIR="/var/tmp"))
        thread.start()
        thread.join()
        raise OSError(errno.EIO, "stopped here")

    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", package)
    monkeypatch.setattr(torch.export, "export", lambda network, args: None)
    with pytest.raises(OSError, match="stopped here"):
        build_package(torch.nn.Identity(), torch.zeros(1), "default", tmp_path / "n.pt2")
    assert os.environ["TMPDIR"] == "/var/tmp"  # the host's, not put back to its earlier one
    assert "LC_ALL" not in os.environ  # the build's own, put back


def test_a_build_leaves_the_warning_filters_the_host_set_during_it(tmp_path, monkeypatch):
    # The build held torch's deprecation notes back with catch_warnings, which replaced the
    # filters of every thread for its length and then dropped one the host added meanwhile.
    import warnings

    import torch._inductor

    from vsr.ops.aot_package import build_package

    def package(exported, package_path, inductor_configs):
        thread = threading.Thread(
            target=lambda: warnings.filterwarnings("error", message="the host's own")
        )
        thread.start()
        thread.join()
        raise OSError(errno.EIO, "stopped here")

    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", package)
    monkeypatch.setattr(torch.export, "export", lambda network, args: None)
    with warnings.catch_warnings():  # the test's own, so that the host's filter goes after
        with pytest.raises(OSError, match="stopped here"):
            build_package(torch.nn.Identity(), torch.zeros(1), "default", tmp_path / "n.pt2")
        assert any(f[1] is not None and f[1].pattern == "the host's own" for f in warnings.filters)
