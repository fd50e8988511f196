"""A container's memory limit bounds vsr's default budget and its memory checks: the host's
RAM, which a container sees, is not what it may use."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vsr.container_memory import container_limits

GIB = 1 << 30


def _tree(tmp_path: Path, cgroup: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "sys"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    proc = tmp_path / "cgroup"
    proc.write_text(cgroup)
    return root, proc


def test_a_v2_group_limit_and_what_it_may_still_take(tmp_path):
    root, proc = _tree(
        tmp_path,
        "0::/docker/abc\n",
        {
            "docker/abc/memory.max": f"{4 * GIB}\n",
            "docker/abc/memory.current": f"{GIB}\n",
            "docker/abc/memory.stat": f"anon 1\ninactive_file {GIB // 2}\n",
        },
    )
    # Page cache not recently used is free to the group, as docker stats counts it.
    assert container_limits(root, proc) == (4 * GIB, 4 * GIB - GIB // 2)


def test_a_v1_limit_seen_at_the_root_of_the_containers_hierarchy(tmp_path):
    # Inside a container the group's own path is often not mounted: its root holds it.
    root, proc = _tree(
        tmp_path,
        "4:memory:/docker/abc\n0::/\n",
        {
            "memory/memory.limit_in_bytes": f"{2 * GIB}\n",
            "memory/memory.usage_in_bytes": f"{3 * GIB}\n",  # over: nothing is free
        },
    )
    assert container_limits(root, proc) == (2 * GIB, 0)


@pytest.mark.parametrize(("own", "root_limit"), [(8 * GIB, 4 * GIB), (2 * GIB, 6 * GIB)])
def test_the_tighter_of_the_groups_limit_and_the_roots_is_the_one(tmp_path, own, root_limit):
    # A container's own group and the root of the hierarchy it sees may both set a limit:
    # the kernel enforces each, so the smaller one is what the process may use.
    root, proc = _tree(
        tmp_path,
        "0::/docker/abc\n",
        {
            "docker/abc/memory.max": f"{own}\n",
            "docker/abc/memory.current": f"{GIB}\n",
            "memory.max": f"{root_limit}\n",
            "memory.current": f"{GIB}\n",
        },
    )
    tighter = min(own, root_limit)
    assert container_limits(root, proc) == (tighter, tighter - GIB)


@pytest.mark.parametrize(
    "files",
    [
        {"memory.max": "max\n", "memory.current": "5\n"},
        {"memory/memory.limit_in_bytes": "9223372036854771712\n"},  # v1's "no limit"
        {},
    ],
)
def test_no_limit_is_none(tmp_path, files):
    root, proc = _tree(tmp_path, "4:memory:/\n0::/\n", files)
    assert container_limits(root, proc) == (None, None)
    assert container_limits(tmp_path / "absent", tmp_path / "absent") == (None, None)


def test_the_default_cpu_budget_and_the_memory_check_keep_to_the_container(monkeypatch):
    import vsr.container_memory
    from vsr.errors import VsrError
    from vsr.models import create_model
    from vsr.profiling import check_memory
    from vsr.upscale import default_memory_budget

    monkeypatch.setattr(vsr.container_memory, "container_limits", lambda: (4 * GIB, 3 * GIB))
    cpu = torch.device("cpu")
    assert default_memory_budget(cpu) == 2 * GIB  # half the limit, not of the host's RAM
    network = create_model("imdn", 2)
    check_memory(network, (512, 512), cpu, "IMDN x2")  # about 1.4 GB: fits in 3 GiB
    with pytest.raises(VsrError, match=r"needs about .* and cpu has 3\.22 GB available"):
        check_memory(network, (1024, 1024), cpu, "IMDN x2")
