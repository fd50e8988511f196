"""When `vsr run` compiles the network on the CPU without being asked (vsr.ops.compile_policy)."""

from __future__ import annotations

import errno
import os
import sys

from vsr.ops.compile_policy import (
    auto_compile_for,
    compiling_pays,
    cpp_compiler_found,
    earlier_failure,
    forget_failure,
    passing_cause,
    remember_failure,
)


def test_a_clip_is_compiled_when_its_pixels_repay_the_build():
    assert not compiling_pays(72, 180, 320)  # the README's sample: runs as before
    assert compiling_pays(600, 180, 320)
    assert not compiling_pays(50, 540, 960) and compiling_pays(60, 540, 960)
    assert compiling_pays(15, 1080, 1920)
    assert compiling_pays(30, 1000, 1000) and not compiling_pays(29, 1000, 1000)  # 30 million
    assert not compiling_pays(None, 2160, 3840)  # a length nobody can tell: not a bet


def test_a_clip_too_short_for_a_build_loads_a_kept_package_where_the_load_pays():
    assert auto_compile_for(600, 180, 320) == "auto"
    assert auto_compile_for(1, 180, 320) == "kept"  # 15-17 ms of load against ~90 saved
    assert auto_compile_for(1, 64, 96) is False  # a few ms saved: not worth the load
    assert auto_compile_for(9, 64, 96) == "kept"
    assert auto_compile_for(None, 2160, 3840) == "kept"  # the bet costs milliseconds


def test_the_compiler_looked_for_is_the_one_inductor_calls(monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    assert not cpp_compiler_found()
    monkeypatch.setenv("CXX", sys.executable)  # any program there will do
    assert cpp_compiler_found()


def test_a_full_disk_is_found_inside_the_error_inductor_wraps_it_in():
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    try:
        try:
            raise full
        except OSError as error:
            raise RuntimeError("InductorError: backend compiler failed") from error
    except RuntimeError as wrapped:
        assert passing_cause(wrapped) == os.strerror(errno.ENOSPC)
    assert passing_cause(RuntimeError("fatal error: Python.h: No such file or directory")) is None
    # g++ whose compiler proper the out-of-memory killer ended: the next build may not be.
    killed = "CppCompileError: C++ compile error\ng++: fatal error: Killed signal terminated program cc1plus"
    assert (
        passing_cause(RuntimeError(killed))
        == f"{os.strerror(errno.ENOMEM)} (the compiler was killed)"
    )


def test_running_out_of_memory_is_found_however_it_reached_the_build():
    # Python's MemoryError has no text to read, and an error raised while another was
    # being handled carries it as its context, not its cause.
    assert passing_cause(MemoryError()) == os.strerror(errno.ENOMEM)
    try:
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError("InductorError: backend compiler failed")  # noqa: B904
    except RuntimeError as wrapped:
        assert passing_cause(wrapped) == os.strerror(errno.ENOSPC)


def test_a_failed_build_remembered_without_a_reason_is_still_remembered(tmp_path, monkeypatch):
    # An error whose text is empty must still keep "auto" from building on every clip.
    monkeypatch.setenv("VSR_CACHE", str(tmp_path))
    assert earlier_failure() is None
    remember_failure("")
    assert earlier_failure() == "no reason given"
    forget_failure()
    assert earlier_failure() is None
