"""The compiled network built ahead of time and kept on disk, one package per input shape.

torch.compile compiles inside the process that runs the network, so every run pays for
dynamo's import and its trace of the network before the first frame, even when inductor's
kernel cache is warm. On this project's 2-core CPU that is 6.5 s a run at any frame size.
On an H100 the warm-up of a warm-cache `vsr run` was 4.6-6.5 s.

Here the network is exported (torch.export) and AOTInductor compiles it, with the same
inductor kernels and the same autotuning, into a package: a shared library holding the
kernels, a C++ wrapper that launches them and the weights. The package is kept in the vsr
cache, named by a digest of everything that decides its code. A later run of the same
network and shape loads it with a dlopen in milliseconds, and nothing is traced.

Loading goes through torch's own binding (torch._C._aoti) rather than
torch._inductor.aoti_load_package, because importing torch._inductor imports dynamo: that
is 1.6 s of the cost this module removes. A torch whose binding differs falls back to the
Python loader.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import logging
import os
import platform
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from vsr.atomic_file import atomic_output
from vsr.caller_warning import warn_the_caller
from vsr.private_folder import make_private_folder, why_others_can_change

PACKAGES_FOLDER = "compiled"  # in the vsr cache
# Part of every package's name: raise it when the way packages are built changes.
PACKAGE_FORMAT = "vsr-aot-1"
# The packages kept: after a build, the least recently used go beyond this many bytes
# (a few MB each on the CPU; a user of many frame sizes should not fill the disk).
CACHE_BYTES = 2 << 30
# One build at a time in a process: two threads asking for the same shape then build it
# once (the second loads what the first built), and the warning filters a build changes
# for its duration are not restored out of order by another build (they are global).
_BUILDING = threading.Lock()
# How long a build waits for another process's build of its package before building it too
# (the cost the lock saves: a build took 9-25 s on 2 cores, 31.8 s two at once). Without a
# limit, a run stopped mid-build (Ctrl-Z) held every later run of its frame size for good.
LOCK_WAIT_SECONDS = 180.0


def packages_dir() -> Path:
    """Where compiled packages are kept: ``compiled/`` in the vsr cache."""
    from vsr.weights import cache_dir

    return cache_dir() / PACKAGES_FOLDER


class PackagedNetwork:
    """``packaged(x)`` equals ``network(x)``, run by a package compiled ahead of time for x's
    shape, dtype, layout and device. The first call of a signature loads its package from
    the cache, or exports and compiles it and keeps it there (tens of seconds).
    `built` and `loaded` count both, for reports and tests.

    With `builds=False` nothing is built: a signature without a usable kept package (none,
    damaged, or one others could have written) runs the network itself, uncompiled, and
    `uncompiled_calls` counts those calls (a clip too short to repay a build; see
    vsr.ops.compile_policy)."""

    def __init__(
        self,
        network: nn.Module,
        mode: str = "default",
        folder: Path | None = None,
        builds: bool = True,
    ) -> None:
        self.network = network
        self.mode = mode
        self.folder = folder  # where the packages are kept; None: packages_dir()
        self.builds = builds
        self.built = 0
        self.loaded = 0
        self.uncompiled_calls = 0
        self._identity: str | None = None
        self._runners: dict[tuple, Callable[[torch.Tensor], torch.Tensor]] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        signature = (tuple(x.shape), x.stride(), x.dtype, x.device)
        run = self._runners.get(signature)
        if run is None:
            run = self._runners[signature] = self._load_or_build(x)
        if run is self.network:
            self.uncompiled_calls += 1
        return run(x)

    def package_path(self, x: torch.Tensor) -> Path:
        """The cache file of the package for inputs like ``x``."""
        if self._identity is None:
            self._identity = network_identity(self.network)
        parts = [
            PACKAGE_FORMAT,
            torch.__version__,
            _device_description(x.device),
            self.mode,
            str(tuple(x.shape)),
            str(x.stride()),
            str(x.dtype),
            self._identity,
        ]
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
        return (
            self.folder or packages_dir()
        ) / f"{type(self.network).__name__.lower()}-{digest}.pt2"

    def _load_or_build(self, x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        if not self.builds:
            # No lock: a build of this package under way elsewhere is not waited for (up to
            # LOCK_WAIT_SECONDS), and a package is only ever seen whole (atomic_output).
            return self._load_kept(self.package_path(x), x.device) or self.network
        with _BUILDING, _one_process_builds(self.package_path(x)):
            return self._load_or_build_alone(x)

    def _load_kept(
        self, path: Path, device: torch.device
    ) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The package kept at `path`, loaded; None where there is none that can be used."""
        try:
            # A package another user could have written is code of theirs: never run.
            if not path.is_file() or why_others_can_change(path) is not None:
                return None
            if not _intact(path):
                return None
            run = load_package(path, device)
        except RuntimeError:
            return None  # damaged, or written by another build of torch
        except OSError:
            return None  # gone meanwhile: another vsr process pruned its cache
        self.loaded += 1
        with contextlib.suppress(OSError):  # a read-only cache still serves
            path.touch()  # recently used: kept when the cache is pruned
        return run

    def _load_or_build_alone(self, x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        path = self.package_path(x)
        kept = self._load_kept(path, x.device)
        if kept is not None:
            return kept
        build_package(self.network, x, self.mode, path)  # none kept, or unusable: built anew
        self.built += 1
        with contextlib.suppress(OSError):  # tidying up must not cost the run
            prune_packages(path.parent, CACHE_BYTES, keep=path)
        return load_package(path, x.device)


@contextlib.contextmanager
def _one_process_builds(path: Path) -> Iterator[None]:
    """Holds the lock of the package at ``path`` across vsr processes: another one building
    it (a run of a clip of the same frame size, started meanwhile) is waited for, and its
    package loaded, instead of built a second time at once. Two `vsr run` building one
    package together took 31.8 s each on 2 cores, against 13 s for one alone. Where no lock
    can be had (no fcntl, a read-only cache) each process goes on as if it held it."""
    try:
        import fcntl

        make_private_folder(path.parent)
        handle = os.open(_lock_of(path), os.O_RDWR | os.O_CREAT, 0o600)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):  # a file system without locks: build anyway
            # Polled, as a blocking flock has no time limit; Ctrl-C still interrupts it.
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        warn_the_caller(
                            f"another process has been building {path.name} for "
                            f"{LOCK_WAIT_SECONDS:.0f} s (stopped, or its lock stuck): "
                            "built here too"
                        )
                        break
                    time.sleep(0.1)
        yield
    finally:
        os.close(handle)  # and with it the lock


