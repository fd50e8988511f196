"""When `vsr run` compiles the network on the CPU without being asked (`compile="auto"`).

On the CPU the network compiled ahead of time (vsr.ops.aot_package) ran IMDN x2 1.4x
faster than uncompiled at 320x180 and 1.8x at 640x360 and 960x540 (bf16, channels_last,
2 cores with AVX512_BF16: `vsr bench --model-only --device cpu --precision bf16
--channels-last --compile`), and 1.15x in fp32 at 320x180. Building the package for a
frame size took 9-16 s, once: later runs load it from the vsr cache in a moment.

A build pays when the clip gives the network enough pixels to repay it. The compiler and
the network run on the same CPU, so a faster CPU builds faster as well as running faster,
and the break-even, counted in pixels, hardly depends on the machine. At the slowest gain
measured (fp32, 320x180: 0.05 s saved a frame) a 15 s build is repaid after about 330
frames, 19 million pixels; the threshold asks for half as much again. It is about 520
frames at 320x180, 130 at 640x360, 58 at 960x540 and 15 at 1920x1080. A short clip, the
README's sample included, runs uncompiled, as before.

On CUDA "auto" does not compile: there torch.compile traces the network in every process
and its first build takes 30-45 s (vsr.ops.compiled); the presets decide.
"""

from __future__ import annotations

import os
import shutil
import sys

# Network input pixels (frames x height x width) from which building a package pays.
PIXELS_THAT_REPAY_A_BUILD = 30_000_000


def compiling_pays(frames: int | None, height: int, width: int) -> bool:
    """Whether a clip of `frames` network inputs of height x width (None: a count nobody
    can tell) is long enough to repay building a compiled package on the CPU."""
    return frames is not None and frames * height * width >= PIXELS_THAT_REPAY_A_BUILD


def cpp_compiler_found() -> bool:
    """Whether the C++ compiler that inductor would call is installed. Without one a build
    fails only after exporting the network (seconds); "auto" then does not try."""
    default = "clang++" if sys.platform == "darwin" else "g++"
    return shutil.which(os.environ.get("CXX") or default) is not None
