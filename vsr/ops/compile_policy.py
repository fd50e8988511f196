"""When `vsr run` compiles the network on the CPU without being asked (`compile="auto"`).

On the CPU the network compiled ahead of time (vsr.ops.aot_package) ran IMDN x2 1.4x
faster than uncompiled at 320x180 and 1.8x at 640x360 and 960x540 (bf16, channels_last,
2 cores with AVX512_BF16: `vsr bench --model-only --device cpu --precision bf16
--channels-last --compile`), and 1.15x in fp32 at 320x180. Building the package for a
frame size took 9-20 s, once: later runs load it from the vsr cache in a moment. End to
end, a 60-frame 960x540 clip took 142.6 s building the package and 122.8 s with it kept,
against 208.2 s uncompiled (README).

A build pays when the clip gives the network enough pixels to repay it. The compiler and
the network run on the same CPU, so a faster CPU builds faster as well as running faster,
and the break-even, counted in pixels, hardly depends on the machine. At the slowest gain
measured (fp32, 320x180: 0.05 s saved a frame) a 15 s build is repaid after about 330
frames, 19 million pixels; the threshold asks for half as much again. It is about 520
frames at 320x180, 130 at 640x360, 58 at 960x540 and 15 at 1920x1080. A short clip, the
README's sample included, runs uncompiled, as before.

A clip too short to repay a build still runs a package kept from an earlier run for its
frame size, where there is one ("kept": vsr.upscale.Upscaler), as loading it costs
milliseconds. Measured on 2 cores of an AMD EPYC (a fresh Upscaler's first call against its
second, medians of 15-21, bundled x2 weights, channels_last): the kept package's first call
took 15-17 ms more than its later ones (the network's digest that names the package, the
load, the first run), the uncompiled network's 8-10 ms more than its own; a compiled frame
saved about 90 ms at 320x180 in bf16 (1.6x), 56 ms in fp32 (1.2x) and 5-8 ms at 96x64 in bf16.
At fp32's 0.97 us saved a pixel, the 15-17 ms are repaid after about 17,000 pixels; the
threshold asks for three times that, as the first call took up to 68 ms with the machine
busy. One 320x180 frame (57,600 pixels) loads; a clip of a few 96x64 frames does not. A
clip whose length nobody can tell loads too: the bet costs milliseconds, not a build.

On CUDA "auto" does not compile: there torch.compile traces the network in every process
and its first build takes 30-45 s (vsr.ops.compiled); the presets decide.

A build that failed under "auto" (a compiler without the headers or libraries it needs, a
torch whose inductor breaks on this network) would fail again on every long clip, each
time after seconds of export and a warning. The failure is remembered in the packages
folder, for this torch, compiler and CPU, and "auto" runs uncompiled with a note until a
`--compile` run builds or loads a package. A build that failed for want of disk space or
memory is not remembered: it may well work next time.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import platform
import shutil
import sys
from pathlib import Path

import torch

from vsr.errors import VsrError

# Network input pixels (frames x height x width) from which building a package pays.
PIXELS_THAT_REPAY_A_BUILD = 30_000_000
# Network input pixels from which loading a package kept from an earlier run pays.
PIXELS_THAT_REPAY_A_LOAD = 50_000
# Failures of the moment rather than of the machine: a full disk, too little memory.
_PASSING_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.ENOMEM)
# What g++ prints when a signal ended its compiler proper: the kernel's out-of-memory
# killer, mostly, whose victim the next build (with more memory free) may not be.
_KILLED_COMPILER = "Killed signal terminated program"


def compiling_pays(frames: int | None, height: int, width: int) -> bool:
    """Whether a clip of `frames` network inputs of height x width (None: a count nobody
    can tell) is long enough to repay building a compiled package on the CPU."""
    return frames is not None and frames * height * width >= PIXELS_THAT_REPAY_A_BUILD


def loading_pays(frames: int | None, height: int, width: int) -> bool:
    """Whether a clip of `frames` network inputs of height x width (None: a count nobody
    can tell) is long enough to repay loading a package kept in the vsr cache."""
    return frames is None or frames * height * width >= PIXELS_THAT_REPAY_A_LOAD


def auto_compile_for(frames: int | None, height: int, width: int) -> str | bool:
    """What `compile="auto"` becomes for a clip of `frames` network inputs of height x
    width on the CPU: "auto" (build the package, or load a kept one) where a build pays,
    "kept" (a kept package only, never a build) where a load pays, else False."""
    if compiling_pays(frames, height, width):
        return "auto"
    return "kept" if loading_pays(frames, height, width) else False


def cpp_compiler_found() -> bool:
    """Whether the C++ compiler that inductor would call is installed. Without one a build
    fails only after exporting the network (seconds); "auto" then does not try."""
    return _cpp_compiler() is not None


def earlier_failure() -> str | None:
    """Why an "auto" build failed before with this torch, compiler and CPU; None if none did."""
    record = _failure_record()
    if record is None:
        return None
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return record.read_text().strip() or "no reason given"
    return None


def passing_cause(error: BaseException) -> str | None:
    """Why a build failed, in words, where the next build may well not fail (a full disk,
    too little memory); None for a failure of this machine's compiler or torch.

    The compiler's own complaint ("fatal error: cannot write PCH file: No space left on
    device", measured with a full temporary folder) reaches us only as text, inside
    inductor's error, so the text of each error in the chain is read as well."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, MemoryError):
            return os.strerror(errno.ENOMEM)
        if isinstance(error, OSError) and error.errno in _PASSING_ERRNOS:
            return os.strerror(error.errno)
        for code in _PASSING_ERRNOS:
            if os.strerror(code) in str(error):
                return os.strerror(code)
        if _KILLED_COMPILER in str(error):  # the out-of-memory killer's doing, mostly
            return f"{os.strerror(errno.ENOMEM)} (the compiler was killed)"
        error = error.__cause__ or error.__context__
    return None


def remember_failure(reason: str) -> None:
    """Keep why an "auto" build failed, so that later long clips do not try it again."""
    from vsr.private_folder import make_private_folder

    record = _failure_record()
    if record is None:
        return
    with contextlib.suppress(OSError):  # a cache that cannot keep it: tried again next time
        make_private_folder(record.parent)
        record.write_text(reason)


def forget_failure() -> None:
    """A build (or a kept package) worked: "auto" may compile again."""
    record = _failure_record()
    if record is not None:
        with contextlib.suppress(OSError):
            record.unlink(missing_ok=True)


def _cpp_compiler() -> str | None:
    default = "clang++" if sys.platform == "darwin" else "g++"
    return shutil.which(os.environ.get("CXX") or default)


def _failure_record() -> Path | None:
    """Where the failure is kept; None where no vsr cache is known (no home folder, no
    VSR_CACHE), which "auto" takes as no failure, as it does an unusable cache."""
    from vsr.ops.aot_package import packages_dir

    try:
        folder = packages_dir()
    except VsrError:
        return None
    machine = [
        torch.__version__,
        str(_cpp_compiler()),
        platform.machine(),
        torch.backends.cpu.get_cpu_capability(),
    ]
    digest = hashlib.sha256("\n".join(machine).encode()).hexdigest()[:16]
    return folder / f"auto-build-failed-{digest}.txt"