def _lock_of(package: Path) -> Path:
    """The lock file of a package (_one_process_builds), deleted with it when the cache is
    pruned (a build of it then under way may be made twice, and one replaces the other)."""
    return package.with_name(f".{package.name}.lock")


def build_package(network: nn.Module, x: torch.Tensor, mode: str, path: Path) -> None:
    """Export ``network`` for inputs like ``x``, compile it with AOTInductor in torch.compile's
    ``mode`` and write the package to ``path`` (whole or not at all)."""
    from torch._inductor import aoti_compile_and_package, list_mode_options
    from torch._inductor import config as inductor_config
    from torch._inductor import utils as inductor_utils

    # Older torch names it fresh_inductor_cache only; torch 2.13 has both names.
    fresh_cache = (
        getattr(inductor_utils, "fresh_cache", None) or inductor_utils.fresh_inductor_cache
    )

    options = dict(list_mode_options(mode))
    # Inductor precompiles the wrapper's headers once per compiler and flags, into
    # $TMPDIR/torchinductor_$USER (outside the vsr cache and its limit): 283 MiB there
    # for the first build, which it made 7.5 s slower (24.6 s against 16.9-17.7 s for
    # 320x180, bundled x2), to save under 1 s in each later build (16.1-17.0 s).
    if hasattr(inductor_config.aot_inductor, "precompile_headers"):
        options["aot_inductor.precompile_headers"] = False
    make_private_folder(path.parent)  # packages are code: see vsr.private_folder
    # Built in a scratch inductor cache that is deleted afterwards: the package holds all
    # that the build makes, and keeping the build's files as well would double its disk.
    # fresh_cache deletes its folder only after a build that worked, and says so in a log
    # line when it keeps it: an interrupted or failed build left 0.3-3.4 MB in /tmp each
    # time. Its folder is made in one of ours, which goes whatever the way out.
    with (
        tempfile.TemporaryDirectory(prefix="vsr-build-", ignore_cleanup_errors=True) as scratch,
        _compiler_environment(scratch),
        _unsaid(_KEPT_SCRATCH, logging.getLogger(inductor_utils.__name__)),
        fresh_cache(dir=scratch),
    ):
        # torch's own deprecation notes from inside export are left to the host's filters:
        # catch_warnings here replaced every thread's for the build's length, and dropped
        # a filter another thread added meanwhile. The vsr command holds them back itself.
        with torch.no_grad():
            exported = torch.export.export(network, (x,))
        # Packaged in memory (a few MB), then written here: torch's zip writer, when a
        # write to its file fails (a full disk), aborts the whole process from its
        # destructor, which would cost the run; a write of ours raises an OSError.
        package = io.BytesIO()
        aoti_compile_and_package(exported, package_path=package, inductor_configs=options)
    with atomic_output(path, "wb") as stream:
        stream.write(package.getbuffer())


