"""The cache folders that hold compiled code are private, and refused when others can
write them (vsr.private_folder)."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
import torch

from vsr import weights
from vsr.errors import VsrError
from vsr.ops.compiled import compile_network
from vsr.private_folder import make_private_folder, writable_by_others


@pytest.fixture
def loose_umask():
    """A umask that lets the group write (a shared machine's common 002)."""
    before = os.umask(0o002)
    yield
    os.umask(before)


def mode_of(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_folder_made_is_private_whatever_the_umask(tmp_path, loose_umask) -> None:
    (tmp_path / "kept").mkdir(mode=0o755)
    target = tmp_path / "kept" / "cache" / "vsr" / "compiled"
    make_private_folder(target)
    assert [mode_of(p) for p in (target, target.parent, target.parent.parent)] == [0o700] * 3
    assert mode_of(tmp_path / "kept") == 0o755  # an existing folder keeps its mode
    make_private_folder(target)  # already there: nothing to do
    assert writable_by_others(target, tmp_path / "kept" / "cache") is None


def test_a_folder_others_can_write_is_named_up_to_the_top_only(tmp_path) -> None:
    top = tmp_path / "cache"
    inner = top / "compiled"
    make_private_folder(inner)
    top.chmod(0o770)
    assert writable_by_others(inner, top) == f"{top} can be written by its group or by everyone"
    top.chmod(0o700)
    tmp_path.chmod(0o777)  # above the top: not vsr's to judge
    try:
        assert writable_by_others(inner, top) is None
    finally:
        tmp_path.chmod(0o700)
    inner.chmod(0o702)
    assert "by its group or by everyone" in writable_by_others(inner, top)


def test_compiled_code_is_not_kept_where_others_can_write(tmp_path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("VSR_CACHE", str(cache))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    make_private_folder(cache / "compiled")
    (cache / "compiled").chmod(0o777)
    with pytest.raises(VsrError, match=r"compiled.*everyone.*chmod go-w.*VSR_CACHE"):
        compile_network(torch.nn.Conv2d(3, 3, 1))
    # Weights are checked by their sha256 on every use: their folder may be shared.
    (cache / "shared").mkdir(mode=0o777)
    (cache / "shared").chmod(0o777)
    assert weights.made_cache_folder("shared", "a test") == cache / "shared"


def test_downloads_go_into_a_private_folder(tmp_path, monkeypatch, loose_umask) -> None:
    source = tmp_path / "upstream.pth"
    source.write_bytes(b"weights")
    target = tmp_path / "cache" / "weights.pth"
    weights.fetch(source.as_uri(), hashlib.sha256(b"weights").hexdigest(), target)
    assert target.read_bytes() == b"weights"
    assert mode_of(target.parent) == 0o700
