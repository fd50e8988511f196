"""Which of vsr's JSON reports a parsed file is, by the keys each kind writes.

`vsr report` sorts its inputs by it, and a report about to be written replaces an existing
JSON file only where it is one of these (vsr.atomic_file): any JSON file was replaced
before, a training run's config.json or the weights' manifest.json too.
"""

from __future__ import annotations

from typing import Any

# Kind, and the key whose list marks it, in the order they are told apart.
_LISTED = (
    ("eval", "results"),
    ("profile", "profiles"),
    ("folder", "clips"),  # a folder, watch or Ray run's summary, with its clips
)
_BENCH_LISTED = (
    ("bench", "rows"),
    ("model_bench", "timings"),
    ("pressure", "points"),
)


def report_kind(data: Any) -> str | None:
    """ "eval", "profile", "folder", "clip" (one clip's run report), "bench", "model_bench"
    or "pressure"; None for JSON that no vsr command wrote as a report."""
    if not isinstance(data, dict):
        return None
    for kind, key in _LISTED:
        if isinstance(data.get(key), list):
            return kind
    if "fps" in data and "frames" in data:
        return "clip"
    for kind, key in _BENCH_LISTED:
        if isinstance(data.get(key), list):
            return kind
    return None