@contextlib.contextmanager
def _compiler_environment(folder: str) -> Iterator[None]:
    """The C++ compiler's own temporary files (TMPDIR) go to ``folder``, and its messages
    are in English (LC_ALL=C), for the duration.

    A build stopped by Ctrl-C or SIGTERM kills g++ with SIGKILL (Python's subprocess),
    and it cannot delete its assembly file (/tmp/ccXXXXXX.s, 1.7 MB measured); a SIGTERM
    to vsr alone leaves g++'s cc1plus running on for a moment, writing it. A failed build
    is told from a full disk or a killed compiler by the compiler's words
    (vsr.ops.compile_policy.passing_cause), which a translated g++ would say otherwise.
    Only child processes read these: Python's tempfile and locale were settled long before.
    Torch starts the compiler with the process's environment, so the setting is the
    process's while the build lasts (README says so); a value the host sets meanwhile is
    its own, and stays."""
    ours = {"TMPDIR": folder, "LC_ALL": "C"}
    before = {name: os.environ.get(name) for name in ours}
    os.environ.update(ours)
    try:
        yield
    finally:
        for name, value in before.items():
            if os.environ.get(name) != ours[name]:
                continue  # changed by the host (another thread) during the build
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# What torch's fresh_cache logs of a scratch folder it keeps (which ours then deletes).
_KEPT_SCRATCH = "temporary cache dir kept at"


@contextlib.contextmanager
def _unsaid(words: str, logger: logging.Logger) -> Iterator[None]:
    """``logger``'s records that hold ``words`` are dropped for the duration."""

    def said(record: logging.LogRecord) -> bool:
        return words not in record.getMessage()

    logger.addFilter(said)
    try:
        yield
    finally:
        logger.removeFilter(said)


def prune_packages(folder: Path, limit: int, keep: Path) -> list[Path]:
    """Delete the least recently used packages in ``folder`` beyond ``limit`` bytes in all,
    never ``keep``; return what was deleted."""
    found = []
    for package in folder.glob("*.pt2"):
        with contextlib.suppress(FileNotFoundError):  # another process pruned it first
            status = package.stat()
            found.append((status.st_mtime, status.st_size, package))
    deleted, total = [], 0
    for _, size, package in sorted(found, reverse=True):
        total += size
        if total > limit and package != keep:
            package.unlink(missing_ok=True)
            _lock_of(package).unlink(missing_ok=True)
            deleted.append(package)
    return deleted


def _intact(package: Path) -> bool:
    """Whether every file in the package still has the checksum it was stored with.

    A package whose shared library was damaged on disk (a bad sector, a copy cut short
    inside a zip that still reads) is dlopen'ed and run by the loader, which can end the
    process with a bus error rather than an exception. Reading it once to check costs
    1-2 ms for a 5 MB package.
    """
    try:
        with zipfile.ZipFile(package) as archive:
            return archive.testzip() is None
    # A damaged compression method reads as one zipfile lacks (NotImplementedError) or as
    # deflate over stored bytes (zlib.error): testzip passes only BadZipFile on as a name.
    except (zipfile.BadZipFile, EOFError, NotImplementedError, zlib.error):
        return False


def load_package(path: Path, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """The network in the package at ``path``, as a function of one tensor."""
    index = device.index if device.type == "cuda" and device.index is not None else -1
    # Single-threaded: the engine calls from one thread, and the multi-threaded runner waits
    # on CUDA events between calls, which a CUDA graph capture does not allow.
    try:
        loader = torch._C._aoti.AOTIModelPackageLoader(str(path), "model", True, 1, index)
    except (AttributeError, TypeError):
        from torch._inductor import aoti_load_package

        compiled = aoti_load_package(str(path), run_single_threaded=True, device_index=index)
        return compiled
    return lambda x: loader.run([x])[0]


def network_identity(network: nn.Module) -> str:
    """A digest of what decides the network's compiled code: each module's type, settings
    and hooks, the code that defines them, and every weight's values.

    The code is every Python file in the folders of the modules' and hooks' source files
    (vsr/models/, vsr/ops/), because a forward pass also calls helpers beside its class;
    torch's own files are named by torch's version instead."""
    digest = hashlib.sha256()
    sources: set[str] = set()
    for name, module in network.named_modules():
        settings = {
            key: value
            for key, value in vars(module).items()
            if not key.startswith("_") and isinstance(value, (bool, int, float, str, tuple))
        }
        hooks = [*module._forward_pre_hooks.values(), *module._forward_hooks.values()]
        hook_names = [f"{h.__module__}.{h.__qualname__}" for h in hooks]
        digest.update(f"{name}:{type(module).__qualname__}:{settings}:{hook_names}\n".encode())
        sources.update(_source_file(obj) for obj in (type(module), *hooks))
    for source in _code_files(sources):
        digest.update(source.read_bytes())
    for name, tensor in network.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _code_files(sources: set[str]) -> list[Path]:
    torch_root = Path(torch.__file__).parent
    folders = {Path(s).parent for s in sources if s and not Path(s).is_relative_to(torch_root)}
    return sorted(file for folder in folders for file in folder.glob("*.py"))


def _source_file(obj: object) -> str:
    try:
        return inspect.getsourcefile(obj) or ""  # type: ignore[arg-type]
    except TypeError:
        return ""  # built in: torch's version names it


def _device_description(device: torch.device) -> str:
    """The device a package's kernels were built for: the GPU's model and architecture, or
    the CPU's instruction set (a package vectorised for AVX-512 would crash on AVX2)."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"cuda {torch.cuda.get_device_name(device)} sm{major}{minor} {torch.version.cuda}"
    return f"cpu {platform.machine()} {torch.backends.cpu.get_cpu_capability()}"
