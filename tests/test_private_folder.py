"""The cache folders that hold compiled code are private, and refused when others can
change them (vsr.private_folder)."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
import torch

from vsr import private_folder, weights
from vsr.errors import VsrError
from vsr.ops.compiled import compile_network
from vsr.private_folder import make_private_folder, why_code_folder_is_unsafe

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder away takes root")


@pytest.fixture
def loose_umask():
    """A umask that lets the group write (a shared machine's common 002)."""
    before = os.umask(0o002)
    yield
    os.umask(before)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("VSR_CACHE", str(folder))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the user's own cache: home/.cache/vsr
    # Set, then removed: what compile_network sets is undone after the test.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "")
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    return folder


def mode_of(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_folder_made_is_private_whatever_the_umask(tmp_path, loose_umask) -> None:
    (tmp_path / "kept").mkdir(mode=0o755)
    target = tmp_path / "kept" / "cache" / "vsr" / "compiled"
    make_private_folder(target)
    assert [mode_of(p) for p in (target, target.parent, target.parent.parent)] == [0o700] * 3
    assert mode_of(tmp_path / "kept") == 0o755  # an existing folder keeps its mode
    make_private_folder(target)  # already there: nothing to do
    assert why_code_folder_is_unsafe(target, tmp_path / "kept" / "cache", []) is None


def test_a_folder_others_can_write_is_named_up_to_the_top_only(tmp_path) -> None:
    top = tmp_path / "cache"
    inner = top / "compiled"
    make_private_folder(inner)
    top.chmod(0o770)
    expected = (top, f"{top} can be written by its group or by everyone")
    assert why_code_folder_is_unsafe(inner, top, []) == expected
    top.chmod(0o1777)  # sticky, as /tmp: nobody replaces another's entries
    assert why_code_folder_is_unsafe(inner, top, []) is None
    top.chmod(0o700)
    tmp_path.chmod(0o777)  # above the top: the user's choice, not vsr's to judge
    try:
        assert why_code_folder_is_unsafe(inner, top, []) is None
    finally:
        tmp_path.chmod(0o700)
    inner.chmod(0o702)
    assert why_code_folder_is_unsafe(inner, top, [])[0] == inner


def test_compiled_code_is_not_kept_where_others_can_write(cache, tmp_path) -> None:
    make_private_folder(cache)
    cache.chmod(0o777)  # a VSR_CACHE the user chose: theirs to fix, not vsr's
    (tmp_path / "home").write_text("")  # nor can the user's own cache be made
    with pytest.raises(VsrError, match=r"everyone.*chmod go-w.*VSR_CACHE"):
        compile_network(torch.nn.Conv2d(3, 3, 1))
    assert mode_of(cache) == 0o777
    # Weights are checked by their sha256 on every use: their folder may be shared.
    assert weights.made_cache_folder("shared", "a test") == cache / "shared"


def test_a_team_cache_keeps_weights_and_sends_code_to_the_users_own(cache, tmp_path) -> None:
    # A VSR_CACHE a team shares for downloads refused --compile (and the fast preset).
    make_private_folder(cache)
    cache.chmod(0o770)
    own = tmp_path / "home" / ".cache" / "vsr"
    with pytest.warns(UserWarning) as told:
        packaged = compile_network(torch.nn.Conv2d(3, 3, 1))
    assert [str(w.message) for w in told] == [
        f"compiled networks are kept in {own}, not in the vsr cache {cache}: "
        f"{cache} can be written by its group or by everyone"
    ]  # once, for both code folders
    assert packaged.package_path(torch.zeros(1, 3, 4, 4)).parent == own / "compiled"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(own / "inductor")
    assert [mode_of(p) for p in (own, own / "compiled", own / "inductor")] == [0o700] * 3
    assert not (cache / "compiled").exists() and not (cache / "inductor").exists()
    assert weights.made_cache_folder("shared", "a test") == cache / "shared"


def test_code_folders_an_older_vsr_left_group_writable_are_tightened(cache) -> None:
    for name in ("compiled", "inductor"):
        (cache / name).mkdir(parents=True)
        (cache / name).chmod(0o775)  # made under a umask of 002
    compile_network(torch.nn.Conv2d(3, 3, 1))
    assert [mode_of(cache / name) for name in ("compiled", "inductor")] == [0o755, 0o755]
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(cache / "inductor")


def test_an_inductor_cache_the_user_set_is_theirs_to_judge(cache, tmp_path, monkeypatch):
    own = tmp_path / "kernels"
    own.mkdir(mode=0o777)
    own.chmod(0o777)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(own))
    compile_network(torch.nn.Conv2d(3, 3, 1))
    assert not (cache / "inductor").exists() and os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(own)


@needs_root
def test_a_cache_of_roots_serves_others(tmp_path, monkeypatch) -> None:
    # A read-only cache baked into an image is root's; a user running vsr trusts it, and
    # no other user.
    folder = tmp_path / "image-cache" / "compiled"
    make_private_folder(folder)
    monkeypatch.setattr(private_folder.os, "geteuid", lambda: 4242)
    assert why_code_folder_is_unsafe(folder, folder.parent, []) is None
    os.chown(folder, 4343, -1)
    assert why_code_folder_is_unsafe(folder, folder.parent, []) == (
        folder,
        f"{folder} belongs to another user",
    )


@needs_root
def test_a_folder_of_another_user_is_refused_with_the_right_advice(cache, monkeypatch) -> None:
    make_private_folder(cache / "compiled")
    os.chown(cache / "compiled", 4242, -1)
    (cache / "home").write_text("")  # nor can the user's own cache be made
    monkeypatch.setenv("HOME", str(cache / "home"))
    with pytest.raises(VsrError, match=r"belongs to another user.*set VSR_CACHE") as caught:
        compile_network(torch.nn.Conv2d(3, 3, 1))
    assert "chmod" not in str(caught.value)  # not theirs to chmod


def test_downloads_go_into_a_private_folder(tmp_path, loose_umask) -> None:
    source = tmp_path / "upstream.pth"
    source.write_bytes(b"weights")
    target = tmp_path / "cache" / "weights.pth"
    weights.fetch(source.as_uri(), hashlib.sha256(b"weights").hexdigest(), target)
    assert target.read_bytes() == b"weights"
    assert mode_of(target.parent) == 0o700


def test_a_user_without_a_home_folder_still_compiles_in_their_vsr_cache(cache, monkeypatch):
    # A container's uid with no passwd entry and HOME unset: Path.home() raises, which
    # the check for a fallback let out as a traceback though VSR_CACHE was fine.
    def no_home() -> None:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(weights.Path, "home", staticmethod(no_home))
    packaged = compile_network(torch.nn.Conv2d(3, 3, 1))
    assert packaged.package_path(torch.zeros(1, 3, 4, 4)).parent == cache / "compiled"
    monkeypatch.delenv("VSR_CACHE")
    with pytest.raises(VsrError, match="no home folder is known; set VSR_CACHE"):
        weights.cache_dir()


def test_the_default_cache_named_in_vsr_cache_is_still_vsrs_to_tighten(
    cache, tmp_path, monkeypatch
):
    # VSR_CACHE=~/.cache/vsr, made under a umask of 002: tightened, as without VSR_CACHE,
    # rather than refused.
    own = tmp_path / "home" / ".cache" / "vsr"
    own.mkdir(parents=True)
    own.chmod(0o775)
    monkeypatch.setenv("VSR_CACHE", str(own))
    assert weights.made_cache_folder("inductor", "a test", private_only=True) == own / "inductor"
    assert mode_of(own) == 0o755
