"""The memory limit of the control group (container) this process runs in, on Linux.

A container started with `docker run --memory 4g` on a 64 GB host sees 64 GB in sysconf and
/proc/meminfo, and the kernel kills it past 4 GB: a budget of half the host's RAM planned for
32 GB. Both cgroup versions are read: v2's memory.max and memory.current, v1's
memory.limit_in_bytes and memory.usage_in_bytes, in the process's own group (from
/proc/self/cgroup) and in the root of the hierarchy the container sees.
"""

from __future__ import annotations

from pathlib import Path

# v1 writes "no limit" as a huge page-aligned number (2**63 - 4096 on x86-64).
_NO_LIMIT_FROM = 1 << 60


def _groups(proc_cgroup: Path) -> tuple[str | None, str | None]:
    """This process's v2 group path and v1 memory group path, from /proc/self/cgroup."""
    v2 = v1 = None
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        elif "memory" in parts[1].split(","):
            v1 = parts[2]
    return v2, v1


def _number(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text.isdigit():  # v2's "max"
        return None
    value = int(text)
    return value if value < _NO_LIMIT_FROM else None


def _inactive_file(folder: Path) -> int:
    """Bytes of page cache not recently used, from the group's memory.stat (v1 names it
    total_inactive_file, v2 inactive_file); 0 where it cannot be read."""
    try:
        lines = (folder / "memory.stat").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        key, _, value = line.partition(" ")
        if key in ("inactive_file", "total_inactive_file") and value.strip().isdigit():
            return int(value)
    return 0


def _candidate_folders(root: Path, proc_cgroup: Path) -> list[tuple[Path, str, str]]:
    """(folder, limit file, usage file) to look in, own group first."""
    v2, v1 = _groups(proc_cgroup)
    found = []
    for group, base, limit, usage in (
        (v2, root, "memory.max", "memory.current"),
        (v1, root / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes"),
    ):
        if group is None:
            continue
        for folder in (base / group.lstrip("/"), base):
            if (folder / limit).exists():
                found.append((folder, limit, usage))
    return found


def container_limits(
    root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")
) -> tuple[int | None, int | None]:
    """(limit, what the group may still take) in bytes: the tightest limit set on this
    process's group or the hierarchy's root, and that limit less the group's usage. None
    where no limit is set (or the system has no cgroups)."""
    best: tuple[int, int] | None = None
    for folder, limit_file, usage_file in _candidate_folders(root, proc_cgroup):
        limit = _number(folder / limit_file)
        if limit is None:
            continue
        # Page cache the kernel can drop counts in the usage but not against what is free
        # (as docker stats and MemAvailable reckon it).
        usage = max(0, (_number(folder / usage_file) or 0) - _inactive_file(folder))
        if best is None or limit < best[0]:
            best = (limit, max(0, limit - usage))
    return best if best is not None else (None, None)
